//! What the store keeps: the records (users, groups, jobs, audit entries), list
//! requests and pages, and the derivations both backends share (case folding, the
//! timestamp text, the indexed columns of a user, the document a filter sees).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::queue::Queued;
use super::sql::rows::TextColumn;
use super::StoreError;
use crate::scim::filter::{AttrPath, Filter};
use crate::upstream::AccountScope;

/// A SCIM user as stored. `resource` holds what the IdP wrote (never `id`, `meta` or the
/// password); the rest is the bridge's.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub resource: Value,
    /// What SCIM's `meta` shows of it.
    pub meta: Meta,
    pub link: UpstreamLink,
}

/// A stored resource's version (its ETag) and times, as SCIM's `meta` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub version: i64,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

impl Meta {
    /// A resource created at `now`: version 1.
    pub fn first(now: DateTime<Utc>) -> Self {
        Self {
            version: 1,
            created: now,
            last_modified: now,
        }
    }

    /// The next version of the resource, written at `now`.
    pub fn next(&self, now: DateTime<Utc>) -> Self {
        Self {
            version: self.version + 1,
            created: self.created,
            last_modified: now,
        }
    }
}

/// Where a SCIM user lives upstream, and what the bridge last saw there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UpstreamLink {
    /// `None` while no upstream user exists (inactive under the `delete` policy).
    pub upstream_id: Option<String>,
    /// The username upstream, which never changes there even if the IdP renames.
    pub upstream_username: String,
    pub roles: Vec<String>,
    pub account_scope: AccountScope,
    pub accounts: Vec<String>,
    pub sync_state: SyncState,
    pub last_error: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// What a deprovision took away, kept in columns of its own (see [`Prior`]).
    #[serde(skip)]
    pub prior: Prior,
}

/// What a deprovision took from a user's upstream account, to give back when the user
/// is active again. Stored apart from the rest of the link, which every sync rewrites
/// from what upstream answers; only [`super::UserStore::remember_prior`] writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prior {
    /// The roles (a NetSapiens scope) a deactivation replaced; empty when none.
    pub roles: Vec<String>,
    /// The upstream id (a NetSapiens extension) a deletion freed.
    pub upstream_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    #[default]
    Synced,
    Pending,
    Failed,
    /// Deleted upstream by the deactivation policy; reactivation re-creates it.
    Deprovisioned,
    /// Its deactivation or deletion waits for approval (mass-deprovision guard); the
    /// upstream user is untouched until then.
    Held,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "synced",
            SyncState::Pending => "pending",
            SyncState::Failed => "failed",
            SyncState::Deprovisioned => "deprovisioned",
            SyncState::Held => "held",
        }
    }
}

/// A list request in the store's terms: the neutral filter, 1-based start, page size.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub start_index: u64,
    pub count: u64,
    /// `sortBy`; `None` keeps the store's stable default order (by id).
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
}

impl ListQuery {
    pub fn page(filter: Option<Filter>, start_index: u64, count: u64) -> Self {
        Self {
            filter,
            start_index,
            count,
            sort_by: None,
            descending: false,
        }
    }
}

/// A SCIM group as stored. `resource` holds what the IdP wrote except `members`, which
/// are rows (a 10,000-member group is never one JSON array rewritten per change).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupRecord {
    pub id: String,
    #[sqlx(try_from = "TextColumn")]
    pub resource: Value,
    pub version: i64,
    #[sqlx(rename = "created_at", try_from = "TextColumn")]
    pub created: DateTime<Utc>,
    #[sqlx(try_from = "TextColumn")]
    pub last_modified: DateTime<Utc>,
}

/// A group update ([`super::GroupStore::update_group`]): the group at its next version
/// and what becomes of its membership.
#[derive(Debug, Clone, Copy)]
pub struct GroupWrite<'a> {
    pub group: &'a GroupRecord,
    /// `Some(set)` makes the membership exactly `set`, enqueuing jobs for the users added
    /// and removed; `None` leaves it.
    pub members: Option<&'a [String]>,
    /// Enqueues every member (old and new), for a change that can alter what the group
    /// grants (a rename).
    pub resync_all: bool,
}

impl<'a> GroupWrite<'a> {
    /// `group` alone: the membership left as it is, no member resynced.
    pub fn of(group: &'a GroupRecord) -> Self {
        Self {
            group,
            members: None,
            resync_all: false,
        }
    }

    /// The membership becomes exactly `set`.
    pub fn with_members(self, set: &'a [String]) -> Self {
        Self {
            members: Some(set),
            ..self
        }
    }

    /// Every member, old and new, is resynced.
    pub fn resyncing_all(self) -> Self {
        Self {
            resync_all: true,
            ..self
        }
    }
}

/// A member as a group lists it: the user's id and a display text (its displayName,
/// else its userName). Decoded straight from its row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Member {
    pub user_id: String,
    pub display: String,
}

