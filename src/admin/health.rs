//! A tenant's health at a glance, for the console's overview.
use std::time::Duration;

use serde::Serialize;

use super::{Admin, AdminService, Result};
use crate::provision::Tenant;
use crate::scim::filter::parse_filter;
use crate::store::{AuditEntry, AuditQuery, DeprovisionState, JobState, ListQuery, QueueFilter};

/// Longest the overview waits for a tenant's upstream credential check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize)]
pub struct TenantHealth {
    pub tenant: String,
    pub users_active: u64,
    pub users_inactive: u64,
    pub groups: u64,
    pub jobs_pending: u64,
    pub jobs_failed: u64,
    pub deprovisions_held: u64,
    /// `closed`, `half-open` or `open`.
    pub breaker: &'static str,
    /// The newest audited failure, with when.
    pub last_error: Option<(String, String)>,
    /// `Ok` or why the upstream refused or could not be reached.
    pub upstream_check: std::result::Result<(), String>,
    pub last_reconcile: Option<ReconcileSummary>,
    pub requests_last_hour: u64,
    pub upstream_calls_last_hour: u64,
}

/// The newest reconcile of a tenant, as its audit entry records it.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileSummary {
    pub at: String,
    pub actor: String,
    pub outcome: String,
    pub findings_total: u64,
    pub users_with_drift: Vec<(String, u64)>,
    pub detail: serde_json::Value,
}

impl ReconcileSummary {
    pub fn of(entry: &AuditEntry) -> Self {
        let d = &entry.detail;
        let users_with_drift = d["users_with_drift"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            at: entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: entry.actor.clone(),
            outcome: entry.outcome.clone(),
            findings_total: d["findings_total"].as_u64().unwrap_or(0),
            users_with_drift,
            detail: d.clone(),
        }
    }
}

impl AdminService {
    /// Health of every tenant the admin sees.
    pub async fn overview(&self, admin: &Admin) -> Result<Vec<TenantHealth>> {
        let counts = self.provisioner.store.count_jobs().await?;
        let mut out = Vec::new();
        for tenant in self.visible_tenants(admin) {
            let jobs = |state: JobState| {
                counts
                    .iter()
                    .filter(|(t, s, _)| *t == tenant.name && *s == state)
                    .map(|(_, _, n)| *n)
                    .sum::<u64>()
            };
            let (jobs_pending, jobs_failed) = (jobs(JobState::Pending), jobs(JobState::Failed));
            out.push(self.health(&tenant, jobs_pending, jobs_failed).await?);
        }
        Ok(out)
    }

    async fn health(
        &self,
        tenant: &Tenant,
        jobs_pending: u64,
        jobs_failed: u64,
    ) -> Result<TenantHealth> {
        let store = &self.provisioner.store;
        let name = &tenant.name;
        let held = store
            .list_deprovisions(QueueFilter::of(name, u32::MAX).in_state(DeprovisionState::Held))
            .await?
            .len() as u64;
        let last_error = self
            .newest(
                name,
                AuditQuery {
                    outcome: Some("error".into()),
                    ..AuditQuery::default()
                },
            )
            .await?
            .map(|e| {
                let text = e.detail["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.detail.to_string());
                (e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(), text)
            });
        let upstream_check = match tokio::time::timeout(CHECK_TIMEOUT, tenant.target.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        let account = self.account_of(name);
        let activity = super::activity::activity();
        let (requests_last_hour, upstream_calls_last_hour) = activity.last_hour(name, &account);
        Ok(TenantHealth {
            tenant: name.clone(),
            users_active: self.count_users(name, Some("active eq true")).await?,
            users_inactive: self.count_users(name, Some("active eq false")).await?,
            groups: store
                .list_groups(name, &ListQuery::page(None, 1, 0))
                .await?
                .total,
            jobs_pending,
            jobs_failed,
            deprovisions_held: held,
            breaker: activity.breaker(&account),
            last_error,
            upstream_check,
            last_reconcile: self.last_reconcile_of(name).await?,
            requests_last_hour,
            upstream_calls_last_hour,
        })
    }

    pub(super) async fn count_users(&self, tenant: &str, filter: Option<&str>) -> Result<u64> {
        let filter = match filter {
            Some(text) => {
                Some(parse_filter(text).map_err(|e| super::AdminError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        let page = self
            .provisioner
            .store
            .list_users(tenant, &ListQuery::page(filter, 1, 0))
            .await?;
        Ok(page.total)
    }

    /// The newest audit entry of `tenant` matching `query`.
    pub(super) async fn newest(
        &self,
        tenant: &str,
        query: AuditQuery,
    ) -> Result<Option<AuditEntry>> {
        let query = AuditQuery {
            tenants: Some(vec![tenant.to_string()]),
            limit: 1,
            ..query
        };
        Ok(self
            .provisioner
            .store
            .search_audit(&query)
            .await?
            .items
            .pop())
    }

    pub(super) async fn last_reconcile_of(&self, tenant: &str) -> Result<Option<ReconcileSummary>> {
        let entry = self
            .newest(
                tenant,
                AuditQuery {
                    action: Some("reconcile".into()),
                    ..AuditQuery::default()
                },
            )
            .await?;
        Ok(entry.as_ref().map(ReconcileSummary::of))
    }
}
