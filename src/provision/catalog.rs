//! What the tenant's upstream can grant, as the `Role` and `Entitlement` resources an
//! IdP reads (src/scim/schema/grants.rs), and the rules for a user's direct assignments
//! (`roles` / `entitlements` values naming those resources).
//!
//! Decisions:
//! - A role's id is its name upstream (what configuration, group rules and the adapter
//!   already use), so Okta (which sends the resource `id`) and a client of
//!   draft-ietf-scim-roles-entitlements (which sends `value`, equal to the id) write the
//!   same assignment, and a user's roles need no lookup to render or compute.
//! - Entitlements are the tenant's accounts (`account:<id>`) and the admin level
//!   (`scope:ACCOUNT_ADMIN`), offered only when the target's [`AccessModel`] has them.
//! - Assignments are matched case-insensitively and stored in the catalog's spelling, so
//!   the upstream receives the exact name; an unknown value is refused with 400
//!   `invalidValue` naming it, before any upstream call.
//! - Reads show access the user has through base roles and groups as well, marked
//!   `"type": "inherited"` (RFC 7643 §4.1.2 leaves `type` to the service provider), so
//!   Okta's import shows every effective grant; such elements are computed, so a write
//!   that echoes them back (Okta's PUT of a whole user) does not make them direct.
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::scim::error::ScimError;
use crate::scim::schema::grants::Grant;
use crate::store::UpstreamLink;
use crate::upstream::{AccessModel, AccountScope, Role, Target, TargetError};

pub const ACCOUNT_PREFIX: &str = "account:";
pub const ADMIN_SCOPE_ID: &str = "scope:ACCOUNT_ADMIN";
/// The `type` of an element a read adds for access the user does not hold directly.
pub const INHERITED: &str = "inherited";

/// How long a tenant's catalog is served before the upstream is asked again: roles
/// change rarely, and a role created upstream appears within this bound.
const CATALOG_TTL: Duration = Duration::from_secs(300);

/// The grantable roles and entitlements of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    pub roles: Vec<Grant>,
    pub entitlements: Vec<Grant>,
}

