//! Every NetSapiens wire shape (docs/netsapiens-wire.md): the user with hyphenated keys,
//! the error body, the token answer and the API key description. A wrong guess about
//! ns-api is one edit here.

use serde::{Deserialize, Serialize};

use crate::upstream::TargetError;

/// `"synchronous": "yes"`: the answer is 200 once the user is readable, not 202.
pub(crate) const SYNCHRONOUS: &str = "yes";
/// The scope a deactivated user is kept with (no portal login; the extension works on).
pub const NO_PORTAL: &str = "No Portal";

/// The eleven `user-scope` values, exactly as on the wire.
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

/// A user as read. Fields the reference does not promise on every read default to "".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawUser {
    pub user: String,
    #[serde(default)]
    pub name_first_name: String,
    #[serde(default)]
    pub name_last_name: String,
    #[serde(default)]
    pub email_address: String,
    #[serde(default)]
    pub user_scope: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub login_username: String,
}

/// A create (every field) or an update (only the fields that change); [`encode`]
/// leaves out the fields that are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct WriteUser {
    pub user: Option<String>,
    pub name_first_name: Option<String>,
    pub name_last_name: Option<String>,
    pub email_address: Option<String>,
    pub user_scope: Option<String>,
    pub department: Option<String>,
    pub site: Option<String>,
    pub login_username: Option<String>,
    pub synchronous: &'static str,
}

impl WriteUser {
    /// Whether the write would change nothing but ask for a synchronous answer.
    pub(crate) fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.name_first_name.is_none()
            && self.name_last_name.is_none()
            && self.email_address.is_none()
            && self.user_scope.is_none()
            && self.department.is_none()
            && self.site.is_none()
            && self.login_username.is_none()
    }
}

/// The write as JSON, without the fields it leaves alone (never sent as `null`).
pub(crate) fn encode(user: &WriteUser) -> Result<Vec<u8>, TargetError> {
    let failed = |e: serde_json::Error| TargetError::Protocol(format!("cannot encode user: {e}"));
    let mut body = serde_json::to_value(user).map_err(failed)?;
    if let serde_json::Value::Object(fields) = &mut body {
        fields.retain(|_, v| !v.is_null());
    }
    serde_json::to_vec(&body).map_err(failed)
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, TargetError> {
    serde_json::from_slice(body)
        .map_err(|e| TargetError::Protocol(format!("cannot read NetSapiens {what}: {e}")))
}

pub(crate) fn decode_user(body: &[u8]) -> Result<RawUser, TargetError> {
    decode(body, "user")
}

pub(crate) fn decode_list(body: &[u8]) -> Result<Vec<RawUser>, TargetError> {
    decode(body, "user list")
}

/// `{"code": n, "message": "..."}`; the message, if the body is that shape.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.message)
        .filter(|m| !m.trim().is_empty())
}

/// Which unique field a 409 is about: NetSapiens names it in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    LoginUsername,
    Extension,
}

pub(crate) fn taken_field(message: &str) -> Taken {
    if message.to_ascii_lowercase().contains("login-username") {
        Taken::LoginUsername
    } else {
        Taken::Extension
    }
}

#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    pub grant_type: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<&'a str>,
}

#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    pub expires_in: u64,
}

pub(crate) fn decode_token(body: &[u8]) -> Result<TokenAnswer, TargetError> {
    decode(body, "token answer")
}

/// What `GET /apikeys/~` says the bridge's credential may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeyAccess {
    #[serde(default)]
    pub description: String,
    /// A domain name, or `*` for every domain.
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub user_scope: String,
    /// `"yes"` for a read-only key.
    #[serde(default)]
    pub readonly: String,
}

impl KeyAccess {
    pub fn read_only(&self) -> bool {
        self.readonly.eq_ignore_ascii_case("yes")
    }

    /// Whether the credential may touch `domain`.
    pub fn covers(&self, domain: &str) -> bool {
        self.domain == "*" || self.domain == domain
    }
}

pub(crate) fn decode_key_access(body: &[u8]) -> Result<KeyAccess, TargetError> {
    decode(body, "API key description")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_with_hyphenated_keys_and_missing_fields_empty() {
        let u = decode_user(br#"{"user":"2001","name-first-name":"Jane","login-username":"j@x"}"#)
            .expect("user");
        assert_eq!(u.user, "2001");
        assert_eq!(u.name_first_name, "Jane");
        assert_eq!(u.login_username, "j@x");
        assert_eq!(u.department, "");
        assert!(decode_user(b"[]").is_err());
    }

    #[test]
    fn updates_carry_only_what_changes() {
        let w = WriteUser {
            user_scope: Some("No Portal".into()),
            synchronous: SYNCHRONOUS,
            ..WriteUser::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&encode(&w).expect("body")).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"user-scope": "No Portal", "synchronous": "yes"})
        );
        assert!(!w.is_empty());
        assert!(WriteUser::default().is_empty());
    }

    #[test]
    fn conflicts_name_their_field() {
        assert_eq!(
            taken_field("login-username j@x is already in use"),
            Taken::LoginUsername
        );
        assert_eq!(
            taken_field("user 2001 already exists in domain acme"),
            Taken::Extension
        );
        assert_eq!(
            error_message(br#"{"code":409,"message":"m"}"#).as_deref(),
            Some("m")
        );
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn key_access_reads_domain_and_read_only() {
        let k = decode_key_access(
            br#"{"domain":"acme","readonly":"yes","user-scope":"Office Manager"}"#,
        )
        .expect("key");
        assert!(k.read_only() && k.covers("acme") && !k.covers("other"));
        let all = decode_key_access(br#"{"domain":"*","readonly":"no"}"#).expect("key");
        assert!(!all.read_only() && all.covers("other"));
    }
}
