//! Configuration of one Bandwidth adapter instance (= one upstream account and credential).
//!
//! Secrets are [`SecretString`]s so that `Debug` output (and therefore logs of the config)
//! shows `[REDACTED]` instead of the value.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::upstream::settings::CallLimits;

/// Which generation of Bandwidth's API the adapter speaks (see docs/bandwidth-wire.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Account API: OAuth2 client credentials, JSON camelCase, `/api/v1/users`.
    #[default]
    V1,
    /// Dashboard ("Iris") API: HTTP Basic, PascalCase, XML unless JSON is asked for.
    Dashboard,
}

#[derive(Debug, Clone)]
pub struct BandwidthConfig {
    pub dialect: Dialect,
    /// v1: e.g. `https://api.bandwidth.com`; dashboard: `https://dashboard.bandwidth.com/api`.
    pub base_url: String,
    /// OAuth2 token endpoint (v1); `None` means `base_url + /api/v1/oauth2/token`.
    pub token_url: Option<String>,
    /// Dashboard: the account in every path. v1: the account granted on create when
    /// `DesiredUser.accounts` is `None`.
    pub account_id: String,
    /// v1 OAuth2 client id.
    pub client_id: String,
    /// v1 OAuth2 client secret.
    pub client_secret: SecretString,
    /// Dashboard Basic-auth username.
    pub username: String,
    /// Dashboard Basic-auth password.
    pub password: SecretString,
    /// How calls to this account are paced, timed out and retried.
    pub calls: CallLimits,
}

impl BandwidthConfig {
    /// A config with empty credentials and the conservative [`CallLimits::default`]; set
    /// the credentials of the dialect before use.
    pub fn new(
        dialect: Dialect,
        base_url: impl Into<String>,
        account_id: impl Into<String>,
    ) -> Self {
        BandwidthConfig {
            dialect,
            base_url: base_url.into(),
            token_url: None,
            account_id: account_id.into(),
            client_id: String::new(),
            client_secret: SecretString::from(String::new()),
            username: String::new(),
            password: SecretString::from(String::new()),
            calls: CallLimits::default(),
        }
    }

    /// v1 config with OAuth2 client credentials.
    pub fn v1(
        base_url: impl Into<String>,
        account_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let mut c = Self::new(Dialect::V1, base_url, account_id);
        c.client_id = client_id.into();
        c.client_secret = SecretString::from(client_secret.into());
        c
    }

    /// Dashboard config with Basic credentials.
    pub fn dashboard(
        base_url: impl Into<String>,
        account_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let mut c = Self::new(Dialect::Dashboard, base_url, account_id);
        c.username = username.into();
        c.password = SecretString::from(password.into());
        c
    }

    /// `base_url` without a trailing slash, so paths can be appended.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    pub(crate) fn effective_token_url(&self) -> String {
        match &self.token_url {
            Some(u) => u.clone(),
            None => format!("{}/api/v1/oauth2/token", self.base()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut c = BandwidthConfig::v1("http://x/", "acc", "id", "very-secret-1");
        c.password = SecretString::from("very-secret-2".to_string());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
    }

    #[test]
    fn token_url_defaults_to_base() {
        let c = BandwidthConfig::v1("http://x/", "acc", "id", "s");
        assert_eq!(c.effective_token_url(), "http://x/api/v1/oauth2/token");
    }

    #[test]
    fn dialect_serde_lowercase() {
        assert_eq!(
            serde_json::to_string(&Dialect::Dashboard).ok().as_deref(),
            Some("\"dashboard\"")
        );
        let d: Result<Dialect, _> = serde_json::from_str("\"v1\"");
        assert_eq!(d.ok(), Some(Dialect::V1));
    }
}
