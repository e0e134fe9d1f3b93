//! What a client may write, checked against the schemas the bridge serves before anything
//! is sent upstream or stored. Pure: a resource in, the resource to store (or a SCIM
//! error naming the attribute) out.
//!
//! # Rules (each documented in the README)
//! - **Types.** Every known attribute and sub-attribute must have its schema type and
//!   multi-valuedness: a multi-valued attribute is a list, a complex one an object, a
//!   string a JSON string (no number-to-string guessing on a whole resource), else
//!   `400 invalidValue` naming the attribute (`emails[1]`, `name.givenName`). IdP
//!   quirks accepted: booleans as `"True"`/`"False"` in any case (Entra), a bare id for
//!   a single-valued complex attribute with a `value` (Entra's manager).
//! - **Names** are matched case-insensitively (RFC 7643 §2.1) and stored in the schema's
//!   spelling at every depth, so `"Primary": true` inside an email is `primary`. The
//!   same attribute twice in different case with different values is `400 invalidValue`.
//! - **Unknown attributes are ignored** (RFC 7644 §3.3 lets the server ignore what it
//!   does not define): attributes, sub-attributes and extension objects outside the
//!   served schemas, and schema URNs it does not serve, are dropped, not refused, so an
//!   IdP sending its own extension still provisions. readOnly ones (`id`, `meta`,
//!   `groups`, the bridge's extension, `manager.displayName`) are dropped too. An
//!   extension the tenant declares (`extensions = ["urn:..."]`) is kept as sent, with
//!   the character and size rules applied to everything in it.
//! - **Unassigned** (RFC 7643 §2.5): `null`, `[]` and `{}` are the same as absent and
//!   are not stored, so they are never echoed back.
//! - **Characters.** A string containing a control character other than tab, line feed
//!   and carriage return (U+0000-U+001F, U+007F-U+009F) is refused with
//!   `400 invalidValue`, never stripped: a silently changed userName could collide with
//!   another, and PostgreSQL cannot store U+0000 at all. The same rule holds for ids in
//!   paths and filter values ([`check_text`], [`check_filter`]).
//! - **Sizes** ([`InputRules`]): each string at most `max_value_bytes` bytes (default
//!   2,048, under PostgreSQL's index row size), each multi-valued attribute at most
//!   `max_values` values (default 100); Group `members` have their own limit.
use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{CompValue, Filter};
use super::schema::{is_core_urn, AttrKind, AttributeDef, Mutability, ResourceSchema};

/// What a tenant's clients may write beyond the served schemas, and how much
/// (`[tenants.NAME.limits]` and `extensions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRules {
    /// Longest string value, in UTF-8 bytes.
    pub max_value_bytes: usize,
    /// Most values of one multi-valued attribute.
    pub max_values: usize,
    /// Extension schema URNs the tenant declares: their objects are stored as sent.
    pub extensions: Vec<String>,
}

impl Default for InputRules {
    fn default() -> Self {
        Self {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_values: DEFAULT_MAX_VALUES,
            extensions: Vec::new(),
        }
    }
}

impl InputRules {
    /// The declared extension `urn` names, in its declared spelling.
    fn declared(&self, urn: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(urn))
            .map(String::as_str)
    }
}

pub const DEFAULT_MAX_VALUE_BYTES: usize = 2048;
pub const DEFAULT_MAX_VALUES: usize = 100;

/// Whether `c` is refused in client text: C0 and C1 controls and DEL, except the
/// whitespace controls that real values carry (a `formatted` address has line breaks).
fn is_refused_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Applies the character rule to one piece of client text; `what` names it in the error.
pub fn check_text(what: &str, text: &str) -> Result<(), ScimError> {
    match text.chars().find(|c| is_refused_char(*c)) {
        None => Ok(()),
        Some(c) => Err(ScimError::invalid_value(format!(
            "{what} contains the control character U+{:04X}, which is not accepted",
            u32::from(c)
        ))),
    }
}

/// The character rule and the length limit for one string value.
pub fn check_string(what: &str, text: &str, limits: &InputRules) -> Result<(), ScimError> {
    check_text(what, text)?;
    if text.len() > limits.max_value_bytes {
        return Err(ScimError::invalid_value(format!(
            "{what} is {} bytes long; at most {} are accepted (limits.max_value_bytes)",
            text.len(),
            limits.max_value_bytes
        )));
    }
    Ok(())
}

/// Applies the character rule to every string a filter compares with, so a filter value
/// the store could not hold is refused rather than sent to the database.
pub fn check_filter(filter: &Filter) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(a)?;
            check_filter(b)
        }
        Filter::Not(f) | Filter::ValuePath { filter: f, .. } => check_filter(f),
        Filter::Compare {
            value: CompValue::String(s),
            ..
        } => check_text("a filter value", s),
        Filter::Compare { .. } | Filter::Present(_) => Ok(()),
    }
}

