//! The bridge end to end under the simulator's faults: the IdP flows still converge on
//! the right upstream state with no duplicate user; the breaker, the 429 budget and the
//! IdP deadline answer 503 with Retry-After quickly; `/metrics` and request ids work.
//! The fault flows run for a Bandwidth and a NetSapiens tenant alike.

mod common;

use std::time::{Duration, Instant};

use bandwidth_sim::{Dialect, Faults};
use common::faults::faults;
use common::scim::{assert_error_mentions, one_op, patch_body};
use common::target::{Held, TargetKind};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends like an IdP does: a 503 or 429 is retried after (a capped) `Retry-After`.
async fn idp(h: &Harness, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    for _ in 0..40 {
        let (status, headers, got) = h.call(method.clone(), path, body.clone()).await;
        if status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::TOO_MANY_REQUESTS {
            return (status, got);
        }
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry_after.is_some(),
            "a {status} without Retry-After: {got}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("{method} {path} never succeeded");
}

/// Creates through [`idp`]; a 409 after an unanswered try means the earlier try landed.
async fn idp_create(h: &Harness, username: &str) -> String {
    let (status, body) = idp(h, Method::POST, "/Users", Some(user(username))).await;
    match status {
        StatusCode::CREATED => body["id"].as_str().expect("id").to_string(),
        StatusCode::CONFLICT => h.find_by_username(username).await["Resources"][0]["id"]
            .as_str()
            .expect("the earlier try's user")
            .to_string(),
        other => panic!("create {username}: {other} {body}"),
    }
}

/// Create three users, rename one, grant a role through a group, deactivate one and
/// delete one, with the faults on throughout; then check upstream.
async fn idp_flows_converge(h: &Harness, tag: &str) {
    let names: Vec<String> = (0..3).map(|i| format!("{tag}{i}@x.com")).collect();
    let mut ids = Vec::new();
    for n in &names {
        ids.push(idp_create(h, n).await);
    }
    let rename = patch_body(one_op("replace", "name.givenName", json!("Renamed")));
    let (status, body) = idp(
        h,
        Method::PATCH,
        &format!("/Users/{}", ids[0]),
        Some(rename),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A role (Bandwidth) or a scope (NetSapiens) through a prefixed group.
    let (granted, held) = match h.kind() {
        TargetKind::Bandwidth => ("Porting", vec!["Porting".to_string(), "basicAccess".into()]),
        TargetKind::Netsapiens => ("Advanced User", vec!["Advanced User".to_string()]),
    };
    let group = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": format!("bandwidth-role-{granted}")});
    let (status, body) = idp(h, Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let group_id = body["id"].as_str().expect("group id").to_string();
    let add = patch_body(one_op("add", "members", json!([{"value": ids[0]}])));
    let (status, body) = idp(h, Method::PATCH, &format!("/Groups/{group_id}"), Some(add)).await;
    assert!(status.is_success(), "{status} {body}");

    let off = patch_body(one_op("replace", "active", json!(false)));
    let (status, body) = idp(h, Method::PATCH, &format!("/Users/{}", ids[1]), Some(off)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = idp(h, Method::DELETE, &format!("/Users/{}", ids[2]), None).await;
    assert!(
        status == StatusCode::NO_CONTENT || status == StatusCode::NOT_FOUND,
        "{status} {body}"
    );

    let find = |s: &[Held], n: &str| {
        s.iter()
            .find(|u| u.username.eq_ignore_ascii_case(n))
            .cloned()
    };
    h.eventually_held("the flows' end state upstream", |s| {
        let renamed = find(s, &names[0])
            .is_some_and(|u| u.first_name == "Renamed" && u.status == "ACTIVE" && u.roles == held);
        let off = find(s, &names[1]).is_some_and(|u| u.status == "DEACTIVATED");
        renamed && off && find(s, &names[2]).is_none()
    })
    .await;
    let users = h.held_users();
    let mut usernames: Vec<String> = users
        .iter()
        .map(|u| u.username.to_ascii_lowercase())
        .collect();
    usernames.sort();
    usernames.dedup();
    assert_eq!(usernames.len(), users.len(), "a duplicate upstream user");
    assert_eq!(users.len(), 2, "{users:#?}");
}

async fn under(target: TargetKind, dialect: Dialect, faults: Faults) -> Harness {
    // The harness's breaker recovers within a second, as a fault test needs.
    Harness::with(|o| {
        o.dialect = dialect;
        o.target = target;
        o.sim.faults = faults;
    })
    .await
}

async fn flows_converge_with_30_percent_5xx(t: TargetKind) {
    // 30 % of calls fail at random; the first one fails for sure, so the test never
    // passes without a failure to recover from (a short flow can draw none: 0.7^N).
    let h = under(
        t,
        Dialect::V1,
        faults(|f| {
            f.fail_rate = 0.3;
            f.fail_next = 1;
        }),
    )
    .await;
    idp_flows_converge(&h, "fail").await;
    assert!(
        h.upstream.stats().failed_injected > 0,
        "no fault was injected"
    );
}

async fn flows_converge_through_429_bursts(t: TargetKind) {
    let h = under(t, Dialect::V1, Faults::default()).await;
    let sim = h.upstream.clone();
    // A burst of throttling every 3 s, for as long as the flows run.
    let bursts = tokio::spawn(async move {
        loop {
            sim.set_faults(faults(|f| f.rate_limit_burst = 2));
            tokio::time::sleep(Duration::from_millis(3000)).await;
        }
    });
    idp_flows_converge(&h, "burst").await;
    bursts.abort();
    assert!(h.upstream.stats().rate_limited > 0, "no 429 was sent");
}

/// Faults that hold from the start, several at once, each named by the tag the flows
/// run under.
fn compound_faults(tag: &str) -> Faults {
    match tag {
        "slow" => Faults {
            latency_spike_rate: 0.2,
            latency_spike_ms: 2000,
            ..Faults::default()
        },
        // At least one answer is lost whatever the dice say (about one run in twenty
        // drops none of its dozen calls at 20 %), so the test always exercises what it
        // is named for.
        "drop" => Faults {
            drop_rate: 0.2,
            drop_next_create_responses: 1,
            ..Faults::default()
        },
        "xml" => Faults {
            xml_always: true,
            fail_rate: 0.2,
            ..Faults::default()
        },
        other => panic!("no faults named {other}"),
    }
}

/// A harness for `target` in `dialect` with the faults `tag` names, through which the
/// IdP flows have converged.
async fn converged_under(target: TargetKind, dialect: Dialect, tag: &str) -> Harness {
    let h = under(target, dialect, compound_faults(tag)).await;
    idp_flows_converge(&h, tag).await;
    h
}

async fn flows_converge_through_2s_latency_spikes(t: TargetKind) {
    converged_under(t, Dialect::V1, "slow").await;
}

async fn flows_converge_through_dropped_connections(t: TargetKind) {
    let h = converged_under(t, Dialect::V1, "drop").await;
    assert!(
        h.upstream.stats().dropped_responses > 0,
        "nothing was dropped"
    );
}

#[tokio::test]
async fn flows_converge_with_xml_bodies_and_failures() {
    converged_under(TargetKind::Bandwidth, Dialect::Dashboard, "xml").await;
}

async fn a_dropped_create_answer_is_found_not_duplicated_end_to_end(t: TargetKind) {
    let h = under(t, Dialect::V1, faults(|f| f.drop_next_create_responses = 1)).await;
    let (status, body) = idp(&h, Method::POST, "/Users", Some(user("lost@x.com"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stats = h.upstream.stats();
    assert_eq!(stats.dropped_responses, 1);
    assert_eq!(stats.creates, 1, "the retry must not create again");
    assert_eq!(h.held_users().len(), 1);
    let linked = h.find_by_username("lost@x.com").await;
    assert_eq!(linked["totalResults"], 1);
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {headers:?}"))
}

#[tokio::test]
async fn an_open_breaker_answers_503_at_once_then_recovers() {
    let h = Harness::start(Options {
        extra_toml: "breaker_failures = 3".into(),
        breaker_cooldown_secs: 2,
        ..Options::default()
    })
    .await;
    h.sim.set_faults(faults(|f| f.fail_rate = 1.0));
    let (status, headers, body) = h.call(Method::POST, "/Users", Some(user("b1@x.com"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    retry_after(&headers);

    let calls_before = h.state().stats.requests;
    let started = Instant::now();
    let (status, headers, body) = h.call(Method::POST, "/Users", Some(user("b2@x.com"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let wait = retry_after(&headers);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        h.state().stats.requests,
        calls_before,
        "an open breaker calls nobody"
    );
    assert_eq!(breaker_state(&h).await, Some(2.0));

    h.sim.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let id = h.create_ok(user("b2@x.com")).await;
    assert!(!id.is_empty());
    assert_eq!(breaker_state(&h).await, Some(0.0));
    assert!(
        h.find_by_username("b1@x.com").await["totalResults"] == 0,
        "nothing stored for b1"
    );
}

/// Creates `username`, which must be answered 503 with a Retry-After of a second or
/// more, sooner than `within`.
async fn create_is_503_within(h: &Harness, username: &str, within: Duration) {
    let started = Instant::now();
    let (status, headers, body) = h.call(Method::POST, "/Users", Some(user(username))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after(&headers) >= 1);
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_429_held_past_the_wait_budget_is_503_with_retry_after() {
    let h = Harness::with(|o| o.extra_toml = "max_rate_limit_wait_secs = 1".into()).await;
    h.sim.set_faults(faults(|f| f.rate_limit_burst = 1000));
    create_is_503_within(&h, "rl@x.com", Duration::from_secs(4)).await;
    assert!(h.state().users.is_empty());
    assert_eq!(h.find_by_username("rl@x.com").await["totalResults"], 0);
}

#[tokio::test]
async fn a_slow_upstream_is_503_before_the_idp_deadline_and_the_retry_links() {
    let h = Harness::with(|o| o.extra_toml = "[server]\nrequest_timeout_secs = 1".into()).await;
    h.sim.set_faults(faults(|f| f.latency_ms = 1500));
    create_is_503_within(&h, "slow@x.com", Duration::from_millis(1800)).await;
    assert_eq!(
        h.find_by_username("slow@x.com").await["totalResults"],
        0,
        "nothing stored"
    );

    h.sim.set_faults(Faults::default());
    // Whether or not the abandoned create reached the simulator, the retry ends with one user.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    h.create_ok(user("slow@x.com")).await;
    let state = h.state();
    assert_eq!(state.users.len(), 1, "{:#?}", state.users);
}

#[tokio::test]
async fn upstream_refusals_reach_the_idp_with_their_reasons() {
    let mut o = Options::default();
    o.sim.withheld_roles = vec!["basicAccess".into()];
    let h = Harness::start(o).await;
    let (status, body) = h.create(user("nope@x.com")).await;
    assert_error_mentions(status, &body, 400, Some("invalidValue"), "basicAccess");
    assert!(h.state().users.is_empty());
}

/// One `name{labels} value` line of a Prometheus text answer.
type Sample = (String, Vec<(String, String)>, f64);

/// The samples of a Prometheus text answer.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().expect("numeric value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').expect("label");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value)
        })
        .collect()
}

fn sample(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.2)
        .reduce(|a, b| a + b)
}

/// The upstream breaker's state gauge for the tenant's account (0 closed, 2 open).
async fn breaker_state(h: &Harness) -> Option<f64> {
    let scraped = scrape(h).await;
    sample(
        &scraped,
        "scim_bridge_upstream_breaker_state",
        &[("account", "9900000")],
    )
}

async fn scrape(h: &Harness) -> Vec<Sample> {
    let resp = h
        .client
        .get(format!("{}/metrics", h.root()))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    parse(&resp.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_are_scraped_and_request_ids_travel() {
    let h = Harness::default().await;
    let before = scrape(&h).await;
    let created = |s: &[Sample]| {
        sample(
            s,
            "scim_bridge_scim_requests_total",
            &[
                ("endpoint", "/scim/v2/Users"),
                ("method", "POST"),
                ("status", "201"),
                ("tenant", "acme"),
            ],
        )
        .unwrap_or(0.0)
    };
    let (status, headers, body) = h
        .call_headers(
            Method::POST,
            "/Users",
            Some(user("m@x.com")),
            &[("x-request-id", "okta-req-42")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["x-request-id"], "okta-req-42");
    assert!(
        h.state()
            .stats
            .request_ids
            .iter()
            .any(|i| i == "okta-req-42"),
        "sent upstream"
    );
    let id = body["id"].as_str().expect("id");
    let (_, headers, _) = h
        .get_headers(
            &format!("/Users/{id}"),
            &[("x-request-id", "bad id\twith tab")],
        )
        .await;
    let generated = headers["x-request-id"].to_str().expect("ascii");
    assert!(
        generated.len() >= 16 && !generated.contains(' '),
        "{generated}"
    );

    let after = scrape(&h).await;
    assert!(
        created(&after) >= created(&before) + 1.0,
        "the create was not counted"
    );
    let counted: [(&str, &[(&str, &str)]); 4] = [
        // The route template, not the path, labels requests.
        (
            "scim_bridge_scim_requests_total",
            &[("endpoint", "/scim/v2/Users/{id}"), ("method", "GET")],
        ),
        (
            "scim_bridge_scim_request_duration_seconds_count",
            &[("endpoint", "/scim/v2/Users")],
        ),
        (
            "scim_bridge_upstream_requests_total",
            &[("operation", "create_user"), ("status", "201")],
        ),
        (
            "scim_bridge_upstream_request_duration_seconds_count",
            &[("operation", "create_user")],
        ),
    ];
    for (name, labels) in counted {
        assert!(
            sample(&after, name, labels).unwrap_or(0.0) >= 1.0,
            "nothing counted in {name} {labels:?}"
        );
    }
    assert!(
        !after
            .iter()
            .any(|(_, l, _)| l.iter().any(|(_, v)| v.contains(id))),
        "an id in a label"
    );
    assert!(after.iter().any(
        |(n, l, _)| n == "scim_bridge_scim_request_duration_seconds_bucket"
            && l.iter().any(|(k, _)| k == "le")
    ));
    assert!(sample(
        &after,
        "scim_bridge_upstream_breaker_state",
        &[("account", "9900000")]
    )
    .is_some());
    assert_eq!(
        sample(
            &after,
            "scim_bridge_jobs",
            &[("tenant", "acme"), ("state", "failed")]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let h = Harness::with(|o| o.extra_toml = "[server]\nmetrics_token = \"scrape-secret\"".into())
        .await;
    let url = format!("{}/metrics", h.root());
    let denied = h.client.get(&url).send().await.expect("scrape");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let allowed = h
        .client
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("scrape");
    assert_eq!(allowed.status(), StatusCode::OK);
    assert!(allowed.text().await.expect("body").contains("scim_bridge_"));
}

crate::both_targets!(
    flows_converge_with_30_percent_5xx,
    flows_converge_through_429_bursts,
    flows_converge_through_2s_latency_spikes,
    flows_converge_through_dropped_connections,
    a_dropped_create_answer_is_found_not_duplicated_end_to_end,
);
