//! NetSapiens ns-api v2 as a [`Target`] (docs/netsapiens-wire.md): users of one domain,
//! keyed by extension.
//!
//! Decisions the contract leaves open:
//! - The upstream id of a user is its extension. New users get the lowest free
//!   extension of the configured range (`create.rs`); the extension never changes.
//! - `DesiredUser.username` is the `login-username`, never changed after create.
//! - Role names are scopes: of those granted, the tenant's priority list picks one
//!   (`scope.rs`); none granted is the default scope. `active = false` writes scope
//!   `No Portal` (the extension keeps working); reactivating without roles named
//!   restores the default scope.
//! - Writes ask for `"synchronous": "yes"`; a 202 anyway is followed by reading the
//!   user back until it shows the write, and failing (never succeeding) if it does not
//!   within `readable_timeout`.
//! - Lookups by login-username or email page through the domain's users.

mod auth;
pub mod config;
mod create;
mod scope;
pub mod settings;
pub mod wire;

use std::time::Instant;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use url::Url;

use self::wire::{KeyAccess, RawUser, WriteUser, NO_PORTAL, SYNCHRONOUS, USER_SCOPES};
pub use config::{LoginUsername, NetsapiensConfig, NsCredential};

use super::http::{self, Http, Incoming};
use super::raw::{RawPage, RawUsers};
use super::{
    AccessModel, AccountScope, DesiredUser, PagedReads, PhoneFormat, Preflight, Role, Target,
    TargetError, UpstreamUser, UserPage, UserRules,
};

/// Page size of `list_users` and of the lookups that page.
pub const PAGE_SIZE: u32 = 200;

/// One NetSapiens domain behind one credential; holds the connection pool, the token
/// cache and the client-side rate limit.
pub struct NetsapiensTarget {
    api: String,
    config: NetsapiensConfig,
    http: Http,
}

impl std::fmt::Debug for NetsapiensTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetsapiensTarget")
            .field("api", &self.api)
            .field("domain", &self.config.domain)
            .finish_non_exhaustive()
    }
}

impl NetsapiensTarget {
    /// Validates the config and builds the HTTP client; makes no network call.
    pub fn new(config: NetsapiensConfig) -> Result<Self, TargetError> {
        let api = format!("{}/ns-api/v2", config.base_url.trim_end_matches('/'));
        let token_url = Url::parse(&format!("{api}/tokens")).map_err(|e| {
            TargetError::Invalid(format!("bad base_url {:?}: {e}", config.base_url))
        })?;
        if config.domain.trim().is_empty() || config.domain == "~" {
            return Err(TargetError::Invalid("domain is required".into()));
        }
        let (low, high) = config.extension_range;
        if low > high || low < 10 {
            return Err(TargetError::Invalid(format!(
                "extension_range {low}-{high} must run upwards from at least 10"
            )));
        }
        for s in std::iter::once(&config.default_scope).chain(&config.scope_priority) {
            if !USER_SCOPES.contains(&s.as_str()) {
                return Err(TargetError::Invalid(format!(
                    "'{s}' is not a NetSapiens user-scope"
                )));
            }
        }
        let auth = auth::ns_auth(&config.credential, token_url)?;
        Ok(NetsapiensTarget {
            http: Http::new(&config.domain, &config.calls, Box::new(auth))?,
            api,
            config,
        })
    }

    pub fn domain(&self) -> &str {
        &self.config.domain
    }

    fn url(&self, segments: &[&str]) -> Result<Url, TargetError> {
        let mut url = Url::parse(&self.api)
            .map_err(|e| TargetError::Invalid(format!("bad base_url: {e}")))?;
        // Pushed as segments, so an extension or domain can never change the path.
        url.path_segments_mut()
            .map_err(|_| TargetError::Invalid("base_url cannot take a path".into()))?
            .extend(segments);
        Ok(url)
    }

    pub(crate) fn users_url(&self, ext: Option<&str>) -> Result<Url, TargetError> {
        let mut segments = vec!["domains", self.config.domain.as_str(), "users"];
        segments.extend(ext);
        self.url(&segments)
    }

