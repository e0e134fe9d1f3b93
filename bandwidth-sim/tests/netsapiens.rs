//! The NetSapiens side through real HTTP, against docs/netsapiens-wire.md.

use bandwidth_sim::ns::{
    NsConfig, NsSimHandle, NsSimulator, NsUser, DOMAIN_KEY, READ_ONLY_KEY, SUPER_KEY,
};
use bandwidth_sim::Faults;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::time::Duration;

async fn start_with(config: NsConfig) -> NsSimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    NsSimulator::start(config, listener).await.unwrap()
}

async fn start() -> NsSimHandle {
    start_with(NsConfig {
        async_delay: Duration::from_millis(200),
        ..NsConfig::default()
    })
    .await
}

async fn call(
    sim: &NsSimHandle,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}/ns-api/v2{path}", sim.base_url()))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

fn user(ext: &str, sync: bool) -> Value {
    json!({
        "user": ext, "name-first-name": "Jane", "name-last-name": "Doe",
        "email-address": "jane@acme.test;jd@acme.test", "user-scope": "Call Center Agent",
        "department": "Sales", "synchronous": if sync { "yes" } else { "no" },
    })
}

async fn message(resp: Response) -> String {
    let v: Value = resp.json().await.unwrap();
    v["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn synchronous_create_answers_the_user_and_state_shows_it() {
    let sim = start().await;
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(user("2001", true)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"], "2001");
    assert_eq!(body["domain"], "acme");
    assert_eq!(body["login-username"], "2001@acme");
    assert_eq!(body["user-scope"], "Call Center Agent");
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::GET,
        "/domains/acme/users/2001",
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);

    let state: Value = reqwest::get(format!("{}/_sim/state", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["system"], "netsapiens");
    let users = state["domains"]["acme"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email-address"], "jane@acme.test;jd@acme.test");
    assert_eq!(users[0]["department"], "Sales");
    assert_eq!(state["domains"]["other"]["users"], json!([]));
    assert_eq!(sim.snapshot().stats.creates, 1);
}

#[tokio::test]
async fn asynchronous_create_is_202_and_readable_only_after_the_delay() {
    let sim = start().await;
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(user("2002", false)),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let get = || {
        call(
            &sim,
            DOMAIN_KEY,
            Method::GET,
            "/domains/acme/users/2002",
            None,
        )
    };
    assert_eq!(get().await.status(), 404);
    assert!(sim.snapshot().domains["acme"].users.is_empty());
    // The extension is taken at once, before the user is readable.
    let again = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(user("2002", true)),
    )
    .await;
    assert_eq!(again.status(), 409);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get().await.status(), 200);
    // An asynchronous update keeps showing the old version until the delay has passed.
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::PUT,
        "/domains/acme/users/2002",
        Some(json!({"department": "Support"})),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let v: Value = get().await.json().await.unwrap();
    assert_eq!(v["department"], "Sales");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let v: Value = get().await.json().await.unwrap();
    assert_eq!(v["department"], "Support");
    assert_eq!(
        v["name-first-name"], "Jane",
        "fields left out keep their values"
    );
}

#[tokio::test]
async fn taken_extension_and_login_username_are_409_naming_the_field() {
    let sim = start().await;
    sim.seed_user(NsUser {
        user: "2001".into(),
        domain: "other".into(),
        name_first_name: "Old".into(),
        name_last_name: "Timer".into(),
        email_address: "old@other.test".into(),
        login_username: "jane@acme.test".into(),
        ..NsUser::default()
    });
    let mut body = user("2001", true);
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(body.clone()),
    )
    .await;
    assert_eq!(resp.status(), 200, "extensions are per domain");
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(body.clone()),
    )
    .await;
    assert_eq!(resp.status(), 409);
    let m = message(resp).await;
    assert!(m.starts_with("user 2001"), "{m}");
    body["user"] = json!("2003");
    body["login-username"] = json!("JANE@acme.test");
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert!(
        message(resp).await.contains("login-username"),
        "system-wide, case-insensitive"
    );
}

