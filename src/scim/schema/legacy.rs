//! OneLogin's older templates send `urn:scim:schemas:core:2.0` style URNs: they are read
//! as the current core schemas, so everything downstream sees one spelling.
use serde_json::Value;

use super::{
    GROUP_SCHEMA, LEGACY_CORE_GROUP_SCHEMA, LEGACY_CORE_SCHEMA, LEGACY_CORE_USER_SCHEMA,
    USER_SCHEMA,
};

/// Rewrites legacy (OneLogin) core URNs to the current ones in `schemas`, and lifts any
/// attributes nested under a legacy-URN key to the top level, so everything downstream
/// sees one spelling. An attribute nested under the legacy key overrides a top-level one
/// of the same name (the nested object is what the client meant to send).
pub fn normalize_schemas(resource: &mut Value) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    if let Some(schemas) = obj.get_mut("schemas") {
        if let Some(list) = schemas.as_array_mut() {
            let mut out: Vec<Value> = Vec::with_capacity(list.len());
            for entry in list.drain(..) {
                let mapped = match entry.as_str() {
                    Some(u)
                        if u.eq_ignore_ascii_case(LEGACY_CORE_SCHEMA)
                            || u.eq_ignore_ascii_case(LEGACY_CORE_USER_SCHEMA) =>
                    {
                        Value::String(USER_SCHEMA.into())
                    }
                    Some(u) if u.eq_ignore_ascii_case(LEGACY_CORE_GROUP_SCHEMA) => {
                        Value::String(GROUP_SCHEMA.into())
                    }
                    _ => entry,
                };
                if !out.contains(&mapped) {
                    out.push(mapped);
                }
            }
            *list = out;
        }
    }
    let legacy_keys: Vec<String> = obj
        .keys()
        .filter(|k| {
            k.eq_ignore_ascii_case(LEGACY_CORE_SCHEMA)
                || k.eq_ignore_ascii_case(LEGACY_CORE_USER_SCHEMA)
                || k.eq_ignore_ascii_case(LEGACY_CORE_GROUP_SCHEMA)
        })
        .cloned()
        .collect();
    for key in legacy_keys {
        if !obj.get(&key).is_some_and(Value::is_object) {
            continue;
        }
        if let Some(Value::Object(nested)) = obj.remove(&key) {
            for (k, v) in nested {
                let existing: Vec<String> = obj
                    .keys()
                    .filter(|e| e.eq_ignore_ascii_case(&k))
                    .cloned()
                    .collect();
                for e in existing {
                    obj.remove(&e);
                }
                obj.insert(k, v);
            }
        }
    }
}
