//! Logging, metrics and request ids. Request and upstream logs carry methods, paths,
//! statuses and latencies, never bodies with secrets or Authorization headers.
//!
//! Every IdP request runs with a request id (the IdP's `X-Request-Id` when it is sane,
//! else a new one) in a task-local, so that the Bandwidth calls made for it carry the
//! same id without threading it through the domain; worker jobs run under ids of their own.
use std::future::Future;
use std::sync::OnceLock;

use clap::ValueEnum;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `RUST_LOG` overrides the default level (`info`, with sqlx's per-query lines off).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
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

pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Latency buckets (seconds) for every `*_duration_seconds` histogram: from a fast
/// local read to the IdP's timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

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
            handle
        })
        .clone()
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

    #[test]
    fn the_recorder_is_installed_once_and_shared() {
        let a = metrics();
        metrics::counter!("scim_bridge_test_shared_total").increment(2);
        let b = metrics();
        assert!(b.render().contains("scim_bridge_test_shared_total 2"));
        assert!(a.render().contains("scim_bridge_test_shared_total"));
    }
}
