//! Users, create intents, links and the audit log in SQLite.
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{parse_json, SqliteStore, Table};
use crate::scim::schema;
use crate::store::sql_filter::Resource;
use crate::store::{
    fold, parse_timestamp, timestamp, AuditEntry, StoreError, UpstreamLink, UserColumns, UserRecord,
};

const USER_COLUMNS: &str = "id, resource, version, created_at, last_modified, link";
const GET_USER: &str = "SELECT id, resource, version, created_at, last_modified, link FROM users WHERE tenant = ? AND id = ?";

pub(super) const USERS: Table<UserRecord> = Table {
    name: "users",
    columns: USER_COLUMNS,
    resource: Resource::Users,
    from_row: user_from_row,
    point_row: Some(user_from_point_row),
    view: crate::store::filter_view,
    types: schema::user,
};

/// The text columns of a user row as stored, whichever driver read them.
struct StoredUser {
    id: String,
    resource: String,
    version: i64,
    created: String,
    modified: String,
    link: String,
}

impl StoredUser {
    fn record(self) -> Result<UserRecord, StoreError> {
        Ok(UserRecord {
            id: self.id,
            resource: parse_json(&self.resource)?,
            version: self.version,
            created: parse_timestamp(&self.created)?,
            last_modified: parse_timestamp(&self.modified)?,
            link: parse_json(&self.link)?,
        })
    }
}

/// [`user_from_row`] for a [`super::point`] connection's row.
fn user_from_point_row(row: &rusqlite::Row) -> Result<UserRecord, StoreError> {
    let get = |name: &str| row.get::<_, String>(name);
    StoredUser {
        id: get("id")?,
        resource: get("resource")?,
        version: row.get("version")?,
        created: get("created_at")?,
        modified: get("last_modified")?,
        link: get("link")?,
    }
    .record()
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    StoredUser {
        id: get("id")?,
        resource: get("resource")?,
        version: row.try_get("version")?,
        created: get("created_at")?,
        modified: get("last_modified")?,
        link: get("link")?,
    }
    .record()
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
}

impl SqliteStore {
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn insert_user(
        &self,
        tenant: &str,
        user: &UserRecord,
    ) -> Result<(), StoreError> {
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

    pub(super) async fn get_user(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        if let Some(reader) = &self.point {
            return reader.read(|c| {
                let mut statement = c.prepare_cached(GET_USER)?;
                let mut rows = statement.query([tenant, id])?;
                rows.next()?.map(user_from_point_row).transpose()
            });
        }
        let row = sqlx::query(GET_USER)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(super) async fn update_user(
        &self,
        tenant: &str,
        user: &UserRecord,
    ) -> Result<(), StoreError> {
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

    pub(super) async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE tenant = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn user_id_by_upstream(
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

    pub(super) async fn put_create_intent(
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

    pub(super) async fn create_intent(
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

    pub(super) async fn clear_create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM create_intents WHERE tenant = ? AND user_name_fold = ?")
            .bind(tenant)
            .bind(fold(username))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
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

    pub(super) async fn list_audit(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
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

impl SqliteStore {
    pub(super) async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET link = ?, upstream_id = ? WHERE tenant = ? AND id = ?")
                .bind(super::json_text(link)?)
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
}
