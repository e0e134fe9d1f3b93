//! `scim-bridge demo`: the simulator and the bridge in one process, so a newcomer can
//! provision a user with curl a minute after cloning.
use std::path::PathBuf;

use bandwidth_sim::{SimConfig, Simulator};
use clap::Args;

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
    /// Where the Bandwidth simulator listens.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub sim_listen: String,
    /// Keep the bridge's SQLite database here instead of in a temporary directory. The
    /// simulator keeps its users in memory only and starts empty on every run, so users
    /// kept in this database are not in the simulator on the next run.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The demo tenant's configuration, pointing at the simulator's default credentials.
pub fn demo_config(sim_url: &str, database_url: &str, token_sha256: &str, listen: &str) -> String {
    let sim = SimConfig::default();
    format!(
        r#"
[server]
listen = "{listen}"

[database]
url = "{database_url}"

[tenants.demo]
tokens = [{{ id = "demo", sha256 = "{token_sha256}" }}]
base_roles = ["basicAccess"]

# Group "bandwidth-role-Porting" grants the Porting role; "Bandwidth Admins" makes
# its members account admins.
[tenants.demo.groups]
role_prefix = "bandwidth-role-"

[[tenants.demo.groups.map]]
display_name = "Bandwidth Admins"
account_scope = "ACCOUNT_ADMIN"
roles = ["User Administrator"]

[tenants.demo.target]
kind = "bandwidth"
dialect = "v1"
base_url = "{sim_url}"
account_id = "{account}"
client_id = "{client_id}"
client_secret = "{client_secret}"
rate_limit_per_second = 50
"#,
        account = sim
            .accounts
            .first()
            .map(|a| a.0.as_str())
            .unwrap_or("9900000"),
        client_id = sim.client_id,
        client_secret = sim.client_secret,
    )
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
    let sim = Simulator::start(SimConfig::default(), sim_listener)
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
    let mut config_text = demo_config(&sim.base_url(), &database_url, &hash, &args.listen);
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

    println!("scim-bridge demo");
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
        "  curl -s -X POST {base}/Users -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n    -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"jdoe@example.com\",\"name\":{{\"givenName\":\"Jane\",\"familyName\":\"Doe\"}},\"emails\":[{{\"value\":\"jdoe@example.com\",\"primary\":true}}]}}'"
    );
    println!("Then see what reached Bandwidth:");
    println!("  curl -s {}/_sim/state", sim.base_url());
    println!();
    println!("Ctrl-C stops the demo.");
    let served = app::serve(state, listener).await.map_err(|e| e.to_string());
    sim.shutdown();
    served
}
