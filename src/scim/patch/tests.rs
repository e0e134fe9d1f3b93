//! Table of PATCH cases: each IdP form from `shared/idp-behaviour.md` plus RFC 7644
//! §3.5.2 edge cases, as (resource, body, expected resource or error).
use serde_json::{json, Value};

use super::super::error::ScimType;
use super::super::schema::{
    self, ResourceSchema, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};
use super::{apply_patch, PATCH_OP_SCHEMA};

const ENT: &str = ENTERPRISE_USER_SCHEMA;

enum Expect {
    Resource(Value),
    Error(u16, ScimType),
}

struct Case {
    name: &'static str,
    schema: &'static ResourceSchema,
    resource: Value,
    body: Value,
    expect: Expect,
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "id": "u-1",
        "userName": "alice@example.com",
        "active": true,
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User"}
    })
}

fn user_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut u = user();
    f(&mut u);
    u
}

fn ent_user() -> Value {
    user_with(|u| {
        u["schemas"] = json!([USER_SCHEMA, ENT]);
        u[ENT] = json!({"department": "Sales", "manager": {"value": "m-1"}});
    })
}

fn ent_user_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut u = ent_user();
    f(&mut u);
    u
}

fn group() -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "id": "g-1",
        "displayName": "Sales",
        "members": [{"value": "u-1", "display": "Alice"}, {"value": "u-2", "display": "Bob"}]
    })
}

fn group_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut g = group();
    f(&mut g);
    g
}

fn remove_key(v: &mut Value, key: &str) {
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
}

fn ok_user(name: &'static str, resource: Value, body: Value, expect: Value) -> Case {
    Case {
        name,
        schema: schema::user(),
        resource,
        body,
        expect: Expect::Resource(expect),
    }
}

fn ok_group(name: &'static str, resource: Value, body: Value, expect: Value) -> Case {
    Case {
        name,
        schema: schema::group(),
        resource,
        body,
        expect: Expect::Resource(expect),
    }
}

fn err_user(name: &'static str, resource: Value, body: Value, t: ScimType) -> Case {
    Case {
        name,
        schema: schema::user(),
        resource,
        body,
        expect: Expect::Error(400, t),
    }
}

fn err_group(name: &'static str, resource: Value, body: Value, t: ScimType) -> Case {
    Case {
        name,
        schema: schema::group(),
        resource,
        body,
        expect: Expect::Error(400, t),
    }
}

