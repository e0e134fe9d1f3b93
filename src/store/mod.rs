//! Persistence of the bridge's state: SCIM resources as JSON with indexed columns, the
//! link of each SCIM user to its upstream user, create intents, sync jobs, the
//! deprovisions the mass-deprovision guard counts, and the audit log.
//!
//! Layout: [`records`] holds what is stored ([`queue`] the one shape of the three work
//! queues: jobs, deprovisions, notifications), [`capabilities`] the traits callers use
//! (one per capability, [`Store`] their sum). [`sql`] implements them once for both
//! databases, one file per aggregate (users, groups, jobs, deprovisions, audit) with
//! each statement written once in `$n` placeholders (SQLite reads them too), the
//! statements the queues share once (`sql/queue.rs`), one list planner and one set of
//! row decoders. What really differs between the databases
//! (advisory locks, `FOR UPDATE SKIP LOCKED`, how a list of ids is bound, JSON access,
//! how a transaction begins) is [`sql::Backend`], implemented by [`sqlite`] and
//! [`postgres`], which otherwise only open their pools. SQLite also answers point reads
//! on the calling thread (`sqlite/point.rs`) with the same statement texts.
//! One migrations folder per database.
pub mod admin;
pub mod capabilities;
pub mod deprovision;
pub mod postgres;
pub mod queue;
pub mod records;
pub mod sql;
pub mod sql_filter;
pub mod sqlite;

pub use admin::{AdminStore, AuditQuery, NewNotification, Notification, NotificationState};
pub use capabilities::{
    AuditStore, DeprovisionStore, GroupStore, JobStore, LockStore, Store, UserStore,
};
pub use deprovision::{
    Admission, Deprovision, DeprovisionAction, DeprovisionState, GuardLimit, NewDeprovision,
};
pub use queue::{Lease, Outcome, QueueFilter, Queued, Retry};
pub(crate) use records::UserColumns;
pub use records::{
    filter_view, fold, group_filter_view, parse_timestamp, sort_key, timestamp, AuditEntry,
    CreateIntent, GroupRecord, GroupRef, GroupWrite, Job, JobState, ListPage, ListQuery, Listing,
    Member, Meta, Prior, SyncState, UpstreamLink, UserRecord, UserSync,
};

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
    /// A unique violation of a known index becomes `Conflict` naming its attribute
    /// (see [`sql::unique`]); anything else is a database error.
    fn from(e: sqlx::Error) -> Self {
        match sql::unique::violated(&e) {
            Some(index) => StoreError::Conflict(index.attribute().into()),
            None => StoreError::Database(e.to_string()),
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Pool size. PostgreSQL keeps a second pool of at most this size, opened lazily,
    /// for the cross-replica write locks (see [`LockStore::lock`]).
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
