//! Persistence of the bridge's state: SCIM resources as JSON with indexed columns, the
//! link of each SCIM user to its upstream user, create intents, and the audit log.
//! One trait, one module per database, one migrations folder per database.
pub mod admin;
pub mod deprovision;
pub mod postgres;
pub mod sql_filter;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use admin::{AdminStore, AuditQuery, NewNotification, Notification, NotificationState};
pub use deprovision::{
    Admission, Deprovision, DeprovisionAction, DeprovisionState, GuardLimit, NewDeprovision,
};

use crate::scim::filter::{AttrPath, Filter};
use crate::upstream::AccountScope;

/// A SCIM user as stored. `resource` holds what the IdP wrote (never `id`, `meta` or the
/// password); the rest is the bridge's.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub resource: Value,
    pub version: i64,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub link: UpstreamLink,
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
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: String,
    pub resource: Value,
    pub version: i64,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// A member as a group lists it: the user's id and a display text (its displayName,
/// else its userName).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub display: String,
}

/// A group a user is in, as the user's read-only `groups` attribute and the role
/// mapping need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

/// A `sync_user` job: bring one user's upstream roles, scope and accounts to what its
/// groups say. Jobs are coalesced: a user has at most one `pending` job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub tenant: String,
    pub user_id: String,
    pub state: JobState,
    /// Claims so far, including the current one.
    pub attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
}

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint (userName per tenant, externalId) refused the write.
    #[error("{0} is already taken")]
    Conflict(String),
    /// The record changed since it was read (optimistic concurrency).
    #[error("the resource was modified concurrently")]
    VersionMismatch,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                let message = db.message();
                let what = if message.contains("external") {
                    "externalId"
                } else if message.contains("display") {
                    "displayName"
                } else {
                    "userName"
                };
                return StoreError::Conflict(what.into());
            }
        }
        StoreError::Database(e.to_string())
    }
}

/// Every capability a running bridge needs of its database.
#[async_trait]
pub trait Store: AdminStore + Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;

    /// Serialises the read-modify-write of `key` (a user, a userName being created)
    /// across every process sharing this store, until the guard drops. The default is
    /// no lock, for a store only one process opens (SQLite); the caller also holds an
    /// in-process lock on the same key, so one process waits on itself locally and
    /// takes at most one shared lock per key.
    async fn lock(&self, key: &str) -> Result<SharedLock, StoreError> {
        let _ = key;
        Ok(SharedLock::local())
    }

    /// Like [`Store::lock`] without waiting: `None` when another process holds `key`.
    /// For work that one process at a time should do and the others may skip (the
    /// periodic reconcile).
    async fn try_lock(&self, key: &str) -> Result<Option<SharedLock>, StoreError> {
        let _ = key;
        Ok(Some(SharedLock::local()))
    }

    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError>;
    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Writes `user` if the stored version is still `user.version - 1`.
    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError>;
    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    async fn list_users(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<UserRecord>, StoreError>;
    /// The SCIM id that links to this upstream user, if any (adoption must not link twice).
    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Records that an upstream create for `username` is about to be attempted under
    /// `scim_id`. If the answer is lost, the IdP's retry finds the intent and links the
    /// upstream user instead of answering 409 or creating a second one.
    async fn put_create_intent(
        &self,
        tenant: &str,
        username: &str,
        scim_id: &str,
    ) -> Result<(), StoreError>;
    async fn create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_audit(&self, tenant: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// Writes what the bridge saw upstream without touching the SCIM resource or its
    /// version (the worker's outcome is not an IdP change, so the ETag stays).
    async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError>;
    /// Which of `ids` are users of this tenant (member validation).
    async fn existing_users(&self, tenant: &str, ids: &[String])
        -> Result<Vec<String>, StoreError>;
    /// The groups a user is in, ordered by display name.
    async fn user_groups(&self, tenant: &str, user_id: &str) -> Result<Vec<GroupRef>, StoreError>;

    // Groups. Every write below enqueues, in the same transaction, a `sync_user` job for
    // each user whose memberships changed, so a crash can never lose a role change.

    /// Inserts the group and its members (all must be users of the tenant) and enqueues
    /// a job per member. `Conflict` on a taken displayName (case-insensitive) or externalId.
    async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError>;
    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// Indexed: id, displayName, externalId, meta.lastModified, members.value (and
    /// `members[value eq ...]`); other filters are evaluated on the resource without members.
    async fn list_groups(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<GroupRecord>, StoreError>;
    /// Ordered by user id.
    async fn group_members(&self, tenant: &str, group_id: &str) -> Result<Vec<Member>, StoreError>;
    /// Writes `group` if the stored version is still `group.version - 1`
    /// (`VersionMismatch`/`NotFound` otherwise). `members: Some(set)` makes the membership
    /// exactly `set`, enqueuing jobs for the users added and removed; `None` leaves it.
    /// `resync_all` enqueues every member (old and new), for a change that can alter
    /// what the group grants (a rename).
    async fn update_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: Option<&[String]>,
        resync_all: bool,
    ) -> Result<(), StoreError>;
    /// Deletes the group and its memberships, enqueuing a job per former member.
    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;

    // Jobs.

    /// Enqueues a job per user unless it already has a pending one; returns how many
    /// were new. (Deleting a user removes its memberships and its jobs.)
    async fn enqueue_user_syncs(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError>;
    /// Claims up to `limit` jobs whose `run_at` has come: pending ones, and running ones
    /// whose lease expired (a crashed worker's). Claimed jobs are `running` with a lease
    /// of `lease` and `attempts` + 1. Safe to call from several replicas at once.
    async fn claim_jobs(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>, StoreError>;
    /// The job is done: it is removed, and so are earlier `failed` jobs of the same user.
    async fn complete_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Back to pending at `run_at` with the error kept; removed instead if the user
    /// already has another pending job (that one will do the work).
    async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Out of retries: `failed`, with the error, until `requeue_failed`.
    async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError>;
    /// How many jobs each tenant has in each state (states with none are left out).
    async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError>;
    /// Oldest first; `None` = every tenant / every state.
    async fn list_jobs(
        &self,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    /// Failed jobs (all of the tenant's, or the one with `job_id`) become pending now.
    async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError>;

    // Deprovisions under the mass-deprovision guard (see `deprovision.rs`).

    /// Records `request` and decides, atomically across replicas, whether it runs now
    /// (fewer than `limit.max` in the window and none held) or is held. Forgets `done`
    /// rows older than the window.
    async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError>;
    /// Held deprovisions of the tenant (all, or the one with `id`) become pending now,
    /// for the worker; returns how many.
    async fn approve_deprovisions(&self, tenant: &str, id: Option<i64>) -> Result<u64, StoreError>;
    /// Oldest first; `None` = every tenant / every state.
    async fn list_deprovisions(
        &self,
        tenant: Option<&str>,
        state: Option<DeprovisionState>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError>;
    /// Claims approved deprovisions that are due, and running ones whose lease expired,
    /// as [`Store::claim_jobs`] does for jobs.
    async fn claim_deprovisions(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<Deprovision>, StoreError>;
    /// The worker's outcome: `Ok` = done; `Err((error, Some(at)))` = pending again at
    /// `at`; `Err((error, None))` = failed for good.
    async fn finish_deprovision(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError>;
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
    let mut doc = user.resource.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String(user.id.clone()));
        obj.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": "User",
                "created": user.created.to_rfc3339(),
                "lastModified": user.last_modified.to_rfc3339(),
            }),
        );
    }
    doc
}

/// The document a group filter is evaluated against in memory: without members (they
/// are rows; member filters are answered in SQL).
pub fn group_filter_view(group: &GroupRecord) -> Value {
    let mut doc = group.resource.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String(group.id.clone()));
        obj.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": "Group",
                "created": group.created.to_rfc3339(),
                "lastModified": group.last_modified.to_rfc3339(),
            }),
        );
    }
    doc
}

