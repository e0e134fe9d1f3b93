//! The console's templates (in `templates/admin/`) and what they show.
use askama::Template;

use crate::admin::{Admin, AdminRole, ReconcileSummary, TenantHealth, UserDetail, UserSummary};
use crate::store::{AuditEntry, Deprovision, Job, Notification};

/// What every page's frame shows: who is signed in, the CSRF token its forms carry,
/// and the notice an action left.
pub struct Chrome {
    pub name: String,
    pub role: &'static str,
    pub scope: String,
    pub operator: bool,
    pub csrf: String,
    pub notice: Option<String>,
}

impl Chrome {
    pub fn of(admin: &Admin, csrf: &str, notice: Option<String>) -> Self {
        Self {
            name: admin.name.clone(),
            role: admin.role.as_str(),
            scope: admin.tenants.join(", "),
            operator: admin.role == AdminRole::Operator,
            csrf: csrf.to_string(),
            notice: notice.filter(|n| !n.is_empty()),
        }
    }

    /// For error pages shown before or without a session.
    pub fn anonymous() -> Self {
        Self {
            name: String::new(),
            role: "",
            scope: String::new(),
            operator: false,
            csrf: String::new(),
            notice: None,
        }
    }
}

/// Renders a template; a template that fails to render is a bug, shown as such.
pub fn html<T: Template>(template: &T) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "admin console: template failed");
        "<!doctype html><title>error</title><p>The page could not be rendered.</p>".into()
    })
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "admin/login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub message: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub tenants: Vec<TenantHealth>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub tenants: Vec<String>,
    pub tenant: String,
    pub q: String,
    pub q_url: String,
    pub total: u64,
    pub start: u64,
    pub end: u64,
    pub users: Vec<UserSummary>,
    pub prev: Option<u64>,
    pub next: Option<u64>,
}

/// An audit entry as a table row.
pub struct AuditRow {
    pub at: String,
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub detail: String,
}

impl AuditRow {
    pub fn of(e: &AuditEntry) -> Self {
        Self {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            tenant: e.tenant.clone(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            resource: format!("{} {}", e.resource_type, e.resource_id),
            outcome: e.outcome.clone(),
            detail: e.detail.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    pub chrome: Chrome,
    pub d: UserDetail,
    pub scim: String,
    pub bridge: String,
    pub live: Option<String>,
    pub entries: Vec<AuditRow>,
}

impl UserPage {
    pub fn new(chrome: Chrome, d: UserDetail) -> Self {
        let live = d.live.as_ref().map(|read| match read {
            Ok(Some(user)) => serde_json::to_string_pretty(user).unwrap_or_default(),
            Ok(None) => "no upstream user".to_string(),
            Err(e) => format!("upstream read failed: {e}"),
        });
        Self {
            chrome,
            scim: pretty(&d.scim),
            bridge: pretty(&d.bridge),
            live,
            entries: d.audit.iter().map(AuditRow::of).collect(),
            d,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub tenants: Vec<String>,
    pub f: AuditFilters,
    /// The filters as a query string, for the pager.
    pub query: String,
    pub total: u64,
    pub page: u64,
    pub more: bool,
    pub entries: Vec<AuditRow>,
}

#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize)]
pub struct AuditFilters {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub resource_id: String,
    #[serde(default)]
    pub outcome: String,
}

impl AuditFilters {
    pub fn query(&self) -> String {
        [
            ("tenant", &self.tenant),
            ("actor", &self.actor),
            ("action", &self.action),
            ("resource_id", &self.resource_id),
            ("outcome", &self.outcome),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
pub struct JobsPage {
    pub chrome: Chrome,
    pub tenant: Option<String>,
    pub failed: Vec<Job>,
    pub pending: usize,
    pub deprovisions: Vec<Deprovision>,
}

/// A drift finding as a table row.
pub struct FindingRow {
    pub kind: String,
    pub username: String,
    pub scim_id: String,
    pub field: String,
    pub expected: String,
    pub actual: String,
}

pub struct DriftReport {
    pub tenant: String,
    pub running: bool,
    pub last: Option<ReconcileSummary>,
    pub findings: Vec<FindingRow>,
}

impl DriftReport {
    pub fn new(tenant: String, running: bool, last: Option<ReconcileSummary>) -> Self {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let findings = last
            .as_ref()
            .and_then(|s| s.detail["findings"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|f| FindingRow {
                kind: text(&f["kind"]),
                username: text(&f["username"]),
                scim_id: text(&f["scim_id"]),
                field: text(&f["field"]),
                expected: text(&f["expected"]),
                actual: text(&f["actual"]),
            })
            .collect();
        Self {
            tenant,
            running,
            last,
            findings,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/drift.html")]
pub struct DriftPage {
    pub chrome: Chrome,
    pub reports: Vec<DriftReport>,
}

#[derive(Template)]
#[template(path = "admin/config.html")]
pub struct ConfigPage {
    pub chrome: Chrome,
    pub text: String,
}

pub struct NotificationRow {
    pub id: i64,
    pub created: String,
    pub sink: String,
    pub event: String,
    pub tenant: String,
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: String,
    pub text: String,
}

impl NotificationRow {
    pub fn of(n: &Notification) -> Self {
        Self {
            id: n.id,
            created: n.created.format("%Y-%m-%d %H:%M:%S").to_string(),
            sink: n.request.sink.clone(),
            event: n.request.event.clone(),
            tenant: n.request.tenant.clone(),
            state: n.state.as_str(),
            attempts: n.retry.attempts,
            last_error: n.retry.last_error.clone().unwrap_or_default(),
            text: n.request.payload["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
pub struct NotificationsPage {
    pub chrome: Chrome,
    pub sinks: Vec<String>,
    pub items: Vec<NotificationRow>,
}
