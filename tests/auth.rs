//! Inbound credentials over real HTTP: opaque bearer tokens, HTTP Basic and bearer JWTs
//! whose keys a local JWKS endpoint serves. Every SCIM endpoint, discovery included,
//! requires a credential (Okta and Entra send theirs on every request).
mod common;

use common::idp::{self, Jwks, AUDIENCE, ISSUER};
use common::{assert_scim_error, user, Harness, Options, TOKEN};
use jsonwebtoken::Algorithm;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const BASIC_USER: &str = "okta-acme";
const PASSWORD_OLD: &str = "old-basic-password-1f9c";
const PASSWORD_NEW: &str = "new-basic-password-77ab";

/// acme with a token, two Basic passwords for one username (rotation) and JWTs from `jwks`.
fn auth_toml(jwks_url: &str, min_refetch_secs: u64, refresh_secs: u64) -> String {
    let basic = [
        ("acme-basic-old", PASSWORD_OLD),
        ("acme-basic-new", PASSWORD_NEW),
    ]
    .map(|(id, password)| idp::basic_toml(id, BASIC_USER, password))
    .concat();
    let jwt = idp::jwt_toml(jwks_url);
    format!(
        r#"{basic}{jwt}algorithms = ["RS256", "ES256"]
jwks_min_refetch_secs = {min_refetch_secs}
jwks_refresh_secs = {refresh_secs}
"#
    )
}

async fn start(jwks: &Jwks, min_refetch_secs: u64) -> Harness {
    start_with_ttl(jwks, min_refetch_secs, 3600).await
}

async fn start_with_ttl(jwks: &Jwks, min_refetch_secs: u64, refresh_secs: u64) -> Harness {
    Harness::with(|o| o.extra_toml = auth_toml(&jwks.url, min_refetch_secs, refresh_secs)).await
}

/// Every SCIM route, with a body where it takes one.
fn endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    let patch =
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]});
    let search = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let group =
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"});
    vec![
        (Method::GET, "/Users", None),
        (Method::POST, "/Users", Some(user("x@example.com"))),
        (Method::GET, "/Users/some-id", None),
        (Method::PUT, "/Users/some-id", Some(user("x@example.com"))),
        (Method::PATCH, "/Users/some-id", Some(patch.clone())),
        (Method::DELETE, "/Users/some-id", None),
        (Method::POST, "/Users/.search", Some(search.clone())),
        (Method::POST, "/.search", Some(search.clone())),
        (Method::GET, "/Groups", None),
        (Method::POST, "/Groups", Some(group.clone())),
        (Method::GET, "/Groups/some-id", None),
        (Method::PUT, "/Groups/some-id", Some(group)),
        (Method::PATCH, "/Groups/some-id", Some(patch)),
        (Method::DELETE, "/Groups/some-id", None),
        (Method::POST, "/Groups/.search", Some(search)),
        (Method::GET, "/ServiceProviderConfig", None),
        (Method::GET, "/Schemas", None),
        (
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        ),
        (Method::GET, "/ResourceTypes", None),
        (Method::GET, "/ResourceTypes/User", None),
    ]
}

/// Sends `method path` with this `Authorization` value (none when `None`).
async fn call_as(
    h: &Harness,
    method: Method,
    path: &str,
    body: Option<Value>,
    authorization: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    h.call_with(method, path, body, None, &headers).await
}

fn assert_refused(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    what: &str,
) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_scim_error(body, 401, None);
    let challenges: Vec<&str> = headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer ")),
        "{what}: {challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic ")),
        "{what}: {challenges:?}"
    );
    // RFC 6750 §3.1: an error code only when a bearer token was presented.
    let invalid_token = challenges
        .iter()
        .any(|c| c.contains("error=\"invalid_token\""));
    assert_eq!(
        invalid_token,
        what.contains("jwt") || what.contains("bearer"),
        "{what}: {challenges:?}"
    );
}

