//! The store written once for both SQL databases.
//!
//! Each aggregate's file (users, groups, jobs, deprovisions, audit) holds its statement
//! texts and the logic around them, generic over a [`Backend`]; `queue.rs` those the
//! three work queues share (claim, leases, listing, finishing). Statements use numbered
//! `$n` placeholders, which PostgreSQL and SQLite both read (sqlx binds SQLite's `$n` by
//! number, so one value may stand at several places). The backend supplies only what the
//! databases really do differently: how a transaction begins, the row-locking clauses,
//! how a list of ids is bound and read as rows, JSON access, and the cross-process locks.
mod admin;
mod audit;
pub(crate) mod cursor;
mod deprovisions;
mod groups;
mod jobs;
pub(crate) mod list;
mod queue;
pub(crate) mod rows;
pub mod unique;
mod users;

use std::borrow::Cow;

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Pool, Transaction};

use super::sqlite::point::PointReader;
use super::{SharedLock, StoreError};

/// A value bound to a statement. Owned, so that a statement can be built by shared code
/// and bound by either backend.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    /// A list of texts, read back as rows by [`Backend::texts`].
    Texts(Vec<String>),
    /// A list of integers, read back as rows by [`Backend::ints`].
    Ints(Vec<i64>),
}

/// A statement text and its values in placeholder order (`$1` is the first).
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub fn text(self, value: &str) -> Self {
        self.arg(Arg::Text(Some(value.to_string())))
    }

    pub fn opt_text(self, value: Option<&str>) -> Self {
        self.arg(Arg::Text(value.map(str::to_string)))
    }

    pub fn int(self, value: i64) -> Self {
        self.arg(Arg::Int(Some(value)))
    }

    pub fn opt_int(self, value: Option<i64>) -> Self {
        self.arg(Arg::Int(value))
    }

    pub fn flag(self, value: bool) -> Self {
        self.arg(Arg::Bool(value))
    }

    pub fn texts(self, values: &[String]) -> Self {
        self.arg(Arg::Texts(values.to_vec()))
    }

    pub fn ints(self, values: &[i64]) -> Self {
        self.arg(Arg::Ints(values.to_vec()))
    }

    fn arg(mut self, arg: Arg) -> Self {
        self.args.push(arg);
        self
    }
}

/// A row type both databases decode the same way (the derived `FromRow` of the structs
/// in [`rows`]).
pub trait Decode:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Decode for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// One connection of either database (inside a transaction or not).
#[async_trait]
pub trait Conn: Send {
    /// Rows affected.
    async fn execute(&mut self, stmt: Stmt) -> Result<u64, sqlx::Error>;
    async fn fetch_all<T: Decode>(&mut self, stmt: Stmt) -> Result<Vec<T>, sqlx::Error>;

