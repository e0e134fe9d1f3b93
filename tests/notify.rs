//! Notifications to a local receiver: one signed message per event (however many
//! times it happens within the window), delivered once the receiver is back after
//! being down, and provisioning no slower while it is down.
mod common;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bandwidth_sim::Faults;
use common::faults::faults;
use common::{user, Harness, Options};
use reqwest::{Method, StatusCode};
use scim_bridge::admin::Admin;
use serde_json::Value;

const SECRET: &str = "notify-hmac-secret-81f2";

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, String)>>>);

impl Received {
    fn bodies(&self) -> Vec<(HeaderMap, Value)> {
        let got = self.0.lock().unwrap();
        got.iter()
            .map(|(h, b)| (h.clone(), serde_json::from_str(b).unwrap()))
            .collect()
    }

    /// Waits (up to 20 s) until `count` messages came, then `quiet` longer (so that any
    /// extra one would be here too); returns every message.
    async fn settled(&self, what: &str, count: usize, quiet: Duration) -> Vec<(HeaderMap, Value)> {
        wait_for(what, 20, || self.bodies().len() >= count).await;
        tokio::time::sleep(quiet).await;
        self.bodies()
    }
}

/// A port nothing listens on yet: the receiver is "down" until [`receive_on`].
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn receive_on(port: u16) -> Received {
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.0.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    received
}

fn sink_toml(kind: &str, port: u16, events: &[&str], tenants: &[&str], extra: &str) -> String {
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\n[[notify]]\nname = \"ops-{kind}\"\nkind = \"{kind}\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\nevents = [{}]\ntenants = [{}]\nretry_max_secs = 1\n{extra}",
        list(events),
        list(tenants)
    )
}

