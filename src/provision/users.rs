//! SCIM user operations and what each means upstream. User writes are synchronous: the
//! upstream call happens first, then the local commit, so the IdP sees real errors and
//! nothing is stored for a write that did not happen upstream.
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use serde_json::{json, Value};

use super::catalog::direct_grants;
use super::detached::run_to_completion;
use super::guard::HELD;
use super::lifecycle::{synced_link, Subject, UpstreamAction};
use super::mapping::{is_active, map_user, Mapped};
use super::{found, retry_lost_races, user_key, Caller, Change, Error, Provisioner, Result, Write};
use crate::config::{DeactivatePolicy, UsernameChangePolicy};
use crate::scim::error::ScimError;
use crate::scim::etag::check_if_match;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::validate::{self, InputRules};
use crate::scim::{patch, schema};
use crate::store::{fold, AuditEntry, GroupRef, ListPage, ListQuery, SyncState, UserRecord};

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

/// Checks and cleans a user body from the IdP into the form that is stored (the schema
/// rules are [`validate`]'s).
pub fn sanitize_user(body: Value, limits: &InputRules) -> std::result::Result<Value, ScimError> {
    let Value::Object(mut map) = body else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    map.retain(|key, _| !NOT_STORED.iter().any(|n| n.eq_ignore_ascii_case(key)));
    let mut resource = Value::Object(map);
    schema::normalize_schemas(&mut resource);
    let mut resource = validate::user(resource, limits)?;
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

pub(super) fn user_name(resource: &Value) -> &str {
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

/// The upstream-visible part of a mapped user, to skip upstream writes that change nothing.
/// The attributes an update writes upstream; the extension is not one of them (it
/// never changes after create), so a change of its source alone writes nothing.
type UpstreamFields<'a> = (
    [&'a str; 3],
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a [String],
);

fn upstream_fields(m: &Mapped) -> UpstreamFields<'_> {
    (
        [&m.user.first_name, &m.user.last_name, &m.user.email],
        m.user.phone.as_deref(),
        m.user.department.as_deref(),
        m.user.site.as_deref(),
        &m.user.emails,
    )
}

/// The audit note for an extension source that changed: recorded, never sent.
fn extension_note(before: &Mapped, after: &Mapped) -> Option<String> {
    let (old, new) = (&before.user.extension, &after.user.extension);
    (old != new).then(|| {
        format!(
            "extension source changed from {} to {}; not sent (an extension never changes after create)",
            old.as_deref().unwrap_or("none"),
            new.as_deref().unwrap_or("none")
        )
    })
}

/// What one operation did, for the audit.
pub(super) struct Outcome {
    pub notes: Vec<String>,
    pub upstream: &'static str,
}

impl Provisioner {
    pub async fn get_user(&self, caller: &Caller, id: &str) -> Result<UserRecord> {
        let stored = self.store.get_user(&caller.tenant.name, id).await?;
        found(stored, "User", id)
    }

    /// The user and its groups, read together (one statement on PostgreSQL).
    pub async fn get_user_with_groups(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(UserRecord, Vec<GroupRef>)> {
        let stored = self
            .store
            .get_user_with_groups(&caller.tenant.name, id)
            .await?;
        found(stored, "User", id)
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        query: &ListQuery,
    ) -> Result<ListPage<UserRecord>> {
        Ok(self.store.list_users(&caller.tenant.name, query).await?)
    }

    /// The groups `id` is a member of, for its read-only `groups` attribute.
    pub async fn user_groups(&self, caller: &Caller, id: &str) -> Result<Vec<GroupRef>> {
        Ok(self.store.user_groups(&caller.tenant.name, id).await?)
    }

    pub(super) async fn find_local(
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

    /// Refuses a unique attribute's value that a user other than `owner` already has.
    pub(super) async fn check_unclaimed(
        &self,
        caller: &Caller,
        attr: &str,
        value: &str,
        owner: Option<&str>,
    ) -> Result<()> {
        let holder = self.find_local(caller, attr, value).await?;
        if holder.is_some_and(|u| Some(u.id.as_str()) != owner) {
            return Err(Error::uniqueness(format!(
                "a User with {attr} {value:?} already exists"
            )));
        }
        Ok(())
    }

    pub(super) async fn audit(
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

    /// Replaces (PUT) or patches (PATCH) the user in a task of its own
    /// ([`run_to_completion`]), so a change that reached the upstream is committed
    /// locally even when the IdP stops waiting (else a later role sync would write the
    /// stale values back upstream).
    pub async fn write_user(
        &self,
        caller: &Caller,
        id: &str,
        change: Change<'_>,
    ) -> Result<UserRecord> {
        type Make = Box<dyn Fn(&UserRecord, &Caller) -> Result<Value> + Send + Sync>;
        let make: Make = match change.how {
            Write::Replace => {
                let resource = sanitize_user(change.body, &caller.tenant.input_rules)?;
                Box::new(move |_, _| Ok(resource.clone()))
            }
            Write::Patch => {
                let body = change.body;
                Box::new(move |old, caller| {
                    let mut doc = old.resource.clone();
                    patch::apply_patch(&mut doc, &body, schema::user())?;
                    Ok(sanitize_user(doc, &caller.tenant.input_rules)?)
                })
            }
        };
        let action = change.how.action();
        let (this, caller) = (self.clone(), caller.clone());
        let (id, if_match) = (id.to_string(), change.if_match.map(str::to_string));
        run_to_completion(|reply| async move {
            let result = this
                .change_user(&caller, &id, if_match.as_deref(), action, |old| {
                    make(old, &caller)
                })
                .await;
            // A PATCH or PUT re-sent by the IdP re-applies; nothing to leave behind.
            let _ = reply.send(result);
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
                check_if_match(if_match, old.meta.version)?;
                attempted.store(true, Ordering::Relaxed);
                let mut new = make(&old)?;
                caller.tenant.check_assignments(&mut new).await?;
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
            self.check_unclaimed(caller, "userName", new_name, Some(&old.id))
                .await?;
            notes.push(format!(
                "userName changed from {old_name:?} to {new_name:?}; the Bandwidth username stays {:?}",
                old.link.upstream_username
            ));
        }
        let external_id = new.get("externalId").and_then(Value::as_str);
        if let Some(ext) = external_id
            .filter(|e| Some(*e) != old.resource.get("externalId").and_then(Value::as_str))
        {
            self.check_unclaimed(caller, "externalId", ext, Some(&old.id))
                .await?;
        }

        let upstream_username = old.link.upstream_username.clone();
        let mapped = map_user(&new, &upstream_username, tenant.target.user_rules())?;
        notes.extend(mapped.notes.iter().cloned());
        let before = map_user(
            &old.resource,
            &upstream_username,
            tenant.target.user_rules(),
        );
        if let Some(note) = before
            .as_ref()
            .ok()
            .and_then(|b| extension_note(b, &mapped))
        {
            notes.push(note);
        }
        let changed = before
            .map(|before| upstream_fields(&before) != upstream_fields(&mapped))
            .unwrap_or(true);
        let (was_active, now_active) = (is_active(&old.resource), is_active(&new));
        let assignments_changed =
            tenant.direct_assignments && direct_grants(&old.resource) != direct_grants(&new);
        let mut link = old.link.clone();
        let mut upstream = "unchanged";

        let subject = Subject {
            scim_id: &old.id,
            resource: &new,
            link: &old.link,
        };
        let action = match (link.upstream_id.clone(), was_active, now_active) {
            (None, _, true) => Some(UpstreamAction::Recreate),
            (Some(_), true, false) => Some(UpstreamAction::on_deactivate(policy.on_deactivate)),
            // Access is sent again: under strip_roles it was removed.
            (Some(_), false, true) => Some(UpstreamAction::Reactivate),
            (None, _, false) => None,
            // Writing an inactive user upstream would carry out the held deactivation.
            (Some(_), _, false) if link.sync_state == SyncState::Held => {
                upstream = HELD;
                None
            }
            (Some(uid), _, active) if changed || resend || (assignments_changed && active) => {
                let keep_active = active || policy.on_deactivate == DeactivatePolicy::StripRoles;
                // A changed direct assignment is written now, not by a job, so a grant
                // the bridge's credential may not make is refused to the IdP (400)
                // instead of failing later where only an admin sees it.
                let access = match assignments_changed && active {
                    true => Some(
                        self.desired_access(tenant, &old.id, &new, &old.link.prior)
                            .await?,
                    ),
                    false => None,
                };
                let desired = Self::desired(&mapped, access.as_ref(), keep_active);
                link = synced_link(
                    &self
                        .update_or_recreate(caller, &subject, &uid, &desired)
                        .await?,
                );
                upstream = "updated";
                None
            }
            (Some(_), _, _) => None,
        };
        if let Some(action) = action {
            let carried = self.deprovision(caller, &subject, action).await?;
            upstream = carried.upstream;
            link = carried.link;
            notes.extend(carried.notes);
        }

        let user = UserRecord {
            id: old.id.clone(),
            resource: new,
            meta: old.meta.next(Utc::now()),
            link,
        };
        self.store.update_user(&tenant.name, &user).await?;
        if assignments_changed && !is_active(&user.resource) {
            self.store
                .enqueue_user_syncs(&tenant.name, std::slice::from_ref(&user.id))
                .await?;
            self.jobs_ready.notify_one();
        }
        Ok((user, Outcome { notes, upstream }))
    }

    pub async fn delete_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let _guard = self.lock(user_key(&caller.tenant.name, id)).await?;
        let old = self.get_user(caller, id).await?;
        check_if_match(if_match, old.meta.version)?;
        let result = self.delete_user_locked(caller, &old).await;
        self.audit(caller, id, "delete", result.as_ref()).await;
        result.map(|_| ())
    }

    async fn delete_user_locked(&self, caller: &Caller, old: &UserRecord) -> Result<Outcome> {
        let tenant = &caller.tenant;
        let subject = Subject {
            scim_id: &old.id,
            resource: &old.resource,
            link: &old.link,
        };
        let action = UpstreamAction::on_delete(tenant.policy.on_delete);
        let carried = self.deprovision(caller, &subject, action).await?;
        self.store.delete_user(&tenant.name, &old.id).await?;
        Ok(Outcome {
            notes: carried.notes,
            upstream: carried.upstream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_server_and_secret_attributes() {
        // `custom` is in no served schema: ignored since issue 15 (RFC 7644 §3.3).
        let body = json!({"schemas":[schema::USER_SCHEMA],"id":"x","meta":{},"password":"p","Groups":[],
                          "userName":"a","active":"False","custom":{"keep":1}});
        let clean = sanitize_user(body, &InputRules::default()).unwrap();
        assert_eq!(
            clean,
            json!({"schemas":[schema::USER_SCHEMA],"userName":"a","active":false})
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
            let e = sanitize_user(body, &InputRules::default()).unwrap_err();
            assert_eq!(e.status, 400);
        }
        assert_eq!(
            sanitize_user(
                json!({"userName":"a","active":"maybe"}),
                &InputRules::default()
            )
            .unwrap_err()
            .status,
            400
        );
    }
}
