//! Point reads (a user by id, by userName or externalId, and a user's groups) answered
//! on the calling thread from a small set of read-only connections.
//!
//! Why not sqlx for these: sqlx runs each SQLite connection on its own thread and passes
//! every statement and row over channels, so a 20 µs index lookup costs several thread
//! hand-offs. Measured with 32 concurrent lookups on 2 cores, those hand-offs were the
//! largest cost and pushed p99 over 5 ms. These reads touch a few index pages, so
//! running them inline blocks a runtime thread for microseconds, which tokio tolerates;
//! anything that may scan stays on the sqlx pool. WAL mode lets these connections read
//! the last commit of the pool's writers without locking them out.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::store::sql::{Arg, Stmt};
use crate::store::StoreError;

/// Idle connections kept; more are opened when needed and closed when returned.
const MAX_IDLE: usize = 8;

pub struct PointReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The one connection asked for `PRAGMA data_version`, whose value is per
    /// connection; opened on first use.
    watch: Mutex<Option<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl PointReader {
    /// `None` for a database that is not a file on disk (in-memory), which another
    /// connection could not see.
    pub fn for_file(path: &Path) -> Option<Self> {
        path.is_file().then(|| Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            watch: Mutex::new(None),
        })
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }

    /// Runs `read` on an idle connection (opening one if none is idle).
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
        let connection = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&connection);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
        result
    }

    /// SQLite's `PRAGMA data_version` on a connection that never writes: it changes
    /// whenever any other connection, of this process or another, commits.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        let mut watch = self
            .watch
            .lock()
            .map_err(|_| StoreError::Database("data_version connection poisoned".into()))?;
        let connection = match watch.take() {
            Some(c) => c,
            None => self.open()?,
        };
        let version = connection
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        *watch = Some(connection);
        Ok(version)
    }

    /// The rows of `stmt` (the same text the pool would run), each read by `row`.
    pub fn fetch_all<S>(
        &self,
        stmt: &Stmt,
        row: fn(&rusqlite::Row) -> Result<S, StoreError>,
    ) -> Result<Vec<S>, StoreError> {
        let values = values(stmt)?;
        self.read(|c| {
            let mut statement = c.prepare_cached(&stmt.sql)?;
            let mut rows = statement.query(rusqlite::params_from_iter(values))?;
            let mut read = Vec::new();
            while let Some(r) = rows.next()? {
                read.push(row(r)?);
            }
            Ok(read)
        })
    }

    /// The number a `SELECT COUNT(*)` statement answers.
    pub fn count(&self, stmt: &Stmt) -> Result<u64, StoreError> {
        let values = values(stmt)?;
        self.read(|c| {
            let n: i64 = c
                .prepare_cached(&stmt.sql)?
                .query_row(rusqlite::params_from_iter(values), |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

/// `stmt`'s values by position. rusqlite binds by position, which matches the numbers
/// of point statements, whose `$n` appear in order.
fn values(stmt: &Stmt) -> Result<Vec<Value>, StoreError> {
    stmt.args
        .iter()
        .map(|arg| {
            Ok(match arg {
                Arg::Text(Some(text)) => Value::Text(text.clone()),
                Arg::Text(None) | Arg::Int(None) => Value::Null,
                Arg::Int(Some(n)) => Value::Integer(*n),
                Arg::Bool(b) => Value::Integer(i64::from(*b)),
                Arg::Texts(list) => Value::Text(super::json_list(list)?),
                Arg::Ints(list) => Value::Text(super::json_list(list)?),
            })
        })
        .collect()
}
