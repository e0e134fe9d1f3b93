//! Reconcile against the real simulator: edits made behind the bridge's back are
//! reported exactly, repaired through the job worker, and orphans are reported or
//! deactivated. Runs on SQLite, or PostgreSQL with SCIM_BRIDGE_TEST_BACKEND=postgres;
//! the drift report and repair for a Bandwidth and a NetSapiens tenant alike.
mod common;

use std::sync::Arc;

use bandwidth_sim::{SeedUser, UserEdit};
use common::process::cli;
use common::scim::one_op;
use common::seed::seeded;
use common::target::TargetKind;
use common::{user, Harness, Options};
use reqwest::StatusCode;
use scim_bridge::provision::drift::DriftKind;
use scim_bridge::provision::reconcile::{Options as RunOptions, Quiet, Report};
use scim_bridge::provision::Tenant;
use serde_json::json;

fn tenant(h: &Harness) -> Arc<Tenant> {
    h.app.tenants[0].clone()
}

async fn reconcile(h: &Harness, options: RunOptions) -> Report {
    h.app
        .provisioner
        .reconcile(&tenant(h), options, &Quiet)
        .await
        .unwrap()
}

const REPAIR: RunOptions = RunOptions {
    repair: true,
    deactivate_orphans: false,
};
/// Deactivates upstream users no SCIM user is linked to, and repairs nothing else.
const DEACTIVATE_ORPHANS: RunOptions = RunOptions {
    repair: false,
    deactivate_orphans: true,
};
/// Both at once.
const REPAIR_AND_DEACTIVATE_ORPHANS: RunOptions = RunOptions {
    repair: true,
    deactivate_orphans: true,
};

/// (kind, username, field) of each finding, in report order.
fn summary(report: &Report) -> Vec<(DriftKind, String, Option<&'static str>)> {
    report
        .findings
        .iter()
        .map(|f| (f.kind, f.username.clone(), f.field))
        .collect()
}

fn upstream_id(h: &Harness, username: &str) -> String {
    h.held(username).unwrap().user.user_id
}

async fn edits_behind_the_bridges_back_are_reported_exactly_and_repaired(t: TargetKind) {
    let h = Harness::on(t).await;
    // Another role granted by hand: beside the base role, or instead of the scope.
    let granted: Vec<String> = match t {
        TargetKind::Bandwidth => vec!["Porting".into(), "basicAccess".into()],
        TargetKind::Netsapiens => vec!["Advanced User".into()],
    };
    let alice = h.create_ok(user("alice@example.com")).await;
    h.create_ok(user("bob@example.com")).await;
    let clean = reconcile(&h, RunOptions::default()).await;
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!((clean.upstream_users, clean.stored_users), (2, 2));

    let roles: Vec<&str> = granted.iter().map(String::as_str).collect();
    h.upstream
        .edit(&upstream_id(&h, "alice@example.com"), "Smith", &roles)
        .await;
    let report = reconcile(&h, RunOptions::default()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                DriftKind::Attribute,
                "alice@example.com".into(),
                Some("last_name")
            ),
            (DriftKind::Access, "alice@example.com".into(), Some("roles")),
        ]
    );
    assert_eq!(report.findings[0].scim_id.as_deref(), Some(alice.as_str()));
    assert_eq!(report.findings[0].expected, json!("Doe"));
    assert_eq!(report.findings[0].actual, json!("Smith"));
    assert_eq!(report.findings[1].expected, json!(t.base_access()));
    assert_eq!(report.findings[1].actual, json!(granted));
    assert_eq!(report.users_with_drift["attribute"], 1);
    assert_eq!(report.users_with_drift["orphan"], 0);
    // Reporting changes nothing.
    assert_eq!(h.held("alice@example.com").unwrap().last_name, "Smith");
    assert!(report.repair.sync_enqueued.is_empty());

    let repaired = reconcile(&h, REPAIR).await;
    assert_eq!(repaired.repair.sync_enqueued, vec![alice.clone()]);
    h.eventually_held("the worker restored alice", |s| {
        s.iter().any(|u| {
            u.username == "alice@example.com" && u.last_name == "Doe" && u.roles == t.base_access()
        })
    })
    .await;
    let after = reconcile(&h, RunOptions::default()).await;
    assert!(after.findings.is_empty(), "{:?}", after.findings);

    let audit = h.audit().await;
    let run = audit
        .iter()
        .find(|e| e.action == "reconcile" && e.detail["repair"] == true)
        .expect("the repairing run is audited");
    assert_eq!(run.outcome, "drift");
    assert_eq!(run.detail["findings_total"], 2);
    assert_eq!(run.detail["findings"][0]["field"], "last_name");
}

