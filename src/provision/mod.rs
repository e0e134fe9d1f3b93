//! The bridge's own logic: what a SCIM change means upstream, under the tenant's
//! policies. Knows neither HTTP nor SQL; talks to a [`Store`] and a [`Target`].
pub mod access;
pub mod catalog;
pub mod create;
mod detached;
pub mod drift;
mod fingerprint;
pub mod groups;
pub mod guard;
pub mod intents;
pub mod jobs;
pub mod lifecycle;
pub mod mapping;
pub mod prefetch;
pub mod reconcile;
mod reconcile_index;
mod reconcile_passes;
pub mod render;
pub mod target_fields;
pub mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::config::{DeprovisionGuardConfig, GroupMappingConfig, PolicyConfig, TenantConfig};
use crate::scim::error::{ScimError, ScimType};
use crate::store::{Store, StoreError};
use crate::upstream::{AccountScope, Target, TargetError};

/// One tenant as the running bridge sees it: its policies and its upstream.
pub struct Tenant {
    pub name: String,
    pub base_roles: Vec<String>,
    pub account_scope: AccountScope,
    pub accounts: Vec<String>,
    pub policy: PolicyConfig,
    pub groups: GroupMappingConfig,
    pub target: Arc<dyn Target>,
    /// How often `serve` reconciles this tenant; `None` = never.
    pub reconcile_interval: Option<std::time::Duration>,
    pub reconcile_repair: bool,
    /// Most member values one Group write may carry.
    pub max_members_per_request: usize,
    /// Size limits of every value a client writes.
    pub input_rules: crate::scim::validate::InputRules,
    /// The tenant's inbound request budget; `None` = unlimited.
    pub inbound_limit: Option<governor::DefaultDirectRateLimiter>,
    pub deprovision_guard: Option<DeprovisionGuardConfig>,
    /// Whether a user's own `roles` / `entitlements` grant access (and are checked).
    pub direct_assignments: bool,
    /// What the upstream can grant, read when first needed and kept a few minutes.
    pub catalog: catalog::CatalogCache,
}

/// The inbound limiter `requests_per_second` and `burst` describe (none for 0 or absent).
fn inbound_limiter(
    limits: &crate::config::TenantLimits,
) -> Option<governor::DefaultDirectRateLimiter> {
    let rate = std::num::NonZeroU32::new(limits.requests_per_second?)?;
    let burst = limits
        .burst
        .and_then(std::num::NonZeroU32::new)
        .unwrap_or(rate);
    Some(governor::RateLimiter::direct(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Tenant {
    pub fn new(name: &str, config: &TenantConfig, target: Arc<dyn Target>) -> Self {
        Self {
            name: name.to_string(),
            base_roles: config.base_roles.clone(),
            account_scope: config.account_scope,
            accounts: config.accounts.clone(),
            policy: config.policy.clone(),
            groups: config.groups.clone(),
            target,
            reconcile_interval: config
                .reconcile_interval_secs
                .filter(|secs| *secs > 0)
                .map(std::time::Duration::from_secs),
            reconcile_repair: config.reconcile_repair,
            max_members_per_request: config.limits.max_members_per_request,
            input_rules: config.input_rules(),
            inbound_limit: inbound_limiter(&config.limits),
            deprovision_guard: config.deprovision_guard.clone(),
            direct_assignments: config.direct_assignments || config.groups.use_scim_roles,
            catalog: catalog::CatalogCache::default(),
        }
    }

    /// The Role and Entitlement resources this tenant offers.
    pub async fn catalog(&self) -> std::result::Result<Arc<catalog::Catalog>, TargetError> {
        let mut accounts = self.accounts.clone();
        for rule in &self.groups.map {
            accounts.extend(rule.accounts.iter().cloned());
        }
        self.catalog.get(self.target.as_ref(), &accounts).await
    }

    /// Checks and normalises a user body's direct assignments when the tenant honours
    /// them; otherwise only drops the inherited elements a read added.
    pub async fn check_assignments(&self, resource: &mut serde_json::Value) -> Result<()> {
        if self.direct_assignments {
            self.catalog().await?.normalize_assignments(resource)?;
        } else {
            catalog::strip_inherited(resource);
        }
        Ok(())
    }

    pub fn access_policy(&self) -> access::AccessPolicy<'_> {
        access::AccessPolicy {
            base_roles: &self.base_roles,
            base_scope: self.account_scope,
            base_accounts: &self.accounts,
            mapping: &self.groups,
            direct_assignments: self.direct_assignments,
        }
    }
}

/// Who is asking: the tenant and the id of the credential it presented.
#[derive(Clone)]
pub struct Caller {
    pub tenant: Arc<Tenant>,
    pub credential_id: String,
}

/// How a write changes a resource: PUT replaces it whole, PATCH applies operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Replace,
    Patch,
}

impl Write {
    /// The audit's name for the write.
    pub fn action(self) -> &'static str {
        match self {
            Write::Replace => "replace",
            Write::Patch => "patch",
        }
    }
}

