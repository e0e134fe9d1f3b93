//! Inbound limits over real HTTP: body size (413), the request deadline (503 with
//! `Retry-After`), each tenant's request rate (429 with `Retry-After`, after
//! authentication), filter complexity and `count` caps, and the member-list cap of one
//! Group write. Every refusal is a SCIM error body.
mod common;
mod support;

use std::time::{Duration, Instant};

use bandwidth_sim::Faults;
use common::faults::faults;
use common::scim::{assert_error, assert_error_mentions, one_op};
use common::user;
use reqwest::{Method, StatusCode};
use serde_json::json;

use support::harness;

#[tokio::test]
async fn an_oversized_body_is_413_as_a_scim_error() {
    let h = harness("[server]\nmax_body_bytes = 2048\n").await;
    let mut big = user("big@x.com");
    big["displayName"] = json!("x".repeat(4096));
    let (status, _, body) = h.call(Method::POST, "/Users", Some(big)).await;
    assert_error_mentions(status, &body, 413, None, "2048");
    // Under the limit is fine.
    h.create_ok(user("small@x.com")).await;
    assert!(h.upstream("big@x.com").is_none());
}

#[tokio::test]
async fn a_slow_request_is_answered_503_with_retry_after_at_the_deadline() {
    let h = harness("[server]\nrequest_timeout_secs = 1\n").await;
    h.sim.set_faults(faults(|f| f.latency_ms = 2500));
    let started = Instant::now();
    let (status, headers, body) = h
        .call(Method::POST, "/Users", Some(user("slow@x.com")))
        .await;
    let took = started.elapsed();
    assert_error(status, &body, 503, None);
    assert_eq!(headers["retry-after"], "1");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2400),
        "answered at the 1 s deadline, not after the upstream's 2.5 s: {took:?}"
    );
    // Health endpoints answer quickly and are not affected.
    h.sim.set_faults(Faults::default());
    let (status, body) = h.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn each_tenant_has_its_own_request_rate() {
    let other_hash = hex::encode(scim_bridge::http::auth::sha256("other-token"));
    let h = harness(&format!(
        r#"
[tenants.acme.limits]
requests_per_second = 1
burst = 3

[tenants.other]
tokens = [{{ id = "other-idp", sha256 = "{other_hash}" }}]
[tenants.other.limits]
requests_per_second = 1
burst = 2
# The section's name before targets had kinds: still read as kind = "bandwidth".
[tenants.other.bandwidth]
base_url = "{{sim_url}}"
account_id = "9900000"
client_id = "sim-client"
client_secret = "sim-secret"
"#
    ))
    .await;
    for n in 0..3 {
        let (status, body) = h.get("/Users").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "request {n} is within the burst: {body}"
        );
    }
    let (status, headers, body) = h.call(Method::GET, "/Users", None).await;
    assert_error(status, &body, 429, None);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");

    // A wrong credential is refused by authentication, not counted against the tenant.
    let (status, _, _) = h
        .call_with(Method::GET, "/Users", None, Some("wrong"), &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The other tenant's budget is untouched by acme's.
    for n in 0..2 {
        let (status, _, body) = h
            .call_with(Method::GET, "/Users", None, Some("other-token"), &[])
            .await;
        assert_eq!(status, StatusCode::OK, "other tenant request {n}: {body}");
    }
    let (status, _, _) = h
        .call_with(Method::GET, "/Users", None, Some("other-token"), &[])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The budget refills at the sustained rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = h.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn filter_complexity_and_count_are_capped() {
    let h = harness("[server]\nmax_page_size = 2\n").await;
    for name in ["a@x.com", "b@x.com", "c@x.com"] {
        h.create_ok(user(name)).await;
    }
    let search = |filter: String| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter});
    let terms = vec!["userName eq \"a@x.com\""; 1001].join(" or ");
    let (status, _, body) = h
        .call(Method::POST, "/Users/.search", Some(search(terms)))
        .await;
    assert_error_mentions(status, &body, 400, Some("invalidFilter"), "more than 1000");

    let deep = format!("{}userName pr{}", "(".repeat(65), ")".repeat(65));
    let (status, _, body) = h
        .call(Method::POST, "/Users/.search", Some(search(deep)))
        .await;
    assert_error_mentions(status, &body, 400, Some("invalidFilter"), "deeper than 64");

    // count above max_page_size is cut to it; totalResults still counts everything.
    let (status, body) = h.get("/Users?count=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["itemsPerPage"], 2);
    assert_eq!(body["Resources"].as_array().unwrap().len(), 2);
    assert_eq!(body["totalResults"], 3);
    let (_, config) = h.get("/ServiceProviderConfig").await;
    assert_eq!(config["filter"]["maxResults"], 2);
}

#[tokio::test]
async fn member_lists_of_one_group_write_are_capped() {
    let h = harness("[tenants.acme.limits]\nmax_members_per_request = 2\n").await;
    let mut ids = Vec::new();
    for name in ["a@x.com", "b@x.com", "c@x.com"] {
        ids.push(h.create_ok(user(name)).await);
    }
    let members = |ids: &[String]| -> serde_json::Value {
        ids.iter().map(|id| json!({"value": id})).collect()
    };
    let group = |ids: &[String]| support::group("Team", ids);
    let (status, _, body) = h.call(Method::POST, "/Groups", Some(group(&ids))).await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(
        body["detail"].as_str().unwrap().contains("at most 2"),
        "the cap is named: {body}"
    );

    let (status, _, body) = h
        .call(Method::POST, "/Groups", Some(group(&ids[..2])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let gid = body["id"].as_str().unwrap().to_string();

    let (status, _, body) = h
        .call(Method::PUT, &format!("/Groups/{gid}"), Some(group(&ids)))
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));

    // PATCH: the values of all member operations together count.
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op": "remove", "path": "members", "value": members(&ids[..1])},
                   {"op": "add", "path": "members", "value": members(&ids[1..])}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op": "add", "value": {"members": members(&ids)}}]),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "path-less value counts too: {body}"
    );
    let (status, body) = h
        .group_patch(&gid, one_op("add", "members", json!(members(&ids[2..]))))
        .await;
    assert!(status.is_success(), "{body}");
    let (_, got) = h.get(&format!("/Groups/{gid}")).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 3);
}
