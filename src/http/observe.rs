//! What is observed of requests: their ids, the SCIM request metrics and log line, and
//! the `/metrics` endpoint.
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::store::JobState;
use crate::telemetry::{self, REQUEST_ID_HEADER};

/// The tenant a request spoke for and the id of the credential it used (never its
/// value), for the metrics and the request log line.
pub struct TenantLabel<'a> {
    pub tenant: &'a str,
    pub credential: &'a str,
}

/// The request's id: the IdP's when it is sane, else a new one.
pub fn request_id_of(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| telemetry::sane_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(telemetry::new_request_id)
}

/// Counts and times a SCIM request by route template (never the raw path with ids),
/// method, status and tenant, and logs one INFO line with those, the credential id and
/// the request id: an admin whose IdP gets a 401 sees it at the default level. Bodies,
/// headers and query strings are never logged.
pub fn record(
    endpoint: &str,
    method: &Method,
    status: StatusCode,
    label: Option<TenantLabel<'_>>,
    elapsed: Duration,
) {
    let label = label.unwrap_or(TenantLabel {
        tenant: "unauthenticated",
        credential: "none",
    });
    // The credential id goes last: `credential=acme-basic` followed by another field
    // would read like an `Authorization: Basic ...` value to a log scanner.
    tracing::info!(
        method = %method,
        route = %endpoint,
        status = %status.as_str(),
        tenant = %label.tenant,
        duration_ms = elapsed.as_micros() as f64 / 1000.0,
        request_id = %telemetry::request_id().unwrap_or_default(),
        credential = %label.credential,
        "scim request"
    );
    let method = label_value(method.as_str());
    let endpoint = endpoint.to_string();
    let tenant = label.tenant.to_string();
    metrics::counter!("scim_bridge_scim_requests_total",
        "endpoint" => endpoint.clone(), "method" => method.clone(), "status" => status.as_str().to_string(), "tenant" => tenant.clone())
    .increment(1);
    metrics::histogram!("scim_bridge_scim_request_duration_seconds",
        "endpoint" => endpoint, "method" => method, "tenant" => tenant)
    .record(elapsed.as_secs_f64());
}

/// A label value without an allocation for the methods IdPs send.
fn label_value(method: &str) -> metrics::SharedString {
    match method {
        "GET" => metrics::SharedString::const_str("GET"),
        "POST" => metrics::SharedString::const_str("POST"),
        "PUT" => metrics::SharedString::const_str("PUT"),
        "PATCH" => metrics::SharedString::const_str("PATCH"),
        "DELETE" => metrics::SharedString::const_str("DELETE"),
        other => metrics::SharedString::from_owned(other.to_string()),
    }
}

/// Prometheus text. With `server.metrics_token` set, the scraper must present it as a
/// bearer token; without, the endpoint is open (it names tenants and accounts, nothing
/// secret) and should be kept off the public listener by the proxy.
pub async fn metrics(State(app): State<AppState>, request: Request) -> Response {
    if let Some(token) = &app.metrics_token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = token.expose_secret().as_bytes();
        if !bool::from(presented.as_bytes().ct_eq(expected)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            )
                .into_response();
        }
    }
    refresh_job_gauges(&app).await;
    let handle = telemetry::metrics();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Jobs live in the store (shared by replicas), so their gauges are read from it at
/// each scrape: every replica reports the same, current numbers.
async fn refresh_job_gauges(app: &AppState) {
    let counts = match app.provisioner.store.count_jobs().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not count jobs for the metrics");
            return;
        }
    };
    for tenant in app.tenants.iter() {
        for state in [JobState::Pending, JobState::Running, JobState::Failed] {
            let n = counts
                .iter()
                .find(|(t, s, _)| *t == tenant.name && *s == state)
                .map_or(0, |c| c.2);
            metrics::gauge!("scim_bridge_jobs", "tenant" => tenant.name.clone(), "state" => state.as_str())
                .set(n as f64);
        }
    }
}
