use serde_json::{json, Value};

use super::super::filter::{parse_attr_path, AttrPath};
use super::*;

fn path(s: &str) -> AttrPath {
    parse_attr_path(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn check_attribute_doc(schema_id: &str, a: &Value) {
    let name = a["name"].as_str().unwrap_or("?");
    for field in [
        "name",
        "type",
        "multiValued",
        "description",
        "required",
        "caseExact",
        "mutability",
        "returned",
        "uniqueness",
    ] {
        assert!(a.get(field).is_some(), "{schema_id}:{name} lacks {field}");
    }
    assert!(
        !a["description"].as_str().unwrap_or("").is_empty(),
        "{schema_id}:{name} has no description"
    );
    let ty = a["type"].as_str().unwrap_or("");
    assert!(
        [
            "string",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "binary",
            "complex"
        ]
        .contains(&ty),
        "{name}: type {ty}"
    );
    assert!(["readOnly", "readWrite", "immutable", "writeOnly"]
        .contains(&a["mutability"].as_str().unwrap_or("")));
    assert!(
        ["always", "never", "default", "request"].contains(&a["returned"].as_str().unwrap_or(""))
    );
    assert!(["none", "server", "global"].contains(&a["uniqueness"].as_str().unwrap_or("")));
    if ty == "complex" {
        let subs = a["subAttributes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: complex without subAttributes"));
        for s in subs {
            assert_ne!(s["type"], json!("complex"), "{name}: complex sub-attribute");
            check_attribute_doc(schema_id, s);
        }
    } else {
        assert!(
            a.get("subAttributes").is_none(),
            "{name}: subAttributes on a {ty}"
        );
    }
    if ty == "reference" {
        assert!(
            a["referenceTypes"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{name}: no referenceTypes"
        );
    }
}

#[test]
fn every_attribute_document_has_the_required_fields() {
    let docs = schema_documents();
    assert_eq!(docs.len(), 6);
    for doc in &docs {
        let id = doc["id"].as_str().unwrap_or("");
        assert_eq!(doc["schemas"], json!([SCHEMA_SCHEMA]));
        assert!(doc["name"].is_string() && doc["description"].is_string());
        for a in doc["attributes"].as_array().unwrap() {
            check_attribute_doc(id, a);
        }
    }
}

#[test]
fn schema_ids_are_the_urns_and_meta_is_relative() {
    let ids: Vec<String> = schema_documents()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        vec![
            USER_SCHEMA,
            ENTERPRISE_USER_SCHEMA,
            BRIDGE_USER_SCHEMA,
            GROUP_SCHEMA,
            grants::OKTA_ROLE_SCHEMA,
            grants::OKTA_ENTITLEMENT_SCHEMA,
        ]
    );
    for d in schema_documents() {
        assert_eq!(d["meta"]["resourceType"], json!("Schema"));
        assert_eq!(
            d["meta"]["location"],
            json!(format!("/Schemas/{}", d["id"].as_str().unwrap()))
        );
    }
}

#[test]
fn user_core_has_every_rfc_attribute() {
    let names: Vec<&str> = user().core.attributes.iter().map(|a| a.name).collect();
    for expected in [
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    let name = user().core.attribute("name").unwrap();
    let subs: Vec<&str> = name.sub_attributes.iter().map(|a| a.name).collect();
    assert_eq!(
        subs,
        [
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix"
        ]
    );
}

#[test]
fn key_attribute_properties() {
    let u = user();
    let id = u.attribute(&path("id")).unwrap();
    assert_eq!(
        (id.mutability, id.returned, id.case_exact()),
        (Mutability::ReadOnly, Returned::Always, true)
    );
    assert!(u.attribute(&path("externalId")).unwrap().case_exact());
    assert_eq!(
        u.attribute(&path("meta")).unwrap().mutability,
        Mutability::ReadOnly
    );
    let pw = u.attribute(&path("password")).unwrap();
    assert_eq!(
        (pw.mutability, pw.returned),
        (Mutability::WriteOnly, Returned::Never)
    );
    assert_eq!(
        u.attribute(&path("groups")).unwrap().mutability,
        Mutability::ReadOnly
    );
    let un = u.attribute(&path("userName")).unwrap();
    assert!(un.required && !un.case_exact() && un.uniqueness == Uniqueness::Server);
    assert!(group().attribute(&path("displayName")).unwrap().required);
    let members = group().attribute(&path("members")).unwrap();
    let subs: Vec<&str> = members.sub_attributes.iter().map(|a| a.name).collect();
    assert_eq!(subs, ["value", "$ref", "display", "type"]);
}

/// scim2-tester (and any client that builds users from `/Schemas`) sends only what is
/// published as required; Bandwidth refuses a user without first name, last name and
/// email, so those must be published as required or every such create fails.
#[test]
fn what_bandwidth_needs_is_published_as_required() {
    let u = user();
    for p in [
        "name",
        "name.givenName",
        "name.familyName",
        "emails",
        "emails.value",
    ] {
        let def = u.attribute(&path(p)).unwrap_or_else(|| panic!("{p}"));
        assert!(def.required && def.required_upstream, "{p}");
    }
    for p in [
        "name.formatted",
        "name.middleName",
        "emails.type",
        "emails.primary",
    ] {
        assert!(!u.attribute(&path(p)).unwrap().required, "{p}");
    }
    // The RFC's own required attributes stay enforced by the PATCH engine.
    assert!(!u.attribute(&path("userName")).unwrap().required_upstream);
    assert!(
        !group()
            .attribute(&path("displayName"))
            .unwrap()
            .required_upstream
    );

    let doc = u.core.to_document();
    let attr = |name: &str| {
        doc["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == json!(name)))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not published"))
    };
    let name = attr("name");
    assert_eq!(name["required"], json!(true));
    let subs = name["subAttributes"].as_array().unwrap();
    let sub_required =
        |n: &str| subs.iter().find(|s| s["name"] == json!(n)).unwrap()["required"].clone();
    assert_eq!(sub_required("givenName"), json!(true));
    assert_eq!(sub_required("familyName"), json!(true));
    assert_eq!(sub_required("formatted"), json!(false));
    let emails = attr("emails");
    assert_eq!(emails["required"], json!(true));
    assert_eq!(emails["subAttributes"][0]["name"], json!("value"));
    assert_eq!(emails["subAttributes"][0]["required"], json!(true));
    assert_eq!(attr("phoneNumbers")["required"], json!(false));
}

#[test]
fn bridge_extension_is_read_only() {
    let ext = user().extension(BRIDGE_USER_SCHEMA).unwrap();
    let names: Vec<&str> = ext.schema.attributes.iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        [
            "upstreamId",
            "upstreamUsername",
            "roles",
            "accountScope",
            "accounts",
            "syncState",
            "lastError",
            "lastSyncedAt"
        ]
    );
    assert!(ext
        .schema
        .attributes
        .iter()
        .all(|a| a.mutability == Mutability::ReadOnly));
    let sync = ext.schema.attribute("syncState").unwrap();
    assert_eq!(
        sync.canonical_values,
        ["synced", "pending", "failed", "deprovisioned", "held"]
    );
    assert_eq!(
        ext.schema.attribute("lastSyncedAt").unwrap().kind,
        AttrKind::DateTime
    );
    assert!(ext.schema.attribute("roles").unwrap().multi_valued);
}

