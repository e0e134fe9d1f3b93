//! `scim-bridge check-config`: everything that can be checked before `serve` without
//! changing anything: syntax, placeholder credentials, the database, the upstream
//! credentials and role names, the IdP's JWT keys. Every failure names the file, host or
//! URL it failed on.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::app;
use crate::config::{Config, TenantConfig};

/// How long a PostgreSQL server has to answer the check.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The hex SHA-256 of the empty string: a token hash computed from nothing.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the database check found: notes to print, and the problem if there is one.
#[derive(Debug, Default)]
pub struct DatabaseReport {
    pub notes: Vec<String>,
    pub problem: Option<String>,
}

pub async fn run(path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for advice in config.legacy_advice() {
        println!("note: {advice}");
    }
    for warning in config.warnings() {
        println!("warning: {warning}");
    }
    let mut problems = Vec::new();

    let database = check_database(&config.database.url).await;
    for note in &database.notes {
        println!("database: {note}");
    }
    match database.problem {
        Some(problem) => problems.push(format!(
            "database {}: {problem}",
            app::redact_url(&config.database.url)
        )),
        None => println!("database {}: OK", app::redact_url(&config.database.url)),
    }

    for (name, tenant_config) in &config.tenants {
        problems.extend(placeholder_credentials(name, tenant_config));
        if tenant_config.tokens.is_empty()
            && tenant_config.basic.is_empty()
            && tenant_config.jwt.is_none()
        {
            problems.push(format!(
                "tenant {name}: no tokens, basic or jwt credentials, so no IdP can call it"
            ));
        }
        let tenant = match app::build_tenant(name, tenant_config) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if let Some(jwt) = &tenant_config.jwt {
            let source = jwt
                .jwks_url
                .clone()
                .or_else(|| jwt.public_key_pem_file.clone())
                .unwrap_or_else(|| "the inline public_key_pem".into());
            match crate::http::auth::check_jwt_keys(jwt, &tenant).await {
                Ok(0) => problems.push(format!(
                    "tenant {name}: jwt: no usable signing key at {source}"
                )),
                Ok(n) => println!("tenant {name}: {n} JWT signing key(s) loaded from {source}"),
                Err(e) => problems.push(format!("tenant {name}: jwt keys at {source}: {e}")),
            }
        }
        let upstream = upstream_url(tenant_config);
        match app::unknown_roles(&tenant).await {
            Ok((unknown, _)) if unknown.is_empty() => {
                println!("tenant {name}: upstream {upstream} reachable, role names valid")
            }
            Ok((unknown, valid)) => problems.push(format!(
                "tenant {name}: unknown role name(s) {unknown:?} at {upstream}; valid: {}",
                valid.join(", ")
            )),
            Err(e) => problems.push(format!(
                "tenant {name}: upstream check at {upstream} failed: {e}"
            )),
        }
        // What only the target knows to check (a NetSapiens key's domain and rights,
        // the extension range's room).
        match tenant.target.preflight().await {
            Ok(report) => {
                for note in report.notes {
                    println!("tenant {name}: {note}");
                }
                problems.extend(
                    report
                        .problems
                        .iter()
                        .map(|p| format!("tenant {name}: {p} (at {upstream})")),
                );
            }
            Err(e) => problems.push(format!(
                "tenant {name}: upstream check at {upstream} failed: {e}"
            )),
        }
    }
    if problems.is_empty() {
        println!("configuration OK ({} tenant(s))", config.tenants.len());
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The upstream API a tenant's checks call.
fn upstream_url(tenant: &TenantConfig) -> String {
    tenant
        .target()
        .map_or_else(|| "(no target)".to_string(), |t| t.endpoint().to_string())
}

/// Token hashes that cannot be the hash of a token anyone was given: one digit repeated
/// (the example configuration's zeros) or the hash of the empty string. Such a tenant
/// accepts no IdP, which `serve` would only show as 401s.
pub fn placeholder_credentials(tenant: &str, config: &TenantConfig) -> Vec<String> {
    config
        .tokens
        .iter()
        .filter(|token| {
            let hash = token.sha256.to_ascii_lowercase();
            let first = hash.chars().next();
            hash == EMPTY_SHA256 || hash.chars().all(|c| Some(c) == first)
        })
        .map(|token| {
            format!(
                "tenant {tenant}: token {:?} has a placeholder sha256 ({}...); \
                 run `scim-bridge token new` and put its hash here",
                token.id,
                token.sha256.get(..8).unwrap_or(&token.sha256)
            )
        })
        .collect()
}

/// Checks that the configured database can be used, without creating or changing it.
pub async fn check_database(url: &str) -> DatabaseReport {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        check_sqlite(rest)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        DatabaseReport {
            notes: Vec::new(),
            problem: check_postgres(url).await.err(),
        }
    } else {
        DatabaseReport {
            notes: Vec::new(),
            problem: Some("unsupported scheme; use sqlite://PATH or postgres://...".into()),
        }
    }
}

/// The file a `sqlite:` URL names (after the scheme), or `None` for an in-memory one.
/// sqlx reads `sqlite://x.db` as the relative path `x.db`; `sqlite:///x.db` is absolute.
pub fn sqlite_path(after_scheme: &str) -> Option<PathBuf> {
    let path = after_scheme.strip_prefix("//").unwrap_or(after_scheme);
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// For a `sqlite:` URL naming a relative path: where that path lands from here.
pub fn relative_sqlite_note(url: &str) -> Option<String> {
    relative_note(&sqlite_path(url.strip_prefix("sqlite:")?)?)
}

fn relative_note(file: &Path) -> Option<String> {
    file.is_relative().then(|| {
        let cwd = std::env::current_dir().unwrap_or_default();
        format!(
            "{} is relative to the working directory, so this run uses {}; \
             write sqlite:///ABSOLUTE/PATH (three slashes) to pin it",
            file.display(),
            cwd.join(file).display()
        )
    })
}

fn check_sqlite(after_scheme: &str) -> DatabaseReport {
    let mut report = DatabaseReport::default();
    let Some(file) = sqlite_path(after_scheme) else {
        report
            .notes
            .push("in memory: nothing survives a restart".into());
        return report;
    };
    if let Some(note) = relative_note(&file) {
        report.notes.push(note);
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    report.problem = sqlite_problem(&file, &dir);
    report
}

fn sqlite_problem(file: &Path, dir: &Path) -> Option<String> {
    if !dir.is_dir() {
        return Some(format!(
            "directory {} does not exist: create it (writable by the user that runs the \
             bridge) or point [database] url elsewhere",
            dir.display()
        ));
    }
    // SQLite writes a journal beside the database, so the directory must be writable.
    if let Err(e) = tempfile::Builder::new()
        .prefix(".scim-bridge-check")
        .tempfile_in(dir)
    {
        return Some(format!("directory {} is not writable: {e}", dir.display()));
    }
    if file.exists() {
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(file) {
            return Some(format!("{} is not writable: {e}", file.display()));
        }
    }
    None
}

/// Connects once to the PostgreSQL server and says, in words, why that failed.
async fn check_postgres(url: &str) -> Result<(), String> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::Connection;
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let connected =
        tokio::time::timeout(DATABASE_TIMEOUT, sqlx::PgConnection::connect_with(&options)).await;
    match connected {
        Err(_) => Err(format!(
            "no answer from {at} within {} s",
            DATABASE_TIMEOUT.as_secs()
        )),
        Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(
            format!("connection refused at {at} (is PostgreSQL running and listening there?)"),
        ),
        Ok(Err(sqlx::Error::Io(e))) => Err(format!("cannot reach {at}: {e}")),
        Ok(Err(e)) => Err(format!("PostgreSQL at {at}: {e}")),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
    }
}

/// For `serve`, `migrate` and `jobs`: when opening the store failed, the database
/// check's plain account of why ("directory ... does not exist", "connection refused at
/// HOST:PORT") instead of the driver's ("unable to open database file", "pool timed out").
pub async fn explain_open_failure(config: &Config, error: String) -> String {
    match check_database(&config.database.url).await.problem {
        Some(problem) => format!(
            "database {}: {problem}",
            app::redact_url(&config.database.url)
        ),
        None => error,
    }
}

#[cfg(test)]
#[path = "check_config_tests.rs"]
mod tests;
