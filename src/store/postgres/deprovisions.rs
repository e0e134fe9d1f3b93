//! Deprovisions under the mass-deprovision guard, in PostgreSQL. An admission holds a
//! transaction-scoped advisory lock on the tenant's guard while it counts and inserts,
//! so replicas admitting at once see each other's rows and share one limit; approved
//! ones are claimed with `FOR UPDATE SKIP LOCKED`, as jobs are.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::PostgresStore;
use crate::store::deprovision::{self, from_rows, must_hold, Row, COLUMNS};
use crate::store::{
    timestamp, Admission, Deprovision, DeprovisionState, GuardLimit, NewDeprovision, StoreError,
};

impl PostgresStore {
    pub(super) async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError> {
        let now = Utc::now();
        let start = timestamp(&limit.window_start(now));
        let tenant = &request.tenant;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("scim-bridge deprovision guard {tenant}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM deprovisions WHERE tenant = $1 AND state = 'done' AND created_at < $2",
        )
        .bind(tenant)
        .bind(&start)
        .execute(&mut *tx)
        .await?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deprovisions WHERE tenant = $1 AND created_at >= $2",
        )
        .bind(tenant)
        .bind(&start)
        .fetch_one(&mut *tx)
        .await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deprovisions WHERE tenant = $1 AND state = 'held'",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) RETURNING id",
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
            "UPDATE deprovisions SET state = 'pending', run_at = $1, attempts = 0, lease_until = NULL
             WHERE tenant = $2 AND state IN ('held', 'failed') AND ($3::BIGINT IS NULL OR id = $3)",
        )
        .bind(timestamp(&Utc::now()))
        .bind(tenant)
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
             WHERE ($1::TEXT IS NULL OR tenant = $1) AND ($2::TEXT IS NULL OR state = $2)
             ORDER BY id LIMIT $3"
        ))
        .bind(tenant)
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
        // A MATERIALIZED locking CTE runs once (see `claim_jobs` for why not `IN (...)`).
        let qualified = COLUMNS
            .split(", ")
            .map(|c| format!("deprovisions.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "WITH due AS MATERIALIZED (
                 SELECT id FROM deprovisions
                 WHERE (state = 'pending' AND run_at <= $1) OR (state = 'running' AND lease_until < $1)
                 ORDER BY run_at, id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE deprovisions SET state = 'running', attempts = deprovisions.attempts + 1, lease_until = $2
             FROM due WHERE deprovisions.id = due.id
             RETURNING {qualified}"
        ))
        .bind(&now)
        .bind(timestamp(&until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = from_rows(rows)?;
        claimed.sort_by(|a, b| a.run_at.cmp(&b.run_at).then(a.id.cmp(&b.id)));
        Ok(claimed)
    }

    pub(super) async fn finish_deprovision(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError> {
        let (state, error, run_at) = deprovision::outcome_columns(&outcome);
        sqlx::query(
            "UPDATE deprovisions SET state = $1, last_error = $2, run_at = $3, lease_until = NULL WHERE id = $4",
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
