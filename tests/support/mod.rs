//! Helpers for the tests that run the real `scim-bridge` binary (restart, crash recovery,
//! the guard across a restart, logs): a simulator on loopback, a bridge process started
//! and awaited, users created through SCIM. Include with `mod common; mod support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bandwidth_sim::{SimConfig, SimHandle};
use reqwest::StatusCode;

use crate::common;
use crate::common::process::Bridge;

/// A simulator with the default settings on a free loopback port.
pub async fn start_sim() -> SimHandle {
    common::start_sim(SimConfig::default()).await
}

pub use crate::common::scim::group_body as group;

/// Writes `dir/bridge.toml`: a bridge serving on `port` with the `[worker]` settings
/// `worker` (lines) and then `toml` (tenants, database). Returns the file and the
/// bridge's base URL.
pub fn write_config(dir: &Path, port: u16, worker: &str, toml: &str) -> (PathBuf, String) {
    let config = dir.join("bridge.toml");
    let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[worker]\n{worker}{toml}");
    std::fs::write(&config, text).unwrap();
    (config, format!("http://127.0.0.1:{port}"))
}

/// Waits up to 30 s until `{base}/healthz` answers (a bridge process is starting).
pub async fn wait_healthy(base: &str, client: &reqwest::Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "bridge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `scim-bridge serve --config FILE` (output discarded) serving at `base`, and
/// waits until it answers.
pub async fn start_bridge(config: &Path, base: &str, client: &reqwest::Client) -> Bridge {
    let child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bridge = Bridge(child);
    wait_healthy(base, client).await;
    bridge
}

/// Creates one user per email at `users_url` (a bridge's `/scim/v2/Users`); each must
/// answer 201. Returns their SCIM ids in order.
pub async fn create_users(
    client: &reqwest::Client,
    users_url: &str,
    emails: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for email in emails {
        let response = client
            .post(users_url)
            .bearer_auth(common::TOKEN)
            .json(&common::user(&email))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "create {email}");
        let body: serde_json::Value = response.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Creates group `name` with `member_ids` at `groups_url` (a bridge's `/scim/v2/Groups`);
/// it must answer 201.
pub async fn create_group(
    client: &reqwest::Client,
    groups_url: &str,
    name: &str,
    member_ids: &[String],
) {
    let response = client
        .post(groups_url)
        .bearer_auth(common::TOKEN)
        .json(&group(name, member_ids))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "create group {name}"
    );
}

/// PATCHes SCIM user `id` to `active` (as Okta and Entra deactivate and reactivate);
/// it must answer 200. Returns the user as answered.
pub async fn set_active(h: &common::Harness, id: &str, active: bool) -> serde_json::Value {
    let ops = serde_json::json!([{"op": "replace", "value": {"active": active}}]);
    let (status, body) = h.patch(id, ops).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A harness (bridge and simulator in process) with `extra_toml` added to the tenant's
/// configuration.
pub async fn harness(extra_toml: &str) -> common::Harness {
    common::Harness::start(common::Options {
        extra_toml: extra_toml.to_string(),
        ..common::Options::default()
    })
    .await
}
