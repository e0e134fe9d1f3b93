//! Configuration and the plain data types tests hand to the simulator.

use serde::{Deserialize, Deserializer, Serialize};
use std::str::FromStr;
use std::time::Duration;

/// Which of Bandwidth's two API generations the simulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Account API: OAuth2 client credentials, camelCase JSON under `/api/v1`.
    V1,
    /// Dashboard ("Iris") API: Basic auth, PascalCase JSON or XML under `/api`.
    Dashboard,
}

impl FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v1" => Ok(Dialect::V1),
            "dashboard" => Ok(Dialect::Dashboard),
            other => Err(format!(
                "unknown dialect '{other}' (expected 'v1' or 'dashboard')"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub dialect: Dialect,
    pub client_id: String,
    pub client_secret: String,
    pub basic_user: String,
    pub basic_password: String,
    /// `(accountId, name)`; the dashboard dialect serves only the first in its paths.
    pub accounts: Vec<(String, String)>,
    pub token_ttl: Duration,
    pub faults: Faults,
    /// Role names the bridge's own credential lacks, so granting them is refused (403).
    pub withheld_roles: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            dialect: Dialect::V1,
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            basic_user: "sim-user".into(),
            basic_password: "sim-password".into(),
            accounts: vec![
                ("9900000".into(), "Main".into()),
                ("9900001".into(), "Second".into()),
            ],
            token_ttl: Duration::from_secs(3600),
            faults: Faults::default(),
            withheld_roles: Vec::new(),
        }
    }
}

/// Failure modes a test can switch on at any time (`SimHandle::set_faults`, `POST /_sim/faults`).
/// The JSON form is camelCase; snake_case names are accepted too.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Requests per second per credential, in fixed one-second windows.
    #[serde(alias = "rate_limit")]
    pub rate_limit: Option<u32>,
    /// Fraction of API requests answered 503 without touching any state.
    #[serde(alias = "fail_rate")]
    pub fail_rate: f64,
    /// The next N API requests are answered 503 as `fail_rate`'s are: a test of random
    /// failures that must see at least one sets it, so that it does not depend on luck.
    #[serde(alias = "fail_next")]
    pub fail_next: u32,
    #[serde(alias = "latency_ms")]
    pub latency_ms: u64,
    /// The next N creates happen, but their connection is dropped before any response,
    /// which is what a client sees when a create times out after the server did it.
    #[serde(alias = "drop_next_create_responses")]
    pub drop_next_create_responses: u32,
    /// Dashboard only: answer XML even to `Accept: application/json`, as old Iris endpoints do.
    #[serde(alias = "xml_always")]
    pub xml_always: bool,
    /// The next N API requests are answered 429 with `X-RateLimit-Reset` at the next
    /// second, whatever the rate: a burst of throttling as a busy account sees it.
    #[serde(alias = "rate_limit_burst")]
    pub rate_limit_burst: u32,
    /// Fraction of API requests delayed by `latency_spike_ms` on top of `latency_ms`.
    #[serde(alias = "latency_spike_rate")]
    pub latency_spike_rate: f64,
    #[serde(alias = "latency_spike_ms")]
    pub latency_spike_ms: u64,
    /// Fraction of API requests (any method) that are carried out but whose connection
    /// is dropped before the response, as `drop_next_create_responses` does for creates.
    #[serde(alias = "drop_rate")]
    pub drop_rate: f64,
    /// The next directory page reads (a `GET` with a `page` query parameter), one per
    /// status, are answered with these statuses (429 as the system's throttle, with
    /// `X-RateLimit-Reset` at the next second; others as its error) without touching
    /// any state. Other requests pass.
    #[serde(alias = "page_read_faults")]
    pub page_read_faults: Vec<u16>,
}

/// A user that already exists upstream before the bridge touches it. Roles are role NAMES.
/// Empty `accounts` means the first configured account, so the user is visible in both dialects.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SeedUser {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone_number: Option<String>,
    pub roles: Vec<String>,
    pub accounts: Vec<String>,
    /// `ACCOUNT` or `ACCOUNT_ADMIN`.
    pub account_scope: String,
    pub active: bool,
}

impl Default for SeedUser {
    fn default() -> Self {
        SeedUser {
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            phone_number: None,
            roles: Vec::new(),
            accounts: Vec::new(),
            account_scope: "ACCOUNT".into(),
            active: true,
        }
    }
}

/// A change made behind the bridge's back; `None` leaves a field alone.
/// `phone_number: Some(None)` (JSON `"phoneNumber": null`) clears the phone.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct UserEdit {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    #[serde(deserialize_with = "present_or_null")]
    pub phone_number: Option<Option<String>>,
    /// Role names.
    pub roles: Option<Vec<String>>,
    pub account_scope: Option<String>,
    pub accounts: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Tells a JSON `null` (clear) from an absent field (keep), which plain `Option` conflates.
fn present_or_null<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

/// `POST /_sim/users/bulk`: `count` copies of the user `template_id`, numbered from
/// `first`, each with `marker` replaced by its number in its id (from `ids`) and in
/// every text field the template has (username, names, email, phone). Roles, accounts,
/// scope and status are copied as they are. Made for a directory of a million users
/// with ids the test chooses, which one seed call per user cannot give in reasonable
/// time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkSeed {
    /// Any user the simulator holds: typically one a client created through the API,
    /// so the copies are exactly what that client writes. It stays; remove it if unwanted.
    pub template_id: String,
    /// The copies' user ids, e.g. `bench-#n#`.
    pub ids: String,
    #[serde(default = "default_marker")]
    pub marker: String,
    #[serde(default)]
    pub first: u64,
    pub count: u64,
}

fn default_marker() -> String {
    "#n#".into()
}
