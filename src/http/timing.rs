//! `Server-Timing: upstream;dur=12.3;desc="2 calls"` on every SCIM answer that called
//! the upstream (see [`crate::upstream::timing`]).
use std::future::Future;

use axum::http::HeaderValue;
use axum::response::Response;

/// Runs `handler` and adds the header when it called the upstream.
pub async fn server_timing(handler: impl Future<Output = Response>) -> Response {
    let (mut response, upstream, calls) = crate::upstream::timing::measure(handler).await;
    if calls > 0 {
        let value = format!(
            "upstream;dur={:.3};desc=\"{calls} call{}\"",
            upstream.as_secs_f64() * 1000.0,
            if calls == 1 { "" } else { "s" }
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert("server-timing", value);
        }
    }
    response
}
