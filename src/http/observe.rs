//! What wraps every request: its request id and log span, the SCIM request metrics, and
//! the `/metrics` endpoint.
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tracing::Instrument;

use super::AppState;
use crate::store::JobState;
use crate::telemetry::{self, REQUEST_ID_HEADER};

/// The tenant a request spoke for and the id of the credential it used (never its
/// value), left on the response by the auth middleware so the metrics and the request
/// log line (outside it) can name them.
#[derive(Clone, Debug)]
pub struct TenantLabel {
    pub tenant: String,
    pub credential: String,
}

/// Gives the request its id (the IdP's if sane), runs it in a span carrying the id and
/// inside the id's task-local scope, and returns the id in the response header.
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| telemetry::sane_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(telemetry::new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = telemetry::with_request_id(id.clone(), next.run(request))
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Counts and times SCIM requests by route template (never the raw path with ids),
/// method, status and tenant, and logs one INFO line per request with those, the
/// credential id and the request id: an admin whose IdP gets a 401 sees it at the
/// default level. Bodies, headers and query strings are never logged.
pub async fn record(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let (tenant, credential) = match response.extensions().get::<TenantLabel>() {
        Some(label) => (label.tenant.clone(), label.credential.clone()),
        None => ("unauthenticated".to_string(), "none".to_string()),
    };
    let status = response.status().as_str().to_string();
    // The credential id goes last: `credential=acme-basic` followed by another field
    // would read like an `Authorization: Basic ...` value to a log scanner.
    tracing::info!(
        method = %method,
        route = %endpoint,
        status = %status,
        tenant = %tenant,
        duration_ms = elapsed.as_micros() as f64 / 1000.0,
        request_id = %telemetry::request_id().unwrap_or_default(),
        credential = %credential,
        "scim request"
    );
    metrics::counter!("scim_bridge_scim_requests_total",
        "endpoint" => endpoint.clone(), "method" => method.clone(), "status" => status, "tenant" => tenant.clone())
    .increment(1);
    metrics::histogram!("scim_bridge_scim_request_duration_seconds",
        "endpoint" => endpoint, "method" => method, "tenant" => tenant)
    .record(elapsed.as_secs_f64());
    response
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
