//! Applies one PATCH operation to the working copy of a resource (RFC 7644 §3.5.2.1-3).
//! The choices documented in `patch.rs` are implemented here.
use serde_json::{Map, Value};

use super::super::error::ScimError;
use super::super::filter::{parse_patch_path, Filter};
use super::super::schema::{
    is_core_urn, AttrKind, AttributeDef, Mutability, ResolvedPath, ResourceSchema,
};
use super::json;
use super::lists::{append_dedup, apply_filtered, array_at, fix_primary, remove_elements};
use super::value::coerce;
use super::{OpKind, PatchOperation};

/// A parsed and resolved PATCH path.
struct Target<'s> {
    text: String,
    resolved: ResolvedPath<'s>,
    filter: Option<Filter>,
    /// Sub-attribute after a value filter (`.value` in `emails[type eq "work"].value`).
    filter_sub: Option<String>,
    filter_sub_def: Option<&'s AttributeDef>,
}

impl Target<'_> {
    fn is_read_only(&self) -> bool {
        let r = &self.resolved;
        r.is_read_only()
            || self
                .filter_sub_def
                .is_some_and(|d| d.mutability == Mutability::ReadOnly)
            || (r.container.is_none()
                && r.attr
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case("schemas")))
    }
}

fn parse_target<'s>(text: &str, schema: &'s ResourceSchema) -> Result<Target<'s>, ScimError> {
    let parsed = parse_patch_path(text)?;
    let resolved = schema.resolve(&parsed.attr);
    if parsed.filter.is_some() && (resolved.attr.is_none() || resolved.sub_attr.is_some()) {
        return Err(ScimError::invalid_path(format!(
            "'{text}': a value filter must follow a (multi-valued) attribute name"
        )));
    }
    let filter_sub_def = match (resolved.def, parsed.sub_attr.as_deref()) {
        (Some(d), Some(s)) => d.sub(s),
        _ => None,
    };
    Ok(Target {
        text: text.to_string(),
        resolved,
        filter: parsed.filter,
        filter_sub: parsed.sub_attr,
        filter_sub_def,
    })
}

pub(super) fn apply_op(
    res: &mut Value,
    op: &PatchOperation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Some(text) = &op.path else {
        if op.op == OpKind::Remove {
            return Err(ScimError::no_target("'remove' requires a 'path'"));
        }
        return match &op.value {
            Some(Value::Object(map)) => apply_pathless(res, op.op, map, schema, None),
            _ => Err(ScimError::invalid_syntax(
                "'add'/'replace' without 'path' requires an object 'value'",
            )),
        };
    };
    let target = parse_target(text, schema)?;
    if target.is_read_only() {
        return Err(ScimError::mutability(format!("'{text}' is readOnly")));
    }
    if target.resolved.attr.is_none() {
        return apply_container(res, op.op, &target, op.value.as_ref(), schema);
    }
    apply_target(res, op.op, &target, op.value.clone())
}

/// Path-less add/replace: each key is a path of its own; URN keys holding objects are
/// containers (extensions, or the legacy core URN meaning the top level).
fn apply_pathless(
    res: &mut Value,
    kind: OpKind,
    map: &Map<String, Value>,
    schema: &ResourceSchema,
    container: Option<&str>,
) -> Result<(), ScimError> {
    for (key, v) in map {
        if container.is_none() && key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let (None, Some(inner), true) = (container, v.as_object(), starts_with_urn(key)) {
            match schema.split_known_urn(key) {
                Some((urn, None)) if is_core_urn(urn, schema) => {
                    apply_pathless(res, kind, inner, schema, None)?;
                    continue;
                }
                Some((urn, None)) => {
                    let read_only = schema.extension(urn).is_some_and(|e| {
                        e.schema
                            .attributes
                            .iter()
                            .all(|a| a.mutability == Mutability::ReadOnly)
                    });
                    if !read_only {
                        apply_pathless(res, kind, inner, schema, Some(urn))?;
                    }
                    continue;
                }
                Some((_, Some(_))) => {} // a URN-qualified attribute: a path like any other
                None => {
                    apply_pathless(res, kind, inner, schema, Some(key))?;
                    continue;
                }
            }
        }
        let text = match container {
            Some(c) => format!("{c}:{key}"),
            None => key.clone(),
        };
        let target = parse_target(&text, schema)?;
        if target.is_read_only() {
            continue; // RFC 7643 §7: readOnly values sent by clients are ignored.
        }
        if target.resolved.attr.is_none() {
            apply_container(res, kind, &target, Some(v), schema)?;
            continue;
        }
        apply_target(res, kind, &target, Some(v.clone()))?;
    }
    Ok(())
}

