//! `scim-bridge demo`: the simulator and the bridge in one process, so a newcomer can
//! provision a user with curl a minute after cloning.
use std::path::PathBuf;

use bandwidth_sim::ns::{NsConfig, NsSimHandle, NsSimulator, DOMAIN_KEY};
use bandwidth_sim::{SimConfig, SimHandle, Simulator};
use clap::{Args, ValueEnum};

use crate::app;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the bridge listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The bearer token the IdP (or curl) presents; random when not given.
    #[arg(long)]
    pub token: Option<String>,
    /// The system the demo tenant provisions (its simulator runs alongside).
    #[arg(long, value_enum, default_value_t = DemoTarget::Bandwidth)]
    pub target: DemoTarget,
    /// Where the simulator listens.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub sim_listen: String,
    /// Keep the bridge's SQLite database here instead of in a temporary directory. The
    /// simulator keeps its users in memory only and starts empty on every run, so users
    /// kept in this database are not in the simulator on the next run.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoTarget {
    Bandwidth,
    Netsapiens,
}

impl DemoTarget {
    fn system(self) -> &'static str {
        match self {
            DemoTarget::Bandwidth => "Bandwidth",
            DemoTarget::Netsapiens => "NetSapiens",
        }
    }
}

/// The simulator of the demo's target.
enum DemoSim {
    Bandwidth(SimHandle),
    Netsapiens(NsSimHandle),
}

impl DemoSim {
    async fn start(target: DemoTarget, listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        Ok(match target {
            DemoTarget::Bandwidth => {
                DemoSim::Bandwidth(Simulator::start(SimConfig::default(), listener).await?)
            }
            DemoTarget::Netsapiens => {
                DemoSim::Netsapiens(NsSimulator::start(NsConfig::default(), listener).await?)
            }
        })
    }

    fn base_url(&self) -> String {
        match self {
            DemoSim::Bandwidth(s) => s.base_url(),
            DemoSim::Netsapiens(s) => s.base_url(),
        }
    }

    fn shutdown(&self) {
        match self {
            DemoSim::Bandwidth(s) => s.shutdown(),
            DemoSim::Netsapiens(s) => s.shutdown(),
        }
    }
}

/// The demo tenant's configuration, pointing at the simulator's default credentials.
pub fn demo_config(
    target: DemoTarget,
    sim_url: &str,
    database_url: &str,
    token_sha256: &str,
    listen: &str,
) -> String {
    let TenantPart { access, kind, keys } = match target {
        DemoTarget::Bandwidth => bandwidth_tenant(),
        DemoTarget::Netsapiens => netsapiens_tenant(),
    };
    format!(
        r#"
[server]
listen = "{listen}"

[database]
url = "{database_url}"

[tenants.demo]
tokens = [{{ id = "demo", sha256 = "{token_sha256}" }}]
{access}
[tenants.demo.target]
kind = "{kind}"
base_url = "{sim_url}"
rate_limit_per_second = 50
{keys}"#
    )
}

/// What differs between the demo tenants: their roles and groups, the target's kind
/// and the target's own keys.
struct TenantPart {
    access: String,
    kind: &'static str,
    keys: String,
}

fn netsapiens_tenant() -> TenantPart {
    TenantPart {
        access: r#"base_roles = []

# Group "PBX Admins" makes its members Office Managers, "Call Center" agents; a user
# in both gets the higher scope (Office Manager).
[[tenants.demo.groups.map]]
display_name = "PBX Admins"
roles = ["Office Manager"]

[[tenants.demo.groups.map]]
display_name = "Call Center"
roles = ["Call Center Agent"]
"#
        .into(),
        kind: "netsapiens",
        keys: format!(
            r#"domain = "acme"
api_key = "{DOMAIN_KEY}"
extension_range = [2000, 2999]
extension_source = {{ kind = "phone", type = "work" }}
site = "HQ"
"#
        ),
    }
}

