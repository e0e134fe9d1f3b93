//! Public keys that sign a tenant's JWTs: one static PEM, or a JWKS URL whose keys are
//! cached, fetched again after a TTL, and on a `kid` the cache does not know; that last
//! at most once per `min_refetch`, so tokens with invented kids cannot make the bridge
//! hammer the IdP.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The key families; an algorithm is only ever checked with a key of its own family, which
/// is what defeats HS256-signed-with-the-public-key tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    Ec,
    Ed,
}

impl KeyFamily {
    /// `None` for HMAC: a shared secret is never a public key.
    pub fn of(algorithm: Algorithm) -> Option<KeyFamily> {
        use Algorithm::*;
        match algorithm {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(KeyFamily::Rsa),
            ES256 | ES384 => Some(KeyFamily::Ec),
            EdDSA => Some(KeyFamily::Ed),
            HS256 | HS384 | HS512 => None,
        }
    }
}

pub struct Key {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The JWK's own `alg`, when it names one: then only that algorithm may use it.
    pub algorithm: Option<Algorithm>,
    pub decoding: DecodingKey,
}

impl Key {
    pub fn from_pem(pem: &[u8]) -> Result<Key, String> {
        let (family, decoding) = DecodingKey::from_rsa_pem(pem)
            .map(|k| (KeyFamily::Rsa, k))
            .or_else(|_| DecodingKey::from_ec_pem(pem).map(|k| (KeyFamily::Ec, k)))
            .or_else(|_| DecodingKey::from_ed_pem(pem).map(|k| (KeyFamily::Ed, k)))
            .map_err(|_| "not an RSA, EC or Ed25519 public key in PEM form".to_string())?;
        Ok(Key {
            kid: None,
            family,
            algorithm: None,
            decoding,
        })
    }

    /// A signing key of a JWKS; `None` for keys that are for encryption, symmetric, or
    /// of a kind this build cannot use.
    fn from_jwk(value: &Value) -> Option<Key> {
        if value.get("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        let family = match jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
            AlgorithmParameters::EllipticCurve(_) => KeyFamily::Ec,
            AlgorithmParameters::OctetKeyPair(_) => KeyFamily::Ed,
            AlgorithmParameters::OctetKey(_) => return None,
        };
        let algorithm = match value.get("alg").and_then(Value::as_str) {
            Some(name) => Some(name.parse().ok()?),
            None => None,
        };
        Some(Key {
            kid: jwk.common.key_id.clone(),
            family,
            algorithm,
            decoding: DecodingKey::from_jwk(&jwk).ok()?,
        })
    }
}

pub enum KeySource {
    Static(Arc<Key>),
    Jwks(Arc<Jwks>),
}

impl KeySource {
    /// The keys a token with this `kid` may be signed with (every key when it has none).
    pub async fn candidates(&self, kid: Option<&str>) -> Vec<Arc<Key>> {
        match self {
            KeySource::Static(key) => vec![key.clone()],
            KeySource::Jwks(jwks) => jwks.candidates(kid).await,
        }
    }

    /// True while a JWKS has never been loaded: a token then cannot be judged at all,
    /// which is the bridge's outage (or the IdP's), not a bad credential.
    pub fn unavailable(&self) -> bool {
        match self {
            KeySource::Static(_) => false,
            KeySource::Jwks(jwks) => jwks.snapshot().at.is_none(),
        }
    }

    /// How many usable keys the source has now (a JWKS is fetched), for `check-config`.
    pub async fn check(&self) -> Result<usize, String> {
        match self {
            KeySource::Static(_) => Ok(1),
            KeySource::Jwks(jwks) => jwks.fetch().await.map(|keys| keys.len()),
        }
    }
}

