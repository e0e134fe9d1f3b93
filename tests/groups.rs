//! Groups as Okta's group push and Entra's group provisioning send them, checked by the
//! roles, scope and accounts that end up on every user in the simulator; the push,
//! deactivation and failure tests for a Bandwidth and a NetSapiens tenant alike.
mod common;

use bandwidth_sim::Faults;
use common::faults::faults;
use common::scim::{assert_error, assert_error_mentions, group_body, one_op, op_at};
use common::target::{Held, TargetKind};
use common::{user, Harness, Options};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn roles(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The role a `bandwidth-role-<name>` group grants, as the target has it: a Bandwidth
/// role, or a NetSapiens scope.
fn role(t: TargetKind, name: &str) -> String {
    match (t, name) {
        (TargetKind::Bandwidth, _) => name.to_string(),
        (TargetKind::Netsapiens, "Porting") => "Advanced User".into(),
        (TargetKind::Netsapiens, "Ordering") => "Call Center Supervisor".into(),
        (TargetKind::Netsapiens, _) => "Simple User".into(),
    }
}

fn group(t: TargetKind, name: &str) -> String {
    format!("bandwidth-role-{}", role(t, name))
}

/// What a member of that group (and of no other) holds.
fn with(t: TargetKind, name: &str) -> Vec<String> {
    match t {
        TargetKind::Bandwidth => roles(&[name, "basicAccess"]),
        TargetKind::Netsapiens => vec![role(t, name)],
    }
}

/// The roles the target holds for a username.
fn roles_of(users: &[Held], username: &str) -> Vec<String> {
    users
        .iter()
        .find(|u| u.username.eq_ignore_ascii_case(username))
        .map(|u| u.roles.clone())
        .unwrap_or_default()
}

async fn users(h: &Harness, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(h.create_ok(user(name)).await);
    }
    ids
}

