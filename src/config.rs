//! Configuration: one TOML file plus `SCIM_BRIDGE__`-prefixed environment variables
//! (`SCIM_BRIDGE__TENANTS__ACME__TARGET__CLIENT_SECRET=...` overrides
//! `[tenants.acme.target] client_secret`). Every key is explained in
//! `config/scim-bridge.example.toml`. Unknown keys are errors: a typo in a policy name
//! must not silently fall back to a default that deletes users.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::secret::SecretRef;
use crate::upstream::bandwidth::settings::BandwidthSettings;
use crate::upstream::{AccountScope, TargetSettings};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The admin console; off when absent.
    #[serde(default)]
    pub admin: Option<crate::admin::AdminConfig>,
    /// Notification sinks (`[[notify]]`).
    #[serde(default)]
    pub notify: Vec<crate::notify::NotifySink>,
    /// Tenants whose target was read from the legacy `bandwidth` section.
    #[serde(skip)]
    pub legacy_sections: Vec<String>,
}

/// The job worker that carries group-driven role changes upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Jobs run at once (each is a few upstream calls; the upstream rate limit still applies).
    pub concurrency: u32,
    /// How often the worker looks for due jobs when nothing woke it.
    pub poll_interval_ms: u64,
    /// Attempts before a job is marked failed (then `scim-bridge jobs retry` re-queues it).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with full jitter, up to `backoff_max_secs`.
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// A claimed job whose worker died is taken again after this long. A running job's
    /// lease is renewed every third of it, so a few seconds are enough.
    pub lease_secs: u64,
    /// Names this process in the claims it makes, so that on restart it takes its own
    /// crashed claims back at once. Stable across restarts and unique among replicas;
    /// the default is the host name and the listen address.
    pub instance_id: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval_ms: 1000,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            lease_secs: 15,
            instance_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// Public base URL (e.g. `https://scim.example.com`), used in `meta.location`.
    /// Without it locations are relative paths, which every IdP accepts.
    pub public_url: Option<String>,
    /// Largest page a list answers (advertised in ServiceProviderConfig).
    pub max_page_size: u32,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// A request still unanswered after this long is answered 503 with `Retry-After`, so
    /// a stuck database or upstream never holds an IdP's connection open indefinitely.
    /// Default 20 s: under the IdPs' own timeouts (about 30 s), so the IdP hears a 503
    /// and retries rather than timing out itself.
    pub request_timeout_secs: u64,
    /// A client must send a request's headers within this long after connecting or
    /// after the previous answer (idle keep-alive connections close after it too).
    pub header_read_timeout_secs: u64,
    /// A connection on which nothing moves for this long is closed; keep it above
    /// `request_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// Most client connections open at once; more wait in the kernel's queue. Lowered at
    /// start-up if the open file limit could not hold them.
    pub max_connections: usize,
    /// Bearer token `/metrics` requires; without it `/metrics` is open.
    pub metrics_token: Option<SecretRef>,
    /// Serve HTTPS directly instead of behind a TLS-terminating proxy.
    pub tls: Option<TlsConfig>,
}

/// Certificate and key (PEM) for serving HTTPS. Both files are re-read on SIGHUP and
/// when their modification time changes, so a renewed certificate needs no restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert_path: std::path::PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: std::path::PathBuf,
    /// How often the files' modification times are checked.
    #[serde(default = "default_tls_poll")]
    pub reload_poll_secs: u64,
}

fn default_tls_poll() -> u64 {
    5
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            max_page_size: 1000,
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 20,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 4096,
            metrics_token: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/bridge.db` (created if missing), or `postgres://...` for
    /// several replicas; `?options=-c%20search_path%3DNAME` puts the tables in schema NAME.
    pub url: String,
    /// Pool size (PostgreSQL opens up to as many again, lazily, for write locks).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503, so a
    /// saturated database sheds load instead of queueing requests until the IdP gives up.
    pub acquire_timeout_secs: u64,
    /// `serve` applies pending migrations at start. Set false when several replicas
    /// share PostgreSQL and `scim-bridge migrate` runs once per release, so that no
    /// replica changes the schema under the others; `serve` then refuses a database
    /// that lacks a migration instead of failing on a missing column later.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://scim-bridge.db".into(),
            max_connections: 8,
            acquire_timeout_secs: 10,
            migrate_on_start: true,
        }
    }
}

