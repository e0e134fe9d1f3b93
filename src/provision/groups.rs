//! SCIM group operations. Groups exist only in the bridge (Bandwidth has none); a
//! membership change commits locally with one `sync_user` job per affected user, and
//! the worker carries the resulting role changes upstream.
use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{found, retry_lost_races, Caller, Change, Error, Provisioner, Result, Write};
use crate::scim::error::ScimError;
use crate::scim::etag::check_if_match;
use crate::scim::validate::{self, InputRules};
use crate::scim::{patch, schema};
use crate::store::{AuditEntry, GroupRecord, GroupWrite, ListPage, ListQuery, Member};

/// Attributes never stored on a group: server-set ones; `members` are rows.
const NOT_STORED: &[&str] = &["id", "meta", "members"];

/// A group with its members, when they were asked for.
pub struct GroupView {
    pub group: GroupRecord,
    pub members: Option<Vec<Member>>,
}

/// Splits a group body into the stored resource and the member ids (the schema rules
/// are [`validate`]'s; member ids follow its character and length rule).
pub fn sanitize_group(
    body: Value,
    limits: &InputRules,
) -> std::result::Result<(Value, Vec<String>), ScimError> {
    let Value::Object(mut map) = body else {
        return Err(ScimError::invalid_syntax("a Group must be a JSON object"));
    };
    let members = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| member_ids(v, limits))
        .transpose()?
        .unwrap_or_default();
    map.retain(|key, _| !NOT_STORED.iter().any(|n| n.eq_ignore_ascii_case(key)));
    let mut resource = Value::Object(map);
    schema::normalize_schemas(&mut resource);
    let resource = validate::resource(resource, schema::group(), limits)?;
    match resource.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::invalid_value(
                "displayName is required and must be a non-empty string",
            ))
        }
    }
    Ok((resource, members))
}

/// Member ids from `[{"value": id}, ...]` (bare strings accepted), without duplicates.
fn member_ids(members: &Value, limits: &InputRules) -> std::result::Result<Vec<String>, ScimError> {
    let Value::Array(items) = members else {
        if members.is_null() {
            return Ok(vec![]);
        }
        return Err(ScimError::invalid_value("members must be an array"));
    };
    let mut ids = BTreeSet::new();
    for item in items {
        let id = item
            .get("value")
            .and_then(Value::as_str)
            .or_else(|| item.as_str());
        match id {
            Some(id) if !id.is_empty() => {
                validate::check_string("a member value", id, limits)?;
                ids.insert(id.to_string());
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "a member needs a value (a User id), got {item}"
                )))
            }
        }
    }
    Ok(ids.into_iter().collect())
}

