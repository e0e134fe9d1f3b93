//! What the admin console and the notifications need of a store beyond provisioning:
//! the audit log filtered and paged, rejecting held deprovisions, and the notification
//! outbox. A capability of its own, so the provisioning traits stay as they are.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{AuditEntry, Deprovision, ListPage, StoreError};

/// Which audit entries to read, newest first. Empty text filters match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries of these tenants only; empty = every tenant (an unscoped admin).
    pub tenants: Vec<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub offset: u64,
    pub limit: u32,
}

/// The WHERE clause of an [`AuditQuery`] with `$n` placeholders and their values in
/// order.
pub(crate) fn audit_where(query: &AuditQuery) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mark = |binds: &mut Vec<String>, value: String| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if !query.tenants.is_empty() {
        let marks: Vec<String> = query
            .tenants
            .iter()
            .map(|t| mark(&mut binds, t.clone()))
            .collect();
        clauses.push(format!("tenant IN ({})", marks.join(", ")));
    }
    let exact = [
        ("actor", &query.actor),
        ("action", &query.action),
        ("resource_id", &query.resource_id),
        ("outcome", &query.outcome),
    ];
    for (column, value) in exact {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            let at = mark(&mut binds, value.to_string());
            clauses.push(format!("{column} = {at}"));
        }
    }
    if let Some(since) = &query.since {
        let at = mark(&mut binds, super::timestamp(since));
        clauses.push(format!("at >= {at}"));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

/// An event for one notification sink.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub sink: String,
    pub event: String,
    pub tenant: String,
    /// Events with the same key for the same sink within the window are one message.
    pub dedup_key: String,
    pub payload: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    Pending,
    Running,
    Delivered,
    Failed,
}

impl NotificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Running => "running",
            NotificationState::Delivered => "delivered",
            NotificationState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        [
            NotificationState::Pending,
            NotificationState::Running,
            NotificationState::Delivered,
            NotificationState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| StoreError::Database(format!("unknown notification state {text:?}")))
    }
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub request: NewNotification,
    pub state: NotificationState,
    pub attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
    pub delivered: Option<DateTime<Utc>>,
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, sink, event, tenant, dedup_key, payload, \
     state, attempts, run_at, last_error, created_at, delivered_at";

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: i64,
    sink: String,
    event: String,
    tenant: String,
    dedup_key: String,
    payload: String,
    state: String,
    attempts: i32,
    run_at: String,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

impl super::sql::rows::Stored for NotificationRow {
    type Record = Notification;

    fn record(self) -> Result<Notification, StoreError> {
        let row = self;
        Ok(Notification {
            id: row.id,
            request: NewNotification {
                sink: row.sink,
                event: row.event,
                tenant: row.tenant,
                dedup_key: row.dedup_key,
                payload: serde_json::from_str(&row.payload)
                    .map_err(|e| StoreError::Database(format!("bad notification payload: {e}")))?,
            },
            state: NotificationState::parse(&row.state)?,
            attempts: row.attempts.max(0) as u32,
            run_at: super::parse_timestamp(&row.run_at)?,
            last_error: row.last_error,
            created: super::parse_timestamp(&row.created_at)?,
            delivered: row
                .delivered_at
                .as_deref()
                .map(super::parse_timestamp)
                .transpose()?,
        })
    }
}

/// The admin console's and the notifier's store capability.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Audit entries matching `query`, newest first, with the total that match.
    async fn search_audit(&self, query: &AuditQuery) -> Result<ListPage<AuditEntry>, StoreError>;

    /// Removes held deprovisions of the tenant (all, or the one with `id`): the upstream
    /// user is left as it is. Returns the ones removed.
    async fn reject_deprovisions(
        &self,
        tenant: &str,
        id: Option<i64>,
    ) -> Result<Vec<Deprovision>, StoreError>;

    /// Queues `notification` unless one with the same sink and key was queued within
    /// `dedup_window`; returns whether it was queued.
    async fn enqueue_notification(
        &self,
        notification: &NewNotification,
        dedup_window: Duration,
    ) -> Result<bool, StoreError>;

    /// Claims due pending notifications (and running ones whose lease expired).
    async fn claim_notifications(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Notification>, StoreError>;

    /// `Ok` = delivered; `Err((error, Some(at)))` = pending again at `at`;
    /// `Err((error, None))` = failed for good.
    async fn finish_notification(
        &self,
        id: i64,
        outcome: Result<(), (String, Option<DateTime<Utc>>)>,
    ) -> Result<(), StoreError>;

    /// Newest first.
    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;
}

/// The state, error, due time and delivery time a delivery outcome leaves.
pub(crate) fn notification_outcome(
    outcome: &Result<(), (String, Option<DateTime<Utc>>)>,
) -> (
    NotificationState,
    Option<String>,
    DateTime<Utc>,
    Option<String>,
) {
    let now = Utc::now();
    match outcome {
        Ok(()) => (
            NotificationState::Delivered,
            None,
            now,
            Some(super::timestamp(&now)),
        ),
        Err((error, Some(at))) => (NotificationState::Pending, Some(error.clone()), *at, None),
        Err((error, None)) => (NotificationState::Failed, Some(error.clone()), now, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_filters_become_placeholders_in_order() {
        let query = AuditQuery {
            tenants: vec!["a".into(), "b".into()],
            action: Some("retry".into()),
            outcome: Some(String::new()),
            ..AuditQuery::default()
        };
        let (sql, binds) = audit_where(&query);
        assert_eq!(sql, "WHERE tenant IN ($1, $2) AND action = $3");
        assert_eq!(binds, vec!["a", "b", "retry"]);
        assert_eq!(audit_where(&AuditQuery::default()).0, "");
    }
}
