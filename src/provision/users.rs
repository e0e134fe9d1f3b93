//! SCIM user operations and what each means upstream. User writes are synchronous: the
//! upstream call happens first, then the local commit, so the IdP sees real errors and
//! nothing is stored for a write that did not happen upstream.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;

use super::access::{scim_roles, Access};
use super::guard::{held_note, Gate, HELD};
use super::mapping::{is_active, map_user, Mapped};
use super::{retry_lost_races, user_key, Caller, Error, Provisioner, Result, Tenant};
use crate::config::{DeactivatePolicy, DeletePolicy, UsernameChangePolicy};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::{patch, schema};
use crate::store::{
    fold, AuditEntry, DeprovisionAction, ListPage, ListQuery, StoreError, SyncState, UpstreamLink,
    UserRecord,
};
use crate::upstream::{DesiredUser, TargetError, UpstreamUser};

/// Attributes a client may send but the bridge never stores: server-set ones, the
/// computed `groups`, the bridge's own extension, and `password` (Bandwidth users set
/// their own; a password sent by an IdP is dropped unread).
const NOT_STORED: &[&str] = &[
    "id",
    "meta",
    "groups",
    "password",
    schema::BRIDGE_USER_SCHEMA,
];

/// Checks and cleans a user body from the IdP into the form that is stored.
pub fn sanitize_user(body: Value) -> std::result::Result<Value, ScimError> {
    let Value::Object(mut map) = body else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    map.retain(|key, _| !NOT_STORED.iter().any(|n| n.eq_ignore_ascii_case(key)));
    let mut resource = Value::Object(map);
    schema::normalize_schemas(&mut resource);
    let Some(map) = resource.as_object_mut() else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    match map.get("active") {
        None | Some(Value::Bool(_)) => {}
        Some(Value::String(s))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            let active = s.eq_ignore_ascii_case("true");
            map.insert("active".into(), Value::Bool(active));
        }
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "active must be a boolean, got {other}"
            )))
        }
    }
    match map.get("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ScimError::invalid_value("userName is required"));
        }
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "userName must be a string, got {other}"
            )))
        }
    }
    if let Some(ext) = map.get("externalId") {
        if !ext.is_string() && !ext.is_null() {
            return Err(ScimError::invalid_value("externalId must be a string"));
        }
    }
    Ok(resource)
}

