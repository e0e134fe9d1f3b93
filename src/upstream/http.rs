//! Sending one logical request to any upstream system: client-side rate limit, circuit
//! breaker, 429 waits (`X-RateLimit-Reset` or `Retry-After`), retries of safe calls,
//! metrics, the request id header, and logging. Status codes other than 429 (and 5xx of
//! safe calls until retries run out) are handed back to the caller, which classifies
//! them ([`classify`]); only transport failures (and an open breaker) become errors here.

use std::num::NonZeroU32;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::upstream::breaker::{Breaker, BreakerState};
use crate::upstream::credential::Credential;
use crate::upstream::settings::CallLimits;
use crate::upstream::TargetError;

/// First backoff step; doubled per retry, capped at [`BACKOFF_CAP`], then fully jittered.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// The shortest wait after a 429, so a second-granular header does not become a busy loop.
const MIN_WAIT: Duration = Duration::from_millis(50);
/// Safety net for a server answering 429 with a reset already in the past, forever.
const MAX_RATE_LIMIT_HITS: u32 = 100;

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Vec<u8>),
    Form(String),
}

#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    pub url: Url,
    pub body: Option<Body>,
    /// Safe to repeat after a 5xx or a transport failure (GET, whole-user PUT, DELETE,
    /// token). A create is not: its caller looks the user up before retrying.
    pub safe: bool,
    /// Marked sensitive, so reqwest/hyper never print it.
    pub auth: Option<&'a HeaderValue>,
}

#[derive(Debug)]
pub(crate) struct Incoming {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Maps a non-success status to the error the IdP should see; `desc` is the upstream's
/// own description of the failure, read from its error format by the adapter.
pub(crate) fn classify(status: StatusCode, desc: impl FnOnce() -> String) -> TargetError {
    match status.as_u16() {
        400 | 422 => TargetError::Invalid(desc()),
        401 => TargetError::Auth(desc()),
        403 => TargetError::Forbidden(desc()),
        404 => TargetError::NotFound,
        409 => TargetError::Conflict(desc()),
        // The user's data is too large for the upstream: the IdP must change it, so it
        // is the IdP's 400, not a gateway error it would retry.
        413 => TargetError::Invalid(format!("the request is too large: {}", desc())),
        429 => TargetError::RateLimited {
            retry_after_secs: 1,
        },
        500..=599 => TargetError::Unavailable(format!("HTTP {}: {}", status.as_u16(), desc())),
        _ => TargetError::Protocol(format!("unexpected HTTP status {}", status.as_u16())),
    }
}

/// One upstream instance (one account or domain) as the adapters call it: the HTTP
/// client with its limits, and the bridge's credential there.
pub(crate) struct Http {
    client: reqwest::Client,
    credential: Box<dyn Credential>,
    limiter: DefaultDirectRateLimiter,
    breaker: Breaker,
    /// The upstream account, as the metrics label it.
    account: String,
    max_retries: u32,
    max_rate_limit_wait: Duration,
}

impl Http {
    /// `label` names the account or domain in metrics and notifications.
    pub(crate) fn new(
        label: &str,
        cfg: &CallLimits,
        credential: Box<dyn Credential>,
    ) -> Result<Self, TargetError> {
        let rate = NonZeroU32::new(cfg.rate_limit_per_second).ok_or_else(|| {
            TargetError::Invalid("rate_limit_per_second must be at least 1".into())
        })?;
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            // A redirect would carry credentials somewhere unplanned; treat it as a
            // protocol error instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("scim-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TargetError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        // Burst of one: requests are spaced evenly, so no one-second window of the
        // upstream ever sees more than the configured rate.
        let quota = Quota::per_second(rate).allow_burst(NonZeroU32::MIN);
        let account = label.to_string();
        let gauge =
            metrics::gauge!("scim_bridge_upstream_breaker_state", "account" => account.clone());
        gauge.set(BreakerState::Closed.gauge());
        let breaker = Breaker::observed(cfg.breaker_failures, cfg.breaker_cooldown, {
            let account = account.clone();
            move |state| {
                gauge.set(state.gauge());
                tracing::warn!(account = %account, ?state, "upstream circuit breaker changed state");
                let (kind, text) = match state {
                    BreakerState::Open => (
                        crate::notify::EventKind::BreakerOpened,
                        "upstream circuit breaker opened: Bandwidth keeps failing; calls are paused",
                    ),
                    BreakerState::Closed => (
                        crate::notify::EventKind::BreakerClosed,
                        "upstream circuit breaker closed: Bandwidth answers again",
                    ),
                    BreakerState::HalfOpen => return,
                };
                crate::notify::emit(
                    kind,
                    crate::notify::Scope::Account(account.clone()),
                    text,
                    serde_json::json!({"account": account}),
                );
            }
        });
        Ok(Http {
            client,
            credential,
            limiter: RateLimiter::direct(quota),
            breaker,
            account,
            max_retries: cfg.max_retries,
            max_rate_limit_wait: cfg.max_rate_limit_wait,
        })
    }

