mod common;

use bandwidth_sim::{Dialect, Faults};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn create_json(sim: &bandwidth_sim::SimHandle, body: &Value) -> reqwest::Response {
    send(dash_json(sim, Method::POST, "/users").json(body)).await
}

/// Posts a raw XML user (well-formed or not) to /users.
async fn create_xml(sim: &bandwidth_sim::SimHandle, body: &'static str) -> reqwest::Response {
    send_body(
        dash_xml(sim, Method::POST, "/users"),
        "application/xml",
        body,
    )
    .await
}

fn is_xml(resp: &reqwest::Response) -> bool {
    resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("xml")
}

/// Asserts the dashboard refused with `status` and a first error that mentions `needle`.
async fn assert_refused(resp: reqwest::Response, status: u16, needle: &str) {
    assert_eq!(resp.status(), status);
    let err: Value = resp.json().await.unwrap();
    let desc = err["Errors"][0]["Description"].as_str().unwrap();
    assert!(desc.contains(needle), "{desc}");
}

#[tokio::test]
async fn basic_auth_is_required_on_every_call() {
    let sim = start_dashboard().await;
    let resp = control(Method::GET, dash_url(&sim, "/users"), None).await;
    assert_eq!(resp.status(), 401);
    assert!(is_xml(&resp));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<ErrorResponse><ResponseStatus><ErrorCode>"),
        "{text}"
    );

    let resp = send(
        client()
            .get(dash_url(&sim, "/roles"))
            .basic_auth("sim-user", Some("wrong"))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["Errors"][0]["Code"], "unauthorized");

    // The v1 token endpoint does not exist in this dialect.
    let resp = token_response(&sim, "sim-client", "sim-secret").await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn create_get_list_in_json_and_xml() {
    let sim = start_dashboard().await;
    let resp = create_json(&sim, &dash_user("jdoe")).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["UserId"].as_str().unwrap().to_string();
    assert_eq!(created["Username"], "jdoe");
    assert_eq!(created["Email"], "jdoe@example.com");
    assert_eq!(created["TelephoneNumber"], "9195551234");
    assert_eq!(created["Roles"], json!(["r-0010"]));
    assert_eq!(created["AccountScope"], "ACCOUNT");
    assert_eq!(created["Enabled"], true);
    assert!(created.get("Password").is_none(), "password is write-only");

    let got: Value = json_of(dash_json(&sim, Method::GET, &format!("/users/{id}"))).await;
    assert_eq!(got, created);

    let resp = send(dash_xml(&sim, Method::GET, &format!("/users/{id}"))).await;
    assert_eq!(resp.status(), 200);
    assert!(is_xml(&resp));
    let xml = resp.text().await.unwrap();
    for needle in [
        "<UserResponse><User>",
        &format!("<UserId>{id}</UserId>"),
        "<Username>jdoe</Username>",
        "<FirstName>Jane</FirstName>",
        "<EmailAddress>jdoe@example.com</EmailAddress>",
        "<TelephoneNumber>9195551234</TelephoneNumber>",
        "<AccountScope>ACCOUNT</AccountScope>",
        "<Enabled>true</Enabled>",
        "<Roles><Role><RoleId>r-0010</RoleId><RoleName>Ordering</RoleName></Role></Roles>",
    ] {
        assert!(xml.contains(needle), "{xml} lacks {needle}");
    }
    assert!(!xml.contains("Password"));

    let xml = send(dash_xml(&sim, Method::GET, "/users"))
        .await
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<UsersResponse><Users><User>"), "{xml}");
    assert!(xml.contains("<TotalElements>1</TotalElements>"));

    let list: Value = json_of(dash_json(&sim, Method::GET, "/users?Username=JDOE")).await;
    assert_eq!(list["Users"][0]["UserId"], id.as_str());
    assert_eq!(
        list["Page"],
        json!({"Number":0,"Size":20,"TotalElements":1,"TotalPages":1})
    );
    let list: Value = json_of(dash_json(
        &sim,
        Method::GET,
        "/users?Email=nobody@example.com",
    ))
    .await;
    assert_eq!(list["Users"], json!([]));

    let roles = send(dash_xml(&sim, Method::GET, "/roles"))
        .await
        .text()
        .await
        .unwrap();
    assert!(roles.contains("<RolesResponse><Roles><Role><RoleId>r-0001</RoleId><RoleName>Address Management</RoleName></Role>"));
    let roles: Value = json_of(dash_json(&sim, Method::GET, "/roles")).await;
    assert_eq!(roles["Roles"].as_array().unwrap().len(), 17);
    assert_eq!(
        roles["Roles"][16],
        json!({"RoleId":"r-0017","RoleName":"basicAccess"})
    );
}

#[tokio::test]
async fn password_is_required_and_checked() {
    let sim = start_dashboard().await;
    let mut body = dash_user("jdoe");
    body.as_object_mut().unwrap().remove("Password");
    let resp = create_json(&sim, &body).await;
    assert_refused(resp, 400, "Password").await;

    for (password, needle) in [
        ("Sh0rt!pw", "12 characters"),
        ("alllowercase1!xx", "upper-case"),
        ("ALLUPPERCASE1!XX", "lower-case"),
        ("NoDigitsHere!!xx", "digit"),
        ("NoSymbols123abcD", "symbol"),
        ("xxJDOE-2024!Abc", "no username"),
        ("Doe-Family-2024!", "no last name"),
    ] {
        let mut body = dash_user("jdoe");
        body["Password"] = json!(password);
        let resp = create_json(&sim, &body).await;
        assert_eq!(resp.status(), 400, "{password}");
        let err: Value = resp.json().await.unwrap();
        let desc = err["Errors"][0]["Description"].as_str().unwrap();
        assert!(desc.contains(needle), "{password}: {desc}");
    }
    assert!(sim.snapshot().users.is_empty());
    assert_eq!(create_json(&sim, &dash_user("jdoe")).await.status(), 201);
}

