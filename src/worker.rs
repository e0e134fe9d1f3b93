//! The job worker: claims queued `sync_user` jobs and approved deprovisions, runs each
//! through the provisioner (`provision::jobs`, which does the upstream calls, the links
//! and the audit), and records the outcome in the queue. Failures retry with
//! exponential backoff and full jitter; a job out of attempts is marked failed and
//! shown, never dropped.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::task::JoinSet;

use crate::config::WorkerConfig;
use crate::provision::jobs::JobError;
use crate::provision::prefetch::{Prefetch, MIN_BATCH};
use crate::provision::{Provisioner, Tenant};
use crate::store::{Deprovision, DeprovisionStore, Job, JobStore, Lease, StoreError, SyncState};
use crate::upstream::{Seen, TargetError};

/// Role syncs claimed beyond the running ones, so that a burst for one tenant can be
/// served by page reads (`provision::prefetch`). A round of pages serves the jobs in
/// hand as it passes their users, so the whole of a large group push (10,000 members)
/// should be in hand: a job claimed after its user's page went by waits for the next
/// round. Their leases are renewed with the running ones'; a restart releases them as
/// it does running claims.
const READ_AHEAD: usize = 10_000;

/// A claimed role sync not started yet, with the upstream user it will write when its
/// tenant reads pages (`None`: it reads its user singly).
struct Claimed {
    job: Job,
    upstream_id: Option<String>,
}

/// What a slot runs.
enum Unit {
    Job(Box<(Job, Option<Seen>)>),
    Page(Arc<Tenant>, u32),
}

#[derive(Clone)]
pub struct Worker {
    provisioner: Provisioner,
    /// The queues: claims, leases and outcomes of jobs and of deprovisions only.
    /// Users, links and the audit are the provisioner's.
    jobs: Arc<dyn JobStore>,
    deprovisions: Arc<dyn DeprovisionStore>,
    tenants: Arc<HashMap<String, Arc<Tenant>>>,
    config: WorkerConfig,
    /// This instance's name in its claims ([`WorkerConfig::instance_id`]).
    owner: Arc<str>,
    prefetch: Arc<Prefetch>,
}

/// The heartbeat's task, stopped with the worker.
struct HeartbeatTask(tokio::task::JoinHandle<()>);

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The host name and `listen`: stable across restarts of one deployment, distinct for
/// replicas (another host, or another port on one host).
pub fn default_instance_id(listen: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}@{listen}")
}

impl Worker {
    pub fn new(provisioner: Provisioner, tenants: &[Arc<Tenant>], config: WorkerConfig) -> Self {
        let tenants = tenants
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let owner = config
            .instance_id
            .clone()
            .unwrap_or_else(|| default_instance_id(""));
        Self {
            owner: owner.into(),
            jobs: provisioner.store.clone(),
            deprovisions: provisioner.store.clone(),
            provisioner,
            tenants: Arc::new(tenants),
            config,
            prefetch: Arc::default(),
        }
    }