fn envelope_cases() -> Vec<Case> {
    use ScimType::*;
    vec![
        ok_user(
            "envelope: schemas may be omitted",
            user(),
            json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            user_with(|u| u["active"] = json!(false)),
        ),
        err_user(
            "envelope: schemas without PatchOp",
            user(),
            json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            InvalidSyntax,
        ),
        ok_user(
            "envelope: schemas as a bare string",
            user(),
            json!({"schemas": PATCH_OP_SCHEMA, "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            user_with(|u| u["active"] = json!(false)),
        ),
        err_user(
            "envelope: no Operations",
            user(),
            json!({"schemas": [PATCH_OP_SCHEMA]}),
            InvalidSyntax,
        ),
        err_user(
            "envelope: empty Operations",
            user(),
            ops(json!([])),
            InvalidSyntax,
        ),
        err_user(
            "envelope: Operations not a list",
            user(),
            ops(json!({"op": "add"})),
            InvalidSyntax,
        ),
        ok_user(
            "envelope: lowercase 'operations'",
            user(),
            json!({"schemas": [PATCH_OP_SCHEMA], "operations": [{"op": "replace", "path": "title", "value": "CTO"}]}),
            user_with(|u| u["title"] = json!("CTO")),
        ),
        err_user(
            "envelope: body is a list",
            user(),
            json!([{"op": "add"}]),
            InvalidSyntax,
        ),
        err_user(
            "envelope: unknown op",
            user(),
            ops(json!([{"op": "move", "path": "title", "value": "x"}])),
            InvalidSyntax,
        ),
        err_user(
            "envelope: op missing",
            user(),
            ops(json!([{"path": "title", "value": "x"}])),
            InvalidSyntax,
        ),
        err_user(
            "envelope: operation not an object",
            user(),
            ops(json!(["replace"])),
            InvalidSyntax,
        ),
        err_user(
            "envelope: add without value",
            user(),
            ops(json!([{"op": "add", "path": "title"}])),
            InvalidSyntax,
        ),
        err_user(
            "envelope: path not a string",
            user(),
            ops(json!([{"op": "add", "path": 7, "value": "x"}])),
            InvalidPath,
        ),
        err_user(
            "rfc: remove without path is noTarget",
            user(),
            ops(json!([{"op": "remove"}])),
            NoTarget,
        ),
        err_user(
            "envelope: path-less add with scalar value",
            user(),
            ops(json!([{"op": "add", "value": "x"}])),
            InvalidSyntax,
        ),
        ok_user(
            "envelope: empty path is path-less",
            user(),
            ops(json!([{"op": "replace", "path": "", "value": {"title": "CTO"}}])),
            user_with(|u| u["title"] = json!("CTO")),
        ),
        ok_user(
            "envelope: member names case-insensitive (Op/Path/Value)",
            user(),
            ops(json!([{"Op": "Replace", "Path": "title", "Value": "CTO"}])),
            user_with(|u| u["title"] = json!("CTO")),
        ),
        ok_user(
            "envelope: op in capitals",
            user(),
            ops(json!([{"op": "REPLACE", "path": "title", "value": "CTO"}])),
            user_with(|u| u["title"] = json!("CTO")),
        ),
    ]
}

fn okta_cases() -> Vec<Case> {
    vec![
        ok_user(
            "okta: path-less replace active false (deactivate)",
            user(),
            ops(json!([{"op": "replace", "value": {"active": false}}])),
            user_with(|u| u["active"] = json!(false)),
        ),
        ok_user(
            "okta: path-less replace active true (reactivate)",
            user_with(|u| u["active"] = json!(false)),
            ops(json!([{"op": "replace", "value": {"active": true}}])),
            user(),
        ),
        ok_group(
            "okta: group members add",
            group(),
            ops(
                json!([{"op": "add", "path": "members", "value": [{"value": "u-3", "display": "Carol"}]}]),
            ),
            // `display` is computed by the bridge (readOnly): the sent one is ignored.
            group_with(|g| {
                g["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "u-3"}))
            }),
        ),
        ok_group(
            "okta: group members add of an existing member does not duplicate",
            group(),
            ops(
                json!([{"op": "add", "path": "members", "value": [{"value": "u-1", "display": "Alice A."}]}]),
            ),
            group(),
        ),
        ok_group(
            "okta: group member remove by filter path",
            group(),
            ops(json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}])),
            group_with(|g| g["members"] = json!([{"value": "u-2", "display": "Bob"}])),
        ),
        ok_group(
            "okta: replace displayName with the group's id in the value",
            group(),
            ops(json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Sales EMEA"}}])),
            group_with(|g| g["displayName"] = json!("Sales EMEA")),
        ),
        ok_group(
            "okta: a different id in the value is ignored (readOnly)",
            group(),
            ops(json!([{"op": "replace", "value": {"id": "other", "displayName": "X"}}])),
            group_with(|g| g["displayName"] = json!("X")),
        ),
        ok_group(
            "okta: replace members wholesale",
            group(),
            ops(json!([{"op": "replace", "path": "members", "value": [{"value": "u-9"}]}])),
            group_with(|g| g["members"] = json!([{"value": "u-9"}])),
        ),
        ok_group(
            "okta: remove of a member already gone is a no-op",
            group(),
            ops(json!([{"op": "remove", "path": "members[value eq \"u-404\"]"}])),
            group(),
        ),
        ok_group(
            "okta: add then remove in one request",
            group(),
            ops(json!([
                {"op": "add", "path": "members", "value": [{"value": "u-3"}]},
                {"op": "remove", "path": "members[value eq \"u-2\"]"}
            ])),
            group_with(|g| {
                g["members"] = json!([{"value": "u-1", "display": "Alice"}, {"value": "u-3"}])
            }),
        ),
        ok_user(
            "okta: path-less replace of several attributes, name merged",
            user(),
            ops(
                json!([{"op": "replace", "value": {"name": {"givenName": "Alicia"}, "title": "VP"}}]),
            ),
            user_with(|u| {
                u["name"]["givenName"] = json!("Alicia");
                u["title"] = json!("VP");
            }),
        ),
    ]
}

fn entra_cases() -> Vec<Case> {
    use ScimType::*;
    vec![
        ok_user(
            "entra: Replace active \"False\"",
            user(),
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            user_with(|u| u["active"] = json!(false)),
        ),
        ok_user(
            "entra: Replace active \"True\"",
            user_with(|u| u["active"] = json!(false)),
            ops(json!([{"op": "Replace", "path": "active", "value": "True"}])),
            user(),
        ),
        ok_user(
            "entra: boolean string in any case",
            user(),
            ops(json!([{"op": "Replace", "path": "active", "value": "FALSE"}])),
            user_with(|u| u["active"] = json!(false)),
        ),
        ok_user(
            "entra: string boolean inside a path-less value",
            user(),
            ops(json!([{"op": "Replace", "value": {"active": "False"}}])),
            user_with(|u| u["active"] = json!(false)),
        ),
        err_user(
            "entra: non-boolean string for active",
            user(),
            ops(json!([{"op": "Replace", "path": "active", "value": "yes"}])),
            InvalidValue,
        ),
        err_user(
            "types: number for a boolean",
            user(),
            ops(json!([{"op": "replace", "path": "active", "value": 1}])),
            InvalidValue,
        ),
        ok_user(
            "entra: Replace emails[type eq \"work\"].value",
            user(),
            ops(
                json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"}]),
            ),
            user_with(|u| u["emails"][0]["value"] = json!("alice@new.example")),
        ),
        ok_user(
            "entra: Replace emails[type eq \"work\"].value creates the work email when absent",
            user_with(|u| remove_key(u, "emails")),
            ops(
                json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@x.example"}]),
            ),
            user_with(|u| u["emails"] = json!([{"type": "work", "value": "a@x.example"}])),
        ),
        ok_user(
            "entra: Add phoneNumbers[type eq \"mobile\"].value creates the element",
            user(),
            ops(
                json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1555"}]),
            ),
            user_with(|u| u["phoneNumbers"] = json!([{"type": "mobile", "value": "+1555"}])),
        ),
        ok_user(
            "entra: Add phoneNumbers[type eq \"mobile\"].value updates the existing mobile",
            user_with(|u| {
                u["phoneNumbers"] = json!([{"type": "mobile", "value": "+1000"}, {"type": "work", "value": "+2000"}])
            }),
            ops(
                json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1555"}]),
            ),
            user_with(|u| {
                u["phoneNumbers"] = json!([{"type": "mobile", "value": "+1555"}, {"type": "work", "value": "+2000"}])
            }),
        ),
        ok_user(
            "entra: Replace name.givenName",
            user(),
            ops(json!([{"op": "Replace", "path": "name.givenName", "value": "Alicia"}])),
            user_with(|u| u["name"]["givenName"] = json!("Alicia")),
        ),
        ok_user(
            "entra: Add name.givenName when name is absent",
            user_with(|u| remove_key(u, "name")),
            ops(json!([{"op": "Add", "path": "name.givenName", "value": "Alicia"}])),
            user_with(|u| u["name"] = json!({"givenName": "Alicia"})),
        ),
        ok_user(
            "entra: Add enterprise department creates the extension and lists its schema",
            user(),
            ops(json!([{"op": "Add", "path": format!("{ENT}:department"), "value": "Sales"}])),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"department": "Sales"});
            }),
        ),
        ok_user(
            "entra: Replace enterprise department",
            ent_user(),
            ops(json!([{"op": "Replace", "path": format!("{ENT}:department"), "value": "Ops"}])),
            ent_user_with(|u| u[ENT]["department"] = json!("Ops")),
        ),
        ok_user(
            "entra: manager as a bare string",
            ent_user(),
            ops(json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "m-2"}])),
            ent_user_with(|u| u[ENT]["manager"] = json!({"value": "m-2"})),
        ),
        ok_user(
            "entra: manager as {\"value\": id}",
            ent_user(),
            ops(
                json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": "m-2"}}]),
            ),
            ent_user_with(|u| u[ENT]["manager"] = json!({"value": "m-2"})),
        ),
        ok_user(
            "entra: manager as a one-element list",
            user(),
            ops(
                json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": [{"value": "m-2"}]}]),
            ),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"manager": {"value": "m-2"}});
            }),
        ),
        ok_user(
            "entra: empty manager string removes the manager",
            ent_user(),
            ops(json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": ""}])),
            ent_user_with(|u| u[ENT] = json!({"department": "Sales"})),
        ),
        ok_user(
            "entra: manager {\"value\": \"\"} removes the manager",
            ent_user(),
            ops(
                json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": ""}}]),
            ),
            ent_user_with(|u| u[ENT] = json!({"department": "Sales"})),
        ),
        ok_user(
            "entra: manager.value \"\" removes the manager",
            ent_user(),
            ops(json!([{"op": "Replace", "path": format!("{ENT}:manager.value"), "value": ""}])),
            ent_user_with(|u| u[ENT] = json!({"department": "Sales"})),
        ),
        ok_user(
            "entra: removing the last extension attribute drops the extension and its URN",
            ent_user_with(|u| u[ENT] = json!({"manager": {"value": "m-1"}})),
            ops(json!([{"op": "Remove", "path": format!("{ENT}:manager")}])),
            user(),
        ),
        ok_user(
            "entra: manager.displayName is readOnly and dropped",
            ent_user(),
            ops(
                json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": "m-3", "displayName": "Boss"}}]),
            ),
            ent_user_with(|u| u[ENT]["manager"] = json!({"value": "m-3"})),
        ),
        ok_group(
            "entra: Remove members with a value list removes only those",
            group_with(|g| {
                g["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "u-3"}))
            }),
            ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u-2"}]}])),
            group_with(|g| {
                g["members"] = json!([{"value": "u-1", "display": "Alice"}, {"value": "u-3"}])
            }),
        ),
        ok_group(
            "entra: Remove members with ids partly absent",
            group(),
            ops(
                json!([{"op": "Remove", "path": "members", "value": [{"value": "u-2"}, {"value": "u-404"}]}]),
            ),
            group_with(|g| g["members"] = json!([{"value": "u-1", "display": "Alice"}])),
        ),
        ok_group(
            "entra: Remove member by members[value eq \"id\"]",
            group(),
            ops(json!([{"op": "Remove", "path": "members[value eq \"u-2\"]"}])),
            group_with(|g| g["members"] = json!([{"value": "u-1", "display": "Alice"}])),
        ),
        ok_group(
            "entra: Add members with a value list, duplicates inside the list collapse",
            group(),
            ops(
                json!([{"op": "Add", "path": "members", "value": [{"value": "u-3"}, {"value": "u-3"}, {"value": "u-1"}]}]),
            ),
            group_with(|g| {
                g["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "u-3"}))
            }),
        ),
        ok_group(
            "entra: Remove members with a single object value",
            group(),
            ops(json!([{"op": "Remove", "path": "members", "value": {"value": "u-1"}}])),
            group_with(|g| g["members"] = json!([{"value": "u-2", "display": "Bob"}])),
        ),
        ok_user(
            "entra: Add externalId",
            user(),
            ops(json!([{"op": "Add", "path": "externalId", "value": "e-1"}])),
            user_with(|u| u["externalId"] = json!("e-1")),
        ),
        ok_user(
            "entra: Replace externalId",
            user_with(|u| u["externalId"] = json!("e-1")),
            ops(json!([{"op": "Replace", "path": "externalId", "value": "e-2"}])),
            user_with(|u| u["externalId"] = json!("e-2")),
        ),
        ok_user(
            "entra: Add roles with primary \"True\"",
            user(),
            ops(
                json!([{"op": "Add", "path": "roles", "value": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}]),
            ),
            user_with(
                |u| u["roles"] = json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]),
            ),
        ),
        ok_user(
            "entra: several operations in one request",
            user(),
            ops(json!([
                {"op": "Replace", "path": "displayName", "value": "Alice S."},
                {"op": "Add", "path": "externalId", "value": "e-9"},
                {"op": "Replace", "path": "active", "value": "False"}
            ])),
            user_with(|u| {
                u["displayName"] = json!("Alice S.");
                u["externalId"] = json!("e-9");
                u["active"] = json!(false);
            }),
        ),
        ok_user(
            "entra flag: path-less replace with dotted keys",
            user(),
            ops(json!([{"op": "replace", "value": {"name.givenName": "Al", "active": false}}])),
            user_with(|u| {
                u["name"]["givenName"] = json!("Al");
                u["active"] = json!(false);
            }),
        ),
        ok_user(
            "entra flag: path-less key with a value filter",
            user(),
            ops(
                json!([{"op": "replace", "value": {"emails[type eq \"work\"].value": "al@x.example", "name.familyName": "Doe"}}]),
            ),
            user_with(|u| {
                u["emails"][0]["value"] = json!("al@x.example");
                u["name"]["familyName"] = json!("Doe");
            }),
        ),
        ok_user(
            "entra flag: path-less URN-qualified key",
            user(),
            ops(json!([{"op": "replace", "value": {format!("{ENT}:employeeNumber"): "701984"}}])),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"employeeNumber": "701984"});
            }),
        ),
        ok_user(
            "entra flag: path-less URN-qualified manager key as a string",
            user(),
            ops(json!([{"op": "add", "value": {format!("{ENT}:manager"): "m-7"}}])),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"manager": {"value": "m-7"}});
            }),
        ),
        ok_user(
            "path-less add merges into an extension object rather than replacing it",
            ent_user(),
            ops(json!([{"op": "add", "value": {ENT: {"costCenter": "CC1"}}}])),
            ent_user_with(|u| u[ENT]["costCenter"] = json!("CC1")),
        ),
        ok_user(
            "path-less replace of an extension object replaces the named attributes only",
            ent_user(),
            ops(json!([{"op": "replace", "value": {ENT: {"department": "Ops"}}}])),
            ent_user_with(|u| u[ENT]["department"] = json!("Ops")),
        ),
        ok_user(
            "entra: new primary email clears the old primary",
            user(),
            ops(
                json!([{"op": "Add", "path": "emails", "value": [{"value": "a2@example.com", "type": "home", "primary": "True"}]}]),
            ),
            user_with(|u| {
                u["emails"] = json!([
                    {"value": "alice@example.com", "type": "work", "primary": false},
                    {"value": "a2@example.com", "type": "home", "primary": true}
                ])
            }),
        ),
    ]
}

