//! In-memory evaluation of a parsed filter against a resource's stored JSON.
//!
//! # Semantics (RFC 7644 §3.4.2.2 plus the choices the RFC leaves open)
//! - **Names** are looked up case-insensitively in the JSON objects. A URN-qualified path
//!   looks inside the extension object keyed by that URN; core-schema URNs
//!   (`urn:ietf:params:scim:schemas:core:2.0:*` and the legacy `urn:scim:schemas:core:2.0[:*]`
//!   that older OneLogin templates send) mean the top level. An unqualified path only
//!   looks at the top level: extension attributes must be qualified, as the RFC requires.
//! - **Unknown attribute** (`kind_of` is `None`): the attribute expression is false — for
//!   every operator, including `ne`, `pr` and `eq null`. Logical operators then apply
//!   normally, so `not (unknown eq "x")` is true. This is the RFC's "treated as not
//!   matching" applied to the expression, and it never turns a typo into an error (500s
//!   make Entra create duplicates); `check_filter` does not reject unknown names either.
//! - **Multi-valued** attributes match if ANY value matches (`emails.value eq "x"`). A
//!   complex attribute compared without a sub-attribute (`emails eq "x"`) compares each
//!   element's `value` sub-attribute, typed by `kind_of(emails.value)`.
//! - **Absent = null = empty**: RFC 7643 §2.5 makes unassigned, `null` and `[]` the same
//!   state; we add `""` and `{}`/objects with no present member. `pr` is true when some
//!   value is in none of those states; `eq null` is exactly `not pr`, `ne null` is `pr`.
//! - **`ne` on a missing value is false.** `ne` is "some present value differs", the
//!   mirror of `eq`'s "some present value equals"; so `title ne "x"` does not return users
//!   without a title (use `not (title eq "x")` for that). For multi-valued attributes this
//!   means `emails.value ne "a"` matches a user with emails `a` and `b`.
//! - **Strings** compare case-insensitively (Unicode lower-casing) unless the attribute is
//!   `caseExact`; `reference` and `binary` are always case-exact. `gt`/`ge`/`lt`/`le` on
//!   strings are code-point lexicographic after that folding. A number or boolean filter
//!   value against a string attribute is compared by its text (`employeeNumber eq 42`).
//! - **Booleans** support only `eq`/`ne`; stored or filter strings `"true"`/`"false"`
//!   (any case, Entra's `"True"`) count as booleans.
//! - **Numbers** (`integer`/`decimal`) compare numerically; integers exactly, otherwise as
//!   f64. Numeric strings are accepted on either side. `co`/`sw`/`ew` never match.
//! - **DateTime** values are parsed (RFC 3339; a timestamp without offset is taken as UTC)
//!   and compared as instants. If either side does not parse, the expression is false
//!   (also under `ne`). `co`/`sw`/`ew` never match.
//! - Type/operator combinations the RFC calls invalid (`active gt true`, `x co null`)
//!   evaluate to false here; `check_filter` reports them as `400 invalidFilter` for callers
//!   that want the RFC behaviour.
use super::super::schema::{AttrKind, AttributeTypes};
use super::{AttrPath, CompValue, CompareOp, Filter, ScimError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use std::cmp::Ordering;

/// Core-schema URN prefixes: a path qualified with one of these addresses the top level.
const CORE_URN_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";
const LEGACY_CORE_URN: &str = "urn:scim:schemas:core:2.0";

/// Where paths are resolved: the resource itself, or one element of a multi-valued
/// attribute inside `parent[...]` (paths there name the element's sub-attributes).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a Value),
    Element {
        parent: &'a AttrPath,
        elem: &'a Value,
    },
}

pub(super) fn matches(filter: &Filter, resource: &Value, types: &dyn AttributeTypes) -> bool {
    eval(filter, Scope::Resource(resource), types)
}

fn eval(filter: &Filter, scope: Scope<'_>, types: &dyn AttributeTypes) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, scope, types) && eval(b, scope, types),
        Filter::Or(a, b) => eval(a, scope, types) || eval(b, scope, types),
        Filter::Not(a) => !eval(a, scope, types),
        Filter::Present(path) => {
            let Some((_, values)) = resolve(scope, path, types) else {
                return false;
            };
            values.into_iter().any(is_present)
        }
        Filter::Compare { path, op, value } => compare(scope, path, *op, value, types),
        Filter::ValuePath { attr, filter } => {
            // The parser never nests value paths; a hand-built nested one matches nothing.
            let Scope::Resource(resource) = scope else {
                return false;
            };
            if types.kind_of(attr).is_none() {
                return false;
            }
            let Some(value) = lookup_attr(resource, attr) else {
                return false;
            };
            let elems: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            elems.into_iter().any(|elem| {
                !elem.is_null() && eval(filter, Scope::Element { parent: attr, elem }, types)
            })
        }
    }
}

