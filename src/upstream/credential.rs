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
    pub(crate) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        safe: bool,
    ) -> Result<Incoming, TargetError> {
        let credential = self.credential();
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

/// Obtains a bearer token from a system's token endpoint (its OAuth grant).
#[async_trait]
pub(crate) trait TokenGrant: Send + Sync {
    async fn fetch(&self, http: &Http) -> Result<FreshToken, TargetError>;
}

/// The bridge's credential at one upstream: a fixed header (API key, Basic auth:
/// nothing to refresh), or a grant's bearer token, kept in the shared cache.
pub(crate) enum Auth<G> {
    Fixed(HeaderValue),
    Grant { grant: Box<G>, cache: TokenCache },
}

impl<G> Auth<G> {
    pub(crate) fn grant(grant: G) -> Self {
        Auth::Grant {
            grant: Box::new(grant),
            cache: TokenCache::default(),
        }
    }
}

#[async_trait]
impl<G: TokenGrant> Credential for Auth<G> {
    async fn header(&self, http: &Http) -> Result<HeaderValue, TargetError> {
        match self {
            Auth::Fixed(header) => Ok(header.clone()),
            Auth::Grant { grant, cache } => cache.header(|| grant.fetch(http)).await,
        }
    }

    async fn invalidate(&self, used: &HeaderValue) -> bool {
        match self {
            Auth::Fixed(_) => false,
            Auth::Grant { cache, .. } => {
                cache.invalidate(used).await;
                true
            }
        }
    }
}

/// Checks a token endpoint's answer: a 5xx is `Unavailable`; 400, 401 or 403 is the
/// bridge's credential refused (`reason` reads the upstream's own words, raising
/// `credential_rejected`); any other failure is `Protocol`.
pub(crate) fn check_token_answer(
    http: &Http,
    resp: &Incoming,
    reason: impl FnOnce() -> Option<String>,
) -> Result<(), TargetError> {
    if resp.status.is_server_error() {
        return Err(TargetError::Unavailable(format!(
            "token endpoint answered {}",
            resp.status
        )));
    }
    if matches!(resp.status.as_u16(), 400 | 401 | 403) {
        let why = reason().unwrap_or_else(|| resp.status.to_string());
        credential_rejected(http, resp.status.as_u16());
        return Err(TargetError::Auth(format!("token request refused: {why}")));
    }
    if !resp.status.is_success() {
        return Err(TargetError::Protocol(format!(
            "token endpoint answered {}",
            resp.status
        )));
    }
    Ok(())
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
