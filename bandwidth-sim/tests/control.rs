mod common;

use bandwidth_sim::{Faults, SeedUser, SimSnapshot, UserEdit};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn seed(username: &str) -> SeedUser {
    SeedUser {
        username: username.into(),
        first_name: "First".into(),
        last_name: "Last".into(),
        email: format!("{username}@example.com"),
        roles: vec!["Porting".into(), "Address Management".into()],
        ..SeedUser::default()
    }
}

#[tokio::test]
async fn state_endpoint_has_the_documented_shape() {
    let sim = start_v1().await;
    sim.seed_user(seed("zed"));
    sim.seed_user(seed("amy"));
    let t = token(&sim).await;
    let _ = get(format!("{}/api/v1/users", sim.base_url()), &t).await;

    let state: Value = control(Method::GET, format!("{}/_sim/state", sim.base_url()), None)
        .await
        .json()
        .await
        .unwrap();
    let users = state["users"].as_array().unwrap();
    assert_eq!(users[0]["username"], "amy");
    assert_eq!(users[1]["username"], "zed");
    assert_eq!(users[0]["roles"], json!(["Address Management", "Porting"]));
    assert_eq!(users[0]["phoneNumber"], Value::Null);
    assert_eq!(users[0]["accounts"], json!(["9900000"]));
    assert_eq!(users[0]["accountScope"], "ACCOUNT");
    assert_eq!(users[0]["status"], "ACTIVE");
    assert!(users[0]["userId"].is_string());
    let stats = &state["stats"];
    assert_eq!(stats["requests"], 2, "token + list; /_sim is not counted");
    assert_eq!(stats["byStatus"], json!({"200": 2}));
    assert_eq!(stats["tokensIssued"], 1);
    for key in [
        "rateLimited",
        "failedInjected",
        "creates",
        "updates",
        "deletes",
    ] {
        assert_eq!(stats[key], 0, "{key}");
    }
    let typed: SimSnapshot = serde_json::from_value(state).unwrap();
    assert_eq!(typed, sim.snapshot());
}

#[tokio::test]
async fn http_control_endpoints_mirror_the_handle() {
    let sim = start_v1().await;
    let base = sim.base_url();
    let (users, faults) = (format!("{base}/_sim/users"), format!("{base}/_sim/faults"));
    let seed = json!({"username":"seeded","firstName":"S","lastName":"U","email":"s@example.com",
                      "roles":["basicAccess"],"accountScope":"ACCOUNT_ADMIN","phoneNumber":"+4930123456"});
    let resp = control(Method::POST, &users, Some(seed)).await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let user_url = format!("{users}/{id}");

    let t = token(&sim).await;
    let user: Value = get_json(format!("{base}/api/v1/users/{id}"), &t).await;
    assert_eq!(user["roles"], json!(["r-0017"]));
    assert_eq!(user["accountScope"], "ACCOUNT_ADMIN");

    let resp = control(
        Method::PATCH,
        &user_url,
        Some(json!({"lastName":"Changed","phoneNumber":null,"active":false,"roles":[]})),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let snap = sim.snapshot();
    let u = &snap.users[0];
    assert_eq!(
        (u.last_name.as_str(), u.status.as_str()),
        ("Changed", "DEACTIVATED")
    );
    assert_eq!(u.phone_number, None);
    assert!(u.roles.is_empty());
    assert_eq!(u.first_name, "S", "fields not named are kept");

    let bad = control(
        Method::POST,
        &users,
        Some(json!({"username":"x","email":"x@example.com","roles":["r-0001"]})),
    )
    .await;
    assert_eq!(bad.status(), 400, "seeds use role names");
    let dup = control(
        Method::POST,
        &users,
        Some(json!({"username":"SEEDED","email":"y@example.com"})),
    )
    .await;
    assert_eq!(dup.status(), 409);
    let malformed = send(client().post(&users).body("{")).await;
    assert_eq!(malformed.status(), 400);

    let resp = control(Method::POST, &faults, Some(json!({"failRate": 1.0}))).await;
    assert_eq!(resp.status(), 200);
    let resp = get(format!("{base}/api/v1/roles"), &t).await;
    assert_eq!(resp.status(), 503);
    let resp = control(Method::POST, &faults, Some(json!({"fail_rate": 0.0}))).await;
    assert_eq!(resp.json::<Faults>().await.unwrap(), Faults::default());

    let del = control(Method::DELETE, &user_url, None).await;
    assert_eq!(del.status(), 204);
    let del = control(Method::DELETE, &user_url, None).await;
    assert_eq!(del.status(), 404);
    let patch = control(Method::PATCH, &user_url, Some(json!({}))).await;
    assert_eq!(patch.status(), 404);
    assert!(sim.snapshot().users.is_empty());
}

#[tokio::test]
async fn handle_edits_behind_the_bridges_back() {
    let sim = start_v1().await;
    let id = sim.seed_user(seed("amy"));
    assert!(sim.edit_user(
        &id,
        UserEdit {
            email: Some("new@example.com".into()),
            phone_number: Some(Some("+19195550000".into())),
            accounts: Some(vec!["9900001".into()]),
            ..UserEdit::default()
        }
    ));
    let u = &sim.snapshot().users[0];
    assert_eq!(u.email, "new@example.com");
    assert_eq!(u.phone_number.as_deref(), Some("+19195550000"));
    assert_eq!(u.accounts, vec!["9900001".to_string()]);
    assert!(!sim.edit_user("unknown", UserEdit::default()));
    assert!(sim.try_seed_user(seed("AMY")).is_err());
    assert!(sim.remove_user(&id));
    assert!(!sim.remove_user(&id));
    assert_eq!(
        sim.snapshot().stats.deletes,
        0,
        "back-door changes are not API stats"
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start_v1().await;
    let url = format!("{}/_sim/state", sim.base_url());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    sim.shutdown();
    let mut refused = false;
    for _ in 0..50 {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if fresh.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the simulator still answers after shutdown");
}

#[test]
fn dialect_parses_from_its_cli_names() {
    use bandwidth_sim::Dialect;
    assert_eq!("v1".parse::<Dialect>(), Ok(Dialect::V1));
    assert_eq!("dashboard".parse::<Dialect>(), Ok(Dialect::Dashboard));
    assert!("iris".parse::<Dialect>().is_err());
}
