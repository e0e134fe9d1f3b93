//! Filter parser and evaluator on untrusted input (the `filter=` query parameter and
//! `/.search` bodies come straight from identity providers).
//!
//! Checks, for every input that is UTF-8:
//! - `parse_filter` never panics, hangs or overflows the stack; errors are `400`;
//! - a parsed filter's canonical form parses back to the same AST;
//! - `check_filter` and `matches` against a fixed user never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::{check_filter, matches, parse_filter};
use scim_bridge::scim::schema;
use serde_json::{json, Value};

/// An Entra/Okta-shaped user touching every attribute type (string, boolean, integer,
/// decimal, dateTime, reference, binary, complex, multi-valued, extension, null, "").
fn sample_user() -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    USER.get_or_init(|| {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "00u1abcdEFGH",
            "userName": "Barbara.Jensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
            "displayName": "Babs Jensen",
            "nickName": "",
            "title": null,
            "active": "True",
            "profileUrl": "https://example.com/babs",
            "emails": [
                {"value": "barbara.jensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "postalCode": "91608", "country": "US", "primary": "true"}],
            "x509Certificates": [{"value": "TUlJRA=="}],
            "groups": [{"value": "g-1", "display": "Engineering", "type": "direct"}],
            "loginCount": 42,
            "score": 3.5,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "1234",
                "department": "Retail",
                "manager": {"value": "m-26", "displayName": "Boss"}
            },
            "meta": {
                "resourceType": "User",
                "created": "2019-06-01T12:00:00Z",
                "lastModified": "2021-03-04T05:06:07.5+01:00",
                "location": "https://scim.example.com/Users/2819c223",
                "version": "W/\"3\""
            }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match parse_filter(input) {
        Ok(f) => f,
        Err(e) => {
            assert_eq!(e.status, 400, "parse error is not a 400: {e:?}");
            return;
        }
    };
    let canonical = filter.to_string();
    assert_eq!(
        parse_filter(&canonical),
        Ok(filter.clone()),
        "canonical form {canonical:?} of {input:?} does not round-trip"
    );
    let types = schema::user();
    if let Err(e) = check_filter(&filter, types) {
        assert_eq!(e.status, 400, "check_filter error is not a 400: {e:?}");
    }
    let _ = matches(&filter, sample_user(), types);
});
