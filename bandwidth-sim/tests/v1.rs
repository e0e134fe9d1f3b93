mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn token_is_issued_and_authorizes_api_calls() {
    let sim = start_v1().await;
    let body = token_answer(&sim, "sim-secret", 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 32);

    let roles: Value = get_json(format!("{}/api/v1/roles", sim.base_url()), token).await;
    let roles = roles["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 17);
    let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"basicAccess") && names.contains(&"Porting"));
    for r in roles {
        let id = r["roleId"].as_str().unwrap();
        assert!(id.starts_with("r-"), "opaque id, not the name: {id}");
        assert_ne!(id, r["name"].as_str().unwrap());
        assert!(r["description"].is_string());
    }
    assert_eq!(sim.snapshot().stats.tokens_issued, 1);
}

#[tokio::test]
async fn bad_client_credentials_and_bad_grants_are_refused() {
    let sim = start_v1().await;
    let body = token_answer(&sim, "wrong", 401).await;
    assert_eq!(body["error"], "invalid_client");

    let resp = send_body(
        token_request(&sim, "sim-client", "sim-secret"),
        "application/x-www-form-urlencoded",
        "grant_type=password",
    )
    .await;
    let body = expect_json(resp, 400).await;
    assert_eq!(body["error"], "unsupported_grant_type");

    let resp = send(token_request(&sim, "sim-client", "sim-secret").body("not a form")).await;
    assert_eq!(resp.status(), 400);

    for auth in [
        None,
        Some("Bearer not-a-token"),
        Some("Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0"),
    ] {
        let mut req = client().get(format!("{}/api/v1/users", sim.base_url()));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "auth {auth:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "unauthorized");
    }
    assert_eq!(sim.snapshot().stats.tokens_issued, 0);
}

#[tokio::test]
async fn token_expires_after_ttl() {
    let sim = start_with(|c| c.token_ttl = Duration::from_secs(1)).await;
    let token = token(&sim).await;
    let url = format!("{}/api/v2/accounts", sim.base_url());
    let ok = get(&url, &token).await;
    let body = expect_json(ok, 200).await;
    assert_eq!(
        body["accounts"],
        json!([{"accountId":"9900000","name":"Main"},{"accountId":"9900001","name":"Second"}])
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get(&url, &token).await.status(), 401);
}

