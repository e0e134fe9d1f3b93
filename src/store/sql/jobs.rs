//! `sync_user` jobs (claimed, renewed and listed as every queue is, see [`super::queue`]).
//!
//! Coalescing is the partial unique index `jobs_one_pending` with `INSERT ... ON CONFLICT
//! DO NOTHING`, so two replicas enqueueing for one user still leave one pending job.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::queue::{self, JOBS};
use super::rows::StoredJob;
use super::unique::{violated, UniqueIndex};
use super::{execute, fetch_all, Backend, Conn, Stmt};
use crate::store::{timestamp, Job, JobState, JobStore, Lease, QueueFilter, StoreError};

const COMPLETE: &str = "DELETE FROM jobs
     WHERE id = $1 OR (tenant = $2 AND user_id = $3 AND state = 'failed' AND id < $1)";

/// Back to pending unless the user already has a pending job. The NOT EXISTS covers the
/// usual case; a pending job enqueued concurrently by another replica surfaces as a
/// unique violation on `jobs_one_pending`, which means the same thing.
const RETRY: &str = "UPDATE jobs SET state = 'pending', run_at = $2, last_error = $3, lease_until = NULL
     WHERE id = $1
       AND NOT EXISTS (SELECT 1 FROM jobs p
                       WHERE p.tenant = $4 AND p.user_id = $5 AND p.state = 'pending' AND p.id <> $1)";
const DELETE: &str = "DELETE FROM jobs WHERE id = $1";
const FAIL: &str =
    "UPDATE jobs SET state = 'failed', last_error = $2, lease_until = NULL WHERE id = $1";
const COUNT: &str = "SELECT tenant, state, COUNT(*) AS n FROM jobs GROUP BY tenant, state";

/// Enqueues a pending job for each of `user_ids` that is a user of the tenant and has
/// none yet, on `conn` (inside the caller's transaction for group writes). Ids of users
/// that no longer exist are skipped rather than failing the write on the foreign key.
pub(super) async fn enqueue<B: Backend>(
    conn: &mut <B::Db as sqlx::Database>::Connection,
    tenant: &str,
    user_ids: &[String],
) -> Result<u64, StoreError> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO jobs (tenant, user_id, state, attempts, run_at, created_at)
         SELECT u.tenant, u.id, 'pending', 0, $3, $3 FROM users u
         WHERE u.tenant = $1 AND u.id IN (SELECT list.id FROM {})
         ORDER BY u.id
         ON CONFLICT (tenant, user_id) WHERE state = 'pending' DO NOTHING",
        B::DIALECT.texts(2)
    );
    let stmt = Stmt::new(sql)
        .text(tenant)
        .texts(user_ids)
        .text(&timestamp(&Utc::now()));
    Ok(conn.execute(stmt).await?)
}

/// One attempt of [`JobStore::requeue_failed`]; returns how many jobs became pending.
async fn requeue_failed_once<B: Backend>(
    backend: &B,
    tenant: Option<&str>,
    job_id: Option<i64>,
) -> Result<u64, sqlx::Error> {
    let mut tx = backend.begin().await?;
    // The chosen failed jobs, locked so two admins requeueing at once do not race.
    let chosen: Vec<(i64,)> = tx
        .fetch_all(
            Stmt::new(format!(
                "SELECT id FROM jobs
                 WHERE state = 'failed' AND ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR id = $2)
                 ORDER BY id{}",
                B::DIALECT.for_update()
            ))
            .opt_text(tenant)
            .opt_int(job_id),
        )
        .await?;
    if chosen.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = chosen.into_iter().map(|(id,)| id).collect();
    // A user has at most one pending job: the newest chosen failed job of each user
    // without one becomes pending, with a fresh set of attempts; the user's other chosen
    // failed jobs are redundant (folded into it, or into the pending job the user
    // already has) and removed.
    let promoted = tx
        .execute(
            Stmt::new(format!(
                "UPDATE jobs SET state = 'pending', run_at = $2, attempts = 0, lease_until = NULL
                 WHERE id IN (
                     SELECT MAX(f.id) FROM jobs f
                     WHERE f.id IN (SELECT list.id FROM {})
                       AND NOT EXISTS (SELECT 1 FROM jobs p
                                       WHERE p.tenant = f.tenant AND p.user_id = f.user_id
                                         AND p.state = 'pending')
                     GROUP BY f.tenant, f.user_id
                 )",
                B::DIALECT.ints(1)
            ))
            .ints(&ids)
            .text(&timestamp(&Utc::now())),
        )
        .await?;
    tx.execute(
        Stmt::new(format!(
            "DELETE FROM jobs WHERE id IN (SELECT list.id FROM {}) AND state = 'failed'",
            B::DIALECT.ints(1)
        ))
        .ints(&ids),
    )
    .await?;
    tx.commit().await?;
    Ok(promoted)
}

#[async_trait]
impl<B: Backend> JobStore for B {
    async fn enqueue_user_syncs(
        &self,
        tenant: &str,
        user_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut conn = self.acquire().await?;
        enqueue::<B>(&mut conn, tenant, user_ids).await
    }

    async fn claim_jobs(&self, lease: Lease<'_>, limit: u32) -> Result<Vec<Job>, StoreError> {
        queue::claim::<B, StoredJob, _, _>(self, &JOBS, Some(lease.owner), limit, lease.term).await
    }

    async fn renew_job_leases(&self, lease: Lease<'_>) -> Result<u64, StoreError> {
        queue::renew_leases(self, &JOBS, lease).await
    }

    async fn release_job_claims(&self, owner: &str) -> Result<u64, StoreError> {
        queue::release_claims(self, &JOBS, owner).await
    }

    async fn complete_job(&self, job: &Job) -> Result<(), StoreError> {
        let stmt = Stmt::new(COMPLETE)
            .int(job.id)
            .text(&job.tenant)
            .text(&job.user_id);
        execute(self, stmt).await?;
        Ok(())
    }

    async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        let retry = Stmt::new(RETRY)
            .int(job.id)
            .text(&timestamp(&run_at))
            .text(error)
            .text(&job.tenant)
            .text(&job.user_id);
        let requeued = match conn.execute(retry).await {
            Ok(done) => done > 0,
            Err(e) if violated(&e) == Some(UniqueIndex::OnePendingJob) => false,
            Err(e) => return Err(e.into()),
        };
        if !requeued {
            conn.execute(Stmt::new(DELETE).int(job.id)).await?;
        }
        Ok(())
    }

    async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError> {
        execute(self, Stmt::new(FAIL).int(job.id).text(error)).await?;
        Ok(())
    }

    async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = fetch_all(self, Stmt::new(COUNT)).await?;
        // A state this build does not know is skipped.
        Ok(rows
            .into_iter()
            .filter_map(|(tenant, state, n)| {
                Some((
                    tenant,
                    JobState::parse(&state)?,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .collect())
    }

    async fn list_jobs(&self, filter: QueueFilter<'_, JobState>) -> Result<Vec<Job>, StoreError> {
        let filter = filter.map_state(JobState::as_str);
        queue::list::<B, StoredJob>(self, &JOBS, filter).await
    }

    async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError> {
        // A replica enqueueing a pending job for the same user between our check and our
        // update shows up as a unique violation on jobs_one_pending; the next round sees
        // that pending job and folds into it.
        let mut round = 0;
        loop {
            round += 1;
            match requeue_failed_once(self, tenant, job_id).await {
                Err(e) if violated(&e) == Some(UniqueIndex::OnePendingJob) && round < 5 => continue,
                other => return Ok(other?),
            }
        }
    }
}
