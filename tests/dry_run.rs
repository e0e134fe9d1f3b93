//! A dry-run tenant against the real simulator: a full IdP lifecycle is answered as if
//! it had happened, nothing reaches the simulator's state, and the audit shows every
//! write that would have been made, without secrets. The target-neutral core runs for
//! a Bandwidth and a NetSapiens tenant alike.
mod common;

use std::time::{Duration, Instant};

use common::scim::{group_body, one_op};
use common::seed::seeded;
use common::target::TargetKind;
use common::{user, Harness, Options, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EXT: &str = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";

/// Audit rows of skipped upstream writes, oldest first.
async fn skipped(h: &Harness) -> Vec<scim_bridge::store::AuditEntry> {
    let mut rows: Vec<_> = h
        .audit()
        .await
        .into_iter()
        .filter(|e| e.action.starts_with("dry_run_"))
        .collect();
    rows.reverse();
    rows
}

/// Waits (up to 20 s) until the worker has recorded a skipped role update whose
/// requested roles pass `check`.
async fn wait_for_skipped_grant(h: &Harness, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = skipped(h).await;
        let granted = rows
            .iter()
            .any(|r| r.action == "dry_run_update_user" && check(&r.detail["request"]["roles"]));
        if granted {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dry_run_lifecycle_writes_nothing_upstream_and_audits_what_it_would_have() {
    let options = Options {
        dry_run: true,
        ..Options::default()
    };
    let h = Harness::start(options.clone()).await;
    // Someone already upstream: reads still reach the real upstream.
    h.sim.seed_user(seeded(
        "taken@example.com",
        ("Already", "There"),
        "taken@example.com",
    ));
    let before = h.state();

    // Create: answered 201 with a synthetic upstream id.
    let id = h.create_ok(user("dry@example.com")).await;
    let (status, body) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let upstream_id = body[EXT]["upstreamId"].as_str().unwrap().to_string();
    assert!(upstream_id.starts_with("dryrun-"), "{body}");

    // Rename, deactivate, reactivate.
    let (status, body) = h
        .patch(&id, one_op("replace", "name.familyName", json!("Renamed")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"]["familyName"], "Renamed");
    for active in [false, true] {
        let (status, body) = h
            .patch(&id, one_op("replace", "active", json!(active)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["active"], active);
    }

    // A group grants a role through the worker's job.
    let (status, group) = h
        .post("/Groups", group_body("bandwidth-role-Porting", &[&id]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    wait_for_skipped_grant(&h, "no role grant recorded", |roles| {
        *roles == json!(["Porting", "basicAccess"])
    })
    .await;

    // A username taken upstream gets the real answer, 409, and no write.
    let (status, body) = h.create(user("taken@example.com")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Nothing reached the simulator.
    let after = h.state();
    assert_eq!(after.users, before.users);
    assert_eq!(
        (
            after.stats.creates,
            after.stats.updates,
            after.stats.deletes
        ),
        (
            before.stats.creates,
            before.stats.updates,
            before.stats.deletes
        )
    );

    // The audit shows each write with its full request.
    let rows = skipped(&h).await;
    let ops: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(ops.first(), Some(&"dry_run_create_user"), "{ops:?}");
    assert_eq!(ops.last(), Some(&"dry_run_delete_user"), "{ops:?}");
    let create = &rows[0];
    assert_eq!(create.resource_id, upstream_id);
    assert_eq!(create.outcome, "not_written");
    assert_eq!(
        create.detail["request"],
        json!({"username":"dry@example.com","first_name":"Jane","last_name":"Doe",
               "email":"dry@example.com","phone":"+19195551234","roles":["basicAccess"],
               "account_scope":"ACCOUNT","accounts":null,"active":true,"password":"[redacted]"})
    );
    let updates: Vec<&Value> = rows
        .iter()
        .filter(|r| r.action == "dry_run_update_user")
        .map(|r| &r.detail["request"])
        .collect();
    assert!(updates.iter().any(|r| r["last_name"] == "Renamed"));
    assert!(updates.iter().any(|r| r["active"] == false));
    assert!(updates
        .iter()
        .any(|r| r["active"] == true && r["last_name"] == "Renamed"));
    assert_eq!(rows.last().unwrap().resource_id, upstream_id);

    // No secret anywhere in the audit.
    let all = serde_json::to_string(
        &h.audit()
            .await
            .iter()
            .map(|e| &e.detail)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for secret in [
        "Sup3r$ecretFromOkta",
        TOKEN,
        options.sim.client_secret.as_str(),
        options.sim.basic_password.as_str(),
    ] {
        assert!(!all.contains(secret), "{secret} leaked into the audit");
    }
}

#[tokio::test]
async fn a_dry_run_tenant_still_reconciles_from_real_reads() {
    let h = Harness::with(|o| o.dry_run = true).await;
    h.sim
        .seed_user(seeded("someone", ("Some", "One"), "someone@example.com"));
    let before = h.state();
    let report = h
        .app
        .provisioner
        .reconcile(
            &h.app.tenants[0],
            scim_bridge::provision::reconcile::Options {
                repair: true,
                deactivate_orphans: true,
            },
            &scim_bridge::provision::reconcile::Quiet,
        )
        .await
        .unwrap();
    assert_eq!(report.upstream_users, 1);
    assert_eq!(report.repair.orphans_deactivated.len(), 1);
    assert_eq!(
        h.state().users,
        before.users,
        "the deactivation was only recorded"
    );
    assert!(skipped(&h)
        .await
        .iter()
        .any(|r| r.action == "dry_run_update_user" && r.detail["request"]["active"] == false));
}

/// What a dry run promises on any target: the IdP's whole lifecycle (create, update,
/// deactivate, reactivate, a group granting a role or scope, delete) is answered, the
/// target holds exactly what it held before, and the audit records each write.
async fn a_dry_run_lifecycle_leaves_the_target_untouched(t: TargetKind) {
    let h = Harness::start(Options {
        dry_run: true,
        target: t,
        ..Options::default()
    })
    .await;
    let counts = |h: &Harness| {
        let s = h.upstream.stats();
        (s.creates, s.updates, s.deletes)
    };
    let (held_before, counts_before) = (h.held_users(), counts(&h));

    let id = h.create_ok(user("dry@example.com")).await;
    for op in [
        json!({"op":"replace","path":"name.familyName","value":"Renamed"}),
        json!({"op":"replace","path":"active","value":false}),
        json!({"op":"replace","path":"active","value":true}),
    ] {
        let (status, body) = h.patch(&id, json!([op])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let granted = match t {
        TargetKind::Bandwidth => "Porting",
        TargetKind::Netsapiens => "Advanced User",
    };
    let group = group_body(&format!("bandwidth-role-{granted}"), &[&id]);
    let (status, body) = h.post("/Groups", group).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    wait_for_skipped_grant(&h, "no grant recorded", |roles| {
        roles
            .as_array()
            .is_some_and(|roles| roles.contains(&json!(granted)))
    })
    .await;
    let (status, _, _) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_eq!(h.held_users(), held_before, "the target holds what it held");
    assert_eq!(counts(&h), counts_before, "no write reached the target");
    let rows = skipped(&h).await;
    let ops: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(ops.first(), Some(&"dry_run_create_user"), "{ops:?}");
    assert_eq!(ops.last(), Some(&"dry_run_delete_user"), "{ops:?}");
}

crate::both_targets!(a_dry_run_lifecycle_leaves_the_target_untouched);
