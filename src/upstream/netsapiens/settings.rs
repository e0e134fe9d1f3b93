//! The `[tenants.T.target]` section of a NetSapiens tenant (`kind = "netsapiens"`), as
//! written in the file, and its translation into the adapter's [`NetsapiensConfig`]
//! with secrets read.

use std::time::Duration;

use serde::Deserialize;

use super::config::{LoginUsername, NetsapiensConfig, NsCredential, DEFAULT_SCOPE_PRIORITY};
use crate::secret::SecretRef;
use crate::upstream::settings::{resolve, CallSettings, LoginSettings};
use crate::upstream::{ExtensionSource, TargetFields};

/// A NetSapiens domain and the bridge's credential for it: an API key, or the OAuth
/// password grant (client id and secret, a portal user and password).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetsapiensSettings {
    /// The server root, e.g. `https://pbx.example.com` (`/ns-api/v2` is appended).
    pub base_url: String,
    pub domain: String,
    pub api_key: Option<SecretRef>,
    #[serde(flatten)]
    pub login: LoginSettings,
    /// A new user's `login-username`: `"username"` (the SCIM userName, the default) or
    /// `"user@domain"` (`<extension>@<domain>`).
    #[serde(default)]
    pub login_username: LoginUsername,
    /// `[first, last]` extension new users are given numbers from.
    #[serde(default = "default_range")]
    pub extension_range: [u32; 2],
    /// Where a user's extension comes from; absent: allocated from `extension_range`.
    /// A source without a usable value also falls back to the range.
    pub extension_source: Option<ExtensionSource>,
    /// Whether the enterprise `department` is written to NetSapiens.
    #[serde(default = "yes")]
    pub department_from_enterprise: bool,
    /// The `site` every user of this tenant is given; absent: sites are left alone.
    pub site: Option<String>,
    #[serde(default = "default_scope")]
    pub default_scope: String,
    /// Highest first; empty means the built-in order (Super User ... No Portal).
    #[serde(default)]
    pub scope_priority: Vec<String>,
    /// How long to wait for a write NetSapiens answered 202 to become readable.
    #[serde(default = "default_readable")]
    pub readable_timeout_secs: u64,
    #[serde(flatten)]
    pub calls: CallSettings,
}

fn default_range() -> [u32; 2] {
    [2000, 2999]
}
fn yes() -> bool {
    true
}
fn default_scope() -> String {
    "Basic User".into()
}
fn default_readable() -> u64 {
    10
}

impl NetsapiensSettings {
    /// What serde cannot check: exactly one complete credential, a sane range.
    pub fn validate(&self) -> Result<(), String> {
        let complete_grant = self.login.has_client() && self.login.has_user();
        match (self.api_key.is_some(), self.login.any()) {
            (true, true) => return Err("give api_key or the password grant, not both".into()),
            (false, false) => {
                return Err(
                    "needs api_key, or client_id, client_secret, username and password".into(),
                )
            }
            (false, true) if !complete_grant => {
                return Err(
                    "the password grant needs client_id, client_secret, username and password"
                        .into(),
                )
            }
            _ => {}
        }
        let [low, high] = self.extension_range;
        if low > high || low < 10 {
            return Err(format!(
                "extension_range [{low}, {high}] must run upwards from at least 10"
            ));
        }
        Ok(())
    }

    /// The adapter configuration, with its secrets read.
    pub fn adapter_config(&self) -> Result<NetsapiensConfig, String> {
        let credential = match &self.api_key {
            Some(_) => NsCredential::ApiKey(resolve(&self.api_key, "api_key")?),
            None => NsCredential::Password {
                client_id: self.login.client_id.clone(),
                client_secret: self.login.client_secret()?,
                username: self.login.username.clone(),
                password: self.login.password()?,
            },
        };
        let mut config = NetsapiensConfig::new(&self.base_url, &self.domain, credential);
        config.login_username = self.login_username;
        config.extension_range = (self.extension_range[0], self.extension_range[1]);
        config.fields = TargetFields {
            extension: self.extension_source.clone(),
            department: self.department_from_enterprise,
            site: self.site.clone().filter(|s| !s.trim().is_empty()),
        };
        config.default_scope = self.default_scope.clone();
        config.scope_priority = if self.scope_priority.is_empty() {
            DEFAULT_SCOPE_PRIORITY
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            self.scope_priority.clone()
        };
        config.readable_timeout = Duration::from_secs(self.readable_timeout_secs.max(1));
        config.calls = self.calls.limits();
        Ok(config)
    }
}
