//! Every log line of the NetSapiens adapter, at trace level, through both credentials
//! (API key; password grant with refresh and a 401 renewal): none holds the key, the
//! password, the client secret or a token. Its own test binary: it installs the
//! process's subscriber.

mod common;

use std::time::Duration;

use bandwidth_sim::ns::{NsConfig, NsSimulator, PortalLogin, DOMAIN_KEY};
use scim_bridge::upstream::netsapiens::{NetsapiensConfig, NetsapiensTarget, NsCredential};
use scim_bridge::upstream::{DesiredUser, Target};
use secrecy::SecretString;

const PASSWORD: &str = "portal-pw-41c9e07d";
const CLIENT_SECRET: &str = "client-secret-8a1f3b";

#[tokio::test]
async fn no_credential_of_either_kind_reaches_the_logs() {
    let captured = common::capture::install("trace");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = NsSimulator::start(
        NsConfig {
            client_secret: CLIENT_SECRET.into(),
            logins: vec![PortalLogin {
                username: "admin@acme".into(),
                password: PASSWORD.into(),
                domain: "acme".into(),
                user_scope: "Office Manager".into(),
            }],
            token_ttl: Duration::from_secs(2),
            ..NsConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    let user = |name: &str| DesiredUser {
        username: name.into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: name.into(),
        active: true,
        ..DesiredUser::default()
    };

    let grant = NsCredential::Password {
        client_id: "sim-client".into(),
        client_secret: SecretString::from(CLIENT_SECRET.to_string()),
        username: "admin@acme".into(),
        password: SecretString::from(PASSWORD.to_string()),
    };
    let mut config = NetsapiensConfig::new(sim.base_url(), "acme", grant);
    config.calls.rate_limit_per_second = 1000;
    assert!(
        !format!("{config:?}").contains(PASSWORD),
        "Debug hides secrets"
    );
    let t = NetsapiensTarget::new(config).unwrap();
    let created = t.create_user(&user("a@acme.test")).await.unwrap();
    sim.expire_tokens();
    t.get_user(&created.id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.get_user(&created.id).await.unwrap().unwrap();

    let key = NsCredential::ApiKey(SecretString::from(DOMAIN_KEY.to_string()));
    let mut config = NetsapiensConfig::new(sim.base_url(), "acme", key);
    config.calls.rate_limit_per_second = 1000;
    let t = NetsapiensTarget::new(config).unwrap();
    t.create_user(&user("b@acme.test")).await.unwrap();
    assert!(!format!("{t:?}").contains(DOMAIN_KEY));

    let logs = captured.text();
    assert!(logs.contains("upstream call"), "trace logs were captured");
    assert!(
        logs.contains("[REDACTED]"),
        "token bodies are logged redacted"
    );
    for secret in [PASSWORD, CLIENT_SECRET, DOMAIN_KEY] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
    // Token answers are logged with their token fields redacted, never otherwise.
    for field in ["access_token", "refresh_token"] {
        let any = format!("\"{field}\":\"");
        let redacted = format!("\"{field}\":\"[REDACTED]\"");
        assert_eq!(
            logs.matches(&any).count(),
            logs.matches(&redacted).count(),
            "{field} logged"
        );
    }
    assert!(sim.snapshot().stats.tokens_issued >= 3);
}
