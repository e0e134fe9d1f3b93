//! The simulator's whole memory: users, tokens, fault settings, rate windows and stats.
//! One `Mutex` guards it all; it is never held across an `.await`.

use crate::config::SimConfig;
use crate::directory::{Directory, Filter};
use crate::faults::Gate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The App's role names plus `basicAccess`. Ids are opaque (`r-0001`...) on purpose: a client
/// that sends names where ids belong gets a 400 instead of silently working.
pub const ROLE_NAMES: [&str; 17] = [
    "Address Management",
    "Billing Reports",
    "Configuration",
    "Disconnect",
    "E911 Management",
    "External TNs",
    "HTTP Application Management",
    "HTTP Voice",
    "Line Features",
    "Ordering",
    "Porting",
    "Reporting",
    "Requirements Package Manager",
    "Requirements Package Viewer",
    "User Administrator",
    "Voice Configuration Package Management",
    "basicAccess",
];

pub fn role_id(index: usize) -> String {
    format!("r-{:04}", index + 1)
}

pub fn role_name(id: &str) -> Option<&'static str> {
    ROLE_NAMES
        .iter()
        .enumerate()
        .find(|(i, _)| role_id(*i) == id)
        .map(|(_, n)| *n)
}

pub fn role_id_by_name(name: &str) -> Option<String> {
    ROLE_NAMES.iter().position(|n| *n == name).map(role_id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    AccountAdmin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "ACCOUNT" => Some(Scope::Account),
            "ACCOUNT_ADMIN" => Some(Scope::AccountAdmin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "ACCOUNT",
            Scope::AccountAdmin => "ACCOUNT_ADMIN",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    /// Role ids.
    pub roles: Vec<String>,
    pub accounts: Vec<String>,
    pub scope: Scope,
    pub active: bool,
}

/// `GET /_sim/state`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimSnapshot {
    pub users: Vec<SnapshotUser>,
    pub stats: SimStats,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotUser {
    pub user_id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone_number: Option<String>,
    /// Role names, sorted.
    pub roles: Vec<String>,
    pub accounts: Vec<String>,
    pub account_scope: String,
    /// `ACTIVE` or `DEACTIVATED`.
    pub status: String,
}

/// Counts API and token requests; `/_sim` calls are left out so that watching does not disturb.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SimStats {
    pub requests: u64,
    /// Directory page reads (a `GET` with a `page` query parameter), answered or failed.
    pub page_reads: u64,
    pub by_status: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub failed_injected: u64,
    pub creates: u64,
    pub updates: u64,
    pub deletes: u64,
    pub tokens_issued: u64,
    /// Responses withheld by `drop_next_create_responses` or `drop_rate`.
    pub dropped_responses: u64,
    /// Requests delayed by a `latency_spike_ms` (counted as the delay starts).
    pub latency_spikes: u64,
    /// The time API requests took here, from arrival to answer (or to the client
    /// giving up), summed in microseconds: a client with N slots waits at least this
    /// divided by N.
    pub busy_us: u64,
    /// The distinct `X-Request-Id` values clients sent (the first 1000), so a test can
    /// see the bridge passes its request ids on.
    pub request_ids: Vec<String>,
}

/// A failure in dialect-neutral form; each dialect renders it in its own error format.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
        }
    }
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, "validation_error", description)
    }
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(404, "not_found", description)
    }
    /// Passes when `items` is empty, else refuses with `code` naming every item (`what: a, b`):
    /// every dialect lists its missing fields and unknown ids this one way.
    pub fn unless_none(code: &'static str, what: &str, items: &[&str]) -> Result<(), ApiError> {
        if items.is_empty() {
            return Ok(());
        }
        Err(Self::new(
            400,
            code,
            format!("{what}: {}", items.join(", ")),
        ))
    }
}

/// The names whose flag says absent, in the order given (what `missing_field` refusals list).
pub fn absent<'a>(fields: &[(&'a str, bool)]) -> Vec<&'a str> {
    fields
        .iter()
        .filter_map(|(name, absent)| absent.then_some(*name))
        .collect()
}

