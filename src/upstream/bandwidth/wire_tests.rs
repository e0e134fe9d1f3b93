//! Unit tests of the wire shapes, written from docs/bandwidth-wire.md and
//! shared/bandwidth-api.md (not from the simulator).

use super::*;
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");
const XML: Option<&str> = Some("application/xml; charset=utf-8");

fn write_user(password: Option<&str>) -> WriteUser {
    WriteUser {
        profile: Profile {
            username: "jdoe".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            email: "jdoe@example.com".into(),
            phone: Some("+19195551234".into()),
        },
        grants: Grants {
            role_ids: vec!["r1".into(), "r2".into()],
            account_scope: AccountScope::AccountAdmin,
            accounts: vec!["9900001".into()],
        },
        active: false,
        password: password.map(|p| SecretString::from(p.to_string())),
    }
}

fn as_json(bytes: Result<Vec<u8>, TargetError>) -> Value {
    match bytes {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn v1_create_body_has_no_status_or_id() {
    let v = as_json(encode_user(
        Dialect::V1,
        WriteKind::Create,
        &write_user(None),
    ));
    assert_eq!(
        v,
        json!({"username":"jdoe","firstName":"Jane","lastName":"Doe","email":"jdoe@example.com",
               "phoneNumber":"+19195551234","accountScope":"ACCOUNT_ADMIN",
               "roles":["r1","r2"],"accounts":["9900001"]})
    );
}

#[test]
fn v1_put_body_carries_status() {
    let v = as_json(encode_user(
        Dialect::V1,
        WriteKind::Replace,
        &write_user(None),
    ));
    assert_eq!(v["status"], "DEACTIVATED");
    let mut u = write_user(None);
    u.active = true;
    u.profile.phone = None;
    let v = as_json(encode_user(Dialect::V1, WriteKind::Replace, &u));
    assert_eq!(v["status"], "ACTIVE");
    assert!(v.get("phoneNumber").is_none());
}

#[test]
fn dashboard_body_is_pascal_case_with_password_only_when_given() {
    let mut u = write_user(Some("S3cret!pass-word"));
    u.profile.phone = Some("9195551234".into());
    let v = as_json(encode_user(Dialect::Dashboard, WriteKind::Create, &u));
    assert_eq!(
        v,
        json!({"Username":"jdoe","FirstName":"Jane","LastName":"Doe","Email":"jdoe@example.com",
               "TelephoneNumber":"9195551234","Password":"S3cret!pass-word",
               "Roles":["r1","r2"],"AccountScope":"ACCOUNT_ADMIN","Enabled":false})
    );
    let v = as_json(encode_user(
        Dialect::Dashboard,
        WriteKind::Replace,
        &write_user(None),
    ));
    assert!(v.get("Password").is_none());
    assert!(!format!("{u:?}").contains("S3cret"));
}

#[test]
fn v1_user_and_list_decode() {
    let user = json!({"userId":"u-1","username":"jdoe","firstName":"Jane","lastName":"Doe",
        "email":"jdoe@example.com","accountScope":"ACCOUNT","roles":["r1"],
        "accounts":["9900001"],"status":"DEACTIVATED"});
    let body = serde_json::to_vec(&json!({"users":[user],
        "page":{"number":0,"size":100,"totalElements":1,"totalPages":1}}))
    .unwrap_or_default();
    let page = decode_list(Dialect::V1, JSON, &body).map_err(|e| e.to_string());
    let page = page.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.total_pages, Some(1));
    let u = &page.users[0];
    assert_eq!(u.id, "u-1");
    assert_eq!(u.profile.phone, None);
    assert!(!u.active);
    assert_eq!(u.accounts.as_deref(), Some(&["9900001".to_string()][..]));
    assert_eq!(
        u.roles,
        vec![RawRole {
            id: Some("r1".into()),
            name: None
        }]
    );
}

#[test]
fn dashboard_user_decodes_from_json() {
    let body = br#"{"UserId":"d-7","Username":"jdoe","FirstName":"Jane","LastName":"Doe",
        "Email":"jdoe@example.com","TelephoneNumber":"9195551234","Roles":["r2"],
        "AccountScope":"ACCOUNT_ADMIN","Enabled":true}"#;
    let u = decode_user(Dialect::Dashboard, JSON, body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u.id, "d-7");
    assert_eq!(u.profile.phone.as_deref(), Some("9195551234"));
    assert_eq!(u.account_scope, AccountScope::AccountAdmin);
    assert!(u.active);
    assert_eq!(u.accounts, None);
}

#[test]
fn dashboard_list_decodes_from_json() {
    let body = br#"{"Users":[],"Page":{"Number":2,"Size":100,"TotalElements":200,"TotalPages":2}}"#;
    let p = decode_list(Dialect::Dashboard, JSON, body).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.users.is_empty());
    assert_eq!(p.total_pages, Some(2));
}