fn user_name(resource: &Value) -> &str {
    resource
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn eq_filter(attr: &str, value: &str) -> Filter {
    Filter::Compare {
        path: AttrPath {
            schema: None,
            attr: attr.into(),
            sub_attr: None,
        },
        op: CompareOp::Eq,
        value: CompValue::String(value.into()),
    }
}

fn synced_link(upstream: &UpstreamUser) -> UpstreamLink {
    UpstreamLink {
        upstream_id: Some(upstream.id.clone()),
        upstream_username: upstream.username.clone(),
        roles: upstream.roles.clone(),
        account_scope: upstream.account_scope,
        accounts: upstream.accounts.clone(),
        sync_state: SyncState::Synced,
        last_error: None,
        last_synced_at: Some(Utc::now()),
    }
}

/// The upstream-visible part of a mapped user, to skip upstream writes that change nothing.
fn upstream_fields(m: &Mapped) -> (&str, &str, &str, Option<&str>) {
    (
        &m.user.first_name,
        &m.user.last_name,
        &m.user.email,
        m.user.phone.as_deref(),
    )
}

/// What one operation did, for the audit.
struct Outcome {
    notes: Vec<String>,
    upstream: &'static str,
}

impl Provisioner {
    pub async fn get_user(&self, caller: &Caller, id: &str) -> Result<UserRecord> {
        self.store
            .get_user(&caller.tenant.name, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("User {id} not found")).into())
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        query: &ListQuery,
    ) -> Result<ListPage<UserRecord>> {
        Ok(self.store.list_users(&caller.tenant.name, query).await?)
    }

    async fn find_local(
        &self,
        caller: &Caller,
        attr: &str,
        value: &str,
    ) -> Result<Option<UserRecord>> {
        let query = ListQuery::page(Some(eq_filter(attr, value)), 1, 1);
        Ok(self
            .store
            .list_users(&caller.tenant.name, &query)
            .await?
            .items
            .into_iter()
            .next())
    }

    async fn audit(
        &self,
        caller: &Caller,
        id: &str,
        action: &str,
        result: std::result::Result<&Outcome, &Error>,
    ) {
        let (outcome, detail) = match result {
            Ok(o) => ("ok", json!({"upstream": o.upstream, "notes": o.notes})),
            Err(e) => ("error", json!({"error": e.to_string()})),
        };
        let entry = AuditEntry {
            at: Utc::now(),
            tenant: caller.tenant.name.clone(),
            actor: caller.credential_id.clone(),
            resource_type: "User".into(),
            resource_id: id.into(),
            action: action.into(),
            outcome: outcome.into(),
            detail,
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action, resource_id = id, "could not write the audit entry");
        }
    }

    /// The upstream user to write: mapped attributes, plus access when this call sets it
    /// (`None` keeps upstream's roles, scope and accounts, which the job worker owns).
    pub(crate) fn desired(mapped: &Mapped, access: Option<&Access>, active: bool) -> DesiredUser {
        DesiredUser {
            roles: access.map(Access::roles),
            account_scope: access.map(|a| a.scope),
            accounts: access.and_then(Access::accounts),
            active,
            ..mapped.user.clone()
        }
    }

    pub async fn create_user(&self, caller: &Caller, body: Value) -> Result<UserRecord> {
        let resource = sanitize_user(body)?;
        let username = user_name(&resource).to_string();
        // Creates of one userName are serialised across replicas, so the second of two
        // racing creates finds the first's user locally (409) before touching the
        // upstream, and the create intent is never shared by two racers.
        let _guard = self
            .lock(format!(
                "{}/userName/{}",
                caller.tenant.name,
                fold(&username)
            ))
            .await?;
        let result = self.create_user_locked(caller, resource, &username).await;
        let id = result
            .as_ref()
            .map(|(u, _)| u.id.clone())
            .unwrap_or_default();
        self.audit(caller, &id, "create", result.as_ref().map(|(_, o)| o))
            .await;
        result.map(|(user, _)| user)
    }

    async fn create_user_locked(
        &self,
        caller: &Caller,
        resource: Value,
        username: &str,
    ) -> Result<(UserRecord, Outcome)> {
        let tenant = &caller.tenant;
        if self
            .find_local(caller, "userName", username)
            .await?
            .is_some()
        {
            return Err(Error::uniqueness(format!(
                "a User with userName {username:?} already exists"
            )));
        }
        if let Some(external_id) = resource.get("externalId").and_then(Value::as_str) {
            if self
                .find_local(caller, "externalId", external_id)
                .await?
                .is_some()
            {
                return Err(Error::uniqueness(format!(
                    "a User with externalId {external_id:?} already exists"
                )));
            }
        }
        let mapped = map_user(&resource, username, tenant.target.user_rules())?;
        let prior_intent = self.store.create_intent(&tenant.name, username).await?;
        let id = prior_intent
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let active = mapped.user.active;
        let mut outcome = Outcome {
            notes: mapped.notes.clone(),
            upstream: "created",
        };

        let link = if !active && tenant.policy.on_deactivate == DeactivatePolicy::Delete {
            outcome.upstream = "none (inactive under the delete policy)";
            UpstreamLink {
                upstream_username: username.to_string(),
                sync_state: SyncState::Deprovisioned,
                ..UpstreamLink::default()
            }
        } else {
            let stripped = !active && tenant.policy.on_deactivate == DeactivatePolicy::StripRoles;
            // A new user is in no group yet: base roles (and SCIM roles when enabled).
            let access = if stripped {
                Access::default()
            } else {
                tenant.access_policy().compute(&[], &resource)
            };
            let desired = Self::desired(&mapped, Some(&access), active || stripped);
            let (upstream, how) = self
                .create_upstream(caller, &id, &desired, prior_intent.is_some())
                .await?;
            outcome.upstream = how;
            synced_link(&upstream)
        };

        let now = Utc::now();
        let user = UserRecord {
            id,
            resource,
            version: 1,
            created: now,
            last_modified: now,
            link,
        };
        if let Err(e) = self.store.insert_user(&tenant.name, &user).await {
            if matches!(e, StoreError::Conflict(_)) && outcome.upstream == "created" {
                self.undo_upstream_create(caller, &user).await;
            }
            return Err(e.into());
        }
        self.store
            .clear_create_intent(&tenant.name, username)
            .await?;
        Ok((user, outcome))
    }

    /// The local insert lost on a unique index (an externalId, or a userName renamed
    /// into place, that a concurrent write took after the checks above) after this
    /// request created the upstream user: delete that user again, so the 409 leaves no
    /// orphan in Bandwidth. Only a user this request created and nobody links is
    /// deleted; a failure is logged (the audit records the 409).
    async fn undo_upstream_create(&self, caller: &Caller, user: &UserRecord) {
        let tenant = &caller.tenant;
        let Some(upstream_id) = user.link.upstream_id.as_deref() else {
            return;
        };
        let username = user_name(&user.resource);
        let result = async {
            if self
                .store
                .user_id_by_upstream(&tenant.name, upstream_id)
                .await?
                .is_none()
            {
                tenant.target.delete_user(upstream_id).await?;
            }
            self.store
                .clear_create_intent(&tenant.name, username)
                .await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, upstream_id, "could not undo the upstream create of a refused user");
        }
    }

    /// Creates the upstream user, or links the one that already has the username when it
    /// is ours (a create whose answer was lost) or the tenant allows adoption.
    async fn create_upstream(
        &self,
        caller: &Caller,
        scim_id: &str,
        desired: &DesiredUser,
        ours: bool,
    ) -> Result<(UpstreamUser, &'static str)> {
        let tenant = &caller.tenant;
        self.store
            .put_create_intent(&tenant.name, &desired.username, scim_id)
            .await?;
        let detail = match tenant.target.create_user(desired).await {
            Ok(user) => return Ok((user, "created")),
            Err(TargetError::Conflict(detail)) => detail,
            Err(e) => return Err(e.into()),
        };
        let adopt = tenant.policy.adopt_existing;
        let mut existing = tenant.target.find_by_username(&desired.username).await?;
        if existing.is_none() && adopt {
            existing = tenant.target.find_by_email(&desired.email).await?;
        }
        if let Some(found) = existing {
            let linked_elsewhere = self
                .store
                .user_id_by_upstream(&tenant.name, &found.id)
                .await?;
            let by_username = fold(&found.username) == fold(&desired.username);
            if linked_elsewhere.is_none() && (adopt || (ours && by_username)) {
                let desired = DesiredUser {
                    username: found.username.clone(),
                    ..desired.clone()
                };
                let updated = tenant.target.update_user(&found.id, &desired).await?;
                return Ok((
                    updated,
                    if adopt {
                        "adopted existing upstream user"
                    } else {
                        "linked after a lost create answer"
                    },
                ));
            }
        }
        self.store
            .clear_create_intent(&tenant.name, &desired.username)
            .await?;
        Err(Error::uniqueness(format!(
            "already exists in Bandwidth: {detail}"
        )))
    }

    pub async fn replace_user(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<UserRecord> {
        let resource = sanitize_user(body)?;
        self.change_user(caller, id, if_match, "replace", |_| Ok(resource.clone()))
            .await
    }

    pub async fn patch_user(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<UserRecord> {
        self.change_user(caller, id, if_match, "patch", |old| {
            let mut doc = old.resource.clone();
            patch::apply_patch(&mut doc, &body, schema::user())?;
            Ok(sanitize_user(doc)?)
        })
        .await
    }

    /// Reads the user, makes the new resource from it, carries the change upstream and
    /// stores it, holding the user's lock (in-process and, on PostgreSQL, across
    /// replicas and the job worker) so nothing interleaves with the read-modify-write.
    ///
    /// A write can still lose on the stored version (a replica of an older release
    /// that takes no shared lock, or several processes on one SQLite file): then the
    /// whole operation runs again from a fresh read, so the PATCH applies on top of the
    /// winner's change instead of the IdP getting an error or one change being lost.
    /// Re-running is safe upstream because every upstream write is a GET-merge-PUT of
    /// the whole desired user (re-sending it converges on the same state), and a
    /// re-create finds the user the earlier attempt created by username and links it
    /// (`ours`). A re-run always re-sends the user upstream, even if the change looks
    /// like a no-op against the fresh read: the earlier attempt's PUT, made from the
    /// stale read, may have landed after the winner's.
    async fn change_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
        action: &str,
        make: impl Fn(&UserRecord) -> Result<Value>,
    ) -> Result<UserRecord> {
        let _guard = self.lock(user_key(&caller.tenant.name, id)).await?;
        let attempted = AtomicBool::new(false);
        let result = retry_lost_races(|attempt| {
            let (make, attempted) = (&make, &attempted);
            async move {
                let old = self.get_user(caller, id).await?;
                // If-Match names the version the IdP read; after a lost race the
                // version moved on, and 412 is the truthful answer.
                check_if_match(if_match, old.version)?;
                attempted.store(true, Ordering::Relaxed);
                let new = make(&old)?;
                self.apply_change(caller, &old, new, attempt > 0).await
            }
        })
        .await;
        // A missing user or a failed If-Match is not an action; everything else is audited.
        if attempted.load(Ordering::Relaxed) {
            self.audit(caller, id, action, result.as_ref().map(|(_, o)| o))
                .await;
        }
        result.map(|(user, _)| user)
    }

    /// Carries a change of a stored user upstream under the tenant's policies, then stores it.
    async fn apply_change(
        &self,
        caller: &Caller,
        old: &UserRecord,
        new: Value,
        resend: bool,
    ) -> Result<(UserRecord, Outcome)> {
        let tenant = &caller.tenant;
        let policy = &tenant.policy;
        let (old_name, new_name) = (user_name(&old.resource), user_name(&new));
        let mut notes = Vec::new();
        if fold(old_name) != fold(new_name) {
            if policy.on_username_change == UsernameChangePolicy::Reject {
                return Err(ScimError::mutability(format!(
                    "userName cannot change from {old_name:?}: Bandwidth usernames are immutable (policy on_username_change = reject)"
                ))
                .into());
            }
            if self
                .find_local(caller, "userName", new_name)
                .await?
                .is_some_and(|u| u.id != old.id)
            {
                return Err(Error::uniqueness(format!(
                    "a User with userName {new_name:?} already exists"
                )));
            }
            notes.push(format!(
                "userName changed from {old_name:?} to {new_name:?}; the Bandwidth username stays {:?}",
                old.link.upstream_username
            ));
        }
        let external_id = new.get("externalId").and_then(Value::as_str);
        if let Some(ext) = external_id
            .filter(|e| Some(*e) != old.resource.get("externalId").and_then(Value::as_str))
        {
            if self
                .find_local(caller, "externalId", ext)
                .await?
                .is_some_and(|u| u.id != old.id)
            {
                return Err(Error::uniqueness(format!(
                    "a User with externalId {ext:?} already exists"
                )));
            }
        }

        let upstream_username = old.link.upstream_username.clone();
        let mapped = map_user(&new, &upstream_username, tenant.target.user_rules())?;
        notes.extend(mapped.notes.iter().cloned());
        let changed = map_user(
            &old.resource,
            &upstream_username,
            tenant.target.user_rules(),
        )
        .map(|before| upstream_fields(&before) != upstream_fields(&mapped))
        .unwrap_or(true);
        let (was_active, now_active) = (is_active(&old.resource), is_active(&new));
        let mut link = old.link.clone();
        let mut upstream = "unchanged";

        match (link.upstream_id.clone(), was_active, now_active) {
            (None, _, true) => {
                let access = self.desired_access(tenant, &old.id, &new).await?;
                let desired = Self::desired(&mapped, Some(&access), true);
                let (user, how) = self
                    .create_upstream(caller, &old.id, &desired, true)
                    .await?;
                self.store
                    .clear_create_intent(&tenant.name, &desired.username)
                    .await?;
                link = synced_link(&user);
                upstream = if how == "created" { "re-created" } else { how };
            }
            (None, _, false) => {}
            (Some(uid), true, false) => match self
                .deprovision_gate(
                    caller,
                    &old.id,
                    &uid,
                    &upstream_username,
                    deactivate_action(policy.on_deactivate),
                    &new,
                )
                .await?
            {
                Gate::Held(id) => {
                    link.sync_state = SyncState::Held;
                    link.last_error = Some(held_note(&tenant.name, id));
                    notes.push(held_note(&tenant.name, id));
                    upstream = HELD;
                }
                Gate::Now => {
                    upstream = self
                        .deactivate_upstream(caller, &uid, &mapped, upstream_username, &mut link)
                        .await?;
                }
            },
            (Some(uid), false, true) => {
                // Access is sent again: under strip_roles it was removed.
                let access = self.desired_access(tenant, &old.id, &new).await?;
                let desired = Self::desired(&mapped, Some(&access), true);
                link = synced_link(
                    &self
                        .update_or_recreate(caller, &old.id, &new, &uid, &desired)
                        .await?,
                );
                upstream = "reactivated";
            }
            // Writing an inactive user upstream would carry out the held deactivation.
            (Some(_), _, false) if link.sync_state == SyncState::Held => upstream = HELD,
            (Some(uid), _, active) if changed || resend => {
                let keep_active = active || policy.on_deactivate == DeactivatePolicy::StripRoles;
                let desired = Self::desired(&mapped, None, keep_active);
                link = synced_link(
                    &self
                        .update_or_recreate(caller, &old.id, &new, &uid, &desired)
                        .await?,
                );
                upstream = "updated";
            }
            (Some(_), _, _) => {}
        }

        let user = UserRecord {
            id: old.id.clone(),
            resource: new,
            version: old.version + 1,
            created: old.created,
            last_modified: Utc::now(),
            link,
        };
        self.store.update_user(&tenant.name, &user).await?;
        if tenant.groups.use_scim_roles && scim_roles(&old.resource) != scim_roles(&user.resource) {
            self.store
                .enqueue_user_syncs(&tenant.name, std::slice::from_ref(&user.id))
                .await?;
            self.jobs_ready.notify_one();
        }
        Ok((user, Outcome { notes, upstream }))
    }

    /// Carries out the tenant's deactivation policy on upstream user `uid` now.
    async fn deactivate_upstream(
        &self,
        caller: &Caller,
        uid: &str,
        mapped: &Mapped,
        upstream_username: String,
        link: &mut UpstreamLink,
    ) -> Result<&'static str> {
        let tenant = &caller.tenant;
        Ok(match tenant.policy.on_deactivate {
            DeactivatePolicy::Deactivate => {
                let desired = Self::desired(mapped, None, false);
                *link = synced_link(&tenant.target.update_user(uid, &desired).await?);
                "deactivated"
            }
            DeactivatePolicy::StripRoles => {
                let desired = Self::desired(mapped, Some(&Access::default()), true);
                *link = synced_link(&tenant.target.update_user(uid, &desired).await?);
                "roles removed"
            }
            DeactivatePolicy::Delete => {
                tenant.target.delete_user(uid).await?;
                *link = UpstreamLink {
                    upstream_username,
                    sync_state: SyncState::Deprovisioned,
                    last_synced_at: Some(Utc::now()),
                    ..UpstreamLink::default()
                };
                "deleted"
            }
        })
    }

    /// Updates the linked upstream user; if it was deleted behind the bridge's back and
    /// the user should be active, creates it again rather than failing forever.
    async fn update_or_recreate(
        &self,
        caller: &Caller,
        scim_id: &str,
        resource: &Value,
        upstream_id: &str,
        desired: &DesiredUser,
    ) -> Result<UpstreamUser> {
        let target = &caller.tenant.target;
        match target.update_user(upstream_id, desired).await {
            Err(TargetError::NotFound) if desired.active => {
                let access = match &desired.roles {
                    Some(_) => None,
                    None => Some(
                        self.desired_access(&caller.tenant, scim_id, resource)
                            .await?,
                    ),
                };
                let desired = match access {
                    Some(a) => DesiredUser {
                        roles: Some(a.roles()),
                        account_scope: Some(a.scope),
                        accounts: a.accounts(),
                        ..desired.clone()
                    },
                    None => desired.clone(),
                };
                let (user, _) = self
                    .create_upstream(caller, scim_id, &desired, true)
                    .await?;
                self.store
                    .clear_create_intent(&caller.tenant.name, &desired.username)
                    .await?;
                Ok(user)
            }
            other => Ok(other?),
        }
    }

    /// Reconcile's repair of an active user whose upstream user is gone: under the
    /// user's lock, checks again that it is gone, then creates it as the IdP last wrote
    /// it (with its groups' access) and links it, keeping the SCIM id. `Ok(false)` when
    /// there was nothing to do (the user became inactive, was deleted, or its upstream
    /// user is there after all).
    pub async fn recreate_missing(&self, tenant: &Arc<Tenant>, id: &str) -> Result<bool> {
        let caller = Caller {
            tenant: tenant.clone(),
            credential_id: "reconcile".into(),
        };
        let _guard = self.lock(user_key(&tenant.name, id)).await?;
        let Some(user) = self.store.get_user(&tenant.name, id).await? else {
            return Ok(false);
        };
        if !is_active(&user.resource) {
            return Ok(false);
        }
        if let Some(uid) = &user.link.upstream_id {
            if tenant.target.get_user(uid).await?.is_some() {
                return Ok(false);
            }
        }
        let result = async {
            let mapped = map_user(
                &user.resource,
                &user.link.upstream_username,
                tenant.target.user_rules(),
            )?;
            let access = self.desired_access(tenant, id, &user.resource).await?;
            let desired = Self::desired(&mapped, Some(&access), true);
            let (upstream, how) = self.create_upstream(&caller, id, &desired, true).await?;
            self.store
                .clear_create_intent(&tenant.name, &desired.username)
                .await?;
            self.store
                .update_user_link(&tenant.name, id, &synced_link(&upstream))
                .await?;
            Ok(Outcome {
                notes: mapped.notes,
                upstream: if how == "created" { "re-created" } else { how },
            })
        }
        .await;
        self.audit(&caller, id, "reconcile_recreate", result.as_ref())
            .await;
        result.map(|_| true)
    }

    pub async fn delete_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let _guard = self.lock(user_key(&caller.tenant.name, id)).await?;
        let old = self.get_user(caller, id).await?;
        check_if_match(if_match, old.version)?;
        let result = self.delete_user_locked(caller, &old).await;
        self.audit(caller, id, "delete", result.as_ref()).await;
        result.map(|_| ())
    }

    async fn delete_user_locked(&self, caller: &Caller, old: &UserRecord) -> Result<Outcome> {
        let tenant = &caller.tenant;
        let mut upstream = "none linked";
        let mut notes = vec![];
        let action = match tenant.policy.on_delete {
            DeletePolicy::Delete => DeprovisionAction::Delete,
            DeletePolicy::Deactivate => DeprovisionAction::Deactivate,
        };
        let gate = match &old.link.upstream_id {
            Some(uid) => {
                self.deprovision_gate(
                    caller,
                    &old.id,
                    uid,
                    &old.link.upstream_username,
                    action,
                    &old.resource,
                )
                .await?
            }
            None => Gate::Now,
        };
        if let Gate::Held(id) = gate {
            upstream = HELD;
            notes.push(held_note(&tenant.name, id));
        } else if let Some(uid) = &old.link.upstream_id {
            match tenant.policy.on_delete {
                DeletePolicy::Delete => {
                    tenant.target.delete_user(uid).await?;
                    upstream = "deleted";
                }
                DeletePolicy::Deactivate => {
                    let mapped = map_user(
                        &old.resource,
                        &old.link.upstream_username,
                        tenant.target.user_rules(),
                    )?;
                    let desired = Self::desired(&mapped, None, false);
                    match tenant.target.update_user(uid, &desired).await {
                        Ok(_) | Err(TargetError::NotFound) => upstream = "deactivated",
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        self.store.delete_user(&tenant.name, &old.id).await?;
        Ok(Outcome { notes, upstream })
    }
}

/// The upstream deprovision a deactivation is under the tenant's policy.
fn deactivate_action(policy: DeactivatePolicy) -> DeprovisionAction {
    match policy {
        DeactivatePolicy::Deactivate => DeprovisionAction::Deactivate,
        DeactivatePolicy::StripRoles => DeprovisionAction::StripRoles,
        DeactivatePolicy::Delete => DeprovisionAction::Delete,
    }
}

/// `If-Match` (RFC 7644 §3.14): `*` or one of the listed ETags must be the current one.
pub(super) fn check_if_match(if_match: Option<&str>, version: i64) -> Result<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = super::render::etag(version);
    let strong = format!("\"{version}\"");
    let ok = header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            412,
            None,
            format!("If-Match {header} does not match the current version {current}"),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_server_and_secret_attributes() {
        let body = json!({"schemas":[schema::USER_SCHEMA],"id":"x","meta":{},"password":"p","Groups":[],
                          "userName":"a","active":"False","custom":{"keep":1}});
        let clean = sanitize_user(body).unwrap();
        assert_eq!(
            clean,
            json!({"schemas":[schema::USER_SCHEMA],"userName":"a","active":false,"custom":{"keep":1}})
        );
    }

    #[test]
    fn sanitize_requires_a_username() {
        for body in [
            json!({}),
            json!({"userName":""}),
            json!({"userName":null}),
            json!({"userName":5}),
            json!([]),
        ] {
            let e = sanitize_user(body).unwrap_err();
            assert_eq!(e.status, 400);
        }
        assert_eq!(
            sanitize_user(json!({"userName":"a","active":"maybe"}))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn if_match_accepts_current_weak_strong_and_star() {
        assert!(check_if_match(None, 3).is_ok());
        assert!(check_if_match(Some("W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
        assert!(check_if_match(Some("W/\"1\", W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("W/\"2\""), 3).is_err());
    }
}
