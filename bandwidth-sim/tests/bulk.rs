//! `POST /_sim/users/bulk`: copies of one user with chosen ids, seen through the API.
mod common;

use bandwidth_sim::{BulkSeed, SimHandle, SimStats};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Creates the template through the API, as a client writes it; returns its id.
async fn template(sim: &SimHandle, token: &str) -> String {
    let body = json!({
        "username": "user#n#@example.com",
        "firstName": "Bench",
        "lastName": "User#n#",
        "email": "user#n#@example.com",
        "accountScope": "ACCOUNT",
        "roles": ["r-0017"],
        "accounts": ["9900000"],
    });
    let created = expect_json(v1_create(sim, token, &body).await, 201).await;
    created["userId"].as_str().unwrap().to_string()
}

async fn bulk(sim: &SimHandle, body: Value) -> reqwest::Response {
    let url = format!("{}/_sim/users/bulk", sim.base_url());
    control(Method::POST, url, Some(body)).await
}

async fn page(sim: &SimHandle, token: &str, query: &str) -> Value {
    get_json(format!("{}/api/v1/users?{query}", sim.base_url()), token).await
}

#[tokio::test]
async fn copies_have_the_chosen_ids_and_numbered_fields() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let id = template(&sim, &t).await;
    let body = json!({"templateId": id, "ids": "bench-#n#", "first": 0, "count": 1000});
    let answer = expect_json(bulk(&sim, body).await, 201).await;
    assert_eq!(answer, json!({"created": 1000}));

    let user = get_json(format!("{}/api/v1/users/bench-7", sim.base_url()), &t).await;
    assert_eq!(
        user,
        json!({"userId": "bench-7", "username": "user7@example.com", "firstName": "Bench",
               "lastName": "User7", "email": "user7@example.com", "accountScope": "ACCOUNT",
               "roles": ["r-0017"], "accounts": ["9900000"], "status": "ACTIVE"})
    );
    let found = page(&sim, &t, "username=USER999@example.com").await;
    assert_eq!(found["users"][0]["userId"], "bench-999");
    assert_eq!(found["page"]["totalElements"], 1);
    let missing = get(format!("{}/api/v1/users/bench-1000", sim.base_url()), &t).await;
    assert_eq!(missing.status(), 404, "count 1000 from 0 ends at 999");

    let stats = send(client().get(format!("{}/_sim/stats", sim.base_url()))).await;
    let stats: SimStats = stats.json().await.unwrap();
    assert_eq!(
        stats.creates, 1,
        "copies are seeded, not created through the API"
    );
    assert_eq!(stats, sim.snapshot().stats);
}

#[tokio::test]
async fn pages_list_every_copy_once_in_username_order() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let id = template(&sim, &t).await;
    let seed = BulkSeed {
        template_id: id.clone(),
        ids: "bench-#n#".into(),
        marker: "#n#".into(),
        first: 1,
        count: 2500,
    };
    assert_eq!(sim.try_seed_bulk(&seed), Ok(2500));
    let mut listed = Vec::new();
    for number in 0..3 {
        let p = page(&sim, &t, &format!("page={number}&size=1000")).await;
        assert_eq!(p["page"]["totalElements"], 2501);
        assert_eq!(p["page"]["totalPages"], 3);
        for u in p["users"].as_array().unwrap() {
            listed.push(u["username"].as_str().unwrap().to_string());
        }
    }
    let mut want: Vec<String> = (1..=2500).map(|n| format!("user{n}@example.com")).collect();
    want.push("user#n#@example.com".into());
    want.sort();
    assert_eq!(listed, want);

    // The order follows creates and deletes made after a listing.
    let body = v1_user("aaa", &["r-0017".to_string()]);
    expect_json(v1_create(&sim, &t, &body).await, 201).await;
    assert!(sim.remove_user(&id));
    let first = page(&sim, &t, "page=0&size=2").await;
    assert_eq!(first["users"][0]["username"], "aaa");
    assert_eq!(first["users"][1]["username"], "user1000@example.com");
    let last = page(&sim, &t, "page=1250&size=2").await;
    assert_eq!(last["users"][0]["username"], "user9@example.com");
    assert_eq!(last["page"]["totalElements"], 2501);
}

#[tokio::test]
async fn refusals_leave_the_users_as_they_were() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let id = template(&sim, &t).await;
    let ok = json!({"templateId": id, "ids": "bench-#n#", "count": 10});
    assert_eq!(bulk(&sim, ok).await.status(), 201);

    let cases = [
        (
            json!({"templateId": id, "ids": "bench-#n#", "first": 9, "count": 5}),
            409,
            "user id 'bench-9' is already taken",
        ),
        (
            json!({"templateId": id, "ids": "same", "first": 20, "count": 2}),
            400,
            "no marker in): ids",
        ),
        (
            json!({"templateId": id, "ids": "b-{i}", "marker": "{i}", "first": 20, "count": 2}),
            400,
            "no marker in): username, email",
        ),
        (
            json!({"templateId": "nobody", "ids": "bench-#n#", "first": 20, "count": 2}),
            404,
            "no user with id nobody",
        ),
        (
            json!({"templateId": id, "ids": "bench-#n#", "count": 2, "extra": 1}),
            400,
            "unknown field",
        ),
        (
            json!({"templateId": id, "ids": "bench-#n#", "count": 6_000_000}),
            400,
            "count must be at most",
        ),
    ];
    for (body, status, says) in cases {
        let resp = bulk(&sim, body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert!(
            error_description(&answer).contains(says),
            "{body}: {answer}"
        );
    }
    // A taken email alone is refused too.
    let other = json!({"username": "other", "firstName": "O", "lastName": "T",
                       "email": "user12@example.com", "accountScope": "ACCOUNT",
                       "roles": ["r-0017"], "accounts": ["9900000"]});
    expect_json(v1_create(&sim, &t, &other).await, 201).await;
    let resp = bulk(
        &sim,
        json!({"templateId": id, "ids": "x-#n#", "first": 11, "count": 3}),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(sim.snapshot().users.len(), 12, "template, 10 copies, other");
}