/// Credentials that must all be refused, named for the failure message.
fn bad_credentials() -> Vec<(&'static str, Option<String>)> {
    let claims = idp::claims();
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let rs = |c: &Value| idp::bearer("rsa1", Algorithm::RS256, Some("k1"), c);
    vec![
        ("missing", None),
        ("Okta's non-token", Some("non-token".into())),
        ("wrong bearer token", Some("Bearer not-the-token".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("token under another scheme", Some(format!("Token {TOKEN}"))),
        (
            "basic wrong password",
            Some(idp::basic(BASIC_USER, "guess")),
        ),
        (
            "basic wrong username",
            Some(idp::basic("someone", PASSWORD_NEW)),
        ),
        ("basic garbage", Some("Basic %%%not-base64".into())),
        (
            "jwt expired",
            Some(rs(&with("exp", json!(idp::now() - 3600)))),
        ),
        (
            "jwt not yet valid",
            Some(rs(&with("nbf", json!(idp::now() + 3600)))),
        ),
        (
            "jwt wrong audience",
            Some(rs(&with("aud", json!("another-app")))),
        ),
        (
            "jwt wrong issuer",
            Some(rs(&with("iss", json!("https://sts.windows.net/evil/")))),
        ),
        (
            "jwt without exp",
            Some(rs(&{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("exp");
                c
            })),
        ),
        (
            "jwt alg none",
            Some(format!("Bearer {}", idp::unsigned("k1", &claims))),
        ),
        (
            "jwt HS256 signed with the RSA public key",
            Some(format!(
                "Bearer {}",
                idp::sign_hs256_with_public_key("rsa1", "k1", &claims)
            )),
        ),
        (
            "jwt signed by another key under a known kid",
            Some(idp::bearer(
                "rsa-attacker",
                Algorithm::RS256,
                Some("k1"),
                &claims,
            )),
        ),
        (
            "jwt with an algorithm not allowed (RS512)",
            Some(idp::bearer("rsa1", Algorithm::RS512, Some("k1"), &claims)),
        ),
        (
            "jwt tampered",
            Some({
                let good = idp::sign("rsa1", Algorithm::RS256, Some("k1"), &claims);
                let forged = idp::sign(
                    "rsa1",
                    Algorithm::RS256,
                    Some("k1"),
                    &with("sub", json!("root")),
                );
                let sig = good.rsplit('.').next().unwrap();
                let (head, _) = forged.rsplit_once('.').unwrap();
                format!("Bearer {head}.{sig}")
            }),
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_refuses_every_bad_credential() {
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1")]).await;
    let h = start(&jwks, 30).await;
    let bad = bad_credentials();
    for (method, path, body) in endpoints() {
        for (what, authorization) in &bad {
            let (status, headers, answer) = call_as(
                &h,
                method.clone(),
                path,
                body.clone(),
                authorization.as_deref(),
            )
            .await;
            assert_refused(
                status,
                &headers,
                &answer,
                &format!("{method} {path} with {what}"),
            );
            let text = answer.to_string();
            if let Some(a) = authorization {
                let secret = a.split_once(' ').map_or(a.as_str(), |(_, v)| v);
                assert!(
                    secret.is_empty() || !text.contains(secret),
                    "{what}: body echoes it: {text}"
                );
            }
        }
    }
    assert!(
        h.state().users.is_empty(),
        "a refused request reached upstream"
    );
}

#[tokio::test]
async fn tokens_basic_and_jwts_each_authenticate_and_are_audited_by_id() {
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1"), idp::jwk("ec1", "e1")]).await;
    let h = start(&jwks, 30).await;
    let rs256 = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &idp::claims());
    let es256 = idp::bearer("ec1", Algorithm::ES256, Some("e1"), &idp::claims());
    let mut in_leeway = idp::claims();
    in_leeway["exp"] = json!(idp::now() - 30);
    let in_leeway = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &in_leeway);
    let basic_old = idp::basic(BASIC_USER, PASSWORD_OLD);
    let basic_new = idp::basic(BASIC_USER, PASSWORD_NEW);
    let token = format!("Bearer {TOKEN}");

    for (what, a) in [
        ("token", &token),
        ("basic (old password)", &basic_old),
        ("basic (new password)", &basic_new),
        ("basic again (cached)", &basic_new),
        ("jwt RS256", &rs256),
        ("jwt ES256", &es256),
        ("jwt expired within the leeway", &in_leeway),
    ] {
        let (status, _, body) = call_as(&h, Method::GET, "/Users", None, Some(a)).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
    }

    // One change per credential kind; the audit names the credential, never its value.
    let (status, _, created) = call_as(
        &h,
        Method::POST,
        "/Users",
        Some(user("ann@example.com")),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let patch = |given: &str| {
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations":[{"op":"replace","path":"name.givenName","value":given}]})
    };
    let path = format!("/Users/{id}");
    let (status, _, body) = call_as(
        &h,
        Method::PATCH,
        &path,
        Some(patch("Basic")),
        Some(&basic_new),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) =
        call_as(&h, Method::PATCH, &path, Some(patch("Jwt")), Some(&rs256)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let group =
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Auditors"});
    let (status, _, group) = call_as(&h, Method::POST, "/Groups", Some(group), Some(&es256)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap();

    let audit = h.audit().await;
    let group_actors: Vec<&str> = audit
        .iter()
        .filter(|e| e.resource_id == group_id)
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(group_actors, vec!["acme-entra"], "{audit:?}");
    let actors: Vec<&str> = audit
        .iter()
        .filter(|e| e.resource_id == id)
        .map(|e| e.actor.as_str())
        .collect();
    for expected in ["acme-okta", "acme-basic-new", "acme-entra"] {
        assert!(actors.contains(&expected), "{expected} not in {actors:?}");
    }
    let everything = format!("{audit:?}");
    for secret in [
        TOKEN,
        PASSWORD_NEW,
        PASSWORD_OLD,
        rs256.trim_start_matches("Bearer "),
    ] {
        assert!(!everything.contains(secret), "the audit holds a credential");
    }
}

#[tokio::test]
async fn a_new_kid_in_the_jwks_is_accepted_after_a_refresh_and_forged_kids_do_not_hammer_it() {
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1")]).await;
    let h = start(&jwks, 2).await;
    let first = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &idp::claims());
    let (status, _, body) = call_as(&h, Method::GET, "/Users", None, Some(&first)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(jwks.fetches(), 1);

    // Tokens naming kids the JWKS does not have: refused, and within the minimum
    // interval they cause no fetch at all.
    for i in 0..5 {
        let forged = format!(
            "Bearer {}",
            idp::sign(
                "rsa-attacker",
                Algorithm::RS256,
                Some(&format!("forged-{i}")),
                &idp::claims()
            )
        );
        let (status, _, _) = call_as(&h, Method::GET, "/Users", None, Some(&forged)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jwks.fetches(), 1, "unknown kids made the bridge refetch");

    // The IdP rotates: k2 appears (k1 stays for a while, as Entra does).
    jwks.set_keys(vec![idp::jwk("rsa1", "k1"), idp::jwk("rsa2", "k2")]);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let rotated = idp::bearer("rsa2", Algorithm::RS256, Some("k2"), &idp::claims());
    let (status, _, body) = call_as(&h, Method::GET, "/Users", None, Some(&rotated)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(jwks.fetches(), 2);
    // Known kids are served from the cache.
    let (status, _, _) = call_as(&h, Method::GET, "/Users", None, Some(&first)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks.fetches(), 2);
}

/// The IdP's keys endpoint down before the bridge ever loaded it: a JWT cannot be judged,
/// so the answer is 503 with Retry-After (a 401 would make Entra distrust its
/// credential), and the first fetch that works lets the same token in.
#[tokio::test]
async fn an_unreachable_jwks_is_503_not_401_and_recovers() {
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1")]).await;
    jwks.set_failing(true);
    let h = start(&jwks, 1).await;
    let token = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &idp::claims());
    let (status, headers, body) = call_as(&h, Method::GET, "/Users", None, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["status"], "503");
    // A token of another issuer is still just refused.
    let mut foreign = idp::claims();
    foreign["iss"] = json!("https://elsewhere.example/");
    let other = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &foreign);
    let (status, _, _) = call_as(&h, Method::GET, "/Users", None, Some(&other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    jwks.set_failing(false);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, body) = call_as(&h, Method::GET, "/Users", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_jwks_is_refreshed_after_its_ttl_and_a_removed_key_stops_working() {
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1"), idp::jwk("rsa2", "k2")]).await;
    let h = start_with_ttl(&jwks, 1, 1).await;
    let k1 = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &idp::claims());
    let k2 = idp::bearer("rsa2", Algorithm::RS256, Some("k2"), &idp::claims());
    let status = |auth: String| {
        let h = &h;
        async move { call_as(h, Method::GET, "/Users", None, Some(&auth)).await.0 }
    };
    assert_eq!(status(k1.clone()).await, StatusCode::OK);
    assert_eq!(jwks.fetches(), 1);

    // The IdP retires k1. Past the TTL, the next request still uses the keys in hand
    // (the refresh runs in the background); soon after, k1 is refused.
    jwks.set_keys(vec![idp::jwk("rsa2", "k2")]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(status(k1.clone()).await, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(k1.clone()).await == StatusCode::OK {
        assert!(
            std::time::Instant::now() < deadline,
            "k1 still accepted after the refresh"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        jwks.fetches(),
        2,
        "one refresh, however many requests saw the set stale"
    );
    assert_eq!(status(k2).await, StatusCode::OK);
}

#[tokio::test]
async fn a_static_pem_key_verifies_jwts_and_client_ids_narrow_them() {
    let pem_file = format!(
        "{}/tests/fixtures/jwt/ec1.pub.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let h = Harness::start(Options {
        extra_toml: format!(
            "\n[tenants.acme.jwt]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\npublic_key_pem_file = \"{pem_file}\"\nalgorithms = [\"ES256\"]\nclient_ids = [\"entra-provisioning-app\"]\n"
        ),
        ..Options::default()
    })
    .await;
    let mut claims = idp::claims();
    claims["appid"] = json!("entra-provisioning-app");
    let good = idp::bearer("ec1", Algorithm::ES256, None, &claims);
    let (status, _, body) = call_as(&h, Method::GET, "/Users", None, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rsa = idp::bearer("rsa1", Algorithm::RS256, None, &idp::claims());
    let (status, _, _) = call_as(&h, Method::GET, "/Users", None, Some(&rsa)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // client_ids: another app of the directory, or a token naming no client, is refused.
    claims["appid"] = json!("some-other-app");
    let other_app = idp::bearer("ec1", Algorithm::ES256, None, &claims);
    let no_client = idp::bearer("ec1", Algorithm::ES256, None, &idp::claims());
    for refused in [other_app, no_client] {
        let (status, _, _) = call_as(&h, Method::GET, "/Users", None, Some(&refused)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
