//! The one place domain errors become HTTP answers: always a SCIM error body
//! (RFC 7644 §3.12) with the status and `scimType` an IdP acts on correctly.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::provision::Error;
use crate::scim::error::{ScimError, ScimType};
use crate::store::StoreError;
use crate::upstream::TargetError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An error on its way to the IdP, with an optional `Retry-After` in seconds.
#[derive(Debug)]
pub struct ApiError {
    pub error: ScimError,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            error: ScimError::new(status, scim_type, detail),
            retry_after: None,
        }
    }
    /// Adds `Retry-After: secs`.
    pub fn retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl From<ScimError> for ApiError {
    fn from(error: ScimError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Scim(e) => e.into(),
            Error::Upstream(e) => upstream(e),
            Error::Store(e) => store(e),
        }
    }
}

/// Names the system the request's tenant provisions ([`crate::upstream::for_system`]),
/// so an admin reading the IdP's error log knows which system refused.
fn upstream(e: TargetError) -> ApiError {
    let system = crate::upstream::current_system();
    let invalid = Some(ScimType::InvalidValue);
    match e {
        TargetError::Conflict(d) => ApiError::new(
            409,
            Some(ScimType::Uniqueness),
            format!("already exists in {system}: {d}"),
        ),
        TargetError::Invalid(d) => {
            ApiError::new(400, invalid, format!("{system} rejected the change: {d}"))
        }
        TargetError::Forbidden(d) => ApiError::new(
            400,
            invalid,
            format!("the bridge's {system} credential may not grant this: {d}"),
        ),
        TargetError::NotFound => ApiError::new(
            502,
            None,
            format!("the linked {system} user no longer exists upstream"),
        ),
        TargetError::RateLimited { retry_after_secs } => ApiError::new(
            503,
            None,
            format!("{system} is rate limiting the bridge; retry later"),
        )
        .retry(retry_after_secs.max(1)),
        TargetError::CircuitOpen { retry_after_secs } => ApiError::new(
            503,
            None,
            format!("{system} is failing; the bridge pauses calls to it for a moment"),
        )
        .retry(retry_after_secs.max(1)),
        TargetError::Unavailable(d) => {
            ApiError::new(503, None, format!("{system} is unavailable: {d}")).retry(5)
        }
        TargetError::Auth(d) => ApiError::new(
            502,
            None,
            format!("{system} refused the bridge's credentials: {d}"),
        ),
        TargetError::Protocol(d) => {
            ApiError::new(502, None, format!("unexpected answer from {system}: {d}"))
        }
    }
}

fn store(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(what) => ApiError::new(
            409,
            Some(ScimType::Uniqueness),
            format!("{what} is already taken"),
        ),
        StoreError::NotFound => ApiError::new(404, None, "resource not found"),
        StoreError::VersionMismatch => {
            ApiError::new(503, None, "the resource was modified concurrently; retry").retry(1)
        }
        StoreError::Database(d) => {
            tracing::error!(error = %d, "database error");
            ApiError::new(503, None, "the bridge's database is unavailable").retry(5)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.error;
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(status = e.status, detail = %e.detail, "request failed");
        } else {
            tracing::debug!(status = e.status, detail = %e.detail, "request refused");
        }
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": e.status.to_string(), "detail": e.detail});
        if let Some(t) = e.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim-bridge\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: TargetError) -> (u16, Option<ScimType>, String, Option<u64>) {
        let a = upstream(e);
        (
            a.error.status,
            a.error.scim_type,
            a.error.detail,
            a.retry_after,
        )
    }

    #[test]
    fn upstream_refusals_carry_their_reason() {
        let (status, t, detail, _) =
            answer(TargetError::Invalid("unknown account id(s): 42".into()));
        assert_eq!((status, t), (400, Some(ScimType::InvalidValue)));
        assert!(detail.contains("unknown account id(s): 42"), "{detail}");
        let (status, t, detail, _) = answer(TargetError::Forbidden("Porting".into()));
        assert_eq!((status, t), (400, Some(ScimType::InvalidValue)));
        assert!(detail.contains("Porting"), "{detail}");
        let (status, t, _, _) = answer(TargetError::Conflict("email taken".into()));
        assert_eq!((status, t), (409, Some(ScimType::Uniqueness)));
    }

    #[test]
    fn saturation_and_open_breakers_are_503_with_retry_after() {
        let (status, _, _, retry) = answer(TargetError::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!((status, retry), (503, Some(7)));
        let (status, _, _, retry) = answer(TargetError::CircuitOpen {
            retry_after_secs: 0,
        });
        assert_eq!((status, retry), (503, Some(1)), "never Retry-After: 0");
        let (status, _, _, retry) = answer(TargetError::Unavailable("timeout".into()));
        assert_eq!(status, 503);
        assert!(retry.is_some());
    }
}
