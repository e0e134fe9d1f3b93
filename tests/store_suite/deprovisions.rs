//! Deprovisions under the mass-deprovision guard: the count over the window, holding
//! after the limit (and while any is held), approval, claims and outcomes, and
//! concurrent admissions sharing one limit.
use std::sync::Arc;
use std::time::Duration;

use scim_bridge::store::{
    Admission, Deprovision, DeprovisionAction, DeprovisionState, GuardLimit, Lease, NewDeprovision,
    QueueFilter, Store,
};
use serde_json::json;

use super::support::*;

const LIMIT: GuardLimit = GuardLimit {
    max: 3,
    window: Duration::from_secs(3600),
};
const LEASE: Duration = Duration::from_secs(60);

fn request(tenant: &str, n: usize) -> NewDeprovision {
    NewDeprovision {
        tenant: tenant.to_string(),
        user_id: format!("u-{n}"),
        upstream_id: format!("up-{n}"),
        upstream_username: format!("user{n}@example.com"),
        action: DeprovisionAction::Delete,
        resource: json!({"userName": format!("user{n}@example.com"), "active": false}),
    }
}

fn held_id(admission: Admission) -> i64 {
    match admission {
        Admission::Held { id, .. } => id,
        Admission::Now => panic!("expected the deprovision to be held"),
    }
}

/// Admits request `n` of `tenant` under `limit`.
async fn admit(store: &Arc<dyn Store>, tenant: &str, n: usize, limit: &GuardLimit) -> Admission {
    store
        .admit_deprovision(&request(tenant, n), limit)
        .await
        .unwrap()
}

/// Claims up to ten approved deprovisions for `lease`.
async fn claim(store: &Arc<dyn Store>, lease: Duration) -> Vec<Deprovision> {
    store
        .claim_deprovisions(Lease::new(OWNER, lease), 10)
        .await
        .unwrap()
}

/// Admits request `n` of `tenant` under a guard that holds everything; returns its id.
async fn hold(store: &Arc<dyn Store>, tenant: &str, n: usize) -> i64 {
    let zero = GuardLimit {
        max: 0,
        window: Duration::from_secs(60),
    };
    held_id(admit(store, tenant, n, &zero).await)
}

pub async fn guard_holds_after_the_limit(store: Arc<dyn Store>) {
    for n in 0..3 {
        let admission = admit(&store, TENANT, n, &LIMIT).await;
        assert_eq!(
            admission,
            Admission::Now,
            "deprovision {n} is under the limit"
        );
    }
    let first = admit(&store, TENANT, 3, &LIMIT).await;
    let Admission::Held {
        tripped, recent, ..
    } = first
    else {
        panic!("the 4th of 3 allowed must be held, got {first:?}");
    };
    assert!(tripped, "the first held one trips the guard");
    assert_eq!(recent, 4);
    let second = admit(&store, TENANT, 4, &LIMIT).await;
    assert!(
        matches!(second, Admission::Held { tripped: false, .. }),
        "{second:?}"
    );
    // Another tenant has its own count.
    assert_eq!(admit(&store, OTHER, 0, &LIMIT).await, Admission::Now);
    let held = store
        .list_deprovisions(QueueFilter::of(TENANT, 100).in_state(DeprovisionState::Held))
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].request, request(TENANT, 3), "stored whole");
    assert!(held[0].id < held[1].id, "oldest first");
    let done = store
        .list_deprovisions(QueueFilter::of(TENANT, 100).in_state(DeprovisionState::Done))
        .await
        .unwrap();
    assert_eq!(done.len(), 3);
}