fn starts_with_urn(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// A path that is a bare schema URN: the whole extension (or, for a core URN, the top level).
fn apply_container(
    res: &mut Value,
    kind: OpKind,
    target: &Target<'_>,
    value: Option<&Value>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let container = target.resolved.container.as_deref();
    match (kind, value) {
        (OpKind::Remove, _) | (_, Some(Value::Null)) => {
            let Some(urn) = container else {
                return Err(ScimError::invalid_path(format!(
                    "'{}': the core schema cannot be removed",
                    target.text
                )));
            };
            if let Some(root) = res.as_object_mut() {
                json::remove_ci(root, urn);
                drop_schema(root, urn);
            }
            Ok(())
        }
        (_, Some(Value::Object(map))) => apply_pathless(res, kind, map, schema, container),
        _ => Err(ScimError::invalid_value(format!(
            "'{}' names a schema; its value must be an object of attributes",
            target.text
        ))),
    }
}

fn apply_target(
    res: &mut Value,
    kind: OpKind,
    target: &Target<'_>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let Some(root) = res.as_object_mut() else {
        return Err(ScimError::new(
            500,
            None,
            "stored resource is not a JSON object",
        ));
    };
    let r = &target.resolved;
    let attr = r.attr.as_deref().unwrap_or_default();
    let name = r.def.map_or(attr, |d| d.name);
    let Some(urn) = r.container.as_deref() else {
        return apply_in(root, kind, target, name, value);
    };
    if kind == OpKind::Remove && json::get_ci(root, urn).is_none() {
        return Ok(());
    }
    if kind != OpKind::Remove {
        ensure_schema(root, urn);
    }
    let now_empty = {
        let container = json::object_at(root, urn);
        apply_in(container, kind, target, name, value)?;
        container.is_empty()
    };
    if now_empty {
        json::remove_ci(root, urn);
        drop_schema(root, urn);
    }
    Ok(())
}

fn apply_in(
    map: &mut Map<String, Value>,
    kind: OpKind,
    target: &Target<'_>,
    name: &str,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let r = &target.resolved;
    if let Some(filter) = &target.filter {
        let sub = target
            .filter_sub
            .as_deref()
            .map(|s| (s, target.filter_sub_def));
        return apply_filtered(map, kind, name, r.def, filter, sub, value, &target.text);
    }
    if let Some(sub) = r.sub_attr.as_deref() {
        return apply_sub(
            map,
            kind,
            name,
            r.def,
            (sub, r.sub_def),
            value,
            &target.text,
        );
    }
    apply_attr(map, kind, name, r.def, value, &target.text)
}

/// `attr` (no sub-attribute, no filter).
fn apply_attr(
    map: &mut Map<String, Value>,
    kind: OpKind,
    name: &str,
    def: Option<&AttributeDef>,
    value: Option<Value>,
    text: &str,
) -> Result<(), ScimError> {
    let multi = def.map_or_else(
        || {
            json::get_ci(map, name).is_some_and(Value::is_array)
                || value.as_ref().is_some_and(Value::is_array)
        },
        |d| d.multi_valued,
    );
    if kind == OpKind::Remove {
        match value {
            // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]} removes
            // just those members.
            Some(v) if multi && !v.is_null() => {
                let items = match coerce(def, v)? {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                remove_elements(map, name, def, &items);
            }
            _ => {
                json::remove_ci(map, name);
            }
        }
        return Ok(());
    }
    let v = coerce(def, value.unwrap_or(Value::Null))?;
    if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
        if !(kind == OpKind::Add && multi) {
            json::remove_ci(map, name);
        }
        return Ok(());
    }
    if multi {
        let items = match v {
            Value::Array(items) => items,
            other => vec![other],
        };
        if kind == OpKind::Add {
            let arr = array_at(map, name);
            let touched = append_dedup(arr, def, items);
            fix_primary(arr, &touched);
        } else {
            let mut arr = Vec::with_capacity(items.len());
            let touched = append_dedup(&mut arr, def, items);
            fix_primary(&mut arr, &touched);
            json::set_ci(map, name, Value::Array(arr));
        }
        return Ok(());
    }
    check_immutable(def, json::get_ci(map, name), &v, text)?;
    let complex = def.is_none_or(|d| d.kind == AttrKind::Complex);
    match (json::get_ci_mut(map, name), v) {
        // RFC 7644 §3.5.2.1/3: sub-attributes given replace, the others stay.
        (Some(Value::Object(existing)), Value::Object(new)) if complex => {
            json::merge(existing, new)
        }
        (_, v) => json::set_ci(map, name, v),
    }
    Ok(())
}

