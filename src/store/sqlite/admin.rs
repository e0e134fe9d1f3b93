//! The admin console's and the notifier's queries, in SQLite.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::admin::{
    audit_where, notification_outcome, notifications_from_rows, AdminStore, AuditQuery, AuditRow,
    NewNotification, Notification, NotificationRow, AUDIT_COLUMNS, NOTIFICATION_COLUMNS,
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
        let count_sql = format!("SELECT COUNT(*) FROM audit {clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for value in &binds {
            count = count.bind(value);
        }
        let total = count.fetch_one(&self.pool).await?;
        let page_sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit {clause} ORDER BY seq DESC LIMIT {} OFFSET {}",
            query.limit, query.offset
        );
        let mut page = sqlx::query_as::<_, AuditRow>(&page_sql);
        for value in &binds {
            page = page.bind(value);
        }
        let items = page
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage {
            total: total.max(0) as u64,
            items,
        })
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
        let (state, error, run_at, delivered) = notification_outcome(&outcome);
        sqlx::query(
            "UPDATE notify_outbox SET state = ?, last_error = ?, run_at = ?, lease_until = NULL,
                 delivered_at = ? WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(timestamp(&run_at))
        .bind(delivered)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notify_outbox ORDER BY id DESC LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        notifications_from_rows(rows)
    }
}
