//! The admin console's and the notifier's statements: the audit log filtered and paged,
//! rejecting held deprovisions, and the notification outbox (claimed as jobs are; a
//! notification's de-duplication check and insert hold the backend's guard lock on
//! PostgreSQL, so replicas queueing one event at once queue it once).
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::queue::{self, OUTBOX};
use super::rows::{
    records, StoredAudit, StoredDeprovision, StoredNotification, AUDIT_COLUMNS,
    DEPROVISION_COLUMNS, NOTIFICATION_COLUMNS,
};
use super::{fetch_all, Backend, Conn, Stmt};
use crate::store::admin::{
    audit_where, AdminStore, AuditQuery, NewNotification, Notification, FINISHED,
};
use crate::store::queue::Outcome;
use crate::store::{timestamp, AuditEntry, Deprovision, ListPage, StoreError};

const ENQUEUE: &str = "INSERT INTO notify_outbox (sink, event, tenant, dedup_key, payload, state,
        attempts, run_at, created_at)
     SELECT $1, $2, $3, $4, $5, 'pending', 0, $6, $6
     WHERE NOT EXISTS (SELECT 1 FROM notify_outbox
                       WHERE sink = $1 AND dedup_key = $4 AND created_at >= $7)";

#[async_trait]
impl<B: Backend> AdminStore for B {
    async fn search_audit(&self, query: &AuditQuery) -> Result<ListPage<AuditEntry>, StoreError> {
        let (clause, binds) = audit_where(query);
        let bound = |sql: String| binds.iter().fold(Stmt::new(sql), |s, v| s.text(v));
        let total = self
            .acquire()
            .await?
            .count(bound(format!("SELECT COUNT(*) FROM audit {clause}")))
            .await?;
        let page = bound(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit {clause} ORDER BY seq DESC LIMIT {} OFFSET {}",
            query.limit, query.offset
        ));
        let rows: Vec<StoredAudit> = fetch_all(self, page).await?;
        Ok(ListPage {
            total,
            items: records(rows)?,
        })
    }

    async fn reject_deprovisions(
        &self,
        tenant: &str,
        id: Option<i64>,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let stmt = Stmt::new(format!(
            "DELETE FROM deprovisions WHERE tenant = $1 AND state = 'held' AND ($2 IS NULL OR id = $2)
             RETURNING {DEPROVISION_COLUMNS}"
        ))
        .text(tenant)
        .opt_int(id);
        let rows: Vec<StoredDeprovision> = fetch_all(self, stmt).await?;
        records(rows)
    }

    async fn enqueue_notification(
        &self,
        n: &NewNotification,
        dedup_window: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let since = now - chrono::Duration::from_std(dedup_window).unwrap_or_default();
        let mut tx = self.begin().await?;
        if let Some(lock) = B::DIALECT.guard_lock {
            let key = format!("scim-bridge notify {} {}", n.sink, n.dedup_key);
            tx.execute(Stmt::new(lock).text(&key)).await?;
        }
        let insert = Stmt::new(ENQUEUE)
            .text(&n.sink)
            .text(&n.event)
            .text(&n.tenant)
            .text(&n.dedup_key)
            .text(&n.payload.to_string())
            .text(&timestamp(&now))
            .text(&timestamp(&since));
        let queued = tx.execute(insert).await?;
        tx.commit().await?;
        Ok(queued == 1)
    }

    async fn claim_notifications(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Notification>, StoreError> {
        queue::claim::<B, StoredNotification, _, _>(self, &OUTBOX, None, limit, lease).await
    }

    async fn finish_notification(&self, id: i64, outcome: Outcome) -> Result<(), StoreError> {
        let state = FINISHED.state(&outcome).as_str();
        queue::finish(self, &OUTBOX, id, state, &outcome).await
    }

    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let stmt = Stmt::new(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notify_outbox ORDER BY id DESC LIMIT $1"
        ))
        .int(i64::from(limit));
        let rows: Vec<StoredNotification> = fetch_all(self, stmt).await?;
        records(rows)
    }
}
