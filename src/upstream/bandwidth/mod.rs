//! Bandwidth as a [`Target`], in both API dialects (docs/bandwidth-wire.md).
//!
//! Decisions the contract leaves open:
//! - A create without roles grants `basicAccess` only: v1 requires the field, and that
//!   role is what lets a person sign in. A create without accounts grants the configured
//!   `account_id`; without a scope, `ACCOUNT`.
//! - Inactive creates: the v1 create body has no status, so the user is created and then
//!   deactivated with a whole-user PUT. The dashboard body carries `Enabled`; if the
//!   answer still shows the user enabled, the same PUT follows.
//! - Dashboard creates send a generated 24-character password (never logged or stored);
//!   dashboard users belong to the path's account, so `DesiredUser.accounts` is ignored
//!   there and `UpstreamUser.accounts` is `[account_id]`.
//! - `DesiredUser.phone: None` means "no phone": the PUT clears it (only roles, accounts
//!   and scope have keep-upstream semantics).
//! - A create whose answer was lost (transport failure or 5xx) looks the username up
//!   before retrying and returns the user it finds, so it never duplicates.

mod auth;
mod client;
pub mod config;
mod password;
mod roles;
pub mod settings;
mod wire;
mod xml;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use std::sync::Mutex;

use self::client::Lookup;
use self::roles::RoleTable;
use self::wire::{Grants, Profile, RawUser, WriteKind, WriteUser};
use super::http::{self, Http, Incoming};
use super::raw::{RawPage, RawUsers};
pub use config::{BandwidthConfig, Dialect};

use super::{
    AccessModel, DesiredUser, PagedReads, PhoneFormat, Role, Target, TargetError, UpstreamUser,
    UserPage, UserRules,
};

/// The role every created user gets when the bridge names none.
pub const DEFAULT_ROLE: &str = "basicAccess";
/// Page size of `list_users`.
pub const PAGE_SIZE: u32 = 100;

/// One Bandwidth account behind one credential. Cheap to share (`Arc`); it holds the
/// connection pool, the token cache, the role cache and the client-side rate limit.
pub struct BandwidthTarget {
    dialect: Dialect,
    base: String,
    account_id: String,
    max_retries: u32,
    http: Http,
    roles: Mutex<Option<Arc<RoleTable>>>,
}

