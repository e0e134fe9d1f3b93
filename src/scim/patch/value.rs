//! Typing of client values against the schema before they are stored: the IdP dialect
//! fixes (string booleans, bare manager ids, one-element arrays) and the type check of
//! known attributes. Unknown attributes (`def == None`) pass through untouched so other
//! extensions round-trip.
use serde_json::{Map, Value};

use super::super::error::ScimError;
use super::super::schema::{AttrKind, AttributeDef, Mutability};
use super::json;
use crate::scim::validate::{bool_text, describe};

/// Normalises `value` for attribute `def` as a whole (a list for multi-valued ones).
/// `Null` means "unassign".
pub(super) fn coerce(def: Option<&AttributeDef>, value: Value) -> Result<Value, ScimError> {
    let Some(def) = def else { return Ok(value) };
    if def.multi_valued {
        let items = match value {
            Value::Null => return Ok(Value::Null),
            Value::Array(items) => items,
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let item = coerce_single(def, item)?;
            if !item.is_null() {
                out.push(item);
            }
        }
        return Ok(Value::Array(out));
    }
    let value = match value {
        Value::Array(mut items) if items.len() <= 1 => items.pop().unwrap_or(Value::Null),
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!(
                "'{}' is single-valued but a list was given",
                def.name
            )))
        }
        other => other,
    };
    let value = coerce_single(def, value)?;
    Ok(if is_empty_reference(def, &value) {
        Value::Null
    } else {
        value
    })
}

/// Normalises one value (one element, for a multi-valued attribute).
pub(super) fn coerce_single(def: &AttributeDef, value: Value) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let got = describe(&value);
    let bad =
        |what: &str| ScimError::invalid_value(format!("'{}' must be {what}, got {got}", def.name));
    match def.kind {
        AttrKind::Complex => match value {
            Value::Object(map) => Ok(Value::Object(coerce_object(def, map)?)),
            Value::String(_) | Value::Number(_) | Value::Bool(_) if def.sub("value").is_some() => {
                // Entra sends the manager as a bare id; `members: ["id"]` reads the same way.
                let mut m = Map::new();
                m.insert("value".into(), value);
                Ok(Value::Object(coerce_object(def, m)?))
            }
            _ => Err(bad("an object")),
        },
        AttrKind::Boolean => match &value {
            Value::Bool(_) => Ok(value),
            // Entra without the aadOptscim062020 flag sends "True"/"False".
            Value::String(s) => bool_text(s)
                .map(Value::Bool)
                .ok_or_else(|| bad("a boolean")),
            _ => Err(bad("a boolean")),
        },
        AttrKind::String { .. } | AttrKind::Reference | AttrKind::Binary => match &value {
            Value::String(_) => Ok(value),
            // A mapping that yields a number (employeeNumber) is not worth a failed sync.
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err(bad("a string")),
        },
        AttrKind::DateTime => match &value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Ok(value),
            _ => Err(bad("an RFC 3339 dateTime string")),
        },
        AttrKind::Integer => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            _ => Err(bad("an integer")),
        },
        AttrKind::Decimal => match &value {
            Value::Number(_) => Ok(value),
            _ => Err(bad("a number")),
        },
    }
}

/// Types the known sub-attributes of a complex value, drops readOnly ones (RFC 7643:
/// clients cannot set them; ignoring keeps round-tripped reads writable) and renames
/// known keys to the schema's spelling.
fn coerce_object(
    def: &AttributeDef,
    map: Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (k, v) in map {
        match def.sub(&k) {
            Some(sub) if sub.mutability == Mutability::ReadOnly => {}
            Some(sub) => {
                let v = coerce(Some(sub), v)?;
                json::set_ci(&mut out, sub.name, v);
            }
            None => json::set_ci(&mut out, &k, v),
        }
    }
    Ok(out)
}

/// A single-valued reference-like complex (the enterprise `manager`) whose `value` is
/// missing or empty is an unassignment: Entra clears a manager with `""`/`{"value":""}`.
fn is_empty_reference(def: &AttributeDef, value: &Value) -> bool {
    if def.kind != AttrKind::Complex || def.sub("value").is_none() {
        return false;
    }
    match value {
        Value::Object(m) => match json::get_ci(m, "value") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        },
        _ => false,
    }
}