async fn wait_for(what: &str, secs: u64, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verify(headers: &HeaderMap, body: &Value) {
    let timestamp = headers["x-scim-bridge-timestamp"].to_str().unwrap();
    let signature = headers["x-scim-bridge-signature"].to_str().unwrap();
    let expected =
        scim_bridge::notify::signature(SECRET.as_bytes(), timestamp, body.to_string().as_bytes());
    assert_eq!(signature, expected, "signed with the shared secret");
}

async fn create_many(h: &Harness, prefix: &str, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        h.create_ok(user(&format!("{prefix}{i}@x.com"))).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signed_message_per_event_delivered_after_the_receiver_comes_back() {
    let port = free_port();
    let events = [
        "job_failed",
        "breaker_opened",
        "breaker_closed",
        "deprovision_guard_tripped",
    ];
    let extra = format!(
        "[tenants.acme.deprovision_guard]\nmax = 1\n[worker]\nmax_attempts = 2\n{}",
        sink_toml("webhook", port, &events, &["acme"], "")
    );
    let h = Harness::with(|o| o.extra_toml = extra).await;

    // The receiver is down. Provisioning speed with events queueing and the sink
    // refusing connections:
    let down = create_many(&h, "down", 20).await;

    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for name in ["a@x.com", "b@x.com", "c@x.com"] {
            ids.push(h.create_ok(user(name)).await);
        }
        ids
    };
    // The guard trips once, however many deprovisions it then holds.
    for id in &ids {
        support::set_active(&h, id, false).await;
    }
    // Three role syncs fail for good while Bandwidth answers 503, and the breaker opens.
    let active: Vec<String> = {
        let mut v = Vec::new();
        for name in ["p@x.com", "q@x.com", "r@x.com"] {
            v.push(h.create_ok(user(name)).await);
        }
        v
    };
    h.sim.set_faults(faults(|f| f.fail_rate = 1.0));
    let group = support::group("Bandwidth Admins", &active);
    let (status, _, body) = h.call(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.failed_jobs("three jobs fail for good", |failed| failed.len() == 3)
        .await;
    let store = h.store.clone();
    // Bandwidth recovers; retried jobs close the breaker.
    h.sim.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.app
        .admin
        .retry_jobs(&Admin::cli(), Some("acme"), None)
        .await
        .unwrap();
    h.eventually("the retried syncs give p, q and r the admin role", |s| {
        ["p@x.com", "q@x.com", "r@x.com"]
            .iter()
            .all(|u| Harness::roles_of(s, u).contains(&"User Administrator".to_string()))
    })
    .await;

    // Nothing was lost while the receiver was down: all of it is queued.
    let queued = store.list_notifications(100).await.unwrap();
    let mut kinds: Vec<&str> = queued.iter().map(|n| n.request.event.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "breaker_closed",
            "breaker_opened",
            "deprovision_guard_tripped",
            "job_failed"
        ],
        "one per event: {queued:#?}"
    );
    assert!(queued.iter().all(|n| n.delivered().is_none()));

    let received = receive_on(port).await;
    let up = create_many(&h, "up", 20).await;
    let got = received
        .settled("four messages arrive", 4, Duration::from_secs(2))
        .await;
    assert_eq!(got.len(), 4, "exactly one message per event: {got:#?}");
    for (headers, body) in &got {
        verify(headers, body);
        assert_eq!(body["tenant"], "acme");
        assert!(body["text"]
            .as_str()
            .unwrap()
            .starts_with("[scim-bridge] acme: "));
    }
    let failed = got
        .iter()
        .find(|(_, b)| b["event"] == "job_failed")
        .unwrap();
    let error = failed.1["detail"]["error"].as_str().unwrap();
    assert!(error.contains("upstream unavailable"), "{error}");
    let delivered = store.list_notifications(100).await.unwrap();
    assert!(delivered
        .iter()
        .all(|n| n.delivered().is_some() && n.retry.attempts >= 2));
    eprintln!(
        "20 creates with the sink down: {} ms; with it up: {} ms",
        down.as_millis(),
        up.as_millis()
    );
    assert!(
        down < up * 3 + Duration::from_secs(1),
        "a sink that is down does not slow provisioning: {down:?} vs {up:?}"
    );
}

#[tokio::test]
async fn a_quiet_idp_is_reported_once_to_a_slack_webhook() {
    let port = free_port();
    let received = receive_on(port).await;
    let sink = sink_toml(
        "slack",
        port,
        &["idp_traffic_stopped"],
        &["globex"],
        "idp_silence_secs = 2\n",
    );
    let h = Harness::start(Options {
        extra_toml: sink,
        second_tenant: true,
        ..Options::default()
    })
    .await;
    let got = received
        .settled("the quiet IdP is reported", 1, Duration::from_secs(4))
        .await;
    assert_eq!(got.len(), 1, "once, not every check: {got:#?}");
    let text = got[0].1["text"].as_str().unwrap();
    assert!(
        text.starts_with("[scim-bridge] globex: no request from the IdP"),
        "{text}"
    );
    assert_eq!(
        got[0].1.as_object().unwrap().len(),
        1,
        "Slack gets only text"
    );
    assert!(got[0].0.get("x-scim-bridge-signature").is_none());
    drop(h);
}

#[tokio::test]
async fn refused_upstream_credentials_are_reported_once() {
    let sim = support::start_sim().await;
    let defaults = bandwidth_sim::SimConfig::default();
    let account = defaults.accounts[0].0.clone();
    let port = free_port();
    let received = receive_on(port).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[tenants.initech.target]\nkind = \"bandwidth\"\ndialect = \"v1\"\nbase_url = \"{}\"\naccount_id = \"{account}\"\nclient_id = \"{}\"\nclient_secret = \"not-the-secret\"\n{}",
        dir.path().join("n.db").display(),
        sim.base_url(),
        defaults.client_id,
        sink_toml("webhook", port, &["credential_rejected"], &["initech"], "")
    );
    let config = scim_bridge::config::Config::from_toml_str(&text).unwrap();
    let store = scim_bridge::store::open(&config.database.url, 2)
        .await
        .unwrap();
    let tenants = [("initech".to_string(), account.clone())];
    let tasks = scim_bridge::notify::start(store.clone(), &config.notify, &tenants)
        .unwrap()
        .expect("a sink is configured");
    let tenant = scim_bridge::app::build_tenant("initech", &config.tenants["initech"]).unwrap();
    for _ in 0..5 {
        let refused = tenant.target.ping().await;
        assert!(refused.is_err(), "a wrong client secret is refused");
    }
    let got = received
        .settled("the refusal is reported", 1, Duration::from_secs(1))
        .await;
    assert_eq!(got.len(), 1, "five refusals, one message: {got:#?}");
    verify(&got[0].0, &got[0].1);
    assert_eq!(got[0].1["event"], "credential_rejected");
    assert_eq!(got[0].1["tenant"], "initech");
    assert!(!got[0].1.to_string().contains("not-the-secret"));
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn drift_found_by_the_periodic_reconcile_is_one_message() {
    let port = free_port();
    let received = receive_on(port).await;
    let h = Harness::with(|o| {
        o.extra_toml = sink_toml("webhook", port, &["drift_found"], &["acme"], "")
    })
    .await;
    h.create_ok(user("drifted@x.com")).await;
    let upstream_id = h.upstream("drifted@x.com").unwrap().user_id;
    h.sim.edit_user(
        &upstream_id,
        bandwidth_sim::UserEdit {
            first_name: Some("Edited".into()),
            ..Default::default()
        },
    );
    // The tenant as `serve` builds it with a one-second interval, reporting only: the
    // drift stays, and each run finds it again.
    let text = h.config_text.replace(
        "dry_run = false",
        "dry_run = false\nreconcile_interval_secs = 1",
    );
    let config = scim_bridge::config::Config::from_toml_str(&text).unwrap();
    let tenant = scim_bridge::provision::Tenant::new(
        "acme",
        &config.tenants["acme"],
        h.app.tenants[0].target.clone(),
    );
    let task = scim_bridge::provision::reconcile::spawn_periodic(
        h.app.provisioner.clone(),
        Arc::new(tenant),
    )
    .expect("an interval is configured");
    wait_for("the drift is reported", 20, || {
        !received.bodies().is_empty()
    })
    .await;
    // Two more runs find the same drift; the window keeps it one message.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    task.abort();
    let got = received.bodies();
    assert_eq!(got.len(), 1, "{got:#?}");
    verify(&got[0].0, &got[0].1);
    assert_eq!(got[0].1["event"], "drift_found");
    assert!(
        got[0].1["text"]
            .as_str()
            .unwrap()
            .contains("1 difference(s)"),
        "{}",
        got[0].1
    );
}
