//! Users, their emails, upstream links and create intents.
use async_trait::async_trait;

use super::groups::USER_GROUPS;
use super::list::{list, USERS};
use super::rows::{Stored, StoredUser, USER_COLUMNS};
#[cfg(doc)]
use super::Dialect;
use super::{
    execute, execute_found, fetch_all, fetch_id, fetch_optional, json_text, missing_or_stale,
    parse_json, Backend, Conn, Stmt,
};
use crate::store::{
    fold, parse_timestamp, timestamp, CreateIntent, GroupRef, GroupStore, ListQuery, Listing,
    Prior, StoreError, UpstreamLink, UserColumns, UserRecord, UserStore,
};

/// Selects [`USER_COLUMNS`]; also a point read (SQLite answers it on the calling thread).
const GET_USER: &str = "SELECT id, resource, version, created_at, last_modified, link, \
     prior_roles, prior_upstream_id FROM users WHERE tenant = $1 AND id = $2";

const INSERT_USER: &str = "INSERT INTO users (tenant, id, user_name, user_name_fold, external_id,
        display_name_fold, active, resource, version, created_at, last_modified, link, upstream_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

const UPDATE_USER: &str = "UPDATE users SET user_name = $3, user_name_fold = $4, external_id = $5,
        display_name_fold = $6, active = $7, resource = $8, version = $9, last_modified = $11,
        link = $12, upstream_id = $13
     WHERE tenant = $1 AND id = $2 AND version = $9 - 1";

const DELETE_EMAILS: &str = "DELETE FROM user_emails WHERE tenant = $1 AND user_id = $2";
const INSERT_EMAIL: &str =
    "INSERT INTO user_emails (tenant, user_id, value_fold) VALUES ($1, $2, $3)";
/// Emails, memberships and jobs go with the user (ON DELETE CASCADE).
const DELETE_USER: &str = "DELETE FROM users WHERE tenant = $1 AND id = $2";
const USER_BY_UPSTREAM: &str = "SELECT id FROM users WHERE tenant = $1 AND upstream_id = $2";
const UPDATE_LINK: &str =
    "UPDATE users SET link = $3, upstream_id = $4 WHERE tenant = $1 AND id = $2";

const UPDATE_PRIOR: &str =
    "UPDATE users SET prior_roles = $3, prior_upstream_id = $4 WHERE tenant = $1 AND id = $2";

const PUT_INTENT: &str =
    "INSERT INTO create_intents (tenant, user_name_fold, scim_id, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant, user_name_fold)
     DO UPDATE SET scim_id = excluded.scim_id, created_at = excluded.created_at";
const GET_INTENT: &str =
    "SELECT scim_id FROM create_intents WHERE tenant = $1 AND user_name_fold = $2";
const LIST_INTENTS: &str = "SELECT user_name_fold, scim_id, created_at FROM create_intents
     WHERE tenant = $1 ORDER BY created_at, user_name_fold";
const CLEAR_INTENT: &str = "DELETE FROM create_intents WHERE tenant = $1 AND user_name_fold = $2";

/// The user's row values in the order of [`INSERT_USER`] (and [`UPDATE_USER`], which
/// leaves `created_at`, `$10`, unused).
fn user_row(
    tenant: &str,
    user: &UserRecord,
    cols: &UserColumns,
    sql: &'static str,
) -> Result<Stmt, StoreError> {
    Ok(Stmt::new(sql)
        .text(tenant)
        .text(&user.id)
        .text(&cols.user_name)
        .text(&fold(&cols.user_name))
        .opt_text(cols.external_id.as_deref())
        .opt_text(cols.display_name.as_deref())
        .flag(cols.active)
        .text(&user.resource.to_string())
        .int(user.meta.version)
        .text(&timestamp(&user.meta.created))
        .text(&timestamp(&user.meta.last_modified))
        .text(&json_text(&user.link)?)
        .opt_text(user.link.upstream_id.as_deref()))
}

async fn write_emails<C: Conn>(
    conn: &mut C,
    tenant: &str,
    id: &str,
    emails: &[String],
) -> Result<(), StoreError> {
    conn.execute(Stmt::new(DELETE_EMAILS).text(tenant).text(id))
        .await?;
    // A user has a handful of emails: one statement each.
    for email in emails {
        conn.execute(Stmt::new(INSERT_EMAIL).text(tenant).text(id).text(email))
            .await?;
    }
    Ok(())
}

/// The row of [`GET_USER`] and the user's groups (see [`Dialect::json_rows`]).
#[derive(sqlx::FromRow)]
struct UserWithGroups {
    #[sqlx(flatten)]
    user: StoredUser,
    groups: String,
}

fn get_user_with_groups<B: Backend>() -> String {
    let groups = B::DIALECT.json_rows("r.id, r.display_name, r.external_id", USER_GROUPS);
    format!("SELECT {USER_COLUMNS}, {groups} AS groups FROM users WHERE tenant = $1 AND id = $2")
}

