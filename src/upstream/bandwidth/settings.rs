//! The `[tenants.T.target]` section of a Bandwidth tenant (`kind = "bandwidth"`), as
//! written in the file, and its translation into the adapter's [`BandwidthConfig`]
//! with secrets read. Kept beside the adapter so that a new setting is one edit here,
//! not one in the shared configuration too.
use std::time::Duration;

use serde::Deserialize;

use super::config::{BandwidthConfig, Dialect};
use crate::secret::SecretRef;
use crate::upstream::settings::{defaults, resolve};

/// A Bandwidth account and the bridge's credential for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSettings {
    #[serde(default)]
    pub dialect: Dialect,
    pub base_url: String,
    pub token_url: Option<String>,
    pub account_id: String,
    #[serde(default)]
    pub client_id: String,
    pub client_secret: Option<SecretRef>,
    #[serde(default)]
    pub username: String,
    pub password: Option<SecretRef>,
    #[serde(default = "defaults::rate_limit")]
    pub rate_limit_per_second: u32,
    #[serde(default = "defaults::timeout")]
    pub request_timeout_secs: u64,
    /// How long one SCIM request may wait on upstream 429s before answering 503.
    #[serde(default = "defaults::rate_wait")]
    pub max_rate_limit_wait_secs: u64,
    #[serde(default = "defaults::retries")]
    pub max_retries: u32,
    /// Consecutive upstream failures that open the account's circuit breaker (0: never).
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker answers 503 at once before one probe call is let through.
    #[serde(default = "defaults::breaker_cooldown")]
    pub breaker_cooldown_secs: u64,
}

impl BandwidthSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Whether this account's users can be deleted: Bandwidth's help says users of the
    /// Bandwidth App (the v1 API) "can be deactivated, but they can't be deleted".
    pub fn deletes_users(&self) -> bool {
        self.dialect == Dialect::Dashboard
    }

    /// The system as an admin knows it, for messages.
    pub fn system_name(&self) -> &'static str {
        match self.dialect {
            Dialect::V1 => "Bandwidth App (v1)",
            Dialect::Dashboard => "Bandwidth Dashboard",
        }
    }

    /// What serde cannot check: each dialect's credential is complete.
    pub fn validate(&self) -> Result<(), String> {
        let missing = match self.dialect {
            Dialect::V1 if self.client_id.is_empty() || self.client_secret.is_none() => {
                Some("client_id and client_secret")
            }
            Dialect::Dashboard if self.username.is_empty() || self.password.is_none() => {
                Some("username and password")
            }
            _ => None,
        };
        match missing {
            Some(what) => Err(format!("the {:?} dialect needs {what}", self.dialect)),
            None => Ok(()),
        }
    }

    /// The adapter configuration, with its secrets read.
    pub fn adapter_config(&self) -> Result<BandwidthConfig, String> {
        Ok(BandwidthConfig {
            dialect: self.dialect,
            base_url: self.base_url.trim_end_matches('/').to_string(),
            token_url: self.token_url.clone(),
            account_id: self.account_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: resolve(&self.client_secret, "client_secret")?,
            username: self.username.clone(),
            password: resolve(&self.password, "password")?,
            rate_limit_per_second: self.rate_limit_per_second.max(1),
            connect_timeout: Duration::from_secs(5),
            request_timeout: self.request_timeout(),
            max_rate_limit_wait: Duration::from_secs(self.max_rate_limit_wait_secs),
            max_retries: self.max_retries,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_secs(self.breaker_cooldown_secs.max(1)),
        })
    }
}