/// A group a user is in, as the user's read-only `groups` attribute and the role
/// mapping need it. Decoded straight from its row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

/// What a `sync_user` job is for: bring one user's upstream roles, scope and accounts to
/// what its groups say.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserSync {
    pub tenant: String,
    pub user_id: String,
}

/// A `sync_user` job. Jobs are coalesced: a user has at most one `pending` job.
pub type Job = Queued<UserSync, JobState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(JobState::Pending),
            "running" => Some(JobState::Running),
            "failed" => Some(JobState::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListPage<T> {
    pub total: u64,
    pub items: Vec<T>,
}

/// What a listing answers: a page of `T`, or the store's error.
pub type Listing<T> = Result<ListPage<T>, StoreError>;

/// One provisioning action and what the upstream did with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub tenant: String,
    /// Id of the credential that made the change (never its value).
    pub actor: String,
    pub resource_type: String,
    pub resource_id: String,
    pub action: String,
    /// `ok`, `error`, `skipped`, ...
    pub outcome: String,
    pub detail: Value,
}

/// Case folding for the indexed, case-insensitive columns (userName, emails). Done in
/// Rust on both write and query, so SQLite and PostgreSQL fold identically.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The one text form of timestamps in the database: UTC, fixed width, so that text order
/// is time order and SQL can compare `meta.lastModified` directly.
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::Database(format!("bad timestamp {text:?} in the database: {e}")))
}

/// The values of the users table's indexed columns, derived from the resource in one
/// place so that neither store can let them drift from what the IdP wrote.
pub(crate) struct UserColumns {
    pub user_name: String,
    pub external_id: Option<String>,
    /// Case-folded.
    pub display_name: Option<String>,
    pub active: bool,
    /// Case-folded, sorted, without duplicates.
    pub emails: Vec<String>,
}

impl UserColumns {
    pub fn of(resource: &Value) -> Self {
        let text = |key: &str| {
            resource
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut emails: Vec<String> = resource
            .get("emails")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| e.get("value").and_then(Value::as_str))
                    .map(fold)
                    .collect()
            })
            .unwrap_or_default();
        emails.sort();
        emails.dedup();
        Self {
            user_name: text("userName").unwrap_or_default(),
            external_id: text("externalId"),
            display_name: text("displayName").map(|d| fold(&d)),
            active: resource
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            emails,
        }
    }
}

/// The document a filter is evaluated against when SQL cannot answer it: what the IdP
/// wrote plus the server-set `id` and `meta` dates, as the IdP would read them back.
pub fn filter_view(user: &UserRecord) -> Value {
    view_of(
        &user.resource,
        &user.id,
        "User",
        &user.meta.created,
        &user.meta.last_modified,
    )
}

/// The document a group filter is evaluated against in memory: without members (they
/// are rows; member filters are answered in SQL).
pub fn group_filter_view(group: &GroupRecord) -> Value {
    view_of(
        &group.resource,
        &group.id,
        "Group",
        &group.created,
        &group.last_modified,
    )
}

fn view_of(
    resource: &Value,
    id: &str,
    resource_type: &str,
    created: &DateTime<Utc>,
    modified: &DateTime<Utc>,
) -> Value {
    let mut doc = resource.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String(id.to_string()));
        obj.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": resource_type,
                "created": created.to_rfc3339(),
                "lastModified": modified.to_rfc3339(),
            }),
        );
    }
    doc
}

/// The key an in-memory `sortBy` orders by: the attribute's text, case-folded; for a
/// multi-valued attribute the primary (else first) element's. Missing values sort last.
pub fn sort_key(view: &Value, path: &AttrPath) -> (bool, String) {
    fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    let scope = match &path.schema {
        Some(urn) if !urn.to_ascii_lowercase().contains(":core:") => field(view, urn),
        _ => Some(view),
    };
    let mut value = scope.and_then(|s| field(s, &path.attr));
    if let Some(Value::Array(items)) = value {
        value = items
            .iter()
            .find(|i| field(i, "primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| items.first());
    }
    if let Some(sub) = &path.sub_attr {
        value = value.and_then(|v| field(v, sub));
    } else if let Some(Value::Object(_)) = value {
        value = value.and_then(|v| field(v, "value"));
    }
    match value {
        None | Some(Value::Null) => (true, String::new()),
        Some(Value::String(s)) => (false, fold(s)),
        Some(other) => (false, other.to_string()),
    }
}

/// An upstream create the bridge started for a userName and has not seen through: the
/// user it was for, the SCIM id it would have (or has), and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateIntent {
    /// The userName, folded as the store compares it.
    pub username: String,
    pub scim_id: String,
    pub created_at: DateTime<Utc>,
}

impl CreateIntent {
    /// An upstream create of `username` as `scim_id`, starting now.
    pub fn now(username: &str, scim_id: &str) -> Self {
        Self {
            username: fold(username),
            scim_id: scim_id.to_string(),
            created_at: Utc::now(),
        }
    }
}
