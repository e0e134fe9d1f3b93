//! Groups and memberships. Every membership change enqueues its `sync_user` jobs in the
//! same transaction; member sets travel as one bound list, so a 10,000-member change is
//! a handful of statements.
use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use super::jobs::enqueue;
use super::list::{list, GROUPS};
use super::rows::{group_ref_from_point_row, Stored, GROUP_COLUMNS};
use super::{fetch_all, fetch_optional, missing_or_stale, Backend, Conn, Stmt};
use crate::store::{
    fold, timestamp, GroupRecord, GroupRef, GroupStore, GroupWrite, ListQuery, Listing, Member,
    StoreError,
};

const INSERT_GROUP: &str = "INSERT INTO groups (tenant, id, display_name, display_name_fold,
        external_id, resource, version, created_at, last_modified)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Bound as [`INSERT_GROUP`] is (`created_at`, `$8`, unused).
const UPDATE_GROUP: &str = "UPDATE groups SET display_name = $3, display_name_fold = $4,
        external_id = $5, resource = $6, version = $7, last_modified = $9
     WHERE tenant = $1 AND id = $2 AND version = $7 - 1";

const DELETE_GROUP: &str = "DELETE FROM groups WHERE tenant = $1 AND id = $2";
const MEMBER_IDS: &str = "SELECT user_id FROM group_members WHERE tenant = $1 AND group_id = $2";
const REMOVE_ALL_MEMBERS: &str =
    "DELETE FROM group_members WHERE tenant = $1 AND group_id = $2 RETURNING user_id";

/// A point read on SQLite.
pub(super) const USER_GROUPS: &str = "SELECT g.id, g.display_name, g.external_id
     FROM group_members m JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
     WHERE m.tenant = $1 AND m.user_id = $2
     ORDER BY g.display_name_fold, g.display_name, g.id";

/// The groups of each user listed at `$2`, as [`USER_GROUPS`] orders them.
fn users_groups<B: Backend>() -> String {
    format!(
        "SELECT m.user_id, g.id, g.display_name, g.external_id
         FROM group_members m JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
         WHERE m.tenant = $1 AND m.user_id IN (SELECT id FROM {})
         ORDER BY m.user_id, g.display_name_fold, g.display_name, g.id",
        B::DIALECT.texts(2)
    )
}

/// Adds the members listed at `$3` (already members are left alone); returns the added.
fn add_members<B: Backend>() -> String {
    format!(
        "INSERT INTO group_members (tenant, group_id, user_id)
         SELECT DISTINCT $1, $2, list.id FROM {} WHERE true
         ON CONFLICT DO NOTHING RETURNING user_id",
        B::DIALECT.texts(3)
    )
}

/// Removes the members not listed at `$3`; returns the removed.
fn remove_other_members<B: Backend>() -> String {
    format!(
        "DELETE FROM group_members WHERE tenant = $1 AND group_id = $2
           AND user_id NOT IN (SELECT list.id FROM {}) RETURNING user_id",
        B::DIALECT.texts(3)
    )
}

/// The display text of a member is the user's displayName as written (only its folded
/// form has a column, so it is read from the resource), else its userName.
fn members_of<B: Backend>() -> String {
    format!(
        "SELECT m.user_id, COALESCE({}, u.user_name) AS display
         FROM group_members m JOIN users u ON u.tenant = m.tenant AND u.id = m.user_id
         WHERE m.tenant = $1 AND m.group_id = $2 ORDER BY m.user_id",
        B::DIALECT.json_text("u.resource", "displayName")
    )
}

/// The group's row values in the order of [`INSERT_GROUP`]. The caller leaves `members`
/// out of the resource (they are rows); it is stored as given.
fn group_row(tenant: &str, group: &GroupRecord, sql: &'static str) -> Stmt {
    let text = |key: &str| group.resource.get(key).and_then(Value::as_str);
    let display_name = text("displayName").unwrap_or_default();
    Stmt::new(sql)
        .text(tenant)
        .text(&group.id)
        .text(display_name)
        .text(&fold(display_name))
        .opt_text(text("externalId"))
        .text(&group.resource.to_string())
        .int(group.version)
        .text(&timestamp(&group.created))
        .text(&timestamp(&group.last_modified))
}

fn members_stmt(sql: String, tenant: &str, group_id: &str, users: &[String]) -> Stmt {
    Stmt::new(sql).text(tenant).text(group_id).texts(users)
}

