//! The bridge's NetSapiens credential: a static API key, or the password grant of
//! `POST /tokens` with the shared token cache (refreshed before expiry), trying the
//! refresh token first and the password grant when that is refused.

use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::config::NsCredential;
use super::wire::{self, TokenRequest};
use crate::upstream::credential::{bearer, check_token_answer, Auth, FreshToken, TokenGrant};
use crate::upstream::http::{Body, Http, Outgoing};
use crate::upstream::TargetError;

/// A static API key, or the password grant.
pub(crate) type NsAuth = Auth<PasswordGrant>;

pub(crate) struct PasswordGrant {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    username: String,
    password: SecretString,
    refresh_token: Mutex<Option<SecretString>>,
}

/// The configured credential; the password grant asks `token_url`.
pub(crate) fn ns_auth(credential: &NsCredential, token_url: Url) -> Result<NsAuth, TargetError> {
    match credential {
        NsCredential::ApiKey(key) => Ok(Auth::Fixed(bearer(key.expose_secret())?)),
        NsCredential::Password {
            client_id,
            client_secret,
            username,
            password,
        } => Ok(Auth::grant(PasswordGrant {
            token_url,
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            username: username.clone(),
            password: password.clone(),
            refresh_token: Mutex::new(None),
        })),
    }
}

#[async_trait]
impl TokenGrant for PasswordGrant {
    async fn fetch(&self, http: &Http) -> Result<FreshToken, TargetError> {
        let refresh = self.refresh_token.lock().await.take();
        if let Some(refresh) = refresh {
            let req = TokenRequest {
                grant_type: "refresh_token",
                client_id: &self.client_id,
                client_secret: self.client_secret.expose_secret(),
                username: None,
                password: None,
                refresh_token: Some(refresh.expose_secret()),
            };
            match self.request(http, &req).await {
                Ok(t) => return Ok(t),
                // A refused refresh token falls back to the password; anything else
                // (the server unreachable) would fail the password grant too.
                Err(TargetError::Auth(_)) => {
                    tracing::debug!("refresh token refused; using the password grant")
                }
                Err(e) => return Err(e),
            }
        }
        let req = TokenRequest {
            grant_type: "password",
            client_id: &self.client_id,
            client_secret: self.client_secret.expose_secret(),
            username: Some(&self.username),
            password: Some(self.password.expose_secret()),
            refresh_token: None,
        };
        self.request(http, &req).await
    }
}

impl PasswordGrant {
    async fn request(
        &self,
        http: &Http,
        req: &TokenRequest<'_>,
    ) -> Result<FreshToken, TargetError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| TargetError::Protocol(format!("cannot encode token request: {e}")))?;
        let out = Outgoing {
            method: Method::POST,
            url: self.token_url.clone(),
            body: Some(Body::Json(body)),
            safe: true,
            auth: None,
        };
        let resp = http.send(&out).await?;
        check_token_answer(http, &resp, || wire::error_message(&resp.body))?;
        let answer = wire::decode_token(&resp.body)?;
        if let Some(r) = answer.refresh_token {
            *self.refresh_token.lock().await = Some(SecretString::from(r));
        }
        Ok(FreshToken {
            access_token: answer.access_token,
            expires_in: answer.expires_in,
        })
    }
}
