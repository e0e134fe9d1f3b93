//! A stored user as the IdP reads it: what it wrote, the server's `id` and `meta`, and
//! the bridge's read-only extension showing what the upstream really has.
use serde_json::{json, Map, Value};

use crate::scim::etag::etag;
use crate::scim::schema::{BRIDGE_USER_SCHEMA, USER_SCHEMA};
use crate::store::UserRecord;

/// `base` is the public URL of the SCIM root (`https://host/scim/v2`), or empty for
/// relative locations.
pub fn render_user(user: &UserRecord, base: &str) -> Value {
    render_user_from(user.resource.clone(), user, base)
}

/// [`render_user`] for a record the caller is done with: its resource is moved into the
/// answer rather than copied (a read path renders every user it loads exactly once).
pub fn render_user_owned(mut user: UserRecord, base: &str) -> Value {
    let resource = std::mem::take(&mut user.resource);
    render_user_from(resource, &user, base)
}

/// `resource` (the user's stored attributes) with the server's `id`, `meta` and the
/// bridge extension of `user` added.
fn render_user_from(resource: Value, user: &UserRecord, base: &str) -> Value {
    let mut out = match resource {
        Value::Object(map) => map,
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
    // Unset attributes are left out (RFC 7643 §2.5), not sent as `null`.
    let mut bridge = json!({
        "upstreamId": link.upstream_id,
        "upstreamUsername": link.upstream_username,
        "roles": link.roles,
        "accountScope": link.account_scope,
        "accounts": link.accounts,
        "syncState": link.sync_state.as_str(),
        "lastError": link.last_error,
        "lastSyncedAt": link.last_synced_at.map(|t| t.to_rfc3339()),
    });
    if let Some(map) = bridge.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    out.insert(BRIDGE_USER_SCHEMA.into(), bridge);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.meta.created.to_rfc3339(),
            "lastModified": user.meta.last_modified.to_rfc3339(),
            "location": format!("{base}/Users/{}", user.id),
            "version": etag(user.meta.version),
        }),
    );
    Value::Object(out)
}

/// A group as the IdP reads it; `members` only when they were loaded (a read with
/// `excludedAttributes=members` never touches the membership rows).
pub fn render_group(view: &crate::provision::groups::GroupView, base: &str) -> Value {
    let group = &view.group;
    let mut out = match &group.resource {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if !out.contains_key("schemas") {
        out.insert("schemas".into(), json!([crate::scim::schema::GROUP_SCHEMA]));
    }
    out.insert("id".into(), Value::String(group.id.clone()));
    if let Some(members) = &view.members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m.user_id, "display": m.display, "type": "User", "$ref": format!("{base}/Users/{}", m.user_id)}))
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": group.created.to_rfc3339(),
            "lastModified": group.last_modified.to_rfc3339(),
            "location": format!("{base}/Groups/{}", group.id),
            "version": etag(group.version),
        }),
    );
    Value::Object(out)
}

/// Adds the read-only `groups` attribute computed from memberships.
pub fn with_groups(mut user: Value, groups: &[crate::store::GroupRef], base: &str) -> Value {
    if let Some(obj) = user.as_object_mut() {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct", "$ref": format!("{base}/Groups/{}", g.id)}))
            .collect();
        obj.insert("groups".into(), Value::Array(list));
    }
    user
}
