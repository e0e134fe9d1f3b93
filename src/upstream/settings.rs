//! A tenant's `[tenants.T.target]` section: which upstream system, and that system's
//! own settings (defined in its module). The factory turns it into a running
//! [`Target`], so nothing outside `upstream/` names a system.
use std::sync::Arc;

use serde::Deserialize;

use super::bandwidth::settings::BandwidthSettings;
use super::bandwidth::BandwidthTarget;
use super::Target;

/// `kind = "bandwidth"` selects the variant; the other keys are the variant's.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetSettings {
    Bandwidth(BandwidthSettings),
}

impl TargetSettings {
    /// The `kind` as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSettings::Bandwidth(_) => "bandwidth",
        }
    }

    /// The upstream account as the adapter's metrics and notification events name it
    /// (the admin console maps it back to the tenant).
    pub fn account_label(&self) -> String {
        match self {
            TargetSettings::Bandwidth(s) => s.account_id.clone(),
        }
    }

    /// What serde cannot check (a credential complete for its mode, ...).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TargetSettings::Bandwidth(s) => s.validate(),
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
        }
    }
}
