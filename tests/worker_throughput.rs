//! The job worker refills each slot as its job ends: one slow upstream call holds only
//! its own slot, not a whole batch of `concurrency` jobs.
mod common;

use std::time::{Duration, Instant};

use bandwidth_sim::Faults;
use common::scim::group_body;
use common::{user, Harness, Options};
use reqwest::StatusCode;

const SPIKE: Duration = Duration::from_secs(3);

#[tokio::test]
async fn slow_upstream_calls_hold_only_their_own_slot() {
    // The upstream timeout sits above the 3 s spike: a slowed call is slow, not failed and
    // retried (which would measure the retry policy, not the worker's slots).
    let h = Harness::start(Options {
        upstream_timeout_secs: 10,
        ..Options::default()
    })
    .await;
    let mut members = Vec::new();
    for n in 0..100 {
        let id = h.create_ok(user(&format!("m{n}@x.com"))).await;
        members.push(id);
    }
    // The same work with no slow call: what the bridge's own work and the fast calls cost.
    let calm = push_role(&h, "Ordering", &members).await;

    // One upstream call in twenty takes three more seconds.
    h.sim.set_faults(Faults {
        latency_spike_rate: 0.05,
        latency_spike_ms: SPIKE.as_millis() as u64,
        ..Faults::default()
    });
    let before = h.state().stats;
    let pages_before = page_reads(&h).await;
    let elapsed = push_role(&h, "Porting", &members).await;
    let after = h.state().stats;
    let pages_after = page_reads(&h).await;

    let calls = after.requests - before.requests;
    let spikes = (after.latency_spikes - before.latency_spikes) as u32;
    let busy = Duration::from_micros(after.busy_us - before.busy_us);
    let page_count = pages_after.0 - pages_before.0;
    let page_time = Duration::from_secs_f64((pages_after.1 - pages_before.1).max(0.0));
    // The ideal, each free slot refilled at once, can be no sooner than any of: the calm
    // run; the slowed calls dealt out evenly over the 4 slots (3 s each, not divisible);
    // the upstream time shared by the slots; the directory pages (which the writes wait
    // for, one read at a time) plus the rest shared by the slots or, if more, the slowed
    // writes dealt out. The ratio is taken to the largest of these lower bounds. (Adding
    // the calm run to the slowed rounds gives an upper estimate: the calm work can overlap
    // the slow calls.)
    let rounds = SPIKE * spikes.div_ceil(4);
    let spread = busy / 4;
    let slowed_pages = (page_time.as_secs_f64() / SPIKE.as_secs_f64()) as u32;
    let after_pages = SPIKE * spikes.saturating_sub(slowed_pages).div_ceil(4);
    let with_pages = page_time + (busy.saturating_sub(page_time) / 4).max(after_pages);
    let ideal = calm.max(rounds).max(spread).max(with_pages);
    let estimate = calm + rounds;
    eprintln!(
        "100 role syncs, 5 % of calls +3 s, 4 slots: {elapsed:.2?}; calm run {calm:.2?}; \
         {calls} upstream calls, {spikes} slowed, {busy:.2?} of upstream time, {page_count} \
         page reads taking {page_time:.2?}; ideal at least {ideal:.2?} (ratio {:.2}), calm run plus \
         slowed rounds {estimate:.2?} (ratio {:.2})",
        elapsed.as_secs_f64() / ideal.as_secs_f64(),
        elapsed.as_secs_f64() / estimate.as_secs_f64()
    );
    assert!(page_count >= 1, "the role syncs were served by page reads");
    // About 105 upstream calls (a page read, then one write per member), ~5 of them
    // slow: each slot refilled ends near the ideal (~3-9 s); a batch worker waits for the
    // slowest job of every batch of 4 (~15-25 s).
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

/// Grants role `role` to `members` through a group and waits until every member holds it
/// upstream; returns how long that took.
async fn push_role(h: &Harness, role: &str, members: &[String]) -> Duration {
    let started = Instant::now();
    let (status, body) = h
        .post(
            "/Groups",
            group_body(&format!("bandwidth-role-{role}"), members),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let deadline = started + Duration::from_secs(120);
    loop {
        let state = h.state();
        let done = (0..members.len())
            .filter(|n| Harness::roles_of(&state, &format!("m{n}@x.com")).contains(&role.into()))
            .count();
        if done == members.len() {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {} got {role} in 120 s",
            members.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Directory page reads so far and the seconds they took, from the bridge's `/metrics`.
async fn page_reads(h: &Harness) -> (u64, f64) {
    let body = reqwest::get(format!("{}/metrics", h.root()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text");
    let sample = |suffix: &str| {
        let family = format!("scim_bridge_upstream_request_duration_seconds_{suffix}{{");
        body.lines()
            .filter(|l| l.starts_with(&family) && l.contains("operation=\"list_users\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    (sample("count") as u64, sample("sum"))
}