#[tokio::test]
async fn expire_tokens_invalidates_every_token_until_refresh() {
    let sim = start_v1().await;
    let t1 = token(&sim).await;
    let t2 = token(&sim).await;
    assert_ne!(t1, t2);
    let url = format!("{}/api/v1/users", sim.base_url());
    sim.expire_tokens();
    for t in [&t1, &t2] {
        let resp = get(&url, t).await;
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    let fresh = token(&sim).await;
    assert_eq!(get(&url, &fresh).await.status(), 200);
    let resp = control(
        Method::POST,
        format!("{}/_sim/expire-tokens", sim.base_url()),
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(get(&url, &fresh).await.status(), 401);
}

#[tokio::test]
async fn create_get_put_delete_lifecycle() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let ordering = role_id(&sim, &t, "Ordering").await;
    let resp = v1_create(&sim, &t, &v1_user("jdoe", std::slice::from_ref(&ordering))).await;
    let created = expect_json(resp, 201).await;
    let id = created["userId"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["roles"], json!([ordering]));
    assert_eq!(created["phoneNumber"], "+19195551234");

    let url = format!("{}/api/v1/users/{id}", sim.base_url());
    let got: Value = get_json(&url, &t).await;
    assert_eq!(got, created);

    let mut body = created.clone();
    body["firstName"] = json!("Janet");
    body["accountScope"] = json!("ACCOUNT_ADMIN");
    let resp = send_json(Method::PUT, &url, &t, &body).await;
    let put = expect_json(resp, 200).await;
    assert_eq!(put["firstName"], "Janet");
    assert_eq!(put["accountScope"], "ACCOUNT_ADMIN");
    assert_eq!(put["userId"], id.as_str());

    let snap = sim.snapshot();
    assert_eq!(snap.users.len(), 1);
    assert_eq!(snap.users[0].first_name, "Janet");
    assert_eq!(snap.users[0].roles, vec!["Ordering".to_string()]);

    let del = send(client().delete(&url).bearer_auth(&t)).await;
    assert_eq!(del.status(), 204);
    assert_eq!(get(&url, &t).await.status(), 404);
    let again = send(client().delete(&url).bearer_auth(&t)).await;
    assert_eq!(again.status(), 404);
    let stats = sim.snapshot().stats;
    assert_eq!((stats.creates, stats.updates, stats.deletes), (1, 1, 1));
}

#[tokio::test]
async fn list_lookup_and_paging() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    for name in ["carol", "alice", "bob", "dave", "erin"] {
        assert_eq!(v1_create(&sim, &t, &v1_user(name, &[])).await.status(), 201);
    }
    let get = |q: &'static str| {
        let url = format!("{}/api/v1/users{q}", sim.base_url());
        let t = t.clone();
        async move {
            let resp = get(url, &t).await;
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, by_name) = get("?username=ALICE").await;
    assert_eq!(status, 200);
    assert_eq!(by_name["users"].as_array().unwrap().len(), 1);
    assert_eq!(by_name["users"][0]["username"], "alice");

    let (_, by_email) = get("?email=Bob@Example.com").await;
    assert_eq!(by_email["users"][0]["username"], "bob");
    let (_, none) = get("?username=zed").await;
    assert_eq!(none["users"], json!([]));
    assert_eq!(none["page"]["totalElements"], 0);

    let (_, p1) = get("?page=1&size=2").await;
    let names: Vec<&str> = p1["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "dave"]);
    assert_eq!(
        p1["page"],
        json!({"number":1,"size":2,"totalElements":5,"totalPages":3})
    );
    let (_, p2) = get("?page=2&size=2").await;
    assert_eq!(p2["users"].as_array().unwrap().len(), 1);
    let (status, bad) = get("?size=0").await;
    assert_eq!(status, 400);
    assert!(error_description(&bad).contains("size"));
    let (status, _) = get("?page=x").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn taken_username_or_email_is_409_naming_which() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    assert_eq!(
        v1_create(&sim, &t, &v1_user("jdoe", &[])).await.status(),
        201
    );

    let resp = v1_create(&sim, &t, &v1_user("JDoe", &[])).await;
    let body = expect_json(resp, 409).await;
    assert!(error_description(&body).contains("username"));

    let mut other = v1_user("other", &[]);
    other["email"] = json!("JDOE@example.com");
    let resp = v1_create(&sim, &t, &other).await;
    let body = expect_json(resp, 409).await;
    assert!(error_description(&body).contains("email"));
    assert_eq!(sim.snapshot().users.len(), 1);
}

/// A valid v1 user body but for `field`, which is `value`.
fn v1_user_with(field: &str, value: Value) -> Value {
    let mut u = v1_user("a", &[]);
    u[field] = value;
    u
}

#[tokio::test]
async fn validation_errors_are_400_and_name_the_problem() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"username":"a","email":"a@x.io"}),
            "firstName, lastName, accountScope, roles, accounts",
        ),
        (v1_user_with("phoneNumber", json!("9195551234")), "E.164"),
        (v1_user_with("phoneNumber", json!("+1234567")), "E.164"),
        (v1_user_with("accountScope", json!("ADMIN")), "accountScope"),
        (
            v1_user("a", &["Ordering".to_string()]),
            "unknown role id(s): Ordering",
        ),
        (
            v1_user_with("accounts", json!(["123"])),
            "unknown account id(s): 123",
        ),
        (v1_user_with("email", json!("not-an-email")), "email"),
        (v1_user_with("roles", json!("r-0001")), "malformed JSON"),
    ];
    for (body, needle) in cases {
        let resp = v1_create(&sim, &t, &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(
            error_description(&err).contains(needle),
            "{err} should mention {needle}"
        );
    }
    let resp = send(
        client()
            .post(format!("{}/api/v1/users", sim.base_url()))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    let err = expect_json(resp, 400).await;
    assert_eq!(err["errors"][0]["code"], "malformed_body");
    assert!(sim.snapshot().users.is_empty());
}

#[tokio::test]
async fn put_is_full_replacement_and_username_is_immutable() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let ordering = role_id(&sim, &t, "Ordering").await;
    let created: Value = v1_create(&sim, &t, &v1_user("jdoe", &[ordering]))
        .await
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/users/{}",
        sim.base_url(),
        created["userId"].as_str().unwrap()
    );

    let mut renamed = created.clone();
    renamed["username"] = json!("jdoe2");
    let resp = send_json(Method::PUT, &url, &t, &renamed).await;
    let err = expect_json(resp, 400).await;
    assert!(error_description(&err).contains("username"));

    let minimal = json!({"username":"jdoe","firstName":"Jane","lastName":"Doe",
                         "email":"jdoe@example.com","accountScope":"ACCOUNT","status":"DEACTIVATED"});
    let resp = send_json(Method::PUT, &url, &t, &minimal).await;
    let put = expect_json(resp, 200).await;
    assert!(put.get("phoneNumber").is_none() || put["phoneNumber"].is_null());
    assert_eq!(put["roles"], json!([]));
    assert_eq!(put["accounts"], json!([]));
    assert_eq!(put["status"], "DEACTIVATED");

    let mut reactivated = minimal.clone();
    reactivated.as_object_mut().unwrap().remove("status");
    let put: Value = send_json(Method::PUT, &url, &t, &reactivated)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(put["status"], "ACTIVE", "status left out resets to ACTIVE");
    let snap = sim.snapshot();
    assert_eq!(snap.users[0].phone_number, None);
    assert!(snap.users[0].roles.is_empty());
    assert_eq!(snap.stats.updates, 2);

    let missing = send_json(
        Method::PUT,
        format!("{}/api/v1/users/nope", sim.base_url()),
        &t,
        &minimal,
    )
    .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn withheld_roles_are_403_naming_them() {
    let sim =
        start_with(|c| c.withheld_roles = vec!["Porting".into(), "Billing Reports".into()]).await;
    let t = token(&sim).await;
    let porting = role_id(&sim, &t, "Porting").await;
    let billing = role_id(&sim, &t, "Billing Reports").await;
    let basic = role_id(&sim, &t, "basicAccess").await;
    let resp = v1_create(
        &sim,
        &t,
        &v1_user("jdoe", &[basic.clone(), porting.clone(), billing]),
    )
    .await;
    let err = expect_json(resp, 403).await;
    let desc = error_description(&err);
    assert!(
        desc.contains("Porting") && desc.contains("Billing Reports"),
        "{desc}"
    );
    assert!(!desc.contains("basicAccess"));
    assert!(sim.snapshot().users.is_empty());

    // A user who already holds a withheld role can still be written back whole.
    let id = seed(&sim, "Porting");
    let url = format!("{}/api/v1/users/{id}", sim.base_url());
    let mut user: Value = get_json(&url, &t).await;
    assert_eq!(user["roles"], json!([porting]));
    user["roles"] = json!([porting, basic]);
    let resp = send_json(Method::PUT, &url, &t, &user).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_error_format() {
    let sim = start_v1().await;
    let resp = control(
        Method::GET,
        format!("{}/api/v1/nothing", sim.base_url()),
        None,
    )
    .await;
    let err = expect_json(resp, 404).await;
    assert_eq!(err["errors"][0]["code"], "not_found");
}
