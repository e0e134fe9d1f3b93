//! Credentials. v1: OAuth2 client credentials with a cached bearer token (the shared
//! [`TokenCache`]: refreshed within 60 s of expiry, as Bandwidth's SDKs do). Dashboard:
//! HTTP Basic. Every header value is marked sensitive.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderValue;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::config::{BandwidthConfig, Dialect};
use super::wire;
use crate::upstream::credential::{check_token_answer, Auth, FreshToken, TokenGrant};
use crate::upstream::http::{Body, Http, Outgoing};
use crate::upstream::TargetError;

/// v1's OAuth client credentials, or the dashboard's Basic auth.
pub(crate) type Credentials = Auth<ClientCredentials>;

pub(crate) struct ClientCredentials {
    token_url: Url,
    client_basic: HeaderValue,
}

fn basic(user: &str, secret: &SecretString) -> Result<HeaderValue, TargetError> {
    let raw = format!("{user}:{}", secret.expose_secret());
    let mut v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)))
        .map_err(|_| TargetError::Auth("credentials contain invalid characters".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The credential of the config's dialect.
pub(crate) fn credentials(cfg: &BandwidthConfig) -> Result<Credentials, TargetError> {
    match cfg.dialect {
        Dialect::V1 => {
            let token_url = Url::parse(&cfg.effective_token_url())
                .map_err(|e| TargetError::Invalid(format!("bad token_url: {e}")))?;
            Ok(Auth::grant(ClientCredentials {
                token_url,
                client_basic: basic(&cfg.client_id, &cfg.client_secret)?,
            }))
        }
        Dialect::Dashboard => Ok(Auth::Fixed(basic(&cfg.username, &cfg.password)?)),
    }
}

#[async_trait]
impl TokenGrant for ClientCredentials {
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
        check_token_answer(http, &resp, || wire::error_description(ct, &resp.body))?;
        let answer = wire::decode_token(ct, &resp.body)?;
        Ok(FreshToken {
            access_token: answer.access_token,
            expires_in: answer.expires_in,
        })
    }
}
