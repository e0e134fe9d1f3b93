//! What stands in front of every API call: latency, auth, rate limit, injected failure (in that
//! order, as the wire page fixes), plus the request counting behind `/_sim/state`.

use crate::config::Dialect;
use crate::conn::ConnKill;
use crate::state::{ApiError, Shared};
use crate::{dashboard, v1};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Marks a response that must never reach the client (its connection was cut).
#[derive(Clone, Copy, Debug)]
pub struct Dropped;

/// Renders an error the way the configured dialect (and, for the dashboard, the Accept header) wants.
pub fn error_response(shared: &Shared, headers: &HeaderMap, err: ApiError) -> Response {
    match shared.config.dialect {
        Dialect::V1 => v1::error_response(err),
        Dialect::Dashboard => {
            dashboard::error_response(err, dashboard::wants_json(shared, headers))
        }
    }
}

pub async fn guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (latency, rate_limit, fail_rate, drop_rate) = {
        let inner = shared.lock();
        let f = &inner.faults;
        let spike = f.latency_spike_rate > 0.0 && rand::random::<f64>() < f.latency_spike_rate;
        (
            f.latency_ms + if spike { f.latency_spike_ms } else { 0 },
            f.rate_limit,
            f.fail_rate,
            f.drop_rate,
        )
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let credential = match authenticate(&shared, req.headers()) {
        Some(c) => c,
        None => return unauthorized(&shared, req.headers()),
    };
    if take_burst(&shared) {
        shared.lock().stats.rate_limited += 1;
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 1;
        let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
        resp.headers_mut()
            .insert("X-RateLimit-Reset", HeaderValue::from(reset));
        return resp;
    }
    if let Some(limit) = rate_limit {
        if let Some(reset) = over_limit(&shared, &credential, limit) {
            let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
            resp.headers_mut()
                .insert("X-RateLimit-Reset", HeaderValue::from(reset));
            return resp;
        }
    }
    if fail_rate > 0.0 && rand::random::<f64>() < fail_rate {
        shared.lock().stats.failed_injected += 1;
        let err = ApiError::new(503, "service_unavailable", "injected failure, try again");
        return error_response(&shared, req.headers(), err);
    }
    let conn = req.extensions().get::<ConnectInfo<ConnKill>>().cloned();
    let mut resp = next.run(req).await;
    if drop_rate > 0.0 && rand::random::<f64>() < drop_rate {
        if let Some(ConnectInfo(conn)) = conn {
            conn.cut();
            resp.extensions_mut().insert(Dropped);
        }
    }
    resp
}

/// Consumes one `rate_limit_burst` if any is left.
fn take_burst(shared: &Shared) -> bool {
    let mut inner = shared.lock();
    if inner.faults.rate_limit_burst > 0 {
        inner.faults.rate_limit_burst -= 1;
        true
    } else {
        false
    }
}

/// The credential a request speaks for (client id or Basic user), if its auth is valid.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<String> {
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

/// Decodes `Basic base64(user:password)`.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
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

/// Fixed one-second windows; returns the window's end (epoch seconds) when over the limit.
fn over_limit(shared: &Shared, credential: &str, limit: u32) -> Option<u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut inner = shared.lock();
    let window = inner
        .windows
        .entry(credential.to_string())
        .or_insert((now, 0));
    if window.0 != now {
        *window = (now, 0);
    }
    window.1 = window.1.saturating_add(1);
    if window.1 > limit {
        inner.stats.rate_limited += 1;
        Some(now + 1)
    } else {
        None
    }
}

pub async fn count(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resp = next.run(req).await;
    let mut inner = shared.lock();
    inner.stats.requests += 1;
    if let Some(id) = request_id {
        let ids = &mut inner.stats.request_ids;
        if ids.len() < 1000 && !ids.contains(&id) {
            ids.push(id);
        }
    }
    if resp.extensions().get::<Dropped>().is_some() {
        inner.stats.dropped_responses += 1;
    } else {
        *inner
            .stats
            .by_status
            .entry(resp.status().as_u16().to_string())
            .or_insert(0) += 1;
    }
    resp
}
