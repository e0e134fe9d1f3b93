//! The admin console's and the notifier's queries, in PostgreSQL. A notification's
//! de-duplication check and insert hold an advisory lock on its key, so replicas
//! queueing the same event at once queue it once.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PostgresStore;
use crate::store::admin::{
    audit_where, finish_notification_in, list_notifications_in, notifications_from_rows, numbered,
    search_audit_in, AdminStore, AuditQuery, NewNotification, Notification, NotificationRow,
    NOTIFICATION_COLUMNS,
};
use crate::store::deprovision::{from_rows, Row, COLUMNS};
use crate::store::{timestamp, AuditEntry, Deprovision, ListPage, StoreError};

#[async_trait]
impl AdminStore for PostgresStore {
    async fn search_audit(&self, query: &AuditQuery) -> Result<ListPage<AuditEntry>, StoreError> {
        let (clause, binds) = audit_where(query);
        let clause = numbered(&clause);
        search_audit_in(&self.pool, &clause, &binds, query).await
    }

    async fn reject_deprovisions(
        &self,
        tenant: &str,
        id: Option<i64>,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "DELETE FROM deprovisions
             WHERE tenant = $1 AND state = 'held' AND ($2::BIGINT IS NULL OR id = $2)
             RETURNING {COLUMNS}"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        from_rows(rows)
    }

    async fn enqueue_notification(
        &self,
        n: &NewNotification,
        dedup_window: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let since = now - chrono::Duration::from_std(dedup_window).unwrap_or_default();
        let now = timestamp(&now);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("scim-bridge notify {} {}", n.sink, n.dedup_key))
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "INSERT INTO notify_outbox (sink, event, tenant, dedup_key, payload, state, attempts,
                 run_at, created_at)
             SELECT $1, $2, $3, $4, $5, 'pending', 0, $6, $6
             WHERE NOT EXISTS (SELECT 1 FROM notify_outbox
                               WHERE sink = $1 AND dedup_key = $4 AND created_at >= $7)",
        )
        .bind(&n.sink)
        .bind(&n.event)
        .bind(&n.tenant)
        .bind(&n.dedup_key)
        .bind(n.payload.to_string())
        .bind(&now)
        .bind(timestamp(&since))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_notifications(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Notification>, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
            "UPDATE notify_outbox SET state = 'running', attempts = attempts + 1, lease_until = $1
             WHERE id IN (SELECT id FROM notify_outbox
                          WHERE (state = 'pending' AND run_at <= $2) OR (state = 'running' AND lease_until < $2)
                          ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(timestamp(&until))
        .bind(timestamp(&now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        notifications_from_rows(rows)
    }

    async fn finish_notification(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError> {
        finish_notification_in(&self.pool, numbered, id, &outcome).await
    }

    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        list_notifications_in(&self.pool, numbered, limit).await
    }
}
