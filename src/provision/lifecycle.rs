//! The lifecycle core: every deactivation, role strip, deletion, reactivation and
//! re-create of a user's upstream account is carried out by [`Provisioner::carry_out`],
//! whoever asks for it (a SCIM write, the job worker, an approved deprovision,
//! reconcile). The tenant's policies become an [`UpstreamAction`] in one place
//! ([`UpstreamAction::on_deactivate`], [`UpstreamAction::on_delete`]).
//!
//! One rule for a user already gone upstream (deleted by hand, or by an earlier attempt
//! whose answer was lost): deactivating, stripping or deleting it succeeds, as nothing
//! is left to take away, and the user is left unlinked (`deprovisioned`), so a later
//! reactivation creates it again; reactivating it creates it again at once.
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use super::access::Access;
use super::guard::{held_note, Gate, HELD};
use super::mapping::{is_active, map_user, Mapped};
use super::users::Outcome;
use super::{user_key, Caller, Provisioner, Result, Tenant};
use crate::config::{DeactivatePolicy, DeletePolicy};
use crate::store::{DeprovisionAction, Prior, StoreError, SyncState, UpstreamLink};
use crate::upstream::{DesiredUser, TargetError, UpstreamUser};

/// What happens to a user's upstream account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAction {
    /// Inactive upstream; roles, scope and accounts kept.
    Deactivate,
    /// Active upstream without roles, admin scope or accounts.
    StripRoles,
    /// Deleted upstream; the SCIM user (if kept) is left unlinked.
    Delete,
    /// Active again with the access its groups grant (created again if gone).
    Reactivate,
    /// Created again (or linked, when an earlier attempt's create landed), keeping the
    /// SCIM id.
    Recreate,
}

impl UpstreamAction {
    /// What a deactivation (`active: false`) does under the tenant's `on_deactivate`.
    pub fn on_deactivate(policy: DeactivatePolicy) -> Self {
        match policy {
            DeactivatePolicy::Deactivate => UpstreamAction::Deactivate,
            DeactivatePolicy::StripRoles => UpstreamAction::StripRoles,
            DeactivatePolicy::Delete => UpstreamAction::Delete,
        }
    }

    /// What a SCIM DELETE does under the tenant's `on_delete`.
    pub fn on_delete(policy: DeletePolicy) -> Self {
        match policy {
            DeletePolicy::Delete => UpstreamAction::Delete,
            DeletePolicy::Deactivate => UpstreamAction::Deactivate,
        }
    }

    /// The deprovision the mass-deprovision guard counts and holds; `None` for the
    /// actions that give access back.
    pub fn as_deprovision(self) -> Option<DeprovisionAction> {
        match self {
            UpstreamAction::Deactivate => Some(DeprovisionAction::Deactivate),
            UpstreamAction::StripRoles => Some(DeprovisionAction::StripRoles),
            UpstreamAction::Delete => Some(DeprovisionAction::Delete),
            UpstreamAction::Reactivate | UpstreamAction::Recreate => None,
        }
    }
}

impl From<DeprovisionAction> for UpstreamAction {
    fn from(action: DeprovisionAction) -> Self {
        match action {
            DeprovisionAction::Deactivate => UpstreamAction::Deactivate,
            DeprovisionAction::StripRoles => UpstreamAction::StripRoles,
            DeprovisionAction::Delete => UpstreamAction::Delete,
        }
    }
}

/// The user an action is carried out on, as the bridge knows it: the SCIM id, the
/// resource the IdP wrote, and its link to the upstream user. A deletion's or an
/// approved deprovision's subject may be gone locally already.
pub struct Subject<'a> {
    pub scim_id: &'a str,
    pub resource: &'a Value,
    pub link: &'a UpstreamLink,
}

impl Subject<'_> {
    /// The upstream user the resource maps to under the tenant's target.
    fn mapped(&self, caller: &Caller) -> Result<Mapped> {
        Ok(map_user(
            self.resource,
            &self.link.upstream_username,
            caller.tenant.target.user_rules(),
        )?)
    }
}

/// What carrying out an action did: the audit's word for it, the link the user has
/// now (to store, when the user is kept), and notes for the audit.
#[derive(Debug)]
pub struct Carried {
    pub upstream: &'static str,
    pub link: UpstreamLink,
    pub notes: Vec<String>,
}

/// The audit's word for a deprovision that found the user already gone upstream.
pub const ALREADY_GONE: &str = "already gone upstream";

