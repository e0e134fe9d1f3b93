//! Two bridge instances on one database (the harness's backend: a SQLite file, or a
//! PostgreSQL schema with `SCIM_BRIDGE_TEST_BACKEND=postgres`) allocating NetSapiens
//! extensions for many users at once: the simulator must end with every user at its
//! own extension, none lost, and both instances agree with it on every link.
//!
//! The two instances share nothing but the database and the upstream (each has its own
//! locks, worker and rate limiter), as two replicas behind a load balancer do.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use bandwidth_sim::Faults;
use common::database::TestDatabase;
use common::scim::send;
use common::target::{Held, TargetKind, Upstream};
use common::{config_toml, serve_bridge, user, Options, TOKEN};
use reqwest::{Method, StatusCode};
use tokio::task::JoinSet;

const USERS: usize = 40;
const EXTENSION: &str = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

/// Every SCIM user one instance lists: userName -> upstreamId.
async fn links(client: &reqwest::Client, base: &str) -> BTreeMap<String, String> {
    let url = format!("{base}/Users?count=1000");
    let (_, _, body) = send(client, Method::GET, &url, None, Some(TOKEN), &[]).await;
    body["Resources"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| {
            let name = u["userName"].as_str().unwrap_or_default().to_string();
            let upstream = u[EXTENSION]["upstreamId"].as_str().unwrap_or_default();
            (name, upstream.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_allocating_extensions_at_once_never_collide() {
    let sim = Upstream::start_netsapiens(Faults::default()).await;
    let upstream = Upstream::Netsapiens(sim.clone());
    let db = TestDatabase::from_env().await;
    let options = Options {
        target: TargetKind::Netsapiens,
        ..Options::default()
    };
    let config = config_toml(&options, &sim.base_url(), &db.url());
    // One after the other, so only the first migrates.
    let (a, _app_a) = serve_bridge(&config).await;
    let (b, _app_b) = serve_bridge(&config).await;

    let client = reqwest::Client::new();
    let mut creates = JoinSet::new();
    for i in 0..USERS {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        let client = client.clone();
        creates.spawn(async move {
            let name = format!("u{i:02}@acme.test");
            let url = format!("{base}/Users");
            let (status, _, body) = send(
                &client,
                Method::POST,
                &url,
                Some(user(&name)),
                Some(TOKEN),
                &[],
            )
            .await;
            (name, status, body)
        });
    }
    while let Some(done) = creates.join_next().await {
        let (name, status, body) = done.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    }

    let held: Vec<Held> = upstream.users();
    assert_eq!(held.len(), USERS, "none lost, none doubled: {held:#?}");
    let extensions: BTreeSet<&str> = held.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(extensions.len(), USERS, "an extension given twice");
    let range = common::target::NS_RANGE;
    assert!(
        extensions.iter().all(|e| e
            .parse::<u32>()
            .is_ok_and(|n| (range.0..=range.1).contains(&n))),
        "{extensions:?}"
    );
    let want: BTreeMap<String, String> = held
        .iter()
        .map(|u| (u.username.clone(), u.user_id.clone()))
        .collect();
    for base in [&a, &b] {
        assert_eq!(
            links(&client, base).await,
            want,
            "SCIM and NetSapiens disagree ({base})"
        );
    }
}