impl Catalog {
    /// `accounts`: the accounts the tenant's configuration and credential name.
    pub fn new(roles: &[Role], model: AccessModel, accounts: &[String], system: &str) -> Self {
        let roles = if model.roles {
            let mut names: Vec<&Role> = roles.iter().collect();
            names.sort_by(|a, b| a.name.cmp(&b.name));
            names.dedup_by(|a, b| a.name == b.name);
            names
                .into_iter()
                .map(|r| Grant {
                    id: r.name.clone(),
                    display: r.name.clone(),
                    description: format!("{system} role {} (upstream id {})", r.name, r.id),
                    kind: "role".into(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut entitlements = Vec::new();
        if model.admin_scope {
            entitlements.push(Grant {
                id: ADMIN_SCOPE_ID.into(),
                display: "Account Admin".into(),
                description: format!("Makes the user an admin of its {system} account"),
                kind: "Admin scope".into(),
            });
        }
        if model.accounts {
            let mut accounts: Vec<&String> = accounts.iter().collect();
            accounts.sort();
            accounts.dedup();
            entitlements.extend(accounts.into_iter().map(|a| Grant {
                id: format!("{ACCOUNT_PREFIX}{a}"),
                display: format!("Account {a}"),
                description: format!("Access to {system} account {a}"),
                kind: "Account".into(),
            }));
        }
        Catalog {
            roles,
            entitlements,
        }
    }

    /// Checks the user's direct assignments against the catalog and writes each in the
    /// catalog's spelling. Elements a read marked inherited are dropped first.
    pub fn normalize_assignments(&self, resource: &mut Value) -> Result<(), ScimError> {
        strip_inherited(resource);
        for (attr, grants) in [("roles", &self.roles), ("entitlements", &self.entitlements)] {
            let Some(values) = resource.get_mut(attr).and_then(Value::as_array_mut) else {
                continue;
            };
            for element in values.iter_mut() {
                let written = assignment_value(element).map(str::to_string);
                let Some(written) = written else {
                    return Err(ScimError::invalid_value(format!(
                        "{attr}: each assignment needs a string value, got {element}"
                    )));
                };
                let known = grants
                    .iter()
                    .find(|g| g.id == written)
                    .or_else(|| grants.iter().find(|g| g.id.eq_ignore_ascii_case(&written)));
                let Some(grant) = known else {
                    let offered: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
                    return Err(ScimError::invalid_value(format!(
                        "{attr}: {written:?} is not one the tenant's upstream can grant (see /{}; offered: {})",
                        if attr == "roles" { "Roles" } else { "Entitlements" },
                        if offered.is_empty() { "none".into() } else { offered.join(", ") }
                    )));
                };
                match element {
                    Value::Object(map) => {
                        map.insert("value".into(), Value::String(grant.id.clone()));
                    }
                    other => *other = json!({"value": grant.id}),
                }
            }
        }
        Ok(())
    }
}

/// An assignment's value: `{"value": "x", ...}` or a bare string (Entra app roles).
fn assignment_value(element: &Value) -> Option<&str> {
    element
        .get("value")
        .and_then(Value::as_str)
        .or_else(|| element.as_str())
}

fn is_inherited(element: &Value) -> bool {
    element
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(INHERITED))
}

/// Removes elements a read added for inherited access; they are computed, never stored.
pub fn strip_inherited(resource: &mut Value) {
    for attr in ["roles", "entitlements"] {
        if let Some(values) = resource.get_mut(attr).and_then(Value::as_array_mut) {
            values.retain(|e| !is_inherited(e));
        }
    }
}

/// The user's direct assignments: role names, accounts, and whether it is made admin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectGrants {
    pub roles: Vec<String>,
    pub accounts: Vec<String>,
    pub admin: bool,
}

pub fn direct_grants(resource: &Value) -> DirectGrants {
    let values = |attr: &str| -> Vec<String> {
        resource
            .get(attr)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter(|e| !is_inherited(e))
                    .filter_map(assignment_value)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut grants = DirectGrants {
        roles: values("roles"),
        ..DirectGrants::default()
    };
    for value in values("entitlements") {
        if value.eq_ignore_ascii_case(ADMIN_SCOPE_ID) {
            grants.admin = true;
        } else if let Some(account) = value.strip_prefix(ACCOUNT_PREFIX) {
            grants.accounts.push(account.to_string());
        }
    }
    grants
}

/// The access a user has upstream (as last synced) through base roles and groups that
/// its direct assignments in `resource` do not already show, marked inherited: shown
/// after those assignments on a read.
#[derive(Debug, Default, PartialEq)]
pub struct InheritedAccess {
    pub roles: Vec<Value>,
    pub entitlements: Vec<Value>,
}

impl InheritedAccess {
    pub fn of(resource: &Value, link: &UpstreamLink) -> Self {
        if link.upstream_id.is_none() {
            return Self::default();
        }
        let direct = direct_grants(resource);
        let roles = link
            .roles
            .iter()
            .filter(|r| !direct.roles.iter().any(|d| d.eq_ignore_ascii_case(r)))
            .map(|r| json!({"value": r, "display": r, "type": INHERITED}))
            .collect();
        let mut entitlements: Vec<Value> = Vec::new();
        if link.account_scope == AccountScope::AccountAdmin && !direct.admin {
            entitlements.push(
                json!({"value": ADMIN_SCOPE_ID, "display": "Account Admin", "type": INHERITED}),
            );
        }
        entitlements.extend(
            link.accounts
                .iter()
                .filter(|a| !direct.accounts.contains(a))
                .map(|a| json!({"value": format!("{ACCOUNT_PREFIX}{a}"), "display": format!("Account {a}"), "type": INHERITED})),
        );
        Self {
            roles,
            entitlements,
        }
    }

    /// Each attribute it adds to, with the elements that go after the stored ones. A
    /// stored value of one of these names that is not a list is shown as it is.
    pub fn attributes(&self) -> [(&'static str, &[Value]); 2] {
        [("roles", &self.roles), ("entitlements", &self.entitlements)]
    }

    /// The elements to add after the stored ones of `attr` (none for other names).
    pub fn of_attribute(&self, attr: &str) -> &[Value] {
        let found = self
            .attributes()
            .into_iter()
            .find(|(name, _)| *name == attr);
        found.map_or(&[], |(_, added)| added)
    }
}

/// A tenant's catalog, read from the upstream and kept for [`CATALOG_TTL`].
#[derive(Default)]
pub struct CatalogCache {
    cached: tokio::sync::Mutex<Option<(Instant, Arc<Catalog>)>>,
}

impl CatalogCache {
    /// The catalog, asking the upstream when none is cached or it is older than the TTL.
    /// One caller refreshes at a time; the others wait for its answer.
    pub async fn get(
        &self,
        target: &dyn Target,
        accounts: &[String],
    ) -> Result<Arc<Catalog>, TargetError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, catalog)) = cached.as_ref() {
            if at.elapsed() < CATALOG_TTL {
                return Ok(catalog.clone());
            }
        }
        let roles = if target.access_model().roles {
            target.list_roles().await?
        } else {
            Vec::new()
        };
        let mut all_accounts = accounts.to_vec();
        all_accounts.extend(target.account_ids());
        let catalog = Arc::new(Catalog::new(
            &roles,
            target.access_model(),
            &all_accounts,
            target.user_rules().system,
        ));
        *cached = Some((Instant::now(), catalog.clone()));
        Ok(catalog)
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
