//! Reconcile: lists the upstream users (paged), compares them with the bridge's state
//! ([`super::drift`]), and optionally repairs.
//!
//! Repairs, decided here:
//! - attribute, access and status drift: one `sync_user` job per user (coalesced with
//!   any pending one). The worker writes what the IdP said under the user's lock, the
//!   same path group changes take, so a repair never races a SCIM write.
//! - a linked user gone upstream: an active one is re-created at once (as a SCIM write
//!   to it would do), keeping its SCIM id; an inactive one is only reported, as there is
//!   nothing to deactivate.
//! - orphans (upstream users the bridge does not manage) are only reported, or
//!   deactivated (never deleted) with `deactivate_orphans`.
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::drift::{self, DriftKind, Finding, Rules};
use super::reconcile_passes::StoredPass;
use super::{Provisioner, Result, Tenant};
use crate::store::AuditEntry;
use crate::upstream::{DesiredUser, UpstreamUser};

/// Pages of stored users read at a time.
pub(super) const STORED_PAGE: u64 = 500;
/// Findings kept in one audit entry; the counts are always complete.
const AUDITED_FINDINGS: usize = 500;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Enqueue the jobs (and re-creates) that restore what the IdP said.
    pub repair: bool,
    /// Deactivate upstream users the bridge does not manage.
    pub deactivate_orphans: bool,
}

/// What one run found and did. Serialised as the `--format json` output: keep the
/// field names stable.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tenant: String,
    pub started_at: DateTime<Utc>,
    pub upstream_users: usize,
    pub stored_users: usize,
    pub findings: Vec<Finding>,
    /// Distinct users per kind of finding.
    pub users_with_drift: std::collections::BTreeMap<&'static str, usize>,
    /// Stored users whose expected state could not be computed.
    pub errors: Vec<String>,
    pub repair: Repair,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Repair {
    /// SCIM ids a `sync_user` job was enqueued for.
    pub sync_enqueued: Vec<String>,
    /// SCIM ids re-created upstream.
    pub recreated: Vec<String>,
    /// Upstream ids of orphans deactivated.
    pub orphans_deactivated: Vec<String>,
    /// Repairs that failed, with why.
    pub failed: Vec<String>,
}

/// Where a run reports how far it got: a progress bar on a terminal, lines otherwise,
/// nothing inside `serve`.
pub trait Progress: Send + Sync {
    /// `count` upstream users listed so far.
    fn listed(&self, count: usize);
    /// `done` of `total` stored users compared.
    fn compared(&self, done: usize, total: usize);
    fn finished(&self) {}
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn listed(&self, _: usize) {}
    fn compared(&self, _: usize, _: usize) {}
}

impl Provisioner {
    /// Runs one reconcile of `tenant`. Upstream and store failures end the run with an
    /// error; a failed repair of one user is recorded in the report and the run goes on.
    ///
    /// Three passes, so that memory does not grow with the directory beyond one small
    /// entry per stored user (`reconcile_index`): the store, reduced to what each linked
    /// upstream user should look like; the upstream listing, each page compared as it
    /// arrives, keeping only the users that differ and the orphans; and, only when
    /// something differs or is missing, the store again for those users, compared in
    /// full for the report.
    pub async fn reconcile(
        &self,
        tenant: &Arc<Tenant>,
        options: Options,
        progress: &dyn Progress,
    ) -> Result<Report> {
        let started_at = Utc::now();
        let known_roles = tenant.target.role_names().await?;
        let rules = Rules {
            target: Some(&*tenant.target),
            on_deactivate: tenant.policy.on_deactivate,
            user_rules: tenant.target.user_rules(),
            known_roles: Some(&known_roles),
            access_model: tenant.target.access_model(),
        };
        let StoredPass {
            mut index,
            stored,
            errors,
            mut findings,
        } = self.index_stored(tenant, &rules, progress).await?;
        let mut listing = self.list_upstream(tenant, &mut index, progress).await?;
        let missing: HashSet<String> = index.unlisted().map(str::to_string).collect();
        drop(index);
        let drifted = std::mem::take(&mut listing.drifted);
        self.detail(tenant, &rules, drifted, missing, &mut findings)
            .await?;
        // Findings in username order, whatever order the store keeps (stable: one
        // user's findings keep their field order), then the orphans.
        findings.sort_by(|a, b| a.username.cmp(&b.username));
        drift::sort_orphans(&mut listing.orphans);
        findings.extend(listing.orphans.iter().map(drift::orphan));
        let intents: HashSet<String> = self
            .store
            .create_intents(&tenant.name)
            .await?
            .into_iter()
            .map(|intent| intent.username)
            .collect();
        drift::mark_abandoned_creates(&mut findings, &intents);

        let mut repair = Repair::default();
        if options.repair {
            self.repair(tenant, &findings, &mut repair).await?;
        }
        if options.deactivate_orphans {
            self.deactivate_orphans(tenant, &findings, &listing.orphans, &mut repair)
                .await;
        }
        progress.finished();

        let report = Report {
            tenant: tenant.name.clone(),
            started_at,
            upstream_users: listing.count,
            stored_users: stored,
            users_with_drift: drift::users_per_kind(&findings)
                .into_iter()
                .map(|(k, n)| (k.as_str(), n))
                .collect(),
            findings,
            errors,
            repair,
        };
        self.record_reconcile(&report, options).await;
        Ok(report)
    }

