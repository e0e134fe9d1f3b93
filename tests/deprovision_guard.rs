//! The mass-deprovision guard over real HTTP with the simulator: the first `max`
//! deprovisions of the window go upstream; later ones are answered by SCIM but held,
//! the simulator keeping the users, until `scim-bridge jobs approve` releases them to
//! the worker. A user reactivated before approval is left alone.
mod common;
mod support;

use common::scim::one_op;
use common::{user, Harness};
use reqwest::{Method, StatusCode};
use scim_bridge::admin::{Admin, Decision};
use scim_bridge::store::{DeprovisionState, QueueFilter};
use serde_json::json;

const GUARD: &str = "[tenants.acme.deprovision_guard]\nmax = 2\nwindow_secs = 3600\n";

fn status_of(h: &Harness, username: &str) -> Option<String> {
    h.upstream(username).map(|u| u.status)
}

#[tokio::test]
async fn deprovisions_over_the_limit_wait_for_approval() {
    let h = support::harness(GUARD).await;
    let names = [
        "a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com", "f@x.com",
    ];
    let mut ids = Vec::new();
    for name in names {
        ids.push(h.create_ok(user(name)).await);
    }

    // Two deletes are within the limit and happen upstream at once.
    for id in &ids[..2] {
        let (status, _, body) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert!(h.upstream("a@x.com").is_none() && h.upstream("b@x.com").is_none());

    // The third and fourth: SCIM answers and forgets them, the upstream keeps them.
    for id in &ids[2..4] {
        let (status, _, body) = h.call(Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, _) = h.get(&format!("/Users/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(status_of(&h, "c@x.com").as_deref(), Some("ACTIVE"));
    assert_eq!(status_of(&h, "d@x.com").as_deref(), Some("ACTIVE"));

    // A deactivation is held too: SCIM shows it, the upstream user stays active, and a
    // later attribute change of the inactive user does not carry it out either.
    let body = support::set_active(&h, &ids[4], false).await;
    assert_eq!(body["active"], false);
    let (status, body) = h
        .patch(
            &ids[4],
            json!([{"op": "replace", "path": "name.givenName", "value": "Eve"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&h, "e@x.com").as_deref(), Some("ACTIVE"));
    let ext = &body[scim_bridge::scim::schema::BRIDGE_USER_SCHEMA];
    assert_eq!(ext["syncState"], "held", "{body}");
    assert!(
        ext["lastError"].as_str().unwrap().contains("jobs approve"),
        "{body}"
    );

    // Deactivated, then reactivated before anyone approved: nothing to do for it later.
    support::set_active(&h, &ids[5], false).await;
    support::set_active(&h, &ids[5], true).await;

    // The audit says the guard tripped (once) and which changes it held.
    let audit = h.audit().await;
    let trips: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "deprovision_guard" && e.outcome == "tripped")
        .collect();
    assert_eq!(trips.len(), 1, "{audit:#?}");
    assert_eq!(trips[0].detail["max"], 2);
    let held_deletes = audit
        .iter()
        .filter(|e| {
            e.action == "delete" && e.detail["upstream"] == scim_bridge::provision::guard::HELD
        })
        .count();
    assert_eq!(held_deletes, 2);

    let held = h
        .store
        .list_deprovisions(QueueFilter::of("acme", 100).in_state(DeprovisionState::Held))
        .await
        .unwrap();
    assert_eq!(held.len(), 4, "c, d, e's deactivation and f's: {held:#?}");
    // Waiting longer changes nothing: held ones are not the worker's until approved.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(h.upstream("c@x.com").is_some());

    approve(&h, 4).await;
    h.eventually("c and d deleted, e deactivated upstream", |s| {
        let status = |name: &str| Harness::status_in(s, name);
        status("c@x.com").is_none()
            && status("d@x.com").is_none()
            && status("e@x.com").as_deref() == Some("DEACTIVATED")
    })
    .await;
    // All four ran (f's as a no-op: it was reactivated in the meantime).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let worker_runs = loop {
        let runs: Vec<_> = h
            .audit()
            .await
            .into_iter()
            .filter(|e| e.action == "deprovision" && e.actor == "worker")
            .collect();
        if runs.len() >= 4 || std::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(worker_runs.len(), 4, "{worker_runs:#?}");
    assert!(worker_runs.iter().all(|e| e.outcome == "ok"));
    assert_eq!(status_of(&h, "f@x.com").as_deref(), Some("ACTIVE"));
    let (_, body) = h.get(&format!("/Users/{}", ids[4])).await;
    assert_eq!(body["active"], false);
    assert_eq!(body["name"]["givenName"], "Eve");
    assert_eq!(
        body[scim_bridge::scim::schema::BRIDGE_USER_SCHEMA]["syncState"],
        "synced"
    );
    let approvals = h
        .audit()
        .await
        .into_iter()
        .filter(|e| e.action == "deprovision_approve")
        .count();
    assert_eq!(approvals, 1);
}

/// Releases everything held for `acme`, which must be `count` deprovisions.
async fn approve(h: &Harness, count: usize) {
    let released = h
        .app
        .admin
        .decide_deprovisions(&Admin::cli(), "acme", None, Decision::Approve)
        .await
        .unwrap();
    assert_eq!(released as usize, count);
}

/// Releases everything held for `acme` and waits until the worker has run it.
async fn approve_and_wait(h: &Harness, count: usize) {
    approve(h, count).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = h
            .store
            .list_deprovisions(QueueFilter::of("acme", 100))
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.state != DeprovisionState::Done)
            .count();
        if waiting == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{waiting} not run");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn held_deactivations_follow_the_delete_and_strip_roles_policies() {
    // A guard that holds every deprovision, under the policy `on_deactivate`.
    let holding = |on_deactivate: &'static str| {
        Harness::with(move |o| {
            o.on_deactivate = on_deactivate;
            o.extra_toml = "[tenants.acme.deprovision_guard]\nmax = 0\n".into();
        })
    };
    let ext = scim_bridge::scim::schema::BRIDGE_USER_SCHEMA;

    // on_deactivate = delete: the upstream user is deleted on approval, and the SCIM
    // user is marked deprovisioned, so a reactivation creates it again.
    let h = holding("delete").await;
    let id = h.create_ok(user("del@x.com")).await;
    let body = support::set_active(&h, &id, false).await;
    assert_eq!(body[ext]["syncState"], "held");
    assert!(h.upstream("del@x.com").is_some());
    approve_and_wait(&h, 1).await;
    assert!(h.upstream("del@x.com").is_none());
    let (_, body) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(body[ext]["syncState"], "deprovisioned", "{body}");
    support::set_active(&h, &id, true).await;
    assert_eq!(status_of(&h, "del@x.com").as_deref(), Some("ACTIVE"));

    // on_deactivate = strip_roles: the roles go on approval, the user stays active.
    let h = holding("strip_roles").await;
    let id = h.create_ok(user("strip@x.com")).await;
    support::set_active(&h, &id, false).await;
    assert_eq!(
        Harness::roles_of(&h.state(), "strip@x.com"),
        vec!["basicAccess".to_string()]
    );
    approve_and_wait(&h, 1).await;
    assert!(Harness::roles_of(&h.state(), "strip@x.com").is_empty());
    assert_eq!(status_of(&h, "strip@x.com").as_deref(), Some("ACTIVE"));
}

/// While a deactivation is held, a change of the user's group (which queues a role sync
/// for every member) does not carry it out behind the guard's back.
#[tokio::test]
async fn group_changes_do_not_carry_out_a_held_deactivation() {
    let h = support::harness("[tenants.acme.deprovision_guard]\nmax = 0\n").await;
    let id = h.create_ok(user("held@x.com")).await;
    let other = h.create_ok(user("other@x.com")).await;
    let (status, group) = h
        .post(
            "/Groups",
            support::group("bandwidth-role-Porting", &[&id, &other]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    h.eventually("held@x.com has Porting", |s| {
        Harness::roles_of(s, "held@x.com").contains(&"Porting".to_string())
    })
    .await;

    support::set_active(&h, &id, false).await;
    // A renamed group grants another role: every member's roles are synced again, the
    // held user's included.
    let (status, body) = h
        .group_patch(
            &group_id,
            one_op("replace", "displayName", json!("bandwidth-role-Ordering")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.eventually("other@x.com has Ordering", |s| {
        Harness::roles_of(s, "other@x.com").contains(&"Ordering".to_string())
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !h
        .store
        .list_jobs(QueueFilter::of("acme", 100))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "jobs left");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&h, "held@x.com").as_deref(), Some("ACTIVE"));
    let (_, body) = h.get(&format!("/Users/{id}")).await;
    assert_eq!(
        body[scim_bridge::scim::schema::BRIDGE_USER_SCHEMA]["syncState"],
        "held",
        "{body}"
    );

    approve_and_wait(&h, 1).await;
    assert_eq!(status_of(&h, "held@x.com").as_deref(), Some("DEACTIVATED"));
}
