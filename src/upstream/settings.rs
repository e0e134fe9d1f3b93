//! A tenant's `[tenants.T.target]` section: which upstream system, and that system's
//! own settings (defined in its module). The factory turns it into a running
//! [`Target`], so nothing outside `upstream/` names a system.
use std::sync::Arc;

use serde::Deserialize;

use super::bandwidth::settings::BandwidthSettings;
use super::bandwidth::BandwidthTarget;
use super::netsapiens::settings::NetsapiensSettings;
use super::netsapiens::NetsapiensTarget;
use super::Target;
use crate::secret::SecretRef;

/// `kind = "bandwidth"` selects the variant; the other keys are the variant's.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetSettings {
    Bandwidth(BandwidthSettings),
    Netsapiens(NetsapiensSettings),
}

impl TargetSettings {
    /// The `kind` as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSettings::Bandwidth(_) => "bandwidth",
            TargetSettings::Netsapiens(_) => "netsapiens",
        }
    }

    /// The upstream account as the adapter's metrics and notification events name it
    /// (the admin console maps it back to the tenant).
    pub fn account_label(&self) -> String {
        match self {
            TargetSettings::Bandwidth(s) => s.account_id.clone(),
            TargetSettings::Netsapiens(s) => s.domain.clone(),
        }
    }

    /// Whether the system can delete users; where it cannot, a SCIM DELETE deactivates
    /// by default (`policy.on_delete`).
    pub fn deletes_users(&self) -> bool {
        match self {
            TargetSettings::Bandwidth(s) => s.deletes_users(),
            // ns-api v2 has DELETE /domains/{domain}/users/{user}.
            TargetSettings::Netsapiens(_) => true,
        }
    }

    /// The system as an admin knows it, for messages.
    pub fn system_name(&self) -> &'static str {
        match self {
            TargetSettings::Bandwidth(s) => s.system_name(),
            TargetSettings::Netsapiens(_) => "NetSapiens",
        }
    }

    /// The base URL of the system's API, for messages that say where a check failed.
    pub fn endpoint(&self) -> &str {
        match self {
            TargetSettings::Bandwidth(s) => s.base_url.trim_end_matches('/'),
            TargetSettings::Netsapiens(s) => s.base_url.trim_end_matches('/'),
        }
    }

    /// What serde cannot check (a credential complete for its mode, ...).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TargetSettings::Bandwidth(s) => s.validate(),
            TargetSettings::Netsapiens(s) => s.validate(),
        }
    }

    /// Builds the tenant's target: reads its secrets and its HTTP client; makes no
    /// network call.
    pub fn build(&self) -> Result<Arc<dyn Target>, String> {
        match self {
            TargetSettings::Bandwidth(s) => {
                let target =
                    BandwidthTarget::new(s.adapter_config()?).map_err(|e| e.to_string())?;
                Ok(Arc::new(target))
            }
            TargetSettings::Netsapiens(s) => {
                let target =
                    NetsapiensTarget::new(s.adapter_config()?).map_err(|e| e.to_string())?;
                Ok(Arc::new(target))
            }
        }
    }
}

/// A secret setting, read; absent is empty.
pub(crate) fn resolve(
    secret: &Option<SecretRef>,
    what: &str,
) -> Result<secrecy::SecretString, String> {
    match secret {
        Some(secret) => secret.resolve().map_err(|e| format!("{what}: {e}")),
        None => Ok(secrecy::SecretString::from(String::new())),
    }
}

/// Defaults of the call settings every target has (the file's `*_secs` in seconds).
pub(crate) mod defaults {
    pub fn rate_limit() -> u32 {
        10
    }
    pub fn timeout() -> u64 {
        10
    }
    pub fn rate_wait() -> u64 {
        5
    }
    pub fn retries() -> u32 {
        3
    }
    /// Each failed attempt counts, retries included (one call is up to four attempts),
    /// and an upstream failing a third of calls at random is still working: ten in a
    /// row is an outage.
    pub fn breaker_failures() -> u32 {
        10
    }
    pub fn breaker_cooldown() -> u64 {
        10
    }
}