    /// Maps a non-success answer to the error the IdP should see; a 409 names the field.
    pub(crate) fn classify(resp: &Incoming) -> TargetError {
        let message = || {
            wire::error_message(&resp.body)
                .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()))
        };
        if resp.status == StatusCode::CONFLICT {
            let m = message();
            let field = match wire::taken_field(&m) {
                wire::Taken::LoginUsername => "login-username",
                wire::Taken::Extension => "extension (user)",
            };
            return TargetError::Conflict(format!("{field} taken in NetSapiens: {m}"));
        }
        http::classify(resp.status, message)
    }

    /// Reads the user until `done` holds: what follows a 202. Never reports success
    /// for a write that cannot be read back.
    pub(crate) async fn read_back(
        &self,
        ext: &str,
        done: impl Fn(&RawUser) -> bool,
    ) -> Result<RawUser, TargetError> {
        let deadline = Instant::now() + self.config.readable_timeout;
        let mut tries = 0u32;
        loop {
            if let Some(u) = self.get_raw(ext).await? {
                if done(&u) {
                    return Ok(u);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TargetError::Unavailable(format!(
                    "NetSapiens accepted the write of extension {ext} but it was not readable within {:?}",
                    self.config.readable_timeout
                )));
            }
            tries += 1;
            let pause = http::backoff(tries.min(3)).max(std::time::Duration::from_millis(20));
            tokio::time::sleep(pause.min(left)).await;
        }
    }

    async fn list_raw(&self, page: u32) -> Result<Vec<RawUser>, TargetError> {
        let mut url = self.users_url(None)?;
        url.query_pairs_mut()
            .append_pair("start", &(page * PAGE_SIZE).to_string())
            .append_pair("limit", &PAGE_SIZE.to_string());
        let resp = self.http.call(Method::GET, url, None, true).await?;
        if !resp.status.is_success() {
            return Err(Self::classify(&resp));
        }
        wire::decode_list(&resp.body)
    }

    /// Every user of the domain, page by page.
    pub(crate) async fn all_raw(&self) -> Result<Vec<RawUser>, TargetError> {
        let mut all = Vec::new();
        for page in 0.. {
            let users = self.list_raw(page).await?;
            let full = users.len() as u32 >= PAGE_SIZE;
            all.extend(users);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    async fn find_raw(
        &self,
        matches: impl Fn(&RawUser) -> bool,
    ) -> Result<Option<RawUser>, TargetError> {
        for page in 0.. {
            let users = self.list_raw(page).await?;
            let full = users.len() as u32 >= PAGE_SIZE;
            if let Some(u) = users.into_iter().find(&matches) {
                return Ok(Some(u));
            }
            if !full {
                break;
            }
        }
        Ok(None)
    }

    /// The scope `user` should have, given what upstream has now (`None` on create).
    pub(crate) fn desired_scope(
        &self,
        user: &DesiredUser,
        current: Option<&str>,
    ) -> Result<String, TargetError> {
        if !user.active {
            return Ok(NO_PORTAL.to_string());
        }
        match (&user.roles, current) {
            (Some(names), _) => scope::choose(
                names,
                &self.config.scope_priority,
                &self.config.default_scope,
            ),
            (None, Some(scope)) if scope != NO_PORTAL => Ok(scope.to_string()),
            (None, _) => Ok(self.config.default_scope.clone()),
        }
    }

    /// What the bridge's credential may do (`GET /apikeys/~`), for check-config.
    pub async fn key_access(&self) -> Result<KeyAccess, TargetError> {
        let resp = self
            .http
            .call(Method::GET, self.url(&["apikeys", "~"])?, None, true)
            .await?;
        if !resp.status.is_success() {
            return Err(Self::classify(&resp));
        }
        wire::decode_key_access(&resp.body)
    }
}

pub(crate) fn to_upstream(u: RawUser) -> UpstreamUser {
    let active = u.user_scope != NO_PORTAL;
    UpstreamUser {
        id: u.user,
        username: u.login_username,
        first_name: u.name_first_name,
        last_name: u.name_last_name,
        email: u.email_address,
        phone: None,
        roles: if active {
            vec![u.user_scope]
        } else {
            Vec::new()
        },
        account_scope: AccountScope::Account,
        accounts: Vec::new(),
        active,
        department: Some(u.department),
    }
}

fn changed(current: &str, wanted: &str) -> Option<String> {
    (current != wanted).then(|| wanted.to_string())
}

/// `email-address`: every work or primary address joined with `;`, else the one email.
pub(crate) fn email_address(user: &DesiredUser) -> String {
    if user.emails.is_empty() {
        user.email.clone()
    } else {
        user.emails.join(";")
    }
}

/// Whether `u` shows the attributes of `user` a write sets (`None` fields unmanaged).
pub(crate) fn shows_attributes(u: &RawUser, user: &DesiredUser) -> bool {
    u.name_first_name == user.first_name
        && u.name_last_name == user.last_name
        && u.email_address == email_address(user)
        && user.department.as_ref().is_none_or(|d| &u.department == d)
        && user.site.as_ref().is_none_or(|s| &u.site == s)
}

#[async_trait]
impl Target for NetsapiensTarget {
    fn user_rules(&self) -> UserRules {
        // Phones are not written to NetSapiens; the format only matters for parsing.
        // The portal lets a last name be left out, but ns-api v2's "Create User in
        // Domain" marks name-last-name and email-address required (docs/netsapiens-
        // wire.md [V]); refusing here names the rule before any upstream call.
        UserRules {
            fields: self.config.fields.clone(),
            reuses_ids: true,
            ..UserRules::all_required("NetSapiens", PhoneFormat::E164)
        }
    }

    fn access_model(&self) -> AccessModel {
        AccessModel {
            roles: true,
            admin_scope: false,
            accounts: false,
            deactivation_replaces_roles: true,
        }
    }

    /// One scope (the chosen one), every address joined and no phone, as NetSapiens
    /// holds users.
    fn as_held(&self, desired: &DesiredUser) -> DesiredUser {
        let roles = match self.desired_scope(desired, None) {
            Ok(scope) if desired.active => desired.roles.as_ref().map(|_| vec![scope]),
            _ => desired.roles.clone(),
        };
        DesiredUser {
            email: email_address(desired),
            // Phones are not written to NetSapiens.
            phone: None,
            roles,
            ..desired.clone()
        }
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        let scope = self.desired_scope(user, None)?;
        self.create_with_extension(user, &scope)
            .await
            .map(to_upstream)
    }

    async fn get_user(&self, id: &str) -> Result<Option<UpstreamUser>, TargetError> {
        Ok(self.get_raw(id).await?.map(to_upstream))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<UpstreamUser>, TargetError> {
        let found = self
            .find_raw(|u| u.login_username.eq_ignore_ascii_case(username))
            .await?;
        Ok(found.map(to_upstream))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UpstreamUser>, TargetError> {
        let found = self
            .find_raw(|u| {
                u.email_address
                    .split(';')
                    .any(|e| e.trim().eq_ignore_ascii_case(email))
            })
            .await?;
        Ok(found.map(to_upstream))
    }

    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        self.update_by_id(id, user).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), TargetError> {
        self.delete_by_id(id).await
    }

    async fn list_users(&self, page: u32) -> Result<UserPage, TargetError> {
        let raw = self.raw_page(page).await?;
        Ok(UserPage {
            users: raw.users.into_iter().map(to_upstream).collect(),
            next: raw.next,
        })
    }

    fn paged_reads(&self) -> Option<&dyn PagedReads> {
        Some(self)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, TargetError> {
        Ok(USER_SCOPES
            .iter()
            .map(|s| Role {
                id: s.to_string(),
                name: s.to_string(),
            })
            .collect())
    }

    /// What the credential may do (`GET /apikeys/~`), that the domain exists, and that
    /// the extension range has room.
    async fn preflight(&self) -> Result<Preflight, TargetError> {
        let mut report = Preflight::default();
        let domain = &self.config.domain;
        let access = self.key_access().await?;
        report.notes.push(format!(
            "credential {:?}: scope {}, domain {}, read-only {}",
            access.description, access.user_scope, access.domain, access.readonly
        ));
        if !access.covers(domain) {
            report.problems.push(format!(
                "the credential is limited to domain {}, not {domain}",
                access.domain
            ));
            return Ok(report);
        }
        if access.read_only() {
            report
                .problems
                .push("the API key is read-only: every write would be refused".into());
        }
        match self.ping().await {
            Ok(()) => {}
            Err(TargetError::NotFound) => {
                report
                    .problems
                    .push(format!("domain {domain} does not exist"));
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
        let taken: std::collections::BTreeSet<u32> = self
            .all_raw()
            .await?
            .iter()
            .filter_map(|u| u.user.parse().ok())
            .collect();
        let (low, high) = self.config.extension_range;
        let free = create::free_extensions(low, high, &taken).count();
        report
            .notes
            .push(format!("extension range {low}-{high}: {free} free"));
        if free == 0 {
            report
                .problems
                .push(format!("extension range {low}-{high} has no free number"));
        }
        Ok(report)
    }

    /// Credentials accepted and the domain there.
    async fn ping(&self) -> Result<(), TargetError> {
        let url = self.url(&["domains", self.config.domain.as_str()])?;
        let resp = self.http.call(Method::GET, url, None, true).await?;
        if resp.status.is_success() {
            Ok(())
        } else {
            Err(Self::classify(&resp))
        }
    }
}

#[async_trait]
impl RawUsers for NetsapiensTarget {
    type Raw = RawUser;

    fn http(&self) -> &Http {
        &self.http
    }

    fn users_url(&self, ext: Option<&str>) -> Result<Url, TargetError> {
        self.users_url(ext)
    }

    fn failure(&self, resp: &Incoming) -> TargetError {
        Self::classify(resp)
    }

    fn decode_user(&self, resp: &Incoming) -> Result<RawUser, TargetError> {
        wire::decode_user(&resp.body)
    }

    async fn raw_page(&self, page: u32) -> Result<RawPage<RawUser>, TargetError> {
        let users = self.list_raw(page).await?;
        let next = (users.len() as u32 >= PAGE_SIZE).then_some(page + 1);
        Ok(RawPage {
            users,
            next,
            total_pages: None,
        })
    }

    async fn upstream(&self, raw: RawUser) -> Result<UpstreamUser, TargetError> {
        Ok(to_upstream(raw))
    }

    /// Writes what differs between `current` and `user` (`None` fields unmanaged),
    /// unless nothing does.
    async fn write_over(
        &self,
        current: RawUser,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError> {
        let id = current.user.clone();
        let id = id.as_str();
        let login = self.login_username(user, id);
        if !current.login_username.eq_ignore_ascii_case(&login) {
            tracing::warn!(extension = %id, "login-username differs from the SCIM userName; it is not changed upstream");
        }
        let scope = self.desired_scope(user, Some(&current.user_scope))?;
        let emails = email_address(user);
        let write = WriteUser {
            name_first_name: changed(&current.name_first_name, &user.first_name),
            name_last_name: changed(&current.name_last_name, &user.last_name),
            email_address: changed(&current.email_address, &emails),
            user_scope: changed(&current.user_scope, &scope),
            department: user
                .department
                .as_ref()
                .and_then(|d| changed(&current.department, d)),
            site: user.site.as_ref().and_then(|s| changed(&current.site, s)),
            synchronous: SYNCHRONOUS,
            ..WriteUser::default()
        };
        if write.is_empty() {
            // Nothing to write: one call saved, and no needless audit trail upstream.
            return Ok(to_upstream(current));
        }
        let resp = self
            .http
            .call(
                Method::PUT,
                self.users_url(Some(id))?,
                Some(wire::encode(&write)?),
                true,
            )
            .await?;
        let shows_write = |u: &RawUser| shows_attributes(u, user) && u.user_scope == scope;
        match resp.status {
            StatusCode::OK => match wire::decode_user(&resp.body) {
                Ok(u) if shows_write(&u) => Ok(to_upstream(u)),
                _ => self.read_back(id, shows_write).await.map(to_upstream),
            },
            StatusCode::ACCEPTED => self.read_back(id, shows_write).await.map(to_upstream),
            _ => Err(Self::classify(&resp)),
        }
    }
}
