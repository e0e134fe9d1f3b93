//! The dashboard dialect's XML: element names as Bandwidth's Iris SDK fixtures have them.
//! Output is written by hand so the element order and names are exactly the documented ones.

use crate::state::{role_name, Page, User};
use quick_xml::escape::escape;
use serde::Deserialize;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;

fn el(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn role(out: &mut String, id: &str, name: &str) {
    out.push_str("<Role>");
    el(out, "RoleId", id);
    el(out, "RoleName", name);
    out.push_str("</Role>");
}

fn user(out: &mut String, u: &User) {
    out.push_str("<User>");
    el(out, "UserId", &u.user_id);
    el(out, "Username", &u.username);
    el(out, "FirstName", &u.first_name);
    el(out, "LastName", &u.last_name);
    el(out, "EmailAddress", &u.email);
    if let Some(p) = &u.phone {
        el(out, "TelephoneNumber", p);
    }
    el(out, "AccountScope", u.scope.as_str());
    el(out, "Enabled", if u.active { "true" } else { "false" });
    out.push_str("<Roles>");
    for id in &u.roles {
        role(out, id, role_name(id).unwrap_or_default());
    }
    out.push_str("</Roles>");
    out.push_str("</User>");
}

pub fn user_response(u: &User) -> String {
    let mut out = format!("{DECL}<UserResponse>");
    user(&mut out, u);
    out.push_str("</UserResponse>");
    out
}

/// The list plus a `Page` element (not in the SDK fixtures; parsers that ignore it lose nothing).
pub fn users_response(users: &[User], page: &Page) -> String {
    let mut out = format!("{DECL}<UsersResponse><Users>");
    for u in users {
        user(&mut out, u);
    }
    out.push_str("</Users><Page>");
    el(&mut out, "Number", &page.number.to_string());
    el(&mut out, "Size", &page.size.to_string());
    el(&mut out, "TotalElements", &page.total_elements.to_string());
    el(&mut out, "TotalPages", &page.total_pages.to_string());
    out.push_str("</Page></UsersResponse>");
    out
}

pub fn roles_response(roles: &[(String, &str)]) -> String {
    let mut out = format!("{DECL}<RolesResponse><Roles>");
    for (id, name) in roles {
        role(&mut out, id, name);
    }
    out.push_str("</Roles></RolesResponse>");
    out
}

pub fn error_response(code: &str, description: &str) -> String {
    let mut out = format!("{DECL}<ErrorResponse><ResponseStatus>");
    el(&mut out, "ErrorCode", code);
    el(&mut out, "Description", description);
    out.push_str("</ResponseStatus></ErrorResponse>");
    out
}

/// A user written as XML: the same children as the output, plus `Password`; `Email` is
/// accepted for `EmailAddress` since the JSON form uses that name.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct XmlUserIn {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(alias = "Email")]
    pub email_address: Option<String>,
    pub telephone_number: Option<String>,
    pub password: Option<String>,
    pub account_scope: Option<String>,
    pub enabled: Option<bool>,
    pub roles: Option<XmlRoles>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct XmlRoles {
    #[serde(rename = "Role")]
    pub role: Vec<XmlRoleRef>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct XmlRoleRef {
    pub role_id: Option<String>,
}

pub fn parse_user(body: &[u8]) -> Result<XmlUserIn, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    quick_xml::de::from_str(text).map_err(|e| format!("malformed XML body: {e}"))
}
