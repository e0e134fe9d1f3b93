//! Two tenants on one bridge, over real HTTP: neither can see or change the other's
//! users and groups by id, list, filter or .search, and each tenant's upstream calls go
//! to its own Bandwidth account with its own credentials.
mod common;
mod support;

use common::{urlencode, user, Harness, Options, ACCOUNT_B, TOKEN, TOKEN_B};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn as_tenant(
    h: &Harness,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, body) = h.call_with(method, path, body, Some(token), &[]).await;
    (status, body)
}

use support::group;

fn patch(ops: Value) -> Value {
    json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations": ops})
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenants_users_groups_or_upstream() {
    let h = Harness::start(Options {
        second_tenant: true,
        ..Options::default()
    })
    .await;
    let sim_b = h.sim_b.as_ref().unwrap();

    let (status, alice) = as_tenant(
        &h,
        TOKEN,
        Method::POST,
        "/Users",
        Some(user("alice@example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let alice = alice["id"].as_str().unwrap().to_string();
    let (status, a_group) = as_tenant(
        &h,
        TOKEN,
        Method::POST,
        "/Groups",
        Some(group("A Team", &[&alice])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a_group}");
    let a_group = a_group["id"].as_str().unwrap().to_string();

    let (status, bob) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/Users",
        Some(user("bob@globex.com")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob = bob["id"].as_str().unwrap().to_string();
    let (status, b_group) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/Groups",
        Some(group("B Team", &[&bob])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b_group}");
    let b_group = b_group["id"].as_str().unwrap().to_string();

    // By id: every verb on the other tenant's resources is 404, in both directions.
    let rename = patch(json!([{"op":"replace","path":"displayName","value":"stolen"}]));
    let deactivate = patch(json!([{"op":"replace","value":{"active":false}}]));
    for (token, user_id, group_id) in [(TOKEN_B, &alice, &a_group), (TOKEN, &bob, &b_group)] {
        let u = format!("/Users/{user_id}");
        let g = format!("/Groups/{group_id}");
        for (method, path, body) in [
            (Method::GET, &u, None),
            (Method::PUT, &u, Some(user("taken@example.com"))),
            (Method::PATCH, &u, Some(deactivate.clone())),
            (Method::DELETE, &u, None),
            (Method::GET, &g, None),
            (Method::PUT, &g, Some(group("stolen", &[] as &[&str]))),
            (Method::PATCH, &g, Some(rename.clone())),
            (Method::DELETE, &g, None),
        ] {
            let (status, body) = as_tenant(&h, token, method.clone(), path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
            common::assert_scim_error(&body, 404, None);
        }
    }

    // Lists, filters and searches see only the caller's own resources.
    let by_name = format!(
        "/Users?filter={}",
        urlencode("userName eq \"alice@example.com\"")
    );
    let by_id = format!("/Users?filter={}", urlencode(&format!("id eq \"{alice}\"")));
    let group_by_name = format!("/Groups?filter={}", urlencode("displayName eq \"A Team\""));
    let search = |filter: &str| json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter": filter});
    let (_, list) = as_tenant(&h, TOKEN_B, Method::GET, "/Users", None).await;
    assert_eq!(ids(&list), vec![bob.clone()], "{list}");
    let (_, list) = as_tenant(&h, TOKEN_B, Method::GET, "/Groups", None).await;
    assert_eq!(ids(&list), vec![b_group.clone()], "{list}");
    for path in [&by_name, &by_id, &group_by_name] {
        let (status, list) = as_tenant(&h, TOKEN_B, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(list["totalResults"], 0, "{path}: {list}");
    }
    let (_, found) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/Users/.search",
        Some(search("userName sw \"alice\"")),
    )
    .await;
    assert_eq!(found["totalResults"], 0, "{found}");
    let (_, found) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/Groups/.search",
        Some(search("displayName sw \"A\"")),
    )
    .await;
    assert_eq!(found["totalResults"], 0, "{found}");
    let (_, everything) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/.search",
        Some(json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
    )
    .await;
    let mut seen = ids(&everything);
    seen.sort();
    let mut own = vec![bob.clone(), b_group.clone()];
    own.sort();
    assert_eq!(seen, own, "{everything}");
    let (_, members) = as_tenant(
        &h,
        TOKEN,
        Method::GET,
        &format!(
            "/Groups?filter={}",
            urlencode(&format!("members.value eq \"{bob}\""))
        ),
        None,
    )
    .await;
    assert_eq!(members["totalResults"], 0, "{members}");

    // Another tenant's user cannot be put into one's own group.
    let (status, body) = as_tenant(
        &h,
        TOKEN_B,
        Method::PATCH,
        &format!("/Groups/{b_group}"),
        Some(patch(
            json!([{"op":"add","path":"members","value":[{"value": alice}]}]),
        )),
    )
    .await;
    assert!(status.is_client_error(), "{status}: {body}");
    let (_, b_team) = as_tenant(
        &h,
        TOKEN_B,
        Method::GET,
        &format!("/Groups/{b_group}"),
        None,
    )
    .await;
    let members: Vec<&str> = b_team["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, vec![bob.as_str()], "{b_team}");

    // A username taken in one tenant is free in the other: no 409 tells B that A has it.
    let (status, body) = as_tenant(
        &h,
        TOKEN_B,
        Method::POST,
        "/Users",
        Some(user("alice@example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"].as_str(), Some(alice.as_str()));

    // Nothing B tried changed A's resources.
    let (status, a_alice) =
        as_tenant(&h, TOKEN, Method::GET, &format!("/Users/{alice}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a_alice["active"], true, "{a_alice}");
    let (_, a_team) = as_tenant(&h, TOKEN, Method::GET, &format!("/Groups/{a_group}"), None).await;
    assert_eq!(a_team["displayName"], "A Team", "{a_team}");

    // Upstream: each tenant's users live in its own simulator, under its own account.
    let a_state = h.state();
    let b_state = sim_b.snapshot();
    let names = |s: &bandwidth_sim::SimSnapshot| {
        let mut n: Vec<String> = s.users.iter().map(|u| u.username.to_lowercase()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&a_state), vec!["alice@example.com"]);
    assert_eq!(names(&b_state), vec!["alice@example.com", "bob@globex.com"]);
    assert!(
        a_state
            .users
            .iter()
            .all(|u| u.accounts == vec!["9900000"] && u.status == "ACTIVE"),
        "{a_state:?}"
    );
    assert!(
        b_state.users.iter().all(|u| u.accounts == vec![ACCOUNT_B]),
        "{b_state:?}"
    );

    // And each tenant's audit holds only its own resources.
    let b_audit = h.store.list_audit("globex", 100).await.unwrap();
    assert!(!b_audit.is_empty());
    assert!(
        b_audit.iter().all(|e| e.resource_id != alice
            && e.resource_id != a_group
            && (e.actor == "globex-okta" || e.actor == "worker")),
        "{b_audit:?}"
    );
    let a_audit = h.audit().await;
    assert!(
        a_audit
            .iter()
            .all(|e| e.resource_id != bob && e.resource_id != b_group),
        "{a_audit:?}"
    );
}
