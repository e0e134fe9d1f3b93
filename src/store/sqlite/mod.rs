//! The embedded default store: one SQLite file in WAL mode. The store's logic and
//! statements are shared ([`super::sql`]); this module opens the database and is the
//! SQLite side of [`Backend`]: write transactions begin `IMMEDIATE` (SQLite has one
//! writer, so that is all the row locking it needs), lists of ids are bound as one JSON
//! array read with `json_each`, and point reads run on the calling thread ([`point`]).
pub mod point;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::sql::cursor::Cursors;
use super::sql::{sqlx_conn, Arg, Backend, Dialect, Stmt};
use super::{SharedLock, StoreError};

pub struct SqliteStore {
    pool: SqlitePool,
    /// `None` for an in-memory database; point reads then use the pool.
    point: Option<point::PointReader>,
    /// Keyset positions of recent listings.
    cursors: Cursors,
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

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
        let point = point::PointReader::for_file(connect.get_filename());
        let store = Self {
            pool,
            point,
            cursors: Cursors::default(),
        };
        store.migrated(options.migrate).await
    }
}
/// A list is bound as one JSON array text, read as rows by `json_each`.
pub(crate) fn json_list<T: serde::Serialize>(list: &[T]) -> Result<String, sqlx::Error> {
    serde_json::to_string(list).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

sqlx_conn!(Sqlite, SqliteConnection, list => json_list(list)?);

#[async_trait]
impl Backend for SqliteStore {
    type Db = Sqlite;
    const DIALECT: Dialect = Dialect {
        row_locks: false,
        // An admission's transaction begins `IMMEDIATE`, holding SQLite's one write lock.
        guard_lock: None,
        texts: "(SELECT value AS id FROM json_each(${n})) AS list",
        ints: "(SELECT value AS id FROM json_each(${n})) AS list",
        json_text: "json_extract({column}, '$.{key}')",
        has_migrations:
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        // Read on the point reader's watch connection ([`Backend::change_marker`]).
        change_marker: None,
        json_rows: "(SELECT json_group_array(json_array({columns})) FROM ({rows}) AS r)",
    };

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// `IMMEDIATE`: the write lock is taken at the start, so a transaction that reads
    /// before it writes never fails on a commit made in between (`SQLITE_BUSY_SNAPSHOT`);
    /// it waits its turn (busy timeout) instead.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn cursors(&self) -> &Cursors {
        &self.cursors
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

    /// `PRAGMA data_version` of the point reader's watch connection; none in memory.
    async fn change_marker(&self) -> Result<Option<String>, StoreError> {
        let version = self.point.as_ref().map(point::PointReader::data_version);
        Ok(version.transpose()?.map(|v| v.to_string()))
    }
}