fn onelogin_cases() -> Vec<Case> {
    vec![
        ok_user(
            "onelogin: path-less value under the legacy core URN",
            user(),
            ops(
                json!([{"op": "replace", "value": {"urn:scim:schemas:core:2.0": {"displayName": "Alice"}}}]),
            ),
            user_with(|u| u["displayName"] = json!("Alice")),
        ),
        ok_user(
            "onelogin: legacy URN-qualified path",
            user(),
            ops(
                json!([{"op": "replace", "path": "urn:scim:schemas:core:2.0:User:name.givenName", "value": "Ally"}]),
            ),
            user_with(|u| u["name"]["givenName"] = json!("Ally")),
        ),
        ok_user(
            "onelogin: stored legacy schemas URN is normalised",
            user_with(|u| u["schemas"] = json!(["urn:scim:schemas:core:2.0"])),
            ops(json!([{"op": "replace", "path": "title", "value": "Dr"}])),
            user_with(|u| u["title"] = json!("Dr")),
        ),
        ok_user(
            "onelogin: core URN-qualified path",
            user(),
            ops(
                json!([{"op": "replace", "path": format!("{USER_SCHEMA}:userName"), "value": "al@example.com"}]),
            ),
            user_with(|u| u["userName"] = json!("al@example.com")),
        ),
        ok_group(
            "onelogin: members replace via PATCH",
            group(),
            ops(
                json!([{"op": "replace", "path": "members", "value": [{"value": "u-2"}, {"value": "u-5"}]}]),
            ),
            group_with(|g| g["members"] = json!([{"value": "u-2"}, {"value": "u-5"}])),
        ),
    ]
}

