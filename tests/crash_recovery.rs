//! Crashes through the real binary (SIGKILL): a create killed between its upstream
//! create and its local commit leaves no active upstream user unknown to SCIM once the
//! bridge is back (intent recovery deprovisions it as an abandoned create), and jobs a
//! dead process had claimed run again within seconds, not after a long lease. SQLite,
//! or PostgreSQL with `SCIM_BRIDGE_TEST_BACKEND=postgres`.
mod common;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bandwidth_sim::{Faults, SimHandle};
use reqwest::StatusCode;
use scim_bridge::provision::create::COMMIT_WINDOW_FAULT_VAR;
use scim_bridge::store::QueueFilter;

use common::faults::faults;
use common::process::{free_port, Bridge};

struct Setup {
    sim: SimHandle,
    db: common::database::TestDatabase,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Setup {
    async fn new() -> Setup {
        Setup {
            sim: support::start_sim().await,
            db: common::database::TestDatabase::from_env().await,
            dir: tempfile::tempdir().unwrap(),
            client: reqwest::Client::new(),
        }
    }

    /// Writes a configuration serving on `port` with a `lease_secs` lease and a
    /// one-second abandoned-create grace; returns its path.
    fn config(&self, port: u16, lease_secs: u64) -> std::path::PathBuf {
        let toml = common::config_toml(
            &common::Options::default(),
            &self.sim.base_url(),
            &self.db.url(),
        )
        .replace(
            "adopt_existing = false",
            "adopt_existing = false\nabandoned_create_grace_secs = 1",
        );
        let toml = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[worker]\nconcurrency = 4\npoll_interval_ms = 100\nlease_secs = {lease_secs}\nbackoff_base_ms = 100\nbackoff_max_secs = 2\n{toml}");
        let path = self.dir.path().join(format!("bridge-{port}.toml"));
        std::fs::write(&path, toml).unwrap();
        path
    }

    async fn start(&self, config: &std::path::Path, port: u16, fault: Option<u64>) -> Bridge {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
        command
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join(format!("bridge-{port}.log")))
                    .unwrap(),
            );
        if let Some(ms) = fault {
            command.env(COMMIT_WINDOW_FAULT_VAR, ms.to_string());
        }
        let bridge = Bridge(command.spawn().unwrap());
        support::wait_healthy(&format!("http://127.0.0.1:{port}"), &self.client).await;
        bridge
    }

    /// Active upstream users that no SCIM user links to.
    async fn unmanaged_active(&self) -> usize {
        let store = scim_bridge::store::open(&self.db.url(), 1).await.unwrap();
        let mut count = 0;
        for user in self.sim.snapshot().users {
            let linked = store
                .user_id_by_upstream("acme", &user.user_id)
                .await
                .unwrap();
            if linked.is_none() && user.status == "ACTIVE" {
                count += 1;
            }
        }
        count
    }
}

fn scim(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}/scim/v2{path}")
}

