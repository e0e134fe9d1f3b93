//! `sync_user` jobs: coalescing, claims and leases, retries, failures, and concurrent
//! claimers.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use scim_bridge::store::{Job, JobState, Lease, QueueFilter, Store};

use super::support::*;

const LEASE: Duration = Duration::from_secs(60);

async fn claim(store: &Arc<dyn Store>) -> Vec<Job> {
    store.claim_jobs(OWN_LEASE, 100).await.unwrap()
}

fn job_of<'a>(jobs: &'a [Job], user_id: &str) -> &'a Job {
    jobs.iter()
        .find(|j| j.user_id == user_id)
        .unwrap_or_else(|| panic!("no job for {user_id} in {jobs:?}"))
}

pub async fn enqueue_coalesces(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2"]).await;
    let before = now();
    assert_eq!(enqueue(&store, TENANT, &["u-1", "u-2", "u-1"]).await, 2);
    assert_eq!(enqueue(&store, TENANT, &["u-1"]).await, 0);
    assert_eq!(store.enqueue_user_syncs(TENANT, &[]).await.unwrap(), 0);
    let jobs = all_jobs(&store).await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(job.tenant, TENANT);
        assert_eq!(job.state, JobState::Pending);
        assert_eq!(job.retry.attempts, 0);
        assert_eq!(job.retry.last_error, None);
        assert!(
            job.retry.run_at >= before && job.retry.run_at <= Utc::now(),
            "due now"
        );
        assert!(job.created >= before);
    }
    assert!(jobs[0].id < jobs[1].id, "oldest first");
}

pub async fn claim_marks_running_with_a_lease(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    enqueue(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    let first = store.claim_jobs(OWN_LEASE, 2).await.unwrap();
    assert_eq!(first.len(), 2, "at most the limit");
    for job in &first {
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.retry.attempts, 1);
    }
    // Running jobs under a live lease are not claimed again.
    let second = claim(&store).await;
    assert_eq!(second.len(), 1);
    let claimed: HashSet<i64> = first.iter().chain(&second).map(|j| j.id).collect();
    assert_eq!(claimed.len(), 3);
    assert!(claim(&store).await.is_empty());
    assert_eq!(
        store
            .list_jobs(QueueFilter::all(10).in_state(JobState::Running))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.claim_jobs(OWN_LEASE, 0).await.unwrap().len(), 0);

    // A running job does not count as pending: a new change gets its own job.
    assert_eq!(enqueue(&store, TENANT, &["u-1"]).await, 1);
    let again = claim(&store).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].user_id, "u-1");
    assert_eq!(again[0].retry.attempts, 1);
}

pub async fn expired_lease_is_claimed_again(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1"]).await;
    enqueue(&store, TENANT, &["u-1"]).await;
    // A worker that claims with a tiny lease and then "crashes".
    let lost = store
        .claim_jobs(Lease::new(OWNER, Duration::from_millis(1)), 10)
        .await
        .unwrap();
    assert_eq!(lost.len(), 1);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let recovered = claim(&store).await;
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, lost[0].id);
    assert_eq!(recovered[0].state, JobState::Running);
    assert_eq!(recovered[0].retry.attempts, 2);
    // Now under a live lease again.
    assert!(claim(&store).await.is_empty());
}

pub async fn own_leases_are_renewed_and_given_back(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2"]).await;
    enqueue(&store, TENANT, &["u-1"]).await;
    let short = Duration::from_millis(800);
    let (own, another) = (Lease::new(OWNER, short), Lease::new("another", short));
    let third = Lease::new("third", LEASE);
    let mine = store.claim_jobs(own, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    enqueue(&store, TENANT, &["u-2"]).await;
    let theirs = store.claim_jobs(another, 10).await.unwrap();
    assert_eq!(theirs.len(), 1);
    // The heartbeat keeps the owner's claim; the other process's lease runs out.
    assert_eq!(store.renew_job_leases(OWN_LEASE).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let taken = store.claim_jobs(third, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, theirs[0].id);
    // A restart of the owner gives its claim back at once, and no longer renews it.
    assert_eq!(store.release_job_claims(OWNER).await.unwrap(), 1);
    assert_eq!(store.renew_job_leases(OWN_LEASE).await.unwrap(), 0);
    let again = store.claim_jobs(third, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, mine[0].id);
    assert_eq!(again[0].retry.attempts, 2);
}

pub async fn complete_removes_the_job_and_older_failed_ones(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2"]).await;
    enqueue(&store, TENANT, &["u-1", "u-2"]).await;
    let first = claim(&store).await;
    store
        .fail_job(job_of(&first, "u-1"), "upstream down")
        .await
        .unwrap();
    store
        .fail_job(job_of(&first, "u-2"), "upstream down")
        .await
        .unwrap();
    // A later change for u-1 succeeds: the user is in sync, its old failure is moot.
    enqueue(&store, TENANT, &["u-1"]).await;
    let second = claim(&store).await;
    assert_eq!(second.len(), 1);
    store.complete_job(&second[0]).await.unwrap();
    let left = all_jobs(&store).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].user_id, "u-2");
    assert_eq!(left[0].state, JobState::Failed);
    // Completing an already removed job is harmless.
    store.complete_job(&second[0]).await.unwrap();
    assert_eq!(all_jobs(&store).await.len(), 1);
}