impl DatabaseConfig {
    /// The store options this section describes; `migrate` is the caller's decision.
    pub fn open_options(&self, migrate: bool) -> crate::store::OpenOptions {
        crate::store::OpenOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs.max(1)),
            migrate,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Bearer tokens the IdP may present, stored as SHA-256 hashes
    /// (`scim-bridge token new` prints a token and its hash).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// HTTP Basic credentials (Okta, OneLogin), passwords stored as argon2 PHC strings
    /// (`scim-bridge basic new` prints a password and its hash).
    #[serde(default)]
    pub basic: Vec<BasicConfig>,
    /// OAuth2 bearer JWTs (Entra ID).
    pub jwt: Option<JwtConfig>,
    /// Roles every provisioned user gets (Bandwidth App role names).
    #[serde(default = "default_base_roles")]
    pub base_roles: Vec<String>,
    #[serde(default)]
    pub account_scope: AccountScope,
    /// Upstream accounts granted to every user; empty = the target's own account.
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub groups: GroupMappingConfig,
    /// Whether a user's own `roles` and `entitlements` (naming the tenant's `/Roles` and
    /// `/Entitlements` resources) grant access, on top of base roles and groups. When
    /// on, an assignment the upstream cannot grant is refused with 400.
    #[serde(default = "default_true")]
    pub direct_assignments: bool,
    /// SCIM extension schema URNs this tenant's IdP sends and wants kept: their objects
    /// are stored and returned as sent. Attributes of other unknown schemas are ignored.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Read upstream but never write: each write the bridge would make is logged and
    /// audited with its request, and the IdP is answered as if it had succeeded.
    #[serde(default)]
    pub dry_run: bool,
    /// Seconds between reconcile runs inside `serve`; unset = no periodic run.
    #[serde(default)]
    pub reconcile_interval_secs: Option<u64>,
    /// Whether the periodic reconcile also repairs (enqueues sync jobs, re-creates
    /// missing users); by default it only reports.
    #[serde(default)]
    pub reconcile_repair: bool,
    #[serde(default)]
    pub limits: TenantLimits,
    /// Pauses upstream deprovisioning after too many in a window; off when absent.
    pub deprovision_guard: Option<DeprovisionGuardConfig>,
    /// The upstream system and its settings (`kind = "bandwidth"`). Always set once
    /// the configuration is loaded (a legacy `bandwidth` section is moved here).
    #[serde(default)]
    pub target: Option<TargetSettings>,
    /// The section's name before targets had kinds; read as `kind = "bandwidth"`.
    #[serde(default)]
    pub bandwidth: Option<BandwidthSettings>,
}

impl TenantConfig {
    /// The tenant's target settings; `None` only for a configuration that did not go
    /// through [`Config::load`] or its siblings.
    pub fn target(&self) -> Option<&TargetSettings> {
        self.target.as_ref()
    }
}

/// What one tenant's IdP may send, so that one misbehaving IdP cannot starve the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Sustained SCIM requests per second; absent = unlimited. Over it: 429 with `Retry-After`.
    pub requests_per_second: Option<u32>,
    /// Requests allowed at once above the sustained rate (defaults to `requests_per_second`).
    pub burst: Option<u32>,
    /// Most member values one Group POST, PUT or PATCH may carry; more is 400 `invalidValue`.
    pub max_members_per_request: usize,
    /// Longest string value (UTF-8 bytes) a client may write; longer is 400 `invalidValue`.
    pub max_value_bytes: usize,
    /// Most values of one multi-valued attribute (emails, phoneNumbers, ...); Group
    /// members are limited by `max_members_per_request` instead.
    pub max_values_per_attribute: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            requests_per_second: None,
            burst: None,
            max_members_per_request: 1000,
            max_value_bytes: crate::scim::validate::DEFAULT_MAX_VALUE_BYTES,
            max_values_per_attribute: crate::scim::validate::DEFAULT_MAX_VALUES,
        }
    }
}

/// More than `max` upstream deactivations/deletions within `window_secs` holds further
/// ones (SCIM still answers) until `scim-bridge jobs approve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionGuardConfig {
    pub max: u32,
    #[serde(default = "default_guard_window")]
    pub window_secs: u64,
}