/// A trimmed value, `None` when absent or blank: how every dialect reads a text field.
pub fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The email, when it looks like one; `field` names it in the refusal as the dialect spells it.
pub fn require_email(field: &str, email: Option<String>) -> Result<String, ApiError> {
    let email = email.unwrap_or_default();
    if !looks_like_email(&email) {
        return Err(ApiError::bad_request(format!(
            "{field} '{email}' is not an email address"
        )));
    }
    Ok(email)
}

/// Locks, ignoring poisoning: a panic elsewhere must not turn every later request into one.
pub fn lock_unpoisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Inner {
    pub users: Directory,
    /// token -> (client id, expiry)
    pub tokens: HashMap<String, (String, Instant)>,
    /// Fault settings, rate windows and counters.
    pub gate: Gate,
}

pub struct Shared {
    pub config: SimConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(config: SimConfig) -> Self {
        let inner = Inner {
            users: Directory::default(),
            tokens: HashMap::new(),
            gate: Gate::new(config.faults.clone()),
        };
        Shared {
            config,
            inner: Mutex::new(inner),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock_unpoisoned(&self.inner)
    }

    pub fn snapshot(&self) -> SimSnapshot {
        let inner = self.lock();
        let mut users: Vec<SnapshotUser> = inner.users.values().map(snapshot_user).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        SimSnapshot {
            users,
            stats: inner.gate.stats.clone(),
        }
    }

    fn withheld_role_ids(&self) -> Vec<String> {
        self.config
            .withheld_roles
            .iter()
            .filter_map(|n| role_id_by_name(n))
            .collect()
    }

    fn check_refs(&self, user: &User, before: Option<&User>) -> Result<(), ApiError> {
        let unknown_roles: Vec<&str> = user
            .roles
            .iter()
            .filter(|r| role_name(r).is_none())
            .map(String::as_str)
            .collect();
        ApiError::unless_none("unknown_role", "unknown role id(s)", &unknown_roles)?;
        let unknown_accounts: Vec<&str> = user
            .accounts
            .iter()
            .filter(|a| !self.config.accounts.iter().any(|(id, _)| id == *a))
            .map(String::as_str)
            .collect();
        ApiError::unless_none(
            "unknown_account",
            "unknown account id(s)",
            &unknown_accounts,
        )?;
        // Only newly granted roles count: re-sending a role the user already has is not a grant,
        // so a read-modify-write of a user holding a withheld role still works.
        let withheld = self.withheld_role_ids();
        let mut refused: Vec<&str> = user
            .roles
            .iter()
            .filter(|r| withheld.contains(r))
            .filter(|r| before.is_none_or(|b| !b.roles.contains(r)))
            .filter_map(|r| role_name(r))
            .collect();
        refused.sort_unstable();
        refused.dedup();
        if !refused.is_empty() {
            return Err(ApiError::new(
                403,
                "forbidden_role",
                format!(
                    "the credential does not hold role(s) it tried to grant: {}",
                    refused.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Creates a user after the dialect checked its own fields. `user.user_id` is ignored.
    pub fn create_user(&self, mut user: User) -> Result<User, ApiError> {
        self.check_refs(&user, None)?;
        let mut inner = self.lock();
        check_unique(&inner.users, &user, None)?;
        user.user_id = uuid::Uuid::new_v4().to_string();
        inner.users.insert(user.clone());
        inner.gate.stats.creates += 1;
        Ok(user)
    }

    /// Full replacement; the username may not change.
    pub fn replace_user(&self, user_id: &str, mut user: User) -> Result<User, ApiError> {
        let before = self
            .lock()
            .users
            .get(user_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no user with id {user_id}")))?;
        if before.username != user.username {
            return Err(ApiError::new(
                400,
                "username_immutable",
                format!(
                    "username cannot be changed (is '{}', request has '{}')",
                    before.username, user.username
                ),
            ));
        }
        self.check_refs(&user, Some(&before))?;
        let mut inner = self.lock();
        if !inner.users.contains(user_id) {
            return Err(ApiError::not_found(format!("no user with id {user_id}")));
        }
        check_unique(&inner.users, &user, Some(user_id))?;
        user.user_id = user_id.to_string();
        inner.users.insert(user.clone());
        inner.gate.stats.updates += 1;
        Ok(user)
    }

    /// Stores a user behind the API's back: only uniqueness is checked, and no stats move.
    /// `replacing` names the user being edited (it must still exist).
    pub fn insert_raw(&self, user: User, replacing: Option<&str>) -> Result<String, ApiError> {
        let mut inner = self.lock();
        if let Some(id) = replacing {
            if !inner.users.contains(id) {
                return Err(ApiError::not_found(format!("no user with id {id}")));
            }
        }
        check_unique(&inner.users, &user, replacing)?;
        let id = user.user_id.clone();
        inner.users.insert(user);
        Ok(id)
    }

    pub fn delete_user(&self, user_id: &str) -> bool {
        let mut inner = self.lock();
        let removed = inner.users.remove(user_id).is_some();
        if removed {
            inner.gate.stats.deletes += 1;
        }
        removed
    }

    pub fn get_user(&self, user_id: &str) -> Option<User> {
        self.lock().users.get(user_id).cloned()
    }

    /// The page (`page` from 0, `size` per page, as the query says) of the users matching
    /// the exact (case-insensitive) filters, ordered by username.
    pub fn list_page(
        &self,
        filter: Filter<'_>,
        page: Option<&str>,
        size: Option<&str>,
    ) -> Result<(Vec<User>, Page), ApiError> {
        let number = offset_param("page", page)?;
        let size = count_param("size", size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let skip = number.saturating_mul(size);
        let (items, total_elements) = self.lock().users.page(filter, skip, size);
        let page = Page {
            number,
            size,
            total_elements,
            total_pages: total_elements.div_ceil(size),
        };
        Ok((items, page))
    }
}

fn check_unique(users: &Directory, user: &User, except: Option<&str>) -> Result<(), ApiError> {
    let others = || {
        users
            .values()
            .filter(|u| Some(u.user_id.as_str()) != except)
    };
    if others().any(|u| u.username.eq_ignore_ascii_case(&user.username)) {
        return Err(ApiError::new(
            409,
            "username_taken",
            format!("username '{}' is already taken", user.username),
        ));
    }
    if others().any(|u| u.email.eq_ignore_ascii_case(&user.email)) {
        return Err(ApiError::new(
            409,
            "email_taken",
            format!("email '{}' is already taken", user.email),
        ));
    }
    Ok(())
}

fn snapshot_user(u: &User) -> SnapshotUser {
    let mut roles: Vec<String> = u
        .roles
        .iter()
        .map(|r| role_name(r).map_or_else(|| r.clone(), str::to_string))
        .collect();
    roles.sort();
    SnapshotUser {
        user_id: u.user_id.clone(),
        username: u.username.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.clone(),
        phone_number: u.phone.clone(),
        roles,
        accounts: u.accounts.clone(),
        account_scope: u.scope.as_str().to_string(),
        status: if u.active { "ACTIVE" } else { "DEACTIVATED" }.to_string(),
    }
}

/// Shared by both dialects' list calls.
pub struct Page {
    pub number: usize,
    pub size: usize,
    pub total_elements: usize,
    pub total_pages: usize,
}

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 1000;

/// `+` then 8 to 15 digits.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A query offset (`page`, `start`): absent is 0, else a whole number.
pub fn offset_param(name: &str, value: Option<&str>) -> Result<usize, ApiError> {
    value.map_or(Ok(0), |s| {
        s.parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a number >= 0, got '{s}'")))
    })
}

/// A query page size (`size`, `limit`): absent is `default`, else a number from 1 to `max`.
pub fn count_param(
    name: &str,
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(s) = value else {
        return Ok(default);
    };
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be a number from 1 to {max}, got '{s}'"
        ))),
    }
}

pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

pub fn role_description(name: &str) -> String {
    if name == "basicAccess" {
        "Lets the user sign in to the Bandwidth App".to_string()
    } else {
        format!("Grants access to {name} in the Bandwidth App")
    }
}
