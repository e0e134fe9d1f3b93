//! The periodic reconcile `serve` runs for a tenant with `reconcile_interval_secs`: it
//! repairs when `reconcile_repair` is set, audits each run and sets the drift gauges.
//! Its own test binary, because it installs a global metrics recorder. Also the
//! reconcile lock that keeps replicas from running it at once (PostgreSQL).
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bandwidth_sim::UserEdit;
use common::database::{PgSchema, POSTGRES_URL_VAR};
use common::seed::seeded;
use common::{user, Harness};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use scim_bridge::config::Config;
use scim_bridge::provision::{reconcile, Tenant};

/// The `scim_bridge_drift_users{tenant="acme"}` gauges by kind in one snapshot. The
/// debugging recorder's snapshot resets gauges to 0, so each snapshot shows what the
/// runs since the previous one set.
fn drift_gauges(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let label = |name: &str| {
                key.labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_string())
            };
            match value {
                DebugValue::Gauge(v)
                    if key.name() == "scim_bridge_drift_users"
                        && label("tenant").as_deref() == Some("acme") =>
                {
                    Some((label("kind")?, v.0))
                }
                _ => None,
            }
        })
        .collect()
}

/// Polls the gauges until `check` holds for one snapshot, which it returns.
async fn gauges_until(
    snapshotter: &Snapshotter,
    what: &str,
    check: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let gauges = drift_gauges(snapshotter);
        if check(&gauges) {
            return gauges;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_periodic_run_repairs_audits_and_sets_the_drift_gauges() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let h = Harness::default().await;
    h.create_ok(user("periodic@example.com")).await;
    let upstream_id = h.upstream("periodic@example.com").unwrap().user_id;
    h.sim
        .seed_user(seeded("orphan", ("Or", "Phan"), "orphan@example.com"));
    h.sim.edit_user(
        &upstream_id,
        UserEdit {
            first_name: Some("Edited".into()),
            ..UserEdit::default()
        },
    );

    // The tenant as `serve` builds it from a configuration with the two keys.
    let text = h.config_text.replace(
        "dry_run = false",
        "dry_run = false\nreconcile_interval_secs = 1\nreconcile_repair = true",
    );
    let config = Config::from_toml_str(&text).unwrap();
    let tenant = Tenant::new(
        "acme",
        &config.tenants["acme"],
        h.app.tenants[0].target.clone(),
    );
    assert_eq!(tenant.reconcile_interval, Some(Duration::from_secs(1)));
    let task = reconcile::spawn_periodic(h.app.provisioner.clone(), Arc::new(tenant))
        .expect("an interval is configured");

    h.eventually("the periodic run repaired the first name", |s| {
        s.users
            .iter()
            .any(|u| u.username == "periodic@example.com" && u.first_name == "Jane")
    })
    .await;
    let audit = h.audit().await;
    let run = audit
        .iter()
        .rev()
        .find(|e| e.action == "reconcile")
        .expect("the run is audited");
    assert_eq!(run.actor, "reconcile");
    assert_eq!(run.outcome, "drift");
    assert_eq!(run.detail["repair"], true);
    assert_eq!(run.detail["findings"][0]["field"], "first_name");
    assert_eq!(run.detail["users_with_drift"]["attribute"], 1);

    // The first run counted one user with attribute drift and the orphan; a later run
    // counts the orphan again and no attribute drift.
    let first = gauges_until(&snapshotter, "the first run's gauges", |g| {
        g.get("attribute") == Some(&1.0)
    })
    .await;
    assert_eq!(first.get("orphan"), Some(&1.0), "{first:?}");
    assert_eq!(
        first.len(),
        scim_bridge::provision::drift::DriftKind::ALL.len(),
        "every kind is set: {first:?}"
    );
    let later = gauges_until(&snapshotter, "a later run's gauges", |g| {
        g.get("orphan") == Some(&1.0)
    })
    .await;
    for kind in ["attribute", "missing_upstream", "access", "status"] {
        assert_eq!(later.get(kind), Some(&0.0), "{kind}: {later:?}");
    }
    task.abort();
}

#[test]
fn no_interval_means_no_periodic_run() {
    let text = common::config_toml(
        &common::Options::default(),
        "http://127.0.0.1:9",
        "sqlite://unused.db",
    );
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.tenants["acme"].reconcile_interval_secs, None);
    assert!(!config.tenants["acme"].reconcile_repair);
    let zero = Config::from_toml_str(&text.replace(
        "dry_run = false",
        "dry_run = false\nreconcile_interval_secs = 0",
    ))
    .unwrap();
    let target = scim_bridge::app::build_tenant("acme", &zero.tenants["acme"])
        .unwrap()
        .target
        .clone();
    let tenant = Tenant::new("acme", &zero.tenants["acme"], target);
    assert_eq!(tenant.reconcile_interval, None);
}

/// On PostgreSQL the reconcile lock has one holder at a time across connections (as
/// across replicas), and is free again once the holder drops it.
#[tokio::test]
async fn the_reconcile_lock_admits_one_replica_at_a_time() {
    let Ok(server) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("skipped: {POSTGRES_URL_VAR} is not set");
        return;
    };
    let schema = PgSchema::create(&server, "rl").await;
    let one = scim_bridge::store::open(&schema.url, 2).await.unwrap();
    let two = scim_bridge::store::open(&schema.url, 2).await.unwrap();
    let held = one.try_lock("acme/reconcile").await.unwrap();
    assert!(held.is_some());
    assert!(two.try_lock("acme/reconcile").await.unwrap().is_none());
    assert!(two.try_lock("globex/reconcile").await.unwrap().is_some());
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The rollback that releases it runs when the connection goes back to the pool.
    while two.try_lock("acme/reconcile").await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the lock was not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
