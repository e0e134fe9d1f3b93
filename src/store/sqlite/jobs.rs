//! `sync_user` jobs in SQLite. SQLite has one writer at a time, so a claim (one UPDATE
//! ... RETURNING) is atomic without row locks.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::SqliteStore;
use crate::store::{parse_timestamp, timestamp, Job, JobState, StoreError};

const JOB_COLUMNS: &str = "id, tenant, user_id, state, attempts, run_at, last_error, created_at";
/// Rows per multi-row statement, well under SQLite's bound-variable limit.
pub(super) const CHUNK: usize = 300;

fn job_from_row(row: &SqliteRow) -> Result<Job, StoreError> {
    let state: String = row.try_get("state")?;
    let run_at: String = row.try_get("run_at")?;
    let created: String = row.try_get("created_at")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Job {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        user_id: row.try_get("user_id")?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Database(format!("unknown job state {state:?}")))?,
        attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
        run_at: parse_timestamp(&run_at)?,
        last_error: row.try_get("last_error")?,
        created: parse_timestamp(&created)?,
    })
}

/// Enqueues one pending job per user that has none (the partial unique index makes the
/// insert a no-op otherwise); part of the caller's transaction.
pub(super) async fn enqueue(
    conn: &mut SqliteConnection,
    tenant: &str,
    user_ids: &[String],
) -> Result<u64, StoreError> {
    let now = timestamp(&Utc::now());
    let mut added = 0;
    for chunk in user_ids.chunks(CHUNK) {
        let values = vec!["(?, ?, 'pending', 0, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO jobs (tenant, user_id, state, attempts, run_at, created_at) VALUES {values} ON CONFLICT DO NOTHING"
        );
        let mut query = sqlx::query(&sql);
        for user_id in chunk {
            query = query.bind(tenant).bind(user_id).bind(&now).bind(&now);
        }
        added += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(added)
}

impl SqliteStore {
    pub(super) async fn claim_jobs(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let now = Utc::now();
        let lease_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let now = timestamp(&now);
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?
             WHERE id IN (SELECT id FROM jobs
                          WHERE (state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until < ?)
                          ORDER BY run_at, id LIMIT ?)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(timestamp(&lease_until))
        .bind(&now)
        .bind(&now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub(super) async fn complete_job(&self, job: &Job) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM jobs WHERE id = ? OR (tenant = ? AND user_id = ? AND state = 'failed' AND id < ?)")
            .bind(job.id)
            .bind(&job.tenant)
            .bind(&job.user_id)
            .bind(job.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn retry_job(
        &self,
        job: &Job,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let other_pending = sqlx::query(
            "SELECT 1 FROM jobs WHERE tenant = ? AND user_id = ? AND state = 'pending' AND id <> ?",
        )
        .bind(&job.tenant)
        .bind(&job.user_id)
        .bind(job.id)
        .fetch_optional(&mut *tx)
        .await?;
        if other_pending.is_some() {
            sqlx::query("DELETE FROM jobs WHERE id = ?")
                .bind(job.id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE jobs SET state = 'pending', run_at = ?, last_error = ?, lease_until = NULL WHERE id = ?")
                .bind(timestamp(&run_at))
                .bind(error)
                .bind(job.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn fail_job(&self, job: &Job, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = ?, lease_until = NULL WHERE id = ?",
        )
        .bind(error)
        .bind(job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn count_jobs(&self) -> Result<Vec<(String, JobState, u64)>, StoreError> {
        let rows =
            sqlx::query("SELECT tenant, state, COUNT(*) AS n FROM jobs GROUP BY tenant, state")
                .fetch_all(&self.pool)
                .await?;
        Ok(counts_from_rows(&rows))
    }

    pub(super) async fn list_jobs(
        &self,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (? IS NULL OR tenant = ?) AND (? IS NULL OR state = ?)
             ORDER BY id LIMIT ?"
        ))
        .bind(tenant)
        .bind(tenant)
        .bind(state.map(JobState::as_str))
        .bind(state.map(JobState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub(super) async fn requeue_failed(
        &self,
        tenant: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<u64, StoreError> {
        let scope = "state = 'failed' AND (? IS NULL OR tenant = ?) AND (? IS NULL OR id = ?)";
        let mut tx = self.pool.begin().await?;
        // A user keeps at most one pending job: a failed job whose user already has a
        // pending one, or a newer failed one, is redundant.
        sqlx::query(&format!(
            "DELETE FROM jobs WHERE {scope} AND EXISTS (
                 SELECT 1 FROM jobs o WHERE o.tenant = jobs.tenant AND o.user_id = jobs.user_id
                 AND (o.state = 'pending' OR (o.state = 'failed' AND o.id > jobs.id)))"
        ))
        .bind(tenant)
        .bind(tenant)
        .bind(job_id)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(&format!(
            "UPDATE jobs SET state = 'pending', run_at = ?, attempts = 0, lease_until = NULL WHERE {scope}"
        ))
        .bind(timestamp(&Utc::now()))
        .bind(tenant)
        .bind(tenant)
        .bind(job_id)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// `(tenant, state, n)` rows; a state this build does not know is skipped.
fn counts_from_rows(rows: &[SqliteRow]) -> Vec<(String, JobState, u64)> {
    rows.iter()
        .filter_map(|r| {
            let state = JobState::parse(r.get::<String, _>("state").as_str())?;
            let n: i64 = r.get("n");
            Some((r.get("tenant"), state, n.max(0) as u64))
        })
        .collect()
}
