//! Credentials. v1: OAuth2 client credentials with a cached bearer token, refreshed within
//! 60 s of expiry (as Bandwidth's SDKs do), single-flight so a burst of callers triggers
//! one token call. Dashboard: HTTP Basic. Every header value is marked sensitive.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::config::{BandwidthConfig, Dialect};
use super::http::{Body, Http, Outgoing};
use super::wire;
use crate::upstream::TargetError;

const REFRESH_MARGIN: Duration = Duration::from_secs(60);

pub(crate) enum Credentials {
    OAuth(OAuth),
    Basic(HeaderValue),
}

pub(crate) struct OAuth {
    token_url: Url,
    client_basic: HeaderValue,
    cache: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    header: HeaderValue,
    /// When to stop using it: expiry minus the refresh margin.
    refresh_at: Instant,
}

fn basic(user: &str, secret: &SecretString) -> Result<HeaderValue, TargetError> {
    let raw = format!("{user}:{}", secret.expose_secret());
    let mut v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)))
        .map_err(|_| TargetError::Auth("credentials contain invalid characters".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Credentials {
    pub(crate) fn new(cfg: &BandwidthConfig) -> Result<Self, TargetError> {
        match cfg.dialect {
            Dialect::V1 => {
                let token_url = Url::parse(&cfg.effective_token_url())
                    .map_err(|e| TargetError::Invalid(format!("bad token_url: {e}")))?;
                Ok(Credentials::OAuth(OAuth {
                    token_url,
                    client_basic: basic(&cfg.client_id, &cfg.client_secret)?,
                    cache: Mutex::new(None),
                }))
            }
            Dialect::Dashboard => Ok(Credentials::Basic(basic(&cfg.username, &cfg.password)?)),
        }
    }

    /// The `Authorization` value for the next call (fetching a token if needed).
    pub(crate) async fn header(&self, http: &Http) -> Result<HeaderValue, TargetError> {
        match self {
            Credentials::Basic(h) => Ok(h.clone()),
            Credentials::OAuth(o) => o.header(http).await,
        }
    }

    /// After a 401: forget `used` so the next `header` fetches a new token. Returns
    /// whether a retry can help (false for Basic, whose credentials cannot change).
    pub(crate) async fn invalidate(&self, used: &HeaderValue) -> bool {
        match self {
            Credentials::Basic(_) => false,
            Credentials::OAuth(o) => {
                let mut guard = o.cache.lock().await;
                // Another caller may already have replaced it; keep that fresh token.
                if guard.as_ref().is_some_and(|c| c.header == *used) {
                    *guard = None;
                }
                true
            }
        }
    }
}

impl OAuth {
    async fn header(&self, http: &Http) -> Result<HeaderValue, TargetError> {
        // Holding the lock across the fetch is the single-flight: concurrent callers wait
        // here and then find the fresh token.
        let mut guard = self.cache.lock().await;
        if let Some(c) = guard.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.header.clone());
            }
        }
        let fresh = self.fetch(http).await?;
        *guard = Some(fresh.clone());
        Ok(fresh.header)
    }

    async fn fetch(&self, http: &Http) -> Result<Cached, TargetError> {
        let req = Outgoing {
            method: Method::POST,
            url: self.token_url.clone(),
            body: Some(Body::Form("grant_type=client_credentials".into())),
            safe: true,
            auth: Some(&self.client_basic),
        };
        let resp = http.send(&req).await?;
        let ct = resp.content_type.as_deref();
        if resp.status.is_server_error() {
            return Err(TargetError::Unavailable(format!(
                "token endpoint answered {}",
                resp.status
            )));
        }
        if resp.status == StatusCode::UNAUTHORIZED
            || resp.status == StatusCode::BAD_REQUEST
            || resp.status == StatusCode::FORBIDDEN
        {
            let why =
                wire::error_description(ct, &resp.body).unwrap_or_else(|| resp.status.to_string());
            credential_rejected(http, resp.status.as_u16());
            return Err(TargetError::Auth(format!("token request refused: {why}")));
        }
        if !resp.status.is_success() {
            return Err(TargetError::Protocol(format!(
                "token endpoint answered {}",
                resp.status
            )));
        }
        let answer = wire::decode_token(ct, &resp.body)?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| TargetError::Protocol("token contains invalid characters".into()))?;
        header.set_sensitive(true);
        let lifetime = Duration::from_secs(answer.expires_in);
        // A token shorter-lived than two margins is used for half its life instead.
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        tracing::debug!(expires_in = answer.expires_in, "obtained OAuth2 token");
        Ok(Cached {
            header,
            refresh_at: Instant::now() + lifetime - margin,
        })
    }
}

/// Raises `credential_rejected`: the upstream refused the bridge's own credentials
/// (the token request, or a call with a fresh token: 401 or 403).
pub(crate) fn credential_rejected(http: &Http, status: u16) {
    crate::notify::emit(
        crate::notify::EventKind::CredentialRejected,
        crate::notify::Scope::Account(http.account().to_string()),
        format!("Bandwidth refused the bridge's credentials (HTTP {status}); check the client id and secret and the account's permissions"),
        serde_json::json!({"account": http.account(), "status": status}),
    );
}
