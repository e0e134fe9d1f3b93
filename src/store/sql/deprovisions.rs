//! Deprovisions under the mass-deprovision guard. An admission counts the tenant's window
//! and inserts in one transaction that admissions of the same tenant cannot interleave
//! with (the backend's guard lock on PostgreSQL, so replicas admitting at once see each
//! other's rows and share one limit; SQLite's single writer otherwise). Approved ones are
//! claimed as jobs are.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::jobs::{claim, lease_own_claims, list_queue, release_claims};
use super::rows::{StoredDeprovision, DEPROVISION_COLUMNS};
use super::{execute, lease_end, Backend, Conn, Stmt};
use crate::store::deprovision::{must_hold, outcome_columns};
use crate::store::{
    timestamp, Admission, Deprovision, DeprovisionState, DeprovisionStore, GuardLimit,
    NewDeprovision, StoreError,
};

const FORGET_OLD: &str =
    "DELETE FROM deprovisions WHERE tenant = $1 AND state = 'done' AND created_at < $2";
const COUNT_RECENT: &str =
    "SELECT COUNT(*) FROM deprovisions WHERE tenant = $1 AND created_at >= $2";
const COUNT_HELD: &str = "SELECT COUNT(*) FROM deprovisions WHERE tenant = $1 AND state = 'held'";
const INSERT: &str = "INSERT INTO deprovisions (tenant, user_id, upstream_id, upstream_username,
        action, resource, state, attempts, run_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) RETURNING id";
const APPROVE: &str = "UPDATE deprovisions
     SET state = 'pending', run_at = $1, attempts = 0, lease_until = NULL
     WHERE tenant = $2 AND state IN ('held', 'failed') AND ($3 IS NULL OR id = $3)";
const FINISH: &str = "UPDATE deprovisions
     SET state = $1, last_error = $2, run_at = $3, lease_until = NULL WHERE id = $4";

#[async_trait]
impl<B: Backend> DeprovisionStore for B {
    async fn admit_deprovision(
        &self,
        request: &NewDeprovision,
        limit: &GuardLimit,
    ) -> Result<Admission, StoreError> {
        let now = Utc::now();
        let start = timestamp(&limit.window_start(now));
        let tenant = request.tenant.as_str();
        let mut tx = self.begin().await?;
        if let Some(lock) = B::DIALECT.guard_lock {
            let key = format!("scim-bridge deprovision guard {tenant}");
            tx.execute(Stmt::new(lock).text(&key)).await?;
        }
        tx.execute(Stmt::new(FORGET_OLD).text(tenant).text(&start))
            .await?;
        let recent = tx
            .count(Stmt::new(COUNT_RECENT).text(tenant).text(&start))
            .await?;
        let held = tx.count(Stmt::new(COUNT_HELD).text(tenant)).await?;
        let hold = must_hold(recent, held, limit);
        let state = if hold {
            DeprovisionState::Held
        } else {
            DeprovisionState::Done
        };
        let insert = Stmt::new(INSERT)
            .text(tenant)
            .text(&request.user_id)
            .text(&request.upstream_id)
            .text(&request.upstream_username)
            .text(request.action.as_str())
            .text(&request.resource.to_string())
            .text(state.as_str())
            .text(&timestamp(&now));
        let (id,): (i64,) = tx.fetch_one(insert).await?;
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

    async fn approve_deprovisions(&self, tenant: &str, id: Option<i64>) -> Result<u64, StoreError> {
        let stmt = Stmt::new(APPROVE)
            .text(&timestamp(&Utc::now()))
            .text(tenant)
            .opt_int(id);
        execute(self, stmt).await
    }

    async fn list_deprovisions(
        &self,
        tenant: Option<&str>,
        state: Option<DeprovisionState>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let state = state.map(DeprovisionState::as_str);
        let table = ("deprovisions", DEPROVISION_COLUMNS);
        list_queue::<B, StoredDeprovision>(self, table, tenant, state, limit).await
    }

    async fn claim_deprovisions(
        &self,
        owner: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let due = |d: &Deprovision| (d.run_at, d.id);
        let table = ("deprovisions", DEPROVISION_COLUMNS);
        claim::<B, StoredDeprovision>(self, table.0, table.1, Some(owner), limit, lease, due).await
    }

    async fn renew_deprovision_leases(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        let until = lease_end(Utc::now(), lease);
        lease_own_claims(self, "deprovisions", owner, until).await
    }

    async fn release_deprovision_claims(&self, owner: &str) -> Result<u64, StoreError> {
        release_claims(self, "deprovisions", owner).await
    }

    async fn finish_deprovision(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError> {
        let (state, error, run_at) = outcome_columns(&outcome);
        let stmt = Stmt::new(FINISH)
            .text(state.as_str())
            .opt_text(error.as_deref())
            .text(&timestamp(&run_at))
            .int(id);
        execute(self, stmt).await?;
        Ok(())
    }
}
