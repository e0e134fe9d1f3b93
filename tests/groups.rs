//! Groups as Okta's group push and Entra's group provisioning send them, checked by the
//! roles, scope and accounts that end up on every user in the simulator.
mod common;

use bandwidth_sim::Faults;
use common::{assert_scim_error, user, Harness, Options};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn roles(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn users(h: &Harness, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(h.create_ok(user(name)).await);
    }
    ids
}

#[tokio::test]
async fn okta_group_push_lifecycle() {
    let h = Harness::default().await;
    let ids = users(&h, &["a@x.com", "b@x.com", "c@x.com"]).await;
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);

    // Create with members.
    let (status, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName":"bandwidth-role-Porting","members":[{"value":a},{"value":b}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let gid = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    h.eventually("a and b get Porting", |s| {
        Harness::roles_of(s, "a@x.com") == roles(&["Porting", "basicAccess"])
            && Harness::roles_of(s, "b@x.com") == roles(&["Porting", "basicAccess"])
            && Harness::roles_of(s, "c@x.com") == roles(&["basicAccess"])
    })
    .await;

    // The user's read-only groups attribute is computed from memberships.
    let (_, _, got) = h.call(Method::GET, &format!("/Users/{a}"), None).await;
    assert_eq!(got["groups"][0]["value"], gid.as_str());
    assert_eq!(got["groups"][0]["display"], "bandwidth-role-Porting");

    // Add a member.
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op":"add","path":"members","value":[{"value":c}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually("c gets Porting", |s| {
        Harness::roles_of(s, "c@x.com") == roles(&["Porting", "basicAccess"])
    })
    .await;

    // Remove by filter path.
    let (status, _) = h
        .group_patch(
            &gid,
            json!([{"op":"remove","path":format!("members[value eq \"{a}\"]")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually("a loses Porting", |s| {
        Harness::roles_of(s, "a@x.com") == roles(&["basicAccess"])
    })
    .await;

    // Rename: the value carries the group's id, as Okta sends it.
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op":"replace","value":{"id":gid,"displayName":"bandwidth-role-Ordering"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["displayName"], "bandwidth-role-Ordering");
    h.eventually("b and c switch to Ordering", |s| {
        Harness::roles_of(s, "b@x.com") == roles(&["Ordering", "basicAccess"])
            && Harness::roles_of(s, "c@x.com") == roles(&["Ordering", "basicAccess"])
    })
    .await;

    // PUT replaces the members.
    let (status, _, body) = h
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(
                json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName":"bandwidth-role-Ordering","members":[{"value":a}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually("only a has Ordering", |s| {
        Harness::roles_of(s, "a@x.com") == roles(&["Ordering", "basicAccess"])
            && Harness::roles_of(s, "b@x.com") == roles(&["basicAccess"])
            && Harness::roles_of(s, "c@x.com") == roles(&["basicAccess"])
    })
    .await;

    // Delete the group.
    let (status, _, _) = h
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    h.eventually("a back to basicAccess", |s| {
        Harness::roles_of(s, "a@x.com") == roles(&["basicAccess"])
    })
    .await;
    let (status, _, _) = h.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn entra_group_provisioning_dialect() {
    let h = Harness::default().await;
    let ids = users(&h, &["e1@x.com", "e2@x.com"]).await;
    let (e1, e2) = (&ids[0], &ids[1]);

    let filter = common::urlencode("displayName eq \"Bandwidth Admins\"");
    let (status, _, body) = h
        .call(
            Method::GET,
            &format!("/Groups?excludedAttributes=members&filter={filter}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["totalResults"].clone()),
        (StatusCode::OK, json!(0))
    );

    let (status, _, body) = h
        .call(Method::POST, "/Groups", Some(json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                     "displayName":"Bandwidth Admins","externalId":"entra-1"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let gid = body["id"].as_str().unwrap().to_string();

    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op":"Add","path":"members","value":[{"value":e1},{"value":e2}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin = |s: &bandwidth_sim::SimSnapshot, name: &str| {
        s.users.iter().any(|u| {
            u.username == name
                && u.account_scope == "ACCOUNT_ADMIN"
                && u.roles.contains(&"User Administrator".to_string())
        })
    };
    h.eventually("both become admins", |s| {
        admin(s, "e1@x.com") && admin(s, "e2@x.com")
    })
    .await;

    // Remove with a value array removes only those members.
    let (status, _) = h
        .group_patch(
            &gid,
            json!([{"op":"Remove","path":"members","value":[{"value":e1}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually("only e1 loses admin", |s| {
        !admin(s, "e1@x.com") && admin(s, "e2@x.com")
    })
    .await;
    let (_, _, got) = h.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 1);
    assert_eq!(got["members"][0]["value"], e2.as_str());

    // The lookup with excludedAttributes=members finds it without members.
    let (_, _, listed) = h
        .call(
            Method::GET,
            &format!("/Groups?excludedAttributes=members&filter={filter}"),
            None,
        )
        .await;
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none());

    let (status, _) = h
        .group_patch(
            &gid,
            json!([{"op":"Remove","path":format!("members[value eq \"{e2}\"]")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually("e2 loses admin", |s| !admin(s, "e2@x.com"))
        .await;
    let state = h.state();
    assert!(state
        .users
        .iter()
        .all(|u| u.account_scope == "ACCOUNT" && u.roles == vec!["basicAccess"]));
}

#[tokio::test]
async fn external_id_rule_grants_roles_and_accounts() {
    let h = Harness::default().await;
    let ids = users(&h, &["f@x.com"]).await;
    let (status, _, body) = h
        .call(Method::POST, "/Groups", Some(json!({"displayName":"Finance","externalId":"okta-billing","members":[{"value":ids[0]}]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.eventually("billing role and second account", |s| {
        s.users.iter().any(|u| {
            u.username == "f@x.com"
                && u.roles == roles(&["Billing Reports", "basicAccess"])
                && u.accounts.contains(&"9900001".to_string())
        })
    })
    .await;
    // The user's bridge extension shows what Bandwidth has.
    h.eventually("extension updated", |_| true).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, _, got) = h
            .call(Method::GET, &format!("/Users/{}", ids[0]), None)
            .await;
        let ext = &got["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
        if ext["roles"] == json!(["Billing Reports", "basicAccess"]) {
            assert_eq!(ext["syncState"], "synced");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "extension never showed the roles: {ext}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn unknown_member_is_400_naming_it_and_nothing_is_stored() {
    let h = Harness::default().await;
    let (status, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"G","members":[{"value":"fake-member-id"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_scim_error(&body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("fake-member-id"));
    let (_, _, list) = h.call(Method::GET, "/Groups", None).await;
    assert_eq!(list["totalResults"], 0);

    let (_, _, body) = h
        .call(Method::POST, "/Groups", Some(json!({"displayName":"G"})))
        .await;
    let gid = body["id"].as_str().unwrap().to_string();
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op":"add","path":"members","value":[{"value":"nope"}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn duplicate_group_name_is_409() {
    let h = Harness::default().await;
    let (status, _, _) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"Sales"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"SALES"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_scim_error(&body, 409, Some("uniqueness"));
}

#[tokio::test]
async fn deleted_user_leaves_its_groups() {
    let h = Harness::default().await;
    let ids = users(&h, &["d1@x.com", "d2@x.com"]).await;
    let (_, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"Team","members":[{"value":ids[0]},{"value":ids[1]}]})),
        )
        .await;
    let gid = body["id"].as_str().unwrap().to_string();
    let (status, _, _) = h
        .call(Method::DELETE, &format!("/Users/{}", ids[0]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, group) = h.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    let expected =
        json!([{"value": ids[1], "type": "User", "$ref": format!("/scim/v2/Users/{}", ids[1])}]);
    assert_eq!(group["members"], expected);
    // `display` is computed, and returned when asked for.
    let path = format!("/Groups/{gid}?attributes=members.display");
    let (_, _, group) = h.call(Method::GET, &path, None).await;
    assert_eq!(group["members"][0]["display"], "d2@x.com");
}

#[tokio::test]
async fn deactivated_users_get_no_roles_until_reactivated() {
    let h = Harness::default().await;
    let ids = users(&h, &["z@x.com"]).await;
    h.patch(&ids[0], json!([{"op":"replace","value":{"active":false}}]))
        .await;
    let (_, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"bandwidth-role-Porting","members":[{"value":ids[0]}]})),
        )
        .await;
    assert!(body["id"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        Harness::roles_of(&h.state(), "z@x.com"),
        roles(&["basicAccess"])
    );
    let (status, _) = h
        .patch(&ids[0], json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually("roles on reactivation", |s| {
        Harness::roles_of(s, "z@x.com") == roles(&["Porting", "basicAccess"])
    })
    .await;
}

#[tokio::test]
async fn failing_upstream_marks_jobs_failed_and_requeue_converges() {
    let h = Harness::default().await;
    let ids = users(&h, &["r@x.com"]).await;
    h.sim.set_faults(Faults {
        fail_rate: 1.0,
        ..Faults::default()
    });
    let (_, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"bandwidth-role-Porting","members":[{"value":ids[0]}]})),
        )
        .await;
    assert!(body["id"].is_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let failed = h
            .store
            .list_jobs(Some("acme"), Some(scim_bridge::store::JobState::Failed), 10)
            .await
            .unwrap();
        if !failed.is_empty() {
            assert!(failed[0]
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("unavailable"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "job never failed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, _, got) = h
        .call(Method::GET, &format!("/Users/{}", ids[0]), None)
        .await;
    let ext = &got["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["syncState"], "failed");
    assert!(ext["lastError"].is_string());

    h.sim.set_faults(Faults::default());
    assert_eq!(h.store.requeue_failed(Some("acme"), None).await.unwrap(), 1);
    h.eventually("converges after requeue", |s| {
        Harness::roles_of(s, "r@x.com") == roles(&["Porting", "basicAccess"])
    })
    .await;
}

#[tokio::test]
async fn flaky_rate_limited_upstream_still_converges() {
    let mut options = Options::default();
    options.sim.faults = Faults {
        rate_limit: Some(40),
        ..Faults::default()
    };
    let h = Harness::start(options).await;
    let names: Vec<String> = (0..30).map(|i| format!("m{i}@x.com")).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(h.create_ok(user(name)).await);
    }
    h.sim.set_faults(Faults {
        rate_limit: Some(40),
        fail_rate: 0.2,
        ..Faults::default()
    });
    let members: Vec<serde_json::Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (status, _, body) = h
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName":"bandwidth-role-Reporting","members":members})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.eventually("every member converges", |s| {
        names
            .iter()
            .all(|n| Harness::roles_of(s, n) == roles(&["Reporting", "basicAccess"]))
    })
    .await;
    assert_eq!(h.state().users.len(), 30, "no duplicates");
}
