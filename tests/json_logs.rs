//! `serve --log-format json` through the real binary: every line is a JSON object, the
//! request's lines carry its request id, and no secret is logged.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bandwidth_sim::{SimConfig, Simulator};
use reqwest::StatusCode;

/// Kills the bridge process if the test panics.
struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_secret() {
    let sim = Simulator::start(
        SimConfig::default(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let toml = common::config_toml(&common::Options::default(), &sim.base_url(), &db_url);
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{toml}"),
    )
    .unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info,scim_bridge=debug,tower_http=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let bridge = Bridge(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "bridge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let response = client
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(common::TOKEN)
        .header("x-request-id", "json-log-req-7")
        .header("content-type", "application/scim+json")
        .body(common::user("logged@x.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], "json-log-req-7");
    drop(bridge);

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == "json-log-req-7"))
        })
        .collect();
    assert!(
        of_request
            .iter()
            .any(|l| l["fields"]["message"] == "upstream call"),
        "the upstream calls are logged in the request's span: {text}"
    );
    for secret in [
        common::TOKEN,
        "sim-secret",
        "Sup3r$ecretFromOkta",
        "Bearer ",
    ] {
        assert!(!text.contains(secret), "{secret:?} in the logs");
    }
}