#[test]
fn lookup_is_case_insensitive_and_urn_aware() {
    let u = user();
    assert_eq!(
        u.kind_of(&path("USERNAME")),
        Some(AttrKind::String { case_exact: false })
    );
    assert_eq!(
        u.kind_of(&path("name.GivenName")),
        Some(AttrKind::String { case_exact: false })
    );
    assert_eq!(u.kind_of(&path("emails.primary")), Some(AttrKind::Boolean));
    assert_eq!(u.kind_of(&path("active")), Some(AttrKind::Boolean));
    assert_eq!(
        u.kind_of(&path("meta.lastModified")),
        Some(AttrKind::DateTime)
    );
    assert_eq!(
        u.kind_of(&path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        )),
        Some(AttrKind::String { case_exact: false })
    );
    assert_eq!(
        u.kind_of(&path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        )),
        Some(AttrKind::String { case_exact: false })
    );
    assert!(u
        .kind_of(&path("urn:ietf:params:scim:schemas:core:2.0:User:userName"))
        .is_some());
    assert!(
        u.kind_of(&path("urn:scim:schemas:core:2.0:userName"))
            .is_some(),
        "legacy core URN"
    );
    assert!(u
        .kind_of(&path("urn:scim:schemas:core:2.0:User:name.familyName"))
        .is_some());
    assert_eq!(
        u.kind_of(&path("department")),
        None,
        "extension attributes need their URN"
    );
    assert_eq!(u.kind_of(&path("nonsense")), None);
    assert_eq!(u.kind_of(&path("name.nonsense")), None);
    assert_eq!(
        group().kind_of(&path("members.value")),
        Some(AttrKind::String { case_exact: true })
    );
    assert_eq!(group().kind_of(&path("userName")), None);
}