fn bandwidth_tenant() -> TenantPart {
    let sim = SimConfig::default();
    let account = sim.accounts.first().map(|a| a.0.as_str());
    TenantPart {
        access: r#"base_roles = ["basicAccess"]

# Group "bandwidth-role-Porting" grants the Porting role; "Bandwidth Admins" makes
# its members account admins.
[tenants.demo.groups]
role_prefix = "bandwidth-role-"

[[tenants.demo.groups.map]]
display_name = "Bandwidth Admins"
account_scope = "ACCOUNT_ADMIN"
roles = ["User Administrator"]
"#
        .into(),
        kind: "bandwidth",
        keys: format!(
            r#"dialect = "v1"
account_id = "{account}"
client_id = "{client_id}"
client_secret = "{client_secret}"
"#,
            account = account.unwrap_or("9900000"),
            client_id = sim.client_id,
            client_secret = sim.client_secret,
        ),
    }
}

/// The SCIM user the printed curl example creates; for NetSapiens its work phone
/// carries the extension (the demo tenant's extension source).
fn example_user(target: DemoTarget) -> String {
    let mut user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "jdoe@example.com",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": "jdoe@example.com", "primary": true}]
    });
    if target == DemoTarget::Netsapiens {
        user["phoneNumbers"] =
            serde_json::json!([{"value": "+1 919 555 1234 x2001", "type": "work"}]);
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            serde_json::json!({"department": "Sales"});
    }
    user.to_string()
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    let sim_listener = tokio::net::TcpListener::bind(&args.sim_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} for the simulator: {e}",
                args.sim_listen
            )
        })?;
    let sim = DemoSim::start(args.target, sim_listener)
        .await
        .map_err(|e| format!("simulator: {e}"))?;

    // The temporary directory lives as long as this function, i.e. the whole demo.
    let temp;
    let kept = args.data_dir.is_some();
    let data_dir = match args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            dir
        }
        None => {
            temp = tempfile::tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let (token, hash) = match args.token {
        Some(token) => {
            let hash = hex::encode(crate::http::auth::sha256(&token));
            (token, hash)
        }
        None => crate::http::auth::new_token(),
    };
    let database_url = format!("sqlite://{}", data_dir.join("scim-bridge.db").display());
    let (admin_password, admin_hash) = crate::cli::new_basic_password()?;
    let mut config_text = demo_config(
        args.target,
        &sim.base_url(),
        &database_url,
        &hash,
        &args.listen,
    );
    // The console, with one operator whose password is printed below.
    config_text.push_str(&format!(
        "\n[admin]\n[[admin.accounts]]\nname = \"admin\"\nrole = \"operator\"\npassword_hash = '{admin_hash}'\n"
    ));
    let config = Config::from_toml_str_with_env(&config_text).map_err(|e| e.to_string())?;
    let state = app::build(&config).await.map_err(|e| e.to_string())?;
    let _worker = app::start_worker(&state, &config.worker);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let base = format!(
        "http://{}/scim/v2",
        listener.local_addr().map_err(|e| e.to_string())?
    );

    println!("scim-bridge demo ({})", args.target.system());
    println!("  SCIM base URL:  {base}");
    println!("  bearer token:   {token}");
    println!(
        "  simulator:      {} (state: {}/_sim/state)",
        sim.base_url(),
        sim.base_url()
    );
    println!("  database:       {}", data_dir.display());
    println!(
        "  admin console:  {}/admin/ (name: admin, password: {admin_password})",
        base.trim_end_matches("/scim/v2")
    );
    if kept {
        println!(
            "  note:           the database is kept; the simulator is not (it starts empty on\n                  every run, so users from earlier runs are missing upstream)"
        );
    }
    println!();
    println!("Create a user:");
    println!(
        "  curl -s -X POST {base}/Users -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n    -d '{}'",
        example_user(args.target)
    );
    println!("Then see what reached {}:", args.target.system());
    println!("  curl -s {}/_sim/state", sim.base_url());
    println!();
    println!("Ctrl-C stops the demo.");
    let served = app::serve(state, listener).await.map_err(|e| e.to_string());
    sim.shutdown();
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_demo_tenants_are_valid_configurations() {
        for target in [DemoTarget::Bandwidth, DemoTarget::Netsapiens] {
            let text = demo_config(
                target,
                "http://127.0.0.1:18781",
                "sqlite::memory:",
                &"0".repeat(64),
                "127.0.0.1:18780",
            );
            let config = Config::from_toml_str_with_env(&text);
            assert!(config.is_ok(), "{target:?}: {:?}", config.err());
        }
        let user: serde_json::Value =
            serde_json::from_str(&example_user(DemoTarget::Netsapiens)).expect("json");
        assert_eq!(user["phoneNumbers"][0]["value"], "+1 919 555 1234 x2001");
    }
}
