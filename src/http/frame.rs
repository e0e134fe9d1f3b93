//! The one layer around every request: the edge checks, the request's id and log span,
//! its deadline, the framework's bare statuses re-rendered as SCIM errors, and an ERROR
//! line for a 5xx answer. One `from_fn` layer rather than five, because each costs a
//! boxed future and a clone of the inner service on every request.
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::{edges, extract, limits, observe, AppState};
use crate::telemetry::{self, REQUEST_ID_HEADER};

pub async fn frame(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Some(refusal) = edges::refusal(&mut request) {
        return refusal;
    }
    let id = observe::request_id_of(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let timeout = app.request_timeout;
    let work = async move {
        let start = Instant::now();
        let response = match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => extract::scim_errors_for_bare_statuses(response),
            Err(_) => limits::deadline_exceeded(timeout),
        };
        if response.status().is_server_error() {
            tracing::error!(
                status = %response.status().as_str(),
                latency_ms = start.elapsed().as_millis() as u64,
                "response failed"
            );
        }
        response
    };
    let mut response = telemetry::with_request_id(id.clone(), work)
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
