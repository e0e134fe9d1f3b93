//! Inbound limits: a deadline for every request, and each tenant's request budget
//! (after authentication, so it is keyed by the caller's tenant). Applied by
//! [`super::frame`] and [`super::gate`].
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use super::error::ApiError;
use crate::provision::Caller;

/// The 503 (with `Retry-After`) of a request whose handler has not finished in
/// `timeout`. Dropping the handler mid-way is safe for the same reason a lost answer
/// is: upstream creates are recorded as intents first, and every write is retried
/// idempotently.
pub fn deadline_exceeded(timeout: Duration) -> Response {
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

/// Spends one request of the caller's tenant budget; over it, the 429 answer with
/// `Retry-After` (whole seconds, rounded up) saying when the next one would be allowed.
pub fn over_budget(caller: &Caller) -> Option<Response> {
    let limiter = caller.tenant.inbound_limit.as_ref()?;
    let not_until = limiter.check().err()?;
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Some(
        ApiError::new(
            429,
            None,
            format!(
                "tenant {} is over its request rate (limits.requests_per_second); retry later",
                caller.tenant.name
            ),
        )
        .retry(secs.max(1))
        .into_response(),
    )
}
