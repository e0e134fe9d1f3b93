//! What the queued jobs do, as domain operations: a user's role sync (`sync_user`) and
//! an approved deprovision. The job worker (`crate::worker`) only claims them, keeps
//! their leases, backs off and records their outcome; the upstream calls, the links and
//! the audit are here, and every deprovision goes through the lifecycle core.
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use super::lifecycle::{synced_link, Subject, UpstreamAction};
use super::mapping::{is_active, map_user};
use super::{user_key, Caller, Error, Provisioner, Tenant};
use crate::store::{AuditEntry, Deprovision, StoreError, SyncState, UpstreamLink, UserRecord};
use crate::upstream::{DesiredUser, Seen, TargetError, UpstreamUser};

/// Why one job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Upstream(#[from] TargetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Retrying cannot help (a user that cannot be mapped, an unknown tenant).
    #[error("{0}")]
    Permanent(String),
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        match e {
            Error::Upstream(e) => JobError::Upstream(e),
            Error::Store(e) => JobError::Store(e),
            Error::Scim(e) => JobError::Permanent(e.detail),
        }
    }
}

/// What a finished job did, for the audit.
pub struct Done {
    pub upstream: &'static str,
    pub notes: Vec<String>,
}

impl Done {
    fn nothing(why: &'static str) -> Self {
        Done {
            upstream: why,
            notes: vec![],
        }
    }
}

/// A tenant's upstream role names and when they were read.
type CachedNames = (Instant, Arc<BTreeSet<String>>);

const ROLE_NAMES_TTL: Duration = Duration::from_secs(60);

/// Each tenant's upstream role names, refreshed after [`ROLE_NAMES_TTL`]: one roles
/// call per minute instead of one per job. The lock is never held across the upstream
/// call, so a slow roles call delays only the jobs that need the refresh; jobs that
/// find the names expired together may each read them once.
#[derive(Default)]
pub struct RoleNames {
    cache: std::sync::Mutex<HashMap<String, CachedNames>>,
}

impl RoleNames {
    fn cached(&self, tenant: &str) -> Option<Arc<BTreeSet<String>>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(tenant)
            .filter(|(at, _)| at.elapsed() < ROLE_NAMES_TTL)
            .map(|(_, names)| names.clone())
    }

    async fn of(&self, tenant: &Tenant) -> Result<Arc<BTreeSet<String>>, TargetError> {
        if let Some(names) = self.cached(&tenant.name) {
            return Ok(names);
        }
        let roles = tenant.target.list_roles().await?;
        let names: Arc<BTreeSet<String>> = Arc::new(roles.into_iter().map(|r| r.name).collect());
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.name.clone(), (Instant::now(), names.clone()));
        Ok(names)
    }
}

/// Whether `current` already is what `desired` asks (fields `desired` leaves `None`
/// are not compared).
fn already(current: &UpstreamUser, desired: &DesiredUser) -> bool {
    current.active == desired.active
        && current.first_name == desired.first_name
        && current.last_name == desired.last_name
        && current.email.eq_ignore_ascii_case(&desired.email)
        && current.phone == desired.phone
        && desired.roles.as_ref().is_none_or(|r| *r == current.roles)
        && desired
            .account_scope
            .is_none_or(|s| s == current.account_scope)
}

impl Provisioner {
    fn worker_caller(tenant: &Arc<Tenant>) -> Caller {
        Caller {
            tenant: tenant.clone(),
            credential_id: "worker".into(),
        }
    }

    async fn audit_job(&self, tenant: &Tenant, user_id: &str, action: &str, detail: Value) {
        let outcome = if detail.get("error").is_some() {
            "error"
        } else {
            "ok"
        };
        self.append_audit_quietly(AuditEntry {
            at: Utc::now(),
            tenant: tenant.name.clone(),
            actor: "worker".into(),
            resource_type: "User".into(),
            resource_id: user_id.to_string(),
            action: action.into(),
            outcome: outcome.into(),
            detail,
        })
        .await;
    }