fn default_guard_window() -> u64 {
    3600
}

/// How IdP groups grant Bandwidth access. Groups no rule matches are stored and served
/// but grant nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupMappingConfig {
    /// A group named `<prefix><Role Name>` grants that role (e.g. `bandwidth-role-Porting`).
    pub role_prefix: Option<String>,
    /// The older name of the tenant's `direct_assignments` (kept so existing files
    /// still read): either one on honours a user's own `roles` and `entitlements`.
    pub use_scim_roles: bool,
    /// Explicit rules, matched by displayName (case-insensitive) or externalId.
    pub map: Vec<GroupRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupRule {
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub roles: Vec<String>,
    /// `ACCOUNT_ADMIN` makes members account admins.
    pub account_scope: Option<AccountScope>,
    pub accounts: Vec<String>,
}

fn default_true() -> bool {
    true
}

fn default_base_roles() -> Vec<String> {
    vec!["basicAccess".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for the credential, recorded in the audit (never the token itself).
    pub id: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// A name for the credential, recorded in the audit.
    pub id: String,
    pub username: String,
    /// Argon2 PHC string (`$argon2id$v=19$...`) of the password.
    pub password_hash: String,
}

/// Which JWTs a tenant accepts. Keys come from `jwks_url` or from one static PEM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Credential id recorded in the audit for every change a JWT makes.
    #[serde(default = "default_jwt_id")]
    pub id: String,
    /// Required `iss`, exactly (Entra ID: `https://sts.windows.net/<tenant-id>/`).
    pub issuer: String,
    /// Accepted `aud` values; the token needs one of them.
    pub audiences: Vec<String>,
    /// When set, the token's `azp` (v2) or `appid` (v1) claim must be one of these: any
    /// app of the directory can obtain a token for the audience, only the IdP's
    /// provisioning client should provision.
    #[serde(default)]
    pub client_ids: Vec<String>,
    pub jwks_url: Option<String>,
    pub public_key_pem: Option<String>,
    pub public_key_pem_file: Option<String>,
    /// Allowed `alg` values; only asymmetric ones (RS*, PS*, ES*, EdDSA).
    #[serde(default = "default_jwt_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_jwt_leeway")]
    pub leeway_secs: u64,
    /// JWKS is fetched again after this long even when every `kid` is known.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_secs: u64,
    /// An unknown `kid` fetches the JWKS at most this often, so forged kids cannot make
    /// the bridge hammer the IdP.
    #[serde(default = "default_jwks_min_interval")]
    pub jwks_min_refetch_secs: u64,
}

fn default_jwt_id() -> String {
    "jwt".into()
}
fn default_jwt_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_jwt_leeway() -> u64 {
    60
}
fn default_jwks_refresh() -> u64 {
    3600
}
fn default_jwks_min_interval() -> u64 {
    30
}

