//! Test harness: the real bridge and the real simulator, each on a loopback port, with
//! SQLite in a temporary directory. Tests talk HTTP to both.
//!
//! `SCIM_BRIDGE_TEST_BACKEND=postgres` runs the same tests on PostgreSQL: each harness
//! gets a fresh schema of the server `SCIM_BRIDGE_TEST_POSTGRES_URL` names (dropped
//! when the harness drops), reached through the configuration's database URL exactly
//! as a deployment would (`?options=-c search_path=...`).
#![allow(dead_code)]

pub mod capture;
pub mod console;
pub mod database;
pub mod faults;
pub mod idp;
pub mod process;
pub mod scim;
pub mod seed;
pub mod target;
pub mod webdriver;

use bandwidth_sim::{Dialect, SimConfig, SimHandle, SimSnapshot, Simulator, SnapshotUser};
use database::TestDatabase;
use reqwest::{Method, StatusCode};
use scim::patch_body;
use serde_json::{json, Value};
use target::{Held, TargetKind, Upstream};

pub const TOKEN: &str = "test-token-acme";
/// The second tenant's token (see [`Options::second_tenant`]).
pub const TOKEN_B: &str = "test-token-globex";
/// The second tenant's upstream account and client credentials, all different from acme's.
pub const ACCOUNT_B: &str = "7700000";
pub const CLIENT_B: (&str, &str) = ("globex-client", "globex-secret-7f3a");

/// Tenant knobs the tests turn.
#[derive(Clone)]
pub struct Options {
    pub dialect: Dialect,
    pub on_deactivate: &'static str,
    pub on_delete: &'static str,
    pub on_username_change: &'static str,
    pub adopt_existing: bool,
    pub dry_run: bool,
    pub sim: SimConfig,
    /// The upstream circuit breaker's cool-down: short, so a test that makes the
    /// upstream fail and then recover does not wait out the production default.
    pub breaker_cooldown_secs: u64,
    /// How long the bridge waits for one upstream call: short, so a test of an upstream
    /// that hangs does not wait out the production default.
    pub upstream_timeout_secs: u64,
    /// TOML appended to the configuration (`[server]` keys, `[tenants.acme.limits]`,
    /// `[[tenants.acme.basic]]`, ...); `{sim_url}` in it becomes the simulator's URL.
    pub extra_toml: String,
    /// A second tenant, `globex`, with its own token, simulator, account and credentials.
    pub second_tenant: bool,
    /// The system `acme` provisions into; `sim`'s faults apply to either.
    pub target: TargetKind,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dialect: Dialect::V1,
            on_deactivate: "deactivate",
            on_delete: "delete",
            on_username_change: "keep_upstream",
            adopt_existing: false,
            dry_run: false,
            sim: SimConfig::default(),
            breaker_cooldown_secs: 1,
            upstream_timeout_secs: 3,
            extra_toml: String::new(),
            second_tenant: false,
            target: TargetKind::Bandwidth,
        }
    }
}

pub struct Harness {
    pub base: String,
    pub store: std::sync::Arc<dyn scim_bridge::store::Store>,
    pub sim: SimHandle,
    pub client: reqwest::Client,
    /// The running bridge's state (provisioner, tenants), for domain calls.
    pub app: scim_bridge::http::AppState,
    /// The configuration the bridge runs with, as TOML (for the CLI).
    pub config_text: String,
    /// The second tenant's simulator, when [`Options::second_tenant`].
    pub sim_b: Option<SimHandle>,
    /// The simulator `acme` provisions into: `sim` for Bandwidth, or NetSapiens'
    /// (then `sim` is started but the bridge never calls it).
    pub upstream: Upstream,
    _db: TestDatabase,
}

/// A Bandwidth simulator on a free loopback port.
pub async fn start_sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

/// A SQLite database file inside `dir`.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("bridge.db").display())
}

