use serde_json::{json, Value};

use super::super::filter::{parse_attr_path, AttrPath};
use super::super::schema::{
    self, BRIDGE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};
use super::project;

const ENT: &str = ENTERPRISE_USER_SCHEMA;
const OTHER: &str = "urn:example:ext:1.0:User";

fn paths(list: &[&str]) -> Vec<AttrPath> {
    list.iter()
        .map(|s| parse_attr_path(s).unwrap_or_else(|e| panic!("{s}: {e:?}")))
        .collect()
}

fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENT, BRIDGE_USER_SCHEMA, OTHER],
        "id": "u-1",
        "externalId": "e-1",
        "userName": "alice@example.com",
        "password": "s3cret",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "a@home.example", "type": "home"}
        ],
        "active": true,
        "customFlag": 1,
        ENT: {"department": "Sales", "manager": {"value": "m-1"}},
        BRIDGE_USER_SCHEMA: {"upstreamId": "bw-9", "syncState": "synced"},
        OTHER: {"badge": "B-7"},
        "meta": {"resourceType": "User", "location": "/Users/u-1"}
    })
}

fn user_project(attrs: &[&str], excl: &[&str]) -> Value {
    project(user(), schema::user(), &paths(attrs), &paths(excl))
}

#[test]
fn default_projection_drops_only_never() {
    let mut expected = user();
    expected.as_object_mut().unwrap().remove("password");
    assert_eq!(user_project(&[], &[]), expected);
}

#[test]
fn attributes_keep_always_and_schemas() {
    assert_eq!(
        user_project(&["userName"], &[]),
        json!({"schemas": user()["schemas"], "id": "u-1", "userName": "alice@example.com"})
    );
}

#[test]
fn attributes_are_case_insensitive() {
    let p = user_project(&["USERNAME", "Name.GivenName"], &[]);
    assert_eq!(p["userName"], json!("alice@example.com"));
    assert_eq!(p["name"], json!({"givenName": "Alice"}));
}

#[test]
fn sub_attribute_selection_on_a_list() {
    let p = user_project(&["emails.value"], &[]);
    assert_eq!(
        p["emails"],
        json!([{"value": "alice@example.com"}, {"value": "a@home.example"}])
    );
    assert!(p.get("name").is_none());
}

#[test]
fn password_never_returned_even_when_asked() {
    let p = user_project(&["password", "userName"], &[]);
    assert!(p.get("password").is_none());
}

#[test]
fn id_cannot_be_excluded() {
    let p = user_project(&[], &["id", "userName"]);
    assert_eq!(p["id"], json!("u-1"));
    assert!(p.get("userName").is_none());
    assert_eq!(p["active"], json!(true));
}

#[test]
fn extension_attribute_by_urn() {
    let p = user_project(&[&format!("{ENT}:department")], &[]);
    assert_eq!(p[ENT], json!({"department": "Sales"}));
    assert!(p.get(BRIDGE_USER_SCHEMA).is_none());
    let p = user_project(&[&format!("{ENT}:manager.value")], &[]);
    assert_eq!(p[ENT], json!({"manager": {"value": "m-1"}}));
}

#[test]
fn whole_extension_by_urn() {
    let p = user_project(&[ENT], &[]);
    assert_eq!(p[ENT], user()[ENT]);
    assert!(p.get("userName").is_none());
    let p = user_project(&[BRIDGE_USER_SCHEMA], &[]);
    assert_eq!(p[BRIDGE_USER_SCHEMA], user()[BRIDGE_USER_SCHEMA]);
}

#[test]
fn exclude_whole_extension_and_extension_attribute() {
    let p = user_project(&[], &[ENT]);
    assert!(p.get(ENT).is_none());
    assert!(p.get(BRIDGE_USER_SCHEMA).is_some());
    let p = user_project(&[], &[&format!("{ENT}:manager")]);
    assert_eq!(p[ENT], json!({"department": "Sales"}));
}

#[test]
fn exclude_sub_attribute() {
    let p = user_project(&[], &["emails.primary", "name.familyName"]);
    assert_eq!(
        p["emails"],
        json!([{"value": "alice@example.com", "type": "work"}, {"value": "a@home.example", "type": "home"}])
    );
    assert_eq!(p["name"], json!({"givenName": "Alice"}));
}

#[test]
fn unknown_attributes_returned_by_default_and_selectable() {
    let p = user_project(&[], &[]);
    assert_eq!(p["customFlag"], json!(1));
    assert_eq!(p[OTHER], json!({"badge": "B-7"}));
    let p = user_project(&["customFlag"], &[]);
    assert_eq!(p["customFlag"], json!(1));
    assert!(p.get(OTHER).is_none());
    let p = user_project(&[&format!("{OTHER}:badge")], &[]);
    assert_eq!(p[OTHER], json!({"badge": "B-7"}));
    let p = user_project(&[OTHER], &[]);
    assert_eq!(p[OTHER], json!({"badge": "B-7"}));
    let p = user_project(&[], &["customFlag"]);
    assert!(p.get("customFlag").is_none());
}

#[test]
fn core_urn_qualified_selection() {
    let p = user_project(&[&format!("{USER_SCHEMA}:userName")], &[]);
    assert_eq!(p["userName"], json!("alice@example.com"));
    assert!(p.get("active").is_none());
}

