//! Request bodies and response shapes of the SCIM API.
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use serde_json::Value;

use super::error::{ApiError, SCIM_CONTENT_TYPE};
use super::AppState;
use crate::provision::Caller;
use crate::scim::error::ScimError;

/// One authenticated SCIM request's context: the app and the caller authentication
/// resolved (a handler's first extractor).
#[derive(Clone)]
pub struct ScimCall {
    pub app: AppState,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for ScimCall {
    type Rejection = <Extension<Caller> as FromRequestParts<AppState>>::Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Extension(caller) = Extension::<Caller>::from_request_parts(parts, app).await?;
        Ok(Self {
            app: app.clone(),
            caller,
        })
    }
}

/// A JSON body. Accepted as `application/scim+json`, `application/json` or without a
/// content type (some IdP test tools omit it); any other content type is 415, malformed
/// JSON 400 `invalidSyntax`, an oversized body 413, all as SCIM errors.
pub struct ScimJson(pub Value);

/// Whether a `Content-Type` names JSON as SCIM accepts it (RFC 7644 §3.1: `application/
/// scim+json`, and `application/json` which clients also send), parameters aside.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(SCIM_CONTENT_TYPE)
        || essence.eq_ignore_ascii_case("application/json")
}

impl FromRequest<AppState> for ScimJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            let readable = content_type.to_str().ok();
            if !readable.is_some_and(is_json_media_type) {
                return Err(ApiError::new(
                    415,
                    None,
                    format!(
                        "Content-Type {} is not accepted; send {SCIM_CONTENT_TYPE} or application/json",
                        readable.map_or("(unreadable)".to_string(), |t| format!("{t:?}"))
                    ),
                ));
            }
        }
        let limit = app.max_body_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(413, None, format!("request body larger than {limit} bytes"))
            })?;
        if bytes.is_empty() {
            return Err(ScimError::invalid_syntax("request body is empty").into());
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::invalid_syntax(format!("request body is not valid JSON: {e}"))
        })?;
        Ok(ScimJson(value))
    }
}

/// A SCIM resource answer: `application/scim+json`, with `ETag` and `Location` when given.
///
/// The body is serialized straight into bytes: `Value`'s `Display` (`to_string`) goes
/// through `fmt::Formatter` piece by piece and cost about four times as much per answer.
pub fn scim_response<T: Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
    etag: Option<&str>,
    location: Option<&str>,
) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::new(500, None, format!("could not render the answer: {e}"))
                .into_response()
        }
    };
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    for (name, value) in [(header::ETAG, etag), (header::LOCATION, location)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    response
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Re-renders the framework's bare 404/405 answers as SCIM errors.
pub fn scim_errors_for_bare_statuses(response: Response) -> Response {
    let is_bare = !response.headers().contains_key(header::CONTENT_TYPE);
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED if is_bare => {
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut r =
                ApiError::new(405, None, "method not allowed on this resource").into_response();
            if let Some(allow) = allow {
                r.headers_mut().insert(header::ALLOW, allow);
            }
            r
        }
        StatusCode::NOT_FOUND if is_bare => {
            ApiError::new(404, None, "no such endpoint").into_response()
        }
        _ => response,
    }
}

pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/scim+json",
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/scim+json;charset=UTF-8",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