#[derive(Default)]
struct Fetched {
    keys: Vec<Arc<Key>>,
    at: Option<Instant>,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    refresh_after: Duration,
    min_refetch: Duration,
    current: RwLock<Arc<Fetched>>,
    /// A background TTL refresh is under way; later requests do not start another, so a
    /// JWKS that keeps failing costs one fetch per `min_refetch`, not a task per request.
    refreshing: AtomicBool,
    /// When the last fetch was tried; held across a fetch so concurrent misses wait for
    /// one fetch instead of each starting one.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub fn new(url: &str, refresh_after: Duration, min_refetch: Duration) -> Result<Jwks, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("JWKS client: {e}"))?;
        Ok(Jwks {
            url: url.to_string(),
            client,
            refresh_after,
            min_refetch,
            current: RwLock::new(Arc::new(Fetched::default())),
            refreshing: AtomicBool::new(false),
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    fn snapshot(&self) -> Arc<Fetched> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Known keys are used at once; when the set is due for its TTL refresh, that runs
    /// in the background, so a slow IdP does not slow requests. An unknown kid waits
    /// for a (rate-limited) fetch.
    async fn candidates(self: &Arc<Self>, kid: Option<&str>) -> Vec<Arc<Key>> {
        let seen = self.snapshot();
        let known = matching(&seen, kid);
        if known.is_empty() {
            self.refresh(seen.at).await;
            return matching(&self.snapshot(), kid);
        }
        if seen.at.is_none_or(|at| at.elapsed() >= self.refresh_after)
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let jwks = self.clone();
            tokio::spawn(async move {
                jwks.refresh(seen.at).await;
                jwks.refreshing.store(false, Ordering::Release);
            });
        }
        known
    }

    /// Fetches the JWKS unless another task did since `seen_at` or the last attempt was
    /// less than `min_refetch` ago. A failed fetch keeps the keys we have.
    async fn refresh(&self, seen_at: Option<Instant>) {
        let mut last_attempt = self.last_attempt.lock().await;
        if self.snapshot().at != seen_at {
            return;
        }
        if last_attempt.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "fetched JWKS");
                let fetched = Arc::new(Fetched {
                    keys,
                    at: Some(Instant::now()),
                });
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = fetched;
            }
            Err(e) => tracing::warn!(url = %self.url, error = %e, "could not fetch JWKS"),
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<Key>>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let keys = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array")?;
        Ok(keys
            .iter()
            .filter_map(Key::from_jwk)
            .map(Arc::new)
            .collect())
    }
}

fn matching(fetched: &Fetched, kid: Option<&str>) -> Vec<Arc<Key>> {
    fetched
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_jwk() -> Value {
        let text = include_str!("../../../tests/fixtures/jwt/rsa1.jwk.json");
        let mut jwk: Value = serde_json::from_str(text).unwrap();
        jwk["kid"] = json!("k1");
        jwk
    }

    #[test]
    fn only_public_signing_keys_are_taken_from_a_jwks() {
        let key = Key::from_jwk(&rsa_jwk()).unwrap();
        assert_eq!(
            (key.family, key.kid.as_deref()),
            (KeyFamily::Rsa, Some("k1"))
        );
        assert_eq!(key.algorithm, None);

        let mut pinned = rsa_jwk();
        pinned["alg"] = json!("RS384");
        assert_eq!(
            Key::from_jwk(&pinned).unwrap().algorithm,
            Some(Algorithm::RS384)
        );

        let mut encryption = rsa_jwk();
        encryption["use"] = json!("enc");
        assert!(Key::from_jwk(&encryption).is_none());
        let symmetric = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
        assert!(Key::from_jwk(&symmetric).is_none());
        assert!(Key::from_jwk(&json!({"kty": "RSA"})).is_none());
    }

    #[test]
    fn static_pems_are_classified_by_key_type() {
        let rsa = include_bytes!("../../../tests/fixtures/jwt/rsa1.pub.pem");
        let ec = include_bytes!("../../../tests/fixtures/jwt/ec1.pub.pem");
        assert_eq!(Key::from_pem(rsa).unwrap().family, KeyFamily::Rsa);
        assert_eq!(Key::from_pem(ec).unwrap().family, KeyFamily::Ec);
        assert!(Key::from_pem(b"not a pem").is_err());
    }
}