/// Enqueues the users' jobs in user id order: concurrent group writes then take the
/// users' pending-job slots in one global order, so they cannot deadlock on each other's
/// uncommitted jobs.
async fn enqueue_sorted<B: Backend>(
    conn: &mut <B::Db as sqlx::Database>::Connection,
    tenant: &str,
    mut users: Vec<String>,
) -> Result<(), StoreError> {
    users.sort();
    users.dedup();
    enqueue::<B>(conn, tenant, &users).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> GroupStore for B {
    async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(group_row(tenant, group, INSERT_GROUP)).await?;
        if !members.is_empty() {
            // A member that is not a user of the tenant fails the foreign key: the caller
            // validates with `existing_users` first.
            let add = members_stmt(add_members::<B>(), tenant, &group.id, members);
            let added = tx.fetch_ids(add).await?;
            enqueue_sorted::<B>(&mut tx, tenant, added).await?;
        }
        Ok(tx.commit().await?)
    }

    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE tenant = $1 AND id = $2");
        let row: Option<GroupRecord> =
            fetch_optional(self, Stmt::new(sql).text(tenant).text(id)).await?;
        row.map(Stored::record).transpose()
    }

    async fn list_groups(&self, tenant: &str, query: &ListQuery) -> Listing<GroupRecord> {
        list(self, &GROUPS, tenant, query).await
    }

    async fn group_members(&self, tenant: &str, group_id: &str) -> Result<Vec<Member>, StoreError> {
        let stmt = Stmt::new(members_of::<B>()).text(tenant).text(group_id);
        fetch_all(self, stmt).await
    }

    async fn update_group(&self, tenant: &str, write: GroupWrite<'_>) -> Result<(), StoreError> {
        let group = write.group;
        let mut tx = self.begin().await?;
        if tx.execute(group_row(tenant, group, UPDATE_GROUP)).await? == 0 {
            return Err(missing_or_stale(&mut *tx, "groups", tenant, &group.id).await?);
        }
        // The version check above holds the group's row lock until commit, so concurrent
        // writers of this group's membership are serialised behind it.
        let mut changed: Vec<String> = Vec::new();
        if let Some(set) = write.members {
            let remove = members_stmt(remove_other_members::<B>(), tenant, &group.id, set);
            changed.extend(tx.fetch_ids(remove).await?);
            let add = members_stmt(add_members::<B>(), tenant, &group.id, set);
            changed.extend(tx.fetch_ids(add).await?);
        }
        if write.resync_all {
            // Old members that were just removed are in `changed`; the rest are rows now.
            let current = Stmt::new(MEMBER_IDS).text(tenant).text(&group.id);
            changed.extend(tx.fetch_ids(current).await?);
        }
        enqueue_sorted::<B>(&mut tx, tenant, changed).await?;
        Ok(tx.commit().await?)
    }

    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Lock the group row first, as update_group does (its versioned UPDATE), so the
        // two never hold each other's member rows and group row crosswise (deadlock).
        let lock = format!(
            "SELECT 1 FROM groups WHERE tenant = $1 AND id = $2{}",
            B::DIALECT.for_update()
        );
        let found: Option<(i32,)> = tx
            .fetch_optional(Stmt::new(lock).text(tenant).text(id))
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        let former = tx
            .fetch_ids(Stmt::new(REMOVE_ALL_MEMBERS).text(tenant).text(id))
            .await?;
        tx.execute(Stmt::new(DELETE_GROUP).text(tenant).text(id))
            .await?;
        enqueue_sorted::<B>(&mut tx, tenant, former).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn users_groups(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Vec<GroupRef>>, StoreError> {
        let mut groups: HashMap<String, Vec<GroupRef>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(groups);
        }
        let stmt = Stmt::new(users_groups::<B>()).text(tenant).texts(user_ids);
        let rows: Vec<(String, String, String, Option<String>)> = fetch_all(self, stmt).await?;
        for (user_id, id, display_name, external_id) in rows {
            groups.entry(user_id).or_default().push(GroupRef {
                id,
                display_name,
                external_id,
            });
        }
        Ok(groups)
    }

    async fn user_groups(&self, tenant: &str, user_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        let stmt = Stmt::new(USER_GROUPS).text(tenant).text(user_id);
        match self.point() {
            Some(reader) => reader.fetch_all(&stmt, group_ref_from_point_row),
            None => fetch_all(self, stmt).await,
        }
    }
}
