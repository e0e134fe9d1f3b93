//! The store several replicas share: PostgreSQL.
//!
//! Same tables and semantics as [`super::sqlite`]; what differs is how replicas are kept
//! from stepping on each other:
//! - jobs are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the
//!   same job, and a running job whose lease expired (a crashed replica's) comes back;
//! - coalescing is the partial unique index `jobs_one_pending` with
//!   `INSERT ... ON CONFLICT DO NOTHING`, so two replicas enqueueing for one user still
//!   leave one pending job;
//! - user and group writes check the row version in the `UPDATE`'s `WHERE`, which
//!   PostgreSQL re-evaluates after waiting for a concurrent writer's row lock, so two
//!   replicas never both apply an update on the same version;
//! - a user write, which calls the upstream between its read and its write, also holds
//!   a transaction-scoped advisory lock on the user ([`Store::lock`]), so neither
//!   another replica's write nor a worker's role sync interleaves with it upstream;
//! - a group write and its job enqueues are one transaction, and member sets travel as
//!   one `text[]` (`UNNEST`), so a 10,000-member change is a handful of statements.
//!
//! Timestamps are stored as TEXT in [`super::timestamp`]'s fixed format rather than
//! TIMESTAMPTZ, so that the filter translation shared with SQLite
//! ([`super::sql_filter`]) compares `meta.lastModified` unchanged, and job due times
//! and leases compare the same way on both databases.
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row};

use super::sql_filter::{self, Resource, SqlExpr};
use super::{
    fold, group_filter_view, parse_timestamp, sort_key, timestamp, Admission, AuditEntry,
    Deprovision, DeprovisionState, GroupRecord, GroupRef, GuardLimit, Job, JobState, ListPage,
    ListQuery, Member, NewDeprovision, Store, StoreError, UpstreamLink, UserColumns, UserRecord,
};
use crate::scim::filter::matches;
use crate::scim::schema;

mod admin;
mod deprovisions;

/// A pool on one PostgreSQL database (or one schema of it, see [`Self::open_in_schema`]).
pub struct PostgresStore {
    pool: PgPool,
    /// Connections that hold a transaction-scoped advisory lock for [`Store::lock`]
    /// while a user write calls the upstream. Separate from `pool` so that a request
    /// holding a lock can always get a query connection: with one pool, N writers
    /// holding its N connections as locks would each wait for an (N+1)th forever.
    /// Opened lazily: a replica that never writes never connects it.
    locks: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a write waits for another replica's lock on the same resource before it
/// fails (503, and the IdP retries). A holder is bounded by the upstream's request
/// timeout and retries, so this is generous.
const LOCK_TIMEOUT: &str = "30s";

const USER_COLUMNS: &str = "id, resource, version, created_at, last_modified, link";
const GROUP_COLUMNS: &str = "id, resource, version, created_at, last_modified";
const JOB_COLUMNS: &str = "id, tenant, user_id, state, attempts, run_at, last_error, created_at";
/// [`JOB_COLUMNS`] where another table in the statement also has an `id`.
const JOB_COLUMNS_QUALIFIED: &str =
    "jobs.id, jobs.tenant, jobs.user_id, jobs.state, jobs.attempts, \
     jobs.run_at, jobs.last_error, jobs.created_at";

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
        };
        let pool = pool_options().connect_with(connect.clone()).await?;
        if options.migrate {
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Database(e.to_string()))?;
        } else {
            Self::check_migrated(&pool).await?;
        }
        let locks = pool_options().connect_lazy_with(connect);
        Ok(Self { pool, locks })
    }

    async fn check_migrated(pool: &PgPool) -> Result<(), StoreError> {
        // `to_regclass` resolves through search_path, as sqlx's own bookkeeping does.
        let has_table: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(pool)
                .await?;
        let applied: Vec<i64> = match has_table {
            Some(_) => {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(pool)
                    .await?
            }
            None => vec![],
        };
        super::require_migrated(&MIGRATOR, &applied)
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
        check_identifier(schema)?;
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = PgConnection::connect_with(&options).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    /// Drops `schema` and everything in it (the counterpart of [`Self::open_in_schema`]
    /// for tests). Close the stores opened in it first.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        check_identifier(schema)?;
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = PgConnection::connect_with(&options).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    /// The pool, for callers that need to close it before dropping a schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
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

/// The shared filter translation writes `?` placeholders; PostgreSQL wants `$n`. Our SQL
/// never contains a literal `?`, so every one is a placeholder, numbered from `first`.
fn renumber(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = first;
    for c in sql.chars() {
        if c == '?' {
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
        } else {
            out.push(c);
        }
    }
    out
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn now_text() -> String {
    timestamp(&Utc::now())
}

fn user_from_row(row: &PgRow) -> Result<UserRecord, StoreError> {
    let resource: String = row.try_get("resource")?;
    let link: String = row.try_get("link")?;
    let created: String = row.try_get("created_at")?;
    let modified: String = row.try_get("last_modified")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        resource: serde_json::from_str(&resource).map_err(json_error)?,
        version: row.try_get("version")?,
        created: parse_timestamp(&created)?,
        last_modified: parse_timestamp(&modified)?,
        link: serde_json::from_str(&link).map_err(json_error)?,
    })
}

