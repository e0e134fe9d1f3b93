//! Group benchmark (not a test): the latency of a PATCH adding N members, and how long
//! their role propagation takes against the simulator limited to R requests/s, compared
//! with the bound (upstream calls needed / R).
//!
//! `cargo run --release --example group_bench -- [MEMBERS] [RATE]` (defaults 1000, 100).
use std::time::{Duration, Instant};

use bandwidth_sim::{Faults, SimConfig, Simulator};
use serde_json::json;

const TOKEN: &str = "bench-token";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let members: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let rate: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100);

    let sim = Simulator::start(
        SimConfig::default(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let hash = hex::encode(scim_bridge::http::auth::sha256(TOKEN));
    let config = scim_bridge::demo::demo_config(
        scim_bridge::demo::DemoTarget::Bandwidth,
        &sim.base_url(),
        &db,
        &hash,
        "127.0.0.1:0",
    )
    .replace(
        "rate_limit_per_second = 50",
        &format!("rate_limit_per_second = {rate}"),
    );
    let config = scim_bridge::config::Config::from_toml_str(&config)?;
    let state = scim_bridge::app::build(&config).await?;
    let worker_config = scim_bridge::config::WorkerConfig {
        concurrency: 16,
        poll_interval_ms: 100,
        ..config.worker.clone()
    };
    let _worker = scim_bridge::app::start_worker(&state, &worker_config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/scim/v2", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, scim_bridge::http::router(state)).await });
    let client = reqwest::Client::new();

    eprintln!("creating {members} users...");
    let mut ids = Vec::with_capacity(members);
    for i in 0..members {
        let user = json!({"userName": format!("g{i}@example.com"), "name": {"givenName": "G", "familyName": "B"},
                          "emails": [{"value": format!("g{i}@example.com"), "primary": true}]});
        let body: serde_json::Value = client
            .post(format!("{base}/Users"))
            .bearer_auth(TOKEN)
            .json(&user)
            .send()
            .await?
            .json()
            .await?;
        ids.push(body["id"].as_str().ok_or("create failed")?.to_string());
    }
    let body: serde_json::Value = client
        .post(format!("{base}/Groups"))
        .bearer_auth(TOKEN)
        .json(&json!({"displayName": "bandwidth-role-Porting"}))
        .send()
        .await?
        .json()
        .await?;
    let group = body["id"]
        .as_str()
        .ok_or("group create failed")?
        .to_string();

    sim.set_faults(Faults {
        rate_limit: Some(rate),
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = sim.snapshot().stats;
    let value: Vec<serde_json::Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "add", "path": "members", "value": value}]});
    let started = Instant::now();
    let response = client
        .patch(format!("{base}/Groups/{group}?excludedAttributes=members"))
        .bearer_auth(TOKEN)
        .json(&patch)
        .send()
        .await?;
    let patch_latency = started.elapsed();
    if !response.status().is_success() {
        return Err(format!("PATCH answered {}", response.status()).into());
    }
    loop {
        let done = sim
            .snapshot()
            .users
            .iter()
            .filter(|u| u.roles.iter().any(|r| r == "Porting"))
            .count();
        if done == members {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err("propagation did not finish in an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let propagation = started.elapsed();
    let after = sim.snapshot().stats;
    let calls = after.requests - before.requests;
    let limited = after.rate_limited - before.rate_limited;
    let needed = calls - limited;
    let bound = needed as f64 / f64::from(rate);
    println!("members: {members}, upstream limit: {rate} req/s");
    println!(
        "PATCH adding {members} members: {:.1} ms",
        patch_latency.as_secs_f64() * 1000.0
    );
    println!(
        "propagation: {:.2} s for {needed} upstream calls; bound {:.2} s; ratio {:.3}",
        propagation.as_secs_f64(),
        bound,
        propagation.as_secs_f64() / bound
    );
    println!(
        "upstream 429s: {limited} of {calls} calls ({:.2}%)",
        100.0 * limited as f64 / calls.max(1) as f64
    );
    Ok(())
}
