//! Logs and metrics through the real binary: `serve --log-format json` writes one JSON
//! object per line, the request's lines carry its request id, every SCIM request has
//! one INFO line (also a 401, and at the default level), no secret is logged, text logs
//! written to a file carry no ANSI colours, and `/metrics` has `# HELP` for every family.
mod common;
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bandwidth_sim::SimHandle;
use reqwest::StatusCode;

/// The bridge process, killed when the test ends or panics, and where its stderr went.
struct Bridge {
    child: Child,
    base: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
    sim: SimHandle,
}

impl Bridge {
    /// Starts `scim-bridge [args] serve` on a free port with `RUST_LOG` as given (unset:
    /// the default level), and waits for `/healthz`.
    async fn start(args: &[&str], rust_log: Option<&str>) -> Bridge {
        let sim = support::start_sim().await;
        let dir = tempfile::tempdir().unwrap();
        let db_url = common::sqlite_url(dir.path());
        let port = common::process::free_port();
        let toml = common::config_toml(&common::Options::default(), &sim.base_url(), &db_url);
        let config = dir.path().join("bridge.toml");
        std::fs::write(
            &config,
            format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{toml}"),
        )
        .unwrap();
        let log_path = dir.path().join("stderr.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
        command
            .args(args)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let bridge = Bridge {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log_path,
            _dir: dir,
            sim,
        };
        support::wait_healthy(&bridge.base, &reqwest::Client::new()).await;
        bridge
    }

    /// Stops the process as a service manager does (SIGTERM, then waits for it) and
    /// returns everything it logged.
    fn stop(mut self) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: a plain signal to the child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the bridge stops cleanly on SIGTERM: {status}"
        );
        self.log()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn assert_no_secret(text: &str) {
    for secret in [
        common::TOKEN,
        "sim-secret",
        "Sup3r$ecretFromOkta",
        "Bearer ",
        "wrong-token-value",
    ] {
        assert!(!text.contains(secret), "{secret:?} in the logs");
    }
}

async fn create_user(base: &str, request_id: &str) {
    let response = reqwest::Client::new()
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(common::TOKEN)
        .header("x-request-id", request_id)
        .header("content-type", "application/scim+json")
        .body(common::user("logged@x.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], request_id);
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_secret() {
    let bridge = Bridge::start(
        &["--log-format", "json"],
        Some("info,scim_bridge=debug,tower_http=debug"),
    )
    .await;
    create_user(&bridge.base, "json-log-req-7").await;
    let text = bridge.stop();

    let lines = json_lines(&text);
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
    assert_no_secret(&text);
}

#[tokio::test]
async fn every_scim_request_has_one_info_line_at_the_default_level() {
    let bridge = Bridge::start(&["--log-format", "json"], None).await;
    create_user(&bridge.base, "json-log-req-8").await;
    let refused = reqwest::Client::new()
        .get(format!(
            "{}/scim/v2/Users?filter=userName%20eq%20%22a%22",
            bridge.base
        ))
        .bearer_auth("wrong-token-value")
        .header("x-request-id", "json-log-req-9")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let text = bridge.stop();

    let lines = json_lines(&text);
    let request_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "scim request")
        .collect();
    assert_eq!(request_lines.len(), 2, "{text}");
    let created = request_lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "json-log-req-8")
        .unwrap_or_else(|| panic!("no line for the create: {text}"));
    assert_eq!(created["level"], "INFO");
    assert_eq!(created["fields"]["method"], "POST");
    assert_eq!(created["fields"]["route"], "/scim/v2/Users");
    assert_eq!(created["fields"]["status"], "201");
    assert_eq!(created["fields"]["tenant"], "acme");
    assert_eq!(created["fields"]["credential"], "acme-okta");
    assert!(
        created["fields"]["duration_ms"].as_f64().is_some(),
        "{created}"
    );

    let refused = request_lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "json-log-req-9")
        .unwrap_or_else(|| panic!("no line for the 401: {text}"));
    assert_eq!(refused["fields"]["status"], "401");
    assert_eq!(refused["fields"]["tenant"], "unauthenticated");
    assert_eq!(refused["fields"]["method"], "GET");
    assert_no_secret(&text);
    assert!(
        !text.contains("userName"),
        "no query or body is logged: {text}"
    );
}

/// A 5xx answer also gets an ERROR line in the request's span, with its status: what an
/// admin greps for when the IdP reports failures. Here the upstream fails every call.
#[tokio::test]
async fn a_server_error_is_logged_at_error_with_its_status() {
    let bridge = Bridge::start(&["--log-format", "json"], None).await;
    bridge.sim.set_faults(bandwidth_sim::Faults {
        fail_rate: 1.0,
        ..bandwidth_sim::Faults::default()
    });
    let response = reqwest::Client::new()
        .post(format!("{}/scim/v2/Users", bridge.base))
        .bearer_auth(common::TOKEN)
        .header("x-request-id", "json-log-req-5xx")
        .header("content-type", "application/scim+json")
        .body(common::user("failing@x.com").to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_server_error(), "{status}");
    let text = bridge.stop();

    let lines = json_lines(&text);
    let failed = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "response failed"
                && l["spans"].as_array().is_some_and(|spans| {
                    spans.iter().any(|s| s["request_id"] == "json-log-req-5xx")
                })
        })
        .unwrap_or_else(|| panic!("no ERROR line for the 5xx: {text}"));
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["fields"]["status"], status.as_str());
    assert_no_secret(&text);
}

/// INFO lines are written in batches (`telemetry/sink.rs`), but a running bridge does
/// not sit on them: the request's line is in the file well within a second.
#[tokio::test]
async fn a_request_line_is_written_while_the_bridge_runs() {
    let bridge = Bridge::start(&[], None).await;
    create_user(&bridge.base, "text-log-req-2").await;
    let mut waited = std::time::Duration::ZERO;
    while !bridge.log().contains("text-log-req-2") {
        assert!(
            waited < std::time::Duration::from_secs(2),
            "no line for the request after {waited:?}: {}",
            bridge.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += std::time::Duration::from_millis(20);
    }
    let text = bridge.stop();
    let line = text
        .lines()
        .find(|l| l.contains("request_id=text-log-req-2") && l.contains("scim request"));
    assert!(line.is_some_and(|l| l.contains("status=201")), "{text}");
}

#[tokio::test]
async fn text_logs_to_a_file_have_no_colours() {
    let bridge = Bridge::start(&[], None).await;
    create_user(&bridge.base, "text-log-req-1").await;
    let text = bridge.stop();
    assert!(text.contains("scim request"), "{text}");
    assert!(text.contains("text-log-req-1"), "{text}");
    assert!(!text.contains('\u{1b}'), "ANSI escapes in a file: {text:?}");
}

#[tokio::test]
async fn every_metric_family_has_help() {
    let bridge = Bridge::start(&[], None).await;
    create_user(&bridge.base, "metrics-req-1").await;
    let body = reqwest::get(format!("{}/metrics", bridge.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let families: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for expected in [
        "scim_bridge_scim_requests_total",
        "scim_bridge_scim_request_duration_seconds",
        "scim_bridge_upstream_requests_total",
        "scim_bridge_jobs",
    ] {
        assert!(families.contains(&expected), "{expected} missing: {body}");
    }
    for family in families {
        assert!(
            body.lines()
                .any(|l| l.starts_with(&format!("# HELP {family} ")) && l.len() > family.len() + 12),
            "no # HELP for {family}: {body}"
        );
    }
    drop(bridge);
}
