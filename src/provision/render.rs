//! A stored user as the IdP reads it: what it wrote, the server's `id` and `meta`, and
//! the bridge's read-only extension showing what the upstream really has.
//!
//! The rendering is one [`UserDocument`]: serialized straight into an answer when the
//! request's projection would leave it as it is (the IdPs' lookups), or turned into a
//! `Value` when a projection still edits it. Building, projecting and dropping a
//! `Value` only to serialize it was 17,000 of a lookup's 153,000 instructions.
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::provision::catalog::InheritedAccess;
use crate::scim::etag::etag;
use crate::scim::schema::{BRIDGE_USER_SCHEMA, USER_SCHEMA};
use crate::store::{GroupRef, UpstreamLink, UserRecord};

/// `base` is the public URL of the SCIM root (`https://host/scim/v2`), or empty for
/// relative locations.
pub fn render_user(user: &UserRecord, base: &str) -> Value {
    UserDocument::new(user, base).to_value()
}

/// A user's answer as written: its stored attributes, then what the server adds (which
/// replaces a stored attribute of the same name).
pub struct UserDocument<'a> {
    user: &'a UserRecord,
    base: &'a str,
    groups: Option<&'a [GroupRef]>,
    inherited: Option<InheritedAccess>,
}

impl<'a> UserDocument<'a> {
    pub fn new(user: &'a UserRecord, base: &'a str) -> Self {
        Self {
            user,
            base,
            groups: None,
            inherited: None,
        }
    }

    /// With the access the user inherits from base roles and groups shown after its
    /// direct assignments (a tenant that honours direct assignments shows both).
    pub fn with_inherited_access(self) -> Self {
        let inherited = InheritedAccess::of(&self.user.resource, &self.user.link);
        Self {
            inherited: Some(inherited),
            ..self
        }
    }

    /// What inheritance adds to the stored `attr`.
    fn inherited(&self, attr: &str) -> &[Value] {
        self.inherited
            .as_ref()
            .map_or(&[], |i| i.of_attribute(attr))
    }

    /// With the read-only `groups` attribute computed from memberships.
    pub fn with_groups(self, groups: &'a [GroupRef]) -> Self {
        Self {
            groups: Some(groups),
            ..self
        }
    }

    /// The stored attributes (none when the stored resource is not an object).
    pub fn stored(&self) -> Option<&'a Map<String, Value>> {
        self.user.resource.as_object()
    }

    /// The document as a `Value`, for a caller that edits it before answering.
    pub fn to_value(&self) -> Value {
        // Serializing to a `Value` fails only for maps with non-string keys.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether the server writes `key`; a stored attribute of that name is not sent.
    fn added(&self, key: &str) -> bool {
        matches!(key, "schemas" | "id" | "meta" | BRIDGE_USER_SCHEMA)
            || (key == "groups" && self.groups.is_some())
    }
}

impl Serialize for UserDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let user = self.user;
        let mut map = serializer.serialize_map(None)?;
        let stored = self.stored();
        for (key, value) in stored.into_iter().flatten() {
            match (value, self.inherited(key)) {
                _ if self.added(key) => {}
                (Value::Array(items), extra) if !extra.is_empty() => {
                    map.serialize_entry(key, &Chained(items, extra))?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        for (attr, extra) in self.inherited.iter().flat_map(InheritedAccess::attributes) {
            if !extra.is_empty() && !stored.is_some_and(|s| s.contains_key(attr)) {
                map.serialize_entry(attr, extra)?;
            }
        }
        map.serialize_entry("schemas", &Schemas(self.stored()))?;
        map.serialize_entry("id", &user.id)?;
        map.serialize_entry(BRIDGE_USER_SCHEMA, &BridgeView::of(&user.link))?;
        if let Some(groups) = self.groups {
            let listed = GroupList {
                groups,
                base: self.base,
            };
            map.serialize_entry("groups", &listed)?;
        }
        let meta = MetaView {
            resource_type: "User",
            created: user.meta.created.to_rfc3339(),
            last_modified: user.meta.last_modified.to_rfc3339(),
            location: format!("{}/Users/{}", self.base, user.id),
            version: etag(user.meta.version),
        };
        map.serialize_entry("meta", &meta)?;
        map.end()
    }
}

/// Stored list elements followed by added ones.
struct Chained<'a>(&'a [Value], &'a [Value]);

impl Serialize for Chained<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().chain(self.1))
    }
}

