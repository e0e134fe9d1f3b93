//! The store several replicas share: PostgreSQL.
//!
//! Same tables, statements and semantics as SQLite ([`super::sql`]); this module opens
//! the pool and is the PostgreSQL side of [`Backend`], which is how replicas are kept
//! from stepping on each other:
//! - jobs and deprovisions are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent
//!   claimers never get the same row;
//! - user and group writes check the row version in the `UPDATE`'s `WHERE`, which
//!   PostgreSQL re-evaluates after waiting for a concurrent writer's row lock, so two
//!   replicas never both apply an update on the same version;
//! - a user write, which calls the upstream between its read and its write, also holds
//!   a transaction-scoped advisory lock on the user ([`LockStore::lock`]), so neither
//!   another replica's write nor a worker's role sync interleaves with it upstream; a
//!   deprovision admission holds one on its tenant's guard;
//! - member sets travel as one `text[]` (`UNNEST`), so a 10,000-member change is a
//!   handful of statements.
//!
//! Timestamps are stored as TEXT in [`super::timestamp`]'s fixed format rather than
//! TIMESTAMPTZ, so that the filter translation shared with SQLite
//! ([`super::sql_filter`]) compares `meta.lastModified` unchanged, and job due times
//! and leases compare the same way on both databases.
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::sql::cursor::Cursors;
use super::sql::{sqlx_conn, Arg, Backend, Conn, Dialect, Stmt};
#[cfg(doc)]
use super::LockStore;
use super::{SharedLock, StoreError};