/// A write of one resource: how, the request body, and its `If-Match`.
pub struct Change<'a> {
    pub how: Write,
    pub body: serde_json::Value,
    pub if_match: Option<&'a str>,
}

/// The one domain error. The HTTP layer maps it to a SCIM error in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    Upstream(#[from] TargetError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Error::Scim(ScimError::new(409, Some(ScimType::Uniqueness), detail))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The stored resource, or the SCIM 404 naming it (`kind` is `User` or `Group`).
fn found<T>(stored: Option<T>, kind: &str, id: &str) -> Result<T> {
    stored.ok_or_else(|| ScimError::not_found(format!("{kind} {id} not found")).into())
}

/// Serialises the read-modify-write of one resource inside this process: Entra sends
/// parallel requests for the same user, and interleaving them would lose a change.
#[derive(Default)]
pub struct ResourceLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl ResourceLocks {
    pub async fn lock(&self, key: String) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 1024 {
                map.retain(|_, weak| weak.strong_count() > 0);
            }
            match map.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// How many times a write that lost a race on the stored version (another replica
/// wrote the resource between this one's read and write) is re-run from a fresh read
/// before the IdP is answered 503. Each re-run sees the winner's write, so only a
/// resource written continuously by several replicas can exhaust it. A write can lose
/// once to each write the other process has queued for the same user (an IdP sends a
/// burst of PATCHes per user, five or more when Entra splits attributes), so the budget
/// is sized for such a burst rather than for one competitor.
pub const WRITE_ATTEMPTS: u32 = 10;

/// Runs `op(attempt)` (0-based) until it does not fail with
/// [`StoreError::VersionMismatch`], at most [`WRITE_ATTEMPTS`] times. `op` must re-read
/// the resource and re-apply the change each time, and be safe to repeat (see the
/// callers for why theirs are).
pub(crate) async fn retry_lost_races<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Err(Error::Store(StoreError::VersionMismatch)) if attempt + 1 < WRITE_ATTEMPTS => {
                tracing::debug!(attempt, "lost a write race; re-reading and re-applying");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The lock key of one user: its writes and the worker's role sync take it.
pub fn user_key(tenant: &str, id: &str) -> String {
    format!("{tenant}/User/{id}")
}

/// Both locks on one resource, released on drop: this process's (its own requests
/// queue in memory) and the store's shared one (other replicas' requests and workers
/// wait in PostgreSQL).
pub struct WriteGuard {
    _shared: crate::store::SharedLock,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// Everything the provisioning operations need, shared by all requests.
#[derive(Clone)]
pub struct Provisioner {
    pub store: Arc<dyn Store>,
    pub locks: Arc<ResourceLocks>,
    /// Wakes this process's job worker after a change enqueued jobs (other replicas
    /// find them by polling).
    pub jobs_ready: Arc<tokio::sync::Notify>,
    /// Each tenant's upstream role names, for the role syncs.
    role_names: Arc<jobs::RoleNames>,
}

impl Provisioner {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            locks: Arc::new(ResourceLocks::default()),
            jobs_ready: Arc::new(tokio::sync::Notify::new()),
            role_names: Arc::default(),
        }
    }

    /// Serialises the read-modify-write of `key` in this process and, through the
    /// store, across replicas. The local lock is taken first, so a process holds at
    /// most one shared lock (one lock connection) per key.
    pub async fn lock(&self, key: String) -> std::result::Result<WriteGuard, StoreError> {
        let local = self.locks.lock(key.clone()).await;
        let shared = self.store.lock(&key).await?;
        Ok(WriteGuard {
            _shared: shared,
            _local: local,
        })
    }

    /// The access a stored user should have upstream, from its groups. While no rule
    /// grants a role, the roles a deactivation replaced (`prior`: the NetSapiens scope
    /// the user had before `No Portal`) stand in, so reactivation gives them back and
    /// later syncs and reconcile keep them; a rule's grant always wins.
    pub async fn desired_access(
        &self,
        tenant: &Tenant,
        user_id: &str,
        resource: &serde_json::Value,
        prior: &crate::store::Prior,
    ) -> Result<access::Access> {
        let groups = self.store.user_groups(&tenant.name, user_id).await?;
        Ok(with_prior(
            tenant.access_policy().compute(&groups, resource),
            prior,
        ))
    }
}

/// `access` with the roles a deactivation replaced standing in while no rule grants
/// any (see [`Provisioner::desired_access`]); also used where the groups are read for a
/// whole page of users at once (reconcile).
pub(crate) fn with_prior(
    mut access: access::Access,
    prior: &crate::store::Prior,
) -> access::Access {
    if access.roles.is_empty() {
        access.roles.extend(prior.roles.iter().cloned());
    }
    access
}
