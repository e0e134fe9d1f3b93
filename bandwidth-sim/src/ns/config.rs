//! Configuration of the NetSapiens side and the plain data types tests hand to it.

use crate::config::Faults;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The eleven `user-scope` values of docs/netsapiens-wire.md, exactly as written on the wire.
pub const USER_SCOPES: [&str; 11] = [
    "Basic User",
    "Simple User",
    "Advanced User",
    "Call Center Agent",
    "Call Center Supervisor",
    "Site Manager",
    "Office Manager",
    "Reseller",
    "Super User",
    "NDP",
    "No Portal",
];

/// A domain (`nsd_`) key of the first default domain, allowed to write.
pub const DOMAIN_KEY: &str = "nsd_simDomainKeyAcme0000000000000000000000000000000000000000";
/// A domain key of the first default domain that may only read.
pub const READ_ONLY_KEY: &str = "nsd_simReadOnlyKeyAcme00000000000000000000000000000000000000";
/// A super-user (`nss_`) key of every domain.
pub const SUPER_KEY: &str = "nss_simSuperUserKey00000000000000000000000000000000000000000";

/// A static API key as the admin UI makes them: limited to one domain (or `*`), maybe read-only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    pub key: String,
    pub description: String,
    /// A domain name, or `*` for every domain.
    pub domain: String,
    pub user_scope: String,
    pub read_only: bool,
}

/// A portal user the password grant of `POST /tokens` accepts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PortalLogin {
    pub username: String,
    pub password: String,
    /// A domain name, or `*` for every domain.
    pub domain: String,
    pub user_scope: String,
}

#[derive(Clone, Debug)]
pub struct NsConfig {
    pub domains: Vec<String>,
    pub api_keys: Vec<ApiKey>,
    pub client_id: String,
    pub client_secret: String,
    pub logins: Vec<PortalLogin>,
    pub token_ttl: Duration,
    /// How long a write answered 202 stays unreadable.
    pub async_delay: Duration,
    /// Answer 202 even to `"synchronous": "yes"`, as a server that does not honour it
    /// would, so a client's read-back after 202 can be tested.
    pub ignore_synchronous: bool,
    pub faults: Faults,
}

impl Default for NsConfig {
    fn default() -> Self {
        let key = |key: &str, description: &str, domain: &str, scope: &str, read_only| ApiKey {
            key: key.into(),
            description: description.into(),
            domain: domain.into(),
            user_scope: scope.into(),
            read_only,
        };
        NsConfig {
            domains: vec!["acme".into(), "other".into()],
            api_keys: vec![
                key(
                    DOMAIN_KEY,
                    "scim-bridge acme",
                    "acme",
                    "Office Manager",
                    false,
                ),
                key(
                    READ_ONLY_KEY,
                    "reporting acme",
                    "acme",
                    "Office Manager",
                    true,
                ),
                key(SUPER_KEY, "platform automation", "*", "Super User", false),
            ],
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            logins: vec![PortalLogin {
                username: "admin@acme".into(),
                password: "sim-password".into(),
                domain: "acme".into(),
                user_scope: "Office Manager".into(),
            }],
            token_ttl: Duration::from_secs(3600),
            async_delay: Duration::from_millis(300),
            ignore_synchronous: false,
            faults: Faults::default(),
        }
    }
}

/// A user as on the wire (hyphenated keys).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct NsUser {
    pub user: String,
    pub domain: String,
    pub name_first_name: String,
    pub name_last_name: String,
    pub email_address: String,
    pub user_scope: String,
    pub department: String,
    pub site: String,
    pub login_username: String,
}