/// `true`/`false` in any case and with surrounding blanks, as Entra sends booleans.
pub(crate) fn bool_text(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A JSON value's kind, for error messages.
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks a User or Group body against `schema` and returns what is to be stored (see
/// the module documentation for the rules).
pub fn resource(
    body: Value,
    schema: &ResourceSchema,
    limits: &InputRules,
) -> Result<Value, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "a {} must be a JSON object",
            schema.name
        )));
    };
    let mut out = Map::new();
    let mut extensions_present = Vec::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            let urns = schema_urns(&value, schema, limits)?;
            insert_once(&mut out, "schemas", urns, "schemas")?;
        } else if let Some(ext) = schema.extension(&key) {
            let container = ext.schema.id;
            let Value::Object(attrs) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "'{container}' must be an object, got {}",
                    describe(&value)
                )));
            };
            let mut ext_out = Map::new();
            for (name, v) in attrs {
                let Some(def) = ext.schema.attribute(&name) else {
                    continue;
                };
                let what = format!("{container}:{}", def.name);
                if let Some(v) = attribute(def, v, &what, limits)? {
                    insert_once(&mut ext_out, def.name, v, &what)?;
                }
            }
            if !ext_out.is_empty() {
                extensions_present.push(container);
                insert_once(&mut out, container, Value::Object(ext_out), container)?;
            }
        } else if let Some(def) = schema.top_attribute(&key) {
            if let Some(v) = attribute(def, value, def.name, limits)? {
                insert_once(&mut out, def.name, v, def.name)?;
            }
        } else if let Some(urn) = limits.declared(&key) {
            if !value.is_null() {
                opaque(&value, urn, limits)?;
                insert_once(&mut out, urn, value, urn)?;
            }
        }
    }
    // An extension's data and its URN in `schemas` go together (RFC 7643 §3).
    if let Some(Value::Array(urns)) = out.get_mut("schemas") {
        for urn in extensions_present {
            if !urns.iter().any(|u| u.as_str() == Some(urn)) {
                urns.push(Value::String(urn.into()));
            }
        }
    }
    Ok(Value::Object(out))
}

/// [`resource`] for a User.
pub fn user(body: Value, rules: &InputRules) -> Result<Value, ScimError> {
    resource(body, super::schema::user(), rules)
}

/// A new User with `active` stored as `true` when the client leaves it unassigned: that
/// is what the upstream user is, and `active eq true` must find it. Only on create: a
/// later PUT or PATCH that removes `active` is kept as written (RFC 7644 §3.5.2.2).
pub fn active_by_default(mut user: Value) -> Value {
    if let Some(map) = user.as_object_mut() {
        map.entry("active").or_insert(Value::Bool(true));
    }
    user
}

/// The `schemas` list as stored: the URNs this resource type serves (canonical
/// spelling, legacy core URNs as the current one, each once); others are dropped.
fn schema_urns(
    value: &Value,
    schema: &ResourceSchema,
    limits: &InputRules,
) -> Result<Value, ScimError> {
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!(
            "'schemas' must be a list of schema URNs, got {}",
            describe(value)
        )));
    };
    let mut urns: Vec<Value> = Vec::new();
    for item in items {
        let Some(urn) = item.as_str() else {
            return Err(ScimError::invalid_value(format!(
                "'schemas' must list URNs as strings, got {}",
                describe(item)
            )));
        };
        check_text("schemas", urn)?;
        let canonical = if is_core_urn(urn, schema) {
            Some(schema.core.id)
        } else {
            schema
                .extension(urn)
                .map(|e| e.schema.id)
                .or_else(|| limits.declared(urn))
        };
        if let Some(c) = canonical {
            if !urns.iter().any(|u| u.as_str() == Some(c)) {
                urns.push(Value::String(c.into()));
            }
        }
    }
    Ok(Value::Array(urns))
}

