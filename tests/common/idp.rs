//! A stand-in identity provider for the auth tests: a JWKS endpoint on a loopback port
//! whose key set the test changes, counting fetches, and JWT minting with the committed
//! test-only keys in tests/fixtures/jwt (see make-jwk.py there).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://sts.windows.net/test-tenant/";
pub const AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The public JWK of a fixture key (`rsa1`, `rsa2`, `ec1`) under `kid`.
pub fn jwk(key: &str, kid: &str) -> Value {
    let mut jwk: Value = serde_json::from_str(&fixture(&format!("{key}.jwk.json"))).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

pub struct Jwks {
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Jwks {
    pub async fn start(keys: Vec<Value>) -> Jwks {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (served, counted, down) = (keys.clone(), fetches.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let (served, counted, down) = (served.clone(), counted.clone(), down.clone());
                async move {
                    use axum::response::IntoResponse;
                    counted.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = served.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys })).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Jwks {
            url: format!("http://{addr}/keys"),
            keys,
            fetches,
            failing,
        }
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    /// The keys endpoint answers 503 while `true`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Entra-like claims valid for ten minutes.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "entra-provisioning",
        "iat": now() - 10,
        "nbf": now() - 10,
        "exp": now() + 600,
    })
}

/// A JWT signed with a fixture private key (`rsa1`, `rsa2`, `rsa-attacker`, `ec1`).
pub fn sign(key: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let pem = fixture(&format!("{key}.key.pem"));
    let encoding = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

/// The algorithm-confusion attack: HS256 with the RSA public key's PEM as the secret.
/// An `Authorization` value: `Bearer` and the JWT [`sign`] makes.
pub fn bearer(key: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    format!("Bearer {}", sign(key, alg, kid, claims))
}

pub fn sign_hs256_with_public_key(public_pem_of: &str, kid: &str, claims: &Value) -> String {
    let secret = fixture(&format!("{public_pem_of}.pub.pem"));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// An unsigned token (`alg: none`).
pub fn unsigned(kid: &str, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(claims)
    )
}

/// `Authorization: Basic` value.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// An argon2id hash with small costs, so tests stay fast in debug builds; verification
/// reads the costs from the hash, exactly as with production-cost hashes.
pub fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon2
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

/// A `[[tenants.acme.basic]]` credential: `username` with `password` (cheaply hashed).
pub fn basic_toml(id: &str, username: &str, password: &str) -> String {
    format!(
        r#"
[[tenants.acme.basic]]
id = "{id}"
username = "{username}"
password_hash = '{}'
"#,
        cheap_hash(password)
    )
}

/// `[tenants.acme.jwt]` for JWTs of [`ISSUER`] for [`AUDIENCE`], keys from `jwks_url`;
/// more keys of the section may follow.
pub fn jwt_toml(jwks_url: &str) -> String {
    format!(
        r#"
[tenants.acme.jwt]
id = "acme-entra"
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_url = "{jwks_url}"
"#
    )
}