/// `attr.sub` (no filter): a sub-attribute of a single complex attribute, or of every
/// element of a multi-valued one.
fn apply_sub(
    map: &mut Map<String, Value>,
    kind: OpKind,
    name: &str,
    def: Option<&AttributeDef>,
    (sub, sub_def): (&str, Option<&AttributeDef>),
    value: Option<Value>,
    text: &str,
) -> Result<(), ScimError> {
    let multi = def.map_or_else(
        || json::get_ci(map, name).is_some_and(Value::is_array),
        |d| d.multi_valued,
    );
    let sub_name = sub_def.map_or(sub, |d| d.name);
    if multi {
        let Some(Value::Array(arr)) = json::get_ci_mut(map, name) else {
            return match kind {
                OpKind::Remove => Ok(()),
                _ => Err(ScimError::no_target(format!(
                    "'{text}': '{name}' has no values"
                ))),
            };
        };
        if kind == OpKind::Remove {
            for m in arr.iter_mut().filter_map(Value::as_object_mut) {
                json::remove_ci(m, sub);
            }
            return Ok(());
        }
        if arr.is_empty() {
            return Err(ScimError::no_target(format!(
                "'{text}': '{name}' has no values"
            )));
        }
        let v = coerce(sub_def, value.unwrap_or(Value::Null))?;
        for m in arr.iter_mut().filter_map(Value::as_object_mut) {
            set_sub(m, sub_name, sub_def, &v, text)?;
        }
        return Ok(());
    }
    if kind == OpKind::Remove {
        let now_empty = match json::get_ci_mut(map, name) {
            Some(Value::Object(m)) => {
                json::remove_ci(m, sub);
                m.is_empty()
            }
            _ => false,
        };
        if now_empty {
            json::remove_ci(map, name);
        }
        return Ok(());
    }
    let v = coerce(sub_def, value.unwrap_or(Value::Null))?;
    // `manager.value` set to "" clears the manager (Entra).
    let reference = def.is_some_and(|d| d.kind == AttrKind::Complex && d.sub("value").is_some());
    let blank = v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
    if reference && sub_name.eq_ignore_ascii_case("value") && blank {
        json::remove_ci(map, name);
        return Ok(());
    }
    if v.is_null() && json::get_ci(map, name).is_none() {
        return Ok(());
    }
    let now_empty = {
        let obj = json::object_at(map, name);
        set_sub(obj, sub_name, sub_def, &v, text)?;
        obj.is_empty()
    };
    if now_empty {
        json::remove_ci(map, name);
    }
    Ok(())
}

pub(super) fn set_sub(
    obj: &mut Map<String, Value>,
    sub_name: &str,
    sub_def: Option<&AttributeDef>,
    v: &Value,
    text: &str,
) -> Result<(), ScimError> {
    check_immutable(sub_def, json::get_ci(obj, sub_name), v, text)?;
    if v.is_null() {
        json::remove_ci(obj, sub_name);
    } else {
        json::set_ci(obj, sub_name, v.clone());
    }
    Ok(())
}

pub(super) fn check_immutable(
    def: Option<&AttributeDef>,
    existing: Option<&Value>,
    new: &Value,
    text: &str,
) -> Result<(), ScimError> {
    let immutable = def.is_some_and(|d| d.mutability == Mutability::Immutable);
    match existing {
        Some(e) if immutable && !e.is_null() && e != new => Err(ScimError::mutability(format!(
            "'{text}' is immutable and already has a value"
        ))),
        _ => Ok(()),
    }
}

fn ensure_schema(root: &mut Map<String, Value>, urn: &str) {
    let list = match json::get_ci_mut(root, "schemas") {
        Some(Value::Array(list)) => list,
        _ => return,
    };
    if !list
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        list.push(Value::String(urn.to_string()));
    }
}

fn drop_schema(root: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(list)) = json::get_ci_mut(root, "schemas") {
        list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    }
}
