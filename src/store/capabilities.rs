//! The store's capabilities, one trait each, and [`Store`], their sum. Code that needs
//! one capability can ask for just that trait; `Arc<dyn Store>` offers them all (a
//! trait object's supertrait methods need no import).
use std::collections::HashMap;

use async_trait::async_trait;

use super::admin::AdminStore;
use chrono::{DateTime, Utc};

use super::{
    Admission, AuditEntry, CreateIntent, Deprovision, DeprovisionState, GroupRecord, GroupRef,
    GroupWrite, GuardLimit, Job, JobState, Lease, ListQuery, Listing, Member, NewDeprovision,
    Outcome, Prior, QueueFilter, SharedLock, StoreError, UpstreamLink, UserRecord,
};

/// Reachability and the cross-process locks of writes that call the upstream.
#[async_trait]
pub trait LockStore: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
    /// Serialises the read-modify-write of `key` (a user, a userName being created)
    /// across every process sharing this store, until the guard drops. A store only
    /// one process opens (SQLite) takes no lock; the caller also holds an in-process
    /// lock on the same key, so one process waits on itself locally and takes at most
    /// one shared lock per key.
    async fn lock(&self, key: &str) -> Result<SharedLock, StoreError>;
    /// Like [`LockStore::lock`] without waiting: `None` when another process holds `key`.
    /// For work that one process at a time should do and the others may skip (the
    /// periodic reconcile).
    async fn try_lock(&self, key: &str) -> Result<Option<SharedLock>, StoreError>;
}

