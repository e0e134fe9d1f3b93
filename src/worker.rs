//! The job worker: claims `sync_user` jobs and brings each user's upstream roles, admin
//! scope and accounts to what its groups say. It reads the upstream user first and
//! writes only when something differs; failures retry with exponential backoff and full
//! jitter, and a job out of attempts is marked failed and shown, never dropped. It also
//! carries out the deprovisions an admin released from the mass-deprovision guard
//! (`deprovisions.rs`).
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use serde_json::json;
use tokio::task::JoinSet;

use crate::config::{DeactivatePolicy, WorkerConfig};
use crate::provision::mapping::{is_active, map_user};
use crate::provision::{user_key, Provisioner, Tenant};
use crate::store::{AuditEntry, Job, StoreError, SyncState, UpstreamLink};
use crate::upstream::{AccountScope, DesiredUser, TargetError};

mod deprovisions;

#[derive(Clone)]
pub struct Worker {
    provisioner: Provisioner,
    tenants: Arc<HashMap<String, Arc<Tenant>>>,
    config: WorkerConfig,
    /// Each tenant's upstream role names, refreshed after [`ROLE_NAMES_TTL`]: one
    /// roles call per minute instead of one per job.
    role_names: Arc<tokio::sync::Mutex<HashMap<String, CachedNames>>>,
}

/// A tenant's upstream role names and when they were read.
type CachedNames = (Instant, Arc<BTreeSet<String>>);

const ROLE_NAMES_TTL: Duration = Duration::from_secs(60);

/// Why one job did not finish.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Upstream(#[from] TargetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Permanent(String),
}

/// What a finished job did, for the audit.
struct Done {
    upstream: &'static str,
    notes: Vec<String>,
}

impl Worker {
    pub fn new(provisioner: Provisioner, tenants: &[Arc<Tenant>], config: WorkerConfig) -> Self {
        let tenants = tenants
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        Self {
            provisioner,
            tenants: Arc::new(tenants),
            config,
            role_names: Arc::default(),
        }
    }

    async fn role_names(&self, tenant: &Tenant) -> Result<Arc<BTreeSet<String>>, TargetError> {
        let mut cache = self.role_names.lock().await;
        if let Some((at, names)) = cache.get(&tenant.name) {
            if at.elapsed() < ROLE_NAMES_TTL {
                return Ok(names.clone());
            }
        }
        let roles = tenant.target.list_roles().await?;
        let names: Arc<BTreeSet<String>> = Arc::new(roles.into_iter().map(|r| r.name).collect());
        cache.insert(tenant.name.clone(), (Instant::now(), names.clone()));
        Ok(names)
    }

