//! The embedded default store: one SQLite file in WAL mode. The store's logic and
//! statements are shared ([`super::sql`]); this module opens the database and is the
//! SQLite side of [`Backend`]: write transactions begin `IMMEDIATE` (SQLite has one
//! writer, so that is all the row locking it needs), lists of ids are bound as one JSON
//! array read with `json_each`, and point reads run on the calling thread ([`point`]).
pub mod point;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::sql::{Arg, Backend, Conn, Decode, Stmt};
use super::{SharedLock, StoreError};

pub struct SqliteStore {
    pool: SqlitePool,
    /// `None` for an in-memory database; point reads then use the pool.
    point: Option<point::PointReader>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::open_with(url, &super::OpenOptions::new(max_connections)).await
    }

    pub async fn open_with(url: &str, options: &super::OpenOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a power loss can
            // drop the last commits, and the IdP re-sends those.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A local file cannot hang up; the default ping before every acquire would cost
            // a round trip to the connection's thread on every query (a third of a lookup).
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        if options.migrate {
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Database(e.to_string()))?;
        } else {
            let has_table: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&pool)
            .await?;
            let applied: Vec<i64> = match has_table {
                Some(_) => {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(&pool)
                        .await?
                }
                None => vec![],
            };
            super::require_migrated(&MIGRATOR, &applied)?;
        }
        let point = point::PointReader::for_file(connect.get_filename());
        Ok(Self { pool, point })
    }
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Binds `stmt`'s values; a list is one JSON array (see [`SqliteStore::texts`]).
fn query(stmt: &Stmt) -> Result<Query<'_>, sqlx::Error> {
    let mut query = sqlx::query(&stmt.sql);
    for arg in &stmt.args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_deref()),
            Arg::Int(n) => query.bind(*n),
            Arg::Bool(b) => query.bind(*b),
            Arg::Texts(list) => query.bind(json_list(list)?),
            Arg::Ints(list) => query.bind(json_list(list)?),
        };
    }
    Ok(query)
}

pub(crate) fn json_list<T: serde::Serialize>(list: &[T]) -> Result<String, sqlx::Error> {
    serde_json::to_string(list).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

#[async_trait]
impl Conn for SqliteConnection {
    async fn execute(&mut self, stmt: Stmt) -> Result<u64, sqlx::Error> {
        Ok(query(&stmt)?.execute(self).await?.rows_affected())
    }

    async fn fetch_all<T: Decode>(&mut self, stmt: Stmt) -> Result<Vec<T>, sqlx::Error> {
        let rows = query(&stmt)?.fetch_all(self).await?;
        rows.iter().map(T::from_row).collect()
    }

    async fn fetch_optional<T: Decode>(&mut self, stmt: Stmt) -> Result<Option<T>, sqlx::Error> {
        let row = query(&stmt)?.fetch_optional(self).await?;
        row.as_ref().map(T::from_row).transpose()
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Tx = Transaction<'static, Sqlite>;
    type Pooled = PoolConnection<Sqlite>;

    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    /// An admission's transaction begins `IMMEDIATE`, holding SQLite's one write lock.
    const GUARD_LOCK: Option<&'static str> = None;

    fn texts(at: usize) -> String {
        format!("(SELECT value AS id FROM json_each(${at})) AS list")
    }

    fn ints(at: usize) -> String {
        Self::texts(at)
    }

    fn json_text(column: &str, key: &str) -> String {
        format!("json_extract({column}, '$.{key}')")
    }

    /// `IMMEDIATE`: the write lock is taken at the start, so a transaction that reads
    /// before it writes never fails on a commit made in between (`SQLITE_BUSY_SNAPSHOT`);
    /// it waits its turn (busy timeout) instead.
    async fn begin(&self) -> Result<Self::Tx, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
        tx.commit().await
    }

    async fn acquire(&self) -> Result<Self::Pooled, sqlx::Error> {
        self.pool.acquire().await
    }

    /// No cross-process lock: the store belongs to one process, whose in-process locks
    /// suffice.
    async fn shared_lock(&self, _key: &str) -> Result<SharedLock, StoreError> {
        Ok(SharedLock::local())
    }

    async fn try_shared_lock(&self, _key: &str) -> Result<Option<SharedLock>, StoreError> {
        Ok(Some(SharedLock::local()))
    }

    fn point(&self) -> Option<&point::PointReader> {
        self.point.as_ref()
    }
}
