use bandwidth_sim::ns::{NsConfig, NsSimulator};
use bandwidth_sim::{Dialect, Faults, SimConfig, Simulator};
use clap::Parser;
use std::time::Duration;

/// Which upstream system the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum System {
    Bandwidth,
    Netsapiens,
}

/// In-memory upstream user APIs (Bandwidth, NetSapiens) for tests, demos and rehearsals.
#[derive(Parser)]
#[command(name = "bandwidth-sim", version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// bandwidth (the default) or netsapiens (ns-api v2 under /ns-api/v2)
    #[arg(long, value_enum, default_value = "bandwidth")]
    system: System,
    /// v1 (OAuth2, JSON) or dashboard (Basic auth, XML/JSON under /api)
    #[arg(long, default_value = "v1")]
    dialect: Dialect,
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    #[arg(long, default_value = "sim-secret")]
    client_secret: String,
    #[arg(long, default_value = "sim-user")]
    basic_user: String,
    #[arg(long, default_value = "sim-password")]
    basic_password: String,
    /// Token lifetime in seconds
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Requests per second per credential (default: unlimited)
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Fraction of API requests answered 503
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// NetSapiens: comma-separated domain names
    #[arg(long, value_delimiter = ',', default_value = "acme,other")]
    ns_domains: Vec<String>,
    /// NetSapiens: how long a write answered 202 stays unreadable, in milliseconds
    #[arg(long, default_value_t = 300)]
    ns_async_delay_ms: u64,
    /// Comma-separated role names the bridge's credential does not hold
    #[arg(long, value_delimiter = ',')]
    withhold_roles: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.fail_rate) {
        return Err("--fail-rate must be between 0 and 1".into());
    }
    let faults = Faults {
        rate_limit: args.rate_limit,
        fail_rate: args.fail_rate,
        latency_ms: args.latency_ms,
        ..Faults::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    if args.system == System::Netsapiens {
        let config = NsConfig {
            domains: args.ns_domains,
            client_id: args.client_id,
            client_secret: args.client_secret,
            token_ttl: Duration::from_secs(args.token_ttl),
            async_delay: Duration::from_millis(args.ns_async_delay_ms),
            faults,
            ..NsConfig::default()
        };
        let handle = NsSimulator::start(config, listener).await?;
        println!("{}", handle.base_url());
        tokio::signal::ctrl_c().await?;
        handle.shutdown();
        return Ok(());
    }
    let config = SimConfig {
        dialect: args.dialect,
        client_id: args.client_id,
        client_secret: args.client_secret,
        basic_user: args.basic_user,
        basic_password: args.basic_password,
        token_ttl: Duration::from_secs(args.token_ttl),
        faults,
        withheld_roles: args
            .withhold_roles
            .into_iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        ..SimConfig::default()
    };
    let handle = Simulator::start(config, listener).await?;
    println!("{}", handle.base_url());
    tokio::signal::ctrl_c().await?;
    handle.shutdown();
    Ok(())
}
