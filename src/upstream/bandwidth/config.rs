//! Configuration of one Bandwidth adapter instance (= one upstream account and credential).
//!
//! Secrets are [`SecretString`]s so that `Debug` output (and therefore logs of the config)
//! shows `[REDACTED]` instead of the value.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

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
    /// Client-side limit for this instance, so the upstream's per-account 429s stay rare.
    pub rate_limit_per_second: u32,
    pub connect_timeout: Duration,
    /// Whole request, including reading the body.
    pub request_timeout: Duration,
    /// How long one call may wait in total on 429s before giving up with `RateLimited`.
    pub max_rate_limit_wait: Duration,
    /// Retries of a failed safe call (5xx, timeout, connection error) after the first try.
    pub max_retries: u32,
    /// Consecutive failed calls (5xx, timeout, connection error) that open the circuit
    /// breaker of this account; 0 disables it.
    pub breaker_failures: u32,
    /// How long an open breaker fails calls fast before letting one probe through.
    pub breaker_cooldown: Duration,
}

impl BandwidthConfig {
    /// How the shared HTTP layer calls this account.
    pub(crate) fn http_settings(&self) -> crate::upstream::http::HttpSettings {
        crate::upstream::http::HttpSettings {
            label: self.account_id.clone(),
            rate_limit_per_second: self.rate_limit_per_second,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_rate_limit_wait: self.max_rate_limit_wait,
            max_retries: self.max_retries,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: self.breaker_cooldown,
        }
    }

    /// A config with empty credentials and conservative defaults (10 requests/s, 5 s
    /// connect, 30 s request, 30 s of 429 waiting, 3 retries, a breaker opening after 10
    /// consecutive failed attempts for 10 s); set the credentials of the
    /// dialect before use.
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
            rate_limit_per_second: 10,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(30),
            max_retries: 3,
            breaker_failures: 10,
            breaker_cooldown: Duration::from_secs(10),
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