#[test]
fn resolve_whole_extension() {
    let r = user().resolve(&path(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ));
    assert_eq!(r.container.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
    assert!(r.attr.is_none());
    assert!(!r.is_read_only());
    let b = user().resolve(&path(
        "urn:scim-bridge:schemas:extension:bandwidth:2.0:User",
    ));
    assert!(b.attr.is_none() && b.is_read_only());
}

#[test]
fn resource_types() {
    let docs = resource_type_documents();
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[2]["id"], json!("Role"));
    assert_eq!(docs[3]["id"], json!("Entitlement"));
    let u = &docs[0];
    assert_eq!(u["id"], json!("User"));
    assert_eq!(u["endpoint"], json!("/Users"));
    assert_eq!(u["schema"], json!(USER_SCHEMA));
    assert_eq!(
        u["schemaExtensions"],
        json!([
            {"schema": ENTERPRISE_USER_SCHEMA, "required": false},
            {"schema": BRIDGE_USER_SCHEMA, "required": false}
        ])
    );
    assert_eq!(
        u["meta"],
        json!({"resourceType": "ResourceType", "location": "/ResourceTypes/User"})
    );
    let g = &docs[1];
    assert_eq!(
        (
            g["id"].as_str(),
            g["endpoint"].as_str(),
            g["schema"].as_str()
        ),
        (Some("Group"), Some("/Groups"), Some(GROUP_SCHEMA))
    );
    assert!(g.get("schemaExtensions").is_none());
}

#[test]
fn normalize_legacy_onelogin_resource() {
    let mut r = json!({
        "schemas": ["urn:scim:schemas:core:2.0", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "old",
        "urn:scim:schemas:core:2.0": {"userName": "a@x.example", "name": {"givenName": "A"}}
    });
    normalize_schemas(&mut r);
    assert_eq!(
        r,
        json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "a@x.example",
            "name": {"givenName": "A"}
        })
    );
    let mut both = json!({"schemas": ["urn:scim:schemas:core:2.0:User", USER_SCHEMA]});
    normalize_schemas(&mut both);
    assert_eq!(both, json!({"schemas": [USER_SCHEMA]}));
    let mut g = json!({"schemas": ["urn:scim:schemas:core:2.0:Group"], "displayName": "G"});
    normalize_schemas(&mut g);
    assert_eq!(g["schemas"], json!([GROUP_SCHEMA]));
    let mut not_object = json!(["x"]);
    normalize_schemas(&mut not_object);
    assert_eq!(not_object, json!(["x"]));
}
