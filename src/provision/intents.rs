//! Intent recovery: a create intent that outlived its create (the process died between
//! the upstream create and the local commit, or the IdP never heard the answer and did
//! not retry) is resolved, so no upstream user is left active that the IdP cannot
//! deprovision. Run at start-up and periodically; each intent is resolved under its
//! userName's create lock, so a create in flight is never second-guessed.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use super::lifecycle::{synced_link, Subject, UpstreamAction};
use super::users::Outcome;
use super::{Caller, Provisioner, Result, Tenant};
use crate::store::{fold, CreateIntent};
use crate::upstream::UpstreamUser;

/// The audit action, and the reconcile finding, of an upstream user the bridge created
/// for a SCIM create that was never completed.
pub const ABANDONED_CREATE: &str = "abandoned_create";

/// What one recovery pass did with the intents past their grace period.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The SCIM user exists: linked (if it was not) and queued for a sync.
    pub linked: usize,
    /// No SCIM user: the upstream user was deprovisioned under `on_delete`.
    pub abandoned: usize,
    /// Nothing upstream, or another SCIM user links it: the intent was dropped.
    pub dropped: usize,
}

/// The create lock of one userName (the key [`Provisioner::create_user`] takes).
pub(super) fn create_key(tenant: &str, username: &str) -> String {
    format!("{tenant}/userName/{}", fold(username))
}

impl Provisioner {
    /// Resolves each of `tenant`'s create intents older than its grace period.
    pub async fn recover_intents(&self, tenant: &Arc<Tenant>) -> Result<Recovered> {
        let grace = chrono::Duration::seconds(
            i64::try_from(tenant.policy.abandoned_create_grace_secs).unwrap_or(i64::MAX / 1000),
        );
        let due_before = Utc::now() - grace;
        let caller = Caller {
            tenant: tenant.clone(),
            credential_id: "intent-recovery".into(),
        };
        let mut recovered = Recovered::default();
        for intent in self.store.create_intents(&tenant.name).await? {
            if intent.created_at > due_before {
                continue;
            }
            if let Err(e) = self.recover_intent(&caller, &intent, &mut recovered).await {
                tracing::warn!(tenant = %tenant.name, scim_id = intent.scim_id, error = %e, "could not resolve a create intent; the next pass retries");
            }
        }
        Ok(recovered)
    }

    async fn recover_intent(
        &self,
        caller: &Caller,
        intent: &CreateIntent,
        recovered: &mut Recovered,
    ) -> Result<()> {
        let tenant = &caller.tenant;
        let _guard = self
            .lock(create_key(&tenant.name, &intent.username))
            .await?;
        // A create that held the lock may have resolved it meanwhile.
        let current = self
            .store
            .create_intent(&tenant.name, &intent.username)
            .await?;
        if current.as_deref() != Some(intent.scim_id.as_str()) {
            return Ok(());
        }
        let found = tenant.target.find_by_username(&intent.username).await?;
        if let Some(user) = self.store.get_user(&tenant.name, &intent.scim_id).await? {
            if let Some(up) = found.filter(|_| user.link.upstream_id.is_none()) {
                if self.linker(&tenant.name, &up).await?.is_none() {
                    self.store
                        .update_user_link(&tenant.name, &user.id, &synced_link(&up))
                        .await?;
                }
            }
            self.store
                .enqueue_user_syncs(&tenant.name, std::slice::from_ref(&user.id))
                .await?;
            self.jobs_ready.notify_one();
            self.store
                .clear_create_intent(&tenant.name, &intent.username)
                .await?;
            recovered.linked += 1;
            return Ok(());
        }
        let up = match found {
            Some(up) if self.linker(&tenant.name, &up).await?.is_none() => up,
            _ => {
                self.store
                    .clear_create_intent(&tenant.name, &intent.username)
                    .await?;
                recovered.dropped += 1;
                return Ok(());
            }
        };
        if !up.active {
            // Deprovisioned by an earlier pass; the intent stays, so reconcile tells it
            // from a hand-made orphan and a late IdP create links it again.
            return Ok(());
        }
        let resource = resource_of(&up);
        let link = synced_link(&up);
        let subject = Subject {
            scim_id: &intent.scim_id,
            resource: &resource,
            link: &link,
        };
        let action = UpstreamAction::on_delete(tenant.policy.on_delete);
        let result = self.deprovision(caller, &subject, action).await;
        let note = format!(
            "the IdP never completed the create of {:?} (intent of {})",
            up.username, intent.created_at
        );
        let outcome = result.as_ref().map(|carried| Outcome {
            notes: vec![note],
            upstream: carried.upstream,
        });
        self.audit(
            caller,
            &intent.scim_id,
            ABANDONED_CREATE,
            outcome.as_ref().map_err(|e| *e),
        )
        .await;
        let carried = result?;
        if carried.link.upstream_id.is_none() {
            // Deleted (or already gone): nothing is left for the intent to mark.
            self.store
                .clear_create_intent(&tenant.name, &intent.username)
                .await?;
        }
        recovered.abandoned += 1;
        Ok(())
    }

    async fn linker(&self, tenant: &str, up: &UpstreamUser) -> Result<Option<String>> {
        Ok(self.store.user_id_by_upstream(tenant, &up.id).await?)
    }
}

/// The SCIM resource an upstream user maps back from, for deprovisioning a user that
/// has none: the write keeps its attributes as they are upstream.
fn resource_of(up: &UpstreamUser) -> Value {
    let mut resource = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": up.username,
        "name": {"givenName": up.first_name, "familyName": up.last_name},
        "emails": [{"value": up.email, "primary": true}],
        "active": false,
    });
    if let Some(phone) = &up.phone {
        resource["phoneNumbers"] = json!([{"value": phone}]);
    }
    resource
}

/// Runs [`Provisioner::recover_intents`] for `tenant` at once and then every quarter of
/// its grace period (at least every second, at most every five minutes).
pub fn spawn_periodic(
    provisioner: Provisioner,
    tenant: Arc<Tenant>,
) -> tokio::task::JoinHandle<()> {
    let grace = Duration::from_secs(tenant.policy.abandoned_create_grace_secs);
    let every = (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    tokio::spawn(async move {
        loop {
            match provisioner.recover_intents(&tenant).await {
                Ok(r) if r == Recovered::default() => {}
                Ok(r) => {
                    tracing::info!(tenant = %tenant.name, linked = r.linked, abandoned = r.abandoned, dropped = r.dropped, "resolved create intents")
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.name, error = %e, "could not read create intents")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
