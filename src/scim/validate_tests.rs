use serde_json::{json, Value};

use super::*;
use crate::scim::error::ScimType;
use crate::scim::filter::parse_filter;
use crate::scim::schema::{self, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

const ENT: &str = ENTERPRISE_USER_SCHEMA;

fn limits() -> InputRules {
    InputRules::default()
}

fn user_ok(body: Value) -> Value {
    match user(body.clone(), &limits()) {
        Ok(v) => v,
        Err(e) => panic!("{body} refused: {e}"),
    }
}

/// The attribute name the error must mention, and the error must be 400 invalidValue.
fn user_refused(body: Value, names: &str) {
    match user(body.clone(), &limits()) {
        Ok(v) => panic!("{body} accepted as {v}"),
        Err(e) => {
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some(ScimType::InvalidValue)),
                "{body}: {e}"
            );
            assert!(
                e.detail.contains(names),
                "{body}: {} lacks {names}",
                e.detail
            );
        }
    }
}

#[test]
fn wrong_types_are_refused_naming_the_attribute() {
    let cases = [
        (json!({"userName":"a","emails":"str"}), "emails"),
        (json!({"userName":"a","emails":[1,2]}), "emails[0]"),
        (json!({"userName":"a","emails":{"value":"a@x"}}), "emails"),
        (json!({"userName":"a","emails":[["a@x"]]}), "emails[0]"),
        (
            json!({"userName":"a","emails":[{"value":5}]}),
            "emails[0].value",
        ),
        (
            json!({"userName":"a","emails":[{"value":"a@x","primary":"yes"}]}),
            "emails[0].primary",
        ),
        (json!({"userName":5}), "userName"),
        (json!({"userName":["a","b"]}), "userName"),
        (json!({"userName":"a","name":"Jane Doe"}), "name"),
        (
            json!({"userName":"a","name":{"givenName":{"x":1}}}),
            "name.givenName",
        ),
        (json!({"userName":"a","active":"maybe"}), "active"),
        (json!({"userName":"a","active":1}), "active"),
        (json!({"userName":"a","displayName":true}), "displayName"),
        (json!({"userName":"a","externalId":12}), "externalId"),
        (
            json!({"userName":"a","addresses":[{"primary":"sometimes"}]}),
            "addresses[0].primary",
        ),
        (
            json!({"userName":"a","phoneNumbers":[{"value":5551234}]}),
            "phoneNumbers[0].value",
        ),
        (json!({"userName":"a",ENT:"x"}), ENT),
        (
            json!({"userName":"a",ENT:{"manager":[{"value":"m"}]}}),
            "manager",
        ),
        (
            json!({"userName":"a",ENT:{"department":["a"]}}),
            "department",
        ),
        (json!({"userName":"a","schemas":USER_SCHEMA}), "schemas"),
        (json!({"userName":"a","schemas":[1]}), "schemas"),
    ];
    for (body, name) in cases {
        user_refused(body, name);
    }
}