fn rfc_cases() -> Vec<Case> {
    use ScimType::*;
    vec![
        ok_user(
            "rfc: add to an existing single-valued attribute replaces it",
            user(),
            ops(json!([{"op": "add", "path": "userName", "value": "bob@example.com"}])),
            user_with(|u| u["userName"] = json!("bob@example.com")),
        ),
        ok_user(
            "rfc: add to a multi-valued attribute appends",
            user(),
            ops(
                json!([{"op": "add", "path": "emails", "value": [{"value": "a@home.example", "type": "home"}]}]),
            ),
            user_with(|u| {
                u["emails"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "a@home.example", "type": "home"}))
            }),
        ),
        ok_user(
            "rfc: add of an email already present (other case) does not duplicate",
            user(),
            ops(
                json!([{"op": "add", "path": "emails", "value": [{"value": "ALICE@example.com", "type": "work"}]}]),
            ),
            user(),
        ),
        ok_user(
            "rfc: replace a multi-valued attribute whole",
            user(),
            ops(
                json!([{"op": "replace", "path": "emails", "value": [{"value": "b@example.com", "type": "work"}]}]),
            ),
            user_with(|u| u["emails"] = json!([{"value": "b@example.com", "type": "work"}])),
        ),
        ok_user(
            "rfc: remove a multi-valued attribute without filter removes all",
            user(),
            ops(json!([{"op": "remove", "path": "emails"}])),
            user_with(|u| remove_key(u, "emails")),
        ),
        ok_user(
            "rfc: remove with a filter removes matching elements; empty list is unassigned",
            user(),
            ops(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])),
            user_with(|u| remove_key(u, "emails")),
        ),
        ok_user(
            "rfc: remove with filter and sub-attribute removes the sub-attribute",
            user(),
            ops(json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}])),
            user_with(|u| u["emails"] = json!([{"value": "alice@example.com", "type": "work"}])),
        ),
        err_user(
            "rfc: replace with a filter and no sub-attribute matching nothing is noTarget",
            user(),
            ops(
                json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.example"}}]),
            ),
            NoTarget,
        ),
        err_user(
            "rfc: replace sub-attribute on a non-eq filter matching nothing is noTarget",
            user(),
            ops(
                json!([{"op": "replace", "path": "emails[value co \"nomatch\"].value", "value": "h@x.example"}]),
            ),
            NoTarget,
        ),
        err_user(
            "rfc: add on a non-eq filter matching nothing is noTarget",
            user(),
            ops(
                json!([{"op": "add", "path": "emails[value co \"nomatch\"].value", "value": "h@x.example"}]),
            ),
            NoTarget,
        ),
        ok_user(
            "rfc: replace with a filter and no sub-attribute replaces the element",
            user(),
            ops(
                json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "w@x.example", "type": "work"}}]),
            ),
            user_with(|u| u["emails"] = json!([{"value": "w@x.example", "type": "work"}])),
        ),
        ok_user(
            "add with a filter and an object merges into the element",
            user(),
            ops(
                json!([{"op": "add", "path": "emails[type eq \"work\"]", "value": {"display": "Work"}}]),
            ),
            user_with(|u| u["emails"][0]["display"] = json!("Work")),
        ),
        ok_user(
            "add with an 'and' of eq terms creates the element with all of them",
            user_with(|u| remove_key(u, "emails")),
            ops(
                json!([{"op": "add", "path": "emails[type eq \"work\" and primary eq true].value", "value": "w@x.example"}]),
            ),
            user_with(|u| {
                u["emails"] = json!([{"type": "work", "primary": true, "value": "w@x.example"}])
            }),
        ),
        ok_user(
            "add with filter and no sub-attribute creates the element from filter and value",
            user_with(|u| remove_key(u, "emails")),
            ops(
                json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.example"}}]),
            ),
            user_with(|u| u["emails"] = json!([{"type": "home", "value": "h@x.example"}])),
        ),
        err_user(
            "required: remove userName",
            user(),
            ops(json!([{"op": "remove", "path": "userName"}])),
            InvalidValue,
        ),
        err_user(
            "required: replace userName with \"\"",
            user(),
            ops(json!([{"op": "replace", "path": "userName", "value": ""}])),
            InvalidValue,
        ),
        err_user(
            "required: replace userName with null",
            user(),
            ops(json!([{"op": "replace", "path": "userName", "value": null}])),
            InvalidValue,
        ),
        err_user(
            "required: path-less userName null",
            user(),
            ops(json!([{"op": "replace", "value": {"userName": null}}])),
            InvalidValue,
        ),
        ok_user(
            "required upstream: removing every email is left to the mapping (userName may be the address)",
            user(),
            ops(json!([{"op": "remove", "path": "emails"}])),
            user_with(|u| remove_key(u, "emails")),
        ),
        ok_user(
            "required upstream: removing the only email by value filter is left to the mapping",
            user(),
            ops(json!([{"op": "Remove", "path": "emails[type eq \"work\"]"}])),
            user_with(|u| remove_key(u, "emails")),
        ),
        ok_user(
            "required upstream: removing name is left to the mapping, which names the Bandwidth rule",
            user(),
            ops(json!([{"op": "remove", "path": "name"}])),
            user_with(|u| remove_key(u, "name")),
        ),
        err_group(
            "required: group displayName removed",
            group(),
            ops(json!([{"op": "remove", "path": "displayName"}])),
            InvalidValue,
        ),
        ok_user(
            "case: path 'username' updates the stored userName key",
            user(),
            ops(json!([{"op": "replace", "path": "username", "value": "al@example.com"}])),
            user_with(|u| u["userName"] = json!("al@example.com")),
        ),
        ok_user(
            "case: path-less 'USERNAME' updates the stored key",
            user(),
            ops(json!([{"op": "replace", "value": {"USERNAME": "al@example.com"}}])),
            user_with(|u| u["userName"] = json!("al@example.com")),
        ),
        ok_user(
            "case: name.GIVENNAME updates the stored givenName",
            user(),
            ops(json!([{"op": "replace", "path": "NAME.GIVENNAME", "value": "Al"}])),
            user_with(|u| u["name"]["givenName"] = json!("Al")),
        ),
        ok_user(
            "case: stored odd spelling is kept, new keys use the schema's",
            user_with(|u| u["DisplayName"] = json!("A")),
            ops(json!([{"op": "replace", "value": {"displayname": "B", "nickname": "Ali"}}])),
            user_with(|u| {
                u["DisplayName"] = json!("B");
                u["nickName"] = json!("Ali");
            }),
        ),
        ok_user(
            "unknown: a top-level attribute is stored as given",
            user(),
            ops(json!([{"op": "add", "value": {"customFlag": 3}}])),
            user_with(|u| u["customFlag"] = json!(3)),
        ),
        ok_user(
            "unknown: an extension object is stored and its URN listed",
            user(),
            ops(
                json!([{"op": "add", "value": {"urn:example:ext:1.0:User": {"badge": "B-7", "level": 2}}}]),
            ),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, "urn:example:ext:1.0:User"]);
                u["urn:example:ext:1.0:User"] = json!({"badge": "B-7", "level": 2});
            }),
        ),
        ok_user(
            "unknown: URN-qualified path of another extension",
            user(),
            ops(
                json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:greenhouse:2.0:User:department_ids", "value": [{"value": "1"}]}]),
            ),
            user_with(|u| {
                u["schemas"] = json!([
                    USER_SCHEMA,
                    "urn:ietf:params:scim:schemas:extension:greenhouse:2.0:User"
                ]);
                u["urn:ietf:params:scim:schemas:extension:greenhouse:2.0:User"] =
                    json!({"department_ids": [{"value": "1"}]});
            }),
        ),
        ok_user(
            "unknown: add to a stored unknown list appends",
            user_with(|u| u["tags"] = json!(["a"])),
            ops(json!([{"op": "add", "path": "tags", "value": ["b", "a"]}])),
            user_with(|u| u["tags"] = json!(["a", "b"])),
        ),
        ok_user(
            "unknown: filter on an unknown list's sub-attribute",
            user_with(|u| {
                u["badges"] = json!([{"kind": "door", "code": "1"}, {"kind": "car", "code": "2"}])
            }),
            ops(json!([{"op": "remove", "path": "badges[kind eq \"door\"]"}])),
            user_with(|u| u["badges"] = json!([{"kind": "car", "code": "2"}])),
        ),
        err_user(
            "readOnly: explicit path id",
            user(),
            ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
            Mutability,
        ),
        err_user(
            "readOnly: explicit path meta.lastModified",
            user(),
            ops(
                json!([{"op": "replace", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z"}]),
            ),
            Mutability,
        ),
        err_user(
            "readOnly: explicit path groups",
            user(),
            ops(json!([{"op": "remove", "path": "groups"}])),
            Mutability,
        ),
        ok_user(
            "readOnly: id, meta and groups inside a value are ignored",
            user(),
            ops(
                json!([{"op": "replace", "value": {"id": "x", "meta": {"version": "W/1"}, "groups": [{"value": "g"}], "title": "T"}}]),
            ),
            user_with(|u| u["title"] = json!("T")),
        ),
        err_user(
            "readOnly: explicit path into the bridge extension",
            user(),
            ops(
                json!([{"op": "replace", "path": "urn:scim-bridge:schemas:extension:bandwidth:2.0:User:syncState", "value": "synced"}]),
            ),
            Mutability,
        ),
        err_user(
            "readOnly: removing the whole bridge extension",
            user(),
            ops(
                json!([{"op": "remove", "path": "urn:scim-bridge:schemas:extension:bandwidth:2.0:User"}]),
            ),
            Mutability,
        ),
        ok_user(
            "readOnly: bridge extension inside a value is ignored",
            user(),
            ops(
                json!([{"op": "replace", "value": {"urn:scim-bridge:schemas:extension:bandwidth:2.0:User": {"syncState": "synced"}, "title": "T"}}]),
            ),
            user_with(|u| u["title"] = json!("T")),
        ),
        err_user(
            "readOnly: explicit path schemas",
            user(),
            ops(json!([{"op": "replace", "path": "schemas", "value": []}])),
            Mutability,
        ),
        ok_user(
            "readOnly: schemas inside a value is ignored",
            user(),
            ops(json!([{"op": "replace", "value": {"schemas": ["x"], "title": "T"}}])),
            user_with(|u| u["title"] = json!("T")),
        ),
        err_group(
            "immutable: changing a member's value",
            group(),
            ops(
                json!([{"op": "replace", "path": "members[value eq \"u-1\"].value", "value": "u-9"}]),
            ),
            Mutability,
        ),
        ok_group(
            "immutable: setting the same value is allowed",
            group(),
            ops(
                json!([{"op": "replace", "path": "members[value eq \"u-1\"].value", "value": "u-1"}]),
            ),
            group(),
        ),
        err_group(
            "replace a member's display through a filter is refused (display is computed)",
            group(),
            ops(
                json!([{"op": "replace", "path": "members[value eq \"u-2\"].display", "value": "Robert"}]),
            ),
            Mutability,
        ),
        err_user(
            "path: unterminated filter",
            user(),
            ops(json!([{"op": "remove", "path": "emails[type eq"}])),
            InvalidPath,
        ),
        err_user(
            "path: empty segment",
            user(),
            ops(json!([{"op": "replace", "path": "name..x", "value": 1}])),
            InvalidPath,
        ),
        err_user(
            "path: junk after the filter",
            user(),
            ops(json!([{"op": "replace", "path": "emails[type eq \"work\"]x", "value": 1}])),
            InvalidPath,
        ),
        err_user(
            "path: spaces inside a name",
            user(),
            ops(json!([{"op": "replace", "path": "user name", "value": "x"}])),
            InvalidPath,
        ),
        err_user(
            "path: filter after a sub-attribute",
            user(),
            ops(json!([{"op": "replace", "path": "name.givenName[type eq \"x\"]", "value": "x"}])),
            InvalidPath,
        ),
        err_user(
            "types: non-boolean string for a primary",
            user(),
            ops(
                json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "maybe"}]),
            ),
            InvalidValue,
        ),
        err_user(
            "types: a string for the complex name",
            user(),
            ops(json!([{"op": "replace", "path": "name", "value": "Alice"}])),
            InvalidValue,
        ),
        err_user(
            "types: two values for a single-valued attribute",
            user(),
            ops(json!([{"op": "replace", "path": "title", "value": ["a", "b"]}])),
            InvalidValue,
        ),
        ok_user(
            "types: a one-element list for a single-valued attribute is unwrapped",
            user(),
            ops(json!([{"op": "replace", "path": "title", "value": ["CTO"]}])),
            user_with(|u| u["title"] = json!("CTO")),
        ),
        ok_user(
            "types: a number for a string is stringified",
            user(),
            ops(json!([{"op": "add", "path": format!("{ENT}:employeeNumber"), "value": 42}])),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"employeeNumber": "42"});
            }),
        ),
        err_user(
            "types: an object for a string",
            user(),
            ops(json!([{"op": "replace", "path": "title", "value": {"a": 1}}])),
            InvalidValue,
        ),
        err_user(
            "types: a boolean for a string",
            user(),
            ops(json!([{"op": "replace", "path": "displayName", "value": true}])),
            InvalidValue,
        ),
        err_user(
            "types: bad string boolean inside a path-less value",
            user(),
            ops(json!([{"op": "replace", "value": {"active": "nope"}}])),
            InvalidValue,
        ),
        ok_user(
            "extension: path naming the whole extension merges its attributes",
            ent_user(),
            ops(json!([{"op": "replace", "path": ENT, "value": {"division": "EU"}}])),
            ent_user_with(|u| u[ENT]["division"] = json!("EU")),
        ),
        ok_user(
            "extension: remove the whole extension by its URN",
            ent_user(),
            ops(json!([{"op": "remove", "path": ENT}])),
            user(),
        ),
        ok_user(
            "extension: URN path in another case",
            ent_user(),
            ops(
                json!([{"op": "replace", "path": format!("{}:Department", ENT.to_uppercase()), "value": "Ops"}]),
            ),
            ent_user_with(|u| u[ENT]["department"] = json!("Ops")),
        ),
        err_user(
            "extension: a scalar for the whole extension",
            ent_user(),
            ops(json!([{"op": "replace", "path": ENT, "value": "x"}])),
            InvalidValue,
        ),
        ok_user(
            "null: add null unassigns",
            user_with(|u| u["title"] = json!("T")),
            ops(json!([{"op": "add", "path": "title", "value": null}])),
            user(),
        ),
        ok_user(
            "null: add [] to a list changes nothing",
            user(),
            ops(json!([{"op": "add", "path": "emails", "value": []}])),
            user(),
        ),
        ok_user(
            "null: replace a list with [] unassigns it",
            user(),
            ops(json!([{"op": "replace", "path": "emails", "value": []}])),
            user_with(|u| remove_key(u, "emails")),
        ),
        ok_user(
            "remove: an absent attribute is a no-op",
            user(),
            ops(json!([{"op": "remove", "path": "nickName"}])),
            user(),
        ),
        ok_user(
            "remove: an absent extension attribute is a no-op",
            user(),
            ops(json!([{"op": "remove", "path": format!("{ENT}:department")}])),
            user(),
        ),
        ok_user(
            "remove: a sub-attribute",
            user(),
            ops(json!([{"op": "remove", "path": "name.familyName"}])),
            user_with(|u| u["name"] = json!({"givenName": "Alice"})),
        ),
        ok_user(
            "remove: the last sub-attribute unassigns the complex attribute",
            user_with(|u| u["name"] = json!({"givenName": "Alice"})),
            ops(json!([{"op": "remove", "path": "name.givenName"}])),
            user_with(|u| remove_key(u, "name")),
        ),
        ok_user(
            "remove: emails with a value list removes matching values only",
            user_with(|u| {
                u["emails"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "h@x.example", "type": "home"}))
            }),
            ops(json!([{"op": "remove", "path": "emails", "value": [{"value": "h@x.example"}]}])),
            user(),
        ),
        ok_user(
            "remove: sub-attribute of every element (no filter)",
            user(),
            ops(json!([{"op": "remove", "path": "emails.primary"}])),
            user_with(|u| u["emails"] = json!([{"value": "alice@example.com", "type": "work"}])),
        ),
        ok_user(
            "remove: with a filter matching nothing is a no-op",
            user(),
            ops(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])),
            user(),
        ),
        ok_user(
            "remove: with a filter on an absent list is a no-op",
            user(),
            ops(json!([{"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"}])),
            user(),
        ),
        ok_group(
            "members: bare string ids become {\"value\": id}",
            group(),
            ops(json!([{"op": "add", "path": "members", "value": ["u-3"]}])),
            group_with(|g| {
                g["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "u-3"}))
            }),
        ),
        ok_group(
            "members: remove without value removes all",
            group(),
            ops(json!([{"op": "remove", "path": "members"}])),
            group_with(|g| remove_key(g, "members")),
        ),
        ok_group(
            "members: values are case-sensitive ids",
            group(),
            ops(json!([{"op": "add", "path": "members", "value": [{"value": "U-1"}]}])),
            group_with(|g| {
                g["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "U-1"}))
            }),
        ),
        ok_group(
            "members: add to a group without members",
            group_with(|g| remove_key(g, "members")),
            ops(json!([{"op": "add", "path": "members", "value": [{"value": "u-1"}]}])),
            group_with(|g| g["members"] = json!([{"value": "u-1"}])),
        ),
        ok_group(
            "members: remove the last member by filter unassigns members",
            group_with(|g| g["members"] = json!([{"value": "u-1"}])),
            ops(json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}])),
            group_with(|g| remove_key(g, "members")),
        ),
        err_group(
            "required: group displayName replaced with null",
            group(),
            ops(json!([{"op": "replace", "path": "displayName", "value": null}])),
            InvalidValue,
        ),
        ok_user(
            "primary: replace with two primaries keeps the last",
            user(),
            ops(
                json!([{"op": "replace", "path": "phoneNumbers", "value": [{"value": "1", "primary": true}, {"value": "2", "primary": true}]}]),
            ),
            user_with(|u| {
                u["phoneNumbers"] =
                    json!([{"value": "1", "primary": false}, {"value": "2", "primary": true}])
            }),
        ),
        ok_user(
            "primary: setting primary through a filter clears the others",
            user_with(|u| {
                u["emails"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "h@x.example", "type": "home"}))
            }),
            ops(
                json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
            ),
            user_with(|u| {
                u["emails"] = json!([
                    {"value": "alice@example.com", "type": "work", "primary": false},
                    {"value": "h@x.example", "type": "home", "primary": true}
                ])
            }),
        ),
        ok_user(
            "replace name with an object merges sub-attributes",
            user(),
            ops(json!([{"op": "replace", "path": "name", "value": {"middleName": "J"}}])),
            user_with(|u| u["name"]["middleName"] = json!("J")),
        ),
        ok_user(
            "add manager.value sets the manager",
            user(),
            ops(json!([{"op": "add", "path": format!("{ENT}:manager.value"), "value": "m-5"}])),
            user_with(|u| {
                u["schemas"] = json!([USER_SCHEMA, ENT]);
                u[ENT] = json!({"manager": {"value": "m-5"}});
            }),
        ),
        ok_user(
            "password (writeOnly) can be set",
            user(),
            ops(json!([{"op": "replace", "path": "password", "value": "s3cret!"}])),
            user_with(|u| u["password"] = json!("s3cret!")),
        ),
        ok_user(
            "path-less add of a list appends to it",
            user(),
            ops(
                json!([{"op": "add", "value": {"emails": [{"value": "h@x.example", "type": "home"}]}}]),
            ),
            user_with(|u| {
                u["emails"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"value": "h@x.example", "type": "home"}))
            }),
        ),
        ok_user(
            "path-less replace of a list replaces it",
            user(),
            ops(
                json!([{"op": "replace", "value": {"emails": [{"value": "h@x.example", "type": "home"}]}}]),
            ),
            user_with(|u| u["emails"] = json!([{"value": "h@x.example", "type": "home"}])),
        ),
        ok_user(
            "value sub-attribute keys take the schema's spelling",
            user_with(|u| remove_key(u, "emails")),
            ops(
                json!([{"op": "add", "path": "emails", "value": [{"Value": "a@x.example", "TYPE": "work"}]}]),
            ),
            user_with(|u| u["emails"] = json!([{"value": "a@x.example", "type": "work"}])),
        ),
        ok_user(
            "operations apply in order on the result of the previous one",
            user(),
            ops(json!([
                {"op": "add", "path": "title", "value": "A"},
                {"op": "replace", "path": "title", "value": "B"},
                {"op": "remove", "path": "title"}
            ])),
            user(),
        ),
        err_user(
            "atomic: a failing later operation fails the request",
            user(),
            ops(json!([
                {"op": "replace", "path": "title", "value": "A"},
                {"op": "replace", "path": "active", "value": "perhaps"}
            ])),
            InvalidValue,
        ),
        ok_user(
            "add to a bare core URN path applies to the top level",
            user(),
            ops(json!([{"op": "add", "path": USER_SCHEMA, "value": {"title": "T"}}])),
            user_with(|u| u["title"] = json!("T")),
        ),
        err_user(
            "remove of the core URN is invalidPath",
            user(),
            ops(json!([{"op": "remove", "path": USER_SCHEMA}])),
            InvalidPath,
        ),
        ok_user(
            "ims and photos: photos value is a reference string",
            user(),
            ops(
                json!([{"op": "add", "path": "photos", "value": [{"value": "https://p.example/a.jpg", "type": "photo"}]}]),
            ),
            user_with(|u| {
                u["photos"] = json!([{"value": "https://p.example/a.jpg", "type": "photo"}])
            }),
        ),
        ok_user(
            "addresses: add with filter creates a work address",
            user(),
            ops(
                json!([{"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Raleigh"}]),
            ),
            user_with(|u| u["addresses"] = json!([{"type": "work", "locality": "Raleigh"}])),
        ),
        ok_user(
            "addresses: update the work address's locality",
            user_with(|u| {
                u["addresses"] = json!([{"type": "work", "locality": "Cary", "region": "NC"}])
            }),
            ops(
                json!([{"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Raleigh"}]),
            ),
            user_with(|u| {
                u["addresses"] = json!([{"type": "work", "locality": "Raleigh", "region": "NC"}])
            }),
        ),
        err_user(
            "sub-attribute replace on an empty list is noTarget",
            user_with(|u| remove_key(u, "emails")),
            ops(json!([{"op": "replace", "path": "emails.value", "value": "x@y.example"}])),
            NoTarget,
        ),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut cases = envelope_cases();
    cases.extend(okta_cases());
    cases.extend(entra_cases());
    cases.extend(onelogin_cases());
    cases.extend(rfc_cases());
    cases
}

