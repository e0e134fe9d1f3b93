//! Error paths an IdP really hits: each answers a SCIM error with the right status and
//! `scimType`, and nothing already stored is lost or half-written. Those that involve
//! the upstream run for a Bandwidth and a NetSapiens tenant alike.
mod common;

use bandwidth_sim::{Faults, SeedUser};
use common::faults::faults;
use common::scim::{assert_error, assert_error_mentions, one_op};
use common::target::TargetKind;
use common::{assert_scim_error, user, Harness, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn duplicate_username_is_409_uniqueness_in_any_case(t: TargetKind) {
    let h = Harness::on(t).await;
    h.create_ok(user("dup@example.com")).await;
    let (status, body) = h.create(user("DUP@example.com")).await;
    assert_error(status, &body, 409, Some("uniqueness"));
    assert_eq!(h.held_users().len(), 1, "no second upstream user");
}

async fn duplicate_external_id_is_409(t: TargetKind) {
    let h = Harness::on(t).await;
    let mut a = user("a@example.com");
    a["externalId"] = json!("00u1");
    h.create_ok(a).await;
    let mut b = user("b@example.com");
    b["externalId"] = json!("00u1");
    let (status, body) = h.create(b).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(h.held_users().len(), 1);
}

#[tokio::test]
async fn email_or_username_taken_upstream_is_409_and_nothing_stored() {
    let h = Harness::default().await;
    h.sim.seed_user(SeedUser {
        username: "manual".into(),
        email: "taken@example.com".into(),
        ..SeedUser::default()
    });
    let mut u = user("new@example.com");
    u["emails"] = json!([{"value":"taken@example.com","primary":true}]);
    let (status, body) = h.create(u).await;
    assert_error(status, &body, 409, Some("uniqueness"));
    assert_eq!(
        h.find_by_username("new@example.com").await["totalResults"],
        0
    );

    h.sim.seed_user(SeedUser {
        username: "handmade@example.com".into(),
        email: "hm@example.com".into(),
        ..SeedUser::default()
    });
    let (status, _) = h.create(user("handmade@example.com")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(h.state().users.len(), 2, "the seeded users only");
}

#[tokio::test]
async fn adopt_existing_links_and_updates_the_upstream_user() {
    let h = Harness::with(|o| o.adopt_existing = true).await;
    let upstream_id = h.sim.seed_user(SeedUser {
        username: "adopt@example.com".into(),
        first_name: "Old".into(),
        last_name: "Name".into(),
        email: "adopt@example.com".into(),
        ..SeedUser::default()
    });
    let (status, body) = h.create(user("adopt@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"]["upstreamId"],
        upstream_id
    );
    common::assert_one_user_named(&h.state(), ("Jane", "Doe"));
}

#[tokio::test]
async fn unknown_id_is_404_for_every_method() {
    let h = Harness::default().await;
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = match method {
            Method::PUT => Some(user("x@example.com")),
            Method::PATCH => Some(
                json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                          "Operations":[{"op":"replace","value":{"active":false}}]}),
            ),
            _ => None,
        };
        let (status, _, body) = h.call(method.clone(), "/Users/does-not-exist", body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_scim_error(&body, 404, None);
    }
}