/// The stored `schemas` (or the core schema alone), with the bridge's extension added.
struct Schemas<'a>(Option<&'a Map<String, Value>>);

impl Serialize for Schemas<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stored = self
            .0
            .and_then(|m| m.get("schemas"))
            .and_then(Value::as_array);
        let core = [Value::String(USER_SCHEMA.into())];
        let listed = stored.map_or(&core[..], Vec::as_slice);
        let mut seq = serializer.serialize_seq(None)?;
        for schema in listed {
            seq.serialize_element(schema)?;
        }
        if !listed
            .iter()
            .any(|s| s.as_str() == Some(BRIDGE_USER_SCHEMA))
        {
            seq.serialize_element(BRIDGE_USER_SCHEMA)?;
        }
        seq.end()
    }
}

/// The bridge's extension: what the upstream has. Unset attributes are left out
/// (RFC 7643 §2.5), not sent as `null`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BridgeView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_id: Option<&'a str>,
    upstream_username: &'a str,
    roles: &'a [String],
    account_scope: crate::upstream::AccountScope,
    accounts: &'a [String],
    sync_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_synced_at: Option<String>,
}

impl<'a> BridgeView<'a> {
    fn of(link: &'a UpstreamLink) -> Self {
        Self {
            upstream_id: link.upstream_id.as_deref(),
            upstream_username: &link.upstream_username,
            roles: &link.roles,
            account_scope: link.account_scope,
            accounts: &link.accounts,
            sync_state: link.sync_state.as_str(),
            last_error: link.last_error.as_deref(),
            last_synced_at: link.last_synced_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaView {
    resource_type: &'static str,
    created: String,
    last_modified: String,
    location: String,
    version: String,
}

struct GroupList<'a> {
    groups: &'a [GroupRef],
    base: &'a str,
}

impl Serialize for GroupList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.groups.len()))?;
        for g in self.groups {
            seq.serialize_element(&json!({"value": g.id, "display": g.display_name, "type": "direct", "$ref": format!("{}/Groups/{}", self.base, g.id)}))?;
        }
        seq.end()
    }
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    use super::*;
    use crate::store::{Meta, SyncState};
    use crate::upstream::AccountScope;

    fn user(resource: Value) -> UserRecord {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        UserRecord {
            id: "u-1".into(),
            resource,
            meta: Meta {
                version: 3,
                created: at,
                last_modified: at,
            },
            link: UpstreamLink {
                upstream_id: Some("bw-9".into()),
                upstream_username: "a@x.com".into(),
                roles: vec!["basicAccess".into()],
                account_scope: AccountScope::AccountAdmin,
                accounts: vec![],
                sync_state: SyncState::Synced,
                last_error: None,
                last_synced_at: None,
                ..UpstreamLink::default()
            },
        }
    }

    /// The text written straight into an answer and the `Value` a projection edits are
    /// the same document.
    fn both(document: &UserDocument<'_>) -> Value {
        let text = serde_json::to_string(document).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, document.to_value(), "{text}");
        parsed
    }

    #[test]
    fn a_user_renders_with_id_meta_and_the_bridge_extension() {
        let u = user(json!({"schemas": [USER_SCHEMA], "userName": "a@x.com", "active": true}));
        let rendered = both(&UserDocument::new(&u, "https://h/scim/v2"));
        assert_eq!(
            rendered,
            json!({
                "schemas": [USER_SCHEMA, BRIDGE_USER_SCHEMA],
                "id": "u-1",
                "userName": "a@x.com",
                "active": true,
                BRIDGE_USER_SCHEMA: {
                    "upstreamId": "bw-9",
                    "upstreamUsername": "a@x.com",
                    "roles": ["basicAccess"],
                    "accountScope": "ACCOUNT_ADMIN",
                    "accounts": [],
                    "syncState": "synced",
                },
                "meta": {
                    "resourceType": "User",
                    "created": "2026-01-02T03:04:05+00:00",
                    "lastModified": "2026-01-02T03:04:05+00:00",
                    "location": "https://h/scim/v2/Users/u-1",
                    "version": "W/\"3\"",
                },
            })
        );
    }

    #[test]
    fn what_the_server_writes_replaces_a_stored_attribute_of_that_name() {
        let stored = json!({
            "userName": "a@x.com",
            "id": "forged",
            "meta": {"location": "elsewhere"},
            "schemas": "not a list",
            BRIDGE_USER_SCHEMA: {"upstreamId": "forged"},
            "groups": [{"value": "stored"}],
        });
        let u = user(stored);
        let listed = both(&UserDocument::new(&u, ""));
        assert_eq!(listed["id"], "u-1");
        assert_eq!(listed["meta"]["location"], "/Users/u-1");
        assert_eq!(listed["schemas"], json!([USER_SCHEMA, BRIDGE_USER_SCHEMA]));
        assert_eq!(listed[BRIDGE_USER_SCHEMA]["upstreamId"], "bw-9");
        // Without memberships loaded (a listed user), a stored `groups` stays as stored.
        assert_eq!(listed["groups"], json!([{"value": "stored"}]));

        let groups = [GroupRef {
            id: "g-1".into(),
            display_name: "Sales".into(),
            external_id: None,
        }];
        let read = both(&UserDocument::new(&u, "").with_groups(&groups));
        assert_eq!(
            read["groups"],
            json!([{"value": "g-1", "display": "Sales", "type": "direct", "$ref": "/Groups/g-1"}])
        );
    }

    #[test]
    fn a_stored_resource_that_is_not_an_object_renders_the_servers_part_only() {
        let u = user(json!("not an object"));
        let rendered = both(&UserDocument::new(&u, ""));
        assert_eq!(
            rendered["schemas"],
            json!([USER_SCHEMA, BRIDGE_USER_SCHEMA])
        );
        assert_eq!(rendered["id"], "u-1");
    }

    #[test]
    fn inherited_access_follows_the_direct_assignments() {
        let mut u = user(json!({"userName": "a", "roles": [{"value": "Porting"}]}));
        u.link.roles = vec!["Porting".into(), "basicAccess".into()];
        u.link.accounts = vec!["1".into()];
        let read = both(&UserDocument::new(&u, "").with_inherited_access());
        assert_eq!(
            read["roles"],
            json!([{"value": "Porting"}, {"value": "basicAccess", "display": "basicAccess", "type": "inherited"}])
        );
        assert_eq!(
            read["entitlements"],
            json!([
                {"value": "scope:ACCOUNT_ADMIN", "display": "Account Admin", "type": "inherited"},
                {"value": "account:1", "display": "Account 1", "type": "inherited"}
            ])
        );

        // A stored value that is not a list is shown as stored.
        let odd = user(json!({"userName": "a", "roles": "Porting"}));
        let read = both(&UserDocument::new(&odd, "").with_inherited_access());
        assert_eq!(read["roles"], "Porting");

        // Without an upstream user there is nothing inherited.
        let mut gone = user(json!({"userName": "a"}));
        gone.link.upstream_id = None;
        let read = both(&UserDocument::new(&gone, "").with_inherited_access());
        assert!(read.get("roles").is_none() && read.get("entitlements").is_none());
    }

    #[test]
    fn the_bridge_schema_is_listed_once() {
        let u = user(json!({"schemas": [USER_SCHEMA, BRIDGE_USER_SCHEMA]}));
        let rendered = both(&UserDocument::new(&u, ""));
        assert_eq!(
            rendered["schemas"],
            json!([USER_SCHEMA, BRIDGE_USER_SCHEMA])
        );
    }

    /// The answer's shortcut (no projection for a plain user) needs what the server adds
    /// to be sent as it is by the default projection too.
    #[test]
    fn the_default_projection_leaves_what_the_server_adds() {
        let u = user(json!({"userName": "a@x.com"}));
        let groups = [GroupRef {
            id: "g-1".into(),
            display_name: "Sales".into(),
            external_id: None,
        }];
        let full = UserDocument::new(&u, "")
            .with_groups(&groups)
            .with_inherited_access()
            .to_value();
        assert!(full["roles"].is_array() && full["entitlements"].is_array());
        let schema = crate::scim::schema::user();
        assert!(crate::scim::projection::unchanged_by_default(
            full.as_object().unwrap(),
            schema
        ));
        assert_eq!(
            crate::scim::projection::project(full.clone(), schema, &[], &[]),
            full
        );
    }
}