fn group_from_row(row: &PgRow) -> Result<GroupRecord, StoreError> {
    let resource: String = row.try_get("resource")?;
    let created: String = row.try_get("created_at")?;
    let modified: String = row.try_get("last_modified")?;
    Ok(GroupRecord {
        id: row.try_get("id")?,
        resource: serde_json::from_str(&resource).map_err(json_error)?,
        version: row.try_get("version")?,
        created: parse_timestamp(&created)?,
        last_modified: parse_timestamp(&modified)?,
    })
}

fn job_from_row(row: &PgRow) -> Result<Job, StoreError> {
    let state: String = row.try_get("state")?;
    let attempts: i32 = row.try_get("attempts")?;
    let run_at: String = row.try_get("run_at")?;
    let created: String = row.try_get("created_at")?;
    Ok(Job {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        user_id: row.try_get("user_id")?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Database(format!("unknown job state {state:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        run_at: parse_timestamp(&run_at)?,
        last_error: row.try_get("last_error")?,
        created: parse_timestamp(&created)?,
    })
}

/// The groups table's indexed columns, and the resource text. The caller leaves
/// `members` out of the resource (they are rows); it is stored as given, exactly as the
/// SQLite store does, so both backends return the same document.
struct GroupColumns {
    display_name: String,
    external_id: Option<String>,
    resource: String,
}

impl GroupColumns {
    fn of(resource: &Value) -> Self {
        let text = |key: &str| {
            resource
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Self {
            display_name: text("displayName").unwrap_or_default(),
            external_id: text("externalId"),
            resource: resource.to_string(),
        }
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bind_all<'q>(mut query: PgQuery<'q>, binds: &'q [String]) -> PgQuery<'q> {
    for b in binds {
        query = query.bind(b.as_str());
    }
    query
}

/// `ORDER BY` for a list answered in SQL, or `None` when `sortBy` names something SQL
/// has no column for (those lists sort in memory with [`sort_key`]). Missing values
/// sort as the greatest (last ascending, first descending, RFC 7644 3.4.2.3), ties by
/// id: the same order as the SQLite store.
fn order_by(query: &ListQuery, resource: Resource) -> Option<String> {
    match &query.sort_by {
        None => Some("id".to_string()),
        Some(path) => sql_filter::sort_column(path, resource).map(|c| {
            if query.descending {
                format!("{c} DESC NULLS FIRST, id")
            } else {
                format!("{c} ASC NULLS LAST, id")
            }
        }),
    }
}

/// The table a list reads, and how its rows become records.
struct Listing<T> {
    table: &'static str,
    columns: &'static str,
    resource: Resource,
    from_row: fn(&PgRow) -> Result<T, StoreError>,
    view: fn(&T) -> Value,
    types: fn() -> &'static schema::ResourceSchema,
}

// Not derived: the derive would require `T: Copy`, and only the function pointers are
// copied.
impl<T> Clone for Listing<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Listing<T> {}

impl PostgresStore {
    async fn write_emails(
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
        emails: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM user_emails WHERE tenant = $1 AND user_id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if !emails.is_empty() {
            sqlx::query(
                "INSERT INTO user_emails (tenant, user_id, value_fold)
                 SELECT $1, $2, e FROM UNNEST($3::text[]) AS e",
            )
            .bind(tenant)
            .bind(id)
            .bind(emails)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    /// Enqueues a `sync_user` job for each of `user_ids` that is a user of the tenant and
    /// has no pending job yet, on `conn` (inside the caller's transaction for group
    /// writes). Ids of users that no longer exist are skipped rather than failing the
    /// write on the foreign key.
    async fn enqueue(
        conn: &mut PgConnection,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError> {
        if user_ids.is_empty() {
            return Ok(0);
        }
        let now = now_text();
        let done = sqlx::query(
            "INSERT INTO jobs (tenant, user_id, state, attempts, run_at, created_at)
             SELECT u.tenant, u.id, 'pending', 0, $3, $3
             FROM users u
             WHERE u.tenant = $1 AND u.id = ANY($2::text[])
             ORDER BY u.id
             ON CONFLICT (tenant, user_id) WHERE state = 'pending' DO NOTHING",
        )
        .bind(tenant)
        .bind(user_ids)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Rows of `listing.table` for the tenant matching `cond`, in `order`, optionally
    /// one page (`offset`, `limit`).
    async fn select<T>(
        &self,
        listing: Listing<T>,
        tenant: &str,
        cond: Option<&SqlExpr>,
        order: &str,
        page: Option<(u64, u64)>,
    ) -> Result<Vec<T>, StoreError> {
        let mut sql = format!(
            "SELECT {} FROM {} WHERE tenant = $1",
            listing.columns, listing.table
        );
        if let Some(cond) = cond {
            sql.push_str(" AND ");
            sql.push_str(&renumber(&cond.sql, 2));
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(order);
        if let Some((offset, limit)) = page {
            sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
        }
        let no_binds = Vec::new();
        let binds = cond.map(|c| &c.binds).unwrap_or(&no_binds);
        let rows = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(listing.from_row).collect()
    }

    async fn count<T>(
        &self,
        listing: Listing<T>,
        tenant: &str,
        cond: Option<&SqlExpr>,
    ) -> Result<u64, StoreError> {
        let mut sql = format!("SELECT COUNT(*) FROM {} WHERE tenant = $1", listing.table);
        if let Some(cond) = cond {
            sql.push_str(" AND ");
            sql.push_str(&renumber(&cond.sql, 2));
        }
        let no_binds = Vec::new();
        let binds = cond.map(|c| &c.binds).unwrap_or(&no_binds);
        let row = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_one(&self.pool)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// A list request: in SQL when the filter and the sort translate, else the
    /// SQL-narrowed candidates are filtered and sorted in memory, exactly as the SQLite
    /// store does, so both paths and both databases agree.
    async fn list<T>(
        &self,
        listing: Listing<T>,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<T>, StoreError> {
        let offset = query.start_index.saturating_sub(1);
        let exact = match &query.filter {
            None => Some(None),
            Some(f) => sql_filter::translate(f, listing.resource).map(Some),
        };
        if let (Some(cond), Some(order)) = (&exact, order_by(query, listing.resource)) {
            let cond = cond.as_ref();
            if query.count == 0 {
                let total = self.count(listing, tenant, cond).await?;
                return Ok(ListPage {
                    total,
                    items: vec![],
                });
            }
            let items = self
                .select(listing, tenant, cond, &order, Some((offset, query.count)))
                .await?;
            let total = match super::total_from_page(offset, query.count, items.len()) {
                Some(total) => total,
                None => self.count(listing, tenant, cond).await?,
            };
            return Ok(ListPage { total, items });
        }
        let narrowed = query
            .filter
            .as_ref()
            .and_then(|f| sql_filter::prefilter(f, listing.resource));
        let rows = self
            .select(listing, tenant, narrowed.as_ref(), "id", None)
            .await?;
        let types = (listing.types)();
        let mut matching: Vec<(Value, T)> = rows
            .into_iter()
            .map(|r| ((listing.view)(&r), r))
            .filter(|(view, _)| {
                query
                    .filter
                    .as_ref()
                    .is_none_or(|f| matches(f, view, types))
            })
            .collect();
        if let Some(path) = &query.sort_by {
            matching.sort_by_cached_key(|(view, _)| sort_key(view, path));
            if query.descending {
                matching.reverse();
            }
        }
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(query.count).unwrap_or(usize::MAX))
            .map(|(_, r)| r)
            .collect();
        Ok(ListPage { total, items })
    }

    /// After an `UPDATE ... WHERE version = $v` touched nothing: was the row gone, or
    /// was it changed by someone else?
    async fn missing_or_stale(
        conn: &mut PgConnection,
        table: &str,
        tenant: &str,
        id: &str,
    ) -> Result<StoreError, StoreError> {
        let exists = sqlx::query(&format!(
            "SELECT 1 FROM {table} WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(if exists.is_some() {
            StoreError::VersionMismatch
        } else {
            StoreError::NotFound
        })
    }
}

const USERS: Listing<UserRecord> = Listing {
    table: "users",
    columns: USER_COLUMNS,
    resource: Resource::Users,
    from_row: user_from_row,
    view: super::filter_view,
    types: schema::user,
};

const GROUPS: Listing<GroupRecord> = Listing {
    table: "groups",
    columns: GROUP_COLUMNS,
    resource: Resource::Groups,
    from_row: group_from_row,
    view: group_filter_view,
    types: schema::group,
};

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A transaction on the lock pool holding `pg_advisory_xact_lock` on the key's
    /// 64-bit hash (a collision only serialises two unrelated writes). Transaction-
    /// scoped rather than session-scoped so that no path can leak it: dropping the
    /// guard, even when the request's future is cancelled, rolls the transaction back
    /// and the server releases the lock; a replica that dies releases it with its
    /// connection.
    async fn lock(&self, key: &str) -> Result<super::SharedLock, StoreError> {
        let mut tx = self.locks.begin().await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        Ok(super::SharedLock::held(tx))
    }

    /// `pg_try_advisory_xact_lock` on the same hash as [`Store::lock`], in a transaction
    /// on the lock pool that holds it until the guard drops.
    async fn try_lock(&self, key: &str) -> Result<Option<super::SharedLock>, StoreError> {
        let mut tx = self.locks.begin().await?;
        let taken: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        Ok(taken.then(|| super::SharedLock::held(tx)))
    }

    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let link = serde_json::to_string(&user.link).map_err(json_error)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (tenant, id, user_name, user_name_fold, external_id, display_name_fold, active,
                                resource, version, created_at, last_modified, link, upstream_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(tenant)
        .bind(&user.id)
        .bind(&cols.user_name)
        .bind(fold(&cols.user_name))
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(cols.active)
        .bind(user.resource.to_string())
        .bind(user.version)
        .bind(timestamp(&user.created))
        .bind(timestamp(&user.last_modified))
        .bind(link)
        .bind(&user.link.upstream_id)
        .execute(&mut *tx)
        .await?;
        Self::write_emails(&mut tx, tenant, &user.id, &cols.emails).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let link = serde_json::to_string(&user.link).map_err(json_error)?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET user_name = $1, user_name_fold = $2, external_id = $3, display_name_fold = $4,
                              active = $5, resource = $6, version = $7, last_modified = $8, link = $9,
                              upstream_id = $10
             WHERE tenant = $11 AND id = $12 AND version = $13",
        )
        .bind(&cols.user_name)
        .bind(fold(&cols.user_name))
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(cols.active)
        .bind(user.resource.to_string())
        .bind(user.version)
        .bind(timestamp(&user.last_modified))
        .bind(link)
        .bind(&user.link.upstream_id)
        .bind(tenant)
        .bind(&user.id)
        .bind(user.version - 1)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Self::missing_or_stale(&mut tx, "users", tenant, &user.id).await?);
        }
        Self::write_emails(&mut tx, tenant, &user.id, &cols.emails).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        // Emails, memberships and jobs go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_users(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<UserRecord>, StoreError> {
        self.list(USERS, tenant, query).await
    }

    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id FROM users WHERE tenant = $1 AND upstream_id = $2")
            .bind(tenant)
            .bind(upstream_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    async fn put_create_intent(
        &self,
        tenant: &str,
        username: &str,
        scim_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO create_intents (tenant, user_name_fold, scim_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, user_name_fold)
             DO UPDATE SET scim_id = excluded.scim_id, created_at = excluded.created_at",
        )
        .bind(tenant)
        .bind(fold(username))
        .bind(scim_id)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT scim_id FROM create_intents WHERE tenant = $1 AND user_name_fold = $2",
        )
        .bind(tenant)
        .bind(fold(username))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("scim_id")).transpose()?)
    }

    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM create_intents WHERE tenant = $1 AND user_name_fold = $2")
            .bind(tenant)
            .bind(fold(username))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, tenant, actor, resource_type, resource_id, action, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(timestamp(&entry.at))
        .bind(&entry.tenant)
        .bind(&entry.actor)
        .bind(&entry.resource_type)
        .bind(&entry.resource_id)
        .bind(&entry.action)
        .bind(&entry.outcome)
        .bind(entry.detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, tenant: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, tenant, actor, resource_type, resource_id, action, outcome, detail
             FROM audit WHERE tenant = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get("at")?;
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    at: parse_timestamp(&at)?,
                    tenant: row.try_get("tenant")?,
                    actor: row.try_get("actor")?,
                    resource_type: row.try_get("resource_type")?,
                    resource_id: row.try_get("resource_id")?,
                    action: row.try_get("action")?,
                    outcome: row.try_get("outcome")?,
                    detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                })
            })
            .collect()
    }

    async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(link).map_err(json_error)?;
        let done = sqlx::query(
            "UPDATE users SET link = $1, upstream_id = $2 WHERE tenant = $3 AND id = $4",
        )
        .bind(text)
        .bind(&link.upstream_id)
        .bind(tenant)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn existing_users(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = sqlx::query(
            "SELECT id FROM users WHERE tenant = $1 AND id = ANY($2::text[]) ORDER BY id",
        )
        .bind(tenant)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    async fn user_groups(&self, tenant: &str, user_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.display_name, g.external_id
             FROM group_members m
             JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
             WHERE m.tenant = $1 AND m.user_id = $2
             ORDER BY g.display_name_fold, g.display_name, g.id",
        )
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GroupRef {
                    id: r.try_get("id")?,
                    display_name: r.try_get("display_name")?,
                    external_id: r.try_get("external_id")?,
                })
            })
            .collect()
    }

    async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError> {
        let cols = GroupColumns::of(&group.resource);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO groups (tenant, id, display_name, display_name_fold, external_id, resource,
                                 version, created_at, last_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant)
        .bind(&group.id)
        .bind(&cols.display_name)
        .bind(fold(&cols.display_name))
        .bind(&cols.external_id)
        .bind(&cols.resource)
        .bind(group.version)
        .bind(timestamp(&group.created))
        .bind(timestamp(&group.last_modified))
        .execute(&mut *tx)
        .await?;
        if !members.is_empty() {
            // A member that is not a user of the tenant fails the foreign key: the caller
            // validates with `existing_users` first.
            sqlx::query(
                "INSERT INTO group_members (tenant, group_id, user_id)
                 SELECT DISTINCT $1, $2, u FROM UNNEST($3::text[]) AS u",
            )
            .bind(tenant)
            .bind(&group.id)
            .bind(members)
            .execute(&mut *tx)
            .await?;
            Self::enqueue(&mut tx, tenant, members).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn list_groups(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<GroupRecord>, StoreError> {
        self.list(GROUPS, tenant, query).await
    }

    async fn group_members(&self, tenant: &str, group_id: &str) -> Result<Vec<Member>, StoreError> {
        // The display text is the user's displayName as written (only its folded form
        // has a column, so it is read from the resource), else its userName.
        let rows = sqlx::query(
            "SELECT m.user_id,
                    COALESCE(u.resource::json ->> 'displayName', u.user_name) AS display
             FROM group_members m
             JOIN users u ON u.tenant = m.tenant AND u.id = m.user_id
             WHERE m.tenant = $1 AND m.group_id = $2
             ORDER BY m.user_id",
        )
        .bind(tenant)
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    display: r.try_get("display")?,
                })
            })
            .collect()
    }

    async fn update_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: Option<&[String]>,
        resync_all: bool,
    ) -> Result<(), StoreError> {
        let cols = GroupColumns::of(&group.resource);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE groups SET display_name = $1, display_name_fold = $2, external_id = $3, resource = $4,
                               version = $5, last_modified = $6
             WHERE tenant = $7 AND id = $8 AND version = $9",
        )
        .bind(&cols.display_name)
        .bind(fold(&cols.display_name))
        .bind(&cols.external_id)
        .bind(&cols.resource)
        .bind(group.version)
        .bind(timestamp(&group.last_modified))
        .bind(tenant)
        .bind(&group.id)
        .bind(group.version - 1)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Self::missing_or_stale(&mut tx, "groups", tenant, &group.id).await?);
        }
        // The version check above holds the group's row lock until commit, so concurrent
        // writers of this group's membership are serialised behind it.
        let mut changed: Vec<String> = Vec::new();
        if let Some(set) = members {
            let removed = sqlx::query(
                "DELETE FROM group_members
                 WHERE tenant = $1 AND group_id = $2 AND NOT (user_id = ANY($3::text[]))
                 RETURNING user_id",
            )
            .bind(tenant)
            .bind(&group.id)
            .bind(set)
            .fetch_all(&mut *tx)
            .await?;
            let added = sqlx::query(
                "INSERT INTO group_members (tenant, group_id, user_id)
                 SELECT DISTINCT $1, $2, u FROM UNNEST($3::text[]) AS u
                 ON CONFLICT DO NOTHING
                 RETURNING user_id",
            )
            .bind(tenant)
            .bind(&group.id)
            .bind(set)
            .fetch_all(&mut *tx)
            .await?;
            for row in removed.iter().chain(added.iter()) {
                changed.push(row.try_get("user_id")?);
            }
        }
        if resync_all {
            // Old members that were just removed are in `changed`; the rest are rows now.
            let current = sqlx::query(
                "SELECT user_id FROM group_members WHERE tenant = $1 AND group_id = $2",
            )
            .bind(tenant)
            .bind(&group.id)
            .fetch_all(&mut *tx)
            .await?;
            for row in &current {
                changed.push(row.try_get("user_id")?);
            }
        }
        // One enqueue statement per transaction, in user id order: concurrent group
        // writes then take the users' pending-job slots in one global order, so they
        // cannot deadlock on each other's uncommitted jobs.
        changed.sort();
        changed.dedup();
        Self::enqueue(&mut tx, tenant, &changed).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Lock the group row first, as update_group does (its versioned UPDATE), so the
        // two never hold each other's member rows and group row crosswise (deadlock).
        let found = sqlx::query("SELECT 1 FROM groups WHERE tenant = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        let former = sqlx::query(
            "DELETE FROM group_members WHERE tenant = $1 AND group_id = $2 RETURNING user_id",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM groups WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut former: Vec<String> = former
            .iter()
            .map(|r| r.try_get("user_id"))
            .collect::<Result<_, _>>()?;
        former.sort();
        Self::enqueue(&mut tx, tenant, &former).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn enqueue_user_syncs(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::enqueue(&mut conn, tenant, user_ids).await
    }

    async fn claim_jobs(&self, limit: u32, lease: Duration) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let now = Utc::now();
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // SKIP LOCKED: a row another replica is claiming right now is passed over instead
        // of waited for, so concurrent claimers get disjoint jobs.
        //
        // The locking SELECT is a MATERIALIZED CTE, not `WHERE id IN (SELECT ... LIMIT n
        // FOR UPDATE SKIP LOCKED)`: PostgreSQL may plan that IN as a semi-join that
        // re-runs the subquery per outer row, and each re-run skips the rows this very
        // statement already updated and locks the next ones, so one claim took more
        // than `limit` jobs (the suite's `claim_marks_running_with_a_lease` caught it).
        // A locking CTE runs exactly once.
        let rows = sqlx::query(&format!(
            "WITH due AS MATERIALIZED (
                 SELECT id FROM jobs
                 WHERE (state = 'pending' AND run_at <= $1) OR (state = 'running' AND lease_until < $1)
                 ORDER BY run_at, id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_until = $2
             FROM due
             WHERE jobs.id = due.id
             RETURNING {JOB_COLUMNS_QUALIFIED}"
        ))
        .bind(timestamp(&now))
        .bind(timestamp(&until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut jobs: Vec<Job> = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| a.run_at.cmp(&b.run_at).then(a.id.cmp(&b.id)));
        Ok(jobs)
    }

    async fn complete_job(&self, job: &Job) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM jobs
             WHERE id = $1 OR (tenant = $2 AND user_id = $3 AND state = 'failed' AND id < $1)",
        )
        .bind(job.id)
        .bind(&job.tenant)
        .bind(&job.user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Back to pending unless the user already has a pending job. The NOT EXISTS covers
        // the usual case; a pending job enqueued concurrently by another replica surfaces
        // as a unique violation on jobs_one_pending, which means the same thing.
        let outcome = sqlx::query(
            "UPDATE jobs SET state = 'pending', run_at = $2, last_error = $3, lease_until = NULL
             WHERE id = $1
               AND NOT EXISTS (SELECT 1 FROM jobs p
                               WHERE p.tenant = $4 AND p.user_id = $5 AND p.state = 'pending' AND p.id <> $1)",
        )
        .bind(job.id)
        .bind(timestamp(&run_at))
        .bind(error)
        .bind(&job.tenant)
        .bind(&job.user_id)
        .execute(&self.pool)
        .await;
        let requeued = match outcome {
            Ok(done) => done.rows_affected() > 0,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => false,
            Err(e) => return Err(e.into()),
        };
        if !requeued {
            sqlx::query("DELETE FROM jobs WHERE id = $1")
                .bind(job.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = $2, lease_until = NULL WHERE id = $1",
        )
        .bind(job.id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError> {
        let rows =
            sqlx::query("SELECT tenant, state, COUNT(*) AS n FROM jobs GROUP BY tenant, state")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let state = JobState::parse(r.get::<String, _>("state").as_str())?;
                let n: i64 = r.get("n");
                Some((r.get("tenant"), state, n.max(0) as u64))
            })
            .collect())
    }
    async fn list_jobs(
        &self,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR state = $2)
             ORDER BY id
             LIMIT $3"
        ))
        .bind(tenant)
        .bind(state.map(JobState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError> {
        // A replica enqueueing a pending job for the same user between our check and our
        // update shows up as a unique violation on jobs_one_pending; the next round sees
        // that pending job and folds into it.
        let mut round = 0;
        loop {
            round += 1;
            match self.requeue_failed_once(tenant, job_id).await {
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() && round < 5 => continue,
                other => return other.map_err(StoreError::from),
            }
        }
    }
    async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError> {
        Self::admit_deprovision(self, request, limit).await
    }
    async fn approve_deprovisions(&self, tenant: &str, id: Option<i64>) -> Result<u64, StoreError> {
        Self::approve_deprovisions(self, tenant, id).await
    }
    async fn list_deprovisions(
        &self,
        tenant: Option<&str>,
        state: Option<DeprovisionState>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError> {
        Self::list_deprovisions(self, tenant, state, limit).await
    }
    async fn claim_deprovisions(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Deprovision>, StoreError> {
        Self::claim_deprovisions(self, limit, lease).await
    }
    async fn finish_deprovision(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError> {
        Self::finish_deprovision(self, id, outcome).await
    }
}

impl PostgresStore {
    /// One attempt of [`Store::requeue_failed`]; returns how many jobs became pending
    /// (as the SQLite store counts).
    async fn requeue_failed_once(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, sqlx::Error> {
        let now = now_text();
        let mut tx = self.pool.begin().await?;
        // The chosen failed jobs, locked so two admins requeueing at once do not race.
        let chosen = sqlx::query(
            "SELECT id FROM jobs
             WHERE state = 'failed' AND ($1::text IS NULL OR tenant = $1) AND ($2::bigint IS NULL OR id = $2)
             ORDER BY id
             FOR UPDATE",
        )
        .bind(tenant)
        .bind(job_id)
        .fetch_all(&mut *tx)
        .await?;
        if chosen.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = chosen
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        // A user has at most one pending job: the newest chosen failed job of each user
        // without one becomes pending, with a fresh set of attempts; the user's other
        // chosen failed jobs are redundant (folded into it, or into the pending job the
        // user already has) and removed.
        let promoted = sqlx::query(
            "UPDATE jobs SET state = 'pending', run_at = $2, attempts = 0, lease_until = NULL
             WHERE id IN (
                 SELECT DISTINCT ON (f.tenant, f.user_id) f.id
                 FROM jobs f
                 WHERE f.id = ANY($1::bigint[])
                   AND NOT EXISTS (SELECT 1 FROM jobs p
                                   WHERE p.tenant = f.tenant AND p.user_id = f.user_id AND p.state = 'pending')
                 ORDER BY f.tenant, f.user_id, f.id DESC
             )",
        )
        .bind(&ids)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM jobs WHERE id = ANY($1::bigint[]) AND state = 'failed'")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(promoted.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            renumber("(a = ? AND b IN (?, ?))", 2),
            "(a = $2 AND b IN ($3, $4))"
        );
        assert_eq!(renumber("no placeholders", 1), "no placeholders");
    }

    #[test]
    fn schema_names_must_be_plain() {
        assert!(check_identifier("suite_ab12").is_ok());
        assert!(check_identifier("x\"; DROP").is_err());
        assert!(check_identifier("").is_err());
        assert!(check_identifier("1abc").is_err());
    }
}
