//! A group push reads the upstream users it needs through the paged list endpoint (one
//! call per page) and writes each changed user with one call, for Bandwidth and
//! NetSapiens alike; a user no page shows is read singly. Upstream calls are counted by
//! the simulators.
mod common;

use std::time::{Duration, Instant};

use bandwidth_sim::Faults;
use common::database::TestDatabase;
use common::scim::{group_body as group, send};
use common::target::{netsapiens_target_toml, Upstream};
use common::{serve_bridge, user, Harness, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// 40 users `b0@x.com`.. created through the bridge; their SCIM ids.
async fn forty_users(h: &Harness) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(h.create_ok(user(&format!("b{n}@x.com"))).await);
    }
    ids
}

/// Pushes the group `bandwidth-role-Porting` of `ids` (the 40 users) and waits until
/// every member but `gone` has the role; returns the simulator's counters from before
/// the push.
async fn push_porting(h: &Harness, ids: &[String], gone: Option<usize>) -> bandwidth_sim::SimStats {
    let before = h.state().stats;
    let (status, body) = h
        .post("/Groups", group("bandwidth-role-Porting", ids))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.eventually("every remaining member has the role", |s| {
        (0..40)
            .filter(|n| Some(*n) != gone)
            .all(|n| Harness::roles_of(s, &format!("b{n}@x.com")).contains(&"Porting".into()))
    })
    .await;
    before
}

#[tokio::test]
async fn a_bandwidth_group_push_costs_about_one_call_per_member() {
    let h = Harness::default().await;
    let ids = forty_users(&h).await;
    // One member is removed upstream behind the bridge's back: no page shows it.
    let gone = h.upstream("b7@x.com").unwrap().user_id;
    assert!(h.sim.remove_user(&gone));
    let before = push_porting(&h, &ids, Some(7)).await;
    // The removed member's job reads it singly, finds it gone and fails for good.
    h.failed_jobs("the removed member's job never failed", |failed| {
        failed.iter().any(|j| j.user_id == ids[7])
    })
    .await;
    let after = h.state().stats;
    let calls = after.requests - before.requests;
    // 39 writes, one page (40 users fit in one), the removed member's single read and
    // the role list: about 42. Read one by one it would be about 80.
    assert!(
        (39..=45).contains(&calls),
        "{calls} upstream calls for 40 members"
    );
    assert_eq!(after.updates - before.updates, 39, "one write per member");
}

#[tokio::test]
async fn a_netsapiens_group_push_costs_about_one_call_per_member() {
    let sim = Upstream::start_netsapiens(Faults::default()).await;
    let db = TestDatabase::from_env().await;
    let hash = hex::encode(scim_bridge::http::auth::sha256(TOKEN));
    let target = netsapiens_target_toml("pbx", &sim.base_url(), (2000, 2099));
    let toml = format!(
        r#"
[database]
url = "{}"

[tenants.pbx]
tokens = [{{ id = "pbx-okta", sha256 = "{hash}" }}]
base_roles = []

[[tenants.pbx.groups.map]]
display_name = "Call Center"
roles = ["Call Center Agent"]
{target}rate_limit_per_second = 200
request_timeout_secs = 3
"#,
        db.url(),
    );
    let (base, _app) = serve_bridge(&toml).await;
    let client = reqwest::Client::new();
    let post = async |path: &str, body: Value| {
        let url = format!("{base}{path}");
        let (status, _, body) =
            send(&client, Method::POST, &url, Some(body), Some(TOKEN), &[]).await;
        (status, body)
    };
    let mut ids = Vec::new();
    for n in 0..30 {
        let (status, body) = post("/Users", user(&format!("n{n}@acme.test"))).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let before = sim.snapshot().stats;
    let (status, _) = post("/Groups", group("Call Center", &ids)).await;
    assert_eq!(status, StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let users = sim.snapshot().domains["acme"].users.clone();
        let done = users
            .iter()
            .filter(|u| u.user_scope == "Call Center Agent")
            .count();
        if done == 30 {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of 30 have the scope");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = sim.snapshot().stats.requests - before.requests;
    // 30 writes and one page of 200; read one by one it would be about 60.
    assert!(
        (30..=34).contains(&calls),
        "{calls} upstream calls for 30 members"
    );
}

/// Pushes a group of the 40 users while the simulator answers the directory page reads
/// with `faults`; every member must get the role. Returns the upstream calls the push
/// cost and the simulator's counters after it.
async fn push_with_page_faults(faults: Vec<u16>) -> (u64, bandwidth_sim::SimStats) {
    let h = Harness::default().await;
    let ids = forty_users(&h).await;
    h.sim.set_faults(bandwidth_sim::Faults {
        page_read_faults: faults,
        ..Default::default()
    });
    let before = push_porting(&h, &ids, None).await;
    let after = h.state().stats;
    assert_eq!(after.updates - before.updates, 40, "one write per member");
    (after.requests - before.requests, after)
}

#[tokio::test]
async fn a_throttled_page_read_waits_for_the_reset_and_reads_the_page_again() {
    let (calls, stats) = push_with_page_faults(vec![429]).await;
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.page_reads, 2, "throttled, then read");
    // Besides the pages and the 40 writes, only role lists (jobs starting together may
    // each miss the role cache): no single reads, as without the 429.
    let others = calls - 2 - 40;
    assert!((1..=4).contains(&others), "{others} other upstream calls");
}

#[tokio::test]
async fn failing_page_reads_fall_back_to_single_reads_and_lose_nothing() {
    // The page read and both its retries (`max_retries = 2`) fail: the read gives up,
    // and page reads pause while the jobs read their users singly.
    let (calls, stats) = push_with_page_faults(vec![503, 503, 503]).await;
    assert_eq!(stats.failed_injected, 3);
    assert_eq!(
        stats.by_status.get("503"),
        Some(&3),
        "{:?}",
        stats.by_status
    );
    assert_eq!(stats.page_reads, 3, "no page tried again during the pause");
    // Besides the pages and the 40 writes: 40 single reads and the role lists.
    let others = calls - 3 - 40;
    assert!((41..=44).contains(&others), "{others} other upstream calls");
}
