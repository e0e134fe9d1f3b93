//! The whole user lifecycle over HTTP, checked against what reached the simulator, for
//! a Bandwidth and a NetSapiens tenant alike (`common::target`).
mod common;

use bandwidth_sim::Dialect;
use common::scim::{assert_error, one_op};
use common::target::TargetKind;
use common::{user, Harness, Options};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn lifecycle(target: TargetKind, dialect: Dialect) {
    let h = Harness::on_with(target, |o| o.dialect = dialect).await;

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
    assert_eq!(ext["roles"], json!(target.base_access()));
    let up = h.held("jdoe@example.com").expect("user created upstream");
    assert_eq!(ext["upstreamId"], up.user_id);
    assert_eq!(
        (up.first_name.as_str(), up.last_name.as_str()),
        ("Jane", "Doe")
    );
    assert_eq!(up.email, "jdoe@example.com");
    assert_eq!(up.roles, target.base_access());
    assert_eq!(up.status, "ACTIVE");
    assert_eq!(
        up.phone_number.as_deref(),
        held_phone(target, dialect, "+19195551234", "9195551234")
    );

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
    assert_eq!(h.held("jdoe@example.com").unwrap().last_name, "Smith");

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
    let up = h.held("jdoe@example.com").unwrap();
    assert_eq!(up.first_name, "Janet");
    assert_eq!(up.email, "janet@example.com");
    assert_eq!(
        up.phone_number.as_deref(),
        held_phone(target, dialect, "+14155550000", "4155550000")
    );
    assert_eq!(
        up.roles,
        target.base_access(),
        "an attribute update keeps the roles"
    );

    // Okta deactivation and reactivation: path-less replace of active.
    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(h.held("jdoe@example.com").unwrap().status, "DEACTIVATED");
    let (status, _) = h
        .patch(&id, json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.held("jdoe@example.com").unwrap().status, "ACTIVE");

    // Delete: gone upstream and in SCIM.
    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.held("jdoe@example.com").is_none());
    let (status, body) = h.get(&format!("/Users/{id}")).await;
    assert_error(status, &body, 404, None);
    assert_eq!(h.held_users().len(), 0);
}

async fn okta_lifecycle(target: TargetKind) {
    lifecycle(target, Dialect::V1).await;
}

/// The phone number the target holds for `e164`: none on NetSapiens (it is given no
/// phones), E.164 in Bandwidth's v1 API, national digits in its dashboard API.
fn held_phone(
    target: TargetKind,
    dialect: Dialect,
    e164: &'static str,
    national: &'static str,
) -> Option<&'static str> {
    match (target, dialect) {
        (TargetKind::Netsapiens, _) => None,
        (_, Dialect::V1) => Some(e164),
        (_, Dialect::Dashboard) => Some(national),
    }
}

#[tokio::test]
async fn lifecycle_dashboard_dialect() {
    lifecycle(TargetKind::Bandwidth, Dialect::Dashboard).await;
}