    async fn repair(
        &self,
        tenant: &Arc<Tenant>,
        findings: &[Finding],
        repair: &mut Repair,
    ) -> Result<()> {
        let to_sync: BTreeSet<String> = findings
            .iter()
            .filter(|f| f.kind.repaired_by_sync())
            .filter_map(|f| f.scim_id.clone())
            .collect();
        if !to_sync.is_empty() {
            let ids: Vec<String> = to_sync.into_iter().collect();
            self.store.enqueue_user_syncs(&tenant.name, &ids).await?;
            self.jobs_ready.notify_one();
            repair.sync_enqueued = ids;
        }
        for finding in findings
            .iter()
            .filter(|f| f.kind == DriftKind::MissingUpstream)
        {
            let Some(id) = &finding.scim_id else { continue };
            match self.recreate_missing(tenant, id).await {
                Ok(true) => repair.recreated.push(id.clone()),
                Ok(false) => {}
                Err(e) => repair.failed.push(format!("re-create of user {id}: {e}")),
            }
        }
        Ok(())
    }

    /// Deactivates each active orphan with a whole-user write of what upstream has,
    /// status aside. Audited per user. An orphan that a repair has just linked (a user
    /// gone upstream whose username someone re-created by hand) is left alone.
    async fn deactivate_orphans(
        &self,
        tenant: &Tenant,
        findings: &[Finding],
        upstream: &[UpstreamUser],
        repair: &mut Repair,
    ) {
        let orphans: HashSet<&str> = findings
            .iter()
            .filter(|f| f.kind == DriftKind::Orphan)
            .filter_map(|f| f.upstream_id.as_deref())
            .collect();
        for user in upstream
            .iter()
            .filter(|u| u.active && orphans.contains(u.id.as_str()))
        {
            match self.store.user_id_by_upstream(&tenant.name, &user.id).await {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(e) => {
                    repair
                        .failed
                        .push(format!("deactivation of orphan {}: {e}", user.id));
                    continue;
                }
            }
            let desired = DesiredUser {
                username: user.username.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                email: user.email.clone(),
                phone: user.phone.clone(),
                roles: None,
                account_scope: None,
                accounts: None,
                active: false,
                ..DesiredUser::default()
            };
            let result = tenant.target.update_user(&user.id, &desired).await;
            let (outcome, detail) = match &result {
                Ok(_) => {
                    repair.orphans_deactivated.push(user.id.clone());
                    ("ok", json!({"username": user.username}))
                }
                Err(e) => {
                    repair
                        .failed
                        .push(format!("deactivation of orphan {}: {e}", user.id));
                    (
                        "error",
                        json!({"username": user.username, "error": e.to_string()}),
                    )
                }
            };
            self.append_audit_quietly(AuditEntry {
                at: Utc::now(),
                tenant: tenant.name.clone(),
                actor: "reconcile".into(),
                resource_type: "UpstreamUser".into(),
                resource_id: user.id.clone(),
                action: "deactivate_orphan".into(),
                outcome: outcome.into(),
                detail,
            })
            .await;
        }
    }