#[test]
fn meta_is_default_returned() {
    assert!(user_project(&["userName"], &[]).get("meta").is_none());
    assert!(user_project(&["meta"], &[]).get("meta").is_some());
    assert!(user_project(&[], &["meta"]).get("meta").is_none());
}

#[test]
fn group_members_excluded() {
    let g = json!({
        "schemas": [GROUP_SCHEMA], "id": "g-1", "displayName": "Sales",
        "members": [{"value": "u-1"}], "meta": {"resourceType": "Group"}
    });
    let p = project(g.clone(), schema::group(), &[], &paths(&["members"]));
    assert_eq!(
        p,
        json!({"schemas": [GROUP_SCHEMA], "id": "g-1", "displayName": "Sales", "meta": {"resourceType": "Group"}})
    );
    let p = project(g, schema::group(), &paths(&["displayName"]), &[]);
    assert_eq!(
        p,
        json!({"schemas": [GROUP_SCHEMA], "id": "g-1", "displayName": "Sales"})
    );
}

#[test]
fn selecting_an_absent_sub_attribute_omits_the_attribute() {
    let p = user_project(&["name.middleName"], &[]);
    assert!(p.get("name").is_none());
}

#[test]
fn both_lists_apply() {
    let p = user_project(&["emails", "name"], &["emails.type"]);
    assert_eq!(
        p["emails"],
        json!([{"value": "alice@example.com", "primary": true}, {"value": "a@home.example"}])
    );
    assert!(p.get("name").is_some());
}

#[test]
fn non_object_is_returned_unchanged() {
    assert_eq!(project(json!([1]), schema::user(), &[], &[]), json!([1]));
}

mod unchanged_by_default {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::super::{project, unchanged_by_default};
    use super::{ENT, OTHER};
    use crate::scim::schema::{self, BRIDGE_USER_SCHEMA, USER_SCHEMA};

    fn as_projected(resource: &Value) -> Value {
        project(resource.clone(), schema::user(), &[], &[])
    }

    fn unchanged(resource: &Value) -> bool {
        unchanged_by_default(resource.as_object().unwrap(), schema::user())
    }

    #[test]
    fn a_plain_user_is_unchanged() {
        let plain = json!({
            "schemas": [USER_SCHEMA, ENT],
            "userName": "a@x.com",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x.com", "type": "work", "primary": true}],
            "active": true,
            "customFlag": 1,
            ENT: {"department": "Sales", "manager": {"value": "m-1"}},
            OTHER: {"badge": "B-7"},
            BRIDGE_USER_SCHEMA: {"upstreamId": "bw-9", "roles": ["basicAccess"]},
            "id": "u-1",
            "meta": {"resourceType": "User", "location": "/Users/u-1"},
            "groups": [{"value": "g-1", "display": "G", "type": "direct", "$ref": "/Groups/g-1"}],
        });
        assert!(unchanged(&plain));
        assert_eq!(as_projected(&plain), plain);
    }

    #[test]
    fn what_projection_removes_is_seen() {
        for changed in [
            json!({"userName": "a", "password": "s3cret"}),
            json!({"userName": "a", "PASSWORD": "s3cret"}),
            json!({"userName": "a", ENT: {}}),
            json!({"userName": "a", OTHER: {}}),
        ] {
            assert!(!unchanged(&changed), "{changed}");
            assert_ne!(as_projected(&changed), changed, "{changed}");
        }
    }

    #[test]
    fn an_extension_that_is_not_an_object_is_kept() {
        let odd = json!({"userName": "a", OTHER: "text", ENT: [1]});
        assert!(unchanged(&odd));
        assert_eq!(as_projected(&odd), odd);
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("text")),
            Just(json!(7)),
            Just(json!(true)),
            Just(Value::Null),
            Just(json!({})),
            Just(json!([])),
            Just(json!({"value": "v", "type": "work"})),
            Just(json!([{"value": "v"}, "loose", {}])),
        ]
    }

    /// Resources built from the names that matter to projection: core attributes,
    /// `password`, extensions known and unknown, spelled in any case.
    fn resource() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("userName".to_string()),
            Just("password".to_string()),
            Just("Password".to_string()),
            Just("emails".to_string()),
            Just("name".to_string()),
            Just("groups".to_string()),
            Just("meta".to_string()),
            Just("id".to_string()),
            Just("customFlag".to_string()),
            Just("schemas".to_string()),
            Just(ENT.to_string()),
            Just(ENT.to_uppercase()),
            Just(OTHER.to_string()),
            Just(BRIDGE_USER_SCHEMA.to_string()),
        ];
        let inner_names = prop_oneof![
            Just("department".to_string()),
            Just("manager".to_string()),
            Just("badge".to_string()),
            Just("password".to_string()),
            Just("upstreamId".to_string()),
        ];
        let inner = proptest::collection::btree_map(inner_names, leaf(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()));
        let value = prop_oneof![leaf(), inner];
        proptest::collection::btree_map(names, value, 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// The promise the answer's shortcut relies on: a resource said to be unchanged
        /// is exactly what the default projection returns.
        #[test]
        fn unchanged_means_projection_returns_it_as_it_is(resource in resource()) {
            if unchanged(&resource) {
                prop_assert_eq!(as_projected(&resource), resource);
            }
        }
    }
}