/// What the bridge does upstream when the IdP deactivates, deletes or renames a user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub on_deactivate: DeactivatePolicy,
    /// What a SCIM DELETE does upstream. When the file leaves it out: `delete` where the
    /// target can delete users, else `deactivate` (Bandwidth's v1 dialect); filled in
    /// when the configuration is read.
    #[serde(skip)]
    pub on_delete: DeletePolicy,
    #[serde(rename = "on_delete")]
    on_delete_in_file: Option<DeletePolicy>,
    pub on_username_change: UsernameChangePolicy,
    /// Link an upstream user that already has the username instead of answering 409.
    pub adopt_existing: bool,
    /// How long a create whose IdP never got the answer waits for the IdP's retry before
    /// its upstream user is deprovisioned (under `on_delete`) as an abandoned create.
    pub abandoned_create_grace_secs: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            on_deactivate: DeactivatePolicy::Deactivate,
            on_delete: DeletePolicy::Delete,
            on_delete_in_file: None,
            on_username_change: UsernameChangePolicy::KeepUpstream,
            adopt_existing: false,
            abandoned_create_grace_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivatePolicy {
    /// Set the upstream user's status to deactivated.
    Deactivate,
    /// Remove every role, keep the user active.
    StripRoles,
    /// Delete the upstream user; reactivation re-creates it under the same SCIM id.
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    Delete,
    Deactivate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernameChangePolicy {
    /// The SCIM userName changes; the Bandwidth username (immutable there) stays.
    KeepUpstream,
    /// Answer 400 `mutability`.
    Reject,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads the file, then the environment overrides, then checks what serde cannot.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed("SCIM_BRIDGE__").split("__"));
        Self::from_figment(figment)
    }

    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    /// A configuration given as text (the demo's), with the same environment overrides
    /// as a file.
    pub fn from_toml_str_with_env(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::new()
                .merge(Toml::string(text))
                .merge(Env::prefixed("SCIM_BRIDGE__").split("__")),
        )
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.adopt_legacy_sections()?;
        config.resolve_on_delete();
        config.validate()?;
        Ok(config)
    }

    /// Reads each tenant's `[tenants.T.bandwidth]` (the section's name before targets
    /// had kinds) as `[tenants.T.target] kind = "bandwidth"`, so old files keep working.
    fn adopt_legacy_sections(&mut self) -> Result<(), ConfigError> {
        for (name, tenant) in &mut self.tenants {
            match (tenant.target.is_some(), tenant.bandwidth.take()) {
                (true, Some(_)) => {
                    return Err(ConfigError::Invalid(format!(
                        "tenant {name}: both [tenants.{name}.target] and the older [tenants.{name}.bandwidth] are set; keep only target"
                    )))
                }
                (false, Some(section)) => {
                    tenant.target = Some(TargetSettings::Bandwidth(section));
                    self.legacy_sections.push(name.clone());
                }
                (false, None) => {
                    return Err(ConfigError::Invalid(format!(
                        "tenant {name}: [tenants.{name}.target] is missing (kind = \"bandwidth\" and its settings)"
                    )))
                }
                (true, None) => {}
            }
        }
        Ok(())
    }

    /// How to move a tenant's legacy section, for `check-config`; empty when none is left.
    pub fn legacy_advice(&self) -> Vec<String> {
        self.legacy_sections
            .iter()
            .map(|name| {
                format!(
                    "tenant {name}: rename [tenants.{name}.bandwidth] to [tenants.{name}.target] and add kind = \"bandwidth\" (environment overrides: SCIM_BRIDGE__TENANTS__{upper}__TARGET__...); the old name still works",
                    upper = name.to_uppercase()
                )
            })
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(admin) = &self.admin {
            admin
                .validate(&self.tenants)
                .map_err(ConfigError::Invalid)?;
        }
        crate::notify::config::validate(&self.notify, &self.tenants)
            .map_err(ConfigError::Invalid)?;
        let mut seen = std::collections::HashSet::new();
        let mut basic_users = BTreeMap::new();
        let mut jwt_audiences = BTreeMap::new();
        for (name, tenant) in &self.tenants {
            for token in &tenant.tokens {
                let valid_hex =
                    token.sha256.len() == 64 && token.sha256.chars().all(|c| c.is_ascii_hexdigit());
                if !valid_hex {
                    return Err(ConfigError::Invalid(format!(
                        "tenant {name}: token {} has a sha256 that is not 64 hex digits",
                        token.id
                    )));
                }
                if !seen.insert(token.sha256.to_ascii_lowercase()) {
                    return Err(ConfigError::Invalid(format!(
                        "tenant {name}: token {} is also configured elsewhere; a credential belongs to one tenant",
                        token.id
                    )));
                }
            }
            credentials::validate_basic(name, &tenant.basic, &mut basic_users)?;
            input::validate(name, tenant)?;
            if let Some(jwt) = &tenant.jwt {
                credentials::validate_jwt(name, jwt, &mut jwt_audiences)?;
            }
            for rule in &tenant.groups.map {
                if rule.display_name.is_none() == rule.external_id.is_none() {
                    return Err(ConfigError::Invalid(format!(
                        "tenant {name}: each [[groups.map]] rule needs exactly one of display_name or external_id"
                    )));
                }
            }
            if let Some(target) = &tenant.target {
                target.validate().map_err(|e| {
                    ConfigError::Invalid(format!("tenant {name}: target ({}): {e}", target.kind()))
                })?;
            }
        }
        Ok(())
    }
}

mod credentials;
mod input;
#[cfg(test)]
mod tests;