pub fn config_toml(o: &Options, sim_url: &str, db_url: &str) -> String {
    let hash = hex::encode(scim_bridge::http::auth::sha256(TOKEN));
    let account = o
        .sim
        .accounts
        .first()
        .map(|a| a.0.clone())
        .unwrap_or_default();
    let upstream = match o.dialect {
        Dialect::V1 => format!(
            "dialect = \"v1\"\nbase_url = \"{sim_url}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"",
            o.sim.client_id, o.sim.client_secret
        ),
        Dialect::Dashboard => format!(
            "dialect = \"dashboard\"\nbase_url = \"{sim_url}/api\"\nusername = \"{}\"\npassword = \"{}\"",
            o.sim.basic_user, o.sim.basic_password
        ),
    };
    let bandwidth = format!(
        r#"
[tenants.acme.groups]
role_prefix = "bandwidth-role-"

[[tenants.acme.groups.map]]
display_name = "Bandwidth Admins"
account_scope = "ACCOUNT_ADMIN"
roles = ["User Administrator"]

[[tenants.acme.groups.map]]
external_id = "okta-billing"
roles = ["Billing Reports"]
accounts = ["9900001"]

[tenants.acme.target]
kind = "bandwidth"
{upstream}
account_id = "{account}"
"#
    );
    let base_roles = match o.target {
        TargetKind::Bandwidth => r#"["basicAccess"]"#,
        TargetKind::Netsapiens => "[]",
    };
    format!(
        r#"
[database]
url = "{db_url}"

[tenants.acme]
tokens = [{{ id = "acme-okta", sha256 = "{hash}" }}]
base_roles = {base_roles}
dry_run = {}
extensions = ["urn:example:custom"]

[tenants.acme.policy]
on_deactivate = "{}"
on_delete = "{}"
on_username_change = "{}"
adopt_existing = {}
{}
rate_limit_per_second = 200
request_timeout_secs = {}
max_retries = 2
breaker_cooldown_secs = {}
{}
"#,
        o.dry_run,
        o.on_deactivate,
        o.on_delete,
        o.on_username_change,
        o.adopt_existing,
        o.target.tenant_toml(&bandwidth, sim_url),
        o.upstream_timeout_secs,
        o.breaker_cooldown_secs,
        o.extra_toml.replace("{sim_url}", sim_url)
    )
}

fn second_sim_config() -> SimConfig {
    SimConfig {
        client_id: CLIENT_B.0.into(),
        client_secret: CLIENT_B.1.into(),
        accounts: vec![(ACCOUNT_B.into(), "Globex".into())],
        ..SimConfig::default()
    }
}

fn second_tenant_toml(sim_url: &str) -> String {
    let hash = hex::encode(scim_bridge::http::auth::sha256(TOKEN_B));
    format!(
        r#"
[tenants.globex]
tokens = [{{ id = "globex-okta", sha256 = "{hash}" }}]

[tenants.globex.target]
kind = "bandwidth"
dialect = "v1"
base_url = "{sim_url}"
client_id = "{}"
client_secret = "{}"
account_id = "{ACCOUNT_B}"
rate_limit_per_second = 200
request_timeout_secs = 3
max_retries = 2
"#,
        CLIENT_B.0, CLIENT_B.1
    )
}

/// Builds the bridge from `config_text`, starts its worker (polling quickly) and serves
/// it on a loopback port; returns the SCIM base URL and the running state.
pub async fn serve_bridge(config_text: &str) -> (String, scim_bridge::http::AppState) {
    let config = scim_bridge::config::Config::from_toml_str(config_text).unwrap();
    let state = scim_bridge::app::build(&config).await.unwrap();
    let worker = scim_bridge::config::WorkerConfig {
        poll_interval_ms: 50,
        backoff_base_ms: 50,
        backoff_max_secs: 1,
        ..config.worker.clone()
    };
    // The worker runs as long as the test's runtime does.
    let _worker = scim_bridge::app::start_worker(&state, &worker);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = state.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, scim_bridge::http::router(state)).await;
    });
    (format!("http://{addr}/scim/v2"), app)
}

impl Harness {
    pub async fn start(options: Options) -> Harness {
        let mut sim_config = options.sim.clone();
        sim_config.dialect = options.dialect;
        let faults = sim_config.faults.clone();
        let sim = start_sim(sim_config).await;
        let upstream = match options.target {
            TargetKind::Bandwidth => Upstream::Bandwidth(sim.clone()),
            TargetKind::Netsapiens => {
                Upstream::Netsapiens(Upstream::start_netsapiens(faults).await)
            }
        };
        let db = TestDatabase::from_env().await;
        let db_url = db.url();
        let mut config_text = config_toml(&options, &upstream.base_url(), &db_url);
        let sim_b = if options.second_tenant {
            let sim_b = start_sim(second_sim_config()).await;
            config_text.push_str(&second_tenant_toml(&sim_b.base_url()));
            Some(sim_b)
        } else {
            None
        };
        let (base, app) = serve_bridge(&config_text).await;
        let store = app.provisioner.store.clone();
        Harness {
            base,
            store,
            sim,
            client: reqwest::Client::new(),
            app,
            config_text,
            sim_b,
            upstream,
            _db: db,
        }
    }

    /// A harness with the default options but for what `set` changes.
    pub async fn with(set: impl FnOnce(&mut Options)) -> Harness {
        let mut options = Options::default();
        set(&mut options);
        Self::start(options).await
    }

    /// A harness provisioning into `target`, with the default options but for what
    /// `set` changes.
    pub async fn on_with(target: TargetKind, set: impl FnOnce(&mut Options)) -> Harness {
        Self::with(|o| {
            o.target = target;
            set(o);
        })
        .await
    }

    /// A harness provisioning into `target`, with the default options.
    pub async fn on(target: TargetKind) -> Harness {
        Self::start(Options {
            target,
            ..Options::default()
        })
        .await
    }

    pub fn kind(&self) -> TargetKind {
        self.upstream.kind()
    }

    /// The user the target holds under this username, in target-neutral terms.
    pub fn held(&self, username: &str) -> Option<Held> {
        self.upstream.user(username)
    }

