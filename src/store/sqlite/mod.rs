//! The embedded default store: one SQLite file in WAL mode. Users, groups and jobs live
//! in their own files; this one opens the database, lists any table the same way, and
//! maps the trait onto them.
mod admin;
mod deprovisions;
mod groups;
mod jobs;
mod point;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::sql_filter::{self, Resource, SqlExpr};
use super::{
    sort_key, Admission, AuditEntry, Deprovision, DeprovisionState, GroupRecord, GroupRef,
    GuardLimit, Job, JobState, ListPage, ListQuery, Member, NewDeprovision, Store, StoreError,
    UpstreamLink, UserRecord,
};
use crate::scim::filter::matches;
use crate::scim::schema::ResourceSchema;

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

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>;

pub(super) fn bind_all<'q>(mut query: Query<'q>, binds: &'q [String]) -> Query<'q> {
    for b in binds {
        query = query.bind(b.as_str());
    }
    query
}

pub(super) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(e.to_string()))
}

/// Maps a row of a [`point`] connection.
pub(super) type PointRow<T> = fn(&rusqlite::Row) -> Result<T, StoreError>;

/// How to list one resource table: its SQL, its row type, and the document a filter
/// that SQL cannot answer is evaluated against.
pub(super) struct Table<T> {
    pub name: &'static str,
    pub columns: &'static str,
    pub resource: Resource,
    pub from_row: fn(&SqliteRow) -> Result<T, StoreError>,
    /// The same mapping for [`point`] reads; `None` keeps this table on the pool.
    pub point_row: Option<PointRow<T>>,
    pub view: fn(&T) -> Value,
    pub types: fn() -> &'static ResourceSchema,
}

