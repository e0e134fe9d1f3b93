//! The read-only `Role` and `Entitlement` resource types: what the tenant's upstream can
//! grant, offered so an IdP's governance view can list it and assign it per user.
//!
//! Two public contracts describe these resources, and one resource serves both:
//! - Okta's "Build a SCIM 2.0 server with entitlements" (Okta Identity Governance):
//!   `/ResourceTypes` lists resource types whose `schema` is
//!   `urn:okta:scim:schemas:core:1.0:Role` or `...:Entitlement`; Okta then reads every
//!   resource of each type's `endpoint`, keyed by `id` with a `displayName` (and, for
//!   entitlements, a `type`); users carry assignments in `roles` / `entitlements` whose
//!   `value` is that id. The resource types below use Okta's URNs for that reason.
//! - draft-ietf-scim-roles-entitlements-01 §3.2 and §3.3: a role or entitlement has a
//!   REQUIRED `value`, an optional `display` and `type`, and `supported` (REQUIRED for
//!   roles). Those attributes are carried in the same resource (with `value` = `id`),
//!   so a client of the draft finds what it reads without a second copy of every
//!   resource. The draft's §3.1 `ServiceProviderConfig` attribute is not served: it is
//!   not an extension schema, and strict clients (scim2-tester's RFC 7643 model) refuse
//!   a configuration with attributes the RFC does not define; `/ResourceTypes` already
//!   tells a client the endpoints exist.
use std::sync::LazyLock;

use serde_json::{json, Value};

use super::{AttrKind, AttributeDef, ResourceSchema, Returned, SchemaDef};

pub const OKTA_ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";
pub const OKTA_ENTITLEMENT_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";

const STR: AttrKind = AttrKind::String { case_exact: false };

fn read_only(name: &'static str, kind: AttrKind, desc: &'static str) -> AttributeDef {
    AttributeDef::new(name, kind).read_only().desc(desc)
}

fn grant_attributes(what: &'static str) -> Vec<AttributeDef> {
    vec![
        read_only("displayName", STR, "Human-readable name (Okta's Governance tab shows it).")
            .returned(Returned::Always),
        read_only("description", STR, "What it grants upstream."),
        read_only(
            "value",
            STR,
            "The value a user's assignment carries (equal to id; draft-ietf-scim-roles-entitlements §3.2, §3.3).",
        ),
        read_only("display", STR, "Human-readable name (draft §3.2, §3.3)."),
        read_only("type", STR, what),
        read_only(
            "supported",
            AttrKind::Boolean,
            "Whether it can be assigned through this bridge now (draft §3.2, §3.3).",
        ),
    ]
}

fn common() -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("id", AttrKind::String { case_exact: true })
            .read_only()
            .returned(Returned::Always)
            .desc("Stable identifier; the value of a user's assignment."),
        AttributeDef::new("meta", AttrKind::Complex)
            .read_only()
            .desc("Resource metadata.")
            .subs(vec![
                read_only("resourceType", STR, "Name of the resource type."),
                AttributeDef::new("location", AttrKind::Reference)
                    .read_only()
                    .refs(&["uri"])
                    .desc("URI of the resource."),
            ]),
    ]
}

static ROLE: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "Role",
    endpoint: "/Roles",
    description: "A role the tenant's upstream system can grant a user",
    common: common(),
    core: SchemaDef {
        id: OKTA_ROLE_SCHEMA,
        name: "Role",
        description: "Role",
        attributes: grant_attributes("Always \"role\"."),
    },
    extensions: vec![],
});

static ENTITLEMENT: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "Entitlement",
    endpoint: "/Entitlements",
    description:
        "An entitlement (an account, an admin level) the tenant's upstream system can grant a user",
    common: common(),
    core: SchemaDef {
        id: OKTA_ENTITLEMENT_SCHEMA,
        name: "Entitlement",
        description: "Entitlement",
        attributes: grant_attributes("The kind of entitlement: \"Account\" or \"Admin scope\"."),
    },
    extensions: vec![],
});

pub fn role() -> &'static ResourceSchema {
    &ROLE
}

pub fn entitlement() -> &'static ResourceSchema {
    &ENTITLEMENT
}

/// One grantable thing as the bridge offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub display: String,
    pub description: String,
    /// `role` for roles; the entitlement's kind otherwise.
    pub kind: String,
}

/// The SCIM representation of `grant` as a resource of `schema` (`role()` or
/// `entitlement()`), with its location under `scim_base`.
pub fn grant_resource(schema: &ResourceSchema, grant: &Grant, scim_base: &str) -> Value {
    json!({
        "schemas": [schema.core.id],
        "id": grant.id,
        "displayName": grant.display,
        "description": grant.description,
        "value": grant.id,
        "display": grant.display,
        "type": grant.kind,
        "supported": true,
        "meta": {
            "resourceType": schema.name,
            "location": format!("{scim_base}{}/{}", schema.endpoint, urlencode(&grant.id)),
        },
    })
}

fn urlencode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_resource_carries_both_contracts_attributes() {
        let grant = Grant {
            id: "User Administrator".into(),
            display: "User Administrator".into(),
            description: "Bandwidth role".into(),
            kind: "role".into(),
        };
        let r = grant_resource(role(), &grant, "/scim/v2");
        assert_eq!(r["schemas"], json!([OKTA_ROLE_SCHEMA]));
        assert_eq!(r["id"], r["value"]);
        assert_eq!(r["displayName"], r["display"]);
        assert_eq!(r["supported"], true);
        assert_eq!(r["meta"]["location"], "/scim/v2/Roles/User%20Administrator");
        assert_eq!(r["meta"]["resourceType"], "Role");
    }

    #[test]
    fn resource_types_use_oktas_urns_and_endpoints() {
        let role_type = role().resource_type_document();
        assert_eq!(role_type["schema"], OKTA_ROLE_SCHEMA);
        assert_eq!(role_type["endpoint"], "/Roles");
        let ent_type = entitlement().resource_type_document();
        assert_eq!(ent_type["schema"], OKTA_ENTITLEMENT_SCHEMA);
        assert_eq!(ent_type["endpoint"], "/Entitlements");
        let doc = role().core.to_document();
        assert_eq!(doc["id"], OKTA_ROLE_SCHEMA);
        let names: Vec<&str> = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["name"].as_str())
            .collect();
        for wanted in ["displayName", "value", "display", "supported", "type"] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
    }
}