#[tokio::test]
async fn strip_roles_policy_removes_and_restores_roles() {
    let h = Harness::with(|o| o.on_deactivate = "strip_roles").await;
    let id = h.create_ok(user("strip@example.com")).await;
    let (status, body) = h
        .patch(&id, one_op("Replace", "active", json!("False")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let up = h.held("strip@example.com").unwrap();
    assert_eq!((up.status.as_str(), up.roles.len()), ("ACTIVE", 0));
    let (status, _) = h
        .patch(&id, one_op("Replace", "active", json!("True")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.held("strip@example.com").unwrap().roles,
        vec!["basicAccess"]
    );
}

/// Re-created under the same SCIM id; on NetSapiens, whose extensions the bridge
/// chooses, with the same extension too.
async fn delete_policy_deletes_upstream_and_reactivation_recreates_under_same_id(
    target: TargetKind,
) {
    let h = Harness::on_with(target, |o| o.on_deactivate = "delete").await;
    let id = h.create_ok(user("gone@example.com")).await;
    let first_upstream = h.held("gone@example.com").unwrap().user.user_id;

    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h.held("gone@example.com").is_none(), "deleted upstream");
    let ext = &body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["syncState"], "deprovisioned");
    // The SCIM resource stays, inactive.
    let (status, got) = h.get(&format!("/Users/{id}")).await;
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
    assert!(h.held("gone@example.com").is_none());

    let (status, body) = h
        .patch(&id, json!([{"op":"replace","value":{"active":true}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str(), "same SCIM id");
    let up = h.held("gone@example.com").expect("re-created upstream");
    match target {
        TargetKind::Bandwidth => assert_ne!(up.user_id, first_upstream),
        TargetKind::Netsapiens => assert_eq!(up.user_id, first_upstream, "same extension"),
    }
    assert_eq!(up.last_name, "Later");
    assert_eq!(up.roles, target.base_access());
    assert_eq!(
        body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"]["upstreamId"],
        up.user_id
    );
}

async fn on_delete_deactivate_keeps_the_upstream_user(target: TargetKind) {
    let h = Harness::on_with(target, |o| o.on_delete = "deactivate").await;
    let id = h.create_ok(user("keep@example.com")).await;
    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.held("keep@example.com").unwrap().status, "DEACTIVATED");
    let (status, _) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn onelogin_put_suspends_and_created_inactive_user_is_deactivated(target: TargetKind) {
    let h = Harness::on(target).await;
    let mut suspended = user("ol@example.com");
    suspended["active"] = json!(false);
    let id = h.create_ok(suspended.clone()).await;
    assert_eq!(h.held("ol@example.com").unwrap().status, "DEACTIVATED");
    suspended["active"] = json!(true);
    let (status, _, _) = h
        .call(Method::PUT, &format!("/Users/{id}"), Some(suspended))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.held("ol@example.com").unwrap().status, "ACTIVE");
}

/// Renames user `id` to `user_name` the way Entra does (a PATCH replace of userName).
async fn rename(h: &Harness, id: &str, user_name: &str) -> (StatusCode, Value) {
    h.patch(id, one_op("Replace", "userName", json!(user_name)))
        .await
}

async fn entra_rename_keeps_upstream_username_by_default(target: TargetKind) {
    let h = Harness::on(target).await;
    let id = h.create_ok(user("old.upn@example.com")).await;
    let (status, body) = rename(&h, &id, "new.upn@example.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userName"], "new.upn@example.com");
    let ext = &body["urn:scim-bridge:schemas:extension:bandwidth:2.0:User"];
    assert_eq!(ext["upstreamUsername"], "old.upn@example.com");
    assert!(h.held("old.upn@example.com").is_some());
    assert!(h.held("new.upn@example.com").is_none());
    assert_eq!(
        h.find_by_username("new.upn@example.com").await["totalResults"],
        1
    );
    // Later changes still reach the same upstream user.
    let (status, _) = h
        .patch(&id, one_op("Replace", "name.familyName", json!("Renamed")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.held("old.upn@example.com").unwrap().last_name, "Renamed");
}

async fn rename_rejected_under_reject_policy(target: TargetKind) {
    let h = Harness::on_with(target, |o| o.on_username_change = "reject").await;
    let id = h.create_ok(user("fixed@example.com")).await;
    let (status, body) = rename(&h, &id, "other@example.com").await;
    assert_error(status, &body, 400, Some("mutability"));
    let (_, got) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(got["userName"], "fixed@example.com", "nothing changed");
}

async fn unknown_attributes_round_trip_and_password_is_never_kept(target: TargetKind) {
    let h = Harness::on(target).await;
    let mut u = user("ext@example.com");
    u["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:example:custom"
    ]);
    u["urn:example:custom"] = json!({"costCode": "X-1"});
    let id = h.create_ok(u).await;
    let (_, got) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(got["urn:example:custom"]["costCode"], "X-1");
    assert!(got.get("password").is_none());
    assert!(!got.to_string().contains("Sup3r$ecretFromOkta"));
}

async fn audit_records_each_action_with_the_credential_id(target: TargetKind) {
    let h = Harness::on(target).await;
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
    target: TargetKind,
    on_deactivate: &'static str,
    on_delete: &'static str,
) {
    let h = Harness::start(Options {
        on_deactivate,
        on_delete,
        target,
        ..Options::default()
    })
    .await;
    let ext = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

    let leaver = h.create_ok(user("leaver@example.com")).await;
    let upstream_id = h.held("leaver@example.com").unwrap().user.user_id;
    h.upstream.remove(&upstream_id).await;
    let (status, body) = h
        .patch(&leaver, json!([{"op":"replace","value":{"active":false}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{on_deactivate}: {body}");
    assert_eq!(body["active"], false);
    assert_eq!(body[ext]["syncState"], "deprovisioned", "{body}");
    assert_eq!(body[ext]["upstreamId"], json!(null), "{body}");
    let (_, stored) = h.get(&format!("/Users/{leaver}")).await;
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
    let up = h.held("leaver@example.com").expect("re-created upstream");
    assert_eq!((up.status.as_str(), up.roles.len()), ("ACTIVE", 1));
    assert_eq!(body[ext]["upstreamId"], up.user_id);

    let deleted = h.create_ok(user("deleted@example.com")).await;
    let upstream_id = h.held("deleted@example.com").unwrap().user.user_id;
    h.upstream.remove(&upstream_id).await;
    let (status, _, body) = h
        .call(Method::DELETE, &format!("/Users/{deleted}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{on_delete}: {body}");
    let (status, _) = h.get(&format!("/Users/{deleted}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(h.held("deleted@example.com").is_none());
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

async fn deactivating_or_deleting_a_user_gone_upstream_succeeds(target: TargetKind) {
    deprovisioning_a_user_gone_upstream_succeeds(target, "deactivate", "delete").await;
}

/// Bandwidth only: NetSapiens has no roles to strip beside the one scope.
#[tokio::test]
async fn stripping_or_deactivating_on_delete_a_user_gone_upstream_succeeds() {
    deprovisioning_a_user_gone_upstream_succeeds(
        TargetKind::Bandwidth,
        "strip_roles",
        "deactivate",
    )
    .await;
}

async fn deleting_on_deactivate_a_user_gone_upstream_succeeds(target: TargetKind) {
    deprovisioning_a_user_gone_upstream_succeeds(target, "delete", "delete").await;
}

crate::both_targets!(
    okta_lifecycle,
    delete_policy_deletes_upstream_and_reactivation_recreates_under_same_id,
    on_delete_deactivate_keeps_the_upstream_user,
    onelogin_put_suspends_and_created_inactive_user_is_deactivated,
    entra_rename_keeps_upstream_username_by_default,
    rename_rejected_under_reject_policy,
    unknown_attributes_round_trip_and_password_is_never_kept,
    audit_records_each_action_with_the_credential_id,
    deactivating_or_deleting_a_user_gone_upstream_succeeds,
    deleting_on_deactivate_a_user_gone_upstream_succeeds,
);
