//! PATCH engine on untrusted input (PATCH bodies come straight from identity providers).
//!
//! Two modes, chosen by the input:
//! - **raw**: input that parses as JSON is applied as a whole PatchOp body;
//! - **structured**: anything else drives `arbitrary` to build
//!   `{"Operations":[{"op":..,"path":..,"value":..}, ..]}` with ops in the IdP spellings,
//!   paths made of real attribute names / value filters / sub-attributes (or arbitrary
//!   text) and arbitrary JSON values, so the fuzzer gets past the envelope checks and deep
//!   into path resolution and multi-valued handling.
//!
//! Each body is applied to a fixed user (as User) and a fixed group (as Group). Checks:
//! no panic/hang/stack overflow; errors are 4xx; a failed PATCH leaves the resource
//! unchanged (atomicity); a successful one leaves it a JSON object.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::patch::apply_patch;
use scim_bridge::scim::schema::{self, ResourceSchema};
use serde_json::{json, Map, Number, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn sample_user() -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    USER.get_or_init(|| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "u-1",
            "externalId": "00u1abcd",
            "userName": "alice@example.com",
            "active": true,
            "displayName": "Alice Smith",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-0100", "type": "mobile"}],
            "addresses": [{"type": "work", "locality": "Raleigh", "country": "US"}],
            ENTERPRISE: {"department": "Sales", "employeeNumber": "42", "manager": {"value": "m-1"}},
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}
        })
    })
}

fn sample_group() -> &'static Value {
    static GROUP: OnceLock<Value> = OnceLock::new();
    GROUP.get_or_init(|| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g-1",
            "displayName": "Sales",
            "members": [
                {"value": "u-1", "display": "Alice", "type": "User"},
                {"value": "u-2", "display": "Bob"}
            ],
            "meta": {"resourceType": "Group"}
        })
    })
}

fn check(resource: &Value, body: &Value, schema: &ResourceSchema) {
    let mut work = resource.clone();
    match apply_patch(&mut work, body, schema) {
        Ok(_) => assert!(work.is_object(), "PATCH turned the resource into {work}"),
        Err(e) => {
            assert!(
                (400..500).contains(&e.status),
                "PATCH error is not 4xx: {e:?}\nbody: {body}"
            );
            assert_eq!(&work, resource, "failed PATCH changed the resource");
        }
    }
}

const OPS: &[&str] = &[
    "add",
    "replace",
    "remove",
    "Add",
    "Replace",
    "Remove",
    "ADD",
    " replace ",
    "move",
    "",
];

const ATTRS: &[&str] = &[
    "userName",
    "active",
    "displayName",
    "name",
    "emails",
    "phoneNumbers",
    "addresses",
    "members",
    "groups",
    "id",
    "meta",
    "schemas",
    "externalId",
    "title",
    "x509Certificates",
    "roles",
    "entitlements",
    "ims",
    "photos",
    "password",
    "nickName",
    "not",
    "urn:ietf:params:scim:schemas:core:2.0:User:name",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:scim-bridge:schemas:extension:bandwidth:2.0:User:upstreamId",
    "urn:scim:schemas:core:2.0:userName",
];

const SUBS: &[&str] = &[
    "value",
    "type",
    "primary",
    "display",
    "givenName",
    "familyName",
    "formatted",
    "$ref",
    "displayName",
    "streetAddress",
    "nope",
];

const FILTERS: &[&str] = &[
    "type eq \"work\"",
    "type eq \"mobile\"",
    "value eq \"u-1\"",
    "value eq \"u-3\"",
    "primary eq true",
    "type eq \"work\" and value co \"@\"",
    "type eq \"home\" or primary pr",
    "not (type eq \"work\")",
    "value sw \"a\"",
    "display pr",
];

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> Result<&'a str> {
    Ok(*u.choose(from)?)
}

fn arb_path(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => None,
        1 => Some(String::arbitrary(u)?),
        2 => Some(pick(u, ATTRS)?.to_string()),
        3 => Some(format!("{}.{}", pick(u, ATTRS)?, pick(u, SUBS)?)),
        4 => Some(format!("{}[{}]", pick(u, ATTRS)?, pick(u, FILTERS)?)),
        _ => Some(format!(
            "{}[{}].{}",
            pick(u, ATTRS)?,
            pick(u, FILTERS)?,
            pick(u, SUBS)?
        )),
    })
}

fn arb_key(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => String::arbitrary(u)?,
        1 => pick(u, ATTRS)?.to_string(),
        2 => pick(u, SUBS)?.to_string(),
        _ => format!("{}.{}", pick(u, ATTRS)?, pick(u, SUBS)?),
    })
}

fn arb_string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => String::arbitrary(u)?,
        1 => pick(
            u,
            &[
                "True",
                "false",
                "",
                "work",
                "u-1",
                "u-2",
                "m-1",
                "2024-01-01T00:00:00Z",
            ],
        )?
        .to_string(),
        _ => pick(u, SUBS)?.to_string(),
    })
}

/// Arbitrary JSON, depth-bounded so a long input cannot build an absurdly deep value
/// (the raw mode covers deep nesting through serde_json's own recursion limit).
fn arb_json(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let max = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::Number(if bool::arbitrary(u)? {
            Number::from(i64::arbitrary(u)?)
        } else {
            Number::from_f64(f64::arbitrary(u)?).unwrap_or_else(|| Number::from(0))
        }),
        3 | 4 => Value::String(arb_string(u)?),
        5 => {
            let n = u.int_in_range(0..=3usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(arb_json(u, depth - 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=4usize)?;
            let mut map = Map::new();
            for _ in 0..n {
                let key = arb_key(u)?;
                map.insert(key, arb_json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

fn arb_body(u: &mut Unstructured<'_>) -> Result<Value> {
    let n = u.int_in_range(1..=3usize)?;
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        let mut op = Map::new();
        op.insert("op".into(), Value::String(pick(u, OPS)?.to_string()));
        if let Some(path) = arb_path(u)? {
            op.insert("path".into(), Value::String(path));
        }
        if u.int_in_range(0..=7u8)? != 0 {
            op.insert("value".into(), arb_json(u, 4)?);
        }
        ops.push(Value::Object(op));
    }
    let mut body = Map::new();
    if bool::arbitrary(u)? {
        body.insert(
            "schemas".into(),
            json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
        );
    }
    body.insert("Operations".into(), Value::Array(ops));
    Ok(Value::Object(body))
}

fuzz_target!(|data: &[u8]| {
    let body = match serde_json::from_slice::<Value>(data) {
        Ok(body) => body,
        Err(_) => match arb_body(&mut Unstructured::new(data)) {
            Ok(body) => body,
            Err(_) => return,
        },
    };
    check(sample_user(), &body, schema::user());
    check(sample_group(), &body, schema::group());
});
