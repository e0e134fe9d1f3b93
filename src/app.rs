//! Assembles a running bridge from configuration: store, tenants with their upstreams,
//! credentials, and the HTTP state.
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, TenantConfig};
use crate::http::auth::Credentials;
use crate::http::AppState;
use crate::provision::{Provisioner, Tenant};
use crate::store;
use crate::upstream::dry_run::{log_write, DryRunTarget, LogRecorder, SkippedWrite, WriteRecorder};
use crate::upstream::Target;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

pub fn build_tenant(name: &str, config: &TenantConfig) -> Result<Arc<Tenant>, StartupError> {
    build_tenant_in(name, config, None)
}

/// [`build_tenant`]; with a store, a dry-run tenant's skipped writes are audited there
/// as well as logged.
pub fn build_tenant_in(
    name: &str,
    config: &TenantConfig,
    store: Option<&Arc<dyn store::Store>>,
) -> Result<Arc<Tenant>, StartupError> {
    let settings = config.target().ok_or_else(|| {
        StartupError(format!("tenant {name}: [tenants.{name}.target] is missing"))
    })?;
    let target = settings
        .build()
        .map_err(|e| StartupError(format!("tenant {name}: target ({}): {e}", settings.kind())))?;
    let target: Arc<dyn Target> = if config.dry_run {
        tracing::info!(tenant = %name, "dry run: upstream writes are recorded, not made");
        let recorder: Arc<dyn WriteRecorder> = match store {
            Some(store) => Arc::new(AuditRecorder {
                store: store.clone(),
                tenant: name.to_string(),
            }),
            None => Arc::new(LogRecorder),
        };
        Arc::new(DryRunTarget::new(target, recorder))
    } else {
        target
    };
    Ok(Arc::new(Tenant::new(name, config, target)))
}

/// Logs a dry-run tenant's skipped write and audits it with its request.
struct AuditRecorder {
    store: Arc<dyn store::Store>,
    tenant: String,
}

#[async_trait::async_trait]
impl WriteRecorder for AuditRecorder {
    async fn record(&self, write: &SkippedWrite) {
        log_write(write);
        let entry = store::AuditEntry {
            at: chrono::Utc::now(),
            tenant: self.tenant.clone(),
            actor: "dry_run".into(),
            resource_type: "UpstreamUser".into(),
            resource_id: write.upstream_id.clone(),
            action: format!("dry_run_{}", write.operation),
            outcome: "not_written".into(),
            detail: serde_json::json!({
                "operation": write.operation,
                "username": write.username,
                "request": write.request,
            }),
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, "could not audit a dry-run write");
        }
    }
}

/// Role names the tenant uses that the upstream does not have (none for a target
/// without roles). `Err` when the upstream could not be asked.
pub async fn unknown_roles(
    tenant: &Tenant,
) -> Result<(Vec<String>, Vec<String>), crate::upstream::TargetError> {
    if !tenant.target.access_model().roles {
        return Ok((Vec::new(), Vec::new()));
    }
    let valid = tenant.target.role_names().await?;
    let unknown = tenant
        .base_roles
        .iter()
        .filter(|r| !valid.contains(*r))
        .cloned()
        .collect();
    Ok((unknown, valid.into_iter().collect()))
}

/// Builds the application state. A role name the upstream does not know is a start-up
/// error; an upstream that cannot be reached is only a warning (`/readyz` reports it),
/// so a Bandwidth outage does not keep the bridge from serving reads.
pub async fn build(config: &Config) -> Result<AppState, StartupError> {
    build_with(config, config.database.migrate_on_start).await
}

