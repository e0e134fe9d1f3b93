//! Case-insensitive access to JSON objects. SCIM attribute names are case-insensitive
//! (RFC 7643 §2.1), so a PATCH of `username` must update a stored `userName` rather than
//! create a second key.
use serde_json::{Map, Value};

use super::super::schema::AttributeDef;

/// The stored spelling of `name` in `map`, if any.
pub(super) fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

pub(super) fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub(super) fn get_ci_mut<'a>(map: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    let key = find_key(map, name)?;
    map.get_mut(&key)
}

/// Removes every spelling of `name`; returns the first value removed.
pub(super) fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let keys: Vec<String> = map
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    let mut first = None;
    for k in keys {
        let v = map.remove(&k);
        if first.is_none() {
            first = v;
        }
    }
    first
}

/// Sets `name` under its stored spelling if present (dropping other spellings), else
/// under `canonical`.
pub(super) fn set_ci(map: &mut Map<String, Value>, canonical: &str, value: Value) {
    let keys: Vec<String> = map
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(canonical))
        .cloned()
        .collect();
    let key = keys
        .first()
        .cloned()
        .unwrap_or_else(|| canonical.to_string());
    for extra in keys.iter().skip(1) {
        map.remove(extra);
    }
    map.insert(key, value);
}

/// The object stored at `name`, created (under `canonical`) if absent or not an object.
pub(super) fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    canonical: &str,
) -> &'a mut Map<String, Value> {
    let key = find_key(map, canonical).unwrap_or_else(|| canonical.to_string());
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Merges `src` into `target` key by key (case-insensitively); `null` unassigns.
pub(super) fn merge(target: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        if v.is_null() {
            remove_ci(target, &k);
        } else {
            set_ci(target, &k, v);
        }
    }
}

pub(super) fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

/// Canonical text of a JSON value with object keys sorted, independent of whether
/// serde_json keeps insertion order (the main crate may enable `preserve_order`).
pub(super) fn canonical(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(x) = m.get(k) {
                        write(x, out);
                    }
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Identity of an element of a multi-valued attribute, for de-duplication and for
/// `remove` with a value list: its `value` sub-attribute when it has one (compared
/// case-insensitively unless the schema says caseExact), else the whole element.
pub(super) fn element_key(def: Option<&AttributeDef>, element: &Value) -> String {
    if let Value::Object(m) = element {
        if let Some(v) = get_ci(m, "value") {
            let exact = def
                .and_then(|d| d.sub("value"))
                .is_none_or(AttributeDef::case_exact);
            return match v {
                Value::String(s) if !exact => format!("v:\"{}\"", s.to_lowercase()),
                other => format!("v:{}", canonical(other)),
            };
        }
    }
    format!("j:{}", canonical(element))
}
