//! Every wire shape of both dialects (docs/bandwidth-wire.md), and nothing else: serde
//! types, plus conversions to and from the dialect-neutral [`RawUser`] / [`WriteUser`].
//! When Bandwidth's reference turns out to differ, this file is the one to edit.
//!
//! Role *ids* stay ids here; `mod.rs` maps them to names with the role cache.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::config::Dialect;
use super::xml;
use crate::upstream::{AccountScope, DesiredUser, Role, TargetError};

// ---------------------------------------------------------------- neutral forms

/// A role reference as the upstream gave it: JSON gives ids, XML ids and/or names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRole {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl RawRole {
    /// Roles given by id only, as both JSON dialects list them.
    fn by_ids(ids: Vec<String>) -> Vec<RawRole> {
        ids.into_iter()
            .map(|id| RawRole {
                id: Some(id),
                name: None,
            })
            .collect()
    }
}

/// Who a user is, the same read and written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Profile {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
}

impl Profile {
    /// `user`'s names, email and phone, under `username` (upstream's, on an update:
    /// a username never changes).
    pub(crate) fn of(username: &str, user: &DesiredUser) -> Self {
        Profile {
            username: username.to_string(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
        }
    }
}

/// A user read from either dialect, before role ids are turned into names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawUser {
    pub id: String,
    pub profile: Profile,
    pub roles: Vec<RawRole>,
    pub account_scope: AccountScope,
    /// `None` when the answer does not carry accounts (dashboard: the path's account).
    pub accounts: Option<Vec<String>>,
    pub active: bool,
}

/// One page of a listing; `total_pages` when the answer says.
#[derive(Debug, Clone)]
pub(crate) struct RawPage {
    pub users: Vec<RawUser>,
    pub total_pages: Option<u32>,
}

/// A whole user to write (create or full-replacement PUT), role ids resolved.
#[derive(Debug)]
pub(crate) struct WriteUser {
    pub profile: Profile,
    pub grants: Grants,
    pub active: bool,
    /// Dashboard create only. `SecretString` so `Debug` never shows it.
    pub password: Option<SecretString>,
}

/// What a written user is granted: the access Bandwidth models, role ids resolved.
#[derive(Debug, PartialEq)]
pub(crate) struct Grants {
    pub role_ids: Vec<String>,
    pub account_scope: AccountScope,
    /// v1 only; the dashboard's account is in the path.
    pub accounts: Vec<String>,
}

/// Which call a body is for: v1 create carries no `status`, a PUT carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Create,
    Replace,
}

// ---------------------------------------------------------------- v1 (camelCase JSON)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum V1Status {
    Active,
    Deactivated,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1UserIn {
    user_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    phone_number: Option<String>,
    account_scope: AccountScope,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    status: V1Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V1UserOut<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
    account_scope: AccountScope,
    roles: &'a [String],
    accounts: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<V1Status>,
}

