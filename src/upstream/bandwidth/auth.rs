//! Credentials. v1: OAuth2 client credentials with a cached bearer token (the shared
//! [`TokenCache`]: refreshed within 60 s of expiry, as Bandwidth's SDKs do). Dashboard:
//! HTTP Basic. Every header value is marked sensitive.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::config::{BandwidthConfig, Dialect};
use super::wire;
use crate::upstream::credential::{Credential, FreshToken, Static, TokenCache};
use crate::upstream::http::{Body, Http, Outgoing};
use crate::upstream::TargetError;

pub(crate) enum Credentials {
    OAuth(OAuth),
    Basic(Static),
}

pub(crate) struct OAuth {
    token_url: Url,
    client_basic: HeaderValue,
    cache: TokenCache,
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
                    cache: TokenCache::default(),
                }))
            }
            Dialect::Dashboard => Ok(Credentials::Basic(Static(basic(
                &cfg.username,
                &cfg.password,
            )?))),
        }
    }
}

#[async_trait]
impl Credential for Credentials {
    async fn header(&self, http: &Http) -> Result<HeaderValue, TargetError> {
        match self {
            Credentials::Basic(b) => b.header(http).await,
            Credentials::OAuth(o) => o.cache.header(|| o.fetch(http)).await,
        }
    }

    async fn invalidate(&self, used: &HeaderValue) -> bool {
        match self {
            Credentials::Basic(b) => b.invalidate(used).await,
            Credentials::OAuth(o) => {
                o.cache.invalidate(used).await;
                true
            }
        }
    }
}

impl OAuth {
    async fn fetch(&self, http: &Http) -> Result<FreshToken, TargetError> {
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
            crate::upstream::credential::credential_rejected(http, resp.status.as_u16());
            return Err(TargetError::Auth(format!("token request refused: {why}")));
        }
        if !resp.status.is_success() {
            return Err(TargetError::Protocol(format!(
                "token endpoint answered {}",
                resp.status
            )));
        }
        let answer = wire::decode_token(ct, &resp.body)?;
        Ok(FreshToken {
            access_token: answer.access_token,
            expires_in: answer.expires_in,
        })
    }
}