/// The total of a listing told by its page alone: a first page that is not full holds
/// every match. Saves the COUNT on the IdPs' most frequent request, the userName lookup.
pub(crate) fn total_from_page(offset: u64, count: u64, page_len: usize) -> Option<u64> {
    (offset == 0 && (page_len as u64) < count).then_some(page_len as u64)
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

/// How to open a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Pool size. PostgreSQL keeps a second pool of at most this size, opened lazily,
    /// for the cross-replica write locks (see [`Store::lock`]).
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails (503), so an
    /// exhausted pool answers instead of hanging the IdP's request.
    pub acquire_timeout: std::time::Duration,
    /// Apply pending migrations. When false, a database that lacks one of this build's
    /// migrations is refused at start, rather than failing later on a missing column:
    /// replicas started with `serve --no-migrate` expect `scim-bridge migrate` ran first.
    pub migrate: bool,
}

impl OpenOptions {
    /// Migrating, with the default 10 s acquire timeout.
    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: std::time::Duration::from_secs(10),
            migrate: true,
        }
    }
}

/// Held while one process reads, changes (upstream too) and writes one resource, so
/// that no other process sharing the store does the same to it in between. Dropping
/// it releases the lock.
pub struct SharedLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl SharedLock {
    /// No cross-process lock: the store belongs to one process, whose in-process
    /// locks suffice.
    pub fn local() -> Self {
        Self(None)
    }

    /// A lock that lasts as long as `held` (for PostgreSQL, a transaction holding an
    /// advisory lock, released by its rollback on drop).
    pub fn held(held: impl Send + 'static) -> Self {
        Self(Some(Box::new(held)))
    }
}

/// Refuses to serve on a database that has not applied every migration this build
/// knows (`applied` are the versions its `_sqlx_migrations` table lists as successful).
pub(crate) fn require_migrated(
    migrator: &sqlx::migrate::Migrator,
    applied: &[i64],
) -> Result<(), StoreError> {
    let missing: Vec<String> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Database(format!(
            "the database lacks migration(s) {}; run `scim-bridge migrate --config FILE` first \
             (or serve without --no-migrate / migrate_on_start = false)",
            missing.join(", ")
        )))
    }
}

/// Opens the store the URL names and runs its migrations.
pub async fn open(
    url: &str,
    max_connections: u32,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    open_with(url, &OpenOptions::new(max_connections)).await
}

/// Opens the store the URL names as `options` say (with or without migrating).
pub async fn open_with(
    url: &str,
    options: &OpenOptions,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open_with(url, options).await?;
        Ok(std::sync::Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PostgresStore::open_with(url, options).await?;
        Ok(std::sync::Arc::new(store))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database URL scheme in {:?}; use sqlite://, postgres:// or postgresql://",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