pub async fn a_window_that_has_passed_does_not_count(store: Arc<dyn Store>) {
    let short = GuardLimit {
        max: 1,
        window: Duration::from_millis(300),
    };
    assert_eq!(admit(&store, TENANT, 0, &short).await, Admission::Now);
    held_id(admit(&store, TENANT, 1, &short).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The window is empty again, but one is still held: later ones must not overtake it.
    held_id(admit(&store, TENANT, 2, &short).await);
    assert_eq!(store.approve_deprovisions(TENANT, None).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        admit(&store, TENANT, 3, &short).await,
        Admission::Now,
        "nothing held and the window passed"
    );
    // Old `done` rows are forgotten; approved ones stay until the worker finishes them.
    let rows = store
        .list_deprovisions(QueueFilter::of(TENANT, 100))
        .await
        .unwrap();
    let states: Vec<_> = rows
        .iter()
        .map(|d| (d.request.user_id.clone(), d.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("u-1".to_string(), DeprovisionState::Pending),
            ("u-2".to_string(), DeprovisionState::Pending),
            ("u-3".to_string(), DeprovisionState::Done),
        ]
    );
}

pub async fn approve_claim_and_finish(store: Arc<dyn Store>) {
    let a = hold(&store, TENANT, 0).await;
    let b = hold(&store, TENANT, 1).await;
    let c = hold(&store, TENANT, 2).await;
    hold(&store, OTHER, 0).await;
    assert!(
        claim(&store, LEASE).await.is_empty(),
        "held ones are not the worker's"
    );
    assert_eq!(
        store.approve_deprovisions(TENANT, Some(a)).await.unwrap(),
        1
    );
    assert_eq!(
        store.approve_deprovisions(TENANT, Some(a)).await.unwrap(),
        0
    );
    assert_eq!(store.approve_deprovisions(TENANT, None).await.unwrap(), 2);
    let claimed = claim(&store, LEASE).await;
    let ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        vec![a, b, c],
        "only the approved tenant's, oldest first"
    );
    assert!(claimed
        .iter()
        .all(|d| d.state == DeprovisionState::Running && d.retry.attempts == 1));
    assert!(claim(&store, LEASE).await.is_empty());

    store.finish_deprovision(a, Ok(())).await.unwrap();
    store
        .finish_deprovision(b, Err(("upstream down".into(), Some(at(-1)))))
        .await
        .unwrap();
    store
        .finish_deprovision(c, Err(("permanent".into(), None)))
        .await
        .unwrap();
    let again = claim(&store, LEASE).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].retry.attempts), (b, 2));
    assert_eq!(again[0].retry.last_error.as_deref(), Some("upstream down"));
    let failed = store
        .list_deprovisions(QueueFilter::of(TENANT, 10).in_state(DeprovisionState::Failed))
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, c);
    // Approving again retries a failed one.
    assert_eq!(store.approve_deprovisions(TENANT, None).await.unwrap(), 1);
    let done = store
        .list_deprovisions(QueueFilter::of(TENANT, 10).in_state(DeprovisionState::Done))
        .await
        .unwrap();
    assert_eq!(done.iter().map(|d| d.id).collect::<Vec<_>>(), vec![a]);
}

pub async fn an_expired_lease_is_claimed_again(store: Arc<dyn Store>) {
    let id = hold(&store, TENANT, 0).await;
    store.approve_deprovisions(TENANT, None).await.unwrap();
    let first = claim(&store, Duration::from_millis(100)).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = claim(&store, LEASE).await;
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].id, second[0].retry.attempts), (id, 2));
}

pub async fn concurrent_admissions_share_one_limit(store: Arc<dyn Store>) {
    let limit = GuardLimit {
        max: 5,
        window: Duration::from_secs(3600),
    };
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.admit_deprovision(&request(TENANT, n), &limit).await
        }));
    }
    let mut now = 0;
    let mut tripped = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Admission::Now => now += 1,
            Admission::Held { tripped: t, .. } => tripped += usize::from(t),
        }
    }
    assert_eq!(now, 5, "exactly the limit runs now");
    assert_eq!(tripped, 1, "the guard trips once");
    let held = store
        .list_deprovisions(QueueFilter::of(TENANT, 100).in_state(DeprovisionState::Held))
        .await
        .unwrap();
    assert_eq!(held.len(), 15);
}