#[test]
fn names_take_the_schema_spelling_at_every_depth() {
    let out = user_ok(json!({
        "USERNAME": "a",
        "Emails": [{"Value": "a@x", "Primary": true, "TYPE": "work"}],
        "name": {"GivenName": "J", "familyname": "D"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Department": "R&D", "MANAGER": {"VALUE": "m1"}},
    }));
    assert_eq!(
        out,
        json!({
            "userName": "a",
            "emails": [{"value": "a@x", "primary": true, "type": "work"}],
            "name": {"givenName": "J", "familyName": "D"},
            ENT: {"department": "R&D", "manager": {"value": "m1"}},
        })
    );
}

#[test]
fn the_same_attribute_twice_in_different_case() {
    user_refused(json!({"userName":"a","UserName":"b"}), "userName");
    user_refused(
        json!({"userName":"a","emails":[{"value":"a@x","primary":true,"Primary":false}]}),
        "emails[0].primary",
    );
    // Same value twice is not ambiguous.
    assert_eq!(
        user_ok(json!({"userName":"a","USERNAME":"a"}))["userName"],
        "a"
    );
}

#[test]
fn unknown_attributes_are_ignored_not_stored() {
    let out = user_ok(json!({
        "schemas": [USER_SCHEMA, "urn:example:custom:2.0:User"],
        "userName": "a",
        "adreses": [{"street": "x"}],
        "urn:example:custom:2.0:User": {"costCentre": "1"},
        "emails": [{"value": "a@x", "verified": true}],
        "name": {"givenName": "J", "nick": "x"},
        ENT: {"departmnt": "x"},
    }));
    assert_eq!(
        out,
        json!({"schemas": [USER_SCHEMA], "userName": "a",
               "emails": [{"value": "a@x"}], "name": {"givenName": "J"}})
    );
}

#[test]
fn declared_extensions_are_kept_as_sent_within_the_rules() {
    let rules = InputRules {
        extensions: vec!["urn:example:custom:2.0:User".into()],
        ..InputRules::default()
    };
    let body = json!({
        "schemas": [USER_SCHEMA, "URN:example:custom:2.0:User", "urn:example:other"],
        "userName": "a",
        "urn:example:custom:2.0:user": {"costCode": "X-1", "tags": ["a", 2, null], "nested": {"k": true}},
        "urn:example:other": {"x": 1},
    });
    let out = user(body, &rules).unwrap();
    assert_eq!(
        out,
        json!({"schemas": [USER_SCHEMA, "urn:example:custom:2.0:User"], "userName": "a",
               "urn:example:custom:2.0:User": {"costCode": "X-1", "tags": ["a", 2, null], "nested": {"k": true}}})
    );
    for bad in [
        json!({"costCode": "X\u{0}"}),
        json!({"nested": {"deep": ["ok", "\u{1}"]}}),
        json!({"key\u{0}": 1}),
        json!({"long": "x".repeat(DEFAULT_MAX_VALUE_BYTES + 1)}),
        json!({"many": vec![1; DEFAULT_MAX_VALUES + 1]}),
    ] {
        let e = user(
            json!({"userName":"a","urn:example:custom:2.0:User": bad.clone()}),
            &rules,
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}: {e}");
        assert!(e.detail.contains("urn:example:custom:2.0:User"), "{e}");
    }
}

#[test]
fn read_only_attributes_are_dropped() {
    let out = user_ok(json!({
        "userName": "a", "id": "x", "meta": {"version": "W/\"1\""},
        "groups": [{"value": "g"}],
        "urn:scim-bridge:schemas:extension:bandwidth:2.0:User": {"syncState": "synced"},
        ENT: {"manager": {"value": "m", "displayName": "Boss"}},
    }));
    assert_eq!(
        out,
        json!({"userName": "a", ENT: {"manager": {"value": "m"}}})
    );
}

#[test]
fn nulls_and_empties_are_unassigned() {
    let out = user_ok(json!({
        "userName": "a", "displayName": null, "emails": [], "phoneNumbers": [null],
        "name": {"givenName": null}, "addresses": [{}], "title": "T",
        ENT: {"department": null},
    }));
    assert_eq!(out, json!({"userName": "a", "title": "T"}));
    // Entra clears a manager with an empty value.
    for manager in [json!(""), json!({"value": ""}), json!({"value": null})] {
        let out = user_ok(json!({"userName":"a", ENT: {"manager": manager, "department": "d"}}));
        assert_eq!(out[ENT], json!({"department": "d"}));
    }
}

#[test]
fn active_defaults_to_true_on_create_only_and_takes_entra_strings() {
    let created = |body: Value| active_by_default(user_ok(body))["active"].clone();
    assert_eq!(created(json!({"userName":"a"})), true);
    assert_eq!(created(json!({"userName":"a","active":null})), true);
    assert_eq!(created(json!({"userName":"a","active":"False"})), false);
    assert_eq!(created(json!({"userName":"a","active":" TRUE "})), true);
    assert_eq!(created(json!({"userName":"a","active":false})), false);
    // A replacement that leaves `active` out (or removes it) is stored so.
    assert!(user_ok(json!({"userName":"a"})).get("active").is_none());
    assert!(user_ok(json!({"userName":"a","active":null}))
        .get("active")
        .is_none());
    let out = user_ok(json!({"userName":"a","emails":[{"value":"a@x","primary":"True"}]}));
    assert_eq!(out["emails"][0]["primary"], true);
}

#[test]
fn idp_dialects_pass() {
    // Entra: the manager as a bare id, string booleans.
    let out = user_ok(json!({"userName":"a", ENT: {"manager": "m1"}}));
    assert_eq!(out[ENT]["manager"], json!({"value": "m1"}));
    // OneLogin: the legacy core URN in `schemas` is the core schema.
    let out = user_ok(json!({"schemas":["urn:scim:schemas:core:2.0", USER_SCHEMA],"userName":"a"}));
    assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    // Okta: password and an empty groups list.
    let out = user_ok(json!({"userName":"a","password":"p","groups":[]}));
    assert_eq!(out, json!({"userName":"a","password":"p"}));
    // An extension with data is listed in `schemas`.
    let out = user_ok(json!({"schemas":[USER_SCHEMA],"userName":"a",ENT:{"department":"d"}}));
    assert_eq!(out["schemas"], json!([USER_SCHEMA, ENT]));
    // Dates, multi-line addresses.
    let out =
        user_ok(json!({"userName":"a","addresses":[{"formatted":"1 Main St\r\nSpringfield\tUS"}]}));
    assert!(out["addresses"][0]["formatted"]
        .as_str()
        .is_some_and(|s| s.contains('\n')));
}

#[test]
fn duplicate_values_in_a_list_are_stored_once() {
    let out = user_ok(json!({"userName":"a","emails":[{"value":"a@x"},{"Value":"a@x"}]}));
    assert_eq!(out["emails"], json!([{"value":"a@x"}]));
}

#[test]
fn control_characters_are_refused_everywhere() {
    for bad in [
        "a\u{0}b",
        "\u{1}",
        "x\u{1b}[31m",
        "del\u{7f}",
        "c1\u{85}",
        "\u{9f}",
    ] {
        user_refused(json!({"userName": bad}), "userName");
        user_refused(json!({"userName":"a","title": bad}), "title");
        user_refused(json!({"userName":"a","externalId": bad}), "externalId");
        user_refused(
            json!({"userName":"a","emails":[{"value":"a@x"},{"value": bad}]}),
            "emails[1].value",
        );
        user_refused(
            json!({"userName":"a","name":{"givenName": bad}}),
            "name.givenName",
        );
        user_refused(
            json!({"userName":"a",ENT:{"department": bad}}),
            "department",
        );
        user_refused(json!({"userName":"a","schemas":[bad]}), "schemas");
        let e = check_text("id", bad).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }
    for fine in [
        "tab\there",
        "line\nbreak",
        "cr\r\n",
        "ünïcødé ✓",
        "emoji 🎉",
        "\u{a0}nbsp",
    ] {
        assert!(check_text("x", fine).is_ok(), "{fine:?}");
        user_ok(json!({"userName":"a","title": fine}));
    }
}

#[test]
fn sizes_are_limited() {
    let small = InputRules {
        max_value_bytes: 8,
        max_values: 2,
        ..InputRules::default()
    };
    assert!(user(json!({"userName":"12345678"}), &small).is_ok());
    let e = user(json!({"userName":"123456789"}), &small).unwrap_err();
    assert!(
        e.detail.contains("userName") && e.detail.contains("max_value_bytes"),
        "{e}"
    );
    // Bytes, not characters: four 2-byte characters fit, five do not.
    assert!(user(json!({"userName":"éééé"}), &small).is_ok());
    assert!(user(json!({"userName":"ééééé"}), &small).is_err());
    let e = user(
        json!({"userName":"a","emails":[{"value":"1"},{"value":"2"},{"value":"3"}]}),
        &small,
    )
    .unwrap_err();
    assert!(
        e.detail.contains("emails") && e.detail.contains("max_values"),
        "{e}"
    );
    // The default takes a megabyte userName as the issue reported it.
    let huge = "u".repeat(1024 * 1024);
    user_refused(json!({"userName": huge}), "userName");
    let many: Vec<Value> = (0..=DEFAULT_MAX_VALUES)
        .map(|i| json!({"value": format!("{i}@x")}))
        .collect();
    user_refused(json!({"userName":"a","emails": many}), "emails");
}

#[test]
fn groups_are_checked_against_the_group_schema() {
    let g = resource(
        json!({"schemas":[GROUP_SCHEMA],"DisplayName":"Admins","externalId":"e1","owner":"x"}),
        schema::group(),
        &limits(),
    )
    .unwrap();
    assert_eq!(
        g,
        json!({"schemas":[GROUP_SCHEMA],"displayName":"Admins","externalId":"e1"})
    );
    let e = resource(json!({"displayName":"a\u{0}"}), schema::group(), &limits()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = resource(json!({"displayName":["a"]}), schema::group(), &limits()).unwrap_err();
    assert!(e.detail.contains("displayName"), "{e}");
    // No `active` default on groups.
    assert!(
        resource(json!({"displayName":"a"}), schema::group(), &limits())
            .unwrap()
            .get("active")
            .is_none()
    );
}

#[test]
fn not_an_object_is_invalid_syntax() {
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        let e = user(body, &limits()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }
}

#[test]
fn filter_values_follow_the_character_rule() {
    let allowed = Ok(());
    let refused = Err(Some(ScimType::InvalidValue));
    for (filter, want) in [
        ("userName eq \"a\"", allowed),
        ("emails[type eq \"work\" and value co \"@x\"]", allowed),
        ("not (title eq \"tab\\there\")", allowed),
        ("active eq true", allowed),
        ("userName eq \"a\\u0000\"", refused),
        ("userName eq \"a\" or title eq \"\\u0001\"", refused),
        ("emails[value eq \"\\u007f\"]", refused),
        ("not (displayName sw \"\\u0000\")", refused),
    ] {
        let f = parse_filter(filter).unwrap();
        let checked = check_filter(&f).map_err(|e| e.scim_type);
        assert_eq!(checked, want, "{filter}");
    }
}
