//! Upstream systems the bridge provisions into. The provisioning logic talks to a
//! [`Target`]; wire formats live only in the per-system modules, so a wrong guess about
//! an upstream's shapes is one edit in one place.
pub mod bandwidth;
pub mod breaker;
pub(crate) mod credential;
pub mod dry_run;
pub(crate) mod http;
pub mod netsapiens;
pub(crate) mod raw;
pub mod seen;
pub mod settings;
pub mod timing;

pub use seen::{PagedReads, Seen, SeenPage, SEEN_MAX_AGE};
pub use settings::TargetSettings;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Admin level of an upstream user (a plain user, or an admin of the account), for
/// systems whose [`AccessModel`] has `admin_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountScope {
    #[default]
    Account,
    AccountAdmin,
}

/// How the upstream wants telephone numbers written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneFormat {
    /// `+19195551234`
    E164,
    /// `9195551234` (North American numbers only)
    TenDigits,
}

/// The state the bridge wants an upstream user to have. Role and account fields are
/// `None` when the bridge does not manage them in this call: the adapter keeps whatever
/// upstream has (GET-merge-PUT), so a user edit never wipes roles an async job set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredUser {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Already normalised to the target's [`PhoneFormat`].
    pub phone: Option<String>,
    /// Role *names* (as people and config write them); the adapter maps them to ids.
    pub roles: Option<Vec<String>>,
    pub account_scope: Option<AccountScope>,
    pub accounts: Option<Vec<String>>,
    pub active: bool,
    /// The extension from the configured source (see [`TargetFields`]); `None` lets the
    /// target allocate one. Only written on create: an extension never changes.
    pub extension: Option<String>,
    /// `Some` when the target manages departments (enterprise `department`).
    pub department: Option<String>,
    /// `Some` when the tenant configures a site.
    pub site: Option<String>,
    /// Every work or primary address, primary first (targets that hold several).
    pub emails: Vec<String>,
    /// The upstream id the user had before a deletion freed it. A target whose ids the
    /// bridge chooses ([`UserRules::reuses_ids`]: a NetSapiens extension) asks for it
    /// again first when re-creating, and falls back to its usual rules if it is taken.
    pub previous_id: Option<String>,
}

/// Where a target takes a user's extension from: SCIM has no such attribute.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExtensionSource {
    /// The enterprise extension's `employeeNumber`.
    EmployeeNumber,
    /// The `ext=` / `x` suffix of the `phoneNumbers` entry of this type.
    Phone {
        #[serde(rename = "type")]
        phone_type: String,
    },
    /// Any attribute: `urn:...:User:attribute` or a dotted path such as `name.extension`.
    Attribute { path: String },
}

/// Target-specific attributes the mapping fills beyond names, email and phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetFields {
    /// `None`: no extension (Bandwidth), or always allocated.
    pub extension: Option<ExtensionSource>,
    /// Whether the enterprise `department` is carried over.
    pub department: bool,
    /// The site every user of the tenant is given.
    pub site: Option<String>,
}

impl TargetFields {
    /// None of them: what a target without extensions, departments or sites has.
    pub const NONE: TargetFields = TargetFields {
        extension: None,
        department: false,
        site: None,
    };
}

/// A user as the upstream has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamUser {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    /// Role names.
    pub roles: Vec<String>,
    pub account_scope: AccountScope,
    pub accounts: Vec<String>,
    pub active: bool,
    /// `None` where the target has no departments.
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// One page of an upstream listing; `next` is the page to ask for next, if any.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<UpstreamUser>,
    pub next: Option<u32>,
}

/// What a target needs of every user, so the mapping can refuse (400) a user it
/// cannot hold before any upstream call, naming the system's rule; and which of its
/// own attributes the mapping fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRules {
    /// The system's name as an admin knows it, for error texts.
    pub system: &'static str,
    pub phone_format: PhoneFormat,
    pub requires_first_name: bool,
    pub requires_last_name: bool,
    pub requires_email: bool,
    pub fields: TargetFields,
    /// The bridge chooses upstream ids (NetSapiens extensions), so a user deleted and
    /// re-created can get its old id back ([`DesiredUser::previous_id`]).
    pub reuses_ids: bool,
}

/// What a target can grant a user, so provisioning and reconcile only compute, write
/// and compare what the system really has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessModel {
    /// A set of named roles (`DesiredUser.roles`).
    pub roles: bool,
    /// An admin level (`DesiredUser.account_scope`).
    pub admin_scope: bool,
    /// A set of accounts (`DesiredUser.accounts`). False for a system that ties every
    /// user to one account (Bandwidth's dashboard dialect), so reconcile does not report
    /// accounts it could never change.
    pub accounts: bool,
    /// Deactivating a user replaces its roles (NetSapiens: the scope becomes `No
    /// Portal`), so the bridge remembers them to give back on reactivation.
    pub deactivation_replaces_roles: bool,
}

