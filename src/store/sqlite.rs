//! The embedded default store: one SQLite file in WAL mode.
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::sql_filter::{self, SqlExpr};
use super::{
    fold, parse_timestamp, timestamp, AuditEntry, ListPage, ListQuery, Store, StoreError,
    UserRecord,
};
use crate::scim::filter::matches;
use crate::scim::schema;

pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const USER_COLUMNS: &str = "id, resource, version, created_at, last_modified, link";

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a power loss can
            // drop the last commits, and the IdP re-sends those.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Self { pool })
    }
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    let resource: String = row.try_get("resource")?;
    let link: String = row.try_get("link")?;
    let created: String = row.try_get("created_at")?;
    let modified: String = row.try_get("last_modified")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        resource: serde_json::from_str(&resource)
            .map_err(|e| StoreError::Database(e.to_string()))?,
        version: row.try_get("version")?,
        created: parse_timestamp(&created)?,
        last_modified: parse_timestamp(&modified)?,
        link: serde_json::from_str(&link).map_err(|e| StoreError::Database(e.to_string()))?,
    })
}

/// The values of the indexed columns, derived from the resource so callers cannot let
/// them drift apart.
struct UserColumns {
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    active: bool,
    emails: Vec<String>,
}

impl UserColumns {
    fn of(resource: &Value) -> Self {
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

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [String],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for b in binds {
        query = query.bind(b.as_str());
    }
    query
}

impl SqliteStore {
    async fn write_emails(
        tx: &mut sqlx::SqliteConnection,
        tenant: &str,
        id: &str,
        emails: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM user_emails WHERE tenant = ? AND user_id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for email in emails {
            sqlx::query("INSERT INTO user_emails (tenant, user_id, value_fold) VALUES (?, ?, ?)")
                .bind(tenant)
                .bind(id)
                .bind(email)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    async fn select_users(
        &self,
        tenant: &str,
        cond: Option<&SqlExpr>,
        page: Option<(u64, u64)>,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = ?");
        if let Some(cond) = cond {
            sql.push_str(" AND ");
            sql.push_str(&cond.sql);
        }
        sql.push_str(" ORDER BY id");
        if let Some((offset, limit)) = page {
            sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
        }
        let no_binds = Vec::new();
        let binds = cond.map(|c| &c.binds).unwrap_or(&no_binds);
        let rows = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// One page answered in SQL. A first page that is not full already tells the total,
    /// which saves the COUNT on the IdPs' most frequent request, the userName lookup.
    async fn sql_page(
        &self,
        tenant: &str,
        cond: Option<&SqlExpr>,
        offset: u64,
        count: u64,
    ) -> Result<ListPage<UserRecord>, StoreError> {
        if count == 0 {
            let total = self.count_users(tenant, cond).await?;
            return Ok(ListPage {
                total,
                items: vec![],
            });
        }
        let items = self
            .select_users(tenant, cond, Some((offset, count)))
            .await?;
        let total = if offset == 0 && (items.len() as u64) < count {
            items.len() as u64
        } else {
            self.count_users(tenant, cond).await?
        };
        Ok(ListPage { total, items })
    }

    async fn count_users(&self, tenant: &str, cond: Option<&SqlExpr>) -> Result<u64, StoreError> {
        let mut sql = "SELECT COUNT(*) FROM users WHERE tenant = ?".to_string();
        if let Some(cond) = cond {
            sql.push_str(" AND ");
            sql.push_str(&cond.sql);
        }
        let no_binds = Vec::new();
        let binds = cond.map(|c| &c.binds).unwrap_or(&no_binds);
        let row = bind_all(sqlx::query(&sql).bind(tenant), binds)
            .fetch_one(&self.pool)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(count.max(0) as u64)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (tenant, id, user_name, user_name_fold, external_id, display_name_fold, active,
                                resource, version, created_at, last_modified, link, upstream_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(serde_json::to_string(&user.link).map_err(|e| StoreError::Database(e.to_string()))?)
        .bind(&user.link.upstream_id)
        .execute(&mut *tx)
        .await?;
        Self::write_emails(&mut tx, tenant, &user.id, &cols.emails).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant = ? AND id = ?"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET user_name = ?, user_name_fold = ?, external_id = ?, display_name_fold = ?, active = ?,
                              resource = ?, version = ?, last_modified = ?, link = ?, upstream_id = ?
             WHERE tenant = ? AND id = ? AND version = ?",
        )
        .bind(&cols.user_name)
        .bind(fold(&cols.user_name))
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(cols.active)
        .bind(user.resource.to_string())
        .bind(user.version)
        .bind(timestamp(&user.last_modified))
        .bind(serde_json::to_string(&user.link).map_err(|e| StoreError::Database(e.to_string()))?)
        .bind(&user.link.upstream_id)
        .bind(tenant)
        .bind(&user.id)
        .bind(user.version - 1)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE tenant = ? AND id = ?")
                .bind(tenant)
                .bind(&user.id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(if exists.is_some() {
                StoreError::VersionMismatch
            } else {
                StoreError::NotFound
            });
        }
        Self::write_emails(&mut tx, tenant, &user.id, &cols.emails).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE tenant = ? AND id = ?")
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
        let offset = query.start_index.saturating_sub(1);
        let exact = query.filter.as_ref().map(sql_filter::translate);
        match (&query.filter, exact) {
            (None, _) => self.sql_page(tenant, None, offset, query.count).await,
            (Some(_), Some(Some(cond))) => {
                self.sql_page(tenant, Some(&cond), offset, query.count)
                    .await
            }
            (Some(filter), _) => {
                let narrowed = sql_filter::prefilter(filter);
                let candidates = self.select_users(tenant, narrowed.as_ref(), None).await?;
                let types = schema::user();
                let matching: Vec<UserRecord> = candidates
                    .into_iter()
                    .filter(|u| matches(filter, &super::filter_view(u), types))
                    .collect();
                let total = matching.len() as u64;
                let items = matching
                    .into_iter()
                    .skip(offset as usize)
                    .take(query.count as usize)
                    .collect();
                Ok(ListPage { total, items })
            }
        }
    }

    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id FROM users WHERE tenant = ? AND upstream_id = ?")
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
            "INSERT INTO create_intents (tenant, user_name_fold, scim_id, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant, user_name_fold) DO UPDATE SET scim_id = excluded.scim_id, created_at = excluded.created_at",
        )
        .bind(tenant)
        .bind(fold(username))
        .bind(scim_id)
        .bind(timestamp(&chrono::Utc::now()))
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
            "SELECT scim_id FROM create_intents WHERE tenant = ? AND user_name_fold = ?",
        )
        .bind(tenant)
        .bind(fold(username))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("scim_id")).transpose()?)
    }

    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM create_intents WHERE tenant = ? AND user_name_fold = ?")
            .bind(tenant)
            .bind(fold(username))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, tenant, actor, resource_type, resource_id, action, outcome, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
             FROM audit WHERE tenant = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(tenant)
        .bind(limit as i64)
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
}
