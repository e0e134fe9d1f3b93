//! A 500-member group change survives the bridge being killed (SIGKILL) while its jobs
//! are pending: after a restart every member converges, none is lost or duplicated.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bandwidth_sim::{Faults, SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::json;

const MEMBERS: usize = 500;

use common::process::{free_port, Bridge};

async fn start_bridge(config: &std::path::Path, base: &str, client: &reqwest::Client) -> Bridge {
    let child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bridge = Bridge(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "bridge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridge
}

#[tokio::test]
async fn pending_jobs_survive_sigkill() {
    let sim = Simulator::start(
        SimConfig::default(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let port = free_port();
    let mut toml = common::config_toml(&common::Options::default(), &sim.base_url(), &db_url);
    toml = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[worker]\nconcurrency = 8\npoll_interval_ms = 100\nlease_secs = 2\nbackoff_base_ms = 100\nbackoff_max_secs = 2\n{toml}");
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, toml).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let scim = |path: &str| format!("{base}/scim/v2{path}");

    let bridge = start_bridge(&config, &base, &client).await;
    let mut ids = Vec::new();
    for i in 0..MEMBERS {
        let response = client
            .post(scim("/Users"))
            .bearer_auth(common::TOKEN)
            .json(&common::user(&format!("r{i}@x.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: serde_json::Value = response.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // Slow the upstream so the propagation is still running when the bridge dies.
    sim.set_faults(Faults {
        rate_limit: Some(100),
        ..Faults::default()
    });
    let members: Vec<serde_json::Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let response = client
        .post(scim("/Groups"))
        .bearer_auth(common::TOKEN)
        .json(&json!({"displayName": "bandwidth-role-Porting", "members": members}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
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
    let left = store.list_jobs(Some("acme"), None, 1000).await.unwrap();
    assert!(!left.is_empty(), "jobs were pending at the kill");
    drop(store);

    let _bridge = start_bridge(&config, &base, &client).await;
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
        let left = store.list_jobs(Some("acme"), None, 10).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "jobs left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
