//! The target-specific attributes of a mapped user ([`TargetFields`]): the extension
//! from its configured source, the enterprise department, the tenant's site, and every
//! work or primary email. Pure, like the rest of the mapping.
use serde_json::Value;

use crate::scim::schema::ENTERPRISE_USER_SCHEMA as ENTERPRISE_USER;
use crate::upstream::{DesiredUser, ExtensionSource, TargetFields};

/// Fills `user`'s extension, department, site and emails as `fields` asks; what could
/// not be used goes to `notes` (recorded in the audit).
pub fn fill(
    resource: &Value,
    fields: &TargetFields,
    user: &mut DesiredUser,
    notes: &mut Vec<String>,
) {
    if let Some(source) = &fields.extension {
        match extension_from(resource, source) {
            Ok(ext) => user.extension = ext,
            Err(raw) => notes.push(format!(
                "extension source {raw:?} holds no usable extension (2 to 10 digits); one is allocated"
            )),
        }
    }
    if fields.department {
        user.department = Some(enterprise(resource, "department").unwrap_or_default());
    }
    user.site = fields.site.clone();
    user.emails = work_emails(resource);
}

/// The extension `source` gives: `Ok(None)` when the attribute is absent, `Err(raw)`
/// when it is present but holds no extension.
pub fn extension_from(
    resource: &Value,
    source: &ExtensionSource,
) -> Result<Option<String>, String> {
    let raw = match source {
        ExtensionSource::EmployeeNumber => enterprise(resource, "employeeNumber"),
        ExtensionSource::Phone { phone_type } => phone_of_type(resource, phone_type),
        ExtensionSource::Attribute { path } => attribute(resource, path),
    };
    let parse = match source {
        ExtensionSource::Phone { .. } => phone_extension,
        _ => plain_extension,
    };
    match raw {
        None => Ok(None),
        Some(raw) => parse(&raw).map(Some).ok_or(raw),
    }
}

/// An extension written on its own: 2 to 10 digits.
fn plain_extension(raw: &str) -> Option<String> {
    let digits = raw.trim();
    ((2..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.to_string())
}

/// The extension part of a phone number: RFC 3966 `;ext=2001`, or a suffix `x2001`,
/// `x 2001`, `ext 2001`, `ext. 2001`. A number without one gives none.
pub fn phone_extension(raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    let tail = if let Some(at) = lower.find(";ext=") {
        lower[at + 5..]
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        let at = lower
            .rfind("ext")
            .map(|i| i + 3)
            .or_else(|| lower.rfind('x').map(|i| i + 1))?;
        lower[at..].trim_start_matches(['.', ':', ' ']).to_string()
    };
    plain_extension(&tail)
}

fn enterprise(resource: &Value, attr: &str) -> Option<String> {
    text(resource.get(ENTERPRISE_USER)?.get(attr)?)
}

fn phone_of_type(resource: &Value, wanted: &str) -> Option<String> {
    resource
        .get("phoneNumbers")?
        .as_array()?
        .iter()
        .filter(|p| {
            p.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(wanted))
        })
        .find_map(|p| p.get("value").and_then(text))
}

/// `urn:...:User:attr.sub` (the schema URN up to its last `:`) or a dotted path from
/// the resource's top level.
fn attribute(resource: &Value, path: &str) -> Option<String> {
    let (base, rest) = match path.rfind(':') {
        Some(at) if path.starts_with("urn:") => (resource.get(&path[..at])?, &path[at + 1..]),
        _ => (resource, path),
    };
    let value = rest.split('.').try_fold(base, |v, key| v.get(key))?;
    text(value)
}

