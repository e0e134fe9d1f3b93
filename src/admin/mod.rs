//! The admin service layer: what an administrator may see and do, for the web console
//! and the CLI alike. Every action checks the admin's role and tenant scope, and is
//! audited under the admin's name.
pub mod activity;
pub mod config;
mod health;
mod jobs;
mod reconcile;
mod settings;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

pub use config::{AdminAccount, AdminConfig, AdminRole};
pub use health::{ReconcileSummary, TenantHealth};
pub use jobs::Decision;
pub use settings::effective_config;
pub use users::{UserDetail, UserSummary};

use crate::provision::{Provisioner, Tenant};
use crate::store::{AuditEntry, AuditQuery, ListPage, StoreError};

/// Who is acting: a console account, or the operator at the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub name: String,
    pub role: AdminRole,
    /// Tenants this admin sees; empty = all.
    pub tenants: Vec<String>,
}

impl Admin {
    /// The CLI's identity: whoever can read the configuration runs as an unscoped
    /// operator; the audit names the OS user when known.
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_default();
        let name = if user.is_empty() {
            "cli".to_string()
        } else {
            format!("cli:{user}")
        };
        Self {
            name,
            role: AdminRole::Operator,
            tenants: Vec::new(),
        }
    }

    pub fn sees(&self, tenant: &str) -> bool {
        self.tenants.is_empty() || self.tenants.iter().any(|t| t == tenant)
    }

    /// The audit actor of this admin's actions.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin's role or tenant scope does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, AdminError>;

/// The admin layer over one running (or CLI-opened) bridge.
#[derive(Clone)]
pub struct AdminService {
    pub provisioner: Provisioner,
    pub tenants: Arc<Vec<Arc<Tenant>>>,
    /// Each tenant's upstream account, as the upstream metrics label it.
    accounts: Arc<HashMap<String, String>>,
    /// The configuration as the console shows it, secrets redacted.
    effective_config: Arc<String>,
    running: reconcile::Running,
}

impl AdminService {
    pub fn new(
        provisioner: Provisioner,
        tenants: Arc<Vec<Arc<Tenant>>>,
        config: &crate::config::Config,
    ) -> Self {
        let accounts = tenant_accounts(config).into_iter().collect();
        Self {
            provisioner,
            tenants,
            accounts: Arc::new(accounts),
            effective_config: Arc::new(effective_config(config)),
            running: reconcile::Running::default(),
        }
    }

    fn account_of(&self, tenant: &str) -> String {
        self.accounts.get(tenant).cloned().unwrap_or_default()
    }

    /// The effective configuration with every secret, hash and credential replaced.
    pub fn configuration(&self, admin: &Admin) -> Result<&str> {
        require_operator(admin)?;
        Ok(&self.effective_config)
    }

    /// The tenants `admin` sees, in configuration order.
    pub fn visible_tenants(&self, admin: &Admin) -> Vec<Arc<Tenant>> {
        self.tenants
            .iter()
            .filter(|t| admin.sees(&t.name))
            .cloned()
            .collect()
    }

    /// The tenant, if it exists and `admin` sees it (an unseen tenant is "not found",
    /// so a scoped admin cannot probe which tenants exist).
    pub fn tenant(&self, admin: &Admin, name: &str) -> Result<Arc<Tenant>> {
        self.tenants
            .iter()
            .find(|t| t.name == name && admin.sees(name))
            .cloned()
            .ok_or_else(|| AdminError::NotFound(format!("no tenant {name:?}")))
    }

    /// The tenant, if `admin` may change things in it.
    pub fn tenant_to_act_on(&self, admin: &Admin, name: &str) -> Result<Arc<Tenant>> {
        let tenant = self.tenant(admin, name)?;
        require_operator(admin)?;
        Ok(tenant)
    }

    /// Tenant names an optional filter resolves to: the one named (checked), or all
    /// the admin sees.
    fn scope(&self, admin: &Admin, tenant: Option<&str>) -> Result<Vec<String>> {
        match tenant {
            Some(name) => Ok(vec![self.tenant(admin, name)?.name.clone()]),
            None => Ok(self
                .visible_tenants(admin)
                .iter()
                .map(|t| t.name.clone())
                .collect()),
        }
    }

    /// Audit entries the admin may read; `query.tenants` is narrowed to its scope.
    pub async fn audit(
        &self,
        admin: &Admin,
        tenant: Option<&str>,
        mut query: AuditQuery,
    ) -> Result<ListPage<AuditEntry>> {
        query.tenants = Some(self.scope(admin, tenant)?);
        query.limit = query.limit.clamp(1, 500);
        Ok(self.provisioner.store.search_audit(&query).await?)
    }

    /// Queued and sent notifications of the tenants the admin sees, newest first.
    pub async fn notifications(
        &self,
        admin: &Admin,
        limit: u32,
    ) -> Result<Vec<crate::store::Notification>> {
        let all = self.provisioner.store.list_notifications(limit).await?;
        Ok(all
            .into_iter()
            .filter(|n| admin.sees(&n.request.tenant))
            .collect())
    }

    /// Records an admin action. An action whose audit cannot be written fails: an
    /// unaudited admin change is worse than a refused one.
    async fn record(
        &self,
        admin: &Admin,
        tenant: &str,
        action: &str,
        resource: (&str, &str),
        outcome: &str,
        detail: Value,
    ) -> Result<()> {
        let entry = AuditEntry {
            at: chrono::Utc::now(),
            tenant: tenant.to_string(),
            actor: admin.actor(),
            resource_type: resource.0.to_string(),
            resource_id: resource.1.to_string(),
            action: action.to_string(),
            outcome: outcome.to_string(),
            detail,
        };
        self.provisioner.store.append_audit(&entry).await?;
        Ok(())
    }
}

/// Each tenant with the upstream account its metrics and events are labelled with.
pub fn tenant_accounts(config: &crate::config::Config) -> Vec<(String, String)> {
    config
        .tenants
        .iter()
        .map(|(name, t)| {
            let account = t.target().map(|s| s.account_label()).unwrap_or_default();
            (name.clone(), account)
        })
        .collect()
}

fn require_operator(admin: &Admin) -> Result<()> {
    if admin.role == AdminRole::Operator {
        Ok(())
    } else {
        Err(AdminError::Forbidden(format!(
            "{} is a viewer; this needs the operator role",
            admin.name
        )))
    }
}