/// The link of a user whose upstream account now is as `upstream` says.
pub(super) fn synced_link(upstream: &UpstreamUser) -> UpstreamLink {
    UpstreamLink {
        upstream_id: Some(upstream.id.clone()),
        upstream_username: upstream.username.clone(),
        roles: upstream.roles.clone(),
        account_scope: upstream.account_scope,
        accounts: upstream.accounts.clone(),
        sync_state: SyncState::Synced,
        last_error: None,
        last_synced_at: Some(Utc::now()),
        // Only a deprovision writes it (see `Prior`); a link write leaves it stored.
        prior: Prior::default(),
    }
}

/// The link of a user that has no upstream account (deleted, or found gone).
fn unlinked(upstream_username: &str) -> UpstreamLink {
    UpstreamLink {
        upstream_username: upstream_username.to_string(),
        sync_state: SyncState::Deprovisioned,
        last_synced_at: Some(Utc::now()),
        ..UpstreamLink::default()
    }
}

impl Carried {
    fn synced(upstream: &'static str, user: &UpstreamUser) -> Self {
        Carried {
            upstream,
            link: synced_link(user),
            notes: vec![],
        }
    }

    fn unlinked(upstream: &'static str, subject: &Subject<'_>) -> Self {
        Carried {
            upstream,
            link: unlinked(&subject.link.upstream_username),
            notes: vec![],
        }
    }
}

impl Provisioner {
    /// The upstream user to write: mapped attributes, plus access when this call sets it
    /// (`None` keeps upstream's roles, scope and accounts, which the job worker owns).
    pub(crate) fn desired(mapped: &Mapped, access: Option<&Access>, active: bool) -> DesiredUser {
        DesiredUser {
            roles: access.map(Access::roles),
            account_scope: access.map(|a| a.scope),
            accounts: access.and_then(Access::accounts),
            active,
            ..mapped.user.clone()
        }
    }

    /// The upstream user `action` leaves `subject` with, written or not: for comparing
    /// with what upstream has before writing. `None` for delete and re-create.
    pub(super) async fn desired_after(
        &self,
        caller: &Caller,
        subject: &Subject<'_>,
        action: UpstreamAction,
    ) -> Result<Option<DesiredUser>> {
        Ok(match action {
            UpstreamAction::Deactivate => {
                Some(Self::desired(&subject.mapped(caller)?, None, false))
            }
            UpstreamAction::StripRoles => Some(Self::desired(
                &subject.mapped(caller)?,
                Some(&Access::default()),
                true,
            )),
            UpstreamAction::Reactivate => Some(self.active_desired(caller, subject).await?),
            UpstreamAction::Delete | UpstreamAction::Recreate => None,
        })
    }

    /// The user active upstream with the access its groups grant.
    async fn active_desired(&self, caller: &Caller, subject: &Subject<'_>) -> Result<DesiredUser> {
        let mapped = subject.mapped(caller)?;
        let access = self.subject_access(caller, subject).await?;
        Ok(Self::desired(&mapped, Some(&access), true))
    }

    /// The access `subject`'s groups grant it (with the roles it held before).
    async fn subject_access(&self, caller: &Caller, subject: &Subject<'_>) -> Result<Access> {
        self.desired_access(
            &caller.tenant,
            subject.scim_id,
            subject.resource,
            &subject.link.prior,
        )
        .await
    }

    /// Carries out `action` on `subject`'s upstream account now, under the tenant's
    /// rules and the one rule for a user already gone upstream (see the module). The
    /// caller holds the user's lock and stores the returned link.
    pub async fn carry_out(
        &self,
        caller: &Caller,
        subject: &Subject<'_>,
        action: UpstreamAction,
    ) -> Result<Carried> {
        let target = &caller.tenant.target;
        let Some(uid) = subject.link.upstream_id.as_deref() else {
            return match action {
                UpstreamAction::Reactivate | UpstreamAction::Recreate => {
                    self.recreate(caller, subject).await
                }
                _ => Ok(Carried {
                    upstream: "none linked",
                    link: subject.link.clone(),
                    notes: vec![],
                }),
            };
        };
        if action == UpstreamAction::Delete {
            let word = match target.delete_user(uid).await {
                Ok(()) => "deleted",
                Err(TargetError::NotFound) => ALREADY_GONE,
                Err(e) => return Err(e.into()),
            };
            if target.user_rules().reuses_ids {
                let prior = Prior {
                    upstream_id: Some(uid.to_string()),
                    ..subject.link.prior.clone()
                };
                self.remember(caller, subject, &prior).await?;
            }
            return Ok(Carried::unlinked(word, subject));
        }
        if action == UpstreamAction::Recreate {
            return self.recreate(caller, subject).await;
        }
        let Some(desired) = self.desired_after(caller, subject, action).await? else {
            return self.recreate(caller, subject).await;
        };
        if action == UpstreamAction::Deactivate && target.access_model().deactivation_replaces_roles
        {
            self.remember_roles(caller, subject, uid).await?;
        }
        match target.update_user(uid, &desired).await {
            Ok(user) => Ok(Carried::synced(done_word(action), &user)),
            Err(TargetError::NotFound) if action == UpstreamAction::Reactivate => {
                let recreated = self.recreate(caller, subject).await?;
                Ok(Carried {
                    upstream: done_word(action),
                    ..recreated
                })
            }
            Err(TargetError::NotFound) => Ok(Carried::unlinked(ALREADY_GONE, subject)),
            Err(e) => Err(e.into()),
        }
    }