async fn okta_group_push_lifecycle(t: TargetKind) {
    let h = Harness::on(t).await;
    let ids = users(&h, &["a@x.com", "b@x.com", "c@x.com"]).await;
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);

    // Create with members.
    let (status, body) = h
        .post("/Groups", group_body(&group(t, "Porting"), &[a, b]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let gid = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    h.eventually_held("a and b get Porting", |s| {
        roles_of(s, "a@x.com") == with(t, "Porting")
            && roles_of(s, "b@x.com") == with(t, "Porting")
            && roles_of(s, "c@x.com") == t.base_access()
    })
    .await;

    // The user's read-only groups attribute is computed from memberships.
    let (_, got) = h.get(&format!("/Users/{a}")).await;
    assert_eq!(got["groups"][0]["value"], gid.as_str());
    assert_eq!(got["groups"][0]["display"], group(t, "Porting"));

    // Add a member.
    let (status, body) = h
        .group_patch(&gid, one_op("add", "members", json!([{"value":c}])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually_held("c gets Porting", |s| {
        roles_of(s, "c@x.com") == with(t, "Porting")
    })
    .await;

    // Remove by filter path.
    let (status, _) = h
        .group_patch(&gid, op_at("remove", &format!("members[value eq \"{a}\"]")))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually_held("a loses Porting", |s| {
        roles_of(s, "a@x.com") == t.base_access()
    })
    .await;

    // Rename: the value carries the group's id, as Okta sends it.
    let (status, body) = h
        .group_patch(
            &gid,
            json!([{"op":"replace","value":{"id":gid,"displayName":group(t, "Ordering")}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["displayName"], group(t, "Ordering"));
    h.eventually_held("b and c switch to Ordering", |s| {
        roles_of(s, "b@x.com") == with(t, "Ordering")
            && roles_of(s, "c@x.com") == with(t, "Ordering")
    })
    .await;

    // PUT replaces the members.
    let (status, _, body) = h
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(group_body(&group(t, "Ordering"), &[a])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually_held("only a has Ordering", |s| {
        roles_of(s, "a@x.com") == with(t, "Ordering")
            && roles_of(s, "b@x.com") == t.base_access()
            && roles_of(s, "c@x.com") == t.base_access()
    })
    .await;

    // Delete the group.
    let (status, _, _) = h
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    h.eventually_held("a back to basicAccess", |s| {
        roles_of(s, "a@x.com") == t.base_access()
    })
    .await;
    let (status, _) = h.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn entra_group_provisioning_dialect(t: TargetKind) {
    let h = Harness::on(t).await;
    let ids = users(&h, &["e1@x.com", "e2@x.com"]).await;
    let (e1, e2) = (&ids[0], &ids[1]);

    let filter = common::urlencode("displayName eq \"Bandwidth Admins\"");
    let (status, body) = h
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={filter}"
        ))
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
            one_op("Add", "members", json!([{"value":e1},{"value":e2}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin =
        |s: &[Held], name: &str| roles_of(s, name) == t.admin_access() && admin_scope(&h, name);
    h.eventually_held("both become admins", |s| {
        admin(s, "e1@x.com") && admin(s, "e2@x.com")
    })
    .await;

    // Remove with a value array removes only those members.
    let (status, _) = h
        .group_patch(&gid, one_op("Remove", "members", json!([{"value":e1}])))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually_held("only e1 loses admin", |s| {
        !admin(s, "e1@x.com") && admin(s, "e2@x.com")
    })
    .await;
    let (_, got) = h.get(&format!("/Groups/{gid}")).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 1);
    assert_eq!(got["members"][0]["value"], e2.as_str());

    // The lookup with excludedAttributes=members finds it without members.
    let (_, listed) = h
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={filter}"
        ))
        .await;
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none());

    let (status, _) = h
        .group_patch(
            &gid,
            op_at("Remove", &format!("members[value eq \"{e2}\"]")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually_held("e2 loses admin", |s| !admin(s, "e2@x.com"))
        .await;
    assert!(h.held_users().iter().all(|u| u.roles == t.base_access()));
    if t == TargetKind::Bandwidth {
        assert!(h.state().users.iter().all(|u| u.account_scope == "ACCOUNT"));
    }
}

/// Bandwidth's admin level goes with the admin group's roles; NetSapiens has only the
/// scope.
fn admin_scope(h: &Harness, name: &str) -> bool {
    match h.kind() {
        TargetKind::Bandwidth => h
            .upstream(name)
            .is_some_and(|u| u.account_scope == "ACCOUNT_ADMIN"),
        TargetKind::Netsapiens => true,
    }
}

/// Creates the group that grants Porting, with `member` (a body without `schemas`).
async fn create_porting_group(h: &Harness, t: TargetKind, member: &str) {
    let (_, body) = h
        .post(
            "/Groups",
            json!({"displayName": group(t, "Porting"), "members": [{"value": member}]}),
        )
        .await;
    assert!(body["id"].is_string());
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
        let (_, got) = h.get(&format!("/Users/{}", ids[0])).await;
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
    let (status, body) = h
        .post(
            "/Groups",
            json!({"displayName":"G","members":[{"value":"fake-member-id"}]}),
        )
        .await;
    assert_error_mentions(status, &body, 400, Some("invalidValue"), "fake-member-id");
    let (_, list) = h.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);

    let (_, _, body) = h
        .call(Method::POST, "/Groups", Some(json!({"displayName":"G"})))
        .await;
    let gid = body["id"].as_str().unwrap().to_string();
    let (status, body) = h
        .group_patch(&gid, one_op("add", "members", json!([{"value":"nope"}])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn duplicate_group_name_is_409() {
    let h = Harness::default().await;
    let (status, _) = h.post("/Groups", json!({"displayName":"Sales"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = h.post("/Groups", json!({"displayName":"SALES"})).await;
    assert_error(status, &body, 409, Some("uniqueness"));
}

#[tokio::test]
async fn deleted_user_leaves_its_groups() {
    let h = Harness::default().await;
    let ids = users(&h, &["d1@x.com", "d2@x.com"]).await;
    let (_, body) = h
        .post(
            "/Groups",
            json!({"displayName":"Team","members":[{"value":ids[0]},{"value":ids[1]}]}),
        )
        .await;
    let gid = body["id"].as_str().unwrap().to_string();
    let (status, _, _) = h
        .call(Method::DELETE, &format!("/Users/{}", ids[0]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, group) = h.get(&format!("/Groups/{gid}")).await;
    let expected =
        json!([{"value": ids[1], "type": "User", "$ref": format!("/scim/v2/Users/{}", ids[1])}]);
    assert_eq!(group["members"], expected);
    // `display` is computed, and returned when asked for.
    let path = format!("/Groups/{gid}?attributes=members.display");
    let (_, group) = h.get(&path).await;
    assert_eq!(group["members"][0]["display"], "d2@x.com");
}

async fn deactivated_users_get_no_roles_until_reactivated(t: TargetKind) {
    let h = Harness::on(t).await;
    let ids = users(&h, &["z@x.com"]).await;
    h.patch(&ids[0], json!([{"op":"replace","value":{"active":false}}]))
        .await;
    create_porting_group(&h, t, &ids[0]).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let z = h.held("z@x.com").unwrap();
    assert!(!z.active(), "{z:?}");
    assert!(!z.roles.contains(&role(t, "Porting")), "{z:?}");
    let (status, _) = h
        .patch(&ids[0], json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.eventually_held("roles on reactivation", |s| {
        roles_of(s, "z@x.com") == with(t, "Porting")
    })
    .await;
}

async fn failing_upstream_marks_jobs_failed_and_requeue_converges(t: TargetKind) {
    let h = Harness::on(t).await;
    let ids = users(&h, &["r@x.com"]).await;
    h.upstream.set_faults(faults(|f| f.fail_rate = 1.0));
    create_porting_group(&h, t, &ids[0]).await;
    let failed = h
        .failed_jobs("job never failed", |failed| !failed.is_empty())
        .await;
    assert!(failed[0]
        .retry
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("unavailable"));
    // The user's link says so too (written just after the job's state).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, got) = h.get(&format!("/Users/{}", ids[0])).await;
        let ext = &got["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
        if ext["syncState"] == "failed" {
            assert!(ext["lastError"].is_string(), "{ext}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "link never failed: {ext}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    h.upstream.set_faults(Faults::default());
    assert_eq!(h.store.requeue_failed(Some("acme"), None).await.unwrap(), 1);
    h.eventually_held("converges after requeue", |s| {
        roles_of(s, "r@x.com") == with(t, "Porting")
    })
    .await;
}

async fn flaky_rate_limited_upstream_still_converges(t: TargetKind) {
    let mut options = Options {
        target: t,
        ..Options::default()
    };
    options.sim.faults = faults(|f| f.rate_limit = Some(40));
    let h = Harness::start(options).await;
    let names: Vec<String> = (0..30).map(|i| format!("m{i}@x.com")).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(h.create_ok(user(name)).await);
    }
    h.upstream.set_faults(Faults {
        rate_limit: Some(40),
        fail_rate: 0.2,
        ..Faults::default()
    });
    let members: Vec<serde_json::Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (status, body) = h
        .post(
            "/Groups",
            json!({"displayName":group(t, "Reporting"),"members":members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.eventually_held("every member converges", |s| {
        names.iter().all(|n| roles_of(s, n) == with(t, "Reporting"))
    })
    .await;
    assert_eq!(h.held_users().len(), 30, "no duplicates");
}

crate::both_targets!(
    okta_group_push_lifecycle,
    entra_group_provisioning_dialect,
    deactivated_users_get_no_roles_until_reactivated,
    failing_upstream_marks_jobs_failed_and_requeue_converges,
    flaky_rate_limited_upstream_still_converges,
);