#[test]
fn sdk_fixture_xml_list_decodes() {
    // Exactly the Iris SDK fixture shape: no UserId, roles by name, permissions inside.
    let body = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<UsersResponse><Users><User>
  <Username>jdoe</Username><FirstName>Jane</FirstName><LastName>Doe</LastName>
  <EmailAddress>jdoe@example.com</EmailAddress><TelephoneNumber>9195551234</TelephoneNumber>
  <Roles><Role><RoleName>ROLE_API_ORDERING</RoleName>
    <Permissions><Permission><PermissionName>VIEW</PermissionName></Permission></Permissions>
  </Role></Roles>
</User></Users></UsersResponse>"#;
    let p = decode_list(Dialect::Dashboard, XML, body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.users.len(), 1);
    let u = &p.users[0];
    assert_eq!(u.id, "jdoe");
    assert_eq!(u.profile.email, "jdoe@example.com");
    assert_eq!(
        u.roles,
        vec![RawRole {
            id: None,
            name: Some("ROLE_API_ORDERING".into())
        }]
    );
    assert!(u.active);
}

#[test]
fn contract_xml_user_and_empty_list_decode() {
    let body = br#"<UserResponse><User><UserId>d-1</UserId><Username>jdoe</Username>
<FirstName>Jane</FirstName><LastName>Doe</LastName><EmailAddress>j@x.com</EmailAddress>
<AccountScope>ACCOUNT_ADMIN</AccountScope><Enabled>false</Enabled>
<Roles><Role><RoleId>r1</RoleId><RoleName>basicAccess</RoleName></Role>
<Role><RoleId>r2</RoleId><RoleName>Ordering</RoleName></Role></Roles></User></UserResponse>"#;
    let u = decode_user(Dialect::Dashboard, XML, body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u.id, "d-1");
    assert!(!u.active);
    assert_eq!(u.account_scope, AccountScope::AccountAdmin);
    assert_eq!(u.roles.len(), 2);
    assert_eq!(
        u.roles[1],
        RawRole {
            id: Some("r2".into()),
            name: Some("Ordering".into())
        }
    );
    for empty in [
        &b"<UsersResponse><Users/></UsersResponse>"[..],
        b"<UsersResponse/>",
    ] {
        let p = decode_list(Dialect::Dashboard, XML, empty).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.users.is_empty());
    }
}

#[test]
fn roles_decode_in_every_form() {
    let v1 = br#"{"roles":[{"roleId":"r1","name":"basicAccess","description":"sign in"}]}"#;
    let r = decode_roles(Dialect::V1, JSON, v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r,
        vec![Role {
            id: "r1".into(),
            name: "basicAccess".into()
        }]
    );
    let d = br#"{"Roles":[{"RoleId":"r2","RoleName":"Ordering"}]}"#;
    let r = decode_roles(Dialect::Dashboard, JSON, d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r,
        vec![Role {
            id: "r2".into(),
            name: "Ordering".into()
        }]
    );
    let x = br#"<RolesResponse><Roles><Role><RoleId>r2</RoleId><RoleName>Ordering</RoleName></Role><Role><RoleId>r3</RoleId><RoleName>Porting</RoleName></Role></Roles></RolesResponse>"#;
    let r = decode_roles(Dialect::Dashboard, XML, x).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].name, "Porting");
}

#[test]
fn error_descriptions_from_every_shape() {
    let v1 = br#"{"errors":[{"code":"409","description":"username taken"},{"code":"x","description":"email taken"}]}"#;
    assert_eq!(
        error_description(JSON, v1).as_deref(),
        Some("username taken; email taken")
    );
    let d = br#"{"Errors":[{"Code":"403","Description":"role Porting not held"}]}"#;
    assert_eq!(
        error_description(JSON, d).as_deref(),
        Some("role Porting not held")
    );
    let t = br#"{"error":"invalid_client"}"#;
    assert_eq!(
        error_description(JSON, t).as_deref(),
        Some("invalid_client")
    );
    let x = br#"<ErrorResponse><ResponseStatus><ErrorCode>12504</ErrorCode><Description>Username taken</Description></ResponseStatus></ErrorResponse>"#;
    assert_eq!(error_description(XML, x).as_deref(), Some("Username taken"));
    assert_eq!(
        error_description(None, x).as_deref(),
        Some("Username taken")
    );
    assert_eq!(error_description(JSON, b""), None);
    assert_eq!(
        error_description(Some("text/html"), b"<html>oops</html>"),
        None
    );
}

#[test]
fn unexpected_content_is_a_protocol_error_naming_the_type() {
    match decode_user(Dialect::V1, Some("text/html"), b"<html/>") {
        Err(TargetError::Protocol(m)) => assert!(m.contains("text/html"), "{m}"),
        other => panic!("{other:?}"),
    }
    match decode_user(Dialect::V1, JSON, b"{\"userId\":1}") {
        Err(TargetError::Protocol(_)) => {}
        other => panic!("{other:?}"),
    }
    match decode_token(JSON, b"{}") {
        Err(TargetError::Protocol(_)) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("decoded an empty token"),
    }
}

#[test]
fn token_answer_decodes() {
    let t = decode_token(
        JSON,
        br#"{"access_token":"eyJ.a.b","expires_in":3600,"token_type":"Bearer"}"#,
    );
    match t {
        Ok(t) => {
            assert_eq!(t.access_token, "eyJ.a.b");
            assert_eq!(t.expires_in, 3600);
        }
        Err(e) => panic!("{e}"),
    }
}
