//! Reconcile from the console (in the background) and the CLI (waiting for it).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::health::ReconcileSummary;
use super::{Admin, AdminError, AdminService, Result};
use crate::provision::reconcile::{Options, Progress, Quiet, Report};

/// Tenants with a console-started reconcile in flight in this process.
#[derive(Default, Clone)]
pub struct Running(Arc<Mutex<HashSet<String>>>);

impl Running {
    fn start(&self, tenant: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.to_string())
    }

    fn finish(&self, tenant: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
    }

    pub fn is_running(&self, tenant: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(tenant)
    }
}

impl AdminService {
    /// Runs one reconcile of the tenant and waits for its report (the CLI's way).
    /// Repairs and orphan deactivations need the operator role; a report-only run too,
    /// as it costs the upstream a full listing.
    pub async fn reconcile(
        &self,
        admin: &Admin,
        tenant: &str,
        options: Options,
        progress: &dyn Progress,
    ) -> Result<Report> {
        let tenant = self.tenant_to_act_on(admin, tenant)?;
        let key = format!("{}/reconcile", tenant.name);
        let _lock = self
            .provisioner
            .store
            .try_lock(&key)
            .await?
            .ok_or_else(|| {
                AdminError::Invalid(format!(
                    "tenant {} is being reconciled already",
                    tenant.name
                ))
            })?;
        let result = self.provisioner.reconcile(&tenant, options, progress).await;
        let (outcome, detail) = match &result {
            Ok(report) => (
                "ok",
                json!({
                    "repair": options.repair,
                    "deactivate_orphans": options.deactivate_orphans,
                    "findings": report.findings.len(),
                    "sync_enqueued": report.repair.sync_enqueued.len(),
                    "recreated": report.repair.recreated.len(),
                }),
            ),
            Err(e) => (
                "error",
                json!({"repair": options.repair, "error": e.to_string()}),
            ),
        };
        self.record(
            admin,
            &tenant.name,
            "reconcile_run",
            ("Tenant", &tenant.name),
            outcome,
            detail,
        )
        .await?;
        result.map_err(|e| AdminError::Upstream(e.to_string()))
    }

    /// Starts a reconcile in the background (the console's way: a full listing can
    /// outlast any page load); its report lands in the audit log. `false` when one is
    /// already running here.
    pub fn start_reconcile(&self, admin: &Admin, tenant: &str, options: Options) -> Result<bool> {
        let tenant = self.tenant_to_act_on(admin, tenant)?;
        if !self.running.start(&tenant.name) {
            return Ok(false);
        }
        let (service, admin) = (self.clone(), admin.clone());
        tokio::spawn(async move {
            if let Err(e) = service
                .reconcile(&admin, &tenant.name, options, &Quiet)
                .await
            {
                tracing::warn!(tenant = %tenant.name, error = %e, "console reconcile failed");
            }
            service.running.finish(&tenant.name);
        });
        Ok(true)
    }

    pub fn reconcile_running(&self, tenant: &str) -> bool {
        self.running.is_running(tenant)
    }

    /// The newest reconcile report of the tenant.
    pub async fn last_reconcile(
        &self,
        admin: &Admin,
        tenant: &str,
    ) -> Result<Option<ReconcileSummary>> {
        let tenant = self.tenant(admin, tenant)?;
        self.last_reconcile_of(&tenant.name).await
    }
}
