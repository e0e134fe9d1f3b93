//! The whole user lifecycle over HTTP, checked against what reached the simulator.
mod common;

use bandwidth_sim::Dialect;
use common::{user, Harness, Options};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn lifecycle(dialect: Dialect) {
    let h = Harness::start(Options {
        dialect,
        ..Options::default()
    })
    .await;

    // Create: stored, answered with the stored resource, and present upstream.
    let (status, headers, body) = h
        .call(Method::POST, "/Users", Some(user("jdoe@example.com")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["content-type"], "application/scim+json");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/Users/{id}")));
    assert_eq!(headers["etag"], "W/\"1\"");
    // The admin (and bench/run.sh) can tell the upstream's share of the answer time.
    let timing = headers["server-timing"].to_str().unwrap();
    let upstream_ms: f64 = timing
        .strip_prefix("upstream;dur=")
        .and_then(|rest| rest.split(';').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing {timing}"));
    assert!(upstream_ms > 0.0, "{timing}");
    assert!(timing.contains("call"), "{timing}");
    assert!(
        body.get("password").is_none(),
        "password must never be returned"
    );
    let ext = &body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["syncState"], "synced");
    assert_eq!(ext["roles"], json!(["basicAccess"]));
    let up = h
        .upstream("jdoe@example.com")
        .expect("user created upstream");
    assert_eq!(ext["upstreamId"], up.user_id);
    assert_eq!(
        (up.first_name.as_str(), up.last_name.as_str()),
        ("Jane", "Doe")
    );
    assert_eq!(up.email, "jdoe@example.com");
    assert_eq!(up.roles, vec!["basicAccess"]);
    assert_eq!(up.status, "ACTIVE");
    let phone = if dialect == Dialect::V1 {
        "+19195551234"
    } else {
        "9195551234"
    };
    assert_eq!(up.phone_number.as_deref(), Some(phone));

    // Find by userName in another case.
    let found = h.find_by_username("JDOE@Example.COM").await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Get: answered from the store alone, so no upstream timing.
    let (status, get_headers, got) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(get_headers.get("server-timing").is_none());
    assert_eq!(got["userName"], "jdoe@example.com");

    // PUT with a new family name.
    let mut replaced = user("jdoe@example.com");
    replaced["name"]["familyName"] = json!("Smith");
    let (status, headers, body) = h
        .call(Method::PUT, &format!("/Users/{id}"), Some(replaced))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(h.upstream("jdoe@example.com").unwrap().last_name, "Smith");

    // Okta-style PATCH of name, email and phone.
    let (status, body) = h
        .patch(
            &id,
            json!([
                {"op":"replace","path":"name.givenName","value":"Janet"},
                {"op":"replace","path":"emails","value":[{"value":"janet@example.com","type":"work","primary":true}]},
                {"op":"replace","path":"phoneNumbers","value":[{"value":"+1 (415) 555-0000","type":"work"}]}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"]["givenName"], "Janet");
    let up = h.upstream("jdoe@example.com").unwrap();
    assert_eq!(up.first_name, "Janet");
    assert_eq!(up.email, "janet@example.com");
    let phone = if dialect == Dialect::V1 {
        "+14155550000"
    } else {
        "4155550000"
    };
    assert_eq!(up.phone_number.as_deref(), Some(phone));
    assert_eq!(
        up.roles,
        vec!["basicAccess"],
        "an attribute update keeps the roles"
    );

    // Okta deactivation and reactivation: path-less replace of active.
    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(
        h.upstream("jdoe@example.com").unwrap().status,
        "DEACTIVATED"
    );
    let (status, _) = h
        .patch(&id, json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.upstream("jdoe@example.com").unwrap().status, "ACTIVE");

    // Delete: gone upstream and in SCIM.
    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.upstream("jdoe@example.com").is_none());
    let (status, _, body) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    common::assert_scim_error(&body, 404, None);
    assert_eq!(h.state().users.len(), 0);
}

#[tokio::test]
async fn lifecycle_v1_dialect() {
    lifecycle(Dialect::V1).await;
}

#[tokio::test]
async fn lifecycle_dashboard_dialect() {
    lifecycle(Dialect::Dashboard).await;
}

#[tokio::test]
async fn strip_roles_policy_removes_and_restores_roles() {
    let h = Harness::start(Options {
        on_deactivate: "strip_roles",
        ..Options::default()
    })
    .await;
    let id = h.create_ok(user("strip@example.com")).await;
    let (status, body) = h
        .patch(
            &id,
            json!([{"op":"Replace","path":"active","value":"False"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let up = h.upstream("strip@example.com").unwrap();
    assert_eq!((up.status.as_str(), up.roles.len()), ("ACTIVE", 0));
    let (status, _) = h
        .patch(
            &id,
            json!([{"op":"Replace","path":"active","value":"True"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.upstream("strip@example.com").unwrap().roles,
        vec!["basicAccess"]
    );
}

#[tokio::test]
async fn delete_policy_deletes_upstream_and_reactivation_recreates_under_same_id() {
    let h = Harness::start(Options {
        on_deactivate: "delete",
        ..Options::default()
    })
    .await;
    let id = h.create_ok(user("gone@example.com")).await;
    let first_upstream = h.upstream("gone@example.com").unwrap().user_id;

    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h.upstream("gone@example.com").is_none(), "deleted upstream");
    let ext = &body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["syncState"], "deprovisioned");
    // The SCIM resource stays, inactive.
    let (status, _, got) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(
        (status, got["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    // A PUT while inactive touches nothing upstream.
    let mut inactive = user("gone@example.com");
    inactive["active"] = json!(false);
    inactive["name"]["familyName"] = json!("Later");
    let (status, _, _) = h
        .call(Method::PUT, &format!("/Users/{id}"), Some(inactive))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.upstream("gone@example.com").is_none());

    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str(), "same SCIM id");
    let up = h.upstream("gone@example.com").expect("re-created upstream");
    assert_ne!(up.user_id, first_upstream);
    assert_eq!(up.last_name, "Later");
    assert_eq!(up.roles, vec!["basicAccess"]);
    assert_eq!(
        body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"]["upstreamId"],
        up.user_id
    );
}

#[tokio::test]
async fn on_delete_deactivate_keeps_the_upstream_user() {
    let h = Harness::start(Options {
        on_delete: "deactivate",
        ..Options::default()
    })
    .await;
    let id = h.create_ok(user("keep@example.com")).await;
    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.upstream("keep@example.com").unwrap().status,
        "DEACTIVATED"
    );
    let (status, _, _) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn onelogin_put_suspends_and_created_inactive_user_is_deactivated() {
    let h = Harness::default().await;
    let mut suspended = user("ol@example.com");
    suspended["active"] = json!(false);
    let id = h.create_ok(suspended.clone()).await;
    assert_eq!(h.upstream("ol@example.com").unwrap().status, "DEACTIVATED");
    suspended["active"] = json!(true);
    let (status, _, _) = h
        .call(Method::PUT, &format!("/Users/{id}"), Some(suspended))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.upstream("ol@example.com").unwrap().status, "ACTIVE");
}

#[tokio::test]
async fn entra_rename_keeps_upstream_username_by_default() {
    let h = Harness::default().await;
    let id = h.create_ok(user("old.upn@example.com")).await;
    let (status, body) = h
        .patch(
            &id,
            json!([{"op":"Replace","path":"userName","value":"new.upn@example.com"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userName"], "new.upn@example.com");
    let ext = &body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["upstreamUsername"], "old.upn@example.com");
    assert!(h.upstream("old.upn@example.com").is_some());
    assert!(h.upstream("new.upn@example.com").is_none());
    assert_eq!(
        h.find_by_username("new.upn@example.com").await["totalResults"],
        1
    );
    // Later changes still reach the same upstream user.
    let (status, _) = h
        .patch(
            &id,
            json!([{"op":"Replace","path":"name.familyName","value":"Renamed"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.upstream("old.upn@example.com").unwrap().last_name,
        "Renamed"
    );
}

#[tokio::test]
async fn rename_rejected_under_reject_policy() {
    let h = Harness::start(Options {
        on_username_change: "reject",
        ..Options::default()
    })
    .await;
    let id = h.create_ok(user("fixed@example.com")).await;
    let (status, body) = h
        .patch(
            &id,
            json!([{"op":"Replace","path":"userName","value":"other@example.com"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    common::assert_scim_error(&body, 400, Some("mutability"));
    let (_, _, got) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(got["userName"], "fixed@example.com", "nothing changed");
}

#[tokio::test]
async fn unknown_attributes_round_trip_and_password_is_never_kept() {
    let h = Harness::default().await;
    let mut u = user("ext@example.com");
    u["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:example:custom"
    ]);
    u["urn:example:custom"] = json!({"costCode": "X-1"});
    let id = h.create_ok(u).await;
    let (_, _, got) = h.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(got["urn:example:custom"]["costCode"], "X-1");
    assert!(got.get("password").is_none());
    assert!(!got.to_string().contains("Sup3r$ecretFromOkta"));
}

#[tokio::test]
async fn audit_records_each_action_with_the_credential_id() {
    let h = Harness::default().await;
    let id = h.create_ok(user("audit@example.com")).await;
    h.patch(&id, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    // The audit is read through the store the bridge uses.
    let entries = h.audit().await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["patch", "create"]);
    assert!(entries
        .iter()
        .all(|e| e.actor == "acme-okta" && e.outcome == "ok" && e.resource_id == id));
    assert_eq!(entries[0].detail["upstream"], "deactivated");
}

/// How the audit may name a deprovision that found the user gone: an update finds it
/// missing; the Bandwidth adapter counts a DELETE answered 404 as done, so the core
/// sees a deletion.
fn gone_words(policy: &str) -> &'static [&'static str] {
    match policy {
        "delete" => &["deleted", "already gone upstream"],
        _ => &["already gone upstream"],
    }
}

/// A user deleted by hand upstream: deprovisioning it is a success (nothing is left to
/// take away), whichever policy carries it out, and the SCIM side is left in the state
/// the change asked for: a deactivated user kept but unlinked (so a reactivation
/// creates it again), a deleted one gone.
async fn deprovisioning_a_user_gone_upstream_succeeds(
    on_deactivate: &'static str,
    on_delete: &'static str,
) {
    let h = Harness::start(Options {
        on_deactivate,
        on_delete,
        ..Options::default()
    })
    .await;
    let ext = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

    let leaver = h.create_ok(user("leaver@example.com")).await;
    let upstream_id = h.upstream("leaver@example.com").unwrap().user_id;
    assert!(h.sim.remove_user(&upstream_id));
    let (status, body) = h
        .patch(&leaver, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{on_deactivate}: {body}");
    assert_eq!(body["active"], false);
    assert_eq!(body[ext]["syncState"], "deprovisioned", "{body}");
    assert_eq!(body[ext]["upstreamId"], json!(null), "{body}");
    let (_, _, stored) = h.call(Method::GET, &format!("/Users/{leaver}"), None).await;
    assert_eq!(stored["active"], false);
    assert_eq!(stored[ext]["syncState"], "deprovisioned");
    let audit = h.audit().await;
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("patch", "ok")
    );
    assert!(
        gone_words(on_deactivate)
            .contains(&audit[0].detail["upstream"].as_str().unwrap_or_default()),
        "{:?}",
        audit[0].detail
    );
    // Coming back creates it again, under the same SCIM id.
    let (status, body) = h
        .patch(&leaver, json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let up = h
        .upstream("leaver@example.com")
        .expect("re-created upstream");
    assert_eq!((up.status.as_str(), up.roles.len()), ("ACTIVE", 1));
    assert_eq!(body[ext]["upstreamId"], up.user_id);

    let deleted = h.create_ok(user("deleted@example.com")).await;
    let upstream_id = h.upstream("deleted@example.com").unwrap().user_id;
    assert!(h.sim.remove_user(&upstream_id));
    let (status, _, body) = h
        .call(Method::DELETE, &format!("/Users/{deleted}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{on_delete}: {body}");
    let (status, _, _) = h
        .call(Method::GET, &format!("/Users/{deleted}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(h.upstream("deleted@example.com").is_none());
    let audit = h.audit().await;
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("delete", "ok")
    );
    assert!(
        gone_words(on_delete).contains(&audit[0].detail["upstream"].as_str().unwrap_or_default()),
        "{:?}",
        audit[0].detail
    );
}

#[tokio::test]
async fn deactivating_or_deleting_a_user_gone_upstream_succeeds() {
    deprovisioning_a_user_gone_upstream_succeeds("deactivate", "delete").await;
}

#[tokio::test]
async fn stripping_or_deactivating_on_delete_a_user_gone_upstream_succeeds() {
    deprovisioning_a_user_gone_upstream_succeeds("strip_roles", "deactivate").await;
}

#[tokio::test]
async fn deleting_on_deactivate_a_user_gone_upstream_succeeds() {
    deprovisioning_a_user_gone_upstream_succeeds("delete", "delete").await;
}
