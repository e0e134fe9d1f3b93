//! PATCH engine (RFC 7644 §3.5.2) applied to a resource's stored JSON, with the IdP
//! dialects (Entra's capitalised ops and string booleans, path-less dotted keys, ...)
//! normalised first.
//!
//! Layout: this file reads the PatchOp message and runs the operations atomically;
//! `patch/apply.rs` applies one operation, `patch/lists.rs` handles multi-valued
//! attributes (value filters, de-duplication, `primary`), `patch/value.rs` types client
//! values against the schema, `patch/json.rs` holds the case-insensitive JSON helpers,
//! `patch/tests.rs` the table of cases.
//!
//! # Semantic choices (each one where the RFC is silent or an IdP deviates)
//! - **Message.** `schemas` may be missing (lenient: nothing is ambiguous without it, and
//!   rejecting costs a provisioning failure); when present it must contain the PatchOp URN,
//!   else `400 invalidSyntax`. `Operations` is found case-insensitively and must be a
//!   non-empty array; member names `op`/`path`/`value` are also case-insensitive; `op`
//!   values are case-insensitive (Entra sends `Replace`). An empty `path` is no path.
//! - **Atomic.** Operations run on a copy; the stored resource changes only if all succeed.
//! - **Path-less add/replace**: every key of the value object is itself a path (so Entra's
//!   `name.givenName`, `emails[type eq "work"].value` and URN-qualified keys work); a key
//!   that is a schema URN with an object value is a container whose attributes are
//!   applied one by one (merged for add and replace alike: RFC 7644 says the value lists
//!   "attributes to be replaced", and the extension is not an attribute). Legacy core URN
//!   keys (OneLogin) apply to the top level.
//! - **readOnly** (`id`, `meta`, `groups`, `schemas`, the bridge extension, manager
//!   `displayName`): ignored when inside a value; an explicit `path` to one is
//!   `400 mutability`. **immutable** (member `value`/`type`/`$ref`): setting a different
//!   value where one exists is `400 mutability`.
//! - **required** (`userName`, Group `displayName`): a PATCH that leaves it unassigned
//!   (remove, `null`, `""`) is `400 invalidValue` ("a required value was missing",
//!   RFC 7644 §3.12), checked once after all operations.
//! - **null / empty** values unassign (RFC 7643 §2.5), so `add`/`replace` with `null`
//!   removes the attribute; the enterprise `manager` also unassigns on `""` and
//!   `{"value": ""}` (Entra clears a manager that way).
//! - **Multi-valued add** appends, merging into an existing element with the same `value`
//!   (compared as the sub-attribute's caseExact says) instead of duplicating it.
//!   **replace** without filter replaces the whole list. **remove** with a `value` list
//!   removes only those elements (matched by `value`), without a value removes all.
//! - **Value filters.** `add` whose filter matches nothing creates the element from the
//!   filter's `eq` terms (Entra's documented `phoneNumbers[type eq "mobile"].value`);
//!   `replace` does the same when the path ends in a sub-attribute (Entra sends `Replace`
//!   on `emails[type eq "work"].value` for users stored without a work email). Otherwise
//!   (no sub-attribute, or a filter that is not an `and` of `eq`s) a replace that matches
//!   nothing is `400 noTarget` as RFC 7644 §3.5.2.3 requires. `remove` whose filter
//!   matches nothing succeeds without change: the state the client asked for holds, and
//!   Okta/Entra retry removals of members already gone.
//! - A `remove` without `path` is `400 noTarget` (RFC 7644 §3.5.2.2).
//! - Unknown attributes pass the engine untouched (the provisioning layer then applies
//!   [`validate`](super::validate), which ignores what no served schema defines); known
//!   ones are type-checked (`400 invalidValue`), booleans accept `"True"`/`"False"` in any case, numbers given for a
//!   string are stringified, a bare string for a complex attribute with a `value`
//!   sub-attribute becomes `{"value": ..}`, a one-element array for a single-valued
//!   attribute is unwrapped.
//! - Keys are matched case-insensitively against what is stored; new keys take the
//!   schema's spelling. An element written with `primary: true` clears `primary` on the
//!   other elements of that attribute.
//! - Writing an extension attribute adds the extension URN to `schemas`; emptying an
//!   extension removes its object and URN. Legacy OneLogin URNs in the stored resource
//!   are normalised ([`normalize_schemas`](super::schema::normalize_schemas)).
use serde_json::Value;

use super::error::ScimError;
use super::schema::ResourceSchema;