#[async_trait]
impl<B: Backend> UserStore for B {
    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let row = user_row(tenant, user, &cols, INSERT_USER)?;
        let mut tx = self.begin().await?;
        tx.execute(row).await?;
        write_emails(&mut *tx, tenant, &user.id, &cols.emails).await?;
        Ok(tx.commit().await?)
    }

    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let stmt = Stmt::new(GET_USER).text(tenant).text(id);
        let row: Option<StoredUser> = match self.point() {
            Some(reader) => reader
                .fetch_all(&stmt, StoredUser::from_point_row)?
                .into_iter()
                .next(),
            None => fetch_optional(self, stmt).await?,
        };
        row.map(Stored::record).transpose()
    }

    /// SQLite reads both on the calling thread (two index lookups, no round trip);
    /// elsewhere one statement brings both.
    async fn get_user_with_groups(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(UserRecord, Vec<GroupRef>)>, StoreError> {
        if self.point().is_some() {
            let Some(user) = self.get_user(tenant, id).await? else {
                return Ok(None);
            };
            return Ok(Some((user, self.user_groups(tenant, id).await?)));
        }
        let stmt = Stmt::new(get_user_with_groups::<B>()).text(tenant).text(id);
        let Some(row) = fetch_optional::<B, UserWithGroups>(self, stmt).await? else {
            return Ok(None);
        };
        let groups: Vec<(String, String, Option<String>)> = parse_json(&row.groups)?;
        let groups = groups
            .into_iter()
            .map(|(id, display_name, external_id)| GroupRef {
                id,
                display_name,
                external_id,
            })
            .collect();
        Ok(Some((row.user.record()?, groups)))
    }

    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError> {
        let cols = UserColumns::of(&user.resource);
        let row = user_row(tenant, user, &cols, UPDATE_USER)?;
        let mut tx = self.begin().await?;
        if tx.execute(row).await? == 0 {
            return Err(missing_or_stale(&mut *tx, "users", tenant, &user.id).await?);
        }
        write_emails(&mut *tx, tenant, &user.id, &cols.emails).await?;
        Ok(tx.commit().await?)
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let done = execute(self, Stmt::new(DELETE_USER).text(tenant).text(id)).await?;
        Ok(done > 0)
    }

    async fn list_users(&self, tenant: &str, query: &ListQuery) -> Listing<UserRecord> {
        list(self, &USERS, tenant, query).await
    }

    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError> {
        fetch_id(
            self,
            Stmt::new(USER_BY_UPSTREAM).text(tenant).text(upstream_id),
        )
        .await
    }

    async fn put_create_intent(
        &self,
        tenant: &str,
        intent: &CreateIntent,
    ) -> Result<(), StoreError> {
        let stmt = Stmt::new(PUT_INTENT)
            .text(tenant)
            .text(&fold(&intent.username))
            .text(&intent.scim_id)
            .text(&timestamp(&intent.created_at));
        execute(self, stmt).await?;
        Ok(())
    }

    async fn create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<String>, StoreError> {
        fetch_id(
            self,
            Stmt::new(GET_INTENT).text(tenant).text(&fold(username)),
        )
        .await
    }

    async fn create_intents(&self, tenant: &str) -> Result<Vec<CreateIntent>, StoreError> {
        let rows: Vec<(String, String, String)> =
            fetch_all(self, Stmt::new(LIST_INTENTS).text(tenant)).await?;
        rows.into_iter()
            .map(|(username, scim_id, created_at)| {
                Ok(CreateIntent {
                    username,
                    scim_id,
                    created_at: parse_timestamp(&created_at)?,
                })
            })
            .collect()
    }

    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError> {
        execute(
            self,
            Stmt::new(CLEAR_INTENT).text(tenant).text(&fold(username)),
        )
        .await?;
        Ok(())
    }

    async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError> {
        let stmt = Stmt::new(UPDATE_LINK)
            .text(tenant)
            .text(user_id)
            .text(&json_text(link)?)
            .opt_text(link.upstream_id.as_deref());
        execute_found(self, stmt).await
    }

    async fn remember_prior(
        &self,
        tenant: &str,
        user_id: &str,
        prior: &Prior,
    ) -> Result<(), StoreError> {
        let roles = match prior.roles.is_empty() {
            true => None,
            false => Some(json_text(&prior.roles)?),
        };
        let stmt = Stmt::new(UPDATE_PRIOR)
            .text(tenant)
            .text(user_id)
            .opt_text(roles.as_deref())
            .opt_text(prior.upstream_id.as_deref());
        execute_found(self, stmt).await
    }

    async fn existing_users(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT id FROM users WHERE tenant = $1 AND id IN (SELECT id FROM {}) ORDER BY id",
            B::DIALECT.texts(2)
        );
        let stmt = Stmt::new(sql).text(tenant).texts(ids);
        Ok(self.acquire().await?.fetch_ids(stmt).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_user_selects_the_decoded_columns() {
        assert!(GET_USER.starts_with(&format!("SELECT {USER_COLUMNS} FROM users")));
    }
}
