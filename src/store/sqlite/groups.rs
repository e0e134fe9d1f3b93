//! Groups and memberships in SQLite. Every membership change enqueues its `sync_user`
//! jobs in the same transaction.
use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::jobs::{enqueue, CHUNK};
use super::{parse_json, SqliteStore, Table};
use crate::scim::schema;
use crate::store::sql_filter::Resource;
use crate::store::{
    fold, group_filter_view, parse_timestamp, timestamp, GroupRecord, GroupRef, Member, StoreError,
};

const GROUP_COLUMNS: &str = "id, resource, version, created_at, last_modified";

const USER_GROUPS: &str = "SELECT g.id, g.display_name, g.external_id FROM group_members m
     JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
     WHERE m.tenant = ? AND m.user_id = ? ORDER BY g.display_name_fold";

pub(super) const GROUPS: Table<GroupRecord> = Table {
    name: "groups",
    columns: GROUP_COLUMNS,
    resource: Resource::Groups,
    from_row: group_from_row,
    point_row: None,
    view: group_filter_view,
    types: schema::group,
};

fn group_from_row(row: &SqliteRow) -> Result<GroupRecord, StoreError> {
    let resource: String = row.try_get("resource")?;
    let created: String = row.try_get("created_at")?;
    let modified: String = row.try_get("last_modified")?;
    Ok(GroupRecord {
        id: row.try_get("id")?,
        resource: parse_json(&resource)?,
        version: row.try_get("version")?,
        created: parse_timestamp(&created)?,
        last_modified: parse_timestamp(&modified)?,
    })
}

fn display_name(resource: &Value) -> String {
    resource
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn external_id(resource: &Value) -> Option<String> {
    resource
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

async fn member_ids(
    conn: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    let rows = sqlx::query("SELECT user_id FROM group_members WHERE tenant = ? AND group_id = ?")
        .bind(tenant)
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
}

async fn add_members(
    conn: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
    users: &[&String],
) -> Result<(), StoreError> {
    for chunk in users.chunks(CHUNK) {
        let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO group_members (tenant, group_id, user_id) VALUES {values} ON CONFLICT DO NOTHING");
        let mut query = sqlx::query(&sql);
        for user in chunk {
            query = query.bind(tenant).bind(group_id).bind(*user);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn remove_members(
    conn: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
    users: &[&String],
) -> Result<(), StoreError> {
    for chunk in users.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "DELETE FROM group_members WHERE tenant = ? AND group_id = ? AND user_id IN ({marks})"
        );
        let mut query = sqlx::query(&sql).bind(tenant).bind(group_id);
        for user in chunk {
            query = query.bind(*user);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

impl SqliteStore {
    pub(super) async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let name = display_name(&group.resource);
        sqlx::query(
            "INSERT INTO groups (tenant, id, display_name, display_name_fold, external_id, resource, version, created_at, last_modified)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(&group.id)
        .bind(&name)
        .bind(fold(&name))
        .bind(external_id(&group.resource))
        .bind(group.resource.to_string())
        .bind(group.version)
        .bind(timestamp(&group.created))
        .bind(timestamp(&group.last_modified))
        .execute(&mut *tx)
        .await?;
        let unique: BTreeSet<&String> = members.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        add_members(&mut tx, tenant, &group.id, &unique).await?;
        let owned: Vec<String> = unique.into_iter().cloned().collect();
        enqueue(&mut tx, tenant, &owned).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_group(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<GroupRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE tenant = ? AND id = ?"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    pub(super) async fn group_members(
        &self,
        tenant: &str,
        group_id: &str,
    ) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, COALESCE(json_extract(u.resource, '$.displayName'), u.user_name) AS display
             FROM group_members m JOIN users u ON u.tenant = m.tenant AND u.id = m.user_id
             WHERE m.tenant = ? AND m.group_id = ? ORDER BY m.user_id",
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

    pub(super) async fn update_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: Option<&[String]>,
        resync_all: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let name = display_name(&group.resource);
        let done = sqlx::query(
            "UPDATE groups SET display_name = ?, display_name_fold = ?, external_id = ?, resource = ?, version = ?, last_modified = ?
             WHERE tenant = ? AND id = ? AND version = ?",
        )
        .bind(&name)
        .bind(fold(&name))
        .bind(external_id(&group.resource))
        .bind(group.resource.to_string())
        .bind(group.version)
        .bind(timestamp(&group.last_modified))
        .bind(tenant)
        .bind(&group.id)
        .bind(group.version - 1)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM groups WHERE tenant = ? AND id = ?")
                .bind(tenant)
                .bind(&group.id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(if exists.is_some() {
                StoreError::VersionMismatch
            } else {
                StoreError::NotFound
            });
        }
        let old = member_ids(&mut tx, tenant, &group.id).await?;
        let mut affected: BTreeSet<String> = if resync_all {
            old.clone()
        } else {
            BTreeSet::new()
        };
        if let Some(members) = members {
            let new: BTreeSet<String> = members.iter().cloned().collect();
            let added: Vec<&String> = new.difference(&old).collect();
            let removed: Vec<&String> = old.difference(&new).collect();
            add_members(&mut tx, tenant, &group.id, &added).await?;
            remove_members(&mut tx, tenant, &group.id, &removed).await?;
            affected.extend(added.into_iter().cloned());
            affected.extend(removed.into_iter().cloned());
            if resync_all {
                affected.extend(new);
            }
        }
        let affected: Vec<String> = affected.into_iter().collect();
        enqueue(&mut tx, tenant, &affected).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let former: Vec<String> = member_ids(&mut tx, tenant, id).await?.into_iter().collect();
        let done = sqlx::query("DELETE FROM groups WHERE tenant = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, tenant, &former).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn user_groups(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<GroupRef>, StoreError> {
        if let Some(reader) = &self.point {
            return reader.read(|c| {
                let mut statement = c.prepare_cached(USER_GROUPS)?;
                let rows = statement.query_map([tenant, user_id], |r| {
                    Ok(GroupRef {
                        id: r.get("id")?,
                        display_name: r.get("display_name")?,
                        external_id: r.get("external_id")?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            });
        }
        let rows = sqlx::query(USER_GROUPS)
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

    pub(super) async fn existing_users(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT id FROM users WHERE tenant = ? AND id IN ({marks})");
            let mut query = sqlx::query(&sql).bind(tenant);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(row.try_get("id")?);
            }
        }
        Ok(found)
    }
}