/// SCIM users, their upstream links and the create intents.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError>;
    async fn get_user(&self, tenant: &str, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The user and the groups it is in (as [`GroupStore::user_groups`] orders them),
    /// read together: `GET /Users/{id}` in one statement.
    async fn get_user_with_groups(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(UserRecord, Vec<GroupRef>)>, StoreError>;
    /// Writes `user` if the stored version is still `user.version - 1`.
    async fn update_user(&self, tenant: &str, user: &UserRecord) -> Result<(), StoreError>;
    async fn delete_user(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    async fn list_users(&self, tenant: &str, query: &ListQuery) -> Listing<UserRecord>;
    /// The SCIM id that links to this upstream user, if any (adoption must not link twice).
    async fn user_id_by_upstream(
        &self,
        tenant: &str,
        upstream_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Records that an upstream create for `intent.username` is about to be attempted
    /// under `intent.scim_id`. If the answer is lost, the IdP's retry finds the intent
    /// and links the upstream user instead of answering 409 or creating a second one.
    async fn put_create_intent(
        &self,
        tenant: &str,
        intent: &CreateIntent,
    ) -> Result<(), StoreError>;
    async fn create_intent(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<String>, StoreError>;
    /// The tenant's create intents, oldest first (intent recovery, reconcile).
    async fn create_intents(&self, tenant: &str) -> Result<Vec<CreateIntent>, StoreError>;
    async fn clear_create_intent(&self, tenant: &str, username: &str) -> Result<(), StoreError>;
    /// Writes what the bridge saw upstream without touching the SCIM resource or its
    /// version (the worker's outcome is not an IdP change, so the ETag stays).
    async fn update_user_link(
        &self,
        tenant: &str,
        user_id: &str,
        link: &UpstreamLink,
    ) -> Result<(), StoreError>;
    /// Replaces what a deprovision took from the user's upstream account (given back on
    /// reactivation); the link and the SCIM resource are left alone.
    async fn remember_prior(
        &self,
        tenant: &str,
        user_id: &str,
        prior: &Prior,
    ) -> Result<(), StoreError>;
    /// Which of `ids` are users of this tenant (member validation).
    async fn existing_users(&self, tenant: &str, ids: &[String])
        -> Result<Vec<String>, StoreError>;
}

/// SCIM groups and memberships. Every write enqueues, in the same transaction, a
/// `sync_user` job for each user whose memberships changed, so a crash can never lose a
/// role change.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Inserts the group and its members (all must be users of the tenant) and enqueues
    /// a job per member. `Conflict` on a taken displayName (case-insensitive) or externalId.
    async fn insert_group(
        &self,
        tenant: &str,
        group: &GroupRecord,
        members: &[String],
    ) -> Result<(), StoreError>;
    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// Indexed: id, displayName, externalId, meta.lastModified, members.value (and
    /// `members[value eq ...]`); other filters are evaluated on the resource without members.
    async fn list_groups(&self, tenant: &str, query: &ListQuery) -> Listing<GroupRecord>;
    /// Ordered by user id.
    async fn group_members(&self, tenant: &str, group_id: &str) -> Result<Vec<Member>, StoreError>;
    /// Writes `write.group` if the stored version is still `group.version - 1`
    /// (`VersionMismatch`/`NotFound` otherwise), and its membership as
    /// [`GroupWrite`] says.
    async fn update_group(&self, tenant: &str, write: GroupWrite<'_>) -> Result<(), StoreError>;
    /// Deletes the group and its memberships, enqueuing a job per former member.
    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    /// The groups a user is in, ordered by display name.
    async fn user_groups(&self, tenant: &str, user_id: &str) -> Result<Vec<GroupRef>, StoreError>;
    /// The groups of each of `user_ids` (ordered as [`GroupStore::user_groups`]) in one
    /// query; a user in no group is absent. Reconcile reads a page of users at a time.
    async fn users_groups(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Vec<GroupRef>>, StoreError>;
}

/// `sync_user` jobs: enqueued coalesced, claimed with a lease, retried or failed.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues a job per user unless it already has a pending one; returns how many
    /// were new. (Deleting a user removes its memberships and its jobs.)
    async fn enqueue_user_syncs(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError>;
    /// Claims up to `limit` jobs whose `run_at` has come: pending ones, and running ones
    /// whose lease expired (a crashed worker's). Claimed jobs are `running`, held by
    /// `lease`, with `attempts` + 1. Safe to call from several replicas at once.
    async fn claim_jobs(&self, lease: Lease<'_>, limit: u32) -> Result<Vec<Job>, StoreError>;
    /// Extends the running jobs `lease.owner` claimed by another `lease.term` (its
    /// heartbeat while they run, so a lease of seconds is enough); returns how many.
    async fn renew_job_leases(&self, lease: Lease<'_>) -> Result<u64, StoreError>;
    /// Ends the lease of the running jobs `owner` claimed, so they are claimed again at
    /// once: called as `owner` starts, when they can only be a crashed run's.
    async fn release_job_claims(&self, owner: &str) -> Result<u64, StoreError>;
    /// The job is done: it is removed, and so are earlier `failed` jobs of the same user.
    async fn complete_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Back to pending at `run_at` with the error kept; removed instead if the user
    /// already has another pending job (that one will do the work).
    async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Out of retries: `failed`, with the error, until `requeue_failed`.
    async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError>;
    /// How many jobs each tenant has in each state (states with none are left out).
    async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError>;
    /// The jobs `filter` lets through, oldest first.
    async fn list_jobs(&self, filter: QueueFilter<'_, JobState>) -> Result<Vec<Job>, StoreError>;
    /// Failed jobs (all of the tenant's, or the one with `job_id`) become pending now.
    async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError>;
}

/// Deprovisions under the mass-deprovision guard (see `deprovision.rs`).
#[async_trait]
pub trait DeprovisionStore: Send + Sync {
    /// Records `request` and decides, atomically across replicas, whether it runs now
    /// (fewer than `limit.max` in the window and none held) or is held. Forgets `done`
    /// rows older than the window.
    async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError>;
    /// Held deprovisions of the tenant (all, or the one with `id`) become pending now,
    /// for the worker; returns how many.
    async fn approve_deprovisions(&self, tenant: &str, id: Option<i64>) -> Result<u64, StoreError>;
    /// The deprovisions `filter` lets through, oldest first.
    async fn list_deprovisions(
        &self,
        filter: QueueFilter<'_, DeprovisionState>,
    ) -> Result<Vec<Deprovision>, StoreError>;
    /// Claims approved deprovisions that are due, and running ones whose lease expired,
    /// as [`JobStore::claim_jobs`] does for jobs.
    async fn claim_deprovisions(
        &self,
        lease: Lease<'_>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError>;
    /// As [`JobStore::renew_job_leases`], for deprovisions.
    async fn renew_deprovision_leases(&self, lease: Lease<'_>) -> Result<u64, StoreError>;
    /// As [`JobStore::release_job_claims`], for deprovisions.
    async fn release_deprovision_claims(&self, owner: &str) -> Result<u64, StoreError>;
    /// The worker's outcome (see [`Outcome`]).
    async fn finish_deprovision(&self, id: i64, outcome: Outcome) -> Result<(), StoreError>;
}

/// The audit log of provisioning actions.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_audit(&self, tenant: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Everything the bridge keeps: the sum of the capabilities, implemented for every type
/// that has them all (both SQL backends do).
pub trait Store:
    LockStore + UserStore + GroupStore + JobStore + DeprovisionStore + AuditStore + AdminStore
{
}

impl<T> Store for T where
    T: LockStore + UserStore + GroupStore + JobStore + DeprovisionStore + AuditStore + AdminStore
{
}
