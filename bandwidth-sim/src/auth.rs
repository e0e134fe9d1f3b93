//! How the Bandwidth side stands behind the fault guard: its two dialects' credentials,
//! error formats and 429 (`X-RateLimit-Reset`, no body).

use crate::config::Dialect;
use crate::faults::{basic_credentials, Gate, Guarded};
use crate::state::{ApiError, Shared};
use crate::{dashboard, v1};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Instant;

impl Guarded for Shared {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Gate) -> R) -> R {
        f(&mut self.lock().gate)
    }

    fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        credential(self, headers)
    }

    fn unauthorized(&self, headers: &HeaderMap) -> Response {
        unauthorized(self, headers)
    }

    fn error_response(&self, headers: &HeaderMap, err: ApiError) -> Response {
        error_response(self, headers, err)
    }

    fn throttled(&self, _headers: &HeaderMap, reset: u64) -> Response {
        let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
        resp.headers_mut()
            .insert("X-RateLimit-Reset", HeaderValue::from(reset));
        resp
    }
}

/// Renders an error the way the configured dialect (and, for the dashboard, the Accept header) wants.
pub fn error_response(shared: &Shared, headers: &HeaderMap, err: ApiError) -> Response {
    match shared.config.dialect {
        Dialect::V1 => v1::error_response(err),
        Dialect::Dashboard => {
            dashboard::error_response(err, dashboard::wants_json(shared, headers))
        }
    }
}

/// The credential a request speaks for (client id or Basic user), if its auth is valid.
fn credential(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    match shared.config.dialect {
        Dialect::V1 => {
            let token = value.strip_prefix("Bearer ")?.trim();
            let inner = shared.lock();
            let (client, expires) = inner.tokens.get(token)?;
            (*expires > Instant::now()).then(|| client.clone())
        }
        Dialect::Dashboard => {
            let (user, password) = basic_credentials(value)?;
            let ok = user == shared.config.basic_user && password == shared.config.basic_password;
            ok.then_some(user)
        }
    }
}

fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Response {
    let (err, challenge) = match shared.config.dialect {
        Dialect::V1 => (
            ApiError::new(
                401,
                "unauthorized",
                "missing, unknown or expired bearer token",
            ),
            "Bearer error=\"invalid_token\"",
        ),
        Dialect::Dashboard => (
            ApiError::new(401, "unauthorized", "invalid Basic credentials"),
            "Basic realm=\"bandwidth-sim\"",
        ),
    };
    let mut resp = error_response(shared, headers, err);
    resp.headers_mut()
        .insert("WWW-Authenticate", HeaderValue::from_static(challenge));
    resp
}