impl std::fmt::Debug for BandwidthTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandwidthTarget")
            .field("dialect", &self.dialect)
            .field("base", &self.base)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl BandwidthTarget {
    /// Validates the config and builds the HTTP client; makes no network call.
    pub fn new(config: BandwidthConfig) -> Result<Self, TargetError> {
        url::Url::parse(config.base()).map_err(|e| {
            TargetError::Invalid(format!("bad base_url {:?}: {e}", config.base_url))
        })?;
        if config.account_id.is_empty() {
            return Err(TargetError::Invalid("account_id is required".into()));
        }
        Ok(BandwidthTarget {
            dialect: config.dialect,
            base: config.base().to_string(),
            account_id: config.account_id.clone(),
            max_retries: config.calls.max_retries,
            http: Http::new(
                &config.account_id,
                &config.calls,
                Box::new(auth::credentials(&config)?),
            )?,
            roles: Mutex::new(None),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// POSTs a create; after a lost answer, looks the username up before trying again.
    async fn post_create(&self, username: &str, body: Vec<u8>) -> Result<RawUser, TargetError> {
        let url = self.users_url(None)?;
        let mut failures = 0u32;
        loop {
            let why = match self
                .http
                .call(Method::POST, url.clone(), Some(body.clone()), false)
                .await
            {
                Ok(resp) if resp.status.is_success() => return self.decode_user(&resp),
                Ok(resp) if resp.status.is_server_error() => Self::classify(&resp).to_string(),
                Ok(resp) => return Err(Self::classify(&resp)),
                Err(TargetError::Unavailable(m)) => m,
                Err(e) => return Err(e),
            };
            if let Some(found) = self.find_raw(Lookup::Username, username).await? {
                tracing::info!(user_id = %found.id, "create answer was lost but the user exists; using it");
                return Ok(found);
            }
            if failures >= self.max_retries {
                return Err(TargetError::Unavailable(why));
            }
            failures += 1;
            tokio::time::sleep(http::backoff(failures)).await;
        }
    }

    /// Writes `user` back whole with only its status changed.
    async fn set_active(&self, user: RawUser, active: bool) -> Result<RawUser, TargetError> {
        let write = WriteUser {
            grants: Grants {
                role_ids: self.kept_role_ids(&user).await?,
                account_scope: user.account_scope,
                accounts: user.accounts.clone().unwrap_or_default(),
            },
            profile: user.profile,
            active,
            password: None,
        };
        self.put_raw(&user.id, &write).await
    }
}

#[async_trait]
impl Target for BandwidthTarget {
    fn user_rules(&self) -> UserRules {
        let phone_format = match self.dialect {
            Dialect::V1 => PhoneFormat::E164,
            Dialect::Dashboard => PhoneFormat::TenDigits,
        };
        UserRules::all_required("Bandwidth", phone_format)
    }

    fn account_ids(&self) -> Vec<String> {
        match self.dialect {
            Dialect::V1 => vec![self.account_id.clone()],
            Dialect::Dashboard => Vec::new(),
        }
    }

    fn access_model(&self) -> AccessModel {
        AccessModel {
            accounts: self.dialect == Dialect::V1,
            ..AccessModel::FULL
        }
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        let names = user
            .roles
            .clone()
            .unwrap_or_else(|| vec![DEFAULT_ROLE.to_string()]);
        let write = WriteUser {
            profile: Profile::of(&user.username, user),
            grants: Grants {
                role_ids: self.role_ids(&names).await?,
                account_scope: user.account_scope.unwrap_or_default(),
                accounts: match self.dialect {
                    Dialect::V1 => user
                        .accounts
                        .clone()
                        .unwrap_or_else(|| vec![self.account_id.clone()]),
                    Dialect::Dashboard => Vec::new(),
                },
            },
            active: user.active,
            password: (self.dialect == Dialect::Dashboard).then(|| {
                password::generate(&[
                    &user.username,
                    &user.first_name,
                    &user.last_name,
                    &user.email,
                ])
            }),
        };
        let body = wire::encode_user(self.dialect, WriteKind::Create, &write)?;
        drop(write); // the password lives only as long as the body
        let mut created = self.post_create(&user.username, body).await?;
        if created.active != user.active {
            created = self.set_active(created, user.active).await?;
        }
        self.to_upstream(created).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<UpstreamUser>, TargetError> {
        match self.get_raw(id).await? {
            Some(raw) => Ok(Some(self.to_upstream(raw).await?)),
            None => Ok(None),
        }
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<UpstreamUser>, TargetError> {
        match self.find_raw(Lookup::Username, username).await? {
            Some(raw) => Ok(Some(self.to_upstream(raw).await?)),
            None => Ok(None),
        }
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UpstreamUser>, TargetError> {
        match self.find_raw(Lookup::Email, email).await? {
            Some(raw) => Ok(Some(self.to_upstream(raw).await?)),
            None => Ok(None),
        }
    }

    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        self.update_by_id(id, user).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), TargetError> {
        self.delete_by_id(id).await
    }

    async fn list_users(&self, page: u32) -> Result<UserPage, TargetError> {
        let raw = self.raw_page(page).await?;
        let mut users = Vec::with_capacity(raw.users.len());
        for u in raw.users {
            users.push(self.to_upstream(u).await?);
        }
        Ok(UserPage {
            users,
            next: raw.next,
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>, TargetError> {
        Ok(self.role_table(true).await?.roles().to_vec())
    }

    fn paged_reads(&self) -> Option<&dyn PagedReads> {
        Some(self)
    }

    async fn ping(&self) -> Result<(), TargetError> {
        match self.dialect {
            Dialect::V1 => self.http.credential().header(&self.http).await.map(|_| ()),
            // Basic credentials are checked by any call; this one also warms the role cache.
            Dialect::Dashboard => self.role_table(true).await.map(|_| ()),
        }
    }
}

#[async_trait]
impl RawUsers for BandwidthTarget {
    type Raw = RawUser;

    fn http(&self) -> &Http {
        &self.http
    }

    fn users_url(&self, id: Option<&str>) -> Result<url::Url, TargetError> {
        self.users_url(id)
    }

    fn failure(&self, resp: &Incoming) -> TargetError {
        Self::classify(resp)
    }

    fn decode_user(&self, resp: &Incoming) -> Result<RawUser, TargetError> {
        wire::decode_user(self.dialect, resp.content_type.as_deref(), &resp.body)
    }

    /// Page `page` of the users, the page after it and the number of pages (if said).
    async fn raw_page(&self, page: u32) -> Result<RawPage<RawUser>, TargetError> {
        let mut url = self.users_url(None)?;
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("size", &PAGE_SIZE.to_string());
        let resp = self.http.call(Method::GET, url, None, true).await?;
        if !resp.status.is_success() {
            return Err(Self::classify(&resp));
        }
        let raw = wire::decode_list(self.dialect, resp.content_type.as_deref(), &resp.body)?;
        let next = match raw.total_pages {
            Some(total) => (page + 1 < total).then_some(page + 1),
            // Without page info (XML): a full page suggests there is more.
            None => (raw.users.len() as u32 >= PAGE_SIZE).then_some(page + 1),
        };
        Ok(RawPage {
            users: raw.users,
            next,
            total_pages: raw.total_pages,
        })
    }

    async fn upstream(&self, raw: RawUser) -> Result<UpstreamUser, TargetError> {
        self.to_upstream(raw).await
    }

    async fn write_over(
        &self,
        current: RawUser,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError> {
        let id = current.id.clone();
        if !current
            .profile
            .username
            .eq_ignore_ascii_case(&user.username)
        {
            tracing::warn!(user_id = %id, "username differs from upstream; usernames cannot change, keeping upstream's");
        }
        let role_ids = match &user.roles {
            Some(names) => self.role_ids(names).await?,
            None => self.kept_role_ids(&current).await?,
        };
        let accounts = match (self.dialect, &user.accounts, &current.accounts) {
            (Dialect::Dashboard, _, _) => Vec::new(),
            (Dialect::V1, Some(a), _) => a.clone(),
            (Dialect::V1, None, Some(a)) => a.clone(),
            (Dialect::V1, None, None) => {
                // A PUT without them would strip every account.
                return Err(TargetError::Protocol(
                    "upstream user came without accounts; cannot keep them".into(),
                ));
            }
        };
        let write = WriteUser {
            profile: Profile::of(&current.profile.username, user),
            grants: Grants {
                role_ids,
                account_scope: user.account_scope.unwrap_or(current.account_scope),
                accounts,
            },
            active: user.active,
            password: None,
        };
        if self.unchanged(&current, &write).await? {
            // Nothing to write: one call saved, and no needless audit trail upstream.
            return self.to_upstream(current).await;
        }
        let written = self.put_raw(&id, &write).await?;
        self.to_upstream(written).await
    }
}