#[tokio::test]
async fn bad_or_missing_credentials_are_401_with_www_authenticate() {
    let h = Harness::default().await;
    type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        (None, &[]),
        (Some("wrong-token"), &[]),
        (None, &[("authorization", "non-token")]),
        (None, &[("authorization", "Basic dGVzdDp0ZXN0")]),
    ];
    for (token, headers) in cases {
        let (status, response_headers, body) = h
            .call_with(Method::GET, "/Users", None, token, headers)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(response_headers.contains_key("www-authenticate"));
        assert_scim_error(&body, 401, None);
    }
    let (status, _, _) = h
        .call_with(Method::GET, "/Users", None, Some(TOKEN), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let h = Harness::default().await;
    for raw in ["{not json", "", "[1,2", "\"just a string\""] {
        let response = h
            .client
            .post(format!("{}/Users", h.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{raw:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_scim_error(&body, 400, Some("invalidSyntax"));
    }
    assert!(h.state().users.is_empty());
}

#[tokio::test]
async fn missing_name_or_username_is_400_invalid_value() {
    let h = Harness::default().await;
    let mut u = user("noname@example.com");
    u["name"] = json!({"givenName": "Only"});
    let (status, body) = h.create(u).await;
    assert_error_mentions(status, &body, 400, Some("invalidValue"), "familyName");
    let (status, body) = h
        .create(json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}))
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(h.state().users.is_empty());
}

async fn upstream_failing_is_503_and_nothing_is_stored(t: TargetKind) {
    let h = Harness::on(t).await;
    let id = h.create_ok(user("kept@example.com")).await;
    h.upstream.set_faults(faults(|f| f.fail_rate = 1.0));

    let (status, headers, body) = h
        .call(Method::POST, "/Users", Some(user("new@example.com")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_scim_error(&body, 503, None);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("{} ", t.system()))),
        "the error names the tenant's target: {body}"
    );
    let (status, body) = h
        .patch(&id, one_op("replace", "name.familyName", json!("Lost")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    h.upstream.set_faults(Faults::default());
    assert_eq!(
        h.find_by_username("new@example.com").await["totalResults"],
        0,
        "failed create not stored"
    );
    let (_, kept) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(
        kept["name"]["familyName"], "Doe",
        "failed update not stored"
    );
    // The IdP's retry after the Retry-After then succeeds (the failures opened the
    // upstream circuit breaker, which the harness lets probe again after a second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    h.create_ok(user("new@example.com")).await;
    assert_eq!(h.held_users().len(), 2);
}

async fn upstream_gone_is_503(t: TargetKind) {
    let h = Harness::on(t).await;
    h.upstream.shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, headers, body) = h
        .call(Method::POST, "/Users", Some(user("down@example.com")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        headers.contains_key("retry-after"),
        "the IdP is told when to retry"
    );
    assert_eq!(
        h.find_by_username("down@example.com").await["totalResults"],
        0
    );
}

async fn lost_create_answer_is_found_not_duplicated(t: TargetKind) {
    let h = Harness::on(t).await;
    h.upstream
        .set_faults(faults(|f| f.drop_next_create_responses = 1));
    let (status, body) = h.create(user("lost@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.held_users().len(), 1);
    assert_eq!(
        h.find_by_username("lost@example.com").await["totalResults"],
        1
    );
}

#[tokio::test]
async fn entra_test_connection_filter_finds_nothing() {
    let h = Harness::default().await;
    let body = h
        .find_by_username("0d2ec3c4-5b7e-4a59-9a0e-8e6b5b0fbf4a")
        .await;
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
}

#[tokio::test]
async fn bad_filter_is_400_invalid_filter() {
    let h = Harness::default().await;
    let (status, body) = h.get("/Users?filter=userName%20eq").await;
    assert_error(status, &body, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn if_match_mismatch_is_412_and_if_none_match_is_304() {
    let h = Harness::default().await;
    let id = h.create_ok(user("etag@example.com")).await;
    let (status, _, body) = h
        .call_headers(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(user("etag@example.com")),
            &[("if-match", "W/\"9\"")],
        )
        .await;
    assert_error(status, &body, 412, None);
    let (status, _, _) = h
        .get_headers(&format!("/Users/{id}"), &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn unknown_endpoint_is_404_and_wrong_method_is_405_both_scim() {
    let h = Harness::default().await;
    let (status, body) = h.get("/Nope").await;
    assert_error(status, &body, 404, None);
    let (status, _, body) = h.call(Method::DELETE, "/Users", None).await;
    assert_error(status, &body, 405, None);
}

#[tokio::test]
async fn paging_with_start_index_and_count() {
    let h = Harness::default().await;
    for i in 0..7 {
        h.create_ok(user(&format!("page{i}@example.com"))).await;
    }
    let (_, first) = h.get("/Users?startIndex=1&count=5").await;
    let (_, second) = h.get("/Users?startIndex=6&count=5").await;
    assert_eq!(
        (first["totalResults"].clone(), first["itemsPerPage"].clone()),
        (json!(7), json!(5))
    );
    assert_eq!(second["itemsPerPage"], 2);
    let mut ids: Vec<String> = first["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["Resources"].as_array().unwrap())
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "pages do not overlap");
    let (_, counted) = h.get("/Users?count=0").await;
    assert_eq!(
        (
            counted["totalResults"].clone(),
            counted["Resources"].clone()
        ),
        (json!(7), json!([]))
    );
}

#[tokio::test]
async fn discovery_endpoints_answer() {
    let h = Harness::default().await;
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    ] {
        let (status, headers, body) = h.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path} {body}");
        assert_eq!(headers["content-type"], "application/scim+json");
    }
    let (status, _) = h.get("/Schemas/urn:nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_endpoints_answer_like_lists() {
    let h = Harness::default().await;
    for i in 0..3 {
        h.create_ok(user(&format!("s{i}@example.com"))).await;
    }
    let (status, _) = h.post("/Groups", json!({"displayName": "Searchers"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": "userName sw \"s\"", "attributes": ["userName"], "sortBy": "userName",
                        "sortOrder": "descending", "count": 2});
    let (status, _, body) = h.call(Method::POST, "/Users/.search", Some(search)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["Resources"][0]["userName"], "s2@example.com");
    assert!(
        body["Resources"][0].get("name").is_none(),
        "attributes honoured"
    );
    let (_, groups) = h
        .post(
            "/Groups/.search",
            json!({"filter": "displayName eq \"searchers\""}),
        )
        .await;
    assert_eq!(groups["totalResults"], 1);
    let (_, _, all) = h
        .call(Method::POST, "/.search", Some(json!({"count": 10})))
        .await;
    assert_eq!(all["totalResults"], 4);
    assert_eq!(all["Resources"].as_array().unwrap().len(), 4);
    let (_, tail) = h
        .post("/.search", json!({"startIndex": 3, "count": 10}))
        .await;
    assert_eq!(tail["Resources"].as_array().unwrap().len(), 2);
    assert_eq!(tail["Resources"][1]["displayName"], "Searchers");
    let (status, body) = h
        .post("/Users/.search", json!({"filter": "userName eq"}))
        .await;
    assert_error(status, &body, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn sort_by_and_sort_order() {
    let h = Harness::default().await;
    for name in ["b@example.com", "c@example.com", "a@example.com"] {
        h.create_ok(user(name)).await;
    }
    let (_, asc) = h.get("/Users?sortBy=userName").await;
    let names: Vec<&str> = asc["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["a@example.com", "b@example.com", "c@example.com"]
    );
    let (_, desc) = h
        .get("/Users?sortBy=name.familyName&sortOrder=descending&count=1")
        .await;
    assert_eq!(desc["totalResults"], 3);
    assert_eq!(desc["itemsPerPage"], 1);
}

/// Bandwidth refusing a value (here an email it does not take) is SCIM 400
/// `invalidValue` carrying Bandwidth's own description, and nothing is stored.
#[tokio::test]
async fn upstream_refusal_is_400_invalid_value_with_bandwidths_words() {
    for dialect in [
        bandwidth_sim::Dialect::V1,
        bandwidth_sim::Dialect::Dashboard,
    ] {
        let h = Harness::with(|o| o.dialect = dialect).await;
        let mut body = user("refused@example.com");
        body["emails"] = json!([{"value": "not-an-address", "type": "work", "primary": true}]);
        let (status, answer) = h.create(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{dialect:?}: {answer}");
        assert_scim_error(&answer, 400, Some("invalidValue"));
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("not-an-address") && detail.contains("not an email"),
            "{dialect:?}: Bandwidth's description is passed on: {detail}"
        );
        assert!(
            detail.starts_with("Bandwidth rejected the change"),
            "{dialect:?}: the error names the tenant's target: {detail}"
        );
        assert!(h.state().users.is_empty(), "{dialect:?}: nothing upstream");
        assert_eq!(
            h.find_by_username("refused@example.com").await["totalResults"],
            0
        );
    }
}

crate::both_targets!(
    duplicate_username_is_409_uniqueness_in_any_case,
    duplicate_external_id_is_409,
    upstream_failing_is_503_and_nothing_is_stored,
    upstream_gone_is_503,
    lost_create_answer_is_found_not_duplicated,
);