#[tokio::test]
async fn put_replaces_everything_and_keeps_username() {
    let sim = start_dashboard().await;
    let created: Value = create_json(&sim, &dash_user("jdoe"))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/users/{}", created["UserId"].as_str().unwrap());

    let minimal =
        json!({"Username":"jdoe","FirstName":"Jane","LastName":"Doe","Email":"jdoe@example.com"});
    let resp = send(dash_json(&sim, Method::PUT, &path).json(&minimal)).await;
    assert_eq!(resp.status(), 200, "password is optional on PUT");
    let put: Value = resp.json().await.unwrap();
    assert!(put.get("TelephoneNumber").is_none());
    assert_eq!(put["Roles"], json!([]));
    assert_eq!(put["Enabled"], true);

    let mut disabled = minimal.clone();
    disabled["Enabled"] = json!(false);
    disabled["Password"] = json!("weak");
    let resp = send(dash_json(&sim, Method::PUT, &path).json(&disabled)).await;
    assert_eq!(resp.status(), 400, "a password on PUT is still checked");
    disabled.as_object_mut().unwrap().remove("Password");
    let put: Value = json_of(dash_json(&sim, Method::PUT, &path).json(&disabled)).await;
    assert_eq!(put["Enabled"], false);
    assert_eq!(sim.snapshot().users[0].status, "DEACTIVATED");
    assert_eq!(
        sim.snapshot().users[0].accounts,
        vec!["9900000".to_string()]
    );

    let mut renamed = minimal.clone();
    renamed["Username"] = json!("someone");
    let resp = send(dash_json(&sim, Method::PUT, &path).json(&renamed)).await;
    assert_eq!(resp.status(), 400);

    let resp = send(dash_json(&sim, Method::DELETE, &path)).await;
    assert_eq!(resp.status(), 204);
    let resp = send(dash_json(&sim, Method::GET, &path)).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn conflicts_phone_roles_and_accounts() {
    let sim = start_with(|c| {
        c.dialect = Dialect::Dashboard;
        c.withheld_roles = vec!["Porting".into()];
    })
    .await;
    assert_eq!(create_json(&sim, &dash_user("jdoe")).await.status(), 201);
    let mut dup = dash_user("other");
    dup["Email"] = json!("JDOE@EXAMPLE.COM");
    let resp = create_json(&sim, &dup).await;
    assert_refused(resp, 409, "email").await;

    let mut phone = dash_user("phoney");
    phone["TelephoneNumber"] = json!("+19195551234");
    let resp = create_json(&sim, &phone).await;
    assert_refused(resp, 400, "10 digits").await;

    let mut by_name = dash_user("byname");
    by_name["Roles"] = json!(["Ordering"]);
    let resp = create_json(&sim, &by_name).await;
    assert_refused(resp, 400, "unknown role id(s): Ordering").await;

    let mut withheld = dash_user("withheld");
    withheld["Roles"] = json!(["r-0011"]);
    let resp = create_json(&sim, &withheld).await;
    assert_refused(resp, 403, "Porting").await;

    let resp = send(
        client()
            .get(format!("{}/api/accounts/9900001/users", sim.base_url()))
            .basic_auth("sim-user", Some("sim-password")),
    )
    .await;
    assert_eq!(resp.status(), 404, "only the first account is served");
}

#[tokio::test]
async fn xml_request_bodies_and_malformed_input() {
    let sim = start_dashboard().await;
    let body = "<User><Username>xdoe</Username><FirstName>X</FirstName><LastName>Doe</LastName>\
        <EmailAddress>xdoe@example.com</EmailAddress><Password>Str0ng!Passw0rd#42</Password>\
        <Roles><Role><RoleId>r-0017</RoleId></Role></Roles><Enabled>false</Enabled></User>";
    let resp = create_xml(&sim, body).await;
    assert_eq!(resp.status(), 201);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<RoleName>basicAccess</RoleName>")
            && xml.contains("<Enabled>false</Enabled>"),
        "{xml}"
    );

    let resp = create_xml(&sim, "<User><Username>broken</User>").await;
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<ErrorCode>malformed_body</ErrorCode>"));

    let resp = send_body(
        dash_json(&sim, Method::POST, "/users"),
        "application/json",
        "{\"Username\":",
    )
    .await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["Errors"][0]["Code"], "malformed_body");
}

#[tokio::test]
async fn xml_always_ignores_the_accept_header() {
    let sim = start_dashboard().await;
    let id = seed(&sim, "basicAccess");
    sim.set_faults(faults(|f| f.xml_always = true));
    let resp = send(dash_json(&sim, Method::GET, &format!("/users/{id}"))).await;
    assert_eq!(resp.status(), 200);
    assert!(is_xml(&resp));
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Username>seeded</Username>"));
    sim.set_faults(Faults::default());
    let resp = send(dash_json(&sim, Method::GET, &format!("/users/{id}"))).await;
    let user: Value = resp.json().await.unwrap();
    assert_eq!(user["Roles"], json!(["r-0017"]));
}
