//! Approved deprovisions (released from the mass-deprovision guard by
//! `scim-bridge jobs approve`): the upstream deactivation, role strip or deletion that
//! was held, carried out now unless the IdP has reactivated the user since.
use chrono::Utc;
use serde_json::json;

use super::{JobError, Worker};
use crate::provision::access::Access;
use crate::provision::mapping::{is_active, map_user};
use crate::provision::{user_key, Provisioner};
use crate::store::{AuditEntry, Deprovision, DeprovisionAction, SyncState, UpstreamLink};
use crate::upstream::TargetError;

impl Worker {
    /// Runs one claimed deprovision and records its outcome, retrying with backoff.
    pub(super) async fn finish_deprovision(&self, job: Deprovision) {
        let store = &self.provisioner.store;
        let request = &job.request;
        let result = match self
            .provisioner
            .lock(user_key(&request.tenant, &request.user_id))
            .await
        {
            Ok(_guard) => self.deprovision(&job).await,
            Err(e) => Err(JobError::Store(e)),
        };
        let outcome = match &result {
            Ok(_) => Ok(()),
            Err(e) => {
                let out_of_attempts =
                    job.attempts >= self.config.max_attempts || matches!(e, JobError::Permanent(_));
                let retry_at = (!out_of_attempts).then(|| {
                    let delay = self.backoff(job.attempts, e);
                    Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60))
                });
                tracing::warn!(deprovision = job.id, tenant = %request.tenant, error = %e, retry = retry_at.is_some(), "deprovision failed");
                Err((e.to_string(), retry_at))
            }
        };
        if let Err(e) = store.finish_deprovision(job.id, outcome).await {
            tracing::warn!(error = %e, deprovision = job.id, "could not record the deprovision outcome; its lease will expire and it runs again");
        }
        let (outcome, detail) = match &result {
            Ok(upstream) => (
                "ok",
                json!({"deprovision": job.id, "action": request.action.as_str(), "upstream": upstream}),
            ),
            Err(e) => (
                "error",
                json!({"deprovision": job.id, "action": request.action.as_str(), "error": e.to_string(), "attempt": job.attempts}),
            ),
        };
        let entry = AuditEntry {
            at: Utc::now(),
            tenant: request.tenant.clone(),
            actor: "worker".into(),
            resource_type: "User".into(),
            resource_id: request.user_id.clone(),
            action: "deprovision".into(),
            outcome: outcome.into(),
            detail,
        };
        if let Err(e) = store.append_audit(&entry).await {
            tracing::error!(error = %e, "could not write the audit entry");
        }
    }

    async fn deprovision(&self, job: &Deprovision) -> Result<&'static str, JobError> {
        let store = &self.provisioner.store;
        let request = &job.request;
        let tenant = self.tenants.get(&request.tenant).ok_or_else(|| {
            JobError::Permanent(format!("tenant {} is not configured", request.tenant))
        })?;
        // The SCIM user now linked to the upstream user, if any: the one that was held
        // (deactivated, not deleted), or one the IdP created again since.
        let current = match store
            .user_id_by_upstream(&request.tenant, &request.upstream_id)
            .await?
        {
            Some(id) => store.get_user(&request.tenant, &id).await?,
            None => None,
        };
        if current.as_ref().is_some_and(|u| is_active(&u.resource)) {
            return Ok("skipped: the user is active again");
        }
        let target = &tenant.target;
        let upstream = match request.action {
            DeprovisionAction::Delete => match target.delete_user(&request.upstream_id).await {
                Ok(()) | Err(TargetError::NotFound) => "deleted",
                Err(e) => return Err(e.into()),
            },
            DeprovisionAction::Deactivate | DeprovisionAction::StripRoles => {
                let mapped = map_user(
                    &request.resource,
                    &request.upstream_username,
                    target.user_rules(),
                )
                .map_err(|e| JobError::Permanent(e.detail))?;
                let desired = if request.action == DeprovisionAction::Deactivate {
                    Provisioner::desired(&mapped, None, false)
                } else {
                    Provisioner::desired(&mapped, Some(&Access::default()), true)
                };
                match target.update_user(&request.upstream_id, &desired).await {
                    Ok(_) => {}
                    Err(TargetError::NotFound) => return Ok("already gone upstream"),
                    Err(e) => return Err(e.into()),
                }
                if request.action == DeprovisionAction::Deactivate {
                    "deactivated"
                } else {
                    "roles removed"
                }
            }
        };
        if let Some(user) = current {
            let link = if request.action == DeprovisionAction::Delete {
                UpstreamLink {
                    upstream_username: user.link.upstream_username.clone(),
                    sync_state: SyncState::Deprovisioned,
                    last_synced_at: Some(Utc::now()),
                    ..UpstreamLink::default()
                }
            } else {
                UpstreamLink {
                    sync_state: SyncState::Synced,
                    last_error: None,
                    last_synced_at: Some(Utc::now()),
                    ..user.link.clone()
                }
            };
            store
                .update_user_link(&request.tenant, &user.id, &link)
                .await?;
        }
        Ok(upstream)
    }
}
