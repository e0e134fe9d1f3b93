//! Multi-valued attributes: value-filter paths (`emails[type eq "work"].value`), element
//! identity for de-duplication and `remove` with a value list, and `primary` uniqueness.
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::super::error::ScimError;
use super::super::filter::{matches, AttrPath, CompValue, CompareOp, Filter};
use super::super::schema::{AttrKind, AttributeDef, AttributeTypes};
use super::apply::set_sub;
use super::json;
use super::value::{coerce, coerce_single};
use super::OpKind;

/// Typing of value-filter paths relative to the elements of one multi-valued attribute
/// (`emails[type eq "work"]`: `type` is `emails.type`). Sub-attributes the schema does not
/// know (other extensions' lists) are typed as case-insensitive strings, because the filter
/// evaluator treats an untyped attribute as never matching and PATCH must still be able
/// to address them.
struct ElementTypes<'a>(Option<&'a AttributeDef>);

impl AttributeTypes for ElementTypes<'_> {
    fn kind_of(&self, path: &AttrPath) -> Option<AttrKind> {
        if path.schema.is_some() || path.sub_attr.is_some() {
            return None;
        }
        let known = self.0.and_then(|d| d.sub(&path.attr)).map(|d| d.kind);
        Some(known.unwrap_or(AttrKind::String { case_exact: false }))
    }
}

/// `attr[filter]` and `attr[filter].sub`.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_filtered(
    map: &mut Map<String, Value>,
    kind: OpKind,
    name: &str,
    def: Option<&AttributeDef>,
    filter: &Filter,
    sub: Option<(&str, Option<&AttributeDef>)>,
    value: Option<Value>,
    text: &str,
) -> Result<(), ScimError> {
    let types = ElementTypes(def);
    let sub_name = sub.map(|(s, d)| d.map_or(s, |d| d.name));
    let value = value.unwrap_or(Value::Null);
    let v = match (kind, sub) {
        (OpKind::Remove, _) => Value::Null,
        (_, Some((_, sub_def))) => coerce(sub_def, value)?,
        (_, None) => match def {
            Some(d) => coerce_single(d, value)?,
            None => value,
        },
    };
    if kind == OpKind::Remove || (v.is_null() && sub.is_none()) {
        // Remove matching elements (or their sub-attribute); nothing matching is a no-op.
        let now_empty = match json::get_ci_mut(map, name) {
            Some(Value::Array(arr)) => {
                match sub_name {
                    Some(s) => {
                        for e in arr.iter_mut().filter(|e| matches(filter, e, &types)) {
                            if let Some(m) = e.as_object_mut() {
                                json::remove_ci(m, s);
                            }
                        }
                    }
                    None => arr.retain(|e| !matches(filter, e, &types)),
                }
                arr.is_empty()
            }
            _ => false,
        };
        if now_empty {
            json::remove_ci(map, name);
        }
        return Ok(());
    }
    if sub.is_none() && !v.is_object() {
        return Err(ScimError::invalid_value(format!(
            "'{text}': the value for a filtered path without sub-attribute must be an object"
        )));
    }
    let arr = array_at(map, name);
    let matched: Vec<usize> = arr
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(filter, e, &types))
        .map(|(i, _)| i)
        .collect();
    let touched = if !matched.is_empty() {
        for &i in &matched {
            let Some(element) = arr.get_mut(i) else {
                continue;
            };
            match (sub_name, element) {
                (Some(s), Value::Object(m)) => set_sub(m, s, sub.and_then(|x| x.1), &v, text)?,
                (Some(_), _) => {}
                (None, Value::Object(m)) if kind == OpKind::Add => {
                    if let Value::Object(new) = v.clone() {
                        json::merge(m, new);
                    }
                }
                (None, element) => *element = v.clone(),
            }
        }
        matched
    } else {
        // Entra: Add (and Replace with a sub-attribute) on a filter that matches nothing
        // creates the element the filter describes.
        if kind == OpKind::Replace && sub.is_none() {
            return Err(ScimError::no_target(format!("'{text}' matches no value")));
        }
        let Some(mut element) = element_from_filter(filter) else {
            return Err(ScimError::no_target(format!(
                "'{text}' matches no value, and its filter does not describe one to create"
            )));
        };
        if v.is_null() {
            let now_empty = arr.is_empty();
            if now_empty {
                json::remove_ci(map, name);
            }
            return Ok(());
        }
        match (sub_name, v) {
            (Some(s), v) => json::set_ci(&mut element, s, v),
            (None, Value::Object(new)) => json::merge(&mut element, new),
            (None, _) => {}
        }
        let element = match def {
            Some(d) => coerce_single(d, Value::Object(element))?,
            None => Value::Object(element),
        };
        arr.push(element);
        vec![arr.len() - 1]
    };
    fix_primary(arr, &touched);
    Ok(())
}

