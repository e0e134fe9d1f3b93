//! The admin capability: the audit log filtered and paged, rejecting held
//! deprovisions, and the notification outbox (de-duplication, claims, outcomes).
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use scim_bridge::store::{
    AuditEntry, AuditQuery, DeprovisionAction, DeprovisionState, GuardLimit, NewDeprovision,
    NewNotification, NotificationState, QueueFilter, Store,
};
use serde_json::json;

fn entry(tenant: &str, actor: &str, action: &str, n: usize) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        tenant: tenant.into(),
        actor: actor.into(),
        resource_type: "User".into(),
        resource_id: format!("u{n}"),
        action: action.into(),
        outcome: if n.is_multiple_of(2) { "ok" } else { "error" }.into(),
        detail: json!({"n": n}),
    }
}

pub async fn audit_search_filters_and_pages(store: Arc<dyn Store>) {
    for n in 0..7 {
        store
            .append_audit(&entry("a", "okta", "create", n))
            .await
            .unwrap();
    }
    store
        .append_audit(&entry("a", "admin:ops", "job_retry", 100))
        .await
        .unwrap();
    store
        .append_audit(&entry("b", "okta", "create", 200))
        .await
        .unwrap();

    let page = |offset, limit| AuditQuery {
        tenants: Some(vec!["a".into()]),
        action: Some("create".into()),
        offset,
        limit,
        ..AuditQuery::default()
    };
    let first = store.search_audit(&page(0, 3)).await.unwrap();
    assert_eq!(first.total, 7);
    let ids: Vec<&str> = first.items.iter().map(|e| e.resource_id.as_str()).collect();
    assert_eq!(ids, ["u6", "u5", "u4"], "newest first");
    let last = store.search_audit(&page(6, 3)).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].resource_id, "u0");

    let errors = AuditQuery {
        tenants: Some(vec!["a".into()]),
        outcome: Some("error".into()),
        limit: 50,
        ..AuditQuery::default()
    };
    assert_eq!(store.search_audit(&errors).await.unwrap().total, 3);
    let by_admin = AuditQuery {
        actor: Some("admin:ops".into()),
        limit: 50,
        ..AuditQuery::default()
    };
    let found = store.search_audit(&by_admin).await.unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].detail, json!({"n": 100}));
    let both = AuditQuery {
        tenants: Some(vec!["a".into(), "b".into()]),
        resource_id: Some("u200".into()),
        limit: 50,
        ..AuditQuery::default()
    };
    assert_eq!(
        store.search_audit(&both).await.unwrap().items[0].tenant,
        "b"
    );
    let other = AuditQuery {
        tenants: Some(vec!["c".into()]),
        limit: 50,
        ..AuditQuery::default()
    };
    assert_eq!(store.search_audit(&other).await.unwrap().total, 0);
}

pub async fn reject_removes_only_held_deprovisions(store: Arc<dyn Store>) {
    let limit = GuardLimit {
        max: 1,
        window: Duration::from_secs(3600),
    };
    for n in 0..3 {
        let request = NewDeprovision {
            tenant: "t".into(),
            user_id: format!("u{n}"),
            upstream_id: format!("up{n}"),
            upstream_username: format!("u{n}@x.com"),
            action: DeprovisionAction::Deactivate,
            resource: json!({"active": false}),
        };
        store.admit_deprovision(&request, &limit).await.unwrap();
    }
    let held = store
        .list_deprovisions(QueueFilter::of("t", 10).in_state(DeprovisionState::Held))
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    assert!(store
        .reject_deprovisions("other", None)
        .await
        .unwrap()
        .is_empty());
    let one = store
        .reject_deprovisions("t", Some(held[0].id))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].request.user_id, held[0].request.user_id);
    let rest = store.reject_deprovisions("t", None).await.unwrap();
    assert_eq!(rest.len(), 1);
    let left = store
        .list_deprovisions(QueueFilter::of("t", 10))
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the done one stays, as the guard's count");
    assert_eq!(left[0].state, DeprovisionState::Done);
}

pub async fn the_outbox_deduplicates_claims_and_retries(store: Arc<dyn Store>) {
    let window = Duration::from_secs(3600);
    let event = |sink: &str| NewNotification {
        sink: sink.into(),
        event: "breaker_opened".into(),
        tenant: "t".into(),
        dedup_key: "breaker_opened:t".into(),
        payload: json!({"text": "breaker opened"}),
    };
    assert!(store
        .enqueue_notification(&event("hook"), window)
        .await
        .unwrap());
    assert!(
        !store
            .enqueue_notification(&event("hook"), window)
            .await
            .unwrap(),
        "a repeat"
    );
    assert!(
        store
            .enqueue_notification(&event("slack"), window)
            .await
            .unwrap(),
        "per sink"
    );
    assert!(
        store
            .enqueue_notification(&event("hook"), Duration::ZERO)
            .await
            .unwrap(),
        "after the window"
    );

    let lease = Duration::from_secs(60);
    let claimed = store.claim_notifications(10, lease).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed
        .iter()
        .all(|n| n.state == NotificationState::Running && n.retry.attempts == 1));
    assert!(
        store
            .claim_notifications(10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    let later = Utc::now() + chrono::Duration::seconds(3600);
    store
        .finish_notification(claimed[0].id, Ok(()))
        .await
        .unwrap();
    store
        .finish_notification(claimed[1].id, Err(("down".into(), Some(Utc::now()))))
        .await
        .unwrap();
    store
        .finish_notification(claimed[2].id, Err(("down".into(), Some(later))))
        .await
        .unwrap();
    let again = store.claim_notifications(10, lease).await.unwrap();
    assert_eq!(again.len(), 1, "only the one due now");
    assert_eq!(again[0].id, claimed[1].id);
    assert_eq!(again[0].retry.attempts, 2);
    assert_eq!(again[0].retry.last_error.as_deref(), Some("down"));
    store
        .finish_notification(again[0].id, Err(("gone".into(), None)))
        .await
        .unwrap();

    let all = store.list_notifications(10).await.unwrap();
    let state = |id| all.iter().find(|n| n.id == id).unwrap().state;
    assert_eq!(state(claimed[0].id), NotificationState::Delivered);
    assert!(all
        .iter()
        .find(|n| n.id == claimed[0].id)
        .unwrap()
        .delivered()
        .is_some());
    assert_eq!(state(claimed[1].id), NotificationState::Failed);
    assert_eq!(state(claimed[2].id), NotificationState::Pending);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}
