//! Captures every log line, at trace level, of a full lifecycle run with each kind of
//! inbound credential and both upstream dialects, and finds none of the credentials in
//! it, nor in the answers or the audit. Its own test binary: it installs the process's subscriber.
mod common;

use bandwidth_sim::{Dialect, SimConfig};
use base64::Engine;
use common::capture::{self, Captured};
use common::idp::{self, Jwks};
use common::scim::patch_body;
use common::{user, Harness, Options, TOKEN};
use jsonwebtoken::Algorithm;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const BASIC_USER: &str = "onelogin-acme";
const BASIC_PASSWORD: &str = "basic-pw-9d2e41c0";
const IDP_USER_PASSWORD: &str = "Sup3r$ecretFromOkta";
const WRONG_TOKEN: &str = "wrong-token-5a8e17";
const WRONG_PASSWORD: &str = "wrong-pw-b3c9f2";

fn install_capture() -> Captured {
    // Everything, including dependencies (hyper, reqwest, sqlx), except the simulator's
    // own logs: it is the test's stand-in for Bandwidth, not part of the bridge.
    capture::install("trace,bandwidth_sim=off")
}

/// The requests an IdP makes over a user's life, each kind of credential taking part;
/// returns every answer body, and the credentials (header values) it used.
async fn lifecycle(h: &Harness, jwks: &Jwks) -> (Vec<Value>, Vec<String>) {
    let token = format!("Bearer {TOKEN}");
    let basic = idp::basic(BASIC_USER, BASIC_PASSWORD);
    let jwt = idp::bearer("rsa1", Algorithm::RS256, Some("k1"), &idp::claims());
    let mut answers = Vec::new();
    let mut send = async |method: Method, path: &str, body: Option<Value>, auth: &str| {
        let (status, _, answer) = h
            .call_with(method.clone(), path, body, None, &[("authorization", auth)])
            .await;
        answers.push(answer.clone());
        (status, answer)
    };

    let lee = user("lee@example.com");
    let (status, created) = send(Method::POST, "/Users", Some(lee.clone()), &token).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let user_path = format!("/Users/{id}");
    let rename = patch_body(json!([{"op":"replace","path":"name.givenName","value":"Lea"}]));
    let (status, body) = send(Method::PATCH, &user_path, Some(rename), &basic).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let group = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"bandwidth-role-Porting"});
    let (status, group) = send(Method::POST, "/Groups", Some(group), &jwt).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let add_member = patch_body(json!([{"op":"add","path":"members","value":[{"value": id}]}]));
    let (status, body) = send(Method::PATCH, &group_path, Some(add_member), &jwt).await;
    assert!(status.is_success(), "{status}: {body}");
    h.eventually("the group's role upstream", |s| {
        Harness::roles_of(s, "lee@example.com").contains(&"Porting".to_string())
    })
    .await;
    // Refused attempts, and a request the upstream refuses, are logged too.
    for auth in [
        format!("Bearer {WRONG_TOKEN}"),
        idp::basic(BASIC_USER, WRONG_PASSWORD),
    ] {
        let (status, _) = send(Method::GET, "/Users", None, &auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = send(Method::POST, "/Users", Some(lee), &basic).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let deactivate = patch_body(json!([{"op":"replace","value":{"active":false}}]));
    let (status, body) = send(Method::PATCH, &user_path, Some(deactivate), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(Method::DELETE, &group_path, None, &jwt).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(Method::DELETE, &user_path, None, &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(jwks.fetches() >= 1);
    (answers, vec![token, basic, jwt])
}

/// Whether `text` holds an Authorization-style value: a scheme followed by a credential.
fn has_authorization_value(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    for scheme in ["bearer ", "basic "] {
        for (at, _) in lower.match_indices(scheme) {
            let rest = &text[at + scheme.len()..];
            let value: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
                .collect();
            if value.len() >= 16 {
                return Some(format!("{scheme}{value}"));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lifecycle_logs_no_credential_at_trace_level() {
    let captured = install_capture();
    let jwks = Jwks::start(vec![idp::jwk("rsa1", "k1")]).await;
    let extra =
        idp::basic_toml("acme-basic", BASIC_USER, BASIC_PASSWORD) + &idp::jwt_toml(&jwks.url);
    let sim = SimConfig::default();
    let mut secrets: Vec<String> = vec![
        TOKEN.into(),
        BASIC_PASSWORD.into(),
        IDP_USER_PASSWORD.into(),
        WRONG_TOKEN.into(),
        WRONG_PASSWORD.into(),
        sim.client_secret.clone(),
        sim.basic_password.clone(),
    ];
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    secrets.push(b64(format!("{}:{}", sim.client_id, sim.client_secret)));
    secrets.push(b64(format!("{}:{}", sim.basic_user, sim.basic_password)));
    let mut answers = Vec::new();
    let mut audits = Vec::new();
    for dialect in [Dialect::V1, Dialect::Dashboard] {
        let h = Harness::start(Options {
            dialect,
            extra_toml: extra.clone(),
            ..Options::default()
        })
        .await;
        let (bodies, used) = lifecycle(&h, &jwks).await;
        answers.extend(bodies);
        audits.push(format!("{:?}", h.audit().await));
        for header in used {
            let value = header.split_once(' ').unwrap().1.to_string();
            if let Some(signature) = value.rsplit('.').next().filter(|_| value.contains('.')) {
                secrets.push(signature.to_string());
            }
            secrets.push(value);
        }
    }

    let logs = captured.text();
    assert!(
        logs.contains("upstream call") && logs.lines().count() > 200,
        "the capture did not see the bridge's logs ({} lines)",
        logs.lines().count()
    );
    for secret in &secrets {
        let line = logs.lines().find(|l| l.contains(secret.as_str()));
        assert!(line.is_none(), "a credential is in the logs: {line:?}");
    }
    assert_eq!(
        has_authorization_value(&logs),
        None,
        "an Authorization value is in the logs"
    );
    let answers = serde_json::to_string(&answers).unwrap();
    let audits = audits.join("\n");
    assert!(
        audits.contains("acme-basic") && audits.contains("acme-entra"),
        "{audits}"
    );
    for secret in &secrets {
        assert!(
            !answers.contains(secret.as_str()),
            "an answer echoes a credential"
        );
        assert!(
            !audits.contains(secret.as_str()),
            "the audit holds a credential"
        );
    }
}
