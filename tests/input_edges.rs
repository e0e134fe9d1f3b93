//! Input at the edges (issue 15), through real HTTP on whichever store the environment
//! selects (SQLite by default, PostgreSQL with `SCIM_BRIDGE_TEST_BACKEND=postgres`):
//! nothing the database cannot hold reaches it, every refusal is a SCIM error, odd but
//! real requests reach their endpoint, idle connections cannot starve the IdP.
mod common;
mod support;

use std::time::{Duration, Instant};

use common::scim::{assert_error, assert_error_mentions, one_op};
use common::{assert_scim_error, urlencode, user, Harness, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const BRIDGE: &str = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

async fn group(h: &Harness, name: &str, members: &[&str]) -> (StatusCode, Value) {
    let body = support::group(name, members);
    let (status, _, body) = h.call(Method::POST, "/Groups", Some(body)).await;
    (status, body)
}

/// A raw request on a fresh connection, for what reqwest will not send as written.
async fn raw(h: &Harness, request: &str) -> (u16, String) {
    let addr = h.root().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// `GET /Users?filter=...`, the list answered.
async fn users_where(h: &Harness, filter: &str) -> Value {
    let path = format!("/Users?filter={}", urlencode(filter));
    let (status, list) = h.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list
}

fn body_of(raw_answer: &str) -> Value {
    let body = raw_answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn nul_in_a_title_is_refused_and_groups_stay_readable() {
    let h = Harness::default().await;
    let mut u = user("nul@example.com");
    u["title"] = json!("Boss\u{0}");
    let (status, body) = h.create(u).await;
    assert_error_mentions(status, &body, 400, Some("invalidValue"), "title");
    assert!(h.state().users.is_empty(), "nothing created upstream");

    // A member whose title a PATCH tries to set to NUL: refused, the group still reads.
    let id = h.create_ok(user("member@example.com")).await;
    let (status, g) = group(&h, "Readers", &[&id]).await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let (status, body) = h
        .patch(&id, one_op("replace", "title", json!("x\u{0}y")))
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    let (status, g) = h.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["members"][0]["value"], id.as_str());
    let (status, list) = h.get("/Groups").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 1);
    let other = h.create_ok(user("other@example.com")).await;
    let (status, body) = h
        .group_patch(&gid, one_op("add", "members", json!([{"value": other}])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn control_characters_anywhere_are_400_before_the_upstream() {
    let h = Harness::default().await;
    let cases = [
        json!({"userName": "a\u{0}@example.com"}),
        json!({"externalId": "00u\u{0}1"}),
        json!({"emails": [{"value":"ok@example.com","primary":true},{"value":"second\u{0}@example.com"}]}),
        json!({"name": {"givenName": "Ja\u{1b}ne", "familyName": "Doe"}}),
        json!({ENT: {"department": "R\u{7f}D"}}),
    ];
    for patch in cases {
        let mut u = user("ctl@example.com");
        for (k, v) in patch.as_object().unwrap() {
            u[k] = v.clone();
        }
        let (status, body) = h.create(u).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert_scim_error(&body, 400, Some("invalidValue"));
    }
    assert!(h.state().users.is_empty(), "nothing reached the upstream");
    let (status, g) = group(&h, "Bad\u{0}Group", &[]).await;
    assert_error(status, &g, 400, Some("invalidValue"));
    let (status, g) = group(&h, "Good", &["id\u{0}"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{g}");
    // Line breaks and tabs are text, not controls.
    let mut u = user("multiline@example.com");
    u["addresses"] = json!([{"formatted": "1 Main St\nSpringfield\tUS", "type": "work"}]);
    h.create_ok(u).await;
}

#[tokio::test]
async fn nul_in_ids_and_filters_is_400_not_a_database_error() {
    let h = Harness::default().await;
    h.create_ok(user("f@example.com")).await;
    for path in [
        "/Users/%00",
        "/Groups/abc%00def",
        "/Users/%ff%fe",
        "/Groups/%C3",
    ] {
        for method in [Method::GET, Method::DELETE] {
            let (status, headers, body) = h.call(method.clone(), path, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
            assert_scim_error(&body, 400, Some("invalidValue"));
            assert_eq!(headers["content-type"], "application/scim+json");
            assert!(headers.get("retry-after").is_none());
        }
    }
    let filter = urlencode("userName eq \"f\\u0000\"");
    let (status, body) = h.get(&format!("/Users?filter={filter}")).await;
    assert_error(status, &body, 400, Some("invalidValue"));
    let search = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter":"displayName eq \"\\u0000\""});
    let (status, _, body) = h.call(Method::POST, "/Groups/.search", Some(search)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A non-UTF-8 id without a credential is refused the same way, as a SCIM error.
    let (status, text) = raw(
        &h,
        "GET /scim/v2/Users/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert_scim_error(&body_of(&text), 400, Some("invalidValue"));
}

#[tokio::test]
async fn oversized_values_are_400_before_the_upstream() {
    let h = Harness::default().await;
    let huge = format!("{}@example.com", "u".repeat(1024 * 1024));
    let (status, body) = h.create(user(&huge)).await;
    assert_error_mentions(status, &body, 400, Some("invalidValue"), "max_value_bytes");
    let mut u = user("many@example.com");
    u["phoneNumbers"] = json!((0..101)
        .map(|i| json!({"value": format!("+1919555{i:04}")}))
        .collect::<Vec<_>>());
    let (status, body) = h.create(u).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("phoneNumbers"),
        "{body}"
    );
    let (status, g) = group(&h, &"G".repeat(5000), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{g}");
    assert!(h.state().users.is_empty());
    let (_, list) = h.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test]
async fn limits_are_configurable_per_tenant() {
    let h = Harness::start(common::Options {
        extra_toml: "[tenants.acme.limits]\nmax_value_bytes = 40\nmax_values_per_attribute = 1\n"
            .into(),
        ..Default::default()
    })
    .await;
    let (status, body) = h
        .create(user(&format!("{}@example.com", "a".repeat(30))))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut u = user("b@example.com");
    u["emails"] = json!([{"value":"b@example.com"},{"value":"c@example.com"}]);
    let (status, body) = h.create(u).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    h.create_ok(user("ok@example.com")).await;
}

#[tokio::test]
async fn wrong_types_are_400_naming_the_attribute_and_nothing_is_stored() {
    let h = Harness::default().await;
    for (emails, name) in [
        (json!("str"), "emails"),
        (json!([1, 2]), "emails[0]"),
        (
            json!([{"value": "x@example.com", "primary": "often"}]),
            "emails[0].primary",
        ),
    ] {
        let mut u = user("typed@example.com");
        u["emails"] = emails.clone();
        let (status, body) = h.create(u).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{emails}: {body}");
        assert_scim_error(&body, 400, Some("invalidValue"));
        assert!(body["detail"].as_str().unwrap().contains(name), "{body}");
    }
    let mut u = user("typed@example.com");
    u["name"] = json!("Jane Doe");
    let (status, _) = h.create(u).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.find_by_username("typed@example.com").await["totalResults"],
        0
    );
    assert!(h.state().users.is_empty());
}

#[tokio::test]
async fn names_are_normalised_so_the_primary_email_goes_upstream() {
    let h = Harness::default().await;
    let mut u = user("case@example.com");
    u["emails"] = json!([
        {"value": "first@example.com", "Type": "home"},
        {"Value": "chosen@example.com", "Primary": true, "TYPE": "other"}
    ]);
    u["NAME"] = json!({"GIVENNAME": "Jo", "familyname": "Case"});
    u.as_object_mut().unwrap().remove("name");
    let (status, body) = h.create(u).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        h.upstream("case@example.com").unwrap().email,
        "chosen@example.com"
    );
    assert_eq!(h.upstream("case@example.com").unwrap().first_name, "Jo");
    assert_eq!(
        body["emails"][1],
        json!({"value":"chosen@example.com","primary":true,"type":"other"})
    );
    assert_eq!(body["name"], json!({"givenName":"Jo","familyName":"Case"}));
    // Filters and the stored spelling agree.
    let list = users_where(
        &h,
        "emails[primary eq true].value eq \"chosen@example.com\"",
    )
    .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

#[tokio::test]
async fn unknown_attributes_are_ignored_and_not_returned() {
    let h = Harness::default().await;
    let mut u = user("typo@example.com");
    u["adreses"] = json!([{"streetAddress": "1 Main"}]);
    u["urn:example:custom:2.0:User"] = json!({"badge": "7"});
    u["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:example:custom:2.0:User"
    ]);
    let (status, body) = h.create(u).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap();
    let (_, read) = h.get(&format!("/Users/{id}")).await;
    for doc in [&body, &read] {
        assert!(doc.get("adreses").is_none(), "{doc}");
        assert!(doc.get("urn:example:custom:2.0:User").is_none(), "{doc}");
        let schemas = doc["schemas"].to_string();
        assert!(!schemas.contains("urn:example:custom"), "{schemas}");
    }
}

#[tokio::test]
async fn active_defaults_to_true_and_nulls_are_not_echoed() {
    let h = Harness::default().await;
    let mut u = user("implicit@example.com");
    u.as_object_mut().unwrap().remove("active");
    u["displayName"] = Value::Null;
    u["nickName"] = Value::Null;
    u[ENT] = json!({"department": null, "manager": null});
    let (status, body) = h.create(u).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["active"], true, "{body}");
    for key in ["displayName", "nickName", ENT] {
        assert!(body.get(key).is_none(), "{key} echoed: {body}");
    }
    let bridge = body[BRIDGE].as_object().unwrap();
    assert!(bridge.values().all(|v| !v.is_null()), "{body}");
    assert!(!bridge.contains_key("lastError"), "{body}");
    let list = users_where(&h, "active eq true").await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

#[tokio::test]
async fn search_needs_a_search_request() {
    let h = Harness::default().await;
    h.create_ok(user("s@example.com")).await;
    for path in ["/.search", "/Users/.search", "/Groups/.search"] {
        for body in [
            user("x@example.com"),
            json!({"userName": "s@example.com"}),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        ] {
            let (status, _, answer) = h.call(Method::POST, path, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
            assert_scim_error(&answer, 400, Some("invalidSyntax"));
        }
    }
    let ok = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let (status, _, answer) = h.call(Method::POST, "/.search", Some(ok)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["totalResults"], 1);
}

#[tokio::test]
async fn other_content_types_are_415() {
    let h = Harness::default().await;
    let body = user("ct@example.com").to_string();
    for content_type in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let response = h
            .client
            .post(format!("{}/Users", h.base))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["content-type"], "application/scim+json");
        let answer: Value = response.json().await.unwrap();
        assert_scim_error(&answer, 415, None);
    }
    assert!(h.state().users.is_empty());
    for content_type in ["application/json; charset=utf-8", "application/scim+json"] {
        let response = h
            .client
            .post(format!("{}/Users", h.base))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(user(&format!("{}@example.com", content_type.len())).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
    }
}

#[tokio::test]
async fn trailing_and_doubled_slashes_reach_the_endpoint() {
    let h = Harness::default().await;
    let id = h.create_ok(user("slash@example.com")).await;
    let filter = urlencode("userName eq \"slash@example.com\"");
    for path in [
        "/Users/".to_string(),
        "//Users".to_string(),
        "//Users/".to_string(),
        format!("/Users/?filter={filter}"),
        format!("//Users?filter={filter}"),
        format!("//Users//?filter={filter}&"),
    ] {
        let (status, list) = h.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(list["totalResults"], 1, "{path}: {list}");
    }
    let (status, one) = h.get(&format!("//Users//{id}/")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], id.as_str());
    let (status, _, created) = h
        .call(Method::POST, "/Users/", Some(user("posted@example.com")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, spc) = h.get("/ServiceProviderConfig/").await;
    assert_eq!(status, StatusCode::OK, "{spc}");
}

#[tokio::test]
async fn oversized_urls_and_headers_are_scim_errors() {
    let h = Harness::default().await;
    let long = format!(
        "/Users?filter={}",
        urlencode(&format!("userName eq \"{}\"", "a".repeat(20_000)))
    );
    let (status, headers, body) = h.call(Method::GET, &long, None).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{body}");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_scim_error(&body, 414, None);
    let big = "b".repeat(40_000);
    let (status, headers, body) = h
        .call_headers(Method::GET, "/Users", None, &[("x-padding", &big)])
        .await;
    assert_eq!(
        status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{body}"
    );
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_scim_error(&body, 431, None);
}

#[tokio::test]
async fn unknown_paths_need_a_credential_first() {
    let h = Harness::default().await;
    for path in ["/Nope", "/Users/x/y", "/", "//Nope/", "/.well-known/x"] {
        let (status, _, body) = h.call_with(Method::GET, path, None, None, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_scim_error(&body, 401, None);
        let (status, body) = h.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_scim_error(&body, 404, None);
    }
}

#[tokio::test]
async fn service_provider_config_tells_the_truth_about_sort() {
    let h = Harness::default().await;
    let (_, spc) = h.get("/ServiceProviderConfig").await;
    assert_eq!(spc["sort"]["supported"], true, "{spc}");
    for name in ["b@example.com", "a@example.com"] {
        h.create_ok(user(name)).await;
    }
    let (_, list) = h.get("/Users?sortBy=userName").await;
    assert_eq!(list["Resources"][0]["userName"], "a@example.com", "{list}");
}

async fn loopback() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn connection_limits(
    header_read_secs: u64,
    max_connections: usize,
) -> scim_bridge::http::connections::ConnectionLimits {
    scim_bridge::http::connections::ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_read_secs),
        idle_timeout: Duration::from_secs(30),
        max_connections,
    }
}

/// `n` connections that never send a byte.
async fn open_silently(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    streams
}

/// A real IdP request on a fresh connection.
async fn get_status(addr: std::net::SocketAddr, path: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("http://{addr}/scim/v2/{path}"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
}

/// Silent connections (opened, nothing sent) take no IdP request hostage: the bridge
/// serves past 1,100 of them and closes each after the header-read timeout.
#[tokio::test]
async fn silent_connections_do_not_starve_a_real_request() {
    let h = Harness::default().await;
    let (listener, addr) = loopback().await;
    let limits = connection_limits(2, 4096);
    let router = scim_bridge::http::router(h.app.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scim_bridge::http::connections::serve(
        listener,
        router,
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    let mut silent = open_silently(addr, 1100).await;
    let started = Instant::now();
    assert_eq!(get_status(addr, "Users").await, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Each silent connection is closed by the server after the header-read timeout.
    let mut closed = 0;
    for stream in silent.iter_mut().take(50) {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, 50, "silent connections left open");
    let _ = stop.send(());
    drop(silent);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// Over the connection cap, a new connection waits for a slot instead of being
/// refused, and a silent connection gives its slot up at the header-read timeout.
#[tokio::test]
async fn the_connection_cap_queues_rather_than_refuses() {
    let h = Harness::default().await;
    let (listener, addr) = loopback().await;
    let limits = connection_limits(1, 4);
    tokio::spawn(scim_bridge::http::connections::serve(
        listener,
        scim_bridge::http::router(h.app.clone()),
        limits,
        std::future::pending(),
    ));
    let _silent = open_silently(addr, 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(
        get_status(addr, "ServiceProviderConfig").await,
        StatusCode::OK
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "waited {waited:?} for a slot"
    );
}
