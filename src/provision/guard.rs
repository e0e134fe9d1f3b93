//! The mass-deprovision guard: every upstream deactivation, role strip or deletion of
//! a tenant with a guard is admitted by the store, which counts them in the window. Over
//! the limit, the SCIM change is still stored and answered, but the upstream call waits
//! as a `held` deprovision until an admin runs `scim-bridge jobs approve`: an IdP
//! misconfiguration that unassigns everyone must not wipe the Bandwidth account.
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use super::{Caller, Provisioner, Result};
use crate::store::{Admission, AuditEntry, DeprovisionAction, GuardLimit, NewDeprovision};

/// What the audit and the user's link say about a held deprovision.
pub const HELD: &str = "held by the mass-deprovision guard";

/// Whether the caller carries out the deprovision now.
pub enum Gate {
    Now,
    /// Held as deprovision job `id`.
    Held(i64),
}

/// The note recorded for a held deprovision: where it waits and how to release it.
pub fn held_note(tenant: &str, id: i64) -> String {
    format!("{HELD} as deprovision {id}; release with `scim-bridge jobs approve --config FILE --tenant {tenant} --id {id}`")
}

impl Provisioner {
    /// Asks the store to admit `action` on the upstream user `upstream_id` of SCIM user
    /// `user_id`; without a configured guard it always runs now (and is not recorded).
    pub(super) async fn deprovision_gate(
        &self,
        caller: &Caller,
        user_id: &str,
        upstream_id: &str,
        upstream_username: &str,
        action: DeprovisionAction,
        resource: &Value,
    ) -> Result<Gate> {
        let tenant = &caller.tenant;
        let Some(guard) = &tenant.deprovision_guard else {
            return Ok(Gate::Now);
        };
        let limit = GuardLimit {
            max: guard.max,
            window: Duration::from_secs(guard.window_secs),
        };
        let request = NewDeprovision {
            tenant: tenant.name.clone(),
            user_id: user_id.to_string(),
            upstream_id: upstream_id.to_string(),
            upstream_username: upstream_username.to_string(),
            action,
            resource: resource.clone(),
        };
        let (id, tripped, recent) = match self.store.admit_deprovision(&request, &limit).await? {
            Admission::Now => return Ok(Gate::Now),
            Admission::Held {
                id,
                tripped,
                recent,
            } => (id, tripped, recent),
        };
        if tripped {
            tracing::warn!(
                tenant = %tenant.name,
                max = guard.max,
                window_secs = guard.window_secs,
                recent,
                "mass-deprovision guard tripped: upstream deactivations and deletions of tenant {0} are held; \
                 review them with `scim-bridge jobs list --config FILE --tenant {0} --state held` \
                 and release them with `scim-bridge jobs approve --config FILE --tenant {0}` \
                 (FILE: this bridge's configuration)",
                tenant.name
            );
            let entry = AuditEntry {
                at: Utc::now(),
                tenant: tenant.name.clone(),
                actor: caller.credential_id.clone(),
                resource_type: "Tenant".into(),
                resource_id: tenant.name.clone(),
                action: "deprovision_guard".into(),
                outcome: "tripped".into(),
                detail: json!({
                    "max": guard.max,
                    "window_secs": guard.window_secs,
                    "deprovisions_in_window": recent,
                    "first_held": id,
                }),
            };
            if let Err(e) = self.store.append_audit(&entry).await {
                tracing::error!(error = %e, "could not write the audit entry");
            }
            crate::notify::emit(
                crate::notify::EventKind::DeprovisionGuardTripped,
                crate::notify::Scope::Tenant(tenant.name.clone()),
                format!(
                    "mass-deprovision guard tripped ({recent} deprovisions within {} s, limit {}): review and approve or reject them in the admin console",
                    guard.window_secs, guard.max
                ),
                entry.detail.clone(),
            );
        } else {
            tracing::debug!(tenant = %tenant.name, deprovision = id, "deprovision held by the guard");
        }
        Ok(Gate::Held(id))
    }
}
