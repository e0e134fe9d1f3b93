//! The configuration of what clients may send and how they may connect (issue 15):
//! the input rules of the SCIM validation, the connection limits, the `on_delete`
//! default each target implies, and the warning when a tenant asks its target for
//! deletions it does not support.
use std::time::Duration;

use super::{Config, ConfigError, DeletePolicy, TenantConfig};
use crate::http::connections::ConnectionLimits;
use crate::scim::validate::InputRules;
use crate::upstream::TargetSettings;

/// PostgreSQL refuses an index entry larger than about 2,700 bytes (a third of a page);
/// userName, externalId, displayName and email values are indexed.
const MAX_INDEXABLE_VALUE_BYTES: usize = 2600;

impl TenantConfig {
    /// What the SCIM validation lets this tenant's clients write.
    pub fn input_rules(&self) -> InputRules {
        InputRules {
            max_value_bytes: self.limits.max_value_bytes,
            max_values: self.limits.max_values_per_attribute,
            extensions: self.extensions.clone(),
        }
    }

    /// Whether the tenant's target can delete users (a configuration not yet loaded
    /// is taken to).
    fn target_deletes_users(&self) -> bool {
        self.target().is_none_or(TargetSettings::deletes_users)
    }
}

impl Config {
    /// Fills in `on_delete` where the file leaves it out: `delete` where the target
    /// can delete users, else `deactivate` (Bandwidth App users "can be deactivated,
    /// but they can't be deleted").
    pub(super) fn resolve_on_delete(&mut self) {
        for tenant in self.tenants.values_mut() {
            let default = if tenant.target_deletes_users() {
                DeletePolicy::Delete
            } else {
                DeletePolicy::Deactivate
            };
            tenant.policy.on_delete = tenant.policy.on_delete_in_file.unwrap_or(default);
        }
    }

    /// The connection limits `[server]` sets; the idle timeout is kept above the
    /// request deadline so that a slow answer is never cut off.
    pub fn connection_limits(&self) -> ConnectionLimits {
        let server = &self.server;
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(
                server
                    .idle_timeout_secs
                    .max(server.request_timeout_secs + 1),
            ),
            max_connections: server.max_connections.max(1),
        }
    }

    /// Settings that are valid but probably not meant, for `check-config` to print.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, tenant) in &self.tenants {
            if !tenant.target_deletes_users() && tenant.policy.on_delete == DeletePolicy::Delete {
                let system = tenant
                    .target()
                    .map_or("its target", TargetSettings::system_name);
                warnings.push(format!(
                    "tenant {name}: policy.on_delete = \"delete\", but {system} users can be deactivated, not deleted; \"deactivate\" (the default here) is what it supports"
                ));
            }
        }
        warnings
    }
}

/// The limits are usable and each declared extension is a schema the bridge does not
/// already serve.
pub(super) fn validate(name: &str, tenant: &TenantConfig) -> Result<(), ConfigError> {
    let limits = &tenant.limits;
    if limits.max_value_bytes == 0 || limits.max_value_bytes > MAX_INDEXABLE_VALUE_BYTES {
        return Err(ConfigError::Invalid(format!(
            "tenant {name}: limits.max_value_bytes must be 1 to {MAX_INDEXABLE_VALUE_BYTES} (PostgreSQL cannot index longer values)"
        )));
    }
    if limits.max_values_per_attribute == 0 {
        return Err(ConfigError::Invalid(format!(
            "tenant {name}: limits.max_values_per_attribute must be at least 1"
        )));
    }
    for urn in &tenant.extensions {
        let served = crate::scim::schema::user().split_known_urn(urn).is_some()
            || crate::scim::schema::group().split_known_urn(urn).is_some();
        if !urn.to_ascii_lowercase().starts_with("urn:") || served {
            return Err(ConfigError::Invalid(format!(
                "tenant {name}: extensions: {urn:?} must be a URN of a schema the bridge does not already serve"
            )));
        }
    }
    Ok(())
}