    /// Every user the target holds.
    pub fn held_users(&self) -> Vec<Held> {
        self.upstream.users()
    }

    /// Waits until `check` holds for what the target holds (the worker is
    /// asynchronous), failing the test after 20 s with the last state.
    pub async fn eventually_held(&self, what: &str, check: impl Fn(&[Held]) -> bool) {
        wait_for(what, || self.held_users(), |users| check(users)).await
    }

    /// The bridge's root (`/healthz`, `/metrics` live there).
    pub fn root(&self) -> String {
        self.base.trim_end_matches("/scim/v2").to_string()
    }

    pub async fn default() -> Harness {
        Self::start(Options::default()).await
    }

    /// Sends a SCIM request with the tenant's token; returns status, headers and JSON body
    /// (`Null` when the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call_with(method, path, body, Some(TOKEN), &[]).await
    }

    /// [`Harness::call`] with extra request headers.
    pub async fn call_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call_with(method, path, body, Some(TOKEN), headers)
            .await
    }

    /// A GET of `path` with extra request headers.
    pub async fn get_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call_headers(Method::GET, path, None, headers).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{path}", self.base);
        scim::send(&self.client, method, &url, body, token, headers).await
    }

    pub async fn create(&self, user: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::POST, "/Users", Some(user)).await;
        (status, body)
    }

    /// Creates a user that must succeed and returns its SCIM id.
    pub async fn create_ok(&self, user: Value) -> String {
        let (status, body) = self.create(user).await;
        assert_eq!(status, StatusCode::CREATED, "create failed: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn patch(&self, id: &str, ops: Value) -> (StatusCode, Value) {
        self.patch_resource(&format!("/Users/{id}"), ops).await
    }

    async fn patch_resource(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::PATCH, path, Some(patch_body(ops))).await;
        (status, body)
    }

    /// The tenant's audit entries, newest first.
    pub async fn audit(&self) -> Vec<scim_bridge::store::AuditEntry> {
        self.store.list_audit("acme", 100).await.unwrap()
    }

    pub fn state(&self) -> SimSnapshot {
        self.sim.snapshot()
    }

    /// The simulator's user with this username (case-insensitive), if any.
    pub fn upstream(&self, username: &str) -> Option<SnapshotUser> {
        self.state()
            .users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// How many upstream users are active and linked to no SCIM user: each is access
    /// the IdP can never take away. Printed, so a run's log carries the measurement.
    pub async fn unmanaged_active(&self, scenario: &str) -> usize {
        let mut count = 0;
        for user in self.state().users {
            let linked = self
                .store
                .user_id_by_upstream("acme", &user.user_id)
                .await
                .unwrap();
            if linked.is_none() && user.status == "ACTIVE" {
                count += 1;
            }
        }
        eprintln!("unmanaged active upstream users after {scenario}: {count}");
        count
    }

    pub async fn find_by_username(&self, username: &str) -> Value {
        let filter = format!("userName eq \"{username}\"");
        let path = format!("/Users?filter={}", urlencode(&filter));
        let (status, _, body) = self.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl Harness {
    /// Waits until `check` holds for the simulator's state (the worker is asynchronous),
    /// failing the test after 20 s with the last state.
    pub async fn eventually(&self, what: &str, check: impl Fn(&SimSnapshot) -> bool) {
        wait_for(what, || self.state(), check).await
    }

    /// The roles the simulator holds for a username, sorted.
    pub fn roles_of(state: &SimSnapshot, username: &str) -> Vec<String> {
        state
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .map(|u| u.roles.clone())
            .unwrap_or_default()
    }

    /// The status (`ACTIVE`, `DEACTIVATED`) the simulator holds for exactly this
    /// username, if it holds the user.
    pub fn status_in(state: &SimSnapshot, username: &str) -> Option<String> {
        state
            .users
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.status.clone())
    }

    pub async fn group_patch(&self, id: &str, ops: Value) -> (StatusCode, Value) {
        self.patch_resource(&format!("/Groups/{id}"), ops).await
    }
}

/// Reads until `check` holds for what `read` gives, failing the test after 20 s with
/// the last reading.
async fn wait_for<T: std::fmt::Debug>(
    what: &str,
    read: impl Fn() -> T,
    check: impl Fn(&T) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seen = read();
        if check(&seen) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}; upstream: {seen:#?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Asserts the simulator holds exactly one user, named `first` `last`.
pub fn assert_one_user_named(state: &SimSnapshot, (first, last): (&str, &str)) {
    assert_eq!(state.users.len(), 1, "{:#?}", state.users);
    let user = &state.users[0];
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        (first, last)
    );
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An Okta-style user.
pub fn user(username: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": username,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "value": username, "type": "work"}],
        "phoneNumbers": [{"value": "919-555-1234", "type": "work"}],
        "active": true,
        "password": "Sup3r$ecretFromOkta",
        "groups": []
    })
}

pub fn assert_scim_error(body: &Value, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
}
