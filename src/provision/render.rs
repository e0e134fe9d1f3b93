//! A stored user as the IdP reads it: what it wrote, the server's `id` and `meta`, and
//! the bridge's read-only extension showing what the upstream really has.
use serde_json::{json, Map, Value};

use crate::scim::schema::{BRIDGE_USER_SCHEMA, USER_SCHEMA};
use crate::store::UserRecord;

/// The ETag of a version, also `meta.version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `base` is the public URL of the SCIM root (`https://host/scim/v2`), or empty for
/// relative locations.
pub fn render_user(user: &UserRecord, base: &str) -> Value {
    let mut out = match &user.resource {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut schemas: Vec<Value> = out
        .get("schemas")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![Value::String(USER_SCHEMA.into())]);
    if !schemas
        .iter()
        .any(|s| s.as_str() == Some(BRIDGE_USER_SCHEMA))
    {
        schemas.push(Value::String(BRIDGE_USER_SCHEMA.into()));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(user.id.clone()));
    let link = &user.link;
    out.insert(
        BRIDGE_USER_SCHEMA.into(),
        json!({
            "upstreamId": link.upstream_id,
            "upstreamUsername": link.upstream_username,
            "roles": link.roles,
            "accountScope": link.account_scope,
            "accounts": link.accounts,
            "syncState": link.sync_state.as_str(),
            "lastError": link.last_error,
            "lastSyncedAt": link.last_synced_at.map(|t| t.to_rfc3339()),
        }),
    );
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.created.to_rfc3339(),
            "lastModified": user.last_modified.to_rfc3339(),
            "location": format!("{base}/Users/{}", user.id),
            "version": etag(user.version),
        }),
    );
    Value::Object(out)
}
