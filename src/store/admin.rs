//! What the admin console and the notifications need of a store beyond provisioning:
//! the audit log filtered and paged, rejecting held deprovisions, and the notification
//! outbox. A capability of its own, so the provisioning traits stay as they are.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::queue::{Finished, Outcome, Queued};
use super::sql::rows::TextColumn;
use super::{AuditEntry, Deprovision, ListPage, StoreError};

/// Which audit entries to read, newest first. Empty text filters match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries of these tenants only; `None` = every tenant.
    pub tenants: Option<Vec<String>>,
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
    if let Some(tenants) = &query.tenants {
        let marks: Vec<String> = tenants
            .iter()
            .map(|t| mark(&mut binds, t.clone()))
            .collect();
        clauses.push(match marks.is_empty() {
            // Not `IN ()`, which PostgreSQL refuses.
            true => "false".to_string(),
            false => format!("tenant IN ({})", marks.join(", ")),
        });
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
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NewNotification {
    pub sink: String,
    pub event: String,
    pub tenant: String,
    /// Events with the same key for the same sink within the window are one message.
    pub dedup_key: String,
    #[sqlx(try_from = "TextColumn")]
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

    pub fn parse(text: &str) -> Option<Self> {
        [
            NotificationState::Pending,
            NotificationState::Running,
            NotificationState::Delivered,
            NotificationState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A queued notification.
pub type Notification = Queued<NewNotification, NotificationState>;

impl Notification {
    /// When it was delivered: a delivery is its last run.
    pub fn delivered(&self) -> Option<DateTime<Utc>> {
        (self.state == NotificationState::Delivered).then_some(self.retry.run_at)
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

    /// `Ok` = delivered (see [`Outcome`]).
    async fn finish_notification(&self, id: i64, outcome: Outcome) -> Result<(), StoreError>;

    /// Newest first.
    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;
}

/// The states a delivery attempt leaves a notification in.
pub(crate) const FINISHED: Finished<NotificationState> = Finished {
    done: NotificationState::Delivered,
    retry: NotificationState::Pending,
    failed: NotificationState::Failed,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_filters_become_placeholders_in_order() {
        let query = AuditQuery {
            tenants: Some(vec!["a".into(), "b".into()]),
            action: Some("retry".into()),
            outcome: Some(String::new()),
            ..AuditQuery::default()
        };
        let (sql, binds) = audit_where(&query);
        assert_eq!(sql, "WHERE tenant IN ($1, $2) AND action = $3");
        assert_eq!(binds, vec!["a", "b", "retry"]);
        assert_eq!(audit_where(&AuditQuery::default()).0, "");
    }

    #[test]
    fn no_tenant_at_all_matches_nothing() {
        let query = AuditQuery {
            tenants: Some(vec![]),
            ..AuditQuery::default()
        };
        assert_eq!(audit_where(&query), ("WHERE false".to_string(), vec![]));
    }
}