/// The element an `and` of `eq` terms describes (`type eq "mobile"` -> `{"type":"mobile"}`);
/// `None` for any other filter.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    fn collect(f: &Filter, out: &mut Map<String, Value>) -> bool {
        match f {
            Filter::And(a, b) => collect(a, out) && collect(b, out),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.schema.is_none() && path.sub_attr.is_none() => {
                let v = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Null => return false,
                };
                json::set_ci(out, &path.attr, v);
                true
            }
            _ => false,
        }
    }
    let mut out = Map::new();
    collect(filter, &mut out).then_some(out)
}

/// The list stored at `name`, created if absent; a scalar stored there becomes its first
/// element rather than being lost.
pub(super) fn array_at<'a>(map: &'a mut Map<String, Value>, name: &str) -> &'a mut Vec<Value> {
    let key = json::find_key(map, name).unwrap_or_else(|| name.to_string());
    let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let old = slot.take();
        *slot = Value::Array(if old.is_null() { Vec::new() } else { vec![old] });
    }
    match slot {
        Value::Array(a) => a,
        _ => unreachable!("slot was just made an array"),
    }
}

/// Appends `items`, merging each into an existing element with the same identity
/// ([`json::element_key`]) instead of duplicating it. One hash index per call keeps a
/// 10,000-member add to a 10,000-member group linear. Returns the indices touched.
pub(super) fn append_dedup(
    arr: &mut Vec<Value>,
    def: Option<&AttributeDef>,
    items: Vec<Value>,
) -> Vec<usize> {
    let mut index: HashMap<String, usize> = arr
        .iter()
        .enumerate()
        .map(|(i, e)| (json::element_key(def, e), i))
        .collect();
    let mut touched = Vec::with_capacity(items.len());
    for item in items {
        let key = json::element_key(def, &item);
        if let Some(&i) = index.get(&key) {
            if let (Some(Value::Object(existing)), Value::Object(mut new)) = (arr.get_mut(i), item)
            {
                // Same identity: keep the stored spelling of `value`, take the rest.
                json::remove_ci(&mut new, "value");
                json::merge(existing, new);
            }
            touched.push(i);
        } else {
            arr.push(item);
            index.insert(key, arr.len() - 1);
            touched.push(arr.len() - 1);
        }
    }
    touched
}

/// `remove` with a value list: drops exactly the elements whose identity is listed.
pub(super) fn remove_elements(
    map: &mut Map<String, Value>,
    name: &str,
    def: Option<&AttributeDef>,
    items: &[Value],
) {
    let keys: HashSet<String> = items.iter().map(|i| json::element_key(def, i)).collect();
    let now_empty = match json::get_ci_mut(map, name) {
        Some(Value::Array(arr)) => {
            arr.retain(|e| !keys.contains(&json::element_key(def, e)));
            arr.is_empty()
        }
        _ => false,
    };
    if now_empty {
        json::remove_ci(map, name);
    }
}

/// RFC 7643 §2.4: `primary: true` at most once. The last touched element that claims it
/// keeps it; every other element loses it.
pub(super) fn fix_primary(arr: &mut [Value], touched: &[usize]) {
    let is_primary = |e: &Value| {
        e.as_object()
            .is_some_and(|m| json::is_true(json::get_ci(m, "primary")))
    };
    let Some(winner) = touched
        .iter()
        .rev()
        .copied()
        .find(|&i| arr.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (j, e) in arr.iter_mut().enumerate() {
        if j != winner && is_primary(e) {
            if let Some(m) = e.as_object_mut() {
                json::set_ci(m, "primary", Value::Bool(false));
            }
        }
    }
}
