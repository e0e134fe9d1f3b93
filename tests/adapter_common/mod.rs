//! Shared set-up for the tests against the Bandwidth simulator over loopback.
#![allow(dead_code)]

use std::time::Duration;

#[path = "../common/faults.rs"]
mod faults;
pub use faults::faults;
#[path = "../common/seed.rs"]
pub mod seed;

use bandwidth_sim::{Faults, SimConfig, SimHandle, SimSnapshot, Simulator, SnapshotUser};
use scim_bridge::upstream::bandwidth::{BandwidthConfig, BandwidthTarget, Dialect};
use scim_bridge::upstream::DesiredUser;

pub const ACCOUNT: &str = "9900000";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn sim_dialect(d: Dialect) -> bandwidth_sim::Dialect {
    match d {
        Dialect::V1 => bandwidth_sim::Dialect::V1,
        Dialect::Dashboard => bandwidth_sim::Dialect::Dashboard,
    }
}

pub async fn start_sim(dialect: Dialect, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    init_tracing();
    let mut cfg = SimConfig {
        dialect: sim_dialect(dialect),
        ..SimConfig::default()
    };
    tweak(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    Simulator::start(cfg, listener)
        .await
        .expect("start simulator")
}

/// The adapter's config for `sim` with the simulator's default credentials, a generous
/// client-side rate and short timeouts.
pub fn config(dialect: Dialect, sim: &SimHandle) -> BandwidthConfig {
    let mut c = match dialect {
        Dialect::V1 => BandwidthConfig::v1(sim.base_url(), ACCOUNT, "sim-client", "sim-secret"),
        Dialect::Dashboard => BandwidthConfig::dashboard(
            format!("{}/api", sim.base_url()),
            ACCOUNT,
            "sim-user",
            "sim-password",
        ),
    };
    c.calls.rate_limit_per_second = 200;
    c.calls.connect_timeout = Duration::from_secs(2);
    c.calls.request_timeout = Duration::from_secs(5);
    c.calls.max_rate_limit_wait = Duration::from_secs(20);
    c.calls.max_retries = 8;
    c
}

pub fn target(dialect: Dialect, sim: &SimHandle) -> BandwidthTarget {
    BandwidthTarget::new(config(dialect, sim)).expect("valid config")
}

pub fn phone(dialect: Dialect) -> String {
    match dialect {
        Dialect::V1 => "+19195551234".into(),
        Dialect::Dashboard => "9195551234".into(),
    }
}

pub fn desired(dialect: Dialect, username: &str) -> DesiredUser {
    DesiredUser {
        username: username.into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: format!("{username}@example.com"),
        phone: Some(phone(dialect)),
        roles: Some(vec!["basicAccess".into(), "Ordering".into()]),
        account_scope: None,
        accounts: None,
        active: true,
        ..DesiredUser::default()
    }
}

pub fn snapshot_user(snap: &SimSnapshot, username: &str) -> Vec<SnapshotUser> {
    snap.users
        .iter()
        .filter(|u| u.username.eq_ignore_ascii_case(username))
        .cloned()
        .collect()
}

pub fn no_faults() -> Faults {
    Faults::default()
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Runs one async test body for both dialects, as `name::v1` and `name::dashboard`.
#[macro_export]
macro_rules! both_dialects {
    ($name:ident) => {
        mod $name {
            use scim_bridge::upstream::bandwidth::Dialect;
            #[tokio::test]
            async fn v1() {
                super::$name(Dialect::V1).await
            }
            #[tokio::test]
            async fn dashboard() {
                super::$name(Dialect::Dashboard).await
            }
        }
    };
}