    /// Carries out a deprovision (deactivate, strip roles, delete) unless the
    /// mass-deprovision guard holds it: then the link says `held` and the upstream
    /// call waits for `scim-bridge jobs approve`.
    pub(super) async fn deprovision(
        &self,
        caller: &Caller,
        subject: &Subject<'_>,
        action: UpstreamAction,
    ) -> Result<Carried> {
        if let (Some(uid), Some(kind)) = (&subject.link.upstream_id, action.as_deprovision()) {
            let gate = self
                .deprovision_gate(
                    caller,
                    subject.scim_id,
                    uid,
                    &subject.link.upstream_username,
                    kind,
                    subject.resource,
                )
                .await?;
            if let Gate::Held(id) = gate {
                let note = held_note(&caller.tenant.name, id);
                return Ok(Carried {
                    upstream: HELD,
                    link: UpstreamLink {
                        sync_state: SyncState::Held,
                        last_error: Some(note.clone()),
                        ..subject.link.clone()
                    },
                    notes: vec![note],
                });
            }
        }
        self.carry_out(caller, subject, action).await
    }

    /// Before a deactivation replaces the roles (NetSapiens: scope `No Portal`): remembers
    /// the ones upstream has now (an admin may have set a scope by hand since the last
    /// sync), else the last seen, when no group rule grants any. Roles a rule granted
    /// are not remembered: the rules decide again on reactivation, so leaving the group
    /// meanwhile takes them away. A user already without any keeps what was remembered.
    async fn remember_roles(
        &self,
        caller: &Caller,
        subject: &Subject<'_>,
        uid: &str,
    ) -> Result<()> {
        let by_rules = self
            .desired_access(
                &caller.tenant,
                subject.scim_id,
                subject.resource,
                &Prior::default(),
            )
            .await?;
        let roles = if !by_rules.roles.is_empty() {
            Vec::new()
        } else {
            match caller.tenant.target.get_user(uid).await? {
                Some(current) if current.active => current.roles,
                Some(_) => return Ok(()),
                None => subject.link.roles.clone(),
            }
        };
        if roles == subject.link.prior.roles {
            return Ok(());
        }
        let prior = Prior {
            roles,
            ..subject.link.prior.clone()
        };
        self.remember(caller, subject, &prior).await
    }