pub async fn retry_returns_to_pending_later(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1"]).await;
    enqueue(&store, TENANT, &["u-1"]).await;
    let job = claim(&store).await.remove(0);
    let later = now() + chrono::Duration::hours(1);
    store
        .retry_job(&job, "429 rate limited", later)
        .await
        .unwrap();
    let jobs = all_jobs(&store).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, job.id);
    assert_eq!(jobs[0].state, JobState::Pending);
    assert_eq!(jobs[0].retry.run_at, later);
    assert_eq!(
        jobs[0].retry.last_error.as_deref(),
        Some("429 rate limited")
    );
    assert_eq!(jobs[0].retry.attempts, 1);
    // Not due yet.
    assert!(claim(&store).await.is_empty());
    // It coalesces with new changes meanwhile.
    assert_eq!(enqueue(&store, TENANT, &["u-1"]).await, 0);

    // Due again: claimed with the attempt counted.
    let due = now() - chrono::Duration::seconds(1);
    let job = jobs[0].clone();
    store.retry_job(&job, "503", due).await.unwrap();
    let again = claim(&store).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, job.id);
    assert_eq!(again[0].retry.attempts, 2);
    assert_eq!(again[0].retry.last_error.as_deref(), Some("503"));
}

pub async fn retry_is_dropped_when_another_job_is_pending(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1"]).await;
    enqueue(&store, TENANT, &["u-1"]).await;
    let running = claim(&store).await.remove(0);
    // A membership change while the job runs.
    enqueue(&store, TENANT, &["u-1"]).await;
    store
        .retry_job(&running, "timeout", now() + chrono::Duration::minutes(5))
        .await
        .unwrap();
    let jobs = all_jobs(&store).await;
    assert_eq!(jobs.len(), 1, "the pending job does the work: {jobs:?}");
    assert_ne!(jobs[0].id, running.id);
    assert_eq!(jobs[0].state, JobState::Pending);
    assert_eq!(jobs[0].retry.attempts, 0);
}

