//! Deprovisions under the mass-deprovision guard. An admission counts the tenant's window
//! and inserts in one transaction that admissions of the same tenant cannot interleave
//! with (the backend's guard lock on PostgreSQL, so replicas admitting at once see each
//! other's rows and share one limit; SQLite's single writer otherwise). Approved ones are
//! claimed as jobs are.
use async_trait::async_trait;
use chrono::Utc;

use super::queue::{self, DEPROVISIONS};
use super::rows::StoredDeprovision;
use super::{execute, Backend, Conn, Stmt};
use crate::store::deprovision::{must_hold, FINISHED};
use crate::store::queue::Outcome;
use crate::store::{
    timestamp, Admission, Deprovision, DeprovisionState, DeprovisionStore, GuardLimit, Lease,
    NewDeprovision, QueueFilter, StoreError,
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
        filter: QueueFilter<'_, DeprovisionState>,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let filter = filter.map_state(DeprovisionState::as_str);
        queue::list::<B, StoredDeprovision>(self, &DEPROVISIONS, filter).await
    }

    async fn claim_deprovisions(
        &self,
        lease: Lease<'_>,
        limit: u32,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let owner = Some(lease.owner);
        queue::claim::<B, StoredDeprovision, _, _>(self, &DEPROVISIONS, owner, limit, lease.term)
            .await
    }

    async fn renew_deprovision_leases(&self, lease: Lease<'_>) -> Result<u64, StoreError> {
        queue::renew_leases(self, &DEPROVISIONS, lease).await
    }

    async fn release_deprovision_claims(&self, owner: &str) -> Result<u64, StoreError> {
        queue::release_claims(self, &DEPROVISIONS, owner).await
    }

    async fn finish_deprovision(&self, id: i64, outcome: Outcome) -> Result<(), StoreError> {
        let state = FINISHED.state(&outcome).as_str();
        queue::finish(self, &DEPROVISIONS, id, state, &outcome).await
    }
}
