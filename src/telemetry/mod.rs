//! Logging, metrics and request ids. Request and upstream logs carry methods, paths,
//! statuses and latencies, never bodies with secrets or Authorization headers.
//!
//! Every IdP request runs with a request id (the IdP's `X-Request-Id` when it is sane,
//! else a new one) in a task-local, so that the Bandwidth calls made for it carry the
//! same id without threading it through the domain; worker jobs run under ids of their own.
use std::future::Future;
use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

mod plain;
mod sink;

pub use sink::flush;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `RUST_LOG` overrides the default level (`info`, with sqlx's per-query lines off).
/// Text logs are coloured only on a terminal (not in a file, a pipe or journald) and
/// never when `NO_COLOR` is set; uncoloured lines are written by [`plain`], the cheaper
/// path (every request writes one). Lines are written in batches ([`sink`]); call
/// [`flush`] before the process exits.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let colours = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(sink::LogWriter::start());
    let _ = match format {
        LogFormat::Text if colours => builder.try_init(),
        LogFormat::Text => builder
            .fmt_fields(plain::fields())
            .event_format(plain::Line)
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The header a request id travels in, from the IdP and to Bandwidth.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request (or job) the current task works for, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as its request id.
pub async fn with_request_id<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// An incoming id is kept only when it is short and plain, so that it cannot forge log
/// lines or smuggle anything into the upstream header.
pub fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A random (version 4) UUID in simple form. Drawn from the thread's seeded generator
/// rather than `Uuid::new_v4`, which asks the kernel for randomness (a system call) on
/// every request; an id needs to be unique, not secret.
pub fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .simple()
        .to_string()
}

/// Latency buckets (seconds) for every `*_duration_seconds` histogram: from a fast
/// local read to the IdP's timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the bridge records, with the `# HELP` text `/metrics` shows for it. A
/// metric recorded anywhere in `src/` must be listed here (a test checks).
const METRICS: &[(&str, Kind, &str)] = &[
    (
        "scim_bridge_scim_requests_total",
        Kind::Counter,
        "SCIM requests answered, by route template, method, status and tenant",
    ),
    (
        "scim_bridge_scim_request_duration_seconds",
        Kind::Histogram,
        "Time to answer a SCIM request, by route template, method and tenant",
    ),
    (
        "scim_bridge_scim_deadline_exceeded_total",
        Kind::Counter,
        "Requests answered 503 because they outlasted server.request_timeout_secs",
    ),
    (
        "scim_bridge_upstream_requests_total",
        Kind::Counter,
        "Calls to the upstream API (Bandwidth), by account, operation and status",
    ),
    (
        "scim_bridge_upstream_request_duration_seconds",
        Kind::Histogram,
        "Duration of upstream API calls, by account, operation and status",
    ),
    (
        "scim_bridge_upstream_rate_limited_total",
        Kind::Counter,
        "Upstream calls that waited for or were refused by a rate limit",
    ),
    (
        "scim_bridge_upstream_retries_total",
        Kind::Counter,
        "Upstream calls retried after a transient failure",
    ),
    (
        "scim_bridge_upstream_breaker_state",
        Kind::Gauge,
        "Circuit breaker per upstream account: 0 closed, 1 half-open, 2 open",
    ),
    (
        "scim_bridge_jobs",
        Kind::Gauge,
        "Role-sync jobs in the database, by tenant and state (read at each scrape)",
    ),
    (
        "scim_bridge_drift_users",
        Kind::Gauge,
        "Users found drifted by the last reconcile, by tenant and kind",
    ),
];

fn describe_metrics() {
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

/// The process's Prometheus recorder, installed as the global `metrics` recorder on first
/// use; later calls (a second `build` in the same process, as tests do) share it. Any
/// `metrics::` macro anywhere in the process therefore ends up in `/metrics`.
pub fn metrics() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            // Only an empty bucket list is refused; without buckets they become summaries.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder was installed first; /metrics will miss what it records");
            }
            describe_metrics();
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Drains recorded histogram samples into their buckets every few seconds. The recorder
/// keeps every sample (24 bytes: value and instant) until upkeep runs, which otherwise
/// happens only at a scrape: a bridge nobody scrapes grew by about 24 MiB per million
/// requests.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms drain only at scrapes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(sane_request_id("okta-1f2e:3.4_x"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id(&"a".repeat(129)));
        assert!(sane_request_id(&new_request_id()));
    }

    #[tokio::test]
    async fn the_id_is_visible_inside_its_scope_only() {
        assert_eq!(request_id(), None);
        let seen = with_request_id("abc".into(), async { request_id() }).await;
        assert_eq!(seen.as_deref(), Some("abc"));
    }

    /// The metric names recorded in `src/` (the string after `counter!(`, `gauge!(` or
    /// `histogram!(`), so a new metric cannot ship without its `# HELP`.
    fn recorded_metric_names() -> Vec<String> {
        fn walk(dir: &std::path::Path, names: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, names);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for macro_call in ["counter!(", "gauge!(", "histogram!("] {
                        for (at, _) in text.match_indices(macro_call) {
                            let rest = text[at + macro_call.len()..].trim_start();
                            let name = rest.strip_prefix('"').and_then(|r| r.split('"').next());
                            // Only metric-shaped literals (this test's own strings are not).
                            if let Some(name) = name.filter(|n| {
                                !n.is_empty()
                                    && n.bytes().all(|b| {
                                        b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()
                                    })
                            }) {
                                names.push(name.to_string());
                            }
                        }
                    }
                }
            }
        }
        let mut names = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut names,
        );
        names
    }

    #[test]
    fn every_recorded_metric_has_help() {
        let names = recorded_metric_names();
        assert!(
            names.iter().any(|n| n == "scim_bridge_scim_requests_total"),
            "{names:?}"
        );
        for name in names.iter().filter(|n| !n.starts_with("scim_bridge_test_")) {
            assert!(
                METRICS.iter().any(|m| m.0 == name),
                "metric {name} has no entry in telemetry::METRICS"
            );
        }
    }

    #[test]
    fn the_recorder_is_installed_once_and_shared() {
        let a = metrics();
        metrics::counter!("scim_bridge_test_shared_total").increment(2);
        let b = metrics();
        assert!(b.render().contains("scim_bridge_test_shared_total 2"));
        assert!(a.render().contains("scim_bridge_test_shared_total"));
    }
}
