//! The adapter against the simulator's injected faults: token expiry, 429s, 503s, lost
//! create answers, timeouts; and a check that no secret reaches the logs.

mod adapter_common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_common::*;
use scim_bridge::upstream::bandwidth::{BandwidthTarget, Dialect};
use scim_bridge::upstream::{Target, TargetError};

fn count_401(sim: &bandwidth_sim::SimHandle) -> u64 {
    sim.snapshot()
        .stats
        .by_status
        .get("401")
        .copied()
        .unwrap_or(0)
}

/// Reads user `id` back after `step`; it must still exist.
async fn read_back(t: &BandwidthTarget, id: &str, step: &str) {
    t.get_user(id).await.expect(step).expect("exists");
}

#[tokio::test]
async fn expired_and_revoked_tokens_refresh_transparently() {
    let d = Dialect::V1;
    let sim = start_sim(d, |c| c.token_ttl = Duration::from_secs(2)).await;
    let t = target(d, &sim);
    let u = t.create_user(&desired(d, "tok")).await.expect("create");
    assert_eq!(sim.snapshot().stats.tokens_issued, 1);

    // Revoked behind our back: one 401, one new token, the call succeeds.
    sim.expire_tokens();
    read_back(&t, &u.id, "get after revoke").await;
    assert_eq!(sim.snapshot().stats.tokens_issued, 2);
    assert_eq!(count_401(&sim), 1);

    // Near expiry (a 2 s token is renewed after 1 s): refreshed before use, no 401.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    read_back(&t, &u.id, "get after expiry").await;
    assert_eq!(sim.snapshot().stats.tokens_issued, 3);
    assert_eq!(count_401(&sim), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let d = Dialect::V1;
    let sim = start_sim(d, |_| {}).await;
    let t = Arc::new(target(d, &sim));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let t = t.clone();
        set.spawn(async move { t.find_by_username(&format!("nobody{i}")).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.expect("task"), Ok(None));
    }
    assert_eq!(sim.snapshot().stats.tokens_issued, 1);
}

async fn rate_limited_calls_wait_and_succeed(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim); // client-side 200/s: far above the upstream's 5/s
    let u = t.create_user(&desired(d, "busy")).await.expect("create");
    sim.set_faults(faults(|f| f.rate_limit = Some(5)));
    for _ in 0..15 {
        t.get_user(&u.id)
            .await
            .expect("get under 429s")
            .expect("exists");
    }
    assert!(
        sim.snapshot().stats.rate_limited > 0,
        "the test should provoke 429s"
    );
}
both_dialects!(rate_limited_calls_wait_and_succeed);

async fn client_side_limit_keeps_429s_rare(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let mut cfg = config(d, &sim);
    cfg.calls.rate_limit_per_second = 10;
    let t = BandwidthTarget::new(cfg).expect("config");
    let u = t.create_user(&desired(d, "calm")).await.expect("create");
    sim.set_faults(faults(|f| f.rate_limit = Some(10)));
    let start = Instant::now();
    for _ in 0..30 {
        t.get_user(&u.id).await.expect("get").expect("exists");
    }
    let limited = sim.snapshot().stats.rate_limited;
    assert!(
        limited <= 3,
        "{limited} 429s for 30 calls at the upstream's own rate"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(2500),
        "client-side limit not applied"
    );
}
both_dialects!(client_side_limit_keeps_429s_rare);