    /// The upstream account, as metrics and notifications name it.
    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    /// The bridge's credential at this upstream.
    pub(crate) fn credential(&self) -> &dyn Credential {
        self.credential.as_ref()
    }

    pub(crate) async fn send(&self, req: &Outgoing<'_>) -> Result<Incoming, TargetError> {
        let mut failures = 0u32;
        let mut rate_limit_hits = 0u32;
        let mut rate_limit_waited = Duration::ZERO;
        let operation = operation(&req.method, &req.url);
        loop {
            let permit = self
                .breaker
                .acquire()
                .map_err(|wait| TargetError::CircuitOpen {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                })?;
            self.limiter.until_ready().await;
            let result = self.attempt(req, operation).await;
            match &result {
                Ok((resp, _)) if resp.status.is_server_error() => permit.failure(),
                Ok(_) => permit.success(),
                Err(_) => permit.failure(),
            }
            match result {
                Ok((resp, asked)) if resp.status == StatusCode::TOO_MANY_REQUESTS => {
                    metrics::counter!("scim_bridge_upstream_rate_limited_total", "account" => self.account.clone())
                        .increment(1);
                    let wait = asked.unwrap_or_else(|| backoff(rate_limit_hits));
                    rate_limit_hits += 1;
                    if rate_limit_waited + wait > self.max_rate_limit_wait
                        || rate_limit_hits > MAX_RATE_LIMIT_HITS
                    {
                        return Err(TargetError::RateLimited {
                            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                        });
                    }
                    rate_limit_waited += wait;
                    retried(operation, "rate_limited");
                    tokio::time::sleep(wait).await;
                }
                Ok((resp, _))
                    if resp.status.is_server_error() && req.safe && failures < self.max_retries =>
                {
                    failures += 1;
                    retried(operation, "server_error");
                    tokio::time::sleep(backoff(failures)).await;
                }
                Ok((resp, _)) => return Ok(resp),
                Err(e) if req.safe && failures < self.max_retries => {
                    tracing::debug!(error = %e, "retrying after transport failure");
                    failures += 1;
                    retried(operation, "transport");
                    tokio::time::sleep(backoff(failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One try. Returns the answer and how long it asks to wait before the next call
    /// (`X-RateLimit-Reset` epoch seconds or `Retry-After` seconds), if it says.
    async fn attempt(
        &self,
        req: &Outgoing<'_>,
        operation: &'static str,
    ) -> Result<(Incoming, Option<Duration>), TargetError> {
        let mut b = self
            .client
            .request(req.method.clone(), req.url.clone())
            .header(ACCEPT, "application/json");
        // Lets Bandwidth's logs (and support) be matched with the IdP request or job.
        if let Some(id) = crate::telemetry::request_id()
            .and_then(|id| reqwest::header::HeaderValue::from_str(&id).ok())
        {
            b = b.header(crate::telemetry::REQUEST_ID_HEADER, id);
        }
        if let Some(a) = req.auth {
            b = b.header(AUTHORIZATION, a.clone());
        }
        match &req.body {
            Some(Body::Json(bytes)) => {
                tracing::trace!(body = %redact_json(bytes), "request body");
                b = b
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
            }
            Some(Body::Form(form)) => {
                b = b
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.clone());
            }
            None => {}
        }
        let path = req.url.path();
        let start = Instant::now();
        let result = async {
            let resp = b.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let elapsed = start.elapsed();
        crate::upstream::timing::record(elapsed);
        let latency_ms = elapsed.as_millis() as u64;
        let status_label = match &result {
            Ok((status, _, _)) => status.as_str().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_string(),
            Err(_) => "transport_error".to_string(),
        };
        metrics::counter!("scim_bridge_upstream_requests_total", "account" => self.account.clone(), "operation" => operation, "status" => status_label)
            .increment(1);
        metrics::histogram!("scim_bridge_upstream_request_duration_seconds", "account" => self.account.clone(), "operation" => operation)
            .record(elapsed.as_secs_f64());
        let (status, headers, body) = match result {
            Ok(r) => r,
            Err(e) => {
                let kind = transport_kind(&e);
                tracing::info!(method = %req.method, path, latency_ms, error = kind, "upstream call failed");
                return Err(TargetError::Unavailable(format!(
                    "{} {path}: {kind}",
                    req.method
                )));
            }
        };
        if status.is_client_error() || status.is_server_error() {
            tracing::info!(method = %req.method, path, status = status.as_u16(), latency_ms, "upstream call");
        } else {
            tracing::debug!(method = %req.method, path, status = status.as_u16(), latency_ms, "upstream call");
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if tracing::enabled!(tracing::Level::TRACE) && !body.is_empty() {
            tracing::trace!(body = %redact_body(content_type.as_deref(), &body), "response body");
        }
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let asked = number("x-ratelimit-reset")
            .and_then(until_epoch)
            .or_else(|| number("retry-after").map(|s| Duration::from_secs(s).max(MIN_WAIT)));
        Ok((
            Incoming {
                status,
                content_type,
                body,
            },
            asked,
        ))
    }
}

fn retried(operation: &'static str, reason: &'static str) {
    metrics::counter!("scim_bridge_upstream_retries_total", "operation" => operation, "reason" => reason)
        .increment(1);
}

/// The metrics label of a call: what it does, from its method and path shape (never the
/// path itself, which holds ids and, in lookups, email addresses).
fn operation(method: &Method, url: &Url) -> &'static str {
    let path = url.path().trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    if path.ends_with("/oauth2/token") || path.ends_with("/tokens") {
        return "token";
    }
    let parent = path.rsplit('/').nth(1).unwrap_or_default();
    let listing = |q: &str| q.contains("page=") || q.contains("start=");
    match (method.as_str(), last) {
        (_, "roles") => "list_roles",
        ("GET", "~") if parent == "apikeys" => "whoami",
        ("GET", _) if parent == "domains" => "get_domain",
        ("GET", "users") if url.query().is_some_and(listing) => "list_users",
        ("GET", "users") => "find_user",
        ("POST", "users") => "create_user",
        ("GET", _) => "get_user",
        ("PUT", _) => "update_user",
        ("DELETE", _) => "delete_user",
        _ => "other",
    }
}

/// Timeouts and connection failures are described without the URL's query (which may
/// hold an email address) and without anything reqwest might attach.
fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "connection dropped"
    }
}

/// Time from now until `epoch_secs`; a reset already past still waits a moment, so a
/// second-granular header does not turn into a busy loop.
fn until_epoch(epoch_secs: u64) -> Option<Duration> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let reset = Duration::from_secs(epoch_secs);
    Some(
        reset
            .checked_sub(now)
            .unwrap_or(Duration::ZERO)
            .max(MIN_WAIT),
    )
}

/// Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^n)].
pub(crate) fn backoff(n: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << n.min(16))
        .min(BACKOFF_CAP);
    let ms = rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64);
    Duration::from_millis(ms)
}

fn redact_body(content_type: Option<&str>, body: &[u8]) -> String {
    if content_type.is_some_and(|c| c.contains("xml")) {
        // The documented XML answers carry no secrets; a password would be in JSON.
        String::from_utf8_lossy(body).into_owned()
    } else {
        redact_json(body)
    }
}

/// The body with the value of any key naming a password, secret or token replaced.
pub(crate) fn redact_json(body: &[u8]) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if ["password", "secret", "token"]
                        .iter()
                        .any(|s| k.contains(s))
                    {
                        *v = serde_json::Value::String("[REDACTED]".into());
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => format!("<{} bytes, not JSON>", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_and_tokens() {
        let b = br#"{"Username":"u","Password":"Hunter2!","nested":[{"access_token":"abc"}]}"#;
        let r = redact_json(b);
        assert!(!r.contains("Hunter2") && !r.contains("abc"), "{r}");
        assert!(r.contains("\"Username\":\"u\""));
        assert_eq!(redact_json(b"xx"), "<2 bytes, not JSON>");
    }

    #[test]
    fn operations_are_named_without_ids() {
        let bw = "http://x/api/v1";
        let dashboard = "http://x/api/accounts/9";
        let ns = "http://x/ns-api/v2";
        let ns_users = format!("{ns}/domains/acme/users");
        let named = [
            // Bandwidth, both dialects.
            ("POST", format!("{bw}/oauth2/token"), "token"),
            ("POST", format!("{bw}/users"), "create_user"),
            ("GET", format!("{bw}/users?username=a"), "find_user"),
            ("GET", format!("{bw}/users?page=0&size=100"), "list_users"),
            ("PUT", format!("{bw}/users/abc"), "update_user"),
            ("GET", format!("{dashboard}/users/abc"), "get_user"),
            ("DELETE", format!("{bw}/users/abc"), "delete_user"),
            ("GET", format!("{dashboard}/roles"), "list_roles"),
            // NetSapiens.
            ("POST", format!("{ns}/tokens"), "token"),
            ("GET", format!("{ns}/apikeys/~"), "whoami"),
            ("GET", format!("{ns}/domains/acme"), "get_domain"),
            ("POST", ns_users.clone(), "create_user"),
            ("GET", format!("{ns_users}?start=0&limit=100"), "list_users"),
            ("GET", format!("{ns_users}/2001"), "get_user"),
            ("PUT", format!("{ns_users}/2001"), "update_user"),
            ("DELETE", format!("{ns_users}/2001"), "delete_user"),
        ];
        for (method, url, expected) in named {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let url = Url::parse(&url).expect("url");
            assert_eq!(operation(&method, &url), expected, "{method} {url}");
        }
    }

    #[test]
    fn statuses_are_classified_once_for_every_system() {
        let c = |n: u16| classify(StatusCode::from_u16(n).expect("status"), || "why".into());
        assert_eq!(c(400), TargetError::Invalid("why".into()));
        assert_eq!(c(409), TargetError::Conflict("why".into()));
        assert_eq!(c(403), TargetError::Forbidden("why".into()));
        assert_eq!(c(404), TargetError::NotFound);
        assert!(matches!(c(503), TargetError::Unavailable(m) if m.contains("why")));
        assert!(matches!(c(302), TargetError::Protocol(_)));
    }

    #[test]
    fn backoff_stays_under_cap() {
        for n in 0..40 {
            assert!(backoff(n) <= BACKOFF_CAP);
        }
        assert!(backoff(0) <= BACKOFF_BASE);
    }

    #[test]
    fn reset_in_the_past_still_waits_a_moment() {
        assert_eq!(until_epoch(1), Some(Duration::from_millis(50)));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let w = until_epoch(now + 2).unwrap_or_default();
        assert!(
            w > Duration::from_millis(900) && w <= Duration::from_secs(2),
            "{w:?}"
        );
    }
}