    /// Runs until the task is dropped: claims due jobs, runs them concurrently, sleeps
    /// until woken by a local change or the poll interval.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let lease = Duration::from_secs(self.config.lease_secs.max(10));
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let concurrency = self.config.concurrency.max(1);
        loop {
            let jobs = match self.provisioner.store.claim_jobs(concurrency, lease).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim jobs");
                    tokio::time::sleep(poll).await;
                    continue;
                }
            };
            // Approved deprovisions (see `deprovisions.rs`); rare, so they share the budget.
            let deprovisions = match self
                .provisioner
                .store
                .claim_deprovisions(concurrency, lease)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim deprovisions");
                    vec![]
                }
            };
            if jobs.is_empty() && deprovisions.is_empty() {
                tokio::select! {
                    _ = self.provisioner.jobs_ready.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                continue;
            }
            let mut running = JoinSet::new();
            for job in jobs {
                let worker = self.clone();
                // Its upstream calls carry this id, as a request's carry the request's.
                let id = format!("job-{}", job.id);
                running.spawn(crate::telemetry::with_request_id(id, async move {
                    worker.finish(job).await
                }));
            }
            for deprovision in deprovisions {
                let worker = self.clone();
                running.spawn(async move { worker.finish_deprovision(deprovision).await });
            }
            while running.join_next().await.is_some() {}
        }
    }

    /// Runs one job and records its outcome in the jobs table, the user's link and the audit.
    ///
    /// The job holds the user's write lock (the one SCIM user writes take, shared
    /// across replicas on PostgreSQL): both sides GET the upstream user and PUT it back
    /// whole, so without it a PATCH's PUT could carry the roles it read before the
    /// job's PUT, or the job's PUT the names from before the PATCH's, and undo the
    /// other's change upstream.
    async fn finish(&self, job: Job) {
        let store = &self.provisioner.store;
        let (_guard, result) = match self
            .provisioner
            .lock(user_key(&job.tenant, &job.user_id))
            .await
        {
            Ok(guard) => (Some(guard), self.sync_user(&job).await),
            Err(e) => (None, Err(JobError::Store(e))),
        };
        let (outcome, detail) = match &result {
            Ok(done) => (
                "ok",
                json!({"upstream": done.upstream, "notes": done.notes}),
            ),
            Err(e) => (
                "error",
                json!({"error": e.to_string(), "attempt": job.attempts}),
            ),
        };
        let recorded = match &result {
            Ok(_) => store.complete_job(&job).await,
            Err(e) => self.record_failure(&job, e).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, job = job.id, "could not record the job outcome; its lease will expire and it runs again");
        }
        if result.is_err() || detail["upstream"] != "unchanged" {
            let entry = AuditEntry {
                at: Utc::now(),
                tenant: job.tenant.clone(),
                actor: "worker".into(),
                resource_type: "User".into(),
                resource_id: job.user_id.clone(),
                action: "sync_access".into(),
                outcome: outcome.into(),
                detail,
            };
            if let Err(e) = store.append_audit(&entry).await {
                tracing::error!(error = %e, "could not write the audit entry");
            }
        }
    }

    async fn record_failure(&self, job: &Job, error: &JobError) -> Result<(), StoreError> {
        let store = &self.provisioner.store;
        let message = error.to_string();
        let out_of_attempts =
            job.attempts >= self.config.max_attempts || matches!(error, JobError::Permanent(_));
        if out_of_attempts {
            tracing::warn!(job = job.id, tenant = %job.tenant, user = %job.user_id, error = %message, "job failed for good");
            crate::notify::emit(
                crate::notify::EventKind::JobFailed,
                crate::notify::Scope::Tenant(job.tenant.clone()),
                format!(
                    "a role sync job failed for good (user {}): {message}",
                    job.user_id
                ),
                serde_json::json!({"job": job.id, "user": job.user_id, "attempts": job.attempts, "error": message}),
            );
            store.fail_job(job, &message).await?;
            self.mark_user(job, SyncState::Failed, Some(message)).await
        } else {
            let delay = self.backoff(job.attempts, error);
            tracing::info!(job = job.id, attempt = job.attempts, retry_in_ms = delay.as_millis() as u64, error = %message, "job will retry");
            let run_at = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
            store.retry_job(job, &message, run_at).await?;
            self.mark_user(job, SyncState::Pending, Some(message)).await
        }
    }

    /// Exponential backoff with full jitter; a rate limit's own reset time wins. An open
    /// circuit breaker counts as a failed call and gets the ordinary backoff, so jobs
    /// retry (and finally fail) on the same schedule as when every call is tried.
    fn backoff(&self, attempts: u32, error: &JobError) -> Duration {
        if let JobError::Upstream(TargetError::RateLimited { retry_after_secs }) = error {
            return Duration::from_secs((*retry_after_secs).max(1));
        }
        let base = self.config.backoff_base_ms.max(1);
        let cap = self.config.backoff_max_secs.max(1) * 1000;
        let ceiling = base
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
            .min(cap);
        Duration::from_millis(rand::thread_rng().gen_range(base / 2..=ceiling.max(base / 2)))
    }

    async fn mark_user(
        &self,
        job: &Job,
        state: SyncState,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let store = &self.provisioner.store;
        let Some(user) = store.get_user(&job.tenant, &job.user_id).await? else {
            return Ok(());
        };
        if user.link.sync_state == SyncState::Held {
            // Held says more than this job's outcome: approval is still awaited.
            return Ok(());
        }
        let link = UpstreamLink {
            sync_state: state,
            last_error: error,
            ..user.link
        };
        match store
            .update_user_link(&job.tenant, &job.user_id, &link)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Brings an inactive user's upstream user to what the deactivation policy says:
    /// deactivated (roles kept), or active without roles. Writes only when it differs.
    async fn sync_inactive(
        &self,
        tenant: &Tenant,
        user: &crate::store::UserRecord,
        upstream_id: &str,
    ) -> Result<Done, JobError> {
        let unchanged = Done {
            upstream: "unchanged",
            notes: vec![],
        };
        let (active, roles, account_scope, upstream) = match tenant.policy.on_deactivate {
            DeactivatePolicy::Deactivate => (false, None, None, "deactivated"),
            DeactivatePolicy::StripRoles => (
                true,
                Some(Vec::new()),
                Some(AccountScope::default()),
                "roles removed",
            ),
            // The deactivation deleted the upstream user and unlinked it.
            DeactivatePolicy::Delete => return Ok(unchanged),
        };
        let Some(current) = tenant.target.get_user(upstream_id).await? else {
            return Ok(unchanged);
        };
        let mapped = map_user(
            &user.resource,
            &user.link.upstream_username,
            tenant.target.user_rules(),
        )
        .map_err(|e| JobError::Permanent(e.detail))?;
        let desired = DesiredUser {
            roles,
            account_scope,
            active,
            ..mapped.user
        };
        let same = current.active == desired.active
            && current.first_name == desired.first_name
            && current.last_name == desired.last_name
            && current.email.eq_ignore_ascii_case(&desired.email)
            && current.phone == desired.phone
            && desired.roles.as_ref().is_none_or(|r| *r == current.roles)
            && desired
                .account_scope
                .is_none_or(|s| s == current.account_scope);
        if same {
            return Ok(unchanged);
        }
        let after = tenant.target.update_user(upstream_id, &desired).await?;
        let link = UpstreamLink {
            roles: after.roles.clone(),
            account_scope: after.account_scope,
            accounts: after.accounts.clone(),
            sync_state: SyncState::Synced,
            last_error: None,
            last_synced_at: Some(Utc::now()),
            ..user.link.clone()
        };
        self.provisioner
            .store
            .update_user_link(&tenant.name, &user.id, &link)
            .await?;
        Ok(Done {
            upstream,
            notes: vec![],
        })
    }

    async fn sync_user(&self, job: &Job) -> Result<Done, JobError> {
        let store = &self.provisioner.store;
        let tenant = self.tenants.get(&job.tenant).ok_or_else(|| {
            JobError::Permanent(format!("tenant {} is not configured", job.tenant))
        })?;
        let nothing = |why: &'static str| {
            Ok(Done {
                upstream: why,
                notes: vec![],
            })
        };
        let Some(user) = store.get_user(&job.tenant, &job.user_id).await? else {
            return nothing("unchanged");
        };
        let Some(upstream_id) = user.link.upstream_id.clone() else {
            return nothing("unchanged");
        };
        // Deactivated users are not given roles back (reactivation syncs them), but
        // their upstream user is held to the deprovisioning policy, so a reconcile
        // repair undoes a hand-made reactivation.
        if !is_active(&user.resource) {
            // A deprovision the mass-deprovision guard holds waits for `jobs approve`;
            // a group change or a reconcile repair must not carry it out behind it.
            if user.link.sync_state == SyncState::Held {
                return nothing("held");
            }
            return self.sync_inactive(tenant, &user, &upstream_id).await;
        }
        let mut access = self
            .provisioner
            .desired_access(tenant, &user.id, &user.resource)
            .await
            .map_err(|e| match e {
                crate::provision::Error::Store(s) => JobError::Store(s),
                other => JobError::Permanent(other.to_string()),
            })?;
        // A role name the upstream does not have (a typo in a prefixed group's name) is
        // left out and reported, rather than blocking the user's other roles forever.
        let valid = self.role_names(tenant).await?;
        let unknown: Vec<String> = access
            .roles
            .iter()
            .filter(|r| !valid.contains(*r))
            .cloned()
            .collect();
        access.roles.retain(|r| valid.contains(r));
        let mut notes = Vec::new();
        if !unknown.is_empty() {
            notes.push(format!(
                "unknown Bandwidth role names left out: {}",
                unknown.join(", ")
            ));
        }
        // The user's attributes as the IdP last wrote them, plus the computed access; the
        // adapter reads the user and writes only when something differs.
        let mapped = map_user(
            &user.resource,
            &user.link.upstream_username,
            tenant.target.user_rules(),
        )
        .map_err(|e| JobError::Permanent(e.detail))?;
        let desired = DesiredUser {
            roles: Some(access.roles()),
            account_scope: Some(access.scope),
            accounts: access.accounts(),
            active: true,
            ..mapped.user
        };
        let after = match tenant.target.update_user(&upstream_id, &desired).await {
            Err(TargetError::NotFound) => {
                return Err(JobError::Permanent(format!(
                    "upstream user {upstream_id} no longer exists"
                )))
            }
            other => other?,
        };
        let before = &user.link;
        let same = before.roles.iter().collect::<BTreeSet<_>>()
            == after.roles.iter().collect::<BTreeSet<_>>()
            && before.account_scope == after.account_scope
            && before.accounts.iter().collect::<BTreeSet<_>>()
                == after.accounts.iter().collect::<BTreeSet<_>>();
        let upstream = if same { "unchanged" } else { "access updated" };
        let link = UpstreamLink {
            upstream_id: Some(after.id.clone()),
            upstream_username: after.username.clone(),
            roles: after.roles.clone(),
            account_scope: after.account_scope,
            accounts: after.accounts.clone(),
            sync_state: SyncState::Synced,
            last_error: (!notes.is_empty()).then(|| notes.join("; ")),
            last_synced_at: Some(Utc::now()),
        };
        store
            .update_user_link(&job.tenant, &job.user_id, &link)
            .await?;
        Ok(Done { upstream, notes })
    }
}
