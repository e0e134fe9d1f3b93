//! Requests and upstream calls in the last hour, and breaker states, read from the
//! process's own Prometheus counters: a sample a minute is kept for an hour, and the
//! last hour's count is now minus the oldest sample. No request path is touched.
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(3600);
const SAMPLE_EVERY: Duration = Duration::from_secs(60);

/// Counter totals by key: `requests/<tenant>` and `upstream/<account>`; gauges by
/// `breaker/<account>`.
type Totals = HashMap<String, f64>;

#[derive(Default)]
pub struct Activity {
    samples: Mutex<VecDeque<(Instant, Totals)>>,
}

static ACTIVITY: OnceLock<Activity> = OnceLock::new();

/// The process's sampler, started on first use (the console builds it).
pub fn activity() -> &'static Activity {
    ACTIVITY.get_or_init(|| {
        let first = Activity::default();
        first.sample();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    activity().sample();
                }
            });
        }
        first
    })
}

fn current() -> Totals {
    totals(&crate::telemetry::metrics().render())
}

/// The label `name`'s value in a Prometheus label set (`a="x",b="y"`).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

/// Sums the counters this module reads out of Prometheus text.
pub(crate) fn totals(text: &str) -> Totals {
    let mut out = Totals::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        let key = match name {
            "scim_bridge_scim_requests_total" => {
                label(labels, "tenant").map(|t| format!("requests/{t}"))
            }
            "scim_bridge_upstream_requests_total" => {
                label(labels, "account").map(|a| format!("upstream/{a}"))
            }
            "scim_bridge_upstream_breaker_state" => {
                label(labels, "account").map(|a| format!("breaker/{a}"))
            }
            _ => None,
        };
        if let Some(key) = key {
            *out.entry(key).or_default() += value;
        }
    }
    out
}

impl Activity {
    fn sample(&self) {
        let now = Instant::now();
        let totals = current();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back((now, totals));
        while samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
        {
            samples.pop_front();
        }
    }

    /// (IdP requests of `tenant`, upstream calls to `account`) in the last hour, or
    /// since the process started when that is less than an hour ago.
    pub fn last_hour(&self, tenant: &str, account: &str) -> (u64, u64) {
        let now = current();
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = samples.front().map(|(_, t)| t);
        let delta = |key: String| {
            let then = oldest.and_then(|t| t.get(&key)).copied().unwrap_or(0.0);
            (now.get(&key).copied().unwrap_or(0.0) - then).max(0.0) as u64
        };
        (
            delta(format!("requests/{tenant}")),
            delta(format!("upstream/{account}")),
        )
    }

    /// IdP requests of `tenant` this process has answered since it started.
    pub fn requests_total(&self, tenant: &str) -> u64 {
        current()
            .get(&format!("requests/{tenant}"))
            .copied()
            .unwrap_or(0.0) as u64
    }

    /// The breaker of `account`: `closed`, `half-open`, `open` (closed when unseen).
    pub fn breaker(&self, account: &str) -> &'static str {
        match current().get(&format!("breaker/{account}")).copied() {
            Some(v) if v >= 2.0 => "open",
            Some(v) if v >= 1.0 => "half-open",
            _ => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counters_per_tenant_and_account() {
        let text = "# TYPE x counter\n\
            scim_bridge_scim_requests_total{endpoint=\"/Users\",method=\"GET\",status=\"200\",tenant=\"acme\"} 3\n\
            scim_bridge_scim_requests_total{endpoint=\"/Users\",method=\"POST\",status=\"201\",tenant=\"acme\"} 2\n\
            scim_bridge_upstream_requests_total{account=\"990\",operation=\"get\",status=\"200\"} 7\n\
            scim_bridge_upstream_breaker_state{account=\"990\"} 2\n";
        let t = totals(text);
        assert_eq!(t["requests/acme"], 5.0);
        assert_eq!(t["upstream/990"], 7.0);
        assert_eq!(t["breaker/990"], 2.0);
    }
}
