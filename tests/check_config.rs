//! `check-config`, `serve` and `health` through the real binary, on the mistakes a
//! newcomer makes: the example's database directory missing, the example's placeholder
//! token hash, an upstream that does not answer, PostgreSQL not running.
mod common;
mod support;
use std::path::Path;
use std::process::{Command, Output};

const REAL_HASH: &str = "3e26406c0ccec0c230cf1bf02764be03147ab9309123d53e048547934604deab";

fn config(database_url: &str, sha256: &str, base_url: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n\
         [tenants.acme]\ntokens = [{{ id = \"okta\", sha256 = \"{sha256}\" }}]\n\
         [tenants.acme.target]\nkind = \"bandwidth\"\nbase_url = \"{base_url}\"\naccount_id = \"9900000\"\n\
         client_id = \"sim-client\"\nclient_secret = \"sim-secret\"\n"
    )
}

fn run(dir: &Path, args: &[&str], config_text: &str) -> Output {
    let path = dir.join("scim-bridge.toml");
    std::fs::write(&path, config_text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(args)
        .arg("--config")
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    common::process::free_port()
}

/// Asserts the output says each of `said`.
fn assert_says(out: &str, said: &[&str]) {
    for text in said {
        assert!(out.contains(text), "{text:?} not in {out}");
    }
}

fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn check_config_names_each_problem_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let upstream = format!("http://127.0.0.1:{}", closed_port());
    let text = config(
        &format!("sqlite://{}/bridge.db", missing.display()),
        &"0".repeat(64),
        &upstream,
    );
    let output = run(dir.path(), &["check-config"], &text);
    let out = all_output(&output);
    assert!(!output.status.success(), "{out}");
    assert_says(
        &out,
        &[
            &format!("directory {} does not exist", missing.display()),
            "placeholder sha256",
            &format!("upstream check at {upstream} failed"),
        ],
    );
    assert!(!out.contains("configuration OK"), "{out}");
}

#[tokio::test]
async fn check_config_passes_a_good_configuration_and_explains_a_relative_path() {
    let sim = support::start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config("sqlite://rel.db", REAL_HASH, &sim.base_url());
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || run(&dir, &["check-config"], &text)
    })
    .await
    .unwrap();
    let out = all_output(&output);
    assert!(output.status.success(), "{out}");
    assert_says(
        &out,
        &["relative to the working directory", "configuration OK"],
    );
    assert!(
        !dir.path().join("rel.db").exists(),
        "check-config created the database"
    );
}

#[test]
fn serve_says_the_directory_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("var-lib");
    let text = config(
        &format!("sqlite://{}/bridge.db", missing.display()),
        REAL_HASH,
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    let output = run(dir.path(), &["serve"], &text);
    let out = all_output(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!("directory {} does not exist", missing.display())),
        "{out}"
    );
}

#[test]
fn a_refused_postgres_is_named_not_a_pool_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let text = config(
        &format!("postgres://scim:hunter2@127.0.0.1:{port}/scim"),
        REAL_HASH,
        "http://127.0.0.1:1",
    )
    .replace("[database]\n", "[database]\nacquire_timeout_secs = 1\n");
    for command in ["check-config", "migrate"] {
        let output = run(dir.path(), &[command], &text);
        let out = all_output(&output);
        assert!(!output.status.success(), "{command}: {out}");
        assert!(
            out.contains(&format!("connection refused at 127.0.0.1:{port}")),
            "{command}: {out}"
        );
        assert!(!out.contains("pool timed out"), "{command}: {out}");
        assert!(!out.contains("hunter2"), "{command}: {out}");
    }
}

#[test]
fn health_fails_when_nothing_listens_and_passes_when_healthz_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let text = config("sqlite://x.db", REAL_HASH, "http://127.0.0.1:1")
        .replace("127.0.0.1:0", &format!("0.0.0.0:{port}"));
    let output = run(dir.path(), &["health"], &text);
    let out = all_output(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{out}"
    );

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .unwrap();
    });
    let output = run(dir.path(), &["health"], &text);
    assert!(output.status.success(), "{}", all_output(&output));
    server.join().unwrap();
}
