//! `Server-Timing: upstream;dur=12.3;desc="2 calls"` on every SCIM answer that called
//! the upstream (see [`crate::upstream::timing`]).
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub async fn server_timing(request: Request, next: Next) -> Response {
    let (mut response, upstream, calls) = crate::upstream::timing::measure(next.run(request)).await;
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
