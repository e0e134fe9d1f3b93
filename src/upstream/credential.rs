//! What every adapter's credential offers the shared HTTP layer: the `Authorization`
//! value for the next call and, after a 401, forgetting it. Plus the bearer-token cache
//! both OAuth-style credentials use: refreshed within 60 s of expiry (or at half the
//! life of a short token), single-flight so a burst of callers triggers one token call.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;
use url::Url;

use super::http::{Body, Http, Incoming, Outgoing};
use super::TargetError;

const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[async_trait]
pub(crate) trait Credential: Send + Sync {
    /// The `Authorization` value for the next call (fetching a token if needed).
    async fn header(&self, http: &Http) -> Result<HeaderValue, TargetError>;
    /// After a 401: forget `used`. Returns whether a retry can help (false for a
    /// credential that cannot change, such as a static key or Basic auth).
    async fn invalidate(&self, used: &HeaderValue) -> bool;
}

impl Http {
    /// One authenticated call. A 401 drops the token and retries once with a fresh one
    /// (it may have expired or been revoked early); a second 401 is handed back.
    pub(crate) async fn call_as(
        &self,
        credential: &dyn Credential,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        safe: bool,
    ) -> Result<Incoming, TargetError> {
        let mut refreshed = false;
        loop {
            let auth = credential.header(self).await?;
            let req = Outgoing {
                method: method.clone(),
                url: url.clone(),
                body: body.clone().map(Body::Json),
                safe,
                auth: Some(&auth),
            };
            let resp = self.send(&req).await?;
            if resp.status == StatusCode::UNAUTHORIZED
                && !refreshed
                && credential.invalidate(&auth).await
            {
                refreshed = true;
                tracing::debug!("401 from upstream; retrying once with a fresh token");
                continue;
            }
            if resp.status == StatusCode::UNAUTHORIZED || resp.status == StatusCode::FORBIDDEN {
                credential_rejected(self, resp.status.as_u16());
            }
            return Ok(resp);
        }
    }
}

/// Raises `credential_rejected`: the upstream refused the bridge's own credentials
/// (the token request, or a call with a fresh token: 401 or 403).
pub(crate) fn credential_rejected(http: &Http, status: u16) {
    crate::notify::emit(
        crate::notify::EventKind::CredentialRejected,
        crate::notify::Scope::Account(http.account().to_string()),
        format!("the upstream refused the bridge's credentials (HTTP {status}); check the configured credential and its permissions"),
        serde_json::json!({"account": http.account(), "status": status}),
    );
}

/// A fixed header (API key, Basic auth): nothing to refresh.
pub(crate) struct Static(pub HeaderValue);

#[async_trait]
impl Credential for Static {
    async fn header(&self, _http: &Http) -> Result<HeaderValue, TargetError> {
        Ok(self.0.clone())
    }
    async fn invalidate(&self, _used: &HeaderValue) -> bool {
        false
    }
}

/// `Bearer <value>`, marked sensitive so no debug output prints it.
pub(crate) fn bearer(value: &str) -> Result<HeaderValue, TargetError> {
    let mut header = HeaderValue::from_str(&format!("Bearer {value}"))
        .map_err(|_| TargetError::Protocol("token contains invalid characters".into()))?;
    header.set_sensitive(true);
    Ok(header)
}

#[derive(Clone)]
struct Cached {
    header: HeaderValue,
    /// When to stop using it: expiry minus the refresh margin.
    refresh_at: Instant,
}

/// A bearer token and when it expires, as a token endpoint answered.
pub(crate) struct FreshToken {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Default)]
pub(crate) struct TokenCache {
    cache: Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached header, or the one `fetch` obtains when none is fresh.
    pub(crate) async fn header<F, Fut>(&self, fetch: F) -> Result<HeaderValue, TargetError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FreshToken, TargetError>>,
    {
        // Holding the lock across the fetch is the single-flight: concurrent callers wait
        // here and then find the fresh token.
        let mut guard = self.cache.lock().await;
        if let Some(c) = guard.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.header.clone());
            }
        }
        let answer = fetch().await?;
        let header = bearer(&answer.access_token)?;
        let lifetime = Duration::from_secs(answer.expires_in);
        // A token shorter-lived than two margins is used for half its life instead.
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        tracing::debug!(expires_in = answer.expires_in, "obtained a bearer token");
        *guard = Some(Cached {
            header: header.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        Ok(header)
    }

    /// Forgets `used` (another caller may already have replaced it; that one is kept).
    pub(crate) async fn invalidate(&self, used: &HeaderValue) {
        let mut guard = self.cache.lock().await;
        if guard.as_ref().is_some_and(|c| c.header == *used) {
            *guard = None;
        }
    }
}