    /// Stores what a deprovision took from `subject`; a user already gone locally (a
    /// SCIM DELETE) has nothing to remember it for.
    async fn remember(&self, caller: &Caller, subject: &Subject<'_>, prior: &Prior) -> Result<()> {
        match self
            .store
            .remember_prior(&caller.tenant.name, subject.scim_id, prior)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates `subject` upstream again with its groups' access (or links the user an
    /// earlier attempt created), keeping its SCIM id; where the bridge chooses upstream
    /// ids, with the one a deletion freed if it is still free (the audit notes it when
    /// it was not).
    async fn recreate(&self, caller: &Caller, subject: &Subject<'_>) -> Result<Carried> {
        let mut desired = self.active_desired(caller, subject).await?;
        if caller.tenant.target.user_rules().reuses_ids {
            desired.previous_id = subject.link.prior.upstream_id.clone();
        }
        let (user, how) = self
            .recreate_upstream(caller, subject.scim_id, &desired)
            .await?;
        let notes = match &desired.previous_id {
            Some(previous) if *previous != user.id => vec![format!(
                "upstream id {previous} was taken meanwhile; re-created as {}",
                user.id
            )],
            _ => vec![],
        };
        Ok(Carried {
            upstream: if how == "created" { "re-created" } else { how },
            link: synced_link(&user),
            notes,
        })
    }

    /// Reconcile's repair of an active user whose upstream user is gone: under the
    /// user's lock, checks again that it is gone, then creates it as the IdP last wrote
    /// it (with its groups' access) and links it, keeping the SCIM id. `Ok(false)` when
    /// there was nothing to do (the user became inactive, was deleted, or its upstream
    /// user is there after all).
    pub async fn recreate_missing(&self, tenant: &Arc<Tenant>, id: &str) -> Result<bool> {
        let caller = Caller {
            tenant: tenant.clone(),
            credential_id: "reconcile".into(),
        };
        let _guard = self.lock(user_key(&tenant.name, id)).await?;
        let Some(user) = self.store.get_user(&tenant.name, id).await? else {
            return Ok(false);
        };
        if !is_active(&user.resource) {
            return Ok(false);
        }
        if let Some(uid) = &user.link.upstream_id {
            if tenant.target.get_user(uid).await?.is_some() {
                return Ok(false);
            }
        }
        let subject = Subject {
            scim_id: id,
            resource: &user.resource,
            link: &user.link,
        };
        let result = async {
            let carried = self
                .carry_out(&caller, &subject, UpstreamAction::Recreate)
                .await?;
            self.store
                .update_user_link(&tenant.name, id, &carried.link)
                .await?;
            Ok(Outcome {
                notes: subject.mapped(&caller)?.notes,
                upstream: carried.upstream,
            })
        }
        .await;
        self.audit(&caller, id, "reconcile_recreate", result.as_ref())
            .await;
        result.map(|_| true)
    }

    /// [`Self::create_upstream`] for a user the bridge already has: the create intent
    /// is ours, and is cleared once the user is linked.
    pub(super) async fn recreate_upstream(
        &self,
        caller: &Caller,
        scim_id: &str,
        desired: &DesiredUser,
    ) -> Result<(UpstreamUser, &'static str)> {
        let created = self.create_upstream(caller, scim_id, desired, true).await?;
        self.store
            .clear_create_intent(&caller.tenant.name, &desired.username)
            .await?;
        Ok(created)
    }

    /// Updates the linked upstream user; if it was deleted behind the bridge's back and
    /// the user should be active, creates it again rather than failing forever.
    pub(super) async fn update_or_recreate(
        &self,
        caller: &Caller,
        subject: &Subject<'_>,
        upstream_id: &str,
        desired: &DesiredUser,
    ) -> Result<UpstreamUser> {
        let target = &caller.tenant.target;
        match target.update_user(upstream_id, desired).await {
            Err(TargetError::NotFound) if desired.active => {
                let desired = match &desired.roles {
                    Some(_) => desired.clone(),
                    None => {
                        let access = self.subject_access(caller, subject).await?;
                        DesiredUser {
                            roles: Some(access.roles()),
                            account_scope: Some(access.scope),
                            accounts: access.accounts(),
                            ..desired.clone()
                        }
                    }
                };
                let (user, _) = self
                    .recreate_upstream(caller, subject.scim_id, &desired)
                    .await?;
                Ok(user)
            }
            other => Ok(other?),
        }
    }
}

/// The audit's word for an action carried out as asked.
fn done_word(action: UpstreamAction) -> &'static str {
    match action {
        UpstreamAction::Deactivate => "deactivated",
        UpstreamAction::StripRoles => "roles removed",
        UpstreamAction::Delete => "deleted",
        UpstreamAction::Reactivate => "reactivated",
        UpstreamAction::Recreate => "re-created",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_map_to_one_action_each() {
        use UpstreamAction::*;
        assert_eq!(
            UpstreamAction::on_deactivate(DeactivatePolicy::Deactivate),
            Deactivate
        );
        assert_eq!(
            UpstreamAction::on_deactivate(DeactivatePolicy::StripRoles),
            StripRoles
        );
        assert_eq!(
            UpstreamAction::on_deactivate(DeactivatePolicy::Delete),
            Delete
        );
        assert_eq!(UpstreamAction::on_delete(DeletePolicy::Delete), Delete);
        assert_eq!(
            UpstreamAction::on_delete(DeletePolicy::Deactivate),
            Deactivate
        );
    }

    #[test]
    fn only_deprovisions_are_guarded_and_they_round_trip() {
        for action in [
            UpstreamAction::Deactivate,
            UpstreamAction::StripRoles,
            UpstreamAction::Delete,
        ] {
            let kind = action.as_deprovision().unwrap();
            assert_eq!(UpstreamAction::from(kind), action);
        }
        assert_eq!(UpstreamAction::Reactivate.as_deprovision(), None);
        assert_eq!(UpstreamAction::Recreate.as_deprovision(), None);
    }
}