    /// Runs one `sync_user` job: brings the user's upstream roles, admin scope and
    /// accounts to what its groups say (or, for an inactive user, its upstream user to
    /// the deactivation policy). Audited unless nothing changed.
    ///
    /// The job holds the user's write lock (the one SCIM user writes take, shared
    /// across replicas on PostgreSQL): both sides GET the upstream user and PUT it back
    /// whole, so without it a PATCH's PUT could carry the roles it read before the
    /// job's PUT, or the job's PUT the names from before the PATCH's, and undo the
    /// other's change upstream.
    ///
    /// `seen` is the user as a page read found it (`prefetch`): the write starts from it
    /// instead of reading the user again, if it is still fresh when the write starts.
    pub async fn sync_user(
        &self,
        tenant: &Arc<Tenant>,
        user_id: &str,
        attempt: u32,
        seen: Option<Seen>,
    ) -> Result<Done, JobError> {
        let result = match self.lock(user_key(&tenant.name, user_id)).await {
            Ok(_guard) => self.sync_user_locked(tenant, user_id, seen).await,
            Err(e) => Err(JobError::Store(e)),
        };
        let detail = match &result {
            Ok(done) if done.upstream == "unchanged" => return result,
            Ok(done) => json!({"upstream": done.upstream, "notes": done.notes}),
            Err(e) => json!({"error": e.to_string(), "attempt": attempt}),
        };
        self.audit_job(tenant, user_id, "sync_access", detail).await;
        result
    }

    async fn sync_user_locked(
        &self,
        tenant: &Arc<Tenant>,
        user_id: &str,
        seen: Option<Seen>,
    ) -> Result<Done, JobError> {
        let Some(user) = self.store.get_user(&tenant.name, user_id).await? else {
            return Ok(Done::nothing("unchanged"));
        };
        let Some(upstream_id) = user.link.upstream_id.clone() else {
            return Ok(Done::nothing("unchanged"));
        };
        // Deactivated users are not given roles back (reactivation syncs them), but
        // their upstream user is held to the deprovisioning policy, so a reconcile
        // repair undoes a hand-made reactivation.
        if !is_active(&user.resource) {
            // A deprovision the mass-deprovision guard holds waits for `jobs approve`;
            // a group change or a reconcile repair must not carry it out behind it.
            if user.link.sync_state == SyncState::Held {
                return Ok(Done::nothing("held"));
            }
            return self.hold_to_policy(tenant, &user, &upstream_id).await;
        }
        let mut access = self
            .desired_access(tenant, &user.id, &user.resource, &user.link.prior)
            .await?;
        // A role name the upstream does not have (a typo in a prefixed group's name) is
        // left out and reported, rather than blocking the user's other roles forever.
        let valid = self.role_names.of(tenant).await?;
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
        .map_err(Error::from)?;
        let desired = Self::desired(&mapped, Some(&access), true);
        let seen = seen.filter(|s| s.user.id == upstream_id && s.fresh());
        let written = match (seen, tenant.target.paged_reads()) {
            (Some(seen), Some(paged)) => paged.update_seen(&seen, &desired).await,
            _ => tenant.target.update_user(&upstream_id, &desired).await,
        };
        let after = match written {
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
            last_error: (!notes.is_empty()).then(|| notes.join("; ")),
            ..synced_link(&after)
        };
        self.store
            .update_user_link(&tenant.name, &user.id, &link)
            .await?;
        Ok(Done { upstream, notes })
    }