#[tokio::test]
async fn orphans_are_reported_and_deactivated_only_on_request() {
    let h = Harness::default().await;
    h.create_ok(user("managed@example.com")).await;
    let orphan = h.sim.seed_user(SeedUser {
        roles: vec!["basicAccess".into(), "Ordering".into()],
        ..seeded("handmade", ("Hand", "Made"), "handmade@example.com")
    });

    let report = reconcile(&h, REPAIR).await;
    assert_eq!(
        summary(&report),
        vec![(DriftKind::Orphan, "handmade".into(), None)]
    );
    assert_eq!(
        report.findings[0].upstream_id.as_deref(),
        Some(orphan.as_str())
    );
    assert_eq!(report.findings[0].scim_id, None);
    // Repair does not touch orphans.
    assert!(report.repair.sync_enqueued.is_empty());
    assert_eq!(h.upstream("handmade").unwrap().status, "ACTIVE");

    let report = reconcile(&h, DEACTIVATE_ORPHANS).await;
    assert_eq!(report.repair.orphans_deactivated, vec![orphan.clone()]);
    let handmade = h.upstream("handmade").unwrap();
    assert_eq!(handmade.status, "DEACTIVATED");
    assert_eq!(
        handmade.roles,
        vec!["Ordering", "basicAccess"],
        "roles kept"
    );
    assert_eq!(h.upstream("managed@example.com").unwrap().status, "ACTIVE");
    let audit = h.audit().await;
    assert!(audit
        .iter()
        .any(|e| e.action == "deactivate_orphan" && e.resource_id == orphan && e.outcome == "ok"));
    // Still an orphan, now an inactive one; nothing left to deactivate.
    let again = reconcile(&h, DEACTIVATE_ORPHANS).await;
    assert_eq!(again.findings[0].actual, json!({"active": false}));
    assert!(again.repair.orphans_deactivated.is_empty());
}

#[tokio::test]
async fn status_drift_both_ways_and_a_user_gone_upstream_are_repaired() {
    let h = Harness::default().await;
    let active = h.create_ok(user("active@example.com")).await;
    let gone = h.create_ok(user("gone@example.com")).await;
    let leaver = h.create_ok(user("leaver@example.com")).await;
    let (status, _) = h
        .patch(&leaver, one_op("replace", "active", json!(false)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.upstream("leaver@example.com").unwrap().status,
        "DEACTIVATED"
    );

    // By hand: the active user deactivated, the leaver reactivated, one user deleted.
    h.sim.edit_user(
        &upstream_id(&h, "active@example.com"),
        UserEdit {
            active: Some(false),
            ..UserEdit::default()
        },
    );
    h.sim.edit_user(
        &upstream_id(&h, "leaver@example.com"),
        UserEdit {
            active: Some(true),
            ..UserEdit::default()
        },
    );
    let old_gone_id = upstream_id(&h, "gone@example.com");
    assert!(h.sim.remove_user(&old_gone_id));

    let report = reconcile(&h, RunOptions::default()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                DriftKind::Status,
                "active@example.com".into(),
                Some("active")
            ),
            (DriftKind::MissingUpstream, "gone@example.com".into(), None),
            (
                DriftKind::Status,
                "leaver@example.com".into(),
                Some("active")
            ),
        ]
    );
    let leaver_finding = report
        .findings
        .iter()
        .find(|f| f.username == "leaver@example.com")
        .unwrap();
    assert_eq!(leaver_finding.expected, json!(false));

    let repaired = reconcile(&h, REPAIR).await;
    assert_eq!(repaired.repair.recreated, vec![gone.clone()]);
    let mut enqueued = repaired.repair.sync_enqueued.clone();
    enqueued.sort();
    let mut want = vec![active.clone(), leaver.clone()];
    want.sort();
    assert_eq!(enqueued, want);
    h.eventually("statuses restored", |s| {
        let status = |name: &str| Harness::status_in(s, name);
        status("active@example.com").as_deref() == Some("ACTIVE")
            && status("leaver@example.com").as_deref() == Some("DEACTIVATED")
    })
    .await;
    let recreated = h.upstream("gone@example.com").expect("re-created upstream");
    assert_ne!(recreated.user_id, old_gone_id);
    let (_, body) = h.get(&format!("/Users/{gone}")).await;
    assert_eq!(body["id"], gone.as_str(), "same SCIM id");
    let stored = h.store.get_user("acme", &gone).await.unwrap().unwrap();
    assert_eq!(
        stored.link.upstream_id.as_deref(),
        Some(recreated.user_id.as_str())
    );
    let after = reconcile(&h, RunOptions::default()).await;
    assert!(after.findings.is_empty(), "{:?}", after.findings);
}

