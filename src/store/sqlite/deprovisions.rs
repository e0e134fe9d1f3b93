//! Deprovisions under the mass-deprovision guard, in SQLite. An admission's first
//! statement is a write, which takes SQLite's one write lock, so its count and insert
//! are atomic against every other connection.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::deprovision::{self, from_rows, must_hold, Row, COLUMNS};
use crate::store::{
    timestamp, Admission, Deprovision, DeprovisionState, GuardLimit, NewDeprovision, StoreError,
};

impl SqliteStore {
    pub(super) async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError> {
        let now = Utc::now();
        let start = timestamp(&limit.window_start(now));
        let tenant = &request.tenant;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM deprovisions WHERE tenant = ? AND state = 'done' AND created_at < ?",
        )
        .bind(tenant)
        .bind(&start)
        .execute(&mut *tx)
        .await?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deprovisions WHERE tenant = ? AND created_at >= ?",
        )
        .bind(tenant)
        .bind(&start)
        .fetch_one(&mut *tx)
        .await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deprovisions WHERE tenant = ? AND state = 'held'",
        )
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
        let (recent, held) = (recent.max(0) as u64, held.max(0) as u64);
        let hold = must_hold(recent, held, limit);
        let state = if hold {
            DeprovisionState::Held
        } else {
            DeprovisionState::Done
        };
        let now = timestamp(&now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deprovisions (tenant, user_id, upstream_id, upstream_username, action,
                 resource, state, attempts, run_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
        )
        .bind(tenant)
        .bind(&request.user_id)
        .bind(&request.upstream_id)
        .bind(&request.upstream_username)
        .bind(request.action.as_str())
        .bind(request.resource.to_string())
        .bind(state.as_str())
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if hold {
            Admission::Held {
                id,
                tripped: held == 0,
                recent: recent + 1,
            }
        } else {
            Admission::Now
        })
    }

    pub(super) async fn approve_deprovisions(
        &self,
        tenant: &str,
        id: Option<i64>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE deprovisions SET state = 'pending', run_at = ?, attempts = 0, lease_until = NULL
             WHERE tenant = ? AND state IN ('held', 'failed') AND (? IS NULL OR id = ?)",
        )
        .bind(timestamp(&Utc::now()))
        .bind(tenant)
        .bind(id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn list_deprovisions(
        &self,
        tenant: Option<&str>,
        state: Option<DeprovisionState>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let state = state.map(DeprovisionState::as_str);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM deprovisions
             WHERE (? IS NULL OR tenant = ?) AND (? IS NULL OR state = ?) ORDER BY id LIMIT ?"
        ))
        .bind(tenant)
        .bind(tenant)
        .bind(state)
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        from_rows(rows)
    }

    pub(super) async fn claim_deprovisions(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let now = timestamp(&now);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "UPDATE deprovisions SET state = 'running', attempts = attempts + 1, lease_until = ?
             WHERE id IN (SELECT id FROM deprovisions
                          WHERE (state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until < ?)
                          ORDER BY run_at, id LIMIT ?)
             RETURNING {COLUMNS}"
        ))
        .bind(timestamp(&until))
        .bind(&now)
        .bind(&now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        from_rows(rows)
    }

    pub(super) async fn finish_deprovision(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError> {
        let (state, error, run_at) = deprovision::outcome_columns(&outcome);
        sqlx::query(
            "UPDATE deprovisions SET state = ?, last_error = ?, run_at = ?, lease_until = NULL WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(timestamp(&run_at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