#[test]
fn patch_table() {
    let cases = all_cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let mut resource = case.resource.clone();
        let result = apply_patch(&mut resource, &case.body, case.schema);
        match (&case.expect, result) {
            (Expect::Resource(expected), Ok(_)) if &resource == expected => {}
            (Expect::Resource(expected), Ok(_)) => failures.push(format!(
                "{}:\n  got      {resource}\n  expected {expected}",
                case.name
            )),
            (Expect::Resource(_), Err(e)) => {
                failures.push(format!("{}: unexpected error {e:?}", case.name))
            }
            (Expect::Error(status, t), Err(e))
                if e.status == *status && e.scim_type == Some(*t) =>
            {
                if resource != case.resource {
                    failures.push(format!("{}: resource changed on error", case.name));
                }
            }
            (Expect::Error(status, t), Err(e)) => {
                failures.push(format!("{}: expected {status} {t:?}, got {e:?}", case.name))
            }
            (Expect::Error(..), Ok(_)) => {
                failures.push(format!("{}: expected an error, got {resource}", case.name))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn case_names_are_unique() {
    let cases = all_cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
}

#[test]
fn outcome_lists_changed_top_level_keys() {
    let mut u = ent_user();
    let body = ops(json!([
        {"op": "replace", "path": "active", "value": "False"},
        {"op": "replace", "path": format!("{ENT}:department"), "value": "Ops"}
    ]));
    let out = apply_patch(&mut u, &body, schema::user()).unwrap();
    assert_eq!(out.changed, vec!["active".to_string(), ENT.to_string()]);
    assert!(out.changed("ACTIVE"));
    let again = apply_patch(&mut u, &body, schema::user()).unwrap();
    assert!(
        !again.is_modified(),
        "re-applying the same PATCH changes nothing"
    );
}

#[test]
fn large_member_lists_stay_fast() {
    let existing: Vec<Value> = (0..10_000)
        .map(|i| json!({"value": format!("u-{i}")}))
        .collect();
    let mut g =
        json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "Big", "members": existing});
    let adding: Vec<Value> = (5_000..15_000)
        .map(|i| json!({"value": format!("u-{i}")}))
        .collect();
    let start = std::time::Instant::now();
    apply_patch(
        &mut g,
        &ops(json!([{"op": "add", "path": "members", "value": adding}])),
        schema::group(),
    )
    .unwrap();
    assert_eq!(g["members"].as_array().map(Vec::len), Some(15_000));
    let removing: Vec<Value> = (0..10_000)
        .map(|i| json!({"value": format!("u-{i}")}))
        .collect();
    apply_patch(
        &mut g,
        &ops(json!([{"op": "remove", "path": "members", "value": removing}])),
        schema::group(),
    )
    .unwrap();
    assert_eq!(g["members"].as_array().map(Vec::len), Some(5_000));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

mod props {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::super::schema;
    use super::super::apply_patch;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-zA-Z.:\\[\\] \"$_-]{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("members"),
                Just("emails"),
                Just("userName"),
                Just("True"),
                Just("name.givenName"),
                Just("emails[type eq \"work\"].value"),
                Just("members[value eq \"u\"]"),
                Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
                Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                Just("urn:scim:schemas:core:2.0"),
                Just("add"),
                Just("Remove"),
                Just("replace"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("op".to_string()),
                            Just("path".to_string()),
                            Just("value".to_string()),
                            Just("Operations".to_string()),
                            Just("members".to_string()),
                            Just("value".to_string()),
                            Just("primary".to_string()),
                            Just(
                                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
                                    .to_string()
                            ),
                            "[a-zA-Z.]{1,8}",
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_op() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("x")],
            proptest::option::of(prop_oneof![
                Just("members".to_string()),
                Just("emails[type eq \"work\"].value".to_string()),
                Just("members[value eq \"u-1\"]".to_string()),
                Just("name.givenName".to_string()),
                Just(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
                        .to_string()
                ),
                Just("active".to_string()),
                "[a-zA-Z.\\[\\] \"=]{0,16}",
            ]),
            arb_json(),
        )
            .prop_map(|(op, path, value)| {
                let mut o = json!({"op": op, "value": value});
                if let Some(p) = path {
                    o["path"] = json!(p);
                }
                o
            })
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bodies(body in arb_json()) {
            let mut u = super::ent_user();
            let _ = apply_patch(&mut u, &body, schema::user());
            let mut g = super::group();
            let _ = apply_patch(&mut g, &body, schema::group());
        }

        #[test]
        fn never_panics_on_arbitrary_operations(list in prop::collection::vec(arb_op(), 1..5)) {
            let body = json!({"Operations": list});
            let mut u = super::ent_user();
            let before = u.clone();
            match apply_patch(&mut u, &body, schema::user()) {
                Ok(_) => prop_assert!(u.is_object()),
                Err(e) => {
                    prop_assert_eq!(&u, &before);
                    prop_assert!(e.status == 400);
                }
            }
            let mut g = super::group();
            let _ = apply_patch(&mut g, &body, schema::group());
        }
    }
}