    /// The first row, for statements that find at most one (by key, `RETURNING` of one
    /// row, an aggregate).
    async fn fetch_optional<T: Decode>(&mut self, stmt: Stmt) -> Result<Option<T>, sqlx::Error> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    async fn fetch_one<T: Decode>(&mut self, stmt: Stmt) -> Result<T, sqlx::Error> {
        self.fetch_optional(stmt)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of each row, as text (ids).
    async fn fetch_ids(&mut self, stmt: Stmt) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = self.fetch_all(stmt).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// A `SELECT COUNT(*)`, never negative.
    async fn count(&mut self, stmt: Stmt) -> Result<u64, sqlx::Error> {
        let (n,): (i64,) = self.fetch_one(stmt).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Implements [`Conn`] for `$connection`, the connection of sqlx database `$db`, binding lists with
/// `$bind_list` (the only part that differs: PostgreSQL binds an array, SQLite a JSON
/// array text).
macro_rules! sqlx_conn {
    ($db:ty, $connection:ty, $list:ident => $bind_list:expr) => {
        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        fn query(stmt: &Stmt) -> Result<Query<'_>, sqlx::Error> {
            let mut query = sqlx::query(&stmt.sql);
            for arg in &stmt.args {
                query = match arg {
                    Arg::Text(text) => query.bind(text.as_deref()),
                    Arg::Int(n) => query.bind(*n),
                    Arg::Bool(b) => query.bind(*b),
                    Arg::Texts($list) => query.bind($bind_list),
                    Arg::Ints($list) => query.bind($bind_list),
                };
            }
            Ok(query)
        }

        #[async_trait::async_trait]
        impl $crate::store::sql::Conn for $connection {
            async fn execute(&mut self, stmt: Stmt) -> Result<u64, sqlx::Error> {
                Ok(query(&stmt)?.execute(self).await?.rows_affected())
            }

            async fn fetch_all<T: $crate::store::sql::Decode>(
                &mut self,
                stmt: Stmt,
            ) -> Result<Vec<T>, sqlx::Error> {
                let rows = query(&stmt)?.fetch_all(self).await?;
                rows.iter().map(T::from_row).collect()
            }
        }
    };
}
pub(crate) use sqlx_conn;

/// The SQL that differs between the databases.
#[derive(Debug)]
pub struct Dialect {
    /// Whether a `SELECT` can lock the rows it reads until commit (`FOR UPDATE`); where
    /// it cannot, a write transaction already excludes every other writer.
    pub row_locks: bool,
    /// Run first in a deprovision admission's transaction with the tenant's guard key as
    /// `$1`, so admissions of one tenant are serialised; `None` where the transaction
    /// already serialises writers.
    pub guard_lock: Option<&'static str>,
    /// A FROM item `list` with one column `id`: the rows of the text list ([`Arg::Texts`])
    /// bound at `${n}`.
    pub texts: &'static str,
    /// The same for an integer list ([`Arg::Ints`]).
    pub ints: &'static str,
    /// The text at `{key}` of the JSON object text in `{column}`.
    pub json_text: &'static str,
    /// A row when sqlx's migration bookkeeping table exists, none otherwise.
    pub has_migrations: &'static str,
    /// A statement answering one text that differs whenever a commit may have changed
    /// the database since it was last read (see [`Backend::change_marker`]); run on the
    /// list's own connection, so a list never holds one pooled connection while waiting
    /// for another. `None` where the backend tells it otherwise.
    pub change_marker: Option<&'static str>,
    /// A scalar subquery: the rows of the query `{rows}` (aliased `r`) as one JSON
    /// array text of arrays of `{columns}`, in the query's order. Lets a point read
    /// bring a row and its children in one statement.
    pub json_rows: &'static str,
}

impl Dialect {
    /// Appended to a `SELECT` that must lock its rows until commit.
    pub fn for_update(&self) -> &'static str {
        if self.row_locks {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// Appended to a claim's `SELECT`, so concurrent claimers skip each other's rows.
    pub fn skip_locked(&self) -> &'static str {
        if self.row_locks {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        }
    }

    pub fn texts(&self, at: usize) -> String {
        numbered(self.texts, at)
    }

    pub fn ints(&self, at: usize) -> String {
        numbered(self.ints, at)
    }

    pub fn json_rows(&self, columns: &str, rows: &str) -> String {
        self.json_rows
            .replace("{columns}", columns)
            .replace("{rows}", rows)
    }

    pub fn json_text(&self, column: &str, key: &str) -> String {
        self.json_text
            .replace("{column}", column)
            .replace("{key}", key)
    }
}

/// `template` with its placeholder `${n}` numbered `at`.
fn numbered(template: &str, at: usize) -> String {
    template.replace("{n}", &at.to_string())
}

/// What one database does differently; everything else is shared.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    type Db: sqlx::Database<Connection: Conn + Migrate>;
    const DIALECT: Dialect;

    /// This database's migrations folder.
    fn migrator() -> &'static Migrator;

    fn pool(&self) -> &Pool<Self::Db>;

    /// A write transaction.
    async fn begin(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error> {
        self.pool().begin().await
    }

    async fn acquire(&self) -> Result<PoolConnection<Self::Db>, sqlx::Error> {
        self.pool().acquire().await
    }

    /// The store opened on its pool, once its pending migrations are applied; or, when
    /// `migrate` is false, once it is known to lack none of them (see
    /// [`super::OpenOptions::migrate`]).
    async fn migrated(self, migrate: bool) -> Result<Self, StoreError>
    where
        Self: Sized,
    {
        let migrator = Self::migrator();
        if migrate {
            migrator
                .run(self.pool())
                .await
                .map_err(|e| StoreError::Database(e.to_string()))?;
            return Ok(self);
        }
        let mut conn = self.acquire().await?;
        let has_table: Option<(i32,)> = conn
            .fetch_optional(Stmt::new(Self::DIALECT.has_migrations))
            .await?;
        let applied: Vec<(i64,)> = match has_table {
            Some(_) => {
                let applied = "SELECT version FROM _sqlx_migrations WHERE success";
                conn.fetch_all(Stmt::new(applied)).await?
            }
            None => vec![],
        };
        drop(conn);
        let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
        super::require_migrated(migrator, &applied)?;
        Ok(self)
    }

    /// See [`super::LockStore::lock`].
    async fn shared_lock(&self, key: &str) -> Result<SharedLock, StoreError>;
    /// See [`super::LockStore::try_lock`].
    async fn try_shared_lock(&self, key: &str) -> Result<Option<SharedLock>, StoreError>;

    /// Where recent pages of listings ended, for keyset paging ([`cursor`]).
    fn cursors(&self) -> &cursor::Cursors;

    /// Connections for reads answered on the calling thread, if this backend has them.
    fn point(&self) -> Option<&PointReader> {
        None
    }

    /// A value that differs from the one read before whenever a commit (by this process
    /// or any other) may have changed the database in between, so a count taken after
    /// reading it stays right while it stays the same ([`cursor`]). `None` where there
    /// is no such value (every page then counts) or where [`Dialect::change_marker`]
    /// reads it.
    async fn change_marker(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}

/// Runs one statement on a pooled connection.
pub(crate) async fn execute<B: Backend>(backend: &B, stmt: Stmt) -> Result<u64, StoreError> {
    Ok(backend.acquire().await?.execute(stmt).await?)
}

/// Runs a statement that must touch a row: `NotFound` when it touched none.
pub(crate) async fn execute_found<B: Backend>(backend: &B, stmt: Stmt) -> Result<(), StoreError> {
    match execute(backend, stmt).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub(crate) async fn fetch_all<B: Backend, T: Decode>(
    backend: &B,
    stmt: Stmt,
) -> Result<Vec<T>, StoreError> {
    Ok(backend.acquire().await?.fetch_all(stmt).await?)
}

pub(crate) async fn fetch_optional<B: Backend, T: Decode>(
    backend: &B,
    stmt: Stmt,
) -> Result<Option<T>, StoreError> {
    Ok(backend.acquire().await?.fetch_optional(stmt).await?)
}

/// The text in the first column of the row `stmt` finds, if any (an id).
pub(crate) async fn fetch_id<B: Backend>(
    backend: &B,
    stmt: Stmt,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = fetch_optional(backend, stmt).await?;
    Ok(row.map(|(id,)| id))
}

/// After an `UPDATE ... WHERE version = $v` touched nothing: was the row gone, or was it
/// changed by someone else?
pub(crate) async fn missing_or_stale<C: Conn>(
    conn: &mut C,
    table: &str,
    tenant: &str,
    id: &str,
) -> Result<StoreError, StoreError> {
    let exists: Option<(i32,)> = conn
        .fetch_optional(
            Stmt::new(format!(
                "SELECT 1 FROM {table} WHERE tenant = $1 AND id = $2"
            ))
            .text(tenant)
            .text(id),
        )
        .await?;
    Ok(if exists.is_some() {
        StoreError::VersionMismatch
    } else {
        StoreError::NotFound
    })
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(e.to_string()))
}

/// The end of a lease of `lease` from `now` (far in the future if it overflows).
pub(crate) fn lease_end(
    now: chrono::DateTime<chrono::Utc>,
    lease: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

#[async_trait]
impl<B: Backend> super::LockStore for B {
    async fn ping(&self) -> Result<(), StoreError> {
        execute(self, Stmt::new("SELECT 1")).await?;
        Ok(())
    }

    async fn lock(&self, key: &str) -> Result<SharedLock, StoreError> {
        self.shared_lock(key).await
    }

    async fn try_lock(&self, key: &str) -> Result<Option<SharedLock>, StoreError> {
        self.try_shared_lock(key).await
    }
}