    /// Runs until the task is dropped: keeps up to `concurrency` jobs running, starting
    /// another as each one ends (a slow upstream call holds only its own slot), and
    /// sleeps when the queue is empty until woken by a local change or the poll interval.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let concurrency = self.config.concurrency.max(1) as usize;
        self.release_own_claims().await;
        let _heartbeat = self.clone().spawn_heartbeat();
        let mut running = JoinSet::new();
        let mut backlog = VecDeque::new();
        loop {
            let free = concurrency.saturating_sub(running.len());
            let mut more_due = free > 0 && self.claim_deprovisions(free, &mut running).await;
            // Claimed in batches, not one query per finished job.
            let room = (concurrency + READ_AHEAD).saturating_sub(running.len() + backlog.len());
            if backlog.len() < concurrency || room >= READ_AHEAD / 4 {
                more_due |= self.claim_jobs(room, &mut backlog).await;
            }
            while running.len() < concurrency {
                let Some(unit) = self.next_unit(&mut backlog, concurrency) else {
                    break;
                };
                self.start(unit, &mut running);
            }
            if more_due && running.len() < concurrency {
                // Every claim was filled and a slot is still free: more may be due now.
                continue;
            }
            tokio::select! {
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = self.provisioner.jobs_ready.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// This instance's hold on what it claims: its name, and `lease_secs` (2 at least).
    fn lease(&self) -> Lease<'_> {
        Lease::new(
            &self.owner,
            Duration::from_secs(self.config.lease_secs.max(2)),
        )
    }

    /// Whatever this instance had claimed when it last stopped is a crashed run's: it
    /// becomes due again now instead of when its lease would have run out.
    async fn release_own_claims(&self) {
        let owner = &self.owner;
        let released = async {
            let jobs = self.jobs.release_job_claims(owner).await?;
            let deprovisions = self.deprovisions.release_deprovision_claims(owner).await?;
            Ok::<_, StoreError>((jobs, deprovisions))
        }
        .await;
        match released {
            Ok((0, 0)) => {}
            Ok((jobs, deprovisions)) => {
                tracing::info!(jobs, deprovisions, owner = %owner, "took back the claims of this instance's earlier run")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not take back this instance's earlier claims; their leases will expire")
            }
        }
    }

    /// Renews the leases of this instance's running claims every third of a lease, so a
    /// slow job keeps its claim and a dead instance's claims free up within one lease.
    fn spawn_heartbeat(self) -> HeartbeatTask {
        HeartbeatTask(tokio::spawn(async move {
            let mut beat = tokio::time::interval(self.lease().term / 3);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                beat.tick().await;
                let renewed = async {
                    self.jobs.renew_job_leases(self.lease()).await?;
                    self.deprovisions
                        .renew_deprovision_leases(self.lease())
                        .await
                }
                .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, "could not renew the leases of running jobs");
                }
            }
        }))
    }

    /// Claims up to `free` approved deprovisions (rare, and a backlog of role syncs
    /// must not delay them) and starts each; true if it got as many as it asked for.
    async fn claim_deprovisions(&self, free: usize, running: &mut JoinSet<()>) -> bool {
        let deprovisions = match self
            .deprovisions
            .claim_deprovisions(self.lease(), limit(free))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim deprovisions");
                vec![]
            }
        };
        let full = deprovisions.len() >= free;
        for deprovision in deprovisions {
            let worker = self.clone();
            running.spawn(async move { worker.finish_deprovision(deprovision).await });
        }
        full
    }

    /// Claims up to `room` due role syncs into `backlog`; true if it got as many as it
    /// asked for. A tenant with enough of them to make page reads pay says which
    /// upstream users they need.
    async fn claim_jobs(&self, room: usize, backlog: &mut VecDeque<Claimed>) -> bool {
        if room == 0 {
            return false;
        }
        let jobs = match self.jobs.claim_jobs(self.lease(), limit(room)).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim jobs");
                return false;
            }
        };
        let full = jobs.len() >= room;
        let mut per_tenant: HashMap<&str, usize> = HashMap::new();
        for job in backlog.iter().map(|c| &c.job).chain(&jobs) {
            *per_tenant.entry(job.tenant.as_str()).or_default() += 1;
        }
        let batched: Vec<String> = per_tenant
            .into_iter()
            .filter(|(tenant, n)| {
                *n >= MIN_BATCH
                    && self
                        .tenants
                        .get(*tenant)
                        .is_some_and(|t| t.target.paged_reads().is_some())
            })
            .map(|(tenant, _)| tenant.to_string())
            .collect();
        for job in jobs {
            let upstream_id = if batched.contains(&job.tenant) {
                match self
                    .provisioner
                    .upstream_id_of(&job.tenant, &job.user_id)
                    .await
                {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::debug!(error = %e, job = job.id, "no upstream id for a batch read; the job reads singly");
                        None
                    }
                }
            } else {
                None
            };
            if let Some(id) = &upstream_id {
                self.prefetch.want(&job.tenant, id);
            }
            backlog.push_back(Claimed { job, upstream_id });
        }
        full
    }

    /// What to run in a free slot: the next page a tenant's waiting jobs need (read
    /// before the views in hand run out), else the oldest job whose user a page found,
    /// else the oldest job that does not wait for a page.
    fn next_unit(&self, backlog: &mut VecDeque<Claimed>, low_water: usize) -> Option<Unit> {
        let mut tenants: Vec<&str> = Vec::new();
        for c in backlog.iter().filter(|c| c.upstream_id.is_some()) {
            if !tenants.contains(&c.job.tenant.as_str()) {
                tenants.push(&c.job.tenant);
            }
        }
        for name in tenants {
            if let (Some(page), Some(tenant)) = (
                self.prefetch.next_read(name, low_water),
                self.tenants.get(name),
            ) {
                return Some(Unit::Page(tenant.clone(), page));
            }
        }
        let at = self.prefetch.pick(
            backlog
                .iter()
                .map(|c| (c.job.tenant.as_str(), c.upstream_id.as_deref())),
        )?;
        let Claimed { job, upstream_id } = backlog.remove(at)?;
        let seen = upstream_id.and_then(|id| self.prefetch.take(&job.tenant, &id));
        Some(Unit::Job(Box::new((job, seen))))
    }

    fn start(&self, unit: Unit, running: &mut JoinSet<()>) {
        let worker = self.clone();
        match unit {
            Unit::Job(unit) => {
                let (job, seen) = *unit;
                // Its upstream calls carry this id, as a request's carry the request's.
                let id = format!("job-{}", job.id);
                running.spawn(crate::telemetry::with_request_id(id, async move {
                    worker.finish(job, seen).await
                }));
            }
            Unit::Page(tenant, page) => {
                let id = format!("pages-{}-{page}", tenant.name);
                running.spawn(crate::telemetry::with_request_id(id, async move {
                    let Some(paged) = tenant.target.paged_reads() else {
                        return;
                    };
                    match worker.prefetch.read(paged, &tenant.name, page).await {
                        Ok(found) => {
                            tracing::debug!(tenant = %tenant.name, page, found, "read a page for waiting role syncs")
                        }
                        Err(e) => {
                            tracing::warn!(tenant = %tenant.name, page, error = %e, "could not read a page of users; role syncs read their users singly for now")
                        }
                    }
                }));
            }
        }
    }

    fn tenant(&self, name: &str) -> Result<&Arc<Tenant>, JobError> {
        self.tenants
            .get(name)
            .ok_or_else(|| JobError::Permanent(format!("tenant {name} is not configured")))
    }

    /// Runs one job and records its outcome in the queue (and, on failure, on the user).
    async fn finish(&self, job: Job, seen: Option<Seen>) {
        let result = match self.tenant(&job.tenant) {
            Ok(tenant) => {
                self.provisioner
                    .sync_user(tenant, &job.user_id, job.retry.attempts, seen)
                    .await
            }
            Err(e) => Err(e),
        };
        let recorded = match &result {
            Ok(_) => self.jobs.complete_job(&job).await,
            Err(e) => self.record_failure(&job, e).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, job = job.id, "could not record the job outcome; its lease will expire and it runs again");
        }
    }

    fn out_of_attempts(&self, attempts: u32, error: &JobError) -> bool {
        attempts >= self.config.max_attempts || matches!(error, JobError::Permanent(_))
    }

    async fn record_failure(&self, job: &Job, error: &JobError) -> Result<(), StoreError> {
        let message = error.to_string();
        let state = if self.out_of_attempts(job.retry.attempts, error) {
            tracing::warn!(job = job.id, tenant = %job.tenant, user = %job.user_id, error = %message, "job failed for good");
            crate::notify::emit(
                crate::notify::EventKind::JobFailed,
                crate::notify::Scope::Tenant(job.tenant.clone()),
                format!(
                    "a role sync job failed for good (user {}): {message}",
                    job.user_id
                ),
                serde_json::json!({"job": job.id, "user": job.user_id, "attempts": job.retry.attempts, "error": message}),
            );
            self.jobs.fail_job(job, &message).await?;
            SyncState::Failed
        } else {
            let delay = self.backoff(job.retry.attempts, error);
            tracing::info!(job = job.id, attempt = job.retry.attempts, retry_in_ms = delay.as_millis() as u64, error = %message, "job will retry");
            self.jobs.retry_job(job, &message, retry_at(delay)).await?;
            SyncState::Pending
        };
        self.provisioner
            .mark_sync_state(&job.tenant, &job.user_id, state, message)
            .await
    }

    /// Runs one approved deprovision and records its outcome, retrying with backoff.
    async fn finish_deprovision(&self, job: Deprovision) {
        let request = &job.request;
        let result = match self.tenant(&request.tenant) {
            Ok(tenant) => self.provisioner.run_deprovision(tenant, &job).await,
            Err(e) => Err(e),
        };
        let outcome = match &result {
            Ok(_) => Ok(()),
            Err(e) => {
                let retry = (!self.out_of_attempts(job.retry.attempts, e))
                    .then(|| retry_at(self.backoff(job.retry.attempts, e)));
                tracing::warn!(deprovision = job.id, tenant = %request.tenant, error = %e, retry = retry.is_some(), "deprovision failed");
                Err((e.to_string(), retry))
            }
        };
        if let Err(e) = self.deprovisions.finish_deprovision(job.id, outcome).await {
            tracing::warn!(error = %e, deprovision = job.id, "could not record the deprovision outcome; its lease will expire and it runs again");
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
}

fn limit(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn retry_at(delay: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60))
}