impl SqliteStore {
    /// Lists a table: in SQL when the filter and the sort translate, otherwise over a SQL
    /// prefilter in memory, with the same results either way.
    async fn list<T>(
        &self,
        table: &Table<T>,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<T>, StoreError> {
        let offset = query.start_index.saturating_sub(1);
        let order = match &query.sort_by {
            None => Some("id".to_string()),
            Some(path) => sql_filter::sort_column(path, table.resource).map(|c| {
                let dir = if query.descending { "DESC" } else { "ASC" };
                // Missing values sort as the greatest: last ascending, first descending.
                format!("{c} IS NULL {dir}, {c} {dir}, id")
            }),
        };
        let exact = match &query.filter {
            None => Some(None),
            Some(f) => sql_filter::translate(f, table.resource).map(Some),
        };
        if let (Some(cond), Some(order)) = (&exact, &order) {
            if let (Some(reader), Some(from_row), Some(filter)) =
                (&self.point, table.point_row, &query.filter)
            {
                if sql_filter::is_point_lookup(filter, table.resource) {
                    return reader.read(|c| {
                        point_page(
                            c,
                            table,
                            from_row,
                            tenant,
                            cond.as_ref(),
                            order,
                            offset,
                            query.count,
                        )
                    });
                }
            }
            return self
                .sql_page(table, tenant, cond.as_ref(), order, offset, query.count)
                .await;
        }
        let narrowed = query
            .filter
            .as_ref()
            .and_then(|f| sql_filter::prefilter(f, table.resource));
        let rows = self
            .select(table, tenant, narrowed.as_ref(), "id", None)
            .await?;
        let mut matching: Vec<(Value, T)> = rows
            .into_iter()
            .map(|r| ((table.view)(&r), r))
            .filter(|(view, _)| {
                query
                    .filter
                    .as_ref()
                    .is_none_or(|f| matches(f, view, (table.types)()))
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
            .skip(offset as usize)
            .take(query.count as usize)
            .map(|(_, r)| r)
            .collect();
        Ok(ListPage { total, items })
    }

    async fn select<T>(
        &self,
        table: &Table<T>,
        tenant: &str,
        cond: Option<&SqlExpr>,
        order: &str,
        page: Option<(u64, u64)>,
    ) -> Result<Vec<T>, StoreError> {
        let sql = select_sql(table, cond, order, page);
        let binds = cond.map(|c| c.binds.as_slice()).unwrap_or_default();
        let rows = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(table.from_row).collect()
    }

    /// One page answered in SQL. A first page that is not full already tells the total,
    /// which saves the COUNT on the IdPs' most frequent request, the userName lookup.
    async fn sql_page<T>(
        &self,
        table: &Table<T>,
        tenant: &str,
        cond: Option<&SqlExpr>,
        order: &str,
        offset: u64,
        count: u64,
    ) -> Result<ListPage<T>, StoreError> {
        if count == 0 {
            let total = self.count(table, tenant, cond).await?;
            return Ok(ListPage {
                total,
                items: vec![],
            });
        }
        let items = self
            .select(table, tenant, cond, order, Some((offset, count)))
            .await?;
        let total = match super::total_from_page(offset, count, items.len()) {
            Some(total) => total,
            None => self.count(table, tenant, cond).await?,
        };
        Ok(ListPage { total, items })
    }

    async fn count<T>(
        &self,
        table: &Table<T>,
        tenant: &str,
        cond: Option<&SqlExpr>,
    ) -> Result<u64, StoreError> {
        let sql = count_sql(table, cond);
        let binds = cond.map(|c| c.binds.as_slice()).unwrap_or_default();
        let row = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_one(&self.pool)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(count.max(0) as u64)
    }
}

fn select_sql<T>(
    table: &Table<T>,
    cond: Option<&SqlExpr>,
    order: &str,
    page: Option<(u64, u64)>,
) -> String {
    let mut sql = format!(
        "SELECT {} FROM {} WHERE tenant = ?",
        table.columns, table.name
    );
    if let Some(cond) = cond {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    if let Some((offset, limit)) = page {
        sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
    }
    sql
}

fn count_sql<T>(table: &Table<T>, cond: Option<&SqlExpr>) -> String {
    let mut sql = format!("SELECT COUNT(*) FROM {} WHERE tenant = ?", table.name);
    if let Some(cond) = cond {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
    }
    sql
}

/// [`SqliteStore::sql_page`] for a point lookup, on a [`point`] connection.
#[allow(clippy::too_many_arguments)]
fn point_page<T>(
    connection: &rusqlite::Connection,
    table: &Table<T>,
    from_row: PointRow<T>,
    tenant: &str,
    cond: Option<&SqlExpr>,
    order: &str,
    offset: u64,
    count: u64,
) -> Result<ListPage<T>, StoreError> {
    let binds = || {
        let cond_binds = cond.map(|c| c.binds.as_slice()).unwrap_or_default();
        rusqlite::params_from_iter(
            std::iter::once(tenant).chain(cond_binds.iter().map(String::as_str)),
        )
    };
    let count_all = || -> Result<u64, StoreError> {
        let total: i64 = connection
            .prepare_cached(&count_sql(table, cond))?
            .query_row(binds(), |row| row.get(0))?;
        Ok(total.max(0) as u64)
    };
    if count == 0 {
        return Ok(ListPage {
            total: count_all()?,
            items: vec![],
        });
    }
    let mut statement =
        connection.prepare_cached(&select_sql(table, cond, order, Some((offset, count))))?;
    let mut rows = statement.query(binds())?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(from_row(row)?);
    }
    let total = match super::total_from_page(offset, count, items.len()) {
        Some(total) => total,
        None => count_all()?,
    };
    Ok(ListPage { total, items })
}

// Each method delegates to the inherent method of the same name in users.rs, groups.rs
// or jobs.rs (inherent methods win over trait methods in `Self::name` paths).
#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Self::ping(self).await
    }
    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        Self::insert_user(self, tenant, user).await
    }
    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Self::get_user(self, tenant, id).await
    }
    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        Self::update_user(self, tenant, user).await
    }
    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        Self::delete_user(self, tenant, id).await
    }
    async fn list_users(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<UserRecord>, StoreError> {
        self.list(&users::USERS, tenant, query).await
    }
    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Self::user_id_by_upstream(self, tenant, upstream_id).await
    }
    async fn put_create_intent(
        &self,
        tenant: &str,
        username: &str,
        scim_id: &str,
    ) -> Result<(), StoreError> {
        Self::put_create_intent(self, tenant, username, scim_id).await
    }
    async fn create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<String>, StoreError> {
        Self::create_intent(self, tenant, username).await
    }
    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError> {
        Self::clear_create_intent(self, tenant, username).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        Self::append_audit(self, entry).await
    }
    async fn list_audit(&self, tenant: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Self::list_audit(self, tenant, limit).await
    }
    async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError> {
        Self::update_user_link(self, tenant, user_id, link).await
    }
    async fn existing_users(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        Self::existing_users(self, tenant, ids).await
    }
    async fn user_groups(&self, tenant: &str, user_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        Self::user_groups(self, tenant, user_id).await
    }
    async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError> {
        Self::insert_group(self, tenant, group, members).await
    }
    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        Self::get_group(self, tenant, id).await
    }
    async fn list_groups(
        &self,
        tenant: &str,
        query: &ListQuery,
    ) -> Result<ListPage<GroupRecord>, StoreError> {
        self.list(&groups::GROUPS, tenant, query).await
    }
    async fn group_members(&self, tenant: &str, group_id: &str) -> Result<Vec<Member>, StoreError> {
        Self::group_members(self, tenant, group_id).await
    }
    async fn update_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: Option<&[String]>,
        resync_all: bool,
    ) -> Result<(), StoreError> {
        Self::update_group(self, tenant, group, members, resync_all).await
    }
    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        Self::delete_group(self, tenant, id).await
    }
    async fn enqueue_user_syncs(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let added = jobs::enqueue(&mut tx, tenant, user_ids).await?;
        tx.commit().await?;
        Ok(added)
    }
    async fn claim_jobs(&self, limit: u32, lease: Duration) -> Result<Vec<Job>, StoreError> {
        Self::claim_jobs(self, limit, lease).await
    }
    async fn complete_job(&self, job: &Job) -> Result<(), StoreError> {
        Self::complete_job(self, job).await
    }
    async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Self::retry_job(self, job, error, run_at).await
    }
    async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError> {
        Self::fail_job(self, job, error).await
    }
    async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError> {
        Self::count_jobs(self).await
    }
    async fn list_jobs(
        &self,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        Self::list_jobs(self, tenant, state, limit).await
    }
    async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError> {
        Self::requeue_failed(self, tenant, job_id).await
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
