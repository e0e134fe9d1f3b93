//! Persistence of the bridge's state: SCIM resources as JSON with indexed columns, the
//! link of each SCIM user to its upstream user, create intents, and the audit log.
//! One trait, one module per database, one migrations folder per database.
mod sql_filter;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scim::filter::Filter;
use crate::target::AccountScope;

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
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "synced",
            SyncState::Pending => "pending",
            SyncState::Failed => "failed",
            SyncState::Deprovisioned => "deprovisioned",
        }
    }
}

/// A list request in the store's terms: the neutral filter, 1-based start, page size.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub start_index: u64,
    pub count: u64,
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
                let what = if db.message().contains("external") {
                    "externalId"
                } else {
                    "userName"
                };
                return StoreError::Conflict(what.into());
            }
        }
        StoreError::Database(e.to_string())
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;

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

/// Opens the store the URL names and runs its migrations.
pub async fn open(
    url: &str,
    max_connections: u32,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open(url, max_connections).await?;
        Ok(std::sync::Arc::new(store))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database URL scheme in {:?}; use sqlite://",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
