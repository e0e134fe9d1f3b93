//! Helpers shared by the integration tests: start a simulator on loopback and talk plain HTTP.
#![allow(dead_code)]

use bandwidth_sim::{Dialect, Faults, SeedUser, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

pub async fn start(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

pub async fn start_v1() -> SimHandle {
    start(SimConfig::default()).await
}

/// A simulator with the default configuration but what `set` changes.
pub async fn start_with(set: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig::default();
    set(&mut config);
    start(config).await
}

pub async fn start_dashboard() -> SimHandle {
    start_with(|c| c.dialect = Dialect::Dashboard).await
}

/// No fault but what `set` turns on.
pub fn faults(set: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults::default();
    set(&mut faults);
    faults
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sends a request built by a test; the sim must answer.
pub async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.unwrap()
}

/// Sends `body` as `content_type` with a request built by a test; the sim must answer.
pub async fn send_body(
    req: reqwest::RequestBuilder,
    content_type: &str,
    body: &'static str,
) -> reqwest::Response {
    send(req.header("content-type", content_type).body(body)).await
}

/// Asserts the answer's `status` and reads its body as JSON.
pub async fn expect_json(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

/// Sends a request built by a test and reads the answer as JSON.
pub async fn json_of(req: reqwest::RequestBuilder) -> Value {
    send(req).await.json().await.unwrap()
}

/// `GET url` as an API client holding `token`.
pub async fn get(url: impl reqwest::IntoUrl, token: &str) -> reqwest::Response {
    client().get(url).bearer_auth(token).send().await.unwrap()
}

/// `GET url` as an API client holding `token`, read as JSON.
pub async fn get_json(url: impl reqwest::IntoUrl, token: &str) -> Value {
    get(url, token).await.json().await.unwrap()
}

/// `method url` with a JSON body, as an API client holding `token`.
pub async fn send_json(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    client()
        .request(method, url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `method url` without credentials (the `/_sim` control plane), with a JSON body when given.
pub async fn control(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A POST to the v1 token endpoint as client `id` with `secret`; the body is the test's.
pub fn token_request(sim: &SimHandle, id: &str, secret: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/api/v1/oauth2/token", sim.base_url()))
        .basic_auth(id, Some(secret))
}

pub async fn token_response(sim: &SimHandle, id: &str, secret: &str) -> reqwest::Response {
    let form = "application/x-www-form-urlencoded";
    let grant = "grant_type=client_credentials";
    send_body(token_request(sim, id, secret), form, grant).await
}

/// The token endpoint's JSON answer to the sim's client with `secret`, which must come
/// with `status`.
pub async fn token_answer(sim: &SimHandle, secret: &str, status: u16) -> Value {
    expect_json(token_response(sim, "sim-client", secret).await, status).await
}

pub async fn token(sim: &SimHandle) -> String {
    let body = token_answer(sim, "sim-secret", 200).await;
    body["access_token"].as_str().unwrap().to_string()
}

/// Role id for a role name, read from the API as a client would.
pub async fn role_id(sim: &SimHandle, token: &str, name: &str) -> String {
    let roles = get_json(format!("{}/api/v1/roles", sim.base_url()), token).await;
    roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()["roleId"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn v1_user(username: &str, roles: &[String]) -> Value {
    json!({
        "username": username,
        "firstName": "Jane",
        "lastName": "Doe",
        "email": format!("{username}@example.com"),
        "phoneNumber": "+19195551234",
        "accountScope": "ACCOUNT",
        "roles": roles,
        "accounts": ["9900000"],
    })
}

pub async fn v1_create(sim: &SimHandle, token: &str, body: &Value) -> reqwest::Response {
    let url = format!("{}/api/v1/users", sim.base_url());
    send_json(reqwest::Method::POST, url, token, body).await
}

pub fn dash_url(sim: &SimHandle, rest: &str) -> String {
    format!("{}/api/accounts/9900000{rest}", sim.base_url())
}

pub fn dash_user(username: &str) -> Value {
    json!({
        "Username": username,
        "FirstName": "Jane",
        "LastName": "Doe",
        "Email": format!("{username}@example.com"),
        "TelephoneNumber": "9195551234",
        "Password": "Str0ng!Passw0rd#42",
        "Roles": ["r-0010"],
        "AccountScope": "ACCOUNT",
        "Enabled": true,
    })
}

/// A dashboard request with Basic auth and `Accept: application/json`.
pub fn dash_json(sim: &SimHandle, method: reqwest::Method, rest: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, dash_url(sim, rest))
        .basic_auth("sim-user", Some("sim-password"))
        .header("accept", "application/json")
}

/// A dashboard request with Basic auth and no Accept header (so XML comes back).
pub fn dash_xml(sim: &SimHandle, method: reqwest::Method, rest: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, dash_url(sim, rest))
        .basic_auth("sim-user", Some("sim-password"))
}

pub fn error_description(v: &Value) -> String {
    v["errors"][0]["description"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Seeds user `seeded` (S. U., `seeded@example.com`) holding the role `role`; returns its id.
pub fn seed(sim: &SimHandle, role: &str) -> String {
    sim.seed_user(SeedUser {
        username: "seeded".into(),
        first_name: "S".into(),
        last_name: "U".into(),
        email: "seeded@example.com".into(),
        roles: vec![role.into()],
        ..SeedUser::default()
    })
}
