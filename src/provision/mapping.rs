//! SCIM user -> upstream user. Pure: which email and phone a user has upstream, how a
//! phone is written there, and which of them the target requires (its [`UserRules`]).
use serde_json::Value;

use crate::scim::error::ScimError;
use crate::upstream::{DesiredUser, PhoneFormat, UserRules};

/// The mapped user plus what could not be carried over (recorded in the audit).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub user: DesiredUser,
    pub notes: Vec<String>,
}

/// Maps the attributes the upstream has. Roles, scope and accounts are left `None`:
/// they are decided by policy, not by the user's attributes.
pub fn map_user(
    resource: &Value,
    upstream_username: &str,
    rules: UserRules,
) -> Result<Mapped, ScimError> {
    let name = resource.get("name");
    let name_part = |key: &str| {
        name.and_then(|n| n.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let missing: Vec<&str> = [
        ("name.givenName", "givenName", rules.requires_first_name),
        ("name.familyName", "familyName", rules.requires_last_name),
    ]
    .iter()
    .filter(|(_, key, required)| *required && name_part(key).is_none())
    .map(|(label, _, _)| *label)
    .collect();
    if !missing.is_empty() {
        let needed = match (rules.requires_first_name, rules.requires_last_name) {
            (true, true) => "a first and last name",
            (true, false) => "a first name",
            _ => "a last name",
        };
        return Err(ScimError::invalid_value(format!(
            "{} required: {} users need {needed}",
            missing.join(" and "),
            rules.system
        )));
    }
    let email = match pick_email(resource) {
        Some(email) => email,
        None if rules.requires_email => {
            return Err(ScimError::invalid_value(format!(
                "emails: {} users need an email address (none given, and userName is not one)",
                rules.system
            )))
        }
        None => String::new(),
    };
    let mut notes = Vec::new();
    let phone = match pick_phone(resource) {
        None => None,
        Some(raw) => {
            let normalised = normalise_phone(&raw, rules.phone_format);
            if normalised.is_none() {
                notes.push(format!(
                    "phone number {raw:?} is not usable upstream and was left out"
                ));
            }
            normalised
        }
    };
    let mut user = DesiredUser {
        username: upstream_username.to_string(),
        first_name: name_part("givenName").unwrap_or_default(),
        last_name: name_part("familyName").unwrap_or_default(),
        email,
        phone,
        active: is_active(resource),
        ..DesiredUser::default()
    };
    super::target_fields::fill(resource, &rules.fields, &mut user, &mut notes);
    Ok(Mapped { user, notes })
}

/// `active` as stored; absent means active (RFC 7643 leaves the default to the server).
pub fn is_active(resource: &Value) -> bool {
    resource
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn values(resource: &Value, attr: &str) -> Vec<Value> {
    resource
        .get(attr)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn value_of(element: &Value) -> Option<String> {
    element
        .get("value")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn is_primary(element: &Value) -> bool {
    match element.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn has_type(element: &Value, wanted: &str) -> bool {
    element
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(wanted))
}

/// Primary, else work, else the first email; else a userName that is an address
/// (Entra's UPN usually is).
pub fn pick_email(resource: &Value) -> Option<String> {
    let emails = values(resource, "emails");
    emails
        .iter()
        .find(|e| is_primary(e))
        .and_then(value_of)
        .or_else(|| {
            emails
                .iter()
                .find(|e| has_type(e, "work"))
                .and_then(value_of)
        })
        .or_else(|| emails.iter().find_map(value_of))
        .or_else(|| {
            resource
                .get("userName")
                .and_then(Value::as_str)
                .filter(|u| u.contains('@'))
                .map(str::to_string)
        })
}

/// The work phone, else the primary one, else the first.
fn pick_phone(resource: &Value) -> Option<String> {
    let phones = values(resource, "phoneNumbers");
    phones
        .iter()
        .find(|p| has_type(p, "work"))
        .and_then(value_of)
        .or_else(|| phones.iter().find(|p| is_primary(p)).and_then(value_of))
        .or_else(|| phones.iter().find_map(value_of))
}

/// Writes a phone number the way the upstream wants it, or `None` when it cannot be.
/// Accepts RFC 3966 `tel:` URIs (extensions dropped) and the punctuation people type.
/// Numbers without a country code are taken as North American, the only ones the
/// 10-digit dashboard form can express.
pub fn normalise_phone(raw: &str, format: PhoneFormat) -> Option<String> {
    let text = raw.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    let text = text.split([';', 'x', 'X']).next().unwrap_or_default();
    let plus = text.trim_start().starts_with('+');
    let allowed = |c: char| c.is_ascii_digit() || " ()-.+/".contains(c);
    if text.is_empty() || !text.chars().all(allowed) {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let national = match (plus, digits.len()) {
        (false, 10) => Some(digits.clone()),
        (_, 11) if digits.starts_with('1') => Some(digits[1..].to_string()),
        _ => None,
    };
    match format {
        PhoneFormat::TenDigits => national,
        PhoneFormat::E164 => match national {
            Some(n) => Some(format!("+1{n}")),
            None if plus && (8..=15).contains(&digits.len()) && !digits.starts_with('0') => {
                Some(format!("+{digits}"))
            }
            None => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANDWIDTH_LIKE: UserRules = UserRules::all_required("Bandwidth", PhoneFormat::E164);
    use serde_json::json;

    fn user() -> Value {
        json!({"userName":"jdoe@example.com","name":{"givenName":"Jane","familyName":"Doe"},
               "emails":[{"value":"home@example.com","type":"home"},{"value":"work@example.com","type":"work"}],
               "phoneNumbers":[{"value":"(919) 555-1234","type":"work"},{"value":"+44 20 7946 0000","type":"mobile"}]})
    }

    #[test]
    fn maps_names_email_and_phone() {
        let m = map_user(&user(), "jdoe@example.com", BANDWIDTH_LIKE).unwrap();
        assert_eq!(m.user.first_name, "Jane");
        assert_eq!(m.user.last_name, "Doe");
        assert_eq!(m.user.email, "work@example.com");
        assert_eq!(m.user.phone.as_deref(), Some("+19195551234"));
        assert!(m.user.active);
        assert!(m.notes.is_empty());
    }

    #[test]
    fn primary_email_wins_over_work() {
        let mut u = user();
        u["emails"][0]["primary"] = json!(true);
        assert_eq!(pick_email(&u).as_deref(), Some("home@example.com"));
        u["emails"][0]["primary"] = json!("True");
        assert_eq!(pick_email(&u).as_deref(), Some("home@example.com"));
    }

    #[test]
    fn email_falls_back_to_first_then_username() {
        let u = json!({"userName":"a@b.c","emails":[{"value":"x@y.z"}]});
        assert_eq!(pick_email(&u).as_deref(), Some("x@y.z"));
        assert_eq!(
            pick_email(&json!({"userName":"a@b.c"})).as_deref(),
            Some("a@b.c")
        );
        assert_eq!(pick_email(&json!({"userName":"plain"})), None);
    }

    #[test]
    fn missing_names_are_named_in_the_error() {
        let e = map_user(
            &json!({"userName":"a@b.c","name":{"givenName":"A"}}),
            "a",
            BANDWIDTH_LIKE,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("name.familyName") && !e.detail.contains("givenName"));
        let e = map_user(&json!({"userName":"a@b.c"}), "a", BANDWIDTH_LIKE).unwrap_err();
        assert!(e.detail.contains("name.givenName and name.familyName"));
        let e = map_user(
            &json!({"userName":"a@b.c","name":{"givenName":" ","familyName":"B"}}),
            "a",
            BANDWIDTH_LIKE,
        )
        .unwrap_err();
        assert!(e.detail.contains("givenName"));
    }

    #[test]
    fn only_what_the_target_requires_is_required_and_its_name_is_in_the_error() {
        let relaxed = UserRules {
            requires_last_name: false,
            requires_email: false,
            ..UserRules::all_required("NetSapiens", PhoneFormat::TenDigits)
        };
        let m = map_user(
            &json!({"userName":"plain","name":{"givenName":"A"}}),
            "x",
            relaxed.clone(),
        )
        .unwrap();
        assert_eq!((m.user.last_name.as_str(), m.user.email.as_str()), ("", ""));
        let e = map_user(&json!({"userName":"plain"}), "x", relaxed).unwrap_err();
        assert!(
            e.detail.contains("NetSapiens users need a first name"),
            "{}",
            e.detail
        );
        assert!(!e.detail.contains("familyName"), "{}", e.detail);
        let e = map_user(
            &json!({"userName":"plain","name":{"givenName":"A","familyName":"B"}}),
            "x",
            BANDWIDTH_LIKE,
        )
        .unwrap_err();
        assert!(
            e.detail.contains("Bandwidth users need an email"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn unusable_phone_is_left_out_with_a_note() {
        let mut u = user();
        u["phoneNumbers"] = json!([{"value":"call me maybe","type":"work"}]);
        let m = map_user(&u, "x", BANDWIDTH_LIKE).unwrap();
        assert_eq!(m.user.phone, None);
        assert_eq!(m.notes.len(), 1);
    }

    #[test]
    fn phone_forms() {
        use PhoneFormat::*;
        let cases: &[(&str, PhoneFormat, Option<&str>)] = &[
            ("9195551234", E164, Some("+19195551234")),
            ("9195551234", TenDigits, Some("9195551234")),
            ("+1 (919) 555-1234", TenDigits, Some("9195551234")),
            ("1-919-555-1234", E164, Some("+19195551234")),
            ("tel:+1-919-555-1234;ext=55", E164, Some("+19195551234")),
            ("+1 919 555 1234 x55", TenDigits, Some("9195551234")),
            ("+44 20 7946 0000", E164, Some("+442079460000")),
            ("+44 20 7946 0000", TenDigits, None),
            ("555-1234", E164, None),
            ("+0123456789", E164, None),
            ("", E164, None),
            ("abc", TenDigits, None),
            ("+1234567890123456", E164, None),
        ];
        for (raw, format, want) in cases {
            assert_eq!(
                normalise_phone(raw, *format).as_deref(),
                *want,
                "{raw} {format:?}"
            );
        }
    }

    #[test]
    fn active_defaults_to_true() {
        assert!(is_active(&json!({})));
        assert!(!is_active(&json!({"active":false})));
    }
}