/// [`build`], migrating the database first or only checking that it is migrated.
pub async fn build_with(config: &Config, migrate: bool) -> Result<AppState, StartupError> {
    // Installed before any request or upstream call records a metric.
    crate::telemetry::metrics();
    let store = open_store(config, migrate).await?;
    let mut credentials = Credentials::default();
    let mut tenants = Vec::new();
    for (name, tenant_config) in &config.tenants {
        let tenant = build_tenant_in(name, tenant_config, Some(&store))?;
        match unknown_roles(&tenant).await {
            Ok((unknown, valid)) if !unknown.is_empty() => {
                return Err(StartupError(format!(
                    "tenant {name}: unknown {} role name(s) {unknown:?}; valid names: {}",
                    tenant.target.user_rules().system,
                    valid.join(", ")
                )));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %name, error = %e, "could not check role names upstream")
            }
        }
        credentials
            .add_tenant(&tenant, tenant_config)
            .map_err(StartupError)?;
        tenants.push(tenant);
    }
    let scim_base = match &config.server.public_url {
        Some(url) => format!("{}/scim/v2", url.trim_end_matches('/')),
        None => "/scim/v2".to_string(),
    };
    let metrics_token = match &config.server.metrics_token {
        Some(secret) => Some(
            secret
                .resolve()
                .map_err(|e| StartupError(format!("server.metrics_token: {e}")))?,
        ),
        None => None,
    };
    let accounts = crate::admin::tenant_accounts(config);
    // Runs for the life of the process: the outbox outlives any one request.
    crate::notify::start(store.clone(), &config.notify, &accounts).map_err(StartupError)?;
    let provisioner = Provisioner::new(store);
    let tenants = Arc::new(tenants);
    let admin = crate::admin::AdminService::new(provisioner.clone(), tenants.clone(), config);
    let console = match &config.admin {
        Some(section) => Some(Arc::new(
            crate::http::admin::Console::new(
                admin.clone(),
                section,
                config.server.tls.is_some(),
                config.notify.iter().map(|s| s.name.clone()).collect(),
            )
            .map_err(StartupError)?,
        )),
        None => None,
    };
    Ok(AppState::new(crate::http::App {
        provisioner,
        credentials: Arc::new(credentials),
        tenants,
        scim_base,
        max_page_size: u64::from(config.server.max_page_size.max(1)),
        max_body_bytes: config.server.max_body_bytes,
        request_timeout: Duration::from_secs(config.server.request_timeout_secs.max(1)),
        metrics_token,
        admin,
        console,
        connection_limits: config.connection_limits(),
    }))
}

/// Opens the configured store with the configured pool settings.
pub async fn open_store(
    config: &Config,
    migrate: bool,
) -> Result<Arc<dyn store::Store>, StartupError> {
    let options = config.database.open_options(migrate);
    store::open_with(&config.database.url, &options)
        .await
        .map_err(|e| {
            StartupError(format!(
                "database {}: {e}",
                redact_url(&config.database.url)
            ))
        })
}

/// A database URL with any password removed, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Starts this process's job worker over every configured tenant.
pub fn start_worker(
    state: &AppState,
    config: &crate::config::WorkerConfig,
) -> tokio::task::JoinHandle<()> {
    crate::worker::Worker::new(state.provisioner.clone(), &state.tenants, config.clone()).spawn()
}

/// Starts the periodic reconcile of every tenant that configures one.
pub fn start_reconcilers(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    state
        .tenants
        .iter()
        .filter_map(|tenant| {
            crate::provision::reconcile::spawn_periodic(state.provisioner.clone(), tenant.clone())
        })
        .collect()
}

/// Starts the recovery of every tenant's stale create intents (at once, then
/// periodically).
pub fn start_intent_recovery(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    state
        .tenants
        .iter()
        .map(|tenant| {
            crate::provision::intents::spawn_periodic(state.provisioner.clone(), tenant.clone())
        })
        .collect()
}

/// Serves until ctrl-c or SIGTERM, finishing requests in flight.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let limits = state.connection_limits;
    let router = crate::http::router(state);
    crate::http::connections::serve(listener, router, limits, shutdown_signal()).await
}

/// [`serve`] over HTTPS with the configured certificate, reloaded on SIGHUP and on
/// file change. A certificate that cannot be loaded at start is an error.
pub async fn serve_tls(
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: &crate::config::TlsConfig,
) -> std::io::Result<()> {
    let certs = crate::tls::Certificates::load(tls).map_err(std::io::Error::other)?;
    let watcher = certs.watch(Duration::from_secs(tls.reload_poll_secs.max(1)));
    let listener = crate::tls::TlsListener::new(listener, certs)?;
    let limits = state.connection_limits;
    let router = crate::http::router(state);
    let served = crate::http::connections::serve(listener, router, limits, shutdown_signal()).await;
    watcher.abort();
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_database_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
