//! A [`Target`] that reads through to another one and never writes to it: every write
//! is handed to a [`WriteRecorder`] (the log and the audit) and answered with what the
//! upstream would plausibly have answered. Lets an admin rehearse a rollout against
//! production.
//!
//! A create answers a user with a synthetic id, `dryrun-<uuid>`. The users such
//! creates "made", and the effect of later writes to them, are kept in memory so that
//! the bridge's read-merge-write paths see their own rehearsed writes; after a restart
//! a write to a `dryrun-` id starts from the desired user alone. Writes to real
//! upstream users are answered with the real user merged with the write, but are not
//! remembered: the next read shows upstream as it is.
//!
//! A create of a username or email the upstream already has answers `Conflict`, and a
//! role name the upstream does not have answers `Invalid`, as the upstream would, so
//! the rehearsal follows the bridge's real error, conflict and adoption paths.
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{
    AccessModel, DesiredUser, Role, Target, TargetError, UpstreamUser, UserPage, UserRules,
};

/// The prefix of the ids dry-run creates answer with.
pub const DRY_RUN_ID_PREFIX: &str = "dryrun-";

/// One write a dry-run target did not make.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedWrite {
    /// `create_user`, `update_user` or `delete_user`.
    pub operation: &'static str,
    /// The upstream id written to (the synthetic one for a create).
    pub upstream_id: String,
    pub username: Option<String>,
    /// The full request as the bridge would have made it, secrets redacted.
    pub request: Value,
}

/// Where skipped writes go.
#[async_trait]
pub trait WriteRecorder: Send + Sync {
    async fn record(&self, write: &SkippedWrite);
}

/// Records in the log only (`check-config` and other commands without a store).
pub struct LogRecorder;

#[async_trait]
impl WriteRecorder for LogRecorder {
    async fn record(&self, write: &SkippedWrite) {
        log_write(write);
    }
}

/// The info line every skipped write gets.
pub fn log_write(write: &SkippedWrite) {
    tracing::info!(
        operation = write.operation,
        upstream_id = %write.upstream_id,
        request = %write.request,
        "dry run: upstream write not made"
    );
}

pub struct DryRunTarget {
    inner: Arc<dyn Target>,
    recorder: Arc<dyn WriteRecorder>,
    /// Users this target "created" (and what later writes did to them).
    rehearsed: Mutex<HashMap<String, UpstreamUser>>,
    /// The upstream's role names, read on the first write that names roles.
    role_names: tokio::sync::Mutex<Option<BTreeSet<String>>>,
}

