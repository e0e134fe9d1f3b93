//! Creates that meet a database write lock held by someone else (a long migration, an
//! operator's `psql` session, a backup holding SQLite's write lock): the IdP gets a
//! SCIM answer (201, or 503 when its deadline passes first), never a 500; once the lock
//! goes away every user that reached the upstream is known to SCIM, nothing is
//! duplicated, and the IdP's retries find the finished users. SQLite (the whole file is
//! locked: `BEGIN IMMEDIATE`), or PostgreSQL with `SCIM_BRIDGE_TEST_BACKEND=postgres`
//! (only the `users` table is locked, so the create intent and the upstream create go
//! through and the local commit is what waits: the window the issue forces open).
mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;

/// A connection of another program holding a write lock until dropped (the
/// transaction rolls back with the connection).
enum LockHolder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl LockHolder {
    async fn take(db_url: &str) -> LockHolder {
        if db_url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(db_url).await.expect("connect");
            sqlx::raw_sql("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .expect("lock users");
            LockHolder::Postgres(conn)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(db_url)
                .await
                .expect("connect");
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("take the write lock");
            LockHolder::Sqlite(conn)
        }
    }

    async fn release(self) {
        match self {
            LockHolder::Sqlite(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
            LockHolder::Postgres(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

/// The database URL the harness gave the bridge.
fn db_url(h: &Harness) -> String {
    let line = h
        .config_text
        .lines()
        .find(|l| l.starts_with("url = "))
        .expect("database url in the config");
    line.trim_start_matches("url = ")
        .trim_matches('"')
        .to_string()
}

async fn locked_harness() -> Harness {
    let h = Harness::with(|o| o.extra_toml = "[server]\nrequest_timeout_secs = 2".into()).await;
    // The upstream token is fetched before the lock, so the creates below are one
    // upstream call each.
    h.create_ok(user("warm-up@x.com")).await;
    h
}

/// Sends `count` creates at once while `holder` keeps the lock for `hold`; returns the
/// statuses the IdP got. Each test has its own `prefix`: PostgreSQL's advisory locks
/// (one per tenant and userName) are database-wide, shared by the tests' schemas.
async fn creates_under_lock(
    h: &Harness,
    prefix: &str,
    holder: LockHolder,
    count: usize,
    hold: Duration,
) -> Vec<StatusCode> {
    let sent: Vec<_> = (0..count)
        .map(|i| {
            let client = h.client.clone();
            let url = format!("{}/Users", h.base);
            let body = user(&format!("{prefix}{i}@x.com")).to_string();
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/scim+json")
                    .body(body)
                    .send()
                    .await
                    .expect("an answer");
                let status = response.status();
                let body: Value = response.json().await.expect("a JSON body");
                (status, body)
            })
        })
        .collect();
    tokio::time::sleep(hold).await;
    holder.release().await;
    let mut statuses = Vec::new();
    for answer in sent {
        let (status, body) = answer.await.expect("the request task");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {body}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_scim_error(&body, 503, None);
        }
        statuses.push(status);
    }
    statuses
}

/// Waits until no active upstream user is unknown to SCIM; returns how long it took.
async fn no_unmanaged_within(h: &Harness, scenario: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if h.unmanaged_active(scenario).await == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "active upstream users unknown to SCIM remain after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The IdP retries every create it did not see succeed; each gets the one user.
async fn retries_find_the_finished_users(h: &Harness, prefix: &str, count: usize) {
    for i in 0..count {
        let username = format!("{prefix}{i}@x.com");
        let (status, _, body) = h.call(Method::POST, "/Users", Some(user(&username))).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::CONFLICT,
            "{username}: {status} {body}"
        );
        let found = h.find_by_username(&username).await;
        assert_eq!(found["totalResults"], 1, "{username}: {found}");
    }
    let state = h.state();
    let active: Vec<_> = state
        .users
        .iter()
        .filter(|u| u.status == "ACTIVE")
        .collect();
    assert_eq!(
        active.len(),
        count + 1,
        "a duplicate or a missing upstream user: {:#?}",
        state.users
    );
}

#[tokio::test]
async fn creates_meeting_a_short_held_write_lock_all_land_once() {
    let h = locked_harness().await;
    let holder = LockHolder::take(&db_url(&h)).await;
    const CREATES: usize = 6;
    // Held past the IdP's 2 s deadline, within the store's lock waits.
    let statuses = creates_under_lock(&h, "short", holder, CREATES, Duration::from_secs(4)).await;
    eprintln!("answers under a 4 s lock: {statuses:?}");
    let took = no_unmanaged_within(&h, "a 4 s write lock", Duration::from_secs(30)).await;
    eprintln!("no unmanaged upstream user {took:?} after the lock went away");
    retries_find_the_finished_users(&h, "short", CREATES).await;
    assert_eq!(h.unmanaged_active("the IdP's retries").await, 0);
}

#[tokio::test]
async fn creates_meeting_a_lock_held_past_every_wait_leave_no_unmanaged_user() {
    let h = Harness::with(|o| o.extra_toml = "[server]\nrequest_timeout_secs = 2".into()).await;
    h.create_ok(user("warm-up@x.com")).await;
    let holder = LockHolder::take(&db_url(&h)).await;
    const CREATES: usize = 4;
    // Longer than SQLite's 10 s busy timeout: the writes waiting on it give up. On
    // PostgreSQL the commit waits on and lands once the lock goes.
    let statuses = creates_under_lock(&h, "long", holder, CREATES, Duration::from_secs(12)).await;
    eprintln!("answers under a 12 s lock: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "the IdP's deadline passed under the lock: {statuses:?}"
    );
    // Whatever reached the upstream is committed once the lock goes, or (its commit
    // gave up) left as an intent that the IdP's retry within the grace period links
    // (tests/crash_recovery.rs covers an IdP that never retries).
    retries_find_the_finished_users(&h, "long", CREATES).await;
    let took = no_unmanaged_within(&h, "a 12 s write lock", Duration::from_secs(30)).await;
    eprintln!("no unmanaged upstream user {took:?} after the retries");
}
