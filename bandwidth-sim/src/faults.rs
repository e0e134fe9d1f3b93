//! What stands in front of every API call of any simulated system: latency, auth, rate
//! limit, injected failure (in that order, as the wire pages fix), dropped answers, plus
//! the request counting behind `/_sim/state`. Each system says how it authenticates and
//! words its errors through [`Guarded`].

use crate::config::Faults;
use crate::conn::ConnKill;
use crate::state::{ApiError, SimStats};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Marks a response that must never reach the client (its connection was cut).
#[derive(Clone, Copy, Debug)]
pub struct Dropped;

/// The part of a system's memory the guard reads and counts in.
pub struct Gate {
    pub faults: Faults,
    /// credential -> (window start in epoch seconds, requests seen in it)
    pub windows: HashMap<String, (u64, u32)>,
    pub stats: SimStats,
}

impl Gate {
    pub fn new(faults: Faults) -> Self {
        Gate {
            faults,
            windows: HashMap::new(),
            stats: SimStats::default(),
        }
    }
}

/// A simulated system behind the guard.
pub trait Guarded: Send + Sync + 'static {
    /// Runs `f` on the system's fault settings and counters, under its lock.
    fn with_faults<R>(&self, f: impl FnOnce(&mut Gate) -> R) -> R;
    /// The credential a request speaks for (the rate limit's key), if its auth is valid.
    fn authenticate(&self, headers: &HeaderMap) -> Option<String>;
    /// The system's 401.
    fn unauthorized(&self, headers: &HeaderMap) -> Response;
    /// An error in the system's own format.
    fn error_response(&self, headers: &HeaderMap, err: ApiError) -> Response;
    /// The system's 429; `reset` is the end of the current window, in epoch seconds.
    fn throttled(&self, headers: &HeaderMap, reset: u64) -> Response;
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn guard<S: Guarded>(State(shared): State<Arc<S>>, req: Request, next: Next) -> Response {
    let (latency, rate_limit, fail_rate, drop_rate) = shared.with_faults(|v| {
        let f = &v.faults;
        let spike = f.latency_spike_rate > 0.0 && rand::random::<f64>() < f.latency_spike_rate;
        v.stats.latency_spikes += u64::from(spike);
        (
            f.latency_ms + if spike { f.latency_spike_ms } else { 0 },
            f.rate_limit,
            f.fail_rate,
            f.drop_rate,
        )
    });
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let credential = match shared.authenticate(req.headers()) {
        Some(c) => c,
        None => return shared.unauthorized(req.headers()),
    };
    if take_burst(&*shared) {
        return shared.throttled(req.headers(), epoch_secs() + 1);
    }
    if let Some(limit) = rate_limit {
        if let Some(reset) = over_limit(&*shared, &credential, limit) {
            return shared.throttled(req.headers(), reset);
        }
    }
    if take_fail_next(&*shared) || (fail_rate > 0.0 && rand::random::<f64>() < fail_rate) {
        shared.with_faults(|v| v.stats.failed_injected += 1);
        let err = ApiError::new(503, "service_unavailable", "injected failure, try again");
        return shared.error_response(req.headers(), err);
    }
    if let Some(status) = take_page_fault(&*shared, &req) {
        return if status == 429 {
            shared.throttled(req.headers(), epoch_secs() + 1)
        } else {
            let err = ApiError::new(status, "service_unavailable", "injected page read failure");
            shared.error_response(req.headers(), err)
        };
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

/// Consumes one `fail_next` if any is left.
fn take_fail_next(shared: &impl Guarded) -> bool {
    shared.with_faults(|v| {
        let take = v.faults.fail_next > 0;
        v.faults.fail_next -= u32::from(take);
        take
    })
}

/// Consumes one `rate_limit_burst` if any is left (and counts it as rate limited).
fn take_burst(shared: &impl Guarded) -> bool {
    shared.with_faults(|v| {
        if v.faults.rate_limit_burst > 0 {
            v.faults.rate_limit_burst -= 1;
            v.stats.rate_limited += 1;
            true
        } else {
            false
        }
    })
}

/// For a directory page read, consumes the first of `page_read_faults` if any is left
/// (and counts it as rate limited or as an injected failure).
fn take_page_fault(shared: &impl Guarded, req: &Request) -> Option<u16> {
    if !is_page_read(req) {
        return None;
    }
    shared.with_faults(|v| {
        if v.faults.page_read_faults.is_empty() {
            return None;
        }
        let status = v.faults.page_read_faults.remove(0);
        match status {
            429 => v.stats.rate_limited += 1,
            _ => v.stats.failed_injected += 1,
        }
        Some(status)
    })
}

/// A directory page read: a `GET` with a `page` query parameter.
fn is_page_read(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("page=")))
}

/// Consumes one `drop_next_create_responses` if any is left.
pub fn take_drop(shared: &impl Guarded) -> bool {
    shared.with_faults(|v| {
        if v.faults.drop_next_create_responses > 0 {
            v.faults.drop_next_create_responses -= 1;
            true
        } else {
            false
        }
    })
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

/// Fixed one-second windows; returns the window's end (epoch seconds) when over the limit.
fn over_limit(shared: &impl Guarded, credential: &str, limit: u32) -> Option<u64> {
    let now = epoch_secs();
    shared.with_faults(|v| {
        let window = v.windows.entry(credential.to_string()).or_insert((now, 0));
        if window.0 != now {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
        if window.1 > limit {
            v.stats.rate_limited += 1;
            Some(now + 1)
        } else {
            None
        }
    })
}

/// Adds the time a request was here to `busy_us` when it ends, answered or abandoned
/// by its client (a timed-out call still held the client that long).
struct Busy<'a, S: Guarded> {
    shared: &'a S,
    arrived: std::time::Instant,
}

impl<S: Guarded> Drop for Busy<'_, S> {
    fn drop(&mut self) {
        let took = u64::try_from(self.arrived.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.shared
            .with_faults(|v| v.stats.busy_us = v.stats.busy_us.saturating_add(took));
    }
}

pub async fn count<S: Guarded>(State(shared): State<Arc<S>>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _busy = Busy {
        shared: &*shared,
        arrived: std::time::Instant::now(),
    };
    let page_read = is_page_read(&req);
    let resp = next.run(req).await;
    shared.with_faults(|v| {
        v.stats.requests += 1;
        v.stats.page_reads += u64::from(page_read);
        if let Some(id) = request_id {
            let ids = &mut v.stats.request_ids;
            if ids.len() < 1000 && !ids.contains(&id) {
                ids.push(id);
            }
        }
        if resp.extensions().get::<Dropped>().is_some() {
            v.stats.dropped_responses += 1;
        } else {
            *v.stats
                .by_status
                .entry(resp.status().as_u16().to_string())
                .or_insert(0) += 1;
        }
    });
    resp
}
