//! `[[notify]]`: where notifications go and which events each sink wants.
use serde::Deserialize;

use super::EventKind;
use crate::secret::SecretRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// JSON POST signed with HMAC-SHA256 (`X-Scim-Bridge-Signature`).
    Webhook,
    /// A Slack-compatible incoming webhook: `{"text": ...}`.
    Slack,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySink {
    pub name: String,
    pub kind: SinkKind,
    pub url: String,
    /// The webhook's HMAC key (required for `webhook`).
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// Events this sink wants; empty = all.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Tenants this sink hears about; empty = all.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// An event of the same kind and tenant within this long of the last one is not
    /// sent again: one outage, one message.
    #[serde(default = "default_dedup_window")]
    pub dedup_window_secs: u64,
    /// The longest wait between delivery attempts to a sink that is down.
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u64,
    /// `idp_traffic_stopped` fires after this long without a request from a tenant's IdP.
    #[serde(default = "default_idp_silence")]
    pub idp_silence_secs: u64,
}

fn default_dedup_window() -> u64 {
    3600
}

fn default_retry_max() -> u64 {
    300
}

fn default_idp_silence() -> u64 {
    24 * 3600
}

impl NotifySink {
    pub fn wants(&self, kind: EventKind, tenant: &str) -> bool {
        (self.events.is_empty() || self.events.contains(&kind))
            && (self.tenants.is_empty() || self.tenants.iter().any(|t| t == tenant))
    }

    pub fn validate(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("notify sink {}: url: {e}", self.name))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "notify sink {}: url must be http or https",
                self.name
            ));
        }
        if self.kind == SinkKind::Webhook && self.secret.is_none() {
            return Err(format!(
                "notify sink {}: a webhook needs a secret to sign its messages",
                self.name
            ));
        }
        if self.idp_silence_secs == 0 || self.retry_max_secs == 0 {
            return Err(format!(
                "notify sink {}: idp_silence_secs and retry_max_secs must be positive",
                self.name
            ));
        }
        Ok(())
    }
}

/// Every sink valid, names unique, scoped tenants configured.
pub fn validate<T>(
    sinks: &[NotifySink],
    tenants: &std::collections::BTreeMap<String, T>,
) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for sink in sinks {
        if sink.name.is_empty() || !names.insert(sink.name.as_str()) {
            return Err(format!(
                "notify sink {:?}: names must be non-empty and unique",
                sink.name
            ));
        }
        sink.validate()?;
        if let Some(unknown) = sink.tenants.iter().find(|t| !tenants.contains_key(*t)) {
            return Err(format!(
                "notify sink {}: unknown tenant {unknown:?}",
                sink.name
            ));
        }
    }
    Ok(())
}