#[tokio::test]
async fn the_cli_prints_the_report_as_json_with_progress_lines() {
    let h = Harness::start(Options::default()).await;
    h.create_ok(user("cli@example.com")).await;
    h.sim.edit_user(
        &upstream_id(&h, "cli@example.com"),
        UserEdit {
            first_name: Some("Changed".into()),
            ..UserEdit::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, &h.config_text).unwrap();
    let output = cli(
        &["reconcile", "--tenant", "acme", "--format", "json"],
        &path,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("listed 1 upstream users"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"][0]["kind"], "attribute");
    assert_eq!(report["findings"][0]["field"], "first_name");
    assert_eq!(report["findings"][0]["expected"], "Jane");
    assert_eq!(report["findings"][0]["actual"], "Changed");

    let table = cli(&["reconcile", "--tenant", "acme"], &path).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("1 finding(s)"), "{text}");
    assert!(text.contains("first_name"), "{text}");

    let missing = cli(&["reconcile", "--tenant", "nobody"], &path).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no tenant \"nobody\""));
}

#[tokio::test]
async fn a_user_re_made_by_hand_upstream_is_linked_again_not_deactivated_as_an_orphan() {
    let h = Harness::default().await;
    let id = h.create_ok(user("remade@example.com")).await;
    assert!(h.sim.remove_user(&upstream_id(&h, "remade@example.com")));
    let by_hand = h.sim.seed_user(seeded(
        "remade@example.com",
        ("Re", "Made"),
        "remade@example.com",
    ));

    let report = reconcile(&h, RunOptions::default()).await;
    assert_eq!(
        summary(&report),
        vec![
            (
                DriftKind::MissingUpstream,
                "remade@example.com".into(),
                None
            ),
            (DriftKind::Orphan, "remade@example.com".into(), None),
        ]
    );

    let report = reconcile(&h, REPAIR_AND_DEACTIVATE_ORPHANS).await;
    assert_eq!(report.repair.recreated, vec![id.clone()]);
    assert!(report.repair.orphans_deactivated.is_empty());
    let upstream = h.upstream("remade@example.com").unwrap();
    assert_eq!(upstream.user_id, by_hand, "linked, not duplicated");
    assert_eq!(upstream.status, "ACTIVE");
    assert_eq!(
        (upstream.first_name.as_str(), upstream.last_name.as_str()),
        ("Jane", "Doe")
    );
    assert_eq!(h.state().users.len(), 1);
    let after = reconcile(&h, RunOptions::default()).await;
    assert!(after.findings.is_empty(), "{:?}", after.findings);
}

crate::both_targets!(edits_behind_the_bridges_back_are_reported_exactly_and_repaired);
