//! The statements the three work queues share (`jobs`, `deprovisions` and the
//! `notify_outbox`, see [`Queued`]): claiming due rows, renewing and giving back claims,
//! listing, and recording how an attempt ended.
//!
//! Claims lock their rows with the backend's `SKIP LOCKED` (PostgreSQL; SQLite has one
//! writer at a time), so concurrent claimers get disjoint rows, and a running row whose
//! lease expired (a crashed replica's) comes back.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::rows::{records, Stored, DEPROVISION_COLUMNS, JOB_COLUMNS, NOTIFICATION_COLUMNS};
use super::{execute, fetch_all, lease_end, Backend, Stmt};
use crate::store::queue::{Lease, Outcome, QueueFilter, Queued};
use crate::store::{timestamp, StoreError};

/// One queue's table.
pub(super) struct QueueTable {
    pub name: &'static str,
    /// What a claim returns ([`Stored`] columns).
    pub columns: &'static str,
    /// The column that says when an item was done, where the table keeps one.
    pub done_at: Option<&'static str>,
}

pub(super) const JOBS: QueueTable = QueueTable {
    name: "jobs",
    columns: JOB_COLUMNS,
    done_at: None,
};

pub(super) const DEPROVISIONS: QueueTable = QueueTable {
    name: "deprovisions",
    columns: DEPROVISION_COLUMNS,
    done_at: None,
};

pub(super) const OUTBOX: QueueTable = QueueTable {
    name: "notify_outbox",
    columns: NOTIFICATION_COLUMNS,
    done_at: Some("delivered_at"),
};

/// Claims up to `limit` due rows of `queue`: pending ones whose `run_at` has come and
/// running ones whose lease expired. They become `running` with a lease and one more
/// attempt; returned oldest due first. Jobs and deprovisions name their claimer (`owner`,
/// for renewal and the start-up give-back); the notification outbox does not.
///
/// The locking SELECT is a MATERIALIZED CTE, not `WHERE id IN (SELECT ... LIMIT n FOR
/// UPDATE SKIP LOCKED)`: PostgreSQL may plan that IN as a semi-join that re-runs the
/// subquery per outer row, and each re-run skips the rows this very statement already
/// updated and locks the next ones, so one claim took more than `limit` jobs (the
/// suite's `claim_marks_running_with_a_lease` caught it). A CTE runs exactly once.
pub(super) async fn claim<B, S, Request, State>(
    backend: &B,
    queue: &QueueTable,
    owner: Option<&str>,
    limit: u32,
    lease: Duration,
) -> Result<Vec<Queued<Request, State>>, StoreError>
where
    B: Backend,
    S: Stored<Record = Queued<Request, State>>,
{
    if limit == 0 {
        return Ok(vec![]);
    }
    let now = Utc::now();
    let table = queue.name;
    let sql = format!(
        "WITH due AS MATERIALIZED (
             SELECT id FROM {table}
             WHERE (state = 'pending' AND run_at <= $1) OR (state = 'running' AND lease_until < $1)
             ORDER BY run_at, id
             LIMIT $3{}
         )
         UPDATE {table} SET state = 'running', attempts = attempts + 1, lease_until = $2{}
         WHERE id IN (SELECT id FROM due)
         RETURNING {}",
        B::DIALECT.skip_locked(),
        if owner.is_some() {
            ", claimed_by = $4"
        } else {
            ""
        },
        queue.columns,
    );
    let stmt = Stmt::new(sql)
        .text(&timestamp(&now))
        .text(&timestamp(&lease_end(now, lease)))
        .int(i64::from(limit));
    let stmt = match owner {
        Some(owner) => stmt.text(owner),
        None => stmt,
    };
    let rows: Vec<S> = fetch_all(backend, stmt).await?;
    let mut claimed = records(rows)?;
    claimed.sort_by_key(|item| (item.retry.run_at, item.id));
    Ok(claimed)
}

/// Sets the lease of every running row of `queue` that `lease.owner` claimed to end
/// `lease.term` from now; returns how many. A row another process took over after this
/// one's lease ran out is not touched.
pub(super) async fn renew_leases<B: Backend>(
    backend: &B,
    queue: &QueueTable,
    lease: Lease<'_>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE {} SET lease_until = $1 WHERE state = 'running' AND claimed_by = $2",
        queue.name
    );
    let until = lease_end(Utc::now(), lease.term);
    let stmt = Stmt::new(sql).text(&timestamp(&until)).text(lease.owner);
    execute(backend, stmt).await
}

/// Gives back every running row of `queue` that `owner` claimed: its lease ends now
/// and it names no claimer, so the next claim (by any process) takes it and `owner`'s
/// heartbeat, which renews only what names it, cannot keep it. Called as `owner`
/// starts, when such rows can only be a crashed run's.
pub(super) async fn release_claims<B: Backend>(
    backend: &B,
    queue: &QueueTable,
    owner: &str,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE {} SET lease_until = $1, claimed_by = NULL
         WHERE state = 'running' AND claimed_by = $2",
        queue.name
    );
    let ended = Utc::now() - chrono::Duration::milliseconds(1);
    execute(backend, Stmt::new(sql).text(&timestamp(&ended)).text(owner)).await
}

/// The rows of `queue` that `filter` (its state as the row's text) lets through, oldest
/// first.
pub(super) async fn list<B: Backend, S: Stored>(
    backend: &B,
    queue: &QueueTable,
    filter: QueueFilter<'_, &str>,
) -> Result<Vec<S::Record>, StoreError> {
    let stmt = Stmt::new(format!(
        "SELECT {} FROM {}
         WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR state = $2)
         ORDER BY id LIMIT $3",
        queue.columns, queue.name
    ))
    .opt_text(filter.tenant)
    .opt_text(filter.state)
    .int(i64::from(filter.limit));
    let rows: Vec<S> = fetch_all(backend, stmt).await?;
    records(rows)
}

/// Records how an attempt at row `id` of `queue` ended: `state` (what `outcome` leaves
/// it in), the error, when it is due again, the lease given back; and when it was done,
/// where the queue keeps that.
pub(super) async fn finish<B: Backend>(
    backend: &B,
    queue: &QueueTable,
    id: i64,
    state: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let (error, run_at): (Option<&str>, DateTime<Utc>) = match outcome {
        Ok(()) => (None, now),
        Err((error, at)) => (Some(error), at.unwrap_or(now)),
    };
    let done_at = queue
        .done_at
        .map(|column| format!(", {column} = $5"))
        .unwrap_or_default();
    let stmt = Stmt::new(format!(
        "UPDATE {} SET state = $1, last_error = $2, run_at = $3, lease_until = NULL{done_at}
         WHERE id = $4",
        queue.name
    ))
    .text(state)
    .opt_text(error)
    .text(&timestamp(&run_at))
    .int(id);
    let stmt = match queue.done_at {
        Some(_) => stmt.opt_text(outcome.is_ok().then(|| timestamp(&now)).as_deref()),
        None => stmt,
    };
    execute(backend, stmt).await?;
    Ok(())
}
