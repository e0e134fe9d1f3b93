//! Configuration of one NetSapiens adapter instance (= one domain and one credential).
//! Secrets are [`SecretString`]s, so `Debug` output shows `[REDACTED]`.

use std::time::Duration;

use secrecy::SecretString;

use crate::upstream::settings::CallLimits;
use crate::upstream::TargetFields;

/// What a new user's `login-username` is (`login_username` in the tenant's target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum LoginUsername {
    /// The SCIM `userName` (unique across the whole NetSapiens system: a taken one is a
    /// SCIM 409).
    #[default]
    #[serde(rename = "username")]
    Username,
    /// `<extension>@<domain>`, NetSapiens' own default (unique by construction).
    #[serde(rename = "user@domain")]
    UserAtDomain,
}

/// How the bridge signs in to ns-api.
#[derive(Debug, Clone)]
pub enum NsCredential {
    /// A static API key from the admin UI (`Authorization: Bearer nsd_...`).
    ApiKey(SecretString),
    /// The OAuth password grant of `POST /tokens`, refreshed before expiry.
    Password {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
}

#[derive(Debug, Clone)]
pub struct NetsapiensConfig {
    /// The server root, e.g. `https://pbx.example.com`; `/ns-api/v2` is appended.
    pub base_url: String,
    pub domain: String,
    pub credential: NsCredential,
    pub login_username: LoginUsername,
    /// Inclusive range new users' extensions are allocated from.
    pub extension_range: (u32, u32),
    /// The scope of a user no rule grants another.
    pub default_scope: String,
    /// Scopes in priority order, highest first: of several a user is granted, the
    /// first listed wins. Scopes not listed rank below every listed one.
    pub scope_priority: Vec<String>,
    /// Where extensions come from (else allocated from the range), whether the
    /// enterprise department is written, and the site of every user.
    pub fields: TargetFields,
    /// How long to poll for a user an asynchronous (202) write has not made readable yet.
    pub readable_timeout: Duration,
    /// How calls to this domain are paced, timed out and retried.
    pub calls: CallLimits,
}

/// Highest first; `No Portal` last, so a deactivation group never outranks a real scope.
pub const DEFAULT_SCOPE_PRIORITY: [&str; 11] = [
    "Super User",
    "Reseller",
    "Office Manager",
    "Site Manager",
    "Call Center Supervisor",
    "Call Center Agent",
    "Advanced User",
    "Basic User",
    "Simple User",
    "NDP",
    "No Portal",
];

impl NetsapiensConfig {
    /// The conservative [`CallLimits::default`], extensions 2000-2999, `Basic User`, and
    /// 10 s to wait for a 202 write.
    pub fn new(
        base_url: impl Into<String>,
        domain: impl Into<String>,
        credential: NsCredential,
    ) -> Self {
        NetsapiensConfig {
            base_url: base_url.into(),
            domain: domain.into(),
            credential,
            login_username: LoginUsername::Username,
            extension_range: (2000, 2999),
            default_scope: "Basic User".into(),
            scope_priority: DEFAULT_SCOPE_PRIORITY
                .iter()
                .map(|s| s.to_string())
                .collect(),
            fields: TargetFields {
                department: true,
                ..TargetFields::NONE
            },
            readable_timeout: Duration::from_secs(10),
            calls: CallLimits::default(),
        }
    }
}