mod apply;
mod json;
mod lists;
#[cfg(test)]
mod tests;
mod value;

/// RFC 7644 §3.5.2 message schema.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PatchOp message, after the dialect normalisation of the envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    /// `None` when absent or empty.
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// What a successful PATCH changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOutcome {
    /// Top-level keys (attribute names as stored, or extension URNs) whose value differs
    /// from before, sorted. Empty: the PATCH was a no-op (don't bump `meta.lastModified`,
    /// don't call the upstream).
    pub changed: Vec<String>,
}

impl PatchOutcome {
    pub fn is_modified(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Whether `name` (case-insensitive) is among the changed top-level keys.
    pub fn changed(&self, name: &str) -> bool {
        self.changed.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Reads a PatchOp message (RFC 7644 §3.5.2) into operations. `400 invalidSyntax` when it
/// is not one; paths are not parsed here.
pub fn parse_patch_body(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(
            "PATCH body must be a JSON object",
        ));
    };
    if let Some(schemas) = json::get_ci(obj, "schemas") {
        let ok = match schemas {
            Value::Array(list) => list.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            }),
            Value::String(s) => s.eq_ignore_ascii_case(PATCH_OP_SCHEMA),
            _ => false,
        };
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "PATCH body 'schemas' must contain \"{PATCH_OP_SCHEMA}\""
            )));
        }
    }
    let Some(ops) = json::get_ci(obj, "Operations") else {
        return Err(ScimError::invalid_syntax("PATCH body has no 'Operations'"));
    };
    let Value::Array(ops) = ops else {
        return Err(ScimError::invalid_syntax("'Operations' must be an array"));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' must not be empty"));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect()
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let Value::Object(obj) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}] must be an object"
        )));
    };
    let kind = match json::get_ci(obj, "op") {
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("add") => OpKind::Add,
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(Value::String(s)) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: unknown op '{s}' (expected add, replace or remove)"
            )))
        }
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}] has no string 'op'"
            )))
        }
    };
    let path = match json::get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}]: 'path' must be a string"
            )))
        }
    };
    let value = json::get_ci(obj, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}]: '{}' requires a 'value'",
            if kind == OpKind::Add {
                "add"
            } else {
                "replace"
            }
        )));
    }
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}

/// Applies a PatchOp message to `resource` (the stored JSON of one resource of type
/// `schema`). On error `resource` is unchanged. Pure: no I/O, no clock.
pub fn apply_patch(
    resource: &mut Value,
    body: &Value,
    schema: &ResourceSchema,
) -> Result<PatchOutcome, ScimError> {
    let ops = parse_patch_body(body)?;
    apply_operations(resource, &ops, schema)
}

/// Applies already-parsed operations, atomically (see [`apply_patch`]).
pub fn apply_operations(
    resource: &mut Value,
    ops: &[PatchOperation],
    schema: &ResourceSchema,
) -> Result<PatchOutcome, ScimError> {
    if !resource.is_object() {
        return Err(ScimError::new(
            500,
            None,
            "stored resource is not a JSON object",
        ));
    }
    let mut work = resource.clone();
    super::schema::normalize_schemas(&mut work);
    for (i, op) in ops.iter().enumerate() {
        apply::apply_op(&mut work, op, schema).map_err(|mut e| {
            e.detail = format!("Operations[{i}]: {}", e.detail);
            e
        })?;
    }
    check_required(resource, &work, schema)?;
    let changed = changed_keys(resource, &work);
    *resource = work;
    Ok(PatchOutcome { changed })
}

/// RFC 7643 `required`: a PATCH must not leave a required attribute unassigned. Checked
/// after all operations so every route (remove, null, "") is covered once; a resource
/// that already lacked it (legacy data) is not blamed on this PATCH. Attributes required
/// only by Bandwidth (`required_upstream`) are left to the provisioning mapping, which
/// knows their fallbacks.
fn check_required(before: &Value, after: &Value, schema: &ResourceSchema) -> Result<(), ScimError> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Ok(());
    };
    let assigned = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    for def in schema
        .common
        .iter()
        .chain(schema.core.attributes.iter())
        .filter(|d| d.required && !d.required_upstream)
    {
        if assigned(json::get_ci(before, def.name)) && !assigned(json::get_ci(after, def.name)) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required and cannot be removed",
                def.name
            )));
        }
    }
    Ok(())
}

fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(
            before
                .keys()
                .filter(|k| !after.contains_key(k.as_str()))
                .cloned(),
        )
        .collect();
    changed.sort();
    changed.dedup();
    changed
}
