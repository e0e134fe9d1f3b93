//! The `[tenants.T.target]` section of a Bandwidth tenant (`kind = "bandwidth"`), as
//! written in the file, and its translation into the adapter's [`BandwidthConfig`]
//! with secrets read. Kept beside the adapter so that a new setting is one edit here,
//! not one in the shared configuration too.
use serde::Deserialize;

use super::config::{BandwidthConfig, Dialect};
use crate::upstream::settings::{CallSettings, LoginSettings};

/// A Bandwidth account and the bridge's credential for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSettings {
    #[serde(default)]
    pub dialect: Dialect,
    pub base_url: String,
    pub token_url: Option<String>,
    pub account_id: String,
    #[serde(flatten)]
    pub login: LoginSettings,
    #[serde(flatten)]
    pub calls: CallSettings,
}

impl BandwidthSettings {
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
            Dialect::V1 if !self.login.has_client() => Some("client_id and client_secret"),
            Dialect::Dashboard if !self.login.has_user() => Some("username and password"),
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
            client_id: self.login.client_id.clone(),
            client_secret: self.login.client_secret()?,
            username: self.login.username.clone(),
            password: self.login.password()?,
            calls: self.calls.limits(),
        })
    }
}