/// A string or a number as text; empty is absent.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every work or primary address, primary first, each once (case-insensitively).
pub fn work_emails(resource: &Value) -> Vec<String> {
    let Some(emails) = resource.get("emails").and_then(Value::as_array) else {
        return Vec::new();
    };
    let primary = |e: &&Value| match e.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let work = |e: &&Value| {
        e.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("work"))
    };
    let mut out: Vec<String> = Vec::new();
    for e in emails
        .iter()
        .filter(primary)
        .chain(emails.iter().filter(work))
    {
        if let Some(v) = e.get("value").and_then(text) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&v)) {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extension_suffixes_of_phone_numbers() {
        let table: &[(&str, Option<&str>)] = &[
            ("tel:+1-919-555-1234;ext=2001", Some("2001")),
            ("+1 919 555 1234 x2001", Some("2001")),
            ("+1 919 555 1234 x 2001", Some("2001")),
            ("+1 919 555 1234 X2001", Some("2001")),
            ("(919) 555-1234 ext. 2001", Some("2001")),
            ("(919) 555-1234 ext 42", Some("42")),
            ("919-555-1234 Ext:7", None),
            ("+1 919 555 1234", None),
            ("+1 919 555 1234 x", None),
            ("+1 919 555 1234 x20a1", None),
            ("+1 919 555 1234 x12345678901", None),
            ("tel:+1-919-555-1234;ext=2001;phone-context=x", Some("2001")),
        ];
        for (raw, want) in table {
            assert_eq!(phone_extension(raw).as_deref(), *want, "{raw}");
        }
    }

    fn user() -> Value {
        json!({
            "userName": "jane@acme.test",
            "phoneNumbers": [
                {"value": "+1 919 555 0000 x3001", "type": "mobile"},
                {"value": "+1 919 555 1234 x2001", "type": "work"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"employeeNumber": "2042", "department": "Sales"},
            "urn:example:params:scim:schemas:extension:pbx:2.0:User": {"ext": {"number": 2077}},
            "name": {"extension": "2099"}
        })
    }

    #[test]
    fn each_source_takes_its_own_attribute() {
        let phone = |t: &str| ExtensionSource::Phone {
            phone_type: t.into(),
        };
        let attribute = |p: &str| ExtensionSource::Attribute { path: p.into() };
        let pbx = "urn:example:params:scim:schemas:extension:pbx:2.0:User:ext.number";
        let table: &[(ExtensionSource, Result<Option<&str>, &str>)] = &[
            (ExtensionSource::EmployeeNumber, Ok(Some("2042"))),
            (phone("work"), Ok(Some("2001"))),
            (phone("Mobile"), Ok(Some("3001"))),
            (phone("fax"), Ok(None)),
            (attribute(pbx), Ok(Some("2077"))),
            (attribute("name.extension"), Ok(Some("2099"))),
            (attribute("name.missing"), Ok(None)),
            (attribute("userName"), Err("jane@acme.test")),
        ];
        for (source, want) in table {
            let got = extension_from(&user(), source);
            assert_eq!(
                got.as_ref().map(|o| o.as_deref()).map_err(String::as_str),
                *want,
                "{source:?}"
            );
        }
    }

    #[test]
    fn fill_carries_department_site_and_notes_an_unusable_source() {
        let fields = TargetFields {
            extension: Some(ExtensionSource::Attribute {
                path: "userName".into(),
            }),
            department: true,
            site: Some("HQ".into()),
        };
        let (mut mapped, mut notes) = (DesiredUser::default(), Vec::new());
        fill(&user_json_with_emails(), &fields, &mut mapped, &mut notes);
        assert_eq!(mapped.extension, None);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(mapped.department.as_deref(), Some(""));
        assert_eq!(mapped.site.as_deref(), Some("HQ"));
        let (mut plain, mut notes) = (DesiredUser::default(), Vec::new());
        fill(&user(), &TargetFields::NONE, &mut plain, &mut notes);
        assert_eq!(
            (plain.extension, plain.department, plain.site),
            (None, None, None)
        );
        assert!(notes.is_empty());
    }

    fn user_json_with_emails() -> Value {
        json!({"userName": "jane@acme.test", "emails": [
            {"value": "home@acme.test", "type": "home"},
            {"value": "work@acme.test", "type": "work"},
            {"value": "main@acme.test", "type": "other", "primary": true},
            {"value": "WORK@acme.test", "type": "work"},
            {"value": "desk@acme.test", "type": "Work"}
        ]})
    }

    #[test]
    fn work_and_primary_emails_primary_first_each_once() {
        assert_eq!(
            work_emails(&user_json_with_emails()),
            ["main@acme.test", "work@acme.test", "desk@acme.test"]
        );
        assert!(work_emails(&json!({"emails": [{"value": "h@x.y", "type": "home"}]})).is_empty());
    }
}