impl DryRunTarget {
    pub fn new(inner: Arc<dyn Target>, recorder: Arc<dyn WriteRecorder>) -> Self {
        Self {
            inner,
            recorder,
            rehearsed: Mutex::new(HashMap::new()),
            role_names: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch_role_names(&self) -> Result<BTreeSet<String>, TargetError> {
        Ok(self
            .inner
            .list_roles()
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// `Invalid` naming the roles the upstream does not have, as a real write would
    /// fail; the cached names are read again once before refusing.
    async fn check_roles(&self, user: &DesiredUser) -> Result<(), TargetError> {
        let Some(wanted) = &user.roles else {
            return Ok(());
        };
        let unknown = |names: &BTreeSet<String>| -> Vec<String> {
            wanted
                .iter()
                .filter(|r| !names.contains(*r))
                .cloned()
                .collect()
        };
        let mut cache = self.role_names.lock().await;
        if cache
            .as_ref()
            .is_some_and(|names| unknown(names).is_empty())
        {
            return Ok(());
        }
        let names = self.fetch_role_names().await?;
        let missing = unknown(&names);
        *cache = Some(names);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Invalid(format!(
                "unknown role(s): {} (dry run)",
                missing.join(", ")
            )))
        }
    }

    fn rehearsed(&self) -> std::sync::MutexGuard<'_, HashMap<String, UpstreamUser>> {
        self.rehearsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find_rehearsed(&self, matches: impl Fn(&UpstreamUser) -> bool) -> Option<UpstreamUser> {
        self.rehearsed().values().find(|u| matches(u)).cloned()
    }
}

/// The request a desired user stands for. It carries no secret: the adapter generates
/// a dashboard password only when it really creates, and that never reaches here; the
/// `password` key is named so the audit shows one would have been sent.
fn request(user: &DesiredUser, create: bool) -> Value {
    let mut body = json!({
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "phone": user.phone,
        "roles": user.roles,
        "account_scope": user.account_scope,
        "accounts": user.accounts,
        "active": user.active,
    });
    if create {
        body["password"] = json!("[redacted]");
    }
    body
}

/// The skipped create or update of `user` (upstream `username`) at `upstream_id`.
fn user_write(
    operation: &'static str,
    upstream_id: &str,
    username: &str,
    user: &DesiredUser,
) -> SkippedWrite {
    SkippedWrite {
        operation,
        upstream_id: upstream_id.to_string(),
        username: Some(username.to_string()),
        request: request(user, operation == "create_user"),
    }
}

/// `base` with the write applied as the adapter applies it (`None` access keeps).
fn merged(base: &UpstreamUser, user: &DesiredUser) -> UpstreamUser {
    UpstreamUser {
        id: base.id.clone(),
        username: base.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        roles: user.roles.clone().unwrap_or_else(|| base.roles.clone()),
        account_scope: user.account_scope.unwrap_or(base.account_scope),
        accounts: user
            .accounts
            .clone()
            .unwrap_or_else(|| base.accounts.clone()),
        active: user.active,
        department: user.department.clone().or_else(|| base.department.clone()),
    }
}

fn synthetic(id: &str, user: &DesiredUser) -> UpstreamUser {
    UpstreamUser {
        id: id.to_string(),
        username: user.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        roles: user.roles.clone().unwrap_or_default(),
        account_scope: user.account_scope.unwrap_or_default(),
        accounts: user.accounts.clone().unwrap_or_default(),
        active: user.active,
        department: user.department.clone(),
    }
}

#[async_trait]
impl Target for DryRunTarget {
    fn user_rules(&self) -> UserRules {
        self.inner.user_rules()
    }

    fn access_model(&self) -> AccessModel {
        self.inner.access_model()
    }

    fn as_held(&self, desired: &DesiredUser) -> DesiredUser {
        self.inner.as_held(desired)
    }

    fn account_ids(&self) -> Vec<String> {
        self.inner.account_ids()
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        self.check_roles(user).await?;
        if self.find_by_username(&user.username).await?.is_some() {
            return Err(TargetError::Conflict(format!(
                "username {} is taken (dry run)",
                user.username
            )));
        }
        if self.find_by_email(&user.email).await?.is_some() {
            return Err(TargetError::Conflict(format!(
                "email {} is taken (dry run)",
                user.email
            )));
        }
        let id = format!("{DRY_RUN_ID_PREFIX}{}", uuid::Uuid::new_v4());
        let created = synthetic(&id, user);
        self.recorder
            .record(&user_write("create_user", &id, &user.username, user))
            .await;
        self.rehearsed().insert(id, created.clone());
        Ok(created)
    }

    async fn get_user(&self, id: &str) -> Result<Option<UpstreamUser>, TargetError> {
        if id.starts_with(DRY_RUN_ID_PREFIX) {
            return Ok(self.rehearsed().get(id).cloned());
        }
        self.inner.get_user(id).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<UpstreamUser>, TargetError> {
        if let Some(u) = self.find_rehearsed(|u| u.username.eq_ignore_ascii_case(username)) {
            return Ok(Some(u));
        }
        self.inner.find_by_username(username).await
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UpstreamUser>, TargetError> {
        if let Some(u) = self.find_rehearsed(|u| u.email.eq_ignore_ascii_case(email)) {
            return Ok(Some(u));
        }
        self.inner.find_by_email(email).await
    }

    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        self.check_roles(user).await?;
        let after = if id.starts_with(DRY_RUN_ID_PREFIX) {
            let before = self.rehearsed().get(id).cloned();
            let after = match before {
                Some(base) => merged(&base, user),
                None => synthetic(id, user),
            };
            self.rehearsed().insert(id.to_string(), after.clone());
            after
        } else {
            let base = self
                .inner
                .get_user(id)
                .await?
                .ok_or(TargetError::NotFound)?;
            if merged(&base, user) == base {
                // The adapter would not write either.
                return Ok(base);
            }
            merged(&base, user)
        };
        self.recorder
            .record(&user_write("update_user", id, &after.username, user))
            .await;
        Ok(after)
    }

    async fn delete_user(&self, id: &str) -> Result<(), TargetError> {
        let removed = self.rehearsed().remove(id);
        self.recorder
            .record(&SkippedWrite {
                operation: "delete_user",
                upstream_id: id.to_string(),
                username: removed.map(|u| u.username),
                request: json!({"id": id}),
            })
            .await;
        Ok(())
    }

    async fn list_users(&self, page: u32) -> Result<UserPage, TargetError> {
        self.inner.list_users(page).await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, TargetError> {
        self.inner.list_roles().await
    }

    async fn ping(&self) -> Result<(), TargetError> {
        self.inner.ping().await
    }

    async fn preflight(&self) -> Result<super::Preflight, TargetError> {
        self.inner.preflight().await
    }
}

#[cfg(test)]
#[path = "dry_run_tests.rs"]
mod tests;
