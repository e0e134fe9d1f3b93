//! `scim-bridge reconcile`: one run of the drift check, its progress on stderr and its
//! report on stdout (a table, or JSON with the field names of [`Report`]).
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use crate::admin::{Admin, AdminService};
use crate::provision::reconcile::{Options, Progress, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A progress bar when stderr is a terminal; otherwise a line per page listed and
/// per 500 users compared, which reads well in a log.
enum Shown {
    Bar(ProgressBar),
    Lines,
}

impl Progress for Shown {
    fn listed(&self, count: usize) {
        match self {
            Shown::Bar(bar) => bar.set_message(format!("{count} upstream users listed")),
            Shown::Lines => eprintln!("listed {count} upstream users"),
        }
    }

    fn compared(&self, done: usize, total: usize) {
        match self {
            Shown::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message("comparing stored users");
            }
            Shown::Lines if done.is_multiple_of(500) || done == total => {
                eprintln!("compared {done}/{total} stored users")
            }
            Shown::Lines => {}
        }
    }

    fn finished(&self) {
        if let Shown::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn progress() -> Shown {
    if !std::io::stderr().is_terminal() {
        return Shown::Lines;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Shown::Bar(bar)
}

pub async fn run(
    service: &AdminService,
    tenant: &str,
    options: Options,
    format: Format,
) -> Result<(), String> {
    let progress = progress();
    let report = service
        .reconcile(&Admin::cli(), tenant, options, &progress)
        .await
        .map_err(|e| format!("reconcile of tenant {tenant}: {e}"))?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The human form of a report.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "tenant {}: {} upstream users, {} stored users, {} finding(s)\n",
        report.tenant,
        report.upstream_users,
        report.stored_users,
        report.findings.len()
    );
    if !report.findings.is_empty() {
        out.push_str(&format!(
            "{:<17} {:<30} {:<38} {:<14} {:<30} {}\n",
            "kind", "username", "scim id", "field", "expected", "actual"
        ));
        for f in &report.findings {
            out.push_str(&format!(
                "{:<17} {:<30} {:<38} {:<14} {:<30} {}\n",
                f.kind.as_str(),
                f.username,
                f.scim_id.as_deref().unwrap_or("-"),
                f.field.unwrap_or("-"),
                cell(&f.expected),
                cell(&f.actual)
            ));
        }
    }
    for error in &report.errors {
        out.push_str(&format!("error: {error}\n"));
    }
    let r = &report.repair;
    if !r.sync_enqueued.is_empty() {
        out.push_str(&format!(
            "repair: {} sync job(s) enqueued; the running bridge's worker carries them out\n",
            r.sync_enqueued.len()
        ));
    }
    if !r.recreated.is_empty() {
        out.push_str(&format!(
            "repair: {} user(s) re-created upstream\n",
            r.recreated.len()
        ));
    }
    if !r.orphans_deactivated.is_empty() {
        out.push_str(&format!(
            "repair: {} orphan(s) deactivated\n",
            r.orphans_deactivated.len()
        ));
    }
    for failed in &r.failed {
        out.push_str(&format!("repair failed: {failed}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::drift::{DriftKind, Finding};
    use crate::provision::reconcile::Repair;
    use serde_json::json;

    #[test]
    fn the_table_shows_each_finding_and_the_repairs() {
        let report = Report {
            tenant: "acme".into(),
            started_at: chrono::Utc::now(),
            upstream_users: 3,
            stored_users: 2,
            findings: vec![
                Finding {
                    kind: DriftKind::Access,
                    scim_id: Some("s1".into()),
                    upstream_id: Some("u1".into()),
                    username: "jdoe".into(),
                    field: Some("roles"),
                    expected: json!(["basicAccess"]),
                    actual: json!(["Porting", "basicAccess"]),
                },
                Finding {
                    kind: DriftKind::Orphan,
                    scim_id: None,
                    upstream_id: Some("u9".into()),
                    username: "handmade".into(),
                    field: None,
                    expected: json!(null),
                    actual: json!({"active": true}),
                },
            ],
            users_with_drift: Default::default(),
            errors: vec!["user s3: name.givenName required".into()],
            repair: Repair {
                sync_enqueued: vec!["s1".into()],
                failed: vec!["re-create of user s2: upstream unavailable".into()],
                ..Repair::default()
            },
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "tenant acme: 3 upstream users, 2 stored users, 2 finding(s)"
        );
        assert!(lines[1].starts_with("kind"));
        assert!(lines[2].starts_with("access") && lines[2].contains("[\"basicAccess\"]"));
        assert!(lines[3].starts_with("orphan") && lines[3].contains("handmade"));
        assert_eq!(lines[4], "error: user s3: name.givenName required");
        assert!(lines[5].starts_with("repair: 1 sync job(s) enqueued"));
        assert_eq!(
            lines[6],
            "repair failed: re-create of user s2: upstream unavailable"
        );
    }
}