/// A pool on one PostgreSQL database (or one schema of it, see [`Self::open_in_schema`]).
pub struct PostgresStore {
    pool: PgPool,
    /// Connections that hold a transaction-scoped advisory lock for [`LockStore::lock`]
    /// while a user write calls the upstream. Separate from `pool` so that a request
    /// holding a lock can always get a query connection: with one pool, N writers
    /// holding its N connections as locks would each wait for an (N+1)th forever.
    /// Opened lazily: a replica that never writes never connects it.
    locks: PgPool,
    /// Keyset positions of recent listings.
    cursors: Cursors,
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a write waits for another replica's lock on the same resource before it
/// fails (503, and the IdP retries). A holder is bounded by the upstream's request
/// timeout and retries, so this is generous.
const LOCK_TIMEOUT: &str = "30s";

/// A transaction-scoped advisory lock on the 64-bit hash of `$1` (a collision only
/// serialises two unrelated writes).
const ADVISORY_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
const TRY_ADVISORY_LOCK: &str = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))";

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`), runs the migrations and keeps
    /// a pool of at most `max_connections`. Replicas may call this at the same time:
    /// sqlx serialises migrations with an advisory lock.
    ///
    /// The URL may set the schema: `?options=-c%20search_path%3Dbridge` (sqlx passes
    /// `options` to the server at connect), so several bridges can share one database.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::open_with(url, &super::OpenOptions::new(max_connections)).await
    }

    /// Like [`Self::open`], migrating or only checking the migrations as `options` say.
    pub async fn open_with(url: &str, options: &super::OpenOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)?;
        Self::open_with_options(connect, options).await
    }

    /// Like [`Self::open_with`], with connect options built by the caller (TLS,
    /// application name, `search_path`, ...).
    pub async fn open_with_options(
        connect: PgConnectOptions,
        options: &super::OpenOptions,
    ) -> Result<Self, StoreError> {
        let pool_options = || {
            PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                // No ping before each use: it is a round trip per statement, as much as a
                // point read itself. A connection the server dropped (a restart, a
                // failover) fails its next statement instead; sqlx then closes it, the
                // request answers 503 and the IdP retries on a fresh connection.
                .test_before_acquire(false)
        };
        let pool = pool_options().connect_with(connect.clone()).await?;
        let locks = pool_options().connect_lazy_with(connect);
        let store = Self {
            pool,
            locks,
            cursors: Cursors::default(),
        };
        store.migrated(options.migrate).await
    }

    /// Opens the store inside `schema` of the database at `url`, creating the schema if
    /// needed; every connection gets `search_path = schema`, so the tables (and sqlx's
    /// migration bookkeeping) live there. Tests use it to give each case a fresh,
    /// isolated database in one server; it also lets several bridges share a database.
    /// `schema` must be a plain identifier (letters, digits, `_`).
    pub async fn open_in_schema(
        url: &str,
        schema: &str,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::create_schema(url, schema).await?;
        let connect = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
        Self::open_with_options(connect, &super::OpenOptions::new(max_connections)).await
    }

    /// Creates `schema` if it does not exist (a URL with `search_path` set to it then
    /// opens a store there).
    pub async fn create_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        on_schema(url, schema, "CREATE SCHEMA IF NOT EXISTS {schema}").await
    }

    /// Drops `schema` and everything in it (the counterpart of [`Self::open_in_schema`]
    /// for tests). Close the stores opened in it first.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        on_schema(url, schema, "DROP SCHEMA IF EXISTS {schema} CASCADE").await
    }

    /// The pool, for callers that need to close it before dropping a schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Runs `sql` with `{schema}` replaced by the quoted schema name, on a connection of its
/// own to the server at `url`.
async fn on_schema(url: &str, schema: &str, sql: &str) -> Result<(), StoreError> {
    check_identifier(schema)?;
    let options = PgConnectOptions::from_str(url)?;
    let mut conn = PgConnection::connect_with(&options).await?;
    let sql = sql.replace("{schema}", &format!("\"{schema}\""));
    conn.execute(Stmt::new(sql)).await?;
    conn.close().await?;
    Ok(())
}

/// Schema names are spliced into SQL (they cannot be bound), so only plain identifiers
/// are accepted.
fn check_identifier(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Database(format!(
            "{name:?} is not a plain schema name"
        )))
    }
}

sqlx_conn!(Postgres, PgConnection, list => list.as_slice());

#[async_trait]
impl Backend for PostgresStore {
    type Db = Postgres;
    const DIALECT: Dialect = Dialect {
        row_locks: true,
        guard_lock: Some(ADVISORY_LOCK),
        texts: "(SELECT UNNEST(${n}::text[]) AS id) AS list",
        ints: "(SELECT UNNEST(${n}::bigint[]) AS id) AS list",
        json_text: "({column}::json ->> '{key}')",
        // `to_regclass` resolves through search_path, as sqlx's own bookkeeping does.
        has_migrations: "SELECT 1 WHERE to_regclass('_sqlx_migrations') IS NOT NULL",
        // `json_agg` keeps the order of a sorted subquery it reads.
        // The current snapshot (`xmin:xmax:in-progress`): the same text means no
        // transaction of the server has taken a transaction id (begun writing) or ended
        // since, so nothing can have changed. Advisory locks and reads take no id.
        change_marker: Some("SELECT pg_current_snapshot()::text"),
        json_rows: "(SELECT COALESCE(json_agg(json_build_array({columns})), '[]')::text \
             FROM ({rows}) AS r)",
    };

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn cursors(&self) -> &Cursors {
        &self.cursors
    }

    /// A transaction on the lock pool holding [`ADVISORY_LOCK`] on `key`. Transaction-
    /// scoped rather than session-scoped so that no path can leak it: dropping the
    /// guard, even when the request's future is cancelled, rolls the transaction back
    /// and the server releases the lock; a replica that dies releases it with its
    /// connection.
    async fn shared_lock(&self, key: &str) -> Result<SharedLock, StoreError> {
        let mut tx = self.locks.begin().await?;
        let timeout = format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'");
        tx.execute(Stmt::new(timeout)).await?;
        tx.execute(Stmt::new(ADVISORY_LOCK).text(key)).await?;
        Ok(SharedLock::held(tx))
    }

    /// The same lock without waiting, held until the guard drops.
    async fn try_shared_lock(&self, key: &str) -> Result<Option<SharedLock>, StoreError> {
        let mut tx = self.locks.begin().await?;
        let (taken,): (bool,) = tx.fetch_one(Stmt::new(TRY_ADVISORY_LOCK).text(key)).await?;
        Ok(taken.then(|| SharedLock::held(tx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_must_be_plain() {
        assert!(check_identifier("suite_ab12").is_ok());
        for bad in ["x\"; DROP", "", "1abc"] {
            assert!(check_identifier(bad).is_err(), "{bad:?}");
        }
    }
}
