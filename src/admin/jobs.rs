//! Jobs and held deprovisions: list, retry, approve, reject.
use serde_json::json;

use super::{Admin, AdminService, Result};
use crate::store::{Deprovision, DeprovisionState, Job, JobState, QueueFilter, SyncState};

/// What rejecting a held deprovision leaves on the user's link: the upstream user is
/// untouched, and the IdP still says otherwise, so the user is shown as needing care.
pub const REJECTED: &str = "deprovision rejected by an admin: the upstream user was left as it is";

impl AdminService {
    /// Jobs of the tenant (or of every tenant the admin sees), oldest first.
    pub async fn list_jobs(
        &self,
        admin: &Admin,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for name in self.scope(admin, tenant)? {
            let remaining = limit.saturating_sub(jobs.len() as u32);
            if remaining == 0 {
                break;
            }
            let store = &self.provisioner.store;
            jobs.extend(
                store
                    .list_jobs(QueueFilter {
                        tenant: Some(&name),
                        state,
                        limit: remaining,
                    })
                    .await?,
            );
        }
        Ok(jobs)
    }

    /// Failed jobs (all of the tenant's or the admin's tenants', or the one with `id`)
    /// are re-queued now; returns how many.
    pub async fn retry_jobs(
        &self,
        admin: &Admin,
        tenant: Option<&str>,
        id: Option<i64>,
    ) -> Result<u64> {
        let tenants = match tenant {
            Some(name) => vec![self.tenant_to_act_on(admin, name)?],
            None => {
                super::require_operator(admin)?;
                self.visible_tenants(admin)
            }
        };
        let mut total = 0;
        for tenant in tenants {
            let n = self
                .provisioner
                .store
                .requeue_failed(Some(&tenant.name), id)
                .await?;
            if n > 0 {
                self.provisioner.jobs_ready.notify_one();
            }
            if n > 0 || id.is_none() {
                self.record(
                    admin,
                    &tenant.name,
                    "job_retry",
                    ("Tenant", &tenant.name),
                    "ok",
                    json!({"requeued": n, "id": id}),
                )
                .await?;
            }
            total += n;
        }
        Ok(total)
    }

    /// Deprovisions waiting for approval or for the worker (the guard's `done` rows are
    /// only its count), oldest first.
    pub async fn list_deprovisions(
        &self,
        admin: &Admin,
        tenant: Option<&str>,
        state: Option<DeprovisionState>,
        limit: u32,
    ) -> Result<Vec<Deprovision>> {
        let mut waiting = Vec::new();
        for name in self.scope(admin, tenant)? {
            let all = self
                .provisioner
                .store
                .list_deprovisions(QueueFilter {
                    tenant: Some(&name),
                    state,
                    limit: u32::MAX,
                })
                .await?;
            waiting.extend(
                all.into_iter()
                    .filter(|d| d.state != DeprovisionState::Done),
            );
        }
        waiting.truncate(limit as usize);
        Ok(waiting)
    }

    /// An admin's decision on the tenant's held deprovisions (all, or `id`), audited;
    /// returns how many it took. Approved ones (failed ones too) go to the worker, which
    /// carries them out upstream; rejected ones are dropped, so the upstream users keep
    /// their access.
    pub async fn decide_deprovisions(
        &self,
        admin: &Admin,
        tenant: &str,
        id: Option<i64>,
        decision: Decision,
    ) -> Result<u64> {
        let tenant = &self.tenant_to_act_on(admin, tenant)?.name;
        let (n, detail) = match decision {
            Decision::Approve => {
                let n = self
                    .provisioner
                    .store
                    .approve_deprovisions(tenant, id)
                    .await?;
                if n > 0 {
                    self.provisioner.jobs_ready.notify_one();
                }
                (n, json!({"released": n, "id": id}))
            }
            Decision::Reject => {
                let rejected = self.reject_deprovisions(tenant, id).await?;
                let ids: Vec<i64> = rejected.iter().map(|d| d.id).collect();
                let users: Vec<&str> = rejected.iter().map(|d| d.user_id.as_str()).collect();
                let detail = json!({"rejected": ids, "users": users, "id": id});
                (rejected.len() as u64, detail)
            }
        };
        let action = match decision {
            Decision::Approve => "deprovision_approve",
            Decision::Reject => "deprovision_reject",
        };
        let subject = ("Tenant", tenant.as_str());
        self.record(admin, tenant, action, subject, "ok", detail)
            .await?;
        Ok(n)
    }

    /// Drops the tenant's held deprovisions (all, or `id`); each user still in the bridge
    /// is marked failed with why.
    async fn reject_deprovisions(&self, tenant: &str, id: Option<i64>) -> Result<Vec<Deprovision>> {
        let store = &self.provisioner.store;
        let rejected = store.reject_deprovisions(tenant, id).await?;
        for d in &rejected {
            let _guard = self
                .provisioner
                .lock(crate::provision::user_key(tenant, &d.user_id))
                .await?;
            if let Some(mut user) = store.get_user(tenant, &d.user_id).await? {
                if user.link.sync_state == SyncState::Held {
                    user.link.sync_state = SyncState::Failed;
                    user.link.last_error = Some(REJECTED.into());
                    store.update_user_link(tenant, &user.id, &user.link).await?;
                }
            }
        }
        Ok(rejected)
    }
}

/// What an admin decides about held deprovisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}