fn compare(
    scope: Scope<'_>,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    types: &dyn AttributeTypes,
) -> bool {
    let Some((kind, values)) = resolve(scope, path, types) else {
        return false;
    };
    if *value == CompValue::Null {
        let present = values.into_iter().any(is_present);
        return match op {
            CompareOp::Eq => !present,
            CompareOp::Ne => present,
            _ => false,
        };
    }
    let (kind, values) = if kind == AttrKind::Complex {
        // `emails eq "x"` means `emails.value eq "x"`.
        let Scope::Resource(_) = scope else {
            return false;
        };
        if path.sub_attr.is_some() {
            return false;
        }
        let value_path = AttrPath {
            sub_attr: Some("value".to_string()),
            ..path.clone()
        };
        let Some(kind) = types.kind_of(&value_path) else {
            return false;
        };
        let mut inner = Vec::new();
        for v in values {
            if let Some(x) = get_ci(v, "value") {
                flatten(x, &mut inner);
            }
        }
        (kind, inner)
    } else {
        (kind, values)
    };
    values.into_iter().any(|v| compare_one(kind, v, op, value))
}

/// The attribute's type and its non-null values (multi-valued attributes flattened), or
/// `None` if the attribute is unknown.
fn resolve<'v>(
    scope: Scope<'v>,
    path: &AttrPath,
    types: &dyn AttributeTypes,
) -> Option<(AttrKind, Vec<&'v Value>)> {
    let mut out = Vec::new();
    match scope {
        Scope::Resource(resource) => {
            let kind = types.kind_of(path)?;
            lookup_values(resource, path, &mut out);
            Some((kind, out))
        }
        Scope::Element { parent, elem } => {
            let type_path = AttrPath {
                schema: parent.schema.clone(),
                attr: parent.attr.clone(),
                sub_attr: Some(path.attr.clone()),
            };
            let kind = types.kind_of(&type_path)?;
            let v = match elem {
                Value::Object(_) => get_ci(elem, &path.attr),
                // A multi-valued simple attribute's element is its own `value`.
                _ if path.attr.eq_ignore_ascii_case("value") => Some(elem),
                _ => None,
            };
            if let Some(v) = v {
                flatten(v, &mut out);
            }
            Some((kind, out))
        }
    }
}

/// The attribute `path.attr` (ignoring any sub-attribute), inside the extension object
/// when the path is qualified with a non-core URN.
fn lookup_attr<'v>(resource: &'v Value, path: &AttrPath) -> Option<&'v Value> {
    let container = match &path.schema {
        Some(urn) if !is_core_urn(urn) => get_ci(resource, urn)?,
        _ => resource,
    };
    get_ci(container, &path.attr)
}

/// Pushes the non-null values at `path`: the attribute's values, or its sub-attribute's
/// values collected across the elements when the attribute is multi-valued.
fn lookup_values<'v>(resource: &'v Value, path: &AttrPath, out: &mut Vec<&'v Value>) {
    let Some(attr) = lookup_attr(resource, path) else {
        return;
    };
    match &path.sub_attr {
        None => flatten(attr, out),
        Some(sub) => match attr {
            Value::Array(items) => {
                for item in items {
                    if let Some(v) = get_ci(item, sub) {
                        flatten(v, out);
                    }
                }
            }
            other => {
                if let Some(v) = get_ci(other, sub) {
                    flatten(v, out);
                }
            }
        },
    }
}

fn is_core_urn(urn: &str) -> bool {
    let lower = urn.to_ascii_lowercase();
    lower.starts_with(CORE_URN_PREFIX)
        || lower == LEGACY_CORE_URN
        || lower.starts_with(&format!("{LEGACY_CORE_URN}:"))
}

/// Case-insensitive member lookup (exact spelling first, the common case).
fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Pushes the non-null values of `v` (the elements, if it is an array).
fn flatten<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|x| !x.is_null())),
        other => out.push(other),
    }
}

