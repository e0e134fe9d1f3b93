//! A tenant's `[tenants.T.target]` section: which upstream system, and that system's
//! own settings (defined in its module). The factory turns it into a running
//! [`Target`], so nothing outside `upstream/` names a system.
use std::sync::Arc;
use std::time::Duration;

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

/// The sign-in keys of a `[tenants.T.target]` section, as written: an OAuth client
/// (`client_id`, `client_secret`) and a user (`username`, `password`). Bandwidth's v1
/// dialect uses the client, its dashboard the user; NetSapiens' password grant all four.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginSettings {
    #[serde(default)]
    pub client_id: String,
    pub client_secret: Option<SecretRef>,
    #[serde(default)]
    pub username: String,
    pub password: Option<SecretRef>,
}

impl LoginSettings {
    /// Both client keys are given.
    pub fn has_client(&self) -> bool {
        !self.client_id.is_empty() && self.client_secret.is_some()
    }

    /// Both user keys are given.
    pub fn has_user(&self) -> bool {
        !self.username.is_empty() && self.password.is_some()
    }

    /// Any of the four keys is given.
    pub fn any(&self) -> bool {
        !self.client_id.is_empty()
            || self.client_secret.is_some()
            || !self.username.is_empty()
            || self.password.is_some()
    }

    /// The client secret, read (empty when absent).
    pub(crate) fn client_secret(&self) -> Result<secrecy::SecretString, String> {
        resolve(&self.client_secret, "client_secret")
    }

    /// The password, read (empty when absent).
    pub(crate) fn password(&self) -> Result<secrecy::SecretString, String> {
        resolve(&self.password, "password")
    }
}

/// How calls to one upstream instance (one account or domain, one credential) are
/// paced, timed out, retried and cut off: the same for every system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// Client-side limit, so the upstream's per-account 429s stay rare.
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

impl Default for CallLimits {
    /// Conservative: 10 requests/s, 5 s connect, 30 s request, 30 s of 429 waiting, 3
    /// retries, a breaker opening after 10 consecutive failed attempts for 10 s.
    fn default() -> Self {
        CallLimits {
            rate_limit_per_second: 10,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(30),
            max_retries: 3,
            breaker_failures: 10,
            breaker_cooldown: Duration::from_secs(10),
        }
    }
}

/// The call settings of every `[tenants.T.target]` section, as written (each kind's
/// settings flatten them in; the file's `*_secs` are seconds).
#[derive(Debug, Clone, Deserialize)]
pub struct CallSettings {
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

impl CallSettings {
    /// The adapter's limits (at least one request and one second of cooldown).
    pub fn limits(&self) -> CallLimits {
        CallLimits {
            rate_limit_per_second: self.rate_limit_per_second.max(1),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_rate_limit_wait: Duration::from_secs(self.max_rate_limit_wait_secs),
            max_retries: self.max_retries,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_secs(self.breaker_cooldown_secs.max(1)),
        }
    }
}

/// Defaults of the call settings every target has (the file's `*_secs` in seconds).
mod defaults {
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

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};
    use figment::Figment;

    use super::*;

    fn parse(toml: &str) -> Result<TargetSettings, String> {
        Figment::from(Toml::string(toml))
            .extract()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn call_settings_are_read_into_either_kind_and_typos_refused() {
        let bandwidth = "kind = \"bandwidth\"\nbase_url = \"http://x\"\naccount_id = \"9\"\n";
        let netsapiens = "kind = \"netsapiens\"\nbase_url = \"http://x\"\ndomain = \"d\"\n";
        for section in [bandwidth, netsapiens] {
            let calls = |s: &TargetSettings| match s {
                TargetSettings::Bandwidth(b) => b.calls.limits(),
                TargetSettings::Netsapiens(n) => n.calls.limits(),
            };
            let defaults = parse(section).expect("defaults");
            assert_eq!(calls(&defaults).request_timeout, Duration::from_secs(10));
            assert_eq!(calls(&defaults).max_rate_limit_wait, Duration::from_secs(5));
            let set = parse(&format!(
                "{section}max_retries = 7\nbreaker_cooldown_secs = 0\n"
            ))
            .expect("set");
            assert_eq!(calls(&set).max_retries, 7);
            assert_eq!(calls(&set).breaker_cooldown, Duration::from_secs(1));
            let typo = parse(&format!("{section}max_retires = 7\n")).map(|_| ());
            assert!(typo.is_err(), "{section}: a misspelt key is refused");
        }
    }
}