    /// One audit entry per run (counts, repairs, the first findings) and the drift gauges.
    async fn record_reconcile(&self, report: &Report, options: Options) {
        for (kind, users) in &report.users_with_drift {
            metrics::gauge!("scim_bridge_drift_users", "tenant" => report.tenant.clone(), "kind" => *kind)
                .set(*users as f64);
        }
        let shown: Vec<&Finding> = report.findings.iter().take(AUDITED_FINDINGS).collect();
        let outcome = if report.findings.is_empty() {
            "ok"
        } else {
            "drift"
        };
        self.append_audit_quietly(AuditEntry {
            at: Utc::now(),
            tenant: report.tenant.clone(),
            actor: "reconcile".into(),
            resource_type: "Tenant".into(),
            resource_id: report.tenant.clone(),
            action: "reconcile".into(),
            outcome: outcome.into(),
            detail: json!({
                "repair": options.repair,
                "deactivate_orphans": options.deactivate_orphans,
                "upstream_users": report.upstream_users,
                "stored_users": report.stored_users,
                "users_with_drift": report.users_with_drift,
                "findings": shown,
                "findings_total": report.findings.len(),
                "errors": report.errors,
                "repaired": report.repair,
            }),
        })
        .await;
    }

    pub(crate) async fn append_audit_quietly(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "could not write the audit entry");
        }
    }
}

/// Runs [`Provisioner::reconcile`] every `tenant.reconcile_interval` (first after one
/// interval), when configured. With several replicas on PostgreSQL, each run holds the
/// tenant's `reconcile` lock without waiting for it: a replica that finds it taken
/// skips its turn, so one replica at a time reconciles. Runs of different replicas
/// may still follow each other closely; that only costs upstream reads, as repair
/// jobs are coalesced per user and re-creates check under the user's lock first.
pub fn spawn_periodic(
    provisioner: Provisioner,
    tenant: Arc<Tenant>,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = tenant.reconcile_interval?;
    Some(tokio::spawn(async move {
        let key = format!("{}/reconcile", tenant.name);
        let options = Options {
            repair: tenant.reconcile_repair,
            deactivate_orphans: false,
        };
        loop {
            tokio::time::sleep(interval).await;
            let guard = match provisioner.store.try_lock(&key).await {
                Ok(Some(guard)) => guard,
                Ok(None) => {
                    tracing::debug!(tenant = %tenant.name, "another replica is reconciling; skipping this turn");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.name, error = %e, "could not take the reconcile lock");
                    continue;
                }
            };
            match provisioner.reconcile(&tenant, options, &Quiet).await {
                Ok(report) if !report.findings.is_empty() => {
                    crate::notify::emit(
                        crate::notify::EventKind::DriftFound,
                        crate::notify::Scope::Tenant(tenant.name.clone()),
                        format!(
                            "the periodic reconcile found {} difference(s) between Bandwidth and the IdP's state{}",
                            report.findings.len(),
                            if options.repair { "; repairs were queued" } else { "" }
                        ),
                        serde_json::json!({"users_with_drift": report.users_with_drift, "findings": report.findings.len()}),
                    );
                    tracing::info!(tenant = %tenant.name, findings = report.findings.len(), "reconcile found drift");
                }
                Ok(report) => tracing::info!(
                    tenant = %tenant.name,
                    upstream_users = report.upstream_users,
                    stored_users = report.stored_users,
                    findings = report.findings.len(),
                    sync_enqueued = report.repair.sync_enqueued.len(),
                    "reconcile finished"
                ),
                Err(e) => tracing::warn!(tenant = %tenant.name, error = %e, "reconcile failed"),
            }
            drop(guard);
        }
    }))
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
