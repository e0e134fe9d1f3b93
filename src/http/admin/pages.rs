//! The console's pages (GET): thin handlers over the admin layer.
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::views::{
    AuditFilters, AuditPage, AuditRow, Chrome, ConfigPage, DriftPage, DriftReport, JobsPage,
    NotificationRow, NotificationsPage, OverviewPage, UserPage, UsersPage,
};
use super::{page, ConsoleError, ConsoleState, Signed};
use crate::admin::AdminError;
use crate::store::{AuditQuery, JobState};

const USERS_PER_PAGE: u64 = 50;
const AUDIT_PER_PAGE: u32 = 50;
/// Failed jobs and deprovisions one jobs page lists.
const LISTED: u32 = 500;

type Result = std::result::Result<Response, ConsoleError>;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    #[serde(default)]
    notice: Option<String>,
}

pub async fn overview(State(c): State<ConsoleState>, s: Signed, Query(n): Query<Notice>) -> Result {
    let tenants = c.service.overview(&s.admin).await?;
    Ok(page(&OverviewPage {
        chrome: Chrome::of(&s.admin, &s.csrf, n.notice),
        tenants,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(default)]
    start: Option<u64>,
}

fn tenant_names(c: &ConsoleState, s: &Signed) -> Vec<String> {
    c.service
        .visible_tenants(&s.admin)
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

pub async fn users(
    State(c): State<ConsoleState>,
    s: Signed,
    Query(q): Query<UsersQuery>,
) -> Result {
    let tenants = tenant_names(&c, &s);
    let tenant = match q
        .tenant
        .filter(|t| !t.is_empty())
        .or_else(|| tenants.first().cloned())
    {
        Some(t) => t,
        None => {
            return Err(AdminError::NotFound("no tenant is visible to this account".into()).into())
        }
    };
    let start = q.start.unwrap_or(1).max(1);
    let (total, users) = c
        .service
        .search_users(&s.admin, &tenant, &q.q, start, USERS_PER_PAGE)
        .await?;
    let end = start + users.len() as u64 - u64::from(!users.is_empty());
    Ok(page(&UsersPage {
        chrome: Chrome::of(&s.admin, &s.csrf, None),
        tenants,
        q_url: super::views::urlencode(&q.q),
        q: q.q,
        total,
        start,
        end,
        prev: (start > 1).then(|| start.saturating_sub(USERS_PER_PAGE).max(1)),
        next: (end < total).then_some(end + 1),
        users,
        tenant,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    #[serde(default)]
    live: Option<String>,
}

pub async fn user(
    State(c): State<ConsoleState>,
    s: Signed,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<UserQuery>,
) -> Result {
    let live = q.live.is_some_and(|v| v == "1");
    let detail = c.service.user_detail(&s.admin, &tenant, &id, live).await?;
    Ok(page(&UserPage::new(
        Chrome::of(&s.admin, &s.csrf, None),
        detail,
    )))
}

#[derive(Debug, Default, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub async fn jobs(
    State(c): State<ConsoleState>,
    s: Signed,
    Query(q): Query<TenantQuery>,
) -> Result {
    let tenant = q.tenant.filter(|t| !t.is_empty());
    let scope = tenant.as_deref();
    let failed = c
        .service
        .list_jobs(&s.admin, scope, Some(JobState::Failed), LISTED)
        .await?;
    let mut pending = 0;
    for state in [JobState::Pending, JobState::Running] {
        pending += c
            .service
            .list_jobs(&s.admin, scope, Some(state), LISTED)
            .await?
            .len();
    }
    let deprovisions = c
        .service
        .list_deprovisions(&s.admin, scope, None, LISTED)
        .await?;
    Ok(page(&JobsPage {
        chrome: Chrome::of(&s.admin, &s.csrf, q.notice),
        tenant,
        failed,
        pending,
        deprovisions,
    }))
}

pub async fn drift(
    State(c): State<ConsoleState>,
    s: Signed,
    Query(q): Query<TenantQuery>,
) -> Result {
    let mut reports = Vec::new();
    for tenant in c.service.visible_tenants(&s.admin) {
        if q.tenant
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t != tenant.name)
        {
            continue;
        }
        let last = c.service.last_reconcile(&s.admin, &tenant.name).await?;
        let running = c.service.reconcile_running(&tenant.name);
        reports.push(DriftReport::new(tenant.name.clone(), running, last));
    }
    Ok(page(&DriftPage {
        chrome: Chrome::of(&s.admin, &s.csrf, q.notice),
        reports,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    #[serde(flatten)]
    filters: AuditFilters,
    #[serde(default)]
    page: Option<u64>,
}

pub async fn audit(
    State(c): State<ConsoleState>,
    s: Signed,
    Query(p): Query<AuditParams>,
) -> Result {
    let page_no = p.page.unwrap_or(1).max(1);
    let f = p.filters;
    let some = |v: &String| (!v.is_empty()).then(|| v.clone());
    let query = AuditQuery {
        actor: some(&f.actor),
        action: some(&f.action),
        resource_id: some(&f.resource_id),
        outcome: some(&f.outcome),
        offset: (page_no - 1) * u64::from(AUDIT_PER_PAGE),
        limit: AUDIT_PER_PAGE,
        ..AuditQuery::default()
    };
    let tenant = some(&f.tenant);
    let found = c.service.audit(&s.admin, tenant.as_deref(), query).await?;
    Ok(page(&AuditPage {
        chrome: Chrome::of(&s.admin, &s.csrf, None),
        tenants: tenant_names(&c, &s),
        query: f.query(),
        total: found.total,
        page: page_no,
        more: page_no * u64::from(AUDIT_PER_PAGE) < found.total,
        entries: found.items.iter().map(AuditRow::of).collect(),
        f,
    }))
}

pub async fn config(State(c): State<ConsoleState>, s: Signed) -> Result {
    let text = c.service.configuration(&s.admin)?.to_string();
    Ok(page(&ConfigPage {
        chrome: Chrome::of(&s.admin, &s.csrf, None),
        text,
    }))
}

pub async fn notifications(State(c): State<ConsoleState>, s: Signed) -> Result {
    let items = c.service.notifications(&s.admin, 200).await?;
    Ok(page(&NotificationsPage {
        chrome: Chrome::of(&s.admin, &s.csrf, None),
        sinks: c.sink_names.clone(),
        items: items.iter().map(NotificationRow::of).collect(),
    }))
}

pub async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../templates/admin/admin.css"),
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../templates/admin/admin.js"),
    )
}
