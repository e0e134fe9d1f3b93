//! Inbound limits that wrap the handlers: a deadline for every request, and each
//! tenant's request budget (after authentication, so it is keyed by the caller's tenant).
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use super::error::ApiError;
use crate::provision::Caller;

/// Answers 503 with `Retry-After` when the handler has not finished in `timeout`.
/// Dropping the handler mid-way is safe for the same reason a lost answer is: upstream
/// creates are recorded as intents first, and every write is retried idempotently.
pub async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("scim_bridge_scim_deadline_exceeded_total").increment(1);
            ApiError::new(
                503,
                None,
                format!(
                    "the request did not finish within {} s; retry later",
                    timeout.as_secs()
                ),
            )
            .retry(1)
            .into_response()
        }
    }
}

/// Spends one request of the caller's tenant budget, or answers 429 with `Retry-After`
/// (whole seconds, rounded up) saying when the next one would be allowed.
pub async fn per_tenant_rate(request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return next.run(request).await;
    };
    if let Some(limiter) = &caller.tenant.inbound_limit {
        if let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return ApiError::new(
                429,
                None,
                format!(
                    "tenant {} is over its request rate (limits.requests_per_second); retry later",
                    caller.tenant.name
                ),
            )
            .retry(secs.max(1))
            .into_response();
        }
    }
    next.run(request).await
}