    /// The upstream id the user is linked to, if any: what a batch read looks for.
    pub async fn upstream_id_of(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .get_user(tenant, user_id)
            .await?
            .and_then(|u| u.link.upstream_id))
    }

    /// Brings an inactive user's upstream user to what the deactivation policy says:
    /// deactivated (roles kept), or active without roles. Writes only when it differs.
    async fn hold_to_policy(
        &self,
        tenant: &Arc<Tenant>,
        user: &UserRecord,
        upstream_id: &str,
    ) -> Result<Done, JobError> {
        let action = UpstreamAction::on_deactivate(tenant.policy.on_deactivate);
        if action == UpstreamAction::Delete {
            // The deactivation deleted the upstream user and unlinked it.
            return Ok(Done::nothing("unchanged"));
        }
        let caller = Self::worker_caller(tenant);
        let subject = Subject {
            scim_id: &user.id,
            resource: &user.resource,
            link: &user.link,
        };
        if let Some(desired) = self.desired_after(&caller, &subject, action).await? {
            let current = tenant.target.get_user(upstream_id).await?;
            if current.is_some_and(|c| already(&c, &desired)) {
                return Ok(Done::nothing("unchanged"));
            }
        }
        let carried = self.carry_out(&caller, &subject, action).await?;
        self.store
            .update_user_link(&tenant.name, &user.id, &carried.link)
            .await?;
        Ok(Done {
            upstream: carried.upstream,
            notes: carried.notes,
        })
    }

    /// Records a failed sync on the user's link (`pending` while it retries, `failed`
    /// when it gave up), unless a held deprovision says more.
    pub async fn mark_sync_state(
        &self,
        tenant: &str,
        user_id: &str,
        state: SyncState,
        error: String,
    ) -> Result<(), StoreError> {
        let _guard = self.lock(user_key(tenant, user_id)).await?;
        let Some(user) = self.store.get_user(tenant, user_id).await? else {
            return Ok(());
        };
        if user.link.sync_state == SyncState::Held {
            // Held says more than this job's outcome: approval is still awaited.
            return Ok(());
        }
        let link = UpstreamLink {
            sync_state: state,
            last_error: Some(error),
            ..user.link
        };
        match self.store.update_user_link(tenant, user_id, &link).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Carries out a deprovision an admin released from the mass-deprovision guard,
    /// unless the IdP has reactivated the user since. Audited.
    pub async fn run_deprovision(
        &self,
        tenant: &Arc<Tenant>,
        job: &Deprovision,
    ) -> Result<&'static str, JobError> {
        let request = &job.request;
        let result = match self.lock(user_key(&tenant.name, &request.user_id)).await {
            Ok(_guard) => self.run_deprovision_locked(tenant, job).await,
            Err(e) => Err(JobError::Store(e)),
        };
        let detail = match &result {
            Ok(upstream) => {
                json!({"deprovision": job.id, "action": request.action.as_str(), "upstream": upstream})
            }
            Err(e) => {
                json!({"deprovision": job.id, "action": request.action.as_str(), "error": e.to_string(), "attempt": job.retry.attempts})
            }
        };
        self.audit_job(tenant, &request.user_id, "deprovision", detail)
            .await;
        result
    }

    async fn run_deprovision_locked(
        &self,
        tenant: &Arc<Tenant>,
        job: &Deprovision,
    ) -> Result<&'static str, JobError> {
        let request = &job.request;
        // The SCIM user now linked to the upstream user, if any: the one that was held
        // (deactivated, not deleted), or one the IdP created again since.
        let current = match self
            .store
            .user_id_by_upstream(&tenant.name, &request.upstream_id)
            .await?
        {
            Some(id) => self.store.get_user(&tenant.name, &id).await?,
            None => None,
        };
        if current.as_ref().is_some_and(|u| is_active(&u.resource)) {
            return Ok("skipped: the user is active again");
        }
        // What was held is carried out: the resource and upstream user it was held for.
        let link = UpstreamLink {
            upstream_id: Some(request.upstream_id.clone()),
            upstream_username: request.upstream_username.clone(),
            ..current.as_ref().map(|u| u.link.clone()).unwrap_or_default()
        };
        let subject = Subject {
            scim_id: &request.user_id,
            resource: &request.resource,
            link: &link,
        };
        let caller = Self::worker_caller(tenant);
        let carried = self
            .carry_out(&caller, &subject, request.action.into())
            .await?;
        if let Some(user) = current {
            self.store
                .update_user_link(&tenant.name, &user.id, &carried.link)
                .await?;
        }
        Ok(carried.upstream)
    }
}
