//! `scim-bridge jobs`: list the role-sync jobs and the guard's deprovisions, approve
//! or reject held deprovisions, re-queue failed jobs: through the admin layer, audited
//! as `admin:cli:<user>`.
use std::path::Path;

use super::{HeldDeprovisions, JobsCommand};
use crate::admin::{Admin, AdminService, Decision};
use crate::app;
use crate::config::Config;
use crate::store::{Deprovision, DeprovisionState};

/// The admin layer for the `jobs` and `reconcile` commands: a small pool, never
/// migrating (an operator inspecting jobs must not change the schema under running
/// replicas).
pub(super) async fn admin_service(path: &Path) -> Result<AdminService, String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    config.database.max_connections = 2;
    let store = match app::open_store(&config, false).await {
        Ok(store) => store,
        Err(e) => return Err(super::check_config::explain_open_failure(&config, e.0).await),
    };
    let mut tenants = Vec::new();
    for (name, tenant_config) in &config.tenants {
        tenants.push(
            app::build_tenant_in(name, tenant_config, Some(&store)).map_err(|e| e.to_string())?,
        );
    }
    Ok(AdminService::new(
        crate::provision::Provisioner::new(store),
        std::sync::Arc::new(tenants),
        &config,
    ))
}

pub async fn run(command: JobsCommand) -> Result<(), String> {
    let admin = Admin::cli();
    match command {
        JobsCommand::List {
            config,
            tenant,
            state,
            limit,
        } => {
            let (job_state, deprovision_state) = match state.as_deref() {
                None => (None, None),
                Some("held") => (None, Some(DeprovisionState::Held)),
                Some(s) => {
                    let parsed = crate::store::JobState::parse(s).ok_or_else(|| {
                        format!("unknown state {s:?}; use pending, running, failed or held")
                    })?;
                    (Some(parsed), DeprovisionState::parse(s))
                }
            };
            let service = admin_service(&config).await?;
            let scope = tenant.as_deref();
            let waiting = service
                .list_deprovisions(&admin, scope, deprovision_state, limit)
                .await
                .map_err(|e| e.to_string())?;
            let held_only = deprovision_state == Some(DeprovisionState::Held);
            if held_only {
                print!("{}", deprovision_table(&waiting, &config, scope, true));
                return Ok(());
            }
            let jobs = service
                .list_jobs(&admin, scope, job_state, limit)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{:>8}  {:<12} {:<38} {:<8} {:>8}  {:<25} last error",
                "id", "tenant", "user", "state", "attempts", "run at"
            );
            for job in &jobs {
                println!(
                    "{:>8}  {:<12} {:<38} {:<8} {:>8}  {:<25} {}",
                    job.id,
                    job.tenant,
                    job.user_id,
                    job.state.as_str(),
                    job.retry.attempts,
                    job.retry.run_at.to_rfc3339(),
                    job.retry.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} job(s)", jobs.len());
            print!("{}", deprovision_table(&waiting, &config, scope, false));
            Ok(())
        }
        JobsCommand::Approve(held) => decide(&admin, held, Decision::Approve).await,
        JobsCommand::Reject(held) => decide(&admin, held, Decision::Reject).await,
        JobsCommand::Retry { config, tenant, id } => {
            let service = admin_service(&config).await?;
            let n = service
                .retry_jobs(&admin, tenant.as_deref(), id)
                .await
                .map_err(|e| e.to_string())?;
            println!("re-queued {n} failed job(s)");
            Ok(())
        }
    }
}

/// The deprovision rows, each with the upstream username an admin recognises, and the
/// exact command that releases the held ones. Without rows: nothing, unless only held
/// ones were asked for, which is then said.
fn deprovision_table(
    rows: &[Deprovision],
    config: &Path,
    tenant: Option<&str>,
    held_only: bool,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if rows.is_empty() {
        if held_only {
            let of = tenant
                .map(|t| format!(" of tenant {t}"))
                .unwrap_or_default();
            out.push_str(&format!("no deprovisions{of} are held by the guard\n"));
        }
        return out;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>8}  {:<12} {:<38} {:<32} {:<12} {:<8} {:<25} last error",
        "deprov", "tenant", "user", "username", "action", "state", "created"
    );
    for d in rows {
        let _ = writeln!(
            out,
            "{:>8}  {:<12} {:<38} {:<32} {:<12} {:<8} {:<25} {}",
            d.id,
            d.request.tenant,
            d.request.user_id,
            d.request.upstream_username,
            d.request.action.as_str(),
            d.state.as_str(),
            d.created.to_rfc3339(),
            d.retry.last_error.as_deref().unwrap_or("")
        );
    }
    let held = rows
        .iter()
        .filter(|d| d.state == DeprovisionState::Held)
        .count();
    let tenant = tenant.unwrap_or("TENANT");
    let _ = writeln!(
        out,
        "{} deprovision(s), {held} held: release with \
         `scim-bridge jobs approve --config {} --tenant {tenant} [--id N]` (or drop with `jobs reject`)",
        rows.len(),
        config.display()
    );
    out
}

/// `jobs approve` and `jobs reject`.
async fn decide(admin: &Admin, held: HeldDeprovisions, decision: Decision) -> Result<(), String> {
    let HeldDeprovisions { config, tenant, id } = held;
    let service = admin_service(&config).await?;
    let n = service
        .decide_deprovisions(admin, &tenant, id, decision)
        .await
        .map_err(|e| e.to_string())?;
    match decision {
        Decision::Approve => {
            println!("released {n} held deprovision(s) of tenant {tenant} to the worker")
        }
        Decision::Reject => println!(
            "rejected {n} held deprovision(s) of tenant {tenant}; the upstream users keep their access"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeprovisionAction, NewDeprovision, Retry};

    fn held(id: i64, username: &str) -> Deprovision {
        Deprovision {
            id,
            request: NewDeprovision {
                tenant: "acme".into(),
                user_id: format!("scim-{id}"),
                upstream_id: format!("bw-{id}"),
                upstream_username: username.into(),
                action: DeprovisionAction::Deactivate,
                resource: serde_json::json!({}),
            },
            state: DeprovisionState::Held,
            retry: Retry {
                attempts: 0,
                run_at: chrono::Utc::now(),
                last_error: None,
            },
            created: chrono::Utc::now(),
        }
    }

    #[test]
    fn no_held_deprovisions_is_said_when_asked_for() {
        let config = Path::new("/etc/scim-bridge/scim-bridge.toml");
        assert_eq!(
            deprovision_table(&[], config, Some("acme"), true),
            "no deprovisions of tenant acme are held by the guard\n"
        );
        assert_eq!(
            deprovision_table(&[], config, None, true),
            "no deprovisions are held by the guard\n"
        );
        assert_eq!(deprovision_table(&[], config, None, false), "");
    }

    #[test]
    fn held_rows_show_the_username_and_the_full_release_command() {
        let config = Path::new("/etc/scim-bridge/scim-bridge.toml");
        let table = deprovision_table(
            &[held(7, "jdoe@example.com"), held(8, "ann@example.com")],
            config,
            Some("acme"),
            true,
        );
        assert!(table.contains("jdoe@example.com"), "{table}");
        assert!(table.contains("ann@example.com"), "{table}");
        assert!(
            table.contains("2 deprovision(s), 2 held: release with `scim-bridge jobs approve --config /etc/scim-bridge/scim-bridge.toml --tenant acme [--id N]`"),
            "{table}"
        );
    }
}
