//! The job worker refills each slot as its job ends: one slow upstream call holds only
//! its own slot, not a whole batch of `concurrency` jobs.
mod common;

use std::time::{Duration, Instant};

use bandwidth_sim::Faults;
use common::scim::group_body;
use common::{user, Harness};
use reqwest::StatusCode;

#[tokio::test]
async fn slow_upstream_calls_hold_only_their_own_slot() {
    let h = Harness::default().await;
    let mut members = Vec::new();
    for n in 0..100 {
        let id = h.create_ok(user(&format!("m{n}@x.com"))).await;
        members.push(id);
    }
    // One upstream call in twenty takes three more seconds.
    h.sim.set_faults(Faults {
        latency_spike_rate: 0.05,
        latency_spike_ms: 3000,
        ..Faults::default()
    });
    let before = h.state().stats;
    let started = Instant::now();
    let (status, body) = h
        .post("/Groups", group_body("bandwidth-role-Porting", &members))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let deadline = started + Duration::from_secs(120);
    loop {
        let state = h.state();
        let done = (0..100)
            .filter(|n| {
                Harness::roles_of(&state, &format!("m{n}@x.com")).contains(&"Porting".into())
            })
            .count();
        if done == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of 100 synced in 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let after = h.state().stats;
    let calls = after.requests - before.requests;
    let spikes = after.latency_spikes - before.latency_spikes;
    let busy = Duration::from_micros(after.busy_us - before.busy_us);
    // Each free slot refilled at once: the calls' own time shared by the slots. Graham's
    // bound for list scheduling adds (1 - 1/m) of the longest call.
    let ideal = busy / 4;
    let graham = ideal + Duration::from_millis(3000) * 3 / 4;
    eprintln!(
        "100 role syncs, 5 % of calls +3 s, 4 slots: {elapsed:.2?}; {calls} upstream calls, \
         {spikes} slowed, {busy:.2?} of upstream time; ideal {ideal:.2?} (ratio {:.2}), \
         Graham's bound {graham:.2?}",
        elapsed.as_secs_f64() / ideal.as_secs_f64()
    );
    // About 200 upstream calls, ~10 of them slow: ~30 s of waiting shared by 4 slots
    // when each slot is refilled (~8-12 s); a batch worker waits for the slowest job
    // of every batch of 4 (~25-30 s).
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}