fn display_name(resource: &Value) -> &str {
    resource
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Refuses a member list longer than the tenant allows in one request, before any work.
fn check_member_count(caller: &Caller, count: usize) -> std::result::Result<(), ScimError> {
    let max = caller.tenant.max_members_per_request;
    if count > max {
        return Err(ScimError::invalid_value(format!(
            "{count} members in one request; at most {max} are accepted (limits.max_members_per_request); send them in several requests"
        )));
    }
    Ok(())
}

/// How many member values a PATCH carries: the `value` of every operation whose path
/// names `members` (a list or a single member), plus `members` inside path-less values.
fn patch_member_count(body: &Value) -> usize {
    let count = |v: &Value| match v {
        Value::Array(items) => items.len(),
        Value::Null => 0,
        _ => 1,
    };
    let ops = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
        .and_then(|(_, v)| v.as_array());
    ops.into_iter()
        .flatten()
        .map(|op| {
            let value = op.get("value").unwrap_or(&Value::Null);
            match op.get("path").and_then(Value::as_str) {
                Some(path)
                    if path
                        .trim_start()
                        .to_ascii_lowercase()
                        .starts_with("members") =>
                {
                    count(value)
                }
                Some(_) => 0,
                None => value
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")))
                    .map(|(_, v)| count(v))
                    .unwrap_or(0),
            }
        })
        .sum()
}

impl Provisioner {
    /// Refuses member ids that are not users of this tenant, naming them.
    async fn check_members(&self, caller: &Caller, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let found: BTreeSet<String> = self
            .store
            .existing_users(&caller.tenant.name, ids)
            .await?
            .into_iter()
            .collect();
        let unknown: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = unknown.iter().take(10).map(|s| s.as_str()).collect();
        let more = if unknown.len() > 10 {
            format!(" and {} more", unknown.len() - 10)
        } else {
            String::new()
        };
        Err(ScimError::invalid_value(format!(
            "members are not Users of this tenant: {}{more}",
            shown.join(", ")
        ))
        .into())
    }

    async fn audit_group(&self, caller: &Caller, id: &str, action: &str, detail: Value) {
        let entry = AuditEntry {
            at: Utc::now(),
            tenant: caller.tenant.name.clone(),
            actor: caller.credential_id.clone(),
            resource_type: "Group".into(),
            resource_id: id.into(),
            action: action.into(),
            outcome: "ok".into(),
            detail,
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action, resource_id = id, "could not write the audit entry");
        }
    }

    async fn view(
        &self,
        caller: &Caller,
        group: GroupRecord,
        with_members: bool,
    ) -> Result<GroupView> {
        let members = if with_members {
            Some(
                self.store
                    .group_members(&caller.tenant.name, &group.id)
                    .await?,
            )
        } else {
            None
        };
        Ok(GroupView { group, members })
    }

    pub async fn create_group(&self, caller: &Caller, body: Value) -> Result<GroupView> {
        let (resource, members) = sanitize_group(body, &caller.tenant.input_rules)?;
        check_member_count(caller, members.len())?;
        self.check_members(caller, &members).await?;
        let now = Utc::now();
        let group = GroupRecord {
            id: Uuid::new_v4().to_string(),
            resource,
            version: 1,
            created: now,
            last_modified: now,
        };
        self.store
            .insert_group(&caller.tenant.name, &group, &members)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(what) => Error::uniqueness(format!(
                    "a Group with this {what} already exists ({:?})",
                    display_name(&group.resource)
                )),
                other => other.into(),
            })?;
        self.jobs_ready.notify_one();
        self.audit_group(
            caller,
            &group.id,
            "create",
            json!({"members": members.len()}),
        )
        .await;
        self.view(caller, group, true).await
    }

    pub async fn get_group(
        &self,
        caller: &Caller,
        id: &str,
        with_members: bool,
    ) -> Result<GroupView> {
        let group = self.load_group(caller, id).await?;
        self.view(caller, group, with_members).await
    }

    async fn load_group(&self, caller: &Caller, id: &str) -> Result<GroupRecord> {
        let stored = self.store.get_group(&caller.tenant.name, id).await?;
        found(stored, "Group", id)
    }

    pub async fn list_groups(
        &self,
        caller: &Caller,
        query: &ListQuery,
        with_members: bool,
    ) -> Result<(u64, Vec<GroupView>)> {
        let ListPage { total, items } = self.store.list_groups(&caller.tenant.name, query).await?;
        let mut views = Vec::with_capacity(items.len());
        for group in items {
            views.push(self.view(caller, group, with_members).await?);
        }
        Ok((total, views))
    }

    /// Replaces (PUT) or patches (PATCH) the group.
    ///
    /// A PATCH applies to the group as the IdP sees it (members included), then stores
    /// the new resource and the new member set; only the difference becomes jobs.
    ///
    /// The in-process lock queues this replica's requests; another replica's write
    /// between the read and the write is caught by the store's version check, and the
    /// whole write then re-runs on a fresh read (for a PATCH, the winner's members
    /// included), so two replicas adding different members both land. A group write is
    /// local only (role changes go through jobs), so a re-run repeats nothing outside
    /// the database.
    pub async fn write_group(
        &self,
        caller: &Caller,
        id: &str,
        change: Change<'_>,
    ) -> Result<GroupView> {
        let if_match = change.if_match;
        match change.how {
            Write::Replace => {
                let (resource, members) = sanitize_group(change.body, &caller.tenant.input_rules)?;
                check_member_count(caller, members.len())?;
                let _guard = self.lock_group(caller, id).await;
                retry_lost_races(|_| async {
                    let old = self.load_group(caller, id).await?;
                    check_if_match(if_match, old.version)?;
                    self.check_members(caller, &members).await?;
                    let members = Some(members.clone());
                    self.store_group_change(caller, old, resource.clone(), members, "replace")
                        .await
                })
                .await
            }
            Write::Patch => {
                let body = change.body;
                check_member_count(caller, patch_member_count(&body))?;
                let _guard = self.lock_group(caller, id).await;
                retry_lost_races(|_| self.patch_group_once(caller, id, &body, if_match)).await
            }
        }
    }

    /// This process's lock on the group: its writes queue one after another.
    async fn lock_group(&self, caller: &Caller, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let key = format!("{}/Group/{id}", caller.tenant.name);
        self.locks.lock(key).await
    }

    async fn patch_group_once(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<GroupView> {
        let old = self.load_group(caller, id).await?;
        check_if_match(if_match, old.version)?;
        let current = self.store.group_members(&caller.tenant.name, id).await?;
        let mut doc = old.resource.clone();
        if let Some(obj) = doc.as_object_mut() {
            let listed: Vec<Value> = current
                .iter()
                .map(|m| json!({"value": m.user_id}))
                .collect();
            obj.insert("members".into(), Value::Array(listed));
            obj.insert("id".into(), Value::String(old.id.clone()));
        }
        let outcome = patch::apply_patch(&mut doc, body, schema::group())?;
        let (resource, members) = sanitize_group(doc, &caller.tenant.input_rules)?;
        let before: BTreeSet<&String> = current.iter().map(|m| &m.user_id).collect();
        let added: Vec<String> = members
            .iter()
            .filter(|m| !before.contains(m))
            .cloned()
            .collect();
        self.check_members(caller, &added).await?;
        let members_changed = outcome.changed("members");
        let members = members_changed.then_some(members);
        self.store_group_change(caller, old, resource, members, "patch")
            .await
    }

    async fn store_group_change(
        &self,
        caller: &Caller,
        old: GroupRecord,
        resource: Value,
        members: Option<Vec<String>>,
        action: &str,
    ) -> Result<GroupView> {
        // What a group grants depends on its name and externalId: a change re-syncs all.
        let identity = |r: &Value| (display_name(r).to_lowercase(), r.get("externalId").cloned());
        let resync_all = identity(&old.resource) != identity(&resource);
        let group = GroupRecord {
            id: old.id.clone(),
            resource,
            version: old.version + 1,
            created: old.created,
            last_modified: Utc::now(),
        };
        self.store
            .update_group(
                &caller.tenant.name,
                GroupWrite {
                    group: &group,
                    members: members.as_deref(),
                    resync_all,
                },
            )
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(what) => {
                    Error::uniqueness(format!("a Group with this {what} already exists"))
                }
                other => other.into(),
            })?;
        self.jobs_ready.notify_one();
        let detail = json!({"members": members.as_ref().map(Vec::len), "resync_all": resync_all});
        self.audit_group(caller, &group.id, action, detail).await;
        self.view(caller, group, true).await
    }

    pub async fn delete_group(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let _guard = self.lock_group(caller, id).await;
        let old = self.load_group(caller, id).await?;
        check_if_match(if_match, old.version)?;
        self.store.delete_group(&caller.tenant.name, id).await?;
        self.jobs_ready.notify_one();
        self.audit_group(caller, id, "delete", json!({})).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_splits_members_and_drops_server_attributes() {
        let body = json!({"schemas":[schema::GROUP_SCHEMA],"id":"x","meta":{},"displayName":"Admins",
                          "members":[{"value":"u2"},{"value":"u1","display":"One"},"u2"]});
        let (resource, members) = sanitize_group(body, &InputRules::default()).unwrap();
        assert_eq!(
            resource,
            json!({"schemas":[schema::GROUP_SCHEMA],"displayName":"Admins"})
        );
        assert_eq!(members, vec!["u1", "u2"]);
    }

    #[test]
    fn sanitize_refuses_bad_groups() {
        for body in [
            json!({}),
            json!({"displayName": ""}),
            json!({"displayName": 3}),
            json!([]),
            json!({"displayName":"a","members":"u1"}),
            json!({"displayName":"a","members":[{"display":"x"}]}),
        ] {
            assert_eq!(
                sanitize_group(body, &InputRules::default())
                    .unwrap_err()
                    .status,
                400
            );
        }
        assert!(sanitize_group(
            json!({"displayName":"a","members":null}),
            &InputRules::default()
        )
        .unwrap()
        .1
        .is_empty());
    }
}
