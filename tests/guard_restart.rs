//! The mass-deprovision guard through the real binary: its count survives a restart
//! (SIGKILL), and `scim-bridge jobs list` / `jobs approve` are the commands an admin
//! runs to see and release what it held.
mod common;
mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use common::process::{cli_ok, free_port};

/// Runs `scim-bridge jobs ARGS --config FILE`; returns its standard output.
async fn jobs(config: &std::path::Path, args: &[&str]) -> String {
    cli_ok(&[&["jobs"], args].concat(), config).await
}

#[tokio::test]
async fn the_guard_survives_a_restart_and_the_cli_releases_what_it_held() {
    let sim = support::start_sim().await;
    let db = common::database::TestDatabase::from_env().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let options = common::Options {
        extra_toml: "[tenants.acme.deprovision_guard]\nmax = 1\nwindow_secs = 3600\n".into(),
        ..common::Options::default()
    };
    let toml = common::config_toml(&options, &sim.base_url(), &db.url());
    let (config, base) = support::write_config(dir.path(), port, "poll_interval_ms = 100\n", &toml);
    let client = reqwest::Client::new();
    let scim = |path: &str| format!("{base}/scim/v2{path}");

    let bridge = support::start_bridge(&config, &base, &client).await;
    let emails = ["a@x.com", "b@x.com", "c@x.com"].map(String::from);
    let ids = support::create_users(&client, &scim("/Users"), emails).await;
    let delete = |id: &str| {
        client
            .delete(scim(&format!("/Users/{id}")))
            .bearer_auth(common::TOKEN)
            .send()
    };
    assert_eq!(
        delete(&ids[0]).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let upstream = |name: &str| sim.snapshot().users.iter().any(|u| u.username == name);
    assert!(!upstream("a@x.com"), "the first delete is within the limit");
    drop(bridge); // SIGKILL

    // A fresh process still knows the window is full.
    let _bridge = support::start_bridge(&config, &base, &client).await;
    for id in &ids[1..] {
        assert_eq!(delete(id).await.unwrap().status(), StatusCode::NO_CONTENT);
    }
    assert!(
        upstream("b@x.com") && upstream("c@x.com"),
        "held after the restart"
    );

    let listed = jobs(&config, &["list", "--tenant", "acme"]).await;
    assert_eq!(listed.matches(" held ").count(), 2, "{listed}");
    assert!(listed.contains("jobs approve"), "{listed}");

    let only_held = jobs(&config, &["list", "--state", "held"]).await;
    assert_eq!(only_held.matches(" held ").count(), 2, "{only_held}");
    assert!(
        !only_held.contains("job(s)"),
        "no sync jobs in this view: {only_held}"
    );

    let approved = jobs(&config, &["approve", "--tenant", "acme"]).await;
    assert!(approved.contains("released 2"), "{approved}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while upstream("b@x.com") || upstream("c@x.com") {
        assert!(
            Instant::now() < deadline,
            "the approved deletes did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = jobs(&config, &["list", "--tenant", "acme"]).await;
    assert!(!listed.contains(" held "), "{listed}");
}
