//! The admin console's and the notifier's queries, in SQLite.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::admin::{
    audit_where, finish_notification_in, list_notifications_in, notifications_from_rows,
    search_audit_in, AdminStore, AuditQuery, NewNotification, Notification, NotificationRow,
    NOTIFICATION_COLUMNS,
};
use crate::store::deprovision::{from_rows, Row, COLUMNS};
use crate::store::{timestamp, AuditEntry, Deprovision, ListPage, StoreError};

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5))
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn search_audit(&self, query: &AuditQuery) -> Result<ListPage<AuditEntry>, StoreError> {
        let (clause, binds) = audit_where(query);
        search_audit_in(&self.pool, &clause, &binds, query).await
    }

    async fn reject_deprovisions(
        &self,
        tenant: &str,
        id: Option<i64>,
    ) -> Result<Vec<Deprovision>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "DELETE FROM deprovisions WHERE tenant = ? AND state = 'held' AND (? IS NULL OR id = ?)
             RETURNING {COLUMNS}"
        ))
        .bind(tenant)
        .bind(id)
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
        // One statement: SQLite's write lock makes the check and the insert atomic.
        let done = sqlx::query(
            "INSERT INTO notify_outbox (sink, event, tenant, dedup_key, payload, state, attempts,
                 run_at, created_at)
             SELECT ?, ?, ?, ?, ?, 'pending', 0, ?, ?
             WHERE NOT EXISTS (SELECT 1 FROM notify_outbox
                               WHERE sink = ? AND dedup_key = ? AND created_at >= ?)",
        )
        .bind(&n.sink)
        .bind(&n.event)
        .bind(&n.tenant)
        .bind(&n.dedup_key)
        .bind(n.payload.to_string())
        .bind(&now)
        .bind(&now)
        .bind(&n.sink)
        .bind(&n.dedup_key)
        .bind(timestamp(&since))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_notifications(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Notification>, StoreError> {
        let now = Utc::now();
        let until = timestamp(&lease_end(now, lease));
        let now = timestamp(&now);
        let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
            "UPDATE notify_outbox SET state = 'running', attempts = attempts + 1, lease_until = ?
             WHERE id IN (SELECT id FROM notify_outbox
                          WHERE (state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until < ?)
                          ORDER BY run_at, id LIMIT ?)
             RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(until)
        .bind(&now)
        .bind(&now)
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
        finish_notification_in(&self.pool, str::to_string, id, &outcome).await
    }

    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        list_notifications_in(&self.pool, str::to_string, limit).await
    }
}
