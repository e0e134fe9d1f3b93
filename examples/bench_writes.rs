//! Write-side benchmark client (not a test), run by `bench/run.sh` against a running
//! `scim-bridge serve` and `bandwidth-sim`, each its own process:
//!
//! - `latency SAMPLES`: sequential POST /Users and PATCH /Users/{id}; the bridge-added
//!   latency of each is the client's latency minus the upstream time the bridge reports
//!   in its `Server-Timing: upstream;dur=` header.
//! - `bulk USERS CLIENTS RATE`: USERS creates from CLIENTS concurrent clients with the
//!   simulator limited to RATE requests/s; wall time against the bound calls / RATE.
//! - `propagate MEMBERS RATE`: one group of the first MEMBERS bulk-created users (created
//!   first, unmeasured, when `bulk` did not run), mapped to a role; time until the
//!   simulator holds the role for every member, and upstream calls per member.
//!
//! Peak RSS of the bridge (`--pid`) is read from /proc after each phase, after resetting
//! the peak at its start. Output lines start with `RESULT ` and are `key=value` pairs.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bandwidth_sim::{SimSnapshot, SimStats};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Bench {
    client: reqwest::Client,
    bridge: String,
    sim: String,
    token: String,
    pid: Option<u32>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let bench = Bench {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        bridge: flag("--bridge").unwrap_or_else(|| "http://127.0.0.1:18080".into()),
        sim: flag("--sim").unwrap_or_else(|| "http://127.0.0.1:18081".into()),
        token: flag("--token").unwrap_or_else(|| "bench-token".into()),
        pid: flag("--pid").map(|p| p.parse()).transpose()?,
    };
    let number = |i: usize, default: u64| -> Result<u64, BoxError> {
        Ok(positional
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    match positional.first().map(|s| s.as_str()) {
        Some("latency") => bench.latency(number(1, 500)? as usize).await,
        Some("bulk") => {
            let rate = number(3, 100)?;
            bench
                .bulk(number(1, 10_000)? as usize, number(2, 16)? as usize, rate)
                .await
        }
        Some("propagate") => {
            bench
                .propagate(number(1, 5_000)? as usize, number(2, 100)?)
                .await
        }
        _ => Err("usage: bench_writes latency|bulk|propagate ... [--bridge URL] [--sim URL] [--token T] [--pid PID]".into()),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{name}_p50_ms={:.3} {name}_p99_ms={:.3}",
        percentile(&values, 50.0),
        percentile(&values, 99.0)
    )
}

/// `Server-Timing: upstream;dur=12.3` -> 12.3 ms.
fn upstream_ms(response: &reqwest::Response) -> Option<f64> {
    let header = response.headers().get("server-timing")?.to_str().ok()?;
    header.split(',').find_map(|metric| {
        let mut parts = metric.split(';').map(str::trim);
        (parts.next()? == "upstream").then_some(())?;
        parts.find_map(|p| p.strip_prefix("dur=")?.parse().ok())
    })
}

fn new_user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Bench", "familyName": "Writer"},
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true
    })
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.bridge)
    }

    /// The simulator's upstream calls since `before`, the 429s among them, and the
    /// seconds the calls that were not refused take at `rate` per second.
    async fn upstream_since(
        &self,
        before: &SimStats,
        rate: u64,
    ) -> Result<(u64, u64, f64, u64), BoxError> {
        let after = self.snapshot().await?.stats;
        let calls = after.requests - before.requests;
        let limited = after.rate_limited - before.rate_limited;
        let pages = after.page_reads - before.page_reads;
        Ok((
            calls,
            limited,
            (calls - limited) as f64 / rate as f64,
            pages,
        ))
    }

    async fn snapshot(&self) -> Result<SimSnapshot, BoxError> {
        Ok(self
            .client
            .get(format!("{}/_sim/state", self.sim))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn set_sim_rate(&self, rate: Option<u64>) -> Result<(), BoxError> {
        self.client
            .post(format!("{}/_sim/faults", self.sim))
            .json(&json!({ "rateLimit": rate }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Resets the bridge's peak RSS so the next reading covers only what follows.
    fn reset_peak_rss(&self) {
        if let Some(pid) = self.pid {
            // Needs Linux 4.0+; a failure only means the peak covers the whole run.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    fn peak_rss_mib(&self) -> String {
        let Some(pid) = self.pid else {
            return "unknown".into();
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map(|kib| format!("{:.1}", kib / 1024.0))
            .unwrap_or_else(|| "unknown".into())
    }

    async fn create(&self, name: &str) -> Result<(reqwest::Response, Duration), BoxError> {
        let started = Instant::now();
        let response = self
            .client
            .post(self.url("/Users"))
            .bearer_auth(&self.token)
            .json(&new_user(name))
            .send()
            .await?;
        Ok((response, started.elapsed()))
    }

    async fn latency(&self, samples: usize) -> Result<(), BoxError> {
        self.set_sim_rate(None).await?;
        let run = std::process::id();
        let (mut post, mut patch, mut post_total, mut patch_total) =
            (vec![], vec![], vec![], vec![]);
        for i in 0..samples {
            let (response, elapsed) = self.create(&format!("lat{run}-{i}@example.com")).await?;
            if response.status() != reqwest::StatusCode::CREATED {
                return Err(format!("POST answered {}", response.status()).into());
            }
            let upstream = upstream_ms(&response).ok_or("no Server-Timing upstream on POST")?;
            let total = elapsed.as_secs_f64() * 1000.0;
            post.push(total - upstream);
            post_total.push(total);
            let body: Value = response.json().await?;
            let id = body["id"].as_str().ok_or("POST gave no id")?;

            let started = Instant::now();
            let response = self
                .client
                .patch(self.url(&format!("/Users/{id}")))
                .bearer_auth(&self.token)
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "name.familyName", "value": format!("Patched{i}")}]
                }))
                .send()
                .await?;
            let total = started.elapsed().as_secs_f64() * 1000.0;
            if !response.status().is_success() {
                return Err(format!("PATCH answered {}", response.status()).into());
            }
            let upstream = upstream_ms(&response).ok_or("no Server-Timing upstream on PATCH")?;
            patch.push(total - upstream);
            patch_total.push(total);
        }
        println!(
            "RESULT phase=latency samples={samples} {} {} {} {}",
            summary("post_added", post),
            summary("post_total", post_total),
            summary("patch_added", patch),
            summary("patch_total", patch_total)
        );
        Ok(())
    }

    async fn bulk(&self, users: usize, clients: usize, rate: u64) -> Result<(), BoxError> {
        self.set_sim_rate(Some(rate)).await?;
        // Let the simulator's current one-second window end, so the run starts clean.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = self.snapshot().await?.stats;
        self.reset_peak_rss();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let next = next.clone();
            let this = Bench {
                client: self.client.clone(),
                bridge: self.bridge.clone(),
                sim: self.sim.clone(),
                token: self.token.clone(),
                pid: self.pid,
            };
            tasks.push(tokio::spawn(async move {
                let (mut errors, mut retried) = (0u64, 0u64);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= users {
                        return (errors, retried);
                    }
                    // An IdP retries what the bridge asks it to retry (503/429); only
                    // an answer a retry would not fix counts as an error.
                    let name = format!("bulk{i}@example.com");
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        match this.create(&name).await {
                            Ok((r, _)) if r.status() == reqwest::StatusCode::CREATED => break,
                            Ok((r, _))
                                if (r.status().as_u16() == 503 || r.status().as_u16() == 429)
                                    && attempts < 5 =>
                            {
                                retried += 1;
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            _ => {
                                errors += 1;
                                break;
                            }
                        }
                    }
                }
            }));
        }
        let (mut errors, mut retried) = (0, 0);
        for task in tasks {
            let (e, r) = task.await?;
            errors += e;
            retried += r;
        }
        let wall = started.elapsed().as_secs_f64();
        let (calls, limited, bound, _) = self.upstream_since(&before, rate).await?;
        println!(
            "RESULT phase=bulk users={users} clients={clients} rate={rate} wall_s={wall:.2} \
             upstream_calls={} bound_s={bound:.2} ratio={:.3} bound_users_s={:.2} upstream_429={limited} \
             upstream_429_pct={:.2} idp_errors={errors} idp_retries={retried} peak_rss_mib={}",
            calls - limited,
            wall / bound,
            users as f64 / rate as f64,
            100.0 * limited as f64 / calls.max(1) as f64,
            self.peak_rss_mib()
        );
        Ok(())
    }

    /// The SCIM id of `bulk{i}@example.com`, if the bridge has it.
    async fn bulk_user_id(&self, i: usize) -> Result<Option<String>, BoxError> {
        let filter = format!("userName eq \"bulk{i}@example.com\"");
        let body: Value = self
            .client
            .get(self.url("/Users"))
            .query(&[("filter", filter.as_str()), ("attributes", "id")])
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["Resources"][0]["id"].as_str().map(str::to_string))
    }

    /// The first `members` bulk users' ids, creating those `bulk` did not (one at a
    /// time: the bridge paces creates to the upstream rate anyway).
    async fn members(&self, members: usize) -> Result<Vec<String>, BoxError> {
        let mut ids = Vec::with_capacity(members);
        for i in 0..members {
            if let Some(id) = self.bulk_user_id(i).await? {
                ids.push(id);
                continue;
            }
            let (response, _) = self.create(&format!("bulk{i}@example.com")).await?;
            if response.status() != reqwest::StatusCode::CREATED {
                return Err(format!("creating member {i}: {}", response.status()).into());
            }
            let body: Value = response.json().await?;
            ids.push(body["id"].as_str().ok_or("POST gave no id")?.to_string());
        }
        Ok(ids)
    }

    async fn propagate(&self, members: usize, rate: u64) -> Result<(), BoxError> {
        self.set_sim_rate(None).await?;
        let ids = self.members(members).await?;
        let group: Value = self
            .client
            .post(self.url("/Groups"))
            .bearer_auth(&self.token)
            .json(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": "bandwidth-role-Porting"}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let group = group["id"].as_str().ok_or("group create gave no id")?;
        self.set_sim_rate(Some(rate)).await?;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = self.snapshot().await?.stats;
        let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        let started = Instant::now();
        let response = self
            .client
            .patch(self.url(&format!("/Groups/{group}?excludedAttributes=members")))
            .bearer_auth(&self.token)
            .json(
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "add", "path": "members", "value": value}]}),
            )
            .send()
            .await?;
        let patch_ms = started.elapsed().as_secs_f64() * 1000.0;
        if !response.status().is_success() {
            return Err(format!("group PATCH answered {}", response.status()).into());
        }
        let wanted: std::collections::HashSet<String> = (0..members)
            .map(|i| format!("bulk{i}@example.com"))
            .collect();
        loop {
            let snapshot = self.snapshot().await?;
            let done = snapshot
                .users
                .iter()
                .filter(|u| wanted.contains(&u.username) && u.roles.iter().any(|r| r == "Porting"))
                .count();
            if done == members {
                break;
            }
            if started.elapsed() > Duration::from_secs(3 * 3600) {
                return Err(format!("propagation stuck at {done} of {members}").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let (calls, limited, bound, pages) = self.upstream_since(&before, rate).await?;
        println!(
            "RESULT phase=propagate members={members} rate={rate} patch_ms={patch_ms:.1} wall_s={wall:.2} \
             upstream_calls={} page_reads={pages} calls_per_member={:.3} bound_s={bound:.2} ratio={:.3} upstream_429={limited} upstream_429_pct={:.2}",
            calls - limited,
            (calls - limited) as f64 / members as f64,
            wall / bound,
            100.0 * limited as f64 / calls.max(1) as f64
        );
        Ok(())
    }
}
