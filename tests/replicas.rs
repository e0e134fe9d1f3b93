//! Two bridge processes on one PostgreSQL schema and one simulator, driven in parallel
//! as Entra drives a load-balanced deployment: the same users and groups through both,
//! 20 creates racing on one userName, membership changes racing on one group and
//! PATCHes racing on one user (while the worker syncs that user's roles). Afterwards
//! both replicas must serve the same state, the simulator must hold exactly one user
//! per SCIM user with the roles its groups grant, and no job may be left.
//!
//! Skipped (with a note) when `SCIM_BRIDGE_TEST_POSTGRES_URL` is unset; a set but
//! unreachable server fails it. A second case races two bridges on one SQLite file,
//! where only the version check and the re-run stand between them.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bandwidth_sim::{SimConfig, SimSnapshot};
use common::database::{PgSchema, POSTGRES_URL_VAR};
use common::process::{cli, cli_ok, free_port};
use common::scim::{one_op, op_at, patch_body, send};
use common::{start_sim, TOKEN};
use reqwest::{Method, StatusCode};
use scim_bridge::store::{self, OpenOptions, QueueFilter};
use serde_json::{json, Value};
use tokio::task::JoinSet;

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");
const EXTENSION: &str = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

/// One `scim-bridge serve` process, killed when dropped (also when the test panics).
struct Replica {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    async fn start(config: &Path, log: PathBuf, base: String) -> Replica {
        let child = Command::new(BIN)
            .args(["serve", "--no-migrate", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut replica = Replica { child, base, log };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", replica.base)).send().await {
                if r.status().is_success() {
                    return replica;
                }
            }
            if let Ok(Some(status)) = replica.child.try_wait() {
                panic!("replica exited ({status}): {}", replica.stderr());
            }
            assert!(Instant::now() < deadline, "replica did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One SCIM call with the tenant's token: status and JSON body (`Null` when empty).
async fn scim(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("{base}/scim/v2{path}");
    let (status, _, body) = send(client, method, &url, body, Some(TOKEN), &[]).await;
    (status, body)
}

/// A GET of `path` through the replica at `base`.
async fn get(client: &reqwest::Client, base: &str, path: &str) -> (StatusCode, Value) {
    scim(client, base, Method::GET, path, None).await
}

/// Runs `calls` at once, call `i` through replica `i % 2`; the answers in call order.
async fn in_parallel(
    bases: &[String; 2],
    calls: Vec<(Method, String, Option<Value>)>,
) -> Vec<(StatusCode, Value)> {
    let client = reqwest::Client::new();
    let mut set = JoinSet::new();
    for (i, (method, path, body)) in calls.into_iter().enumerate() {
        let (client, base) = (client.clone(), bases[i % 2].clone());
        set.spawn(async move { (i, scim(&client, &base, method, &path, body).await) });
    }
    let mut answers: Vec<(usize, (StatusCode, Value))> = Vec::new();
    while let Some(done) = set.join_next().await {
        answers.push(done.unwrap());
    }
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// Every user as one replica lists them, by id, without `meta` (timestamps render
/// identically, but the comparison should not depend on it).
async fn all_users(client: &reqwest::Client, base: &str) -> BTreeMap<String, Value> {
    let (status, body) = get(client, base, "/Users?count=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u.clone()))
        .collect()
}

async fn group_members(client: &reqwest::Client, base: &str, id: &str) -> BTreeSet<String> {
    let (status, body) = get(client, base, &format!("/Groups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Ten attributes of one user, each replaced by its own PATCH.
const ATTRIBUTES: [(&str, &str); 10] = [
    ("title", "Engineer"),
    ("nickName", "Amazing Grace"),
    ("displayName", "Grace Hopper"),
    ("userType", "Employee"),
    ("preferredLanguage", "en-US"),
    ("locale", "en-US"),
    ("timezone", "America/New_York"),
    ("profileUrl", "https://example.com/grace"),
    ("name.givenName", "Grace"),
    ("name.familyName", "Hopper"),
];

fn independent_patches(user_path: &str) -> Vec<(Method, String, Option<Value>)> {
    ATTRIBUTES
        .iter()
        .map(|(path, value)| {
            let body = patch_body(one_op("replace", path, json!(value)));
            (Method::PATCH, user_path.to_string(), Some(body))
        })
        .collect()
}

async fn assert_every_patch_landed(client: &reqwest::Client, base: &str, user_path: &str) {
    let (_, user) = get(client, base, user_path).await;
    for (path, value) in ATTRIBUTES {
        let got = match path.split_once('.') {
            Some((outer, inner)) => &user[outer][inner],
            None => &user[path],
        };
        assert_eq!(got, value, "{path} in {user}");
    }
}

/// Two bridges in one process on one SQLite file. SQLite takes no shared lock (it is
/// one process's store), so their writes to one user race on the row version: the
/// loser must re-read and re-apply its PATCH, and re-send the user upstream, rather
/// than fail or lose the winner's change. Runs without PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_version_race_reruns_the_patch() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = common::sqlite_url(dir.path());
    let text = common::config_toml(&common::Options::default(), &sim.base_url(), &db_url);
    let config = scim_bridge::config::Config::from_toml_str(&text).unwrap();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let state = scim_bridge::app::build(&config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, scim_bridge::http::router(state)).await;
        });
    }
    let bases = [bases[0].clone(), bases[1].clone()];
    let client = reqwest::Client::new();
    let (status, user) = scim(
        &client,
        &bases[0],
        Method::POST,
        "/Users",
        Some(common::user("grace@x.com")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_path = format!("/Users/{}", user["id"].as_str().unwrap());
    for (status, body) in in_parallel(&bases, independent_patches(&user_path)).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for base in &bases {
        assert_every_patch_landed(&client, base, &user_path).await;
    }
    let (_, user) = get(&client, &bases[1], &user_path).await;
    assert_eq!(
        user["meta"]["version"], "W/\"11\"",
        "one version per PATCH: {user}"
    );
    common::assert_one_user_named(&sim.snapshot(), ("Grace", "Hopper"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_postgres() {
    let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped replicas: {POSTGRES_URL_VAR} is not set"
        );
        return;
    };
    let schema = PgSchema::create(&server_url, "replicas").await;
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = common::config_toml(&common::Options::default(), &sim.base_url(), &schema.url);
    let mut configs = Vec::new();
    let mut bases = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[worker]\npoll_interval_ms = 100\n\
             backoff_base_ms = 100\nbackoff_max_secs = 2\nlease_secs = 10\n{tenant}"
        );
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        configs.push(path);
        bases.push(format!("http://127.0.0.1:{port}"));
    }

    // Replicas that must not migrate refuse an unmigrated schema, naming the command.
    let refused = cli(&["serve", "--no-migrate"], &configs[0]).await;
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "served on an unmigrated schema");
    assert!(said.contains("scim-bridge migrate"), "{said}");
    // Migrate once, as a deployment does before starting the replicas.
    cli_ok(&["migrate"], &configs[0]).await;

    let a = Replica::start(&configs[0], dir.path().join("a.log"), bases[0].clone()).await;
    let b = Replica::start(&configs[1], dir.path().join("b.log"), bases[1].clone()).await;
    let bases = [a.base.clone(), b.base.clone()];
    let client = reqwest::Client::new();

    // Ten users created through both replicas at once; each reads the same from both.
    let names: Vec<String> = (0..10).map(|i| format!("u{i}@x.com")).collect();
    let created = in_parallel(
        &bases,
        names
            .iter()
            .map(|n| (Method::POST, "/Users".to_string(), Some(common::user(n))))
            .collect(),
    )
    .await;
    let mut ids = Vec::new();
    for (status, body) in &created {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let (_, via_a) = get(&client, &bases[0], &format!("/Users/{id}")).await;
        let (_, via_b) = get(&client, &bases[1], &format!("/Users/{id}")).await;
        assert_eq!(via_a, via_b);
    }

    // Twenty creates of one userName, split across the replicas: one 201, nineteen 409,
    // one upstream user.
    let raced = in_parallel(
        &bases,
        (0..20)
            .map(|_| {
                let body = common::user("race@x.com");
                (Method::POST, "/Users".to_string(), Some(body))
            })
            .collect(),
    )
    .await;
    let winners: Vec<&Value> = raced
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{raced:?}");
    for (status, body) in raced.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        common::assert_scim_error(body, 409, Some("uniqueness"));
    }
    let race_id = winners[0]["id"].as_str().unwrap().to_string();
    let upstream_races = |s: &SimSnapshot| {
        s.users
            .iter()
            .filter(|u| u.username.eq_ignore_ascii_case("race@x.com"))
            .count()
    };
    assert_eq!(upstream_races(&sim.snapshot()), 1);
    for base in &bases {
        let filter = common::urlencode("userName eq \"RACE@x.com\"");
        let (_, found) = get(&client, base, &format!("/Users?filter={filter}")).await;
        assert_eq!(found["totalResults"], 1, "{found}");
        assert_eq!(found["Resources"][0]["id"], race_id.as_str());
    }

    // A group that grants Porting; then, at the same time, membership changes on it
    // through both replicas and PATCHes of independent attributes of u0 (whom the
    // membership changes add and remove, so role syncs of u0 race the PATCHes).
    let (status, group) = scim(
        &client,
        &bases[0],
        Method::POST,
        "/Groups",
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "bandwidth-role-Porting"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    let group_path = format!("/Groups/{group_id}");
    let adds: Vec<_> = ids
        .iter()
        .map(|id| {
            let body = patch_body(one_op("add", "members", json!([{"value": id}])));
            (Method::PATCH, group_path.clone(), Some(body))
        })
        .collect();
    let user_path = format!("/Users/{}", ids[0]);
    let patches = independent_patches(&user_path);
    let (added, patched) = tokio::join!(in_parallel(&bases, adds), in_parallel(&bases, patches));
    for (status, body) in added.iter().chain(patched.iter()) {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    // Then remove three (u0 among them) and add the race winner, again racing.
    let mut changes: Vec<_> = ids[..3]
        .iter()
        .map(|id| {
            let path = format!("members[value eq \"{id}\"]");
            let body = patch_body(op_at("remove", &path));
            (Method::PATCH, group_path.clone(), Some(body))
        })
        .collect();
    changes.push((
        Method::PATCH,
        group_path.clone(),
        Some(patch_body(one_op(
            "add",
            "members",
            json!([{"value": race_id}]),
        ))),
    ));
    for (status, body) in in_parallel(&bases, changes).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let expected_members: BTreeSet<String> =
        ids[3..].iter().cloned().chain([race_id.clone()]).collect();
    for base in &bases {
        assert_eq!(
            group_members(&client, base, &group_id).await,
            expected_members
        );
    }
    // No PATCH of u0 was lost: every attribute is there, through both replicas.
    for base in &bases {
        assert_every_patch_landed(&client, base, &user_path).await;
    }

    // The worker drains every job (either replica may take each).
    let store = store::open_with(
        &schema.url,
        &OpenOptions {
            migrate: false,
            ..OpenOptions::new(2)
        },
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = store.list_jobs(QueueFilter::all(1000)).await.unwrap();
        if jobs.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "jobs left: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both replicas serve the same users; upstream has exactly one user per SCIM user,
    // linked by id, with the names the PATCHes set and the roles the groups grant.
    let users = all_users(&client, &bases[0]).await;
    assert_eq!(users, all_users(&client, &bases[1]).await);
    assert_eq!(users.len(), 11);
    let state = sim.snapshot();
    assert_eq!(state.users.len(), users.len(), "{state:#?}");
    for (id, user) in &users {
        let username = user["userName"].as_str().unwrap();
        let upstream: Vec<_> = state
            .users
            .iter()
            .filter(|u| u.username.eq_ignore_ascii_case(username))
            .collect();
        assert_eq!(upstream.len(), 1, "{username}: {state:#?}");
        let upstream = upstream[0];
        let ext = &user[EXTENSION];
        assert_eq!(ext["upstreamId"], upstream.user_id.as_str(), "{user}");
        assert_eq!(ext["syncState"], "synced", "{user}");
        let mut expected = vec!["basicAccess".to_string()];
        if expected_members.contains(id) {
            expected.push("Porting".into());
        }
        expected.sort();
        assert_eq!(upstream.roles, expected, "{username}");
        assert_eq!(ext["roles"], json!(expected), "{user}");
        assert_eq!(
            upstream.first_name,
            user["name"]["givenName"].as_str().unwrap()
        );
        assert_eq!(
            upstream.last_name,
            user["name"]["familyName"].as_str().unwrap()
        );
    }
    assert_eq!(
        state
            .users
            .iter()
            .find(|u| u.username == "u0@x.com")
            .unwrap()
            .first_name,
        "Grace"
    );

    for replica in [&a, &b] {
        let log = replica.stderr();
        assert!(!log.contains("panicked"), "{log}");
    }
    drop((a, b));
    drop(store);
}

/// Without migrating, a store refuses a database that lacks this build's migrations
/// (naming the command that applies them) and opens one that has them.
#[tokio::test]
async fn opening_without_migrating_needs_a_migrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let check_only = OpenOptions {
        migrate: false,
        ..OpenOptions::new(1)
    };
    let refused = store::open_with(&url, &check_only).await.err().unwrap();
    assert!(
        refused.to_string().contains("scim-bridge migrate"),
        "{refused}"
    );
    store::open(&url, 1).await.unwrap();
    let store = store::open_with(&url, &check_only).await.unwrap();
    store.ping().await.unwrap();
}