#[derive(Debug, Deserialize)]
struct V1List {
    users: Vec<V1UserIn>,
    #[serde(default)]
    page: Option<V1Page>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Page {
    #[serde(default)]
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct V1Roles {
    roles: Vec<V1Role>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Role {
    role_id: String,
    name: String,
}

impl From<V1UserIn> for RawUser {
    fn from(u: V1UserIn) -> Self {
        RawUser {
            id: u.user_id,
            profile: Profile {
                username: u.username,
                first_name: u.first_name,
                last_name: u.last_name,
                email: u.email,
                phone: u.phone_number,
            },
            roles: RawRole::by_ids(u.roles),
            account_scope: u.account_scope,
            accounts: Some(u.accounts),
            active: u.status == V1Status::Active,
        }
    }
}

// ---------------------------------------------------------------- dashboard (PascalCase JSON)

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DashUserIn {
    user_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    telephone_number: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    account_scope: AccountScope,
    enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DashUserOut<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    telephone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<WirePassword<'a>>,
    roles: &'a [String],
    account_scope: AccountScope,
    enabled: bool,
}

/// Serialises the secret only into the request body; has no `Debug`.
struct WirePassword<'a>(&'a SecretString);

impl Serialize for WirePassword<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DashList {
    users: Vec<DashUserIn>,
    #[serde(default)]
    page: Option<DashPage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DashPage {
    #[serde(default)]
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DashRoles {
    roles: Vec<DashRole>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DashRole {
    role_id: String,
    role_name: String,
}

impl From<DashUserIn> for RawUser {
    fn from(u: DashUserIn) -> Self {
        RawUser {
            id: u.user_id,
            profile: Profile {
                username: u.username,
                first_name: u.first_name,
                last_name: u.last_name,
                email: u.email,
                phone: u.telephone_number,
            },
            roles: RawRole::by_ids(u.roles),
            account_scope: u.account_scope,
            accounts: None,
            active: u.enabled,
        }
    }
}

// ---------------------------------------------------------------- dashboard XML

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlUserResponse {
    user: XmlUser,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlUsersResponse {
    #[serde(default)]
    users: Option<XmlUsers>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlUsers {
    #[serde(default)]
    user: Vec<XmlUser>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlUser {
    /// The SDK fixtures have no id; the simulator's contract adds `UserId`.
    #[serde(default)]
    user_id: Option<String>,
    username: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email_address: String,
    #[serde(default)]
    telephone_number: Option<String>,
    #[serde(default)]
    account_scope: Option<AccountScope>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    roles: Option<XmlRoles>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRoles {
    #[serde(default)]
    role: Vec<XmlRole>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRole {
    #[serde(default)]
    role_id: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRolesResponse {
    #[serde(default)]
    roles: XmlRoles,
}

impl XmlUser {
    fn into_raw(self) -> RawUser {
        let roles = self.roles.unwrap_or_default().role;
        RawUser {
            // Dashboard users are keyed by username where no id is given.
            id: self.user_id.unwrap_or_else(|| self.username.clone()),
            profile: Profile {
                username: self.username,
                first_name: self.first_name,
                last_name: self.last_name,
                email: self.email_address,
                phone: self.telephone_number.filter(|p| !p.is_empty()),
            },
            roles: roles
                .into_iter()
                .map(|r| RawRole {
                    id: r.role_id.filter(|s| !s.is_empty()),
                    name: r.role_name,
                })
                .collect(),
            account_scope: self.account_scope.unwrap_or_default(),
            accounts: None,
            active: self.enabled.unwrap_or(true),
        }
    }
}

// ---------------------------------------------------------------- OAuth2 and errors

/// `{"access_token","expires_in","token_type"}`; no `Debug`, it holds the token.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default, alias = "Errors")]
    errors: Vec<ErrorItem>,
    /// OAuth2 token endpoint: `{"error":"invalid_client"}`.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    #[serde(default, alias = "Description")]
    description: Option<String>,
}

// ---------------------------------------------------------------- decoding and encoding

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// Decides how to read a body from its content type; without one, from its first byte.
fn format_of(content_type: Option<&str>, body: &[u8]) -> Result<Format, TargetError> {
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if ct.contains("json") {
            return Ok(Format::Json);
        }
        if ct.contains("xml") {
            return Ok(Format::Xml);
        }
        return Err(TargetError::Protocol(format!(
            "unexpected content type {ct:?}"
        )));
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Ok(Format::Json),
        Some(b'<') => Ok(Format::Xml),
        _ => Err(TargetError::Protocol("answer without content type".into())),
    }
}

fn from_json<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, TargetError> {
    serde_json::from_slice(body)
        .map_err(|e| TargetError::Protocol(format!("{what}: unreadable JSON answer: {e}")))
}

pub(crate) fn decode_user(
    dialect: Dialect,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<RawUser, TargetError> {
    match (format_of(content_type, body)?, dialect) {
        (Format::Json, Dialect::V1) => Ok(from_json::<V1UserIn>(body, "user")?.into()),
        (Format::Json, Dialect::Dashboard) => Ok(from_json::<DashUserIn>(body, "user")?.into()),
        (Format::Xml, _) => Ok(xml::from_xml::<XmlUserResponse>(body, "user")?
            .user
            .into_raw()),
    }
}

pub(crate) fn decode_list(
    dialect: Dialect,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<RawPage, TargetError> {
    match (format_of(content_type, body)?, dialect) {
        (Format::Json, Dialect::V1) => {
            let l: V1List = from_json(body, "user list")?;
            Ok(RawPage {
                users: l.users.into_iter().map(Into::into).collect(),
                total_pages: l.page.and_then(|p| p.total_pages),
            })
        }
        (Format::Json, Dialect::Dashboard) => {
            let l: DashList = from_json(body, "user list")?;
            Ok(RawPage {
                users: l.users.into_iter().map(Into::into).collect(),
                total_pages: l.page.and_then(|p| p.total_pages),
            })
        }
        (Format::Xml, _) => {
            let l: XmlUsersResponse = xml::from_xml(body, "user list")?;
            Ok(RawPage {
                users: l
                    .users
                    .unwrap_or_default()
                    .user
                    .into_iter()
                    .map(XmlUser::into_raw)
                    .collect(),
                total_pages: None,
            })
        }
    }
}

pub(crate) fn decode_roles(
    dialect: Dialect,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<Role>, TargetError> {
    match (format_of(content_type, body)?, dialect) {
        (Format::Json, Dialect::V1) => Ok(from_json::<V1Roles>(body, "roles")?
            .roles
            .into_iter()
            .map(|r| Role {
                id: r.role_id,
                name: r.name,
            })
            .collect()),
        (Format::Json, Dialect::Dashboard) => Ok(from_json::<DashRoles>(body, "roles")?
            .roles
            .into_iter()
            .map(|r| Role {
                id: r.role_id,
                name: r.role_name,
            })
            .collect()),
        (Format::Xml, _) => {
            let r: XmlRolesResponse = xml::from_xml(body, "roles")?;
            r.roles
                .role
                .into_iter()
                .map(|r| match (r.role_id, r.role_name) {
                    (Some(id), Some(name)) => Ok(Role { id, name }),
                    _ => Err(TargetError::Protocol(
                        "role without RoleId or RoleName".into(),
                    )),
                })
                .collect()
        }
    }
}

pub(crate) fn decode_token(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenAnswer, TargetError> {
    match format_of(content_type, body)? {
        Format::Json => serde_json::from_slice(body)
            .map_err(|_| TargetError::Protocol("unreadable OAuth2 token answer".into())),
        Format::Xml => Err(TargetError::Protocol("OAuth2 token answer in XML".into())),
    }
}

/// The upstream's own words for an error, from whichever documented shape it used.
pub(crate) fn error_description(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let texts = match format_of(content_type, body).ok()? {
        Format::Json => {
            let e: ErrorBody = serde_json::from_slice(body).ok()?;
            let mut t: Vec<String> = e.errors.into_iter().filter_map(|i| i.description).collect();
            if t.is_empty() {
                t.extend(e.error_description.or(e.error));
            }
            t
        }
        Format::Xml => xml::descriptions(body),
    };
    let texts: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The JSON body of a create or full-replacement PUT in `dialect`.
pub(crate) fn encode_user(
    dialect: Dialect,
    kind: WriteKind,
    u: &WriteUser,
) -> Result<Vec<u8>, TargetError> {
    let (p, g) = (&u.profile, &u.grants);
    let out = match dialect {
        Dialect::V1 => serde_json::to_vec(&V1UserOut {
            username: &p.username,
            first_name: &p.first_name,
            last_name: &p.last_name,
            email: &p.email,
            phone_number: p.phone.as_deref(),
            account_scope: g.account_scope,
            roles: &g.role_ids,
            accounts: &g.accounts,
            status: match kind {
                // The contract's create body has no status; inactive creates are
                // deactivated by a PUT afterwards (see mod.rs).
                WriteKind::Create => None,
                WriteKind::Replace if u.active => Some(V1Status::Active),
                WriteKind::Replace => Some(V1Status::Deactivated),
            },
        }),
        Dialect::Dashboard => serde_json::to_vec(&DashUserOut {
            username: &p.username,
            first_name: &p.first_name,
            last_name: &p.last_name,
            email: &p.email,
            telephone_number: p.phone.as_deref(),
            password: u.password.as_ref().map(WirePassword),
            roles: &g.role_ids,
            account_scope: g.account_scope,
            enabled: u.active,
        }),
    };
    out.map_err(|e| TargetError::Protocol(format!("cannot encode user: {e}")))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