#[tokio::test]
async fn a_create_killed_before_its_commit_leaves_no_active_unmanaged_user() {
    let s = Setup::new().await;
    let port = free_port();
    let config = s.config(port, 5);
    let bridge = s.start(&config, port, Some(60_000)).await;
    const CREATES: usize = 3;
    for i in 0..CREATES {
        // The IdP gives up; the create waits in the widened window.
        let _ = s
            .client
            .post(scim(port, "/Users"))
            .bearer_auth(common::TOKEN)
            .timeout(Duration::from_millis(300))
            .json(&common::user(&format!("killed{i}@x.com")))
            .send()
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.sim.snapshot().users.len() < CREATES {
        assert!(
            Instant::now() < deadline,
            "the creates never reached upstream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(bridge); // SIGKILL inside the window
    let before = s.unmanaged_active().await;
    eprintln!("unmanaged active upstream users right after the kill: {before}");
    assert_eq!(before, CREATES, "the kill was meant to land in the window");

    let _bridge = s.start(&config, port, None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = s.unmanaged_active().await;
    while after > 0 {
        assert!(
            Instant::now() < deadline,
            "{after} unmanaged active upstream users remain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = s.unmanaged_active().await;
    }
    eprintln!("unmanaged active upstream users after restart and recovery: {after}");
    let store = scim_bridge::store::open(&s.db.url(), 1).await.unwrap();
    let audit = store.list_audit("acme", 100).await.unwrap();
    let abandoned = audit
        .iter()
        .filter(|e| e.action == "abandoned_create" && e.outcome == "ok")
        .count();
    assert_eq!(abandoned, CREATES, "{audit:#?}");
    // Deleted (the default on_delete here) or deactivated, never duplicated; the IdP's
    // late retry makes the user managed again.
    assert!(s.sim.snapshot().users.len() <= CREATES);
    let response = s
        .client
        .post(scim(port, "/Users"))
        .bearer_auth(common::TOKEN)
        .json(&common::user("killed0@x.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let state = s.sim.snapshot();
    assert!(
        state.users.len() <= CREATES,
        "a duplicate: {:#?}",
        state.users
    );
    assert_eq!(s.unmanaged_active().await, 0);
}

/// Starts `MEMBERS` role syncs on a slowed upstream and kills the bridge while they run;
/// returns the SCIM ids.
async fn kill_mid_sync(s: &Setup, port: u16, config: &std::path::Path) -> usize {
    const MEMBERS: usize = 12;
    let bridge = s.start(config, port, None).await;
    let emails = (0..MEMBERS).map(|i| format!("m{i}@x.com"));
    let ids = support::create_users(&s.client, &scim(port, "/Users"), emails).await;
    s.sim.set_faults(faults(|f| f.latency_ms = 3000));
    let groups = scim(port, "/Groups");
    support::create_group(&s.client, &groups, "bandwidth-role-Porting", &ids).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    drop(bridge); // SIGKILL with jobs claimed and upstream calls in flight
    s.sim.set_faults(Faults::default());
    MEMBERS
}

async fn converge_within(s: &Setup, members: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    let with_role = || {
        s.sim
            .snapshot()
            .users
            .iter()
            .filter(|u| u.roles.contains(&"Porting".to_string()))
            .count()
    };
    while with_role() < members {
        if started.elapsed() >= limit {
            let store = scim_bridge::store::open(&s.db.url(), 1).await.unwrap();
            let jobs = store.list_jobs(QueueFilter::of("acme", 100)).await.unwrap();
            eprintln!("jobs left: {jobs:#?}");
            for entry in std::fs::read_dir(s.dir.path()).unwrap().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().filter(|l| !l.contains("request")).collect();
                eprintln!("{}:\n{}", entry.path().display(), lines.join("\n"));
            }
        }
        assert!(
            started.elapsed() < limit,
            "only {} of {members} synced after {:?}",
            with_role(),
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_restarted_process_takes_its_own_claims_back_at_once() {
    let s = Setup::new().await;
    let port = free_port();
    // A long lease: only the start-up give-back can explain a quick recovery.
    let config = s.config(port, 60);
    let members = kill_mid_sync(&s, port, &config).await;
    let _bridge = s.start(&config, port, None).await;
    let took = converge_within(&s, members, Duration::from_secs(20)).await;
    eprintln!("own claims of a killed process re-run after restart in {took:?} (lease 60 s)");
}

#[tokio::test]
async fn a_dead_replicas_claims_move_on_within_seconds() {
    let s = Setup::new().await;
    let (dead, alive) = (free_port(), free_port());
    let members = kill_mid_sync(&s, dead, &s.config(dead, 3)).await;
    // Another instance (another port): it waits out the short, no longer renewed lease.
    let _bridge = s.start(&s.config(alive, 3), alive, None).await;
    let took = converge_within(&s, members, Duration::from_secs(15)).await;
    eprintln!("a dead replica's claims were taken over in {took:?} (lease 3 s)");
}