/// The character and size rules over a value no schema describes (a declared
/// extension): every string and key, every list's length.
fn opaque(value: &Value, what: &str, limits: &InputRules) -> Result<(), ScimError> {
    match value {
        Value::String(s) => check_string(&format!("'{what}'"), s, limits),
        Value::Array(items) => {
            if items.len() > limits.max_values {
                return Err(ScimError::invalid_value(format!(
                    "'{what}' has {} values; at most {} are accepted (limits.max_values_per_attribute)",
                    items.len(),
                    limits.max_values
                )));
            }
            items.iter().try_for_each(|v| opaque(v, what, limits))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let inner = format!("{what}:{k}");
            check_string(&format!("'{inner}'"), k, limits)?;
            opaque(v, &inner, limits)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Inserts `key` unless a different spelling of it already brought a different value.
fn insert_once(
    map: &mut Map<String, Value>,
    key: &str,
    value: Value,
    what: &str,
) -> Result<(), ScimError> {
    match map.get(key) {
        Some(existing) if *existing != value => Err(ScimError::invalid_value(format!(
            "'{what}' is given more than once (names are case-insensitive) with different values"
        ))),
        _ => {
            map.insert(key.to_string(), value);
            Ok(())
        }
    }
}

/// One attribute's value as stored; `None` when it is unassigned or not writable.
fn attribute(
    def: &AttributeDef,
    value: Value,
    what: &str,
    limits: &InputRules,
) -> Result<Option<Value>, ScimError> {
    if def.mutability == Mutability::ReadOnly || value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return match value {
            Value::Array(_) => Err(ScimError::invalid_value(format!(
                "'{what}' is single-valued but a list was given"
            ))),
            single => single_value(def, single, what, limits),
        };
    }
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!(
            "'{what}' is multi-valued and must be a list, got {}",
            describe(&value)
        )));
    };
    if items.len() > limits.max_values {
        return Err(ScimError::invalid_value(format!(
            "'{what}' has {} values; at most {} are accepted (limits.max_values_per_attribute)",
            items.len(),
            limits.max_values
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if matches!(item, Value::Array(_)) {
            return Err(ScimError::invalid_value(format!(
                "'{what}[{i}]' must be a single value, got a list"
            )));
        }
        let element = if def.kind == AttrKind::Complex && !item.is_object() && !item.is_null() {
            return Err(ScimError::invalid_value(format!(
                "'{what}[{i}]' must be an object, got {}",
                describe(&item)
            )));
        } else {
            single_value(def, item, &format!("{what}[{i}]"), limits)?
        };
        if let Some(element) = element {
            if !out.contains(&element) {
                out.push(element);
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// One value of `def`'s type; `None` when it is unassigned.
fn single_value(
    def: &AttributeDef,
    value: Value,
    what: &str,
    limits: &InputRules,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let bad = |expected: &str, got: &Value| {
        ScimError::invalid_value(format!(
            "'{what}' must be {expected}, got {}",
            describe(got)
        ))
    };
    let typed = match def.kind {
        AttrKind::Complex => match value {
            Value::Object(map) => complex(def, map, what, limits)?,
            Value::String(_) if def.sub("value").is_some() && !def.multi_valued => {
                // Entra sends the manager as a bare id.
                let mut map = Map::new();
                map.insert("value".into(), value);
                complex(def, map, what, limits)?
            }
            other => return Err(bad("an object", &other)),
        },
        AttrKind::Boolean => match value {
            Value::Bool(_) => Some(value),
            Value::String(ref s) => match bool_text(s) {
                Some(b) => Some(Value::Bool(b)),
                None => return Err(bad("a boolean", &value)),
            },
            other => return Err(bad("a boolean", &other)),
        },
        AttrKind::String { .. } | AttrKind::Reference | AttrKind::Binary => match value {
            Value::String(ref s) => {
                check_string(&format!("'{what}'"), s, limits)?;
                Some(value)
            }
            other => return Err(bad("a string", &other)),
        },
        AttrKind::DateTime => match value {
            Value::String(ref s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Some(value),
            other => return Err(bad("an RFC 3339 dateTime string", &other)),
        },
        AttrKind::Integer => match value {
            Value::Number(ref n) if n.is_i64() || n.is_u64() => Some(value),
            other => return Err(bad("an integer", &other)),
        },
        AttrKind::Decimal => match value {
            Value::Number(_) => Some(value),
            other => return Err(bad("a number", &other)),
        },
    };
    Ok(typed)
}

/// A complex value with its known, writable sub-attributes in the schema's spelling;
/// `None` when nothing is left.
fn complex(
    def: &AttributeDef,
    map: Map<String, Value>,
    what: &str,
    limits: &InputRules,
) -> Result<Option<Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in map {
        let Some(sub) = def.sub(&key) else { continue };
        let sub_what = format!("{what}.{}", sub.name);
        if let Some(v) = attribute(sub, value, &sub_what, limits)? {
            insert_once(&mut out, sub.name, v, &sub_what)?;
        }
    }
    // Entra clears a manager with `{"value": ""}`: a reference without a value is none.
    let empty_reference = def.sub("value").is_some()
        && !def.multi_valued
        && out
            .get("value")
            .is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty()));
    Ok((!out.is_empty() && !empty_reference).then_some(Value::Object(out)))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