/// "Has a value": not null, not `""`, not an empty array/object, and for containers at
/// least one member that has a value (`{"value": null}` is as good as absent).
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => map.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare_one(kind: AttrKind, stored: &Value, op: CompareOp, value: &CompValue) -> bool {
    match kind {
        AttrKind::String { case_exact } => compare_str(stored, op, value, case_exact),
        AttrKind::Reference | AttrKind::Binary => compare_str(stored, op, value, true),
        AttrKind::Boolean => match (as_bool_json(stored), as_bool_filter(value)) {
            (Some(a), Some(b)) => match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                _ => false,
            },
            _ => false,
        },
        AttrKind::Integer | AttrKind::Decimal => {
            let a = match stored {
                Value::Number(n) => Some(n.clone()),
                Value::String(s) => super::parse::parse_number(s.trim()),
                _ => None,
            };
            let b = match value {
                CompValue::Number(n) => Some(n.clone()),
                CompValue::String(s) => super::parse::parse_number(s.trim()),
                _ => None,
            };
            match (a, b) {
                (Some(a), Some(b)) => num_cmp(&a, &b).is_some_and(|o| ordering_op(o, op)),
                _ => false,
            }
        }
        AttrKind::DateTime => {
            let (Value::String(a), CompValue::String(b)) = (stored, value) else {
                return false;
            };
            match (parse_datetime(a), parse_datetime(b)) {
                (Some(a), Some(b)) => ordering_op(a.cmp(&b), op),
                _ => false,
            }
        }
        AttrKind::Complex => false,
    }
}

fn compare_str(stored: &Value, op: CompareOp, value: &CompValue, case_exact: bool) -> bool {
    let a = match stored {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    let b = match value {
        CompValue::String(s) => s.clone(),
        CompValue::Number(n) => n.to_string(),
        CompValue::Bool(b) => b.to_string(),
        CompValue::Null => return false,
    };
    let (a, b) = if case_exact {
        (a, b)
    } else {
        (a.to_lowercase(), b.to_lowercase())
    };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordering_op(a.cmp(&b), op),
    }
}

/// Applies an ordering operator; the substring operators never match here.
fn ordering_op(ord: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn as_bool_json(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => crate::scim::validate::bool_text(s),
        _ => None,
    }
}

fn as_bool_filter(v: &CompValue) -> Option<bool> {
    match v {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) => crate::scim::validate::bool_text(s),
        _ => None,
    }
}

/// Integers compare exactly (i128 holds both i64 and u64); anything else as f64.
fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// RFC 3339 (`xsd:dateTime` with offset); without an offset the instant is taken as UTC.
fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Optional strict check for the HTTP layer: reports the type/operator combinations
/// RFC 7644 §3.4.2.2 says SHALL be `400 invalidFilter` (ordering or substring operators on
/// booleans and binaries, any operator but `eq`/`ne` with `null`). Unknown attributes are
/// not an error (they simply match nothing, see the module docs).
pub fn check_filter(filter: &Filter, types: &dyn AttributeTypes) -> Result<(), ScimError> {
    check(filter, None, types)
}

fn check(
    filter: &Filter,
    parent: Option<&AttrPath>,
    types: &dyn AttributeTypes,
) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, parent, types)?;
            check(b, parent, types)
        }
        Filter::Not(a) => check(a, parent, types),
        Filter::Present(_) => Ok(()),
        Filter::ValuePath { attr, filter } => check(filter, Some(attr), types),
        Filter::Compare { path, op, value } => {
            let written = match parent {
                Some(p) => format!("{p}[{path}]"),
                None => path.to_string(),
            };
            if *value == CompValue::Null && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(ScimError::invalid_filter(format!(
                    "operator '{op}' cannot compare '{written}' with null (only eq and ne can)"
                )));
            }
            let full = match parent {
                Some(p) => AttrPath {
                    sub_attr: Some(path.attr.clone()),
                    ..p.clone()
                },
                None => path.clone(),
            };
            let kind = match types.kind_of(&full) {
                Some(AttrKind::Complex) if full.sub_attr.is_none() => types.kind_of(&AttrPath {
                    sub_attr: Some("value".into()),
                    ..full
                }),
                k => k,
            };
            let bad = match kind {
                Some(AttrKind::Boolean) => "boolean",
                Some(AttrKind::Binary) => "binary",
                _ => return Ok(()),
            };
            if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Ok(());
            }
            Err(ScimError::invalid_filter(format!(
                "operator '{op}' is not defined for {bad} attribute '{written}' (only eq, ne and pr are)"
            )))
        }
    }
}
