//! A 500-member group change survives the bridge being killed (SIGKILL) while its jobs
//! are pending: after a restart every member converges, none is lost or duplicated.
mod common;
mod support;

use std::time::{Duration, Instant};

const MEMBERS: usize = 500;

use common::faults::faults;
use common::process::free_port;
use scim_bridge::store::QueueFilter;

#[tokio::test]
async fn pending_jobs_survive_sigkill() {
    let sim = support::start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = common::sqlite_url(dir.path());
    let port = free_port();
    let toml = common::config_toml(&common::Options::default(), &sim.base_url(), &db_url);
    let worker = "concurrency = 8\npoll_interval_ms = 100\nlease_secs = 2\nbackoff_base_ms = 100\nbackoff_max_secs = 2\n";
    let (config, base) = support::write_config(dir.path(), port, worker, &toml);
    let client = reqwest::Client::new();
    let scim = |path: &str| format!("{base}/scim/v2{path}");

    let bridge = support::start_bridge(&config, &base, &client).await;
    let emails = (0..MEMBERS).map(|i| format!("r{i}@x.com"));
    let ids = support::create_users(&client, &scim("/Users"), emails).await;
    // Slow the upstream so the propagation is still running when the bridge dies.
    sim.set_faults(faults(|f| f.rate_limit = Some(100)));
    support::create_group(&client, &scim("/Groups"), "bandwidth-role-Porting", &ids).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(bridge); // SIGKILL

    let with_role = |s: &bandwidth_sim::SimSnapshot| {
        s.users
            .iter()
            .filter(|u| u.roles.contains(&"Porting".to_string()))
            .count()
    };
    let done_before = with_role(&sim.snapshot());
    assert!(
        done_before < MEMBERS,
        "the kill must interrupt the propagation ({done_before} done)"
    );
    let store = scim_bridge::store::open(&db_url, 1).await.unwrap();
    let left = store
        .list_jobs(QueueFilter::of("acme", 1000))
        .await
        .unwrap();
    assert!(!left.is_empty(), "jobs were pending at the kill");
    drop(store);

    let _bridge = support::start_bridge(&config, &base, &client).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while with_role(&sim.snapshot()) < MEMBERS {
        assert!(
            Instant::now() < deadline,
            "only {} of {MEMBERS} converged",
            with_role(&sim.snapshot())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = sim.snapshot();
    assert_eq!(
        state.users.len(),
        MEMBERS,
        "no upstream user lost or duplicated"
    );
    assert!(state
        .users
        .iter()
        .all(|u| u.roles == vec!["Porting".to_string(), "basicAccess".to_string()]));
    let store = scim_bridge::store::open(&db_url, 1).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = store.list_jobs(QueueFilter::of("acme", 10)).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "jobs left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