#[tokio::test]
async fn waiting_longer_than_allowed_is_rate_limited() {
    let d = Dialect::Dashboard;
    let sim = start_sim(d, |_| {}).await;
    sim.set_faults(faults(|f| f.rate_limit = Some(1)));
    let mut cfg = config(d, &sim);
    cfg.calls.max_rate_limit_wait = Duration::ZERO;
    let t = BandwidthTarget::new(cfg).expect("config");
    let mut limited = None;
    for _ in 0..3 {
        if let Err(e) = t.find_by_username("x").await {
            limited = Some(e);
            break;
        }
    }
    match limited {
        Some(TargetError::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

async fn retries_ride_out_server_errors(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    // Retries alone are under test: at 30 % failures a run of failed attempts long enough
    // to open the breaker is rare but possible, and would fail a call fast by design.
    let mut cfg = config(d, &sim);
    cfg.calls.breaker_failures = 0;
    let t = BandwidthTarget::new(cfg).expect("config");
    t.list_roles().await.expect("roles");
    // The first call fails for sure: the test never passes without a 503 to retry.
    sim.set_faults(faults(|f| {
        f.fail_rate = 0.3;
        f.fail_next = 1;
    }));
    let mut ids = Vec::new();
    for i in 0..5 {
        let u = t
            .create_user(&desired(d, &format!("flaky{i}")))
            .await
            .expect("create");
        ids.push(u.id);
    }
    for (i, id) in ids.iter().enumerate() {
        let mut want = desired(d, &format!("flaky{i}"));
        want.roles = None;
        want.first_name = "Retried".into();
        t.get_user(id).await.expect("get").expect("exists");
        let u = t.update_user(id, &want).await.expect("update");
        assert_eq!(u.first_name, "Retried");
        assert_eq!(sorted(u.roles), vec!["Ordering", "basicAccess"]);
        t.find_by_email(&u.email)
            .await
            .expect("find")
            .expect("found");
    }
    t.list_users(0).await.expect("list");
    t.delete_user(&ids[0]).await.expect("delete");
    let snap = sim.snapshot();
    assert_eq!(snap.users.len(), 4, "no duplicates, one deleted");
    assert!(
        snap.stats.failed_injected > 0,
        "the test should provoke 503s"
    );
}
both_dialects!(retries_ride_out_server_errors);

async fn lost_create_answer_does_not_duplicate(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    sim.set_faults(faults(|f| f.drop_next_create_responses = 1));
    let u = t.create_user(&desired(d, "lost")).await.expect("create");
    let snap = sim.snapshot();
    let held = snapshot_user(&snap, "lost");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].user_id, u.id);
    assert_eq!(snap.stats.dropped_responses, 1);
    assert_eq!(snap.users.len(), 1);
}
both_dialects!(lost_create_answer_does_not_duplicate);

#[tokio::test]
async fn timeouts_are_unavailable() {
    let d = Dialect::Dashboard;
    let sim = start_sim(d, |_| {}).await;
    let mut cfg = config(d, &sim);
    cfg.calls.request_timeout = Duration::from_millis(100);
    cfg.calls.max_retries = 1;
    let t = BandwidthTarget::new(cfg).expect("config");
    sim.set_faults(faults(|f| f.latency_ms = 400));
    match t.get_user("x").await {
        Err(TargetError::Unavailable(m)) => assert!(m.contains("timeout"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_upstream_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener); // nothing listens there now
    let mut cfg = scim_bridge::upstream::bandwidth::BandwidthConfig::dashboard(
        format!("http://{addr}/api"),
        ACCOUNT,
        "u",
        "p",
    );
    cfg.calls.max_retries = 1;
    let t = BandwidthTarget::new(cfg).expect("config");
    assert!(matches!(t.ping().await, Err(TargetError::Unavailable(_))));
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_never_carry_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for d in [Dialect::V1, Dialect::Dashboard] {
            let sim = start_sim(d, |_| {}).await;
            let t = target(d, &sim);
            let u = t
                .create_user(&desired(d, "secretive"))
                .await
                .expect("create");
            sim.expire_tokens();
            t.get_user(&u.id).await.expect("get");
            let bad = t.create_user(&desired(d, "secretive")).await;
            assert!(matches!(bad, Err(TargetError::Conflict(_))));
        }
    });
    let logs = String::from_utf8_lossy(&capture.0.lock().expect("lock")).into_owned();
    assert!(logs.contains("request body"), "trace bodies were captured");
    for secret in [
        "sim-secret",
        "sim-password",
        "c2ltLWNsaWVudDpzaW0tc2VjcmV0",
        "c2ltLXVzZXI6c2ltLXBhc3N3b3Jk",
        "Bearer",
        "Basic ",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret}");
    }
    let passwords = logs.matches("\"Password\":").count();
    assert!(passwords > 0);
    assert_eq!(
        passwords,
        logs.matches("\"Password\":\"[REDACTED]\"").count()
    );
    assert!(!logs.contains("\"access_token\":\"ey"), "token logged");
}