impl UserRules {
    /// A system that needs a first name, a last name and an email for every user.
    pub const fn all_required(system: &'static str, phone_format: PhoneFormat) -> Self {
        Self {
            system,
            phone_format,
            requires_first_name: true,
            requires_last_name: true,
            requires_email: true,
            fields: TargetFields::NONE,
            reuses_ids: false,
        }
    }
}

impl AccessModel {
    /// Roles, an admin level and accounts.
    pub const FULL: AccessModel = AccessModel {
        roles: true,
        admin_scope: true,
        accounts: true,
        deactivation_replaces_roles: false,
    };
}

tokio::task_local! {
    static SYSTEM_NAME: &'static str;
}

/// Runs `work` (one IdP request) knowing which system its tenant provisions, so an
/// upstream failure turned into a SCIM error names that system.
pub async fn for_system<F: std::future::Future>(system: &'static str, work: F) -> F::Output {
    SYSTEM_NAME.scope(system, work).await
}

/// The system the current request's tenant provisions, or a neutral name outside one.
pub fn current_system() -> &'static str {
    SYSTEM_NAME
        .try_with(|s| *s)
        .unwrap_or("the upstream system")
}

/// What `check-config` reports of a target beyond reachability: what its credential
/// may do, and what would make provisioning fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preflight {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Failures of an upstream call, already classified for the IdP: the HTTP layer maps
/// each to one SCIM status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// Username or email taken upstream (HTTP 409).
    #[error("conflict upstream: {0}")]
    Conflict(String),
    /// The upstream rejected a value (HTTP 400/422); carries its description.
    #[error("rejected by upstream: {0}")]
    Invalid(String),
    /// The bridge's credential may not grant these roles/accounts (HTTP 403).
    #[error("not permitted upstream: {0}")]
    Forbidden(String),
    #[error("not found upstream")]
    NotFound,
    /// Still rate limited after waiting as long as allowed.
    #[error("upstream rate limited; retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    /// The account's circuit breaker is open after repeated failures: no call was made.
    #[error("upstream unavailable: calls paused after repeated failures, for {retry_after_secs}s")]
    CircuitOpen { retry_after_secs: u64 },
    /// 5xx, timeout, refused or dropped connection.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The bridge's own upstream credentials were refused.
    #[error("upstream authentication failed: {0}")]
    Auth(String),
    /// An answer the adapter cannot read (unexpected content type or shape).
    #[error("unexpected upstream answer: {0}")]
    Protocol(String),
}

/// One upstream system. Implementations handle auth, retries, rate limits and wire
/// dialects; callers see only these operations.
#[async_trait]
pub trait Target: Send + Sync {
    /// What every user must have here, and how phone numbers are written.
    fn user_rules(&self) -> UserRules;
    /// What this system can grant a user.
    fn access_model(&self) -> AccessModel;
    /// Accounts this credential grants access to that no configuration names (offered
    /// as entitlements when the [`AccessModel`] has accounts).
    fn account_ids(&self) -> Vec<String> {
        Vec::new()
    }
    /// Creates the user. If the create may have happened although the answer was lost,
    /// the implementation looks the username up before retrying, so it never duplicates.
    async fn create_user(&self, user: &DesiredUser) -> Result<UpstreamUser, TargetError>;
    async fn get_user(&self, id: &str) -> Result<Option<UpstreamUser>, TargetError>;
    async fn find_by_username(&self, username: &str) -> Result<Option<UpstreamUser>, TargetError>;
    async fn find_by_email(&self, email: &str) -> Result<Option<UpstreamUser>, TargetError>;
    /// Reads the user, applies `user` (leaving `None` fields as upstream has them), and
    /// writes the whole user back. The username is never changed upstream.
    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<UpstreamUser, TargetError>;
    async fn delete_user(&self, id: &str) -> Result<(), TargetError>;
    async fn list_users(&self, page: u32) -> Result<UserPage, TargetError>;
    async fn list_roles(&self) -> Result<Vec<Role>, TargetError>;
    /// The names of the roles [`Target::list_roles`] offers.
    async fn role_names(&self) -> Result<std::collections::BTreeSet<String>, TargetError> {
        Ok(self
            .list_roles()
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect())
    }
    /// Cheap readiness probe: credentials accepted (token obtainable).
    async fn ping(&self) -> Result<(), TargetError>;
    /// `desired` as this system holds it once written, for reconcile to compare with
    /// what it has: e.g. the one scope chosen of several role names, or several emails
    /// in one field. As it is by default.
    fn as_held(&self, desired: &DesiredUser) -> DesiredUser {
        desired.clone()
    }
    /// Batch reads through the paged list endpoint, if this target offers them (a
    /// decorator that must see every write, such as dry run, does not).
    fn paged_reads(&self) -> Option<&dyn PagedReads> {
        None
    }
    /// Read-only checks for `check-config`; none beyond `ping` by default.
    async fn preflight(&self) -> Result<Preflight, TargetError> {
        Ok(Preflight::default())
    }
}
