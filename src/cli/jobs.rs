//! `scim-bridge jobs`: list the role-sync jobs and the guard's deprovisions, approve
//! held deprovisions, re-queue failed jobs.
use std::path::Path;

use super::JobsCommand;
use crate::app;
use crate::config::Config;
use crate::store::{Deprovision, DeprovisionState};

/// The store for the `jobs` commands: a small pool, never migrating (an operator
/// inspecting jobs must not change the schema under running replicas).
async fn open_store(
    path: &std::path::Path,
) -> Result<std::sync::Arc<dyn crate::store::Store>, String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    config.database.max_connections = 2;
    match app::open_store(&config, false).await {
        Ok(store) => Ok(store),
        Err(e) => Err(super::check_config::explain_open_failure(&config, e.0).await),
    }
}

pub async fn run(command: JobsCommand) -> Result<(), String> {
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
            let store = open_store(&config).await?;
            if deprovision_state == Some(DeprovisionState::Held) {
                return print_deprovisions(
                    store.as_ref(),
                    &config,
                    tenant.as_deref(),
                    Some(DeprovisionState::Held),
                    limit,
                )
                .await;
            }
            let jobs = store
                .list_jobs(tenant.as_deref(), job_state, limit)
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
                    job.attempts,
                    job.run_at.to_rfc3339(),
                    job.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} job(s)", jobs.len());
            print_deprovisions(
                store.as_ref(),
                &config,
                tenant.as_deref(),
                deprovision_state,
                limit,
            )
            .await
        }
        JobsCommand::Approve { config, tenant, id } => {
            let store = open_store(&config).await?;
            let n = approve_deprovisions(store.as_ref(), &tenant, id).await?;
            println!("released {n} held deprovision(s) of tenant {tenant} to the worker");
            Ok(())
        }
        JobsCommand::Retry { config, tenant, id } => {
            let store = open_store(&config).await?;
            let n = store
                .requeue_failed(tenant.as_deref(), id)
                .await
                .map_err(|e| e.to_string())?;
            println!("re-queued {n} failed job(s)");
            Ok(())
        }
    }
}

/// Deprovisions waiting for approval or for the worker (the guard's `done` rows are
/// only its count, and not shown).
async fn print_deprovisions(
    store: &dyn crate::store::Store,
    config: &Path,
    tenant: Option<&str>,
    state: Option<DeprovisionState>,
    limit: u32,
) -> Result<(), String> {
    let all = store
        .list_deprovisions(tenant, state, u32::MAX)
        .await
        .map_err(|e| e.to_string())?;
    let waiting: Vec<_> = all
        .into_iter()
        .filter(|d| d.state != DeprovisionState::Done)
        .take(limit as usize)
        .collect();
    let held_only = state == Some(DeprovisionState::Held);
    print!("{}", deprovision_table(&waiting, config, tenant, held_only));
    Ok(())
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
            d.last_error.as_deref().unwrap_or("")
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
         `scim-bridge jobs approve --config {} --tenant {tenant} [--id N]`",
        rows.len(),
        config.display()
    );
    out
}

/// `jobs approve`: held (and failed) deprovisions of `tenant` become pending for the
/// worker; the audit records the release.
pub async fn approve_deprovisions(
    store: &dyn crate::store::Store,
    tenant: &str,
    id: Option<i64>,
) -> Result<u64, String> {
    let n = store
        .approve_deprovisions(tenant, id)
        .await
        .map_err(|e| e.to_string())?;
    let entry = crate::store::AuditEntry {
        at: chrono::Utc::now(),
        tenant: tenant.to_string(),
        actor: "cli".into(),
        resource_type: "Tenant".into(),
        resource_id: tenant.to_string(),
        action: "deprovision_approve".into(),
        outcome: "ok".into(),
        detail: serde_json::json!({"released": n, "id": id}),
    };
    store
        .append_audit(&entry)
        .await
        .map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeprovisionAction, NewDeprovision};

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
            attempts: 0,
            run_at: chrono::Utc::now(),
            last_error: None,
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
