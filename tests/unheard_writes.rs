//! A write the IdP stops waiting for (it hung up, or the request deadline fired) is
//! still finished: the upstream call and the local commit both happen, SCIM and the
//! upstream agree, and the IdP's retry finds the finished result instead of making a
//! duplicate or getting a 409 for its own work.

mod common;
mod support;

use std::time::Duration;

use bandwidth_sim::Faults;
use common::faults::faults;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends a request from a client that hangs up after `patience`; returns whether it
/// gave up (the bridge saw the connection go away mid-request).
async fn hang_up_after(
    h: &Harness,
    patience: Duration,
    method: Method,
    path: &str,
    body: Value,
) -> bool {
    let impatient = reqwest::Client::builder()
        .timeout(patience)
        .build()
        .expect("client");
    let sent = impatient
        .request(method, format!("{}{path}", h.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await;
    matches!(sent, Err(e) if e.is_timeout())
}

/// A create of `username` whose client hangs up mid-request; whether it did.
async fn hang_up_on_create(h: &Harness, username: &str) -> bool {
    let patience = Duration::from_millis(200);
    hang_up_after(h, patience, Method::POST, "/Users", user(username)).await
}

/// The SCIM id of `username` once the bridge has stored it (within five seconds).
async fn stored_in_time(h: &Harness, username: &str) -> String {
    let mut stored = Value::Null;
    for _ in 0..100 {
        stored = h.find_by_username(username).await;
        if stored["totalResults"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stored["totalResults"], 1,
        "the write was not finished: {stored}"
    );
    stored["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// SCIM and upstream agree: the upstream user of `username` is linked to `id`.
async fn assert_linked(h: &Harness, username: &str, id: &str) {
    let upstream = h.upstream(username).expect("created upstream");
    let linked = h
        .store
        .user_id_by_upstream("acme", &upstream.user_id)
        .await
        .unwrap();
    assert_eq!(linked.as_deref(), Some(id), "SCIM and upstream disagree");
}

async fn slowed() -> Harness {
    let h = Harness::default().await;
    // Fetch the upstream token before slowing, so each write is one slow call.
    h.create_ok(user("warm-up@x.com")).await;
    h.sim.set_faults(faults(|f| f.latency_ms = 800));
    h
}

/// Asserts the simulator holds `count` users: no create landed twice.
fn assert_upstream_users(h: &Harness, count: usize) {
    let state = h.state();
    assert_eq!(
        state.users.len(),
        count,
        "a duplicate upstream user: {:#?}",
        state.users
    );
}

#[tokio::test]
async fn a_create_the_idp_hung_up_on_is_committed_and_its_retry_gets_it() {
    let h = slowed().await;
    let gave_up = hang_up_on_create(&h, "cut@x.com").await;
    assert!(gave_up, "the client was meant to hang up mid-create");

    // The create goes on without its client and commits.
    let id = stored_in_time(&h, "cut@x.com").await;
    assert_linked(&h, "cut@x.com", &id).await;

    // The IdP never heard: its retry of the same create gets the finished user.
    h.sim.set_faults(Faults::default());
    let (status, body) = h.create(user("cut@x.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], id.as_str());
    // Only the first retry is the earlier try's; another create is a plain conflict.
    let (status, body) = h.create(user("cut@x.com")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    assert_upstream_users(&h, 2);
    assert_eq!(
        h.unmanaged_active("a create cut off by its client").await,
        0
    );
}

#[tokio::test]
async fn a_retry_sent_while_the_unheard_create_runs_waits_for_it() {
    let h = slowed().await;
    let gave_up = hang_up_on_create(&h, "eager@x.com").await;
    assert!(gave_up);
    // The retry comes at once, while the first try still waits on the upstream: the
    // create lock makes it wait, and it gets the first try's user.
    let (status, body) = h.create(user("eager@x.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_upstream_users(&h, 2);
    assert_linked(&h, "eager@x.com", body["id"].as_str().expect("id")).await;
    assert_eq!(h.unmanaged_active("a create retried at once").await, 0);
}

#[tokio::test]
async fn a_patch_the_idp_hung_up_on_is_committed() {
    let h = slowed().await;
    let id = h.find_by_username("warm-up@x.com").await["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let rename = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": "Cut"}]
    });
    let gave_up = hang_up_after(
        &h,
        Duration::from_millis(200),
        Method::PATCH,
        &format!("/Users/{id}"),
        rename,
    )
    .await;
    assert!(gave_up, "the client was meant to hang up mid-PATCH");

    h.eventually("the PATCH upstream", |s| {
        s.users.iter().any(|u| u.first_name == "Cut")
    })
    .await;
    // The local commit follows the upstream write: SCIM says the same.
    let mut given = Value::Null;
    for _ in 0..100 {
        let (_, got) = h.get(&format!("/Users/{id}")).await;
        given = got["name"]["givenName"].clone();
        if given == "Cut" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        given, "Cut",
        "SCIM kept the old value the upstream no longer has"
    );
    assert_eq!(h.state().users.len(), 1);
    assert_eq!(h.unmanaged_active("a PATCH cut off by its client").await, 0);
}

#[tokio::test]
async fn a_create_past_the_request_deadline_is_committed() {
    let h = support::harness("[server]\nrequest_timeout_secs = 1").await;
    h.create_ok(user("warm-up@x.com")).await;
    h.sim.set_faults(faults(|f| f.latency_ms = 1500));
    let (status, _, body) = h
        .call(Method::POST, "/Users", Some(user("late@x.com")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    h.sim.set_faults(Faults::default());
    let id = stored_in_time(&h, "late@x.com").await;
    assert_linked(&h, "late@x.com", &id).await;
    assert_eq!(h.state().users.len(), 2);
    assert_eq!(
        h.unmanaged_active("a create past the request deadline")
            .await,
        0
    );
}
