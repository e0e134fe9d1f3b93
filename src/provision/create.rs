//! Creating a user: upstream first, then the local insert, so the IdP sees real
//! errors and nothing is stored for a user that was not created upstream. A create
//! whose answer was lost is found again by username (the create intent says it was
//! ours) instead of being duplicated.
use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use super::detached::{run_to_completion, Reply};
use super::intents::create_key;
use super::lifecycle::synced_link;
use super::mapping::{map_user, Mapped};
use super::users::{sanitize_user, user_name, Outcome};
use super::{Caller, Error, Provisioner, Result, Tenant};
use crate::config::DeactivatePolicy;
use crate::provision::access::Access;
use crate::scim::validate;
use crate::store::{fold, CreateIntent, StoreError, SyncState, UpstreamLink, UserRecord};
use crate::upstream::{DesiredUser, TargetError, UpstreamUser};

impl Provisioner {
    /// Creates the user in a task of its own ([`run_to_completion`]), so a create
    /// that reached the upstream is committed locally even when the IdP stops waiting.
    pub async fn create_user(&self, caller: &Caller, body: Value) -> Result<UserRecord> {
        let mut resource =
            validate::active_by_default(sanitize_user(body, &caller.tenant.input_rules)?);
        caller.tenant.check_assignments(&mut resource).await?;
        let (this, caller) = (self.clone(), caller.clone());
        run_to_completion(|reply| async move {
            this.create_user_detached(&caller, resource, reply).await
        })
        .await
    }

    async fn create_user_detached(
        &self,
        caller: &Caller,
        resource: Value,
        reply: Reply<UserRecord>,
    ) {
        let username = user_name(&resource).to_string();
        // Creates of one userName are serialised across replicas, so the second of two
        // racing creates finds the first's user locally (409) before touching the
        // upstream, and the create intent is never shared by two racers.
        let key = create_key(&caller.tenant.name, &username);
        let _guard = match self.lock(key).await {
            Ok(guard) => guard,
            Err(e) => {
                reply.send(Err(e.into()));
                return;
            }
        };
        let result = self.create_user_locked(caller, resource, &username).await;
        let id = result
            .as_ref()
            .map(|(u, _)| u.id.clone())
            .unwrap_or_default();
        self.audit(caller, &id, "create", result.as_ref().map(|(_, o)| o))
            .await;
        if let Some(Ok(user)) = reply.send(result.map(|(user, _)| user)) {
            // Nobody heard the answer: the create intent, naming the new user, tells
            // the IdP's retry (still under this lock) that the user is its own.
            if let Err(e) = self
                .store
                .put_create_intent(&caller.tenant.name, &CreateIntent::now(&username, &user.id))
                .await
            {
                tracing::warn!(error = %e, id = user.id, "could not record an unheard create");
            }
        }
    }

    async fn create_user_locked(
        &self,
        caller: &Caller,
        resource: Value,
        username: &str,
    ) -> Result<(UserRecord, Outcome)> {
        let tenant = &caller.tenant;
        let prior_intent = self.store.create_intent(&tenant.name, username).await?;
        if let Some(existing) = self.find_local(caller, "userName", username).await? {
            // An earlier try of this create finished after its IdP stopped waiting:
            // the retry gets that try's user instead of a 409 for its own work.
            if prior_intent.as_deref() == Some(existing.id.as_str()) {
                self.store
                    .clear_create_intent(&tenant.name, username)
                    .await?;
                let outcome = Outcome {
                    notes: Vec::new(),
                    upstream: "none (an earlier try whose answer was lost created it)",
                };
                return Ok((existing, outcome));
            }
            return Err(Error::uniqueness(format!(
                "a User with userName {username:?} already exists"
            )));
        }
        if let Some(external_id) = resource.get("externalId").and_then(Value::as_str) {
            self.check_unclaimed(caller, "externalId", external_id, None)
                .await?;
        }
        let mapped = map_user(&resource, username, tenant.target.user_rules())?;
        let id = prior_intent
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let mut outcome = Outcome {
            notes: mapped.notes.clone(),
            upstream: "created",
        };

        let link = match Self::desired_on_create(tenant, &resource, &mapped) {
            None => {
                outcome.upstream = "none (inactive under the delete policy)";
                UpstreamLink {
                    upstream_username: username.to_string(),
                    sync_state: SyncState::Deprovisioned,
                    ..UpstreamLink::default()
                }
            }
            Some(desired) => {
                let (upstream, how) = self
                    .create_upstream(caller, &id, &desired, prior_intent.is_some())
                    .await?;
                outcome.upstream = how;
                commit_window_fault().await;
                synced_link(&upstream)
            }
        };

        let now = Utc::now();
        let user = UserRecord {
            id,
            resource,
            meta: crate::store::Meta::first(now),
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

    /// The upstream user a create of `resource` (mapped as `mapped`) writes, or `None`
    /// when the tenant keeps none for it (inactive under the `delete` policy). Public so
    /// that the benchmark's seed (`examples/seed`) fills the upstream with exactly what
    /// this path writes, and a reconcile of the seeded users finds no drift.
    pub fn desired_on_create(
        tenant: &Tenant,
        resource: &Value,
        mapped: &Mapped,
    ) -> Option<DesiredUser> {
        match (mapped.user.active, tenant.policy.on_deactivate) {
            (false, DeactivatePolicy::Delete) => None,
            (false, DeactivatePolicy::StripRoles) => {
                Some(Self::desired(mapped, Some(&Access::default()), true))
            }
            // A new user is in no group yet: base roles (and SCIM roles when enabled).
            _ => {
                let access = tenant.access_policy().compute(&[], resource);
                Some(Self::desired(mapped, Some(&access), mapped.user.active))
            }
        }
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
    pub(super) async fn create_upstream(
        &self,
        caller: &Caller,
        scim_id: &str,
        desired: &DesiredUser,
        ours: bool,
    ) -> Result<(UpstreamUser, &'static str)> {
        let tenant = &caller.tenant;
        self.store
            .put_create_intent(&tenant.name, &CreateIntent::now(&desired.username, scim_id))
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
}

/// Names a test-only fault: a pause of this many milliseconds between the upstream
/// create and the local commit, so a kill test can land in that window.
pub const COMMIT_WINDOW_FAULT_VAR: &str = "SCIM_BRIDGE_FAULT_CREATE_COMMIT_DELAY_MS";

async fn commit_window_fault() {
    let pause = std::env::var(COMMIT_WINDOW_FAULT_VAR)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok());
    if let Some(ms) = pause {
        tracing::warn!(
            ms,
            "fault: pausing between the upstream create and the local commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
