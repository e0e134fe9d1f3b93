//! Command line: `serve`, `migrate`, `check-config`, `health`, `token new`, `basic new`,
//! `admin new`, `jobs`, `reconcile`, `demo`. `jobs` and `reconcile` go through the admin
//! layer, as the console does, and are audited as `admin:cli:<user>`.
mod check_config;
mod health;
mod jobs;
mod reconcile;

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Parser, Subcommand};
use rand::RngCore;

use crate::app;
use crate::config::Config;
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "scim-bridge",
    version,
    about = "SCIM 2.0 bridge from identity providers to Bandwidth"
)]
pub struct Cli {
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the SCIM API (applying pending migrations first unless told not to).
    Serve {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
        /// Do not migrate; refuse to start if the database lacks a migration. For
        /// replicas sharing PostgreSQL, after `scim-bridge migrate` ran once.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration: syntax, secrets, upstream credentials and role names.
    CheckConfig {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Ask a running bridge's /healthz (at the configured listen address, or --url);
    /// exit code 0 when it answers. For container health checks and scripts.
    Health {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// The URL to ask instead of the configured listen address's /healthz.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// Bearer tokens for IdPs.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// HTTP Basic credentials for IdPs (Okta, OneLogin).
    Basic {
        #[command(subcommand)]
        command: BasicCommand,
    },
    /// Admin console accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Inspect and re-queue the role-sync jobs; approve deprovisions the guard held.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Compare a tenant's upstream users with the bridge's state and report the drift;
    /// optionally repair it.
    Reconcile {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Enqueue the sync jobs that restore what the IdP said (the running bridge's
        /// worker carries them out) and re-create active users gone upstream.
        #[arg(long)]
        repair: bool,
        /// Deactivate upstream users the bridge does not manage (default: report only).
        #[arg(long)]
        deactivate_orphans: bool,
        #[arg(long, value_enum, default_value_t = reconcile::Format::Table)]
        format: reconcile::Format,
    },
    /// Run the bridge and the built-in Bandwidth simulator in one process, on SQLite in a
    /// temporary directory, with a demo tenant.
    Demo(crate::demo::DemoArgs),
}

/// Which held deprovisions `jobs approve` and `jobs reject` act on: a tenant's, or one.
#[derive(Debug, clap::Args)]
pub struct HeldDeprovisions {
    #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
    pub config: PathBuf,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub id: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs (oldest first).
    List {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        /// pending, running or failed; held lists only the deprovisions the guard holds.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Release deprovisions the mass-deprovision guard held (all of the tenant's, or one
    /// by id) to the worker, which carries them out upstream. Failed ones are retried.
    Approve(HeldDeprovisions),
    /// Drop deprovisions the guard held (all of the tenant's, or one by id): the
    /// upstream users keep their access.
    Reject(HeldDeprovisions),
    /// Re-queue failed jobs now: all of them, a tenant's, or one by id.
    Retry {
        #[arg(long, short, env = "SCIM_BRIDGE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        id: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print a fresh random password and the `[[admin.accounts]]` entry for a console
    /// account with its argon2id hash.
    New {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = AdminRoleArg::Viewer)]
        role: AdminRoleArg,
        /// Limit the account to these tenants (repeat); default: every tenant.
        #[arg(long)]
        tenant: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AdminRoleArg {
    Viewer,
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh random token and the SHA-256 hash to put in the configuration.
    New,
}

#[derive(Debug, Subcommand)]
pub enum BasicCommand {
    /// Print a fresh random password and its argon2id hash for a `[[tenants.NAME.basic]]`
    /// entry with this username.
    New {
        #[arg(long)]
        username: String,
    },
}

/// A random password (192 bits, URL-safe) and its argon2id PHC string.
pub fn new_basic_password() -> Result<(String, String), String> {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = crate::http::auth::hash_password(&password)?;
    Ok((password, hash))
}

fn print_new_basic(username: &str) -> Result<(), String> {
    if username.is_empty() || username.contains(':') {
        return Err("the username must be non-empty and without ':'".into());
    }
    let (password, hash) = new_basic_password()?;
    println!("username:      {username}");
    println!("password:      {password}");
    println!("password_hash: {hash}");
    println!();
    println!(
        "Give the username and password to the IdP (HTTP Basic) and put the hash in the config:"
    );
    println!("  [[tenants.NAME.basic]]");
    println!("  id = \"okta-basic\"");
    println!("  username = \"{username}\"");
    println!("  password_hash = '{hash}'");
    Ok(())
}

fn print_new_admin(name: &str, role: AdminRoleArg, tenants: &[String]) -> Result<(), String> {
    if name.is_empty() || name.contains(['"', '\\']) {
        return Err("the name must be non-empty and without quotes or backslashes".into());
    }
    let (password, hash) = new_basic_password()?;
    let role = match role {
        AdminRoleArg::Viewer => "viewer",
        AdminRoleArg::Operator => "operator",
    };
    println!("name:     {name}");
    println!("password: {password}");
    println!();
    println!("Sign in at /admin/ with the name and password; put this in the config:");
    println!("  [[admin.accounts]]");
    println!("  name = \"{name}\"");
    println!("  role = \"{role}\"");
    println!("  password_hash = '{hash}'");
    if !tenants.is_empty() {
        let list: Vec<String> = tenants.iter().map(|t| format!("{t:?}")).collect();
        println!("  tenants = [{}]", list.join(", "));
    }
    Ok(())
}

pub async fn run(cli: Cli) -> ExitCode {
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve { config, no_migrate } => serve(config, no_migrate).await,
        Command::Migrate { config } => migrate(config).await,
        Command::CheckConfig { config } => check_config::run(&config).await,
        Command::Health {
            config,
            url,
            timeout_secs,
        } => health::run(config.as_deref(), url, timeout_secs).await,
        Command::Token {
            command: TokenCommand::New,
        } => {
            let (token, hash) = crate::http::auth::new_token();
            println!("token:  {token}");
            println!("sha256: {hash}");
            println!();
            println!("Give the token to the IdP (Authorization: Bearer <token>) and put the hash in the config:");
            println!("  tokens = [{{ id = \"okta\", sha256 = \"{hash}\" }}]");
            Ok(())
        }
        Command::Basic {
            command: BasicCommand::New { username },
        } => print_new_basic(&username),
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Admin {
            command: AdminCommand::New { name, role, tenant },
        } => print_new_admin(&name, role, &tenant),
        Command::Jobs { command } => jobs::run(command).await,
        Command::Reconcile {
            config,
            tenant,
            repair,
            deactivate_orphans,
            format,
        } => {
            let options = crate::provision::reconcile::Options {
                repair,
                deactivate_orphans,
            };
            match jobs::admin_service(&config).await {
                Ok(service) => reconcile::run(&service, &tenant, options, format).await,
                Err(e) => Err(e),
            }
        }
    };
    telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf, no_migrate: bool) -> Result<(), String> {
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    if let Some(note) = check_config::relative_sqlite_note(&config.database.url) {
        tracing::warn!("database: {note}");
    }
    let migrate = config.database.migrate_on_start && !no_migrate;
    let state = match app::build_with(&config, migrate).await {
        Ok(state) => state,
        Err(e) if e.0.starts_with("database ") => {
            return Err(check_config::explain_open_failure(&config, e.0).await)
        }
        Err(e) => return Err(e.0),
    };
    let mut worker = config.worker.clone();
    worker.instance_id = worker
        .instance_id
        .or_else(|| Some(crate::worker::default_instance_id(&config.server.listen)));
    let _worker = app::start_worker(&state, &worker);
    let _reconcilers = app::start_reconcilers(&state);
    let _intent_recovery = app::start_intent_recovery(&state);
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    tracing::info!(listen = %config.server.listen, tenants = config.tenants.len(), https = config.server.tls.is_some(), "scim-bridge serving");
    match &config.server.tls {
        Some(tls) => app::serve_tls(state, listener, tls).await,
        None => app::serve(state, listener).await,
    }
    .map_err(|e| e.to_string())
}

/// Applies the migrations and exits: run once per release before replicas that
/// `serve --no-migrate` start (sqlx takes an advisory lock on PostgreSQL, so even two
/// concurrent runs are safe).
async fn migrate(path: PathBuf) -> Result<(), String> {
    let mut config = Config::load(&path).map_err(|e| e.to_string())?;
    config.database.max_connections = 1;
    if let Err(e) = app::open_store(&config, true).await {
        return Err(check_config::explain_open_failure(&config, e.0).await);
    }
    println!(
        "database {} is migrated",
        app::redact_url(&config.database.url)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_passwords_are_random_and_verify_against_their_hash() {
        use argon2::{PasswordHash, PasswordVerifier};
        let (password, hash) = new_basic_password().unwrap();
        let (other, _) = new_basic_password().unwrap();
        assert_ne!(password, other);
        assert!(hash.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&hash).unwrap();
        let argon2 = argon2::Argon2::default();
        assert!(argon2.verify_password(password.as_bytes(), &parsed).is_ok());
        assert!(argon2.verify_password(other.as_bytes(), &parsed).is_err());
    }
}