pub async fn fail_and_requeue(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    users(&store, OTHER, &["u-9"]).await;
    enqueue(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    enqueue(&store, OTHER, &["u-9"]).await;
    for job in claim(&store).await {
        store.fail_job(&job, "out of retries").await.unwrap();
    }
    let failed = store
        .list_jobs(QueueFilter::of(TENANT, 10).in_state(JobState::Failed))
        .await
        .unwrap();
    assert_eq!(failed.len(), 3);
    assert!(failed
        .iter()
        .all(|j| j.retry.last_error.as_deref() == Some("out of retries") && j.retry.attempts == 1));
    // Failed jobs stay failed: never claimed, never dropped.
    assert!(claim(&store).await.is_empty());

    // One job by id.
    let one = job_of(&failed, "u-1").id;
    assert_eq!(store.requeue_failed(None, Some(one)).await.unwrap(), 1);
    let pending = store
        .list_jobs(QueueFilter::all(10).in_state(JobState::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, one);
    assert!(pending[0].retry.run_at <= Utc::now());

    // u-2 got a new pending job meanwhile: its failed one is redundant.
    enqueue(&store, TENANT, &["u-2"]).await;
    assert_eq!(store.requeue_failed(Some(TENANT), None).await.unwrap(), 1);
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-2", "u-3"]
    );
    assert!(users_with_jobs(&store, JobState::Failed).await.is_empty());
    // The other tenant's failure is untouched until it is requeued.
    assert_eq!(
        store
            .list_jobs(QueueFilter::of(OTHER, 10).in_state(JobState::Failed))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.requeue_failed(None, None).await.unwrap(), 1);
    assert!(store
        .list_jobs(QueueFilter::all(10).in_state(JobState::Failed))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.requeue_failed(None, None).await.unwrap(), 0);
    // Requeued jobs are claimable now.
    assert_eq!(claim(&store).await.len(), 4);
}

pub async fn list_jobs_filters(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    users(&store, OTHER, &["u-9"]).await;
    enqueue(&store, TENANT, &["u-1", "u-2"]).await;
    enqueue(&store, OTHER, &["u-9"]).await;
    enqueue(&store, TENANT, &["u-3"]).await;
    let everything = all_jobs(&store).await;
    assert_eq!(
        everything
            .iter()
            .map(|j| j.user_id.as_str())
            .collect::<Vec<_>>(),
        ["u-1", "u-2", "u-9", "u-3"],
        "oldest first"
    );
    let running = store.claim_jobs(OWN_LEASE, 1).await.unwrap();
    assert_eq!(running[0].user_id, "u-1");

    let tenant_jobs = store.list_jobs(QueueFilter::of(TENANT, 10)).await.unwrap();
    assert_eq!(tenant_jobs.len(), 3);
    assert!(tenant_jobs.iter().all(|j| j.tenant == TENANT));
    let other_jobs = store.list_jobs(QueueFilter::of(OTHER, 10)).await.unwrap();
    assert_eq!(other_jobs.len(), 1);
    assert_eq!(other_jobs[0].tenant, OTHER);
    let pending = store
        .list_jobs(QueueFilter::all(10).in_state(JobState::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 3);
    let running_here = store
        .list_jobs(QueueFilter::of(TENANT, 10).in_state(JobState::Running))
        .await
        .unwrap();
    assert_eq!(running_here, running);
    assert!(store
        .list_jobs(QueueFilter::of(OTHER, 10).in_state(JobState::Running))
        .await
        .unwrap()
        .is_empty());
    let first_two: Vec<i64> = store
        .list_jobs(QueueFilter::all(2))
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first_two, [everything[0].id, everything[1].id]);
    assert!(store
        .list_jobs(QueueFilter::of("nobody", 10))
        .await
        .unwrap()
        .is_empty());
}

/// What the `scim_bridge_jobs` gauges are read from.
pub async fn count_jobs_by_tenant_and_state(store: Arc<dyn Store>) {
    assert!(store.count_jobs().await.unwrap().is_empty());
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    users(&store, OTHER, &["u-9"]).await;
    enqueue(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    enqueue(&store, OTHER, &["u-9"]).await;
    let running = store.claim_jobs(OWN_LEASE, 1).await.unwrap();
    store.fail_job(&running[0], "gone").await.unwrap();
    store.claim_jobs(OWN_LEASE, 1).await.unwrap();
    let mut counts = store.count_jobs().await.unwrap();
    counts.sort_by_key(|(t, s, _)| (t.clone(), s.as_str()));
    let mut want = vec![
        (TENANT.to_string(), JobState::Failed, 1),
        (TENANT.to_string(), JobState::Running, 1),
        (TENANT.to_string(), JobState::Pending, 1),
        (OTHER.to_string(), JobState::Pending, 1),
    ];
    want.sort_by_key(|(t, s, _)| (t.clone(), s.as_str()));
    assert_eq!(counts, want);
}

/// Several workers (replicas, on PostgreSQL) claiming at once never get the same job.
pub async fn concurrent_claimers_never_share_a_job(store: Arc<dyn Store>) {
    const JOBS: usize = 200;
    let all: Vec<String> = (0..JOBS).map(|i| format!("u-{i:03}")).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    users(&store, TENANT, &refs).await;
    assert_eq!(
        store.enqueue_user_syncs(TENANT, &all).await.unwrap(),
        JOBS as u64
    );

    let start = Arc::new(tokio::sync::Barrier::new(4));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        let start = start.clone();
        workers.push(tokio::spawn(async move {
            start.wait().await;
            let mut mine = Vec::new();
            loop {
                let jobs = store.claim_jobs(OWN_LEASE, 7).await.unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    let distinct: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "a job was claimed twice");
    assert_eq!(claimed.len(), JOBS, "every job was claimed once");
    let running = store
        .list_jobs(QueueFilter::all(1000).in_state(JobState::Running))
        .await
        .unwrap();
    assert_eq!(running.len(), JOBS);
    assert!(running.iter().all(|j| j.retry.attempts == 1));
}

/// Replicas enqueueing for the same users at once (in different orders) coalesce into
/// one pending job per user, without errors or deadlocks.
pub async fn concurrent_enqueues_coalesce(store: Arc<dyn Store>) {
    const USERS: usize = 100;
    let all: Vec<String> = (0..USERS).map(|i| format!("u-{i:03}")).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    users(&store, TENANT, &refs).await;
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let mut mine = all.clone();
        if w % 2 == 1 {
            mine.reverse();
        }
        mine.rotate_left(w * 17);
        writers.push(tokio::spawn(async move {
            let mut added = 0;
            for _ in 0..5 {
                added += store.enqueue_user_syncs(TENANT, &mine).await.unwrap();
            }
            added
        }));
    }
    let mut added = 0;
    for w in writers {
        added += w.await.unwrap();
    }
    assert_eq!(added, USERS as u64, "each user got exactly one new job");
    assert_eq!(users_with_jobs(&store, JobState::Pending).await, all);
}