#[tokio::test]
async fn scopes_are_the_eleven_and_fields_are_validated() {
    let sim = start().await;
    let post = |body: Value| {
        call(
            &sim,
            DOMAIN_KEY,
            Method::POST,
            "/domains/acme/users",
            Some(body),
        )
    };
    for (i, scope) in bandwidth_sim::ns::USER_SCOPES.iter().enumerate() {
        let mut b = user(&format!("30{i:02}"), true);
        b["user-scope"] = json!(scope);
        b["login-username"] = json!(format!("u{i}@acme"));
        assert_eq!(post(b).await.status(), 200, "{scope}");
    }
    let mut b = user("3100", true);
    b["user-scope"] = json!("Admin");
    let resp = post(b).await;
    assert_eq!(resp.status(), 400);
    assert!(message(resp).await.contains("user-scope"));
    let resp = post(json!({"user": "3101", "synchronous": "yes"})).await;
    assert_eq!(resp.status(), 400);
    let m = message(resp).await;
    assert!(
        m.contains("name-first-name") && m.contains("email-address"),
        "{m}"
    );
    assert_eq!(post(user("x1", true)).await.status(), 400);
    let mut b = user("3102", true);
    b["synchronous"] = json!("maybe");
    assert_eq!(post(b).await.status(), 400);
    let created: Value = post(
        json!({"user": "3103", "name-first-name": "A", "name-last-name": "B",
        "email-address": "a@b.test", "synchronous": "yes"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(created["user-scope"], "Basic User", "the default scope");
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::PUT,
        "/domains/acme/users/3103",
        Some(json!({"user": "3104"})),
    )
    .await;
    assert_eq!(resp.status(), 400, "the extension cannot change");
}

#[tokio::test]
async fn keys_are_limited_to_their_domain_and_read_only_keys_cannot_write() {
    let sim = start().await;
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/other/users",
        Some(user("2001", true)),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        call(&sim, DOMAIN_KEY, Method::GET, "/domains/other/users", None)
            .await
            .status(),
        403
    );
    let resp = call(
        &sim,
        SUPER_KEY,
        Method::POST,
        "/domains/other/users",
        Some(user("2001", true)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = call(
        &sim,
        READ_ONLY_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(user("2002", true)),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        call(
            &sim,
            READ_ONLY_KEY,
            Method::GET,
            "/domains/acme/users",
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        call(&sim, "nsd_bogus", Method::GET, "/domains/acme/users", None)
            .await
            .status(),
        401
    );
    assert_eq!(
        call(&sim, SUPER_KEY, Method::GET, "/domains/nowhere/users", None)
            .await
            .status(),
        404
    );
    // `~` is the key's own domain.
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/~/users",
        Some(user("2005", true)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.snapshot().domains["acme"].users[0].user, "2005");

    let me: Value = call(&sim, READ_ONLY_KEY, Method::GET, "/apikeys/~", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["domain"], "acme");
    assert_eq!(me["readonly"], "yes");
    assert_eq!(me["user-scope"], "Office Manager");
    let me: Value = call(&sim, SUPER_KEY, Method::GET, "/apikeys/~", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["domain"], "*");
    assert_eq!(me["readonly"], "no");
    let d = call(&sim, DOMAIN_KEY, Method::GET, "/domains/acme", None).await;
    assert_eq!(d.status(), 200);
}

async fn token(sim: &NsSimHandle, body: Value) -> Response {
    reqwest::Client::new()
        .post(format!("{}/ns-api/v2/tokens", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_grant_tokens_expire_and_refresh() {
    let sim = start_with(NsConfig {
        token_ttl: Duration::from_secs(1),
        ..NsConfig::default()
    })
    .await;
    let grant = json!({"grant_type": "password", "client_id": "sim-client", "client_secret": "sim-secret",
        "username": "admin@acme", "password": "sim-password"});
    let mut wrong = grant.clone();
    wrong["password"] = json!("nope");
    assert_eq!(token(&sim, wrong).await.status(), 401);
    let t: Value = token(&sim, grant).await.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 1);
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&sim, &access, Method::GET, "/domains/acme/users", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&sim, &access, Method::GET, "/domains/other/users", None)
            .await
            .status(),
        403
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        call(&sim, &access, Method::GET, "/domains/acme/users", None)
            .await
            .status(),
        401
    );
    let again = json!({"grant_type": "refresh_token", "client_id": "sim-client",
        "client_secret": "sim-secret", "refresh_token": refresh});
    let t: Value = token(&sim, again.clone()).await.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&sim, &access, Method::GET, "/domains/acme/users", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        token(&sim, again).await.status(),
        401,
        "a refresh token works once"
    );
    assert_eq!(sim.snapshot().stats.tokens_issued, 2);
}

async fn page(sim: &NsSimHandle, q: &str) -> Vec<String> {
    let v: Value = call(
        sim,
        DOMAIN_KEY,
        Method::GET,
        &format!("/domains/acme/users{q}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_page_by_start_and_limit_in_extension_order() {
    let sim = start().await;
    for ext in ["100", "99", "2000", "101"] {
        let mut b = user(ext, true);
        b["login-username"] = json!(format!("{ext}@acme"));
        assert_eq!(
            call(
                &sim,
                DOMAIN_KEY,
                Method::POST,
                "/domains/acme/users",
                Some(b)
            )
            .await
            .status(),
            200
        );
    }
    assert_eq!(page(&sim, "").await, ["99", "100", "101", "2000"]);
    assert_eq!(page(&sim, "?start=1&limit=2").await, ["100", "101"]);
    assert_eq!(page(&sim, "?start=4&limit=2").await, Vec::<String>::new());
    let bad = call(
        &sim,
        DOMAIN_KEY,
        Method::GET,
        "/domains/acme/users?limit=0",
        None,
    )
    .await;
    assert_eq!(bad.status(), 400);
    let del = call(
        &sim,
        DOMAIN_KEY,
        Method::DELETE,
        "/domains/acme/users/100",
        None,
    )
    .await;
    assert_eq!(del.status(), 200);
    assert_eq!(
        call(
            &sim,
            DOMAIN_KEY,
            Method::DELETE,
            "/domains/acme/users/100",
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(page(&sim, "").await, ["99", "101", "2000"]);
}

#[tokio::test]
async fn faults_rate_limit_with_retry_after_fail_and_drop() {
    let sim = start().await;
    sim.set_faults(Faults {
        rate_limit: Some(2),
        ..Faults::default()
    });
    let mut limited = 0;
    for _ in 0..6 {
        let resp = call(&sim, DOMAIN_KEY, Method::GET, "/domains/acme/users", None).await;
        if resp.status() == 429 {
            limited += 1;
            let after: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&after), "{after}");
            assert_eq!(resp.json::<Value>().await.unwrap()["code"], 429);
        }
    }
    assert!(limited >= 2, "{limited}");
    assert_eq!(sim.snapshot().stats.rate_limited, limited);

    sim.set_faults(Faults {
        fail_rate: 1.0,
        ..Faults::default()
    });
    let resp = call(&sim, DOMAIN_KEY, Method::GET, "/domains/acme/users", None).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(
        call(&sim, "bogus", Method::GET, "/domains/acme/users", None)
            .await
            .status(),
        401,
        "auth comes before injected failures"
    );

    sim.set_faults(Faults {
        drop_next_create_responses: 1,
        ..Faults::default()
    });
    let dropped = reqwest::Client::new()
        .post(format!("{}/ns-api/v2/domains/acme/users", sim.base_url()))
        .bearer_auth(DOMAIN_KEY)
        .json(&user("2001", true))
        .send()
        .await;
    assert!(dropped.is_err(), "the answer is dropped");
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::GET,
        "/domains/acme/users/2001",
        None,
    )
    .await;
    assert_eq!(resp.status(), 200, "but the create happened");
    let stats = sim.snapshot().stats;
    assert_eq!(stats.dropped_responses, 1);
    assert_eq!(stats.failed_injected, 1);

    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"latencyMs": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_server_ignoring_synchronous_answers_202() {
    let sim = start_with(NsConfig {
        ignore_synchronous: true,
        async_delay: Duration::from_millis(100),
        ..NsConfig::default()
    })
    .await;
    let resp = call(
        &sim,
        DOMAIN_KEY,
        Method::POST,
        "/domains/acme/users",
        Some(user("2001", true)),
    )
    .await;
    assert_eq!(resp.status(), 202);
    assert_eq!(
        call(
            &sim,
            DOMAIN_KEY,
            Method::GET,
            "/domains/acme/users/2001",
            None
        )
        .await
        .status(),
        404
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        call(
            &sim,
            DOMAIN_KEY,
            Method::GET,
            "/domains/acme/users/2001",
            None
        )
        .await
        .status(),
        200
    );
}
