//! Who is calling. Every credential belongs to one tenant, so the tenant is the one whose
//! credential validates: an opaque bearer token by its hash, HTTP Basic by username and
//! argon2 password hash, a bearer JWT by the tenant's issuer, audiences and keys.
//! Every refusal is the same 401, whatever part was wrong.
mod basic;
mod jwt;
mod keys;
mod tokens;

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

pub use basic::hash_password;
pub use tokens::{new_token, sha256};

use super::error::ApiError;
use super::AppState;
use crate::config::TenantConfig;
use crate::provision::{Caller, Tenant};

/// Every credential of every tenant.
#[derive(Default)]
pub struct Credentials {
    tokens: tokens::TokenHashes,
    basic: basic::BasicCredentials,
    jwt: Vec<jwt::JwtValidator>,
}

impl Credentials {
    /// Adds the credentials `config` gives `tenant`.
    pub fn add_tenant(
        &mut self,
        tenant: &Arc<Tenant>,
        config: &TenantConfig,
    ) -> Result<(), String> {
        let named = |e: String| format!("tenant {}: {e}", tenant.name);
        for token in &config.tokens {
            self.tokens
                .add(&token.id, &token.sha256, tenant.clone())
                .map_err(named)?;
        }
        for basic in &config.basic {
            self.basic
                .add(
                    &basic.id,
                    &basic.username,
                    &basic.password_hash,
                    tenant.clone(),
                )
                .map_err(named)?;
        }
        if let Some(jwt) = &config.jwt {
            self.jwt
                .push(jwt::JwtValidator::new(jwt, tenant.clone()).map_err(named)?);
        }
        Ok(())
    }

    /// The caller an `Authorization` header value authenticates, if any; `Err` when a
    /// JWT could not be judged because its issuer's keys could not be loaded.
    pub async fn authenticate(
        &self,
        authorization: &str,
    ) -> Result<Option<Caller>, KeysUnavailable> {
        let Some((scheme, credentials)) = authorization.trim().split_once(' ') else {
            return Ok(None);
        };
        let credentials = credentials.trim();
        if credentials.is_empty() {
            return Ok(None);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(caller) = self.tokens.find(credentials) {
                return Ok(Some(caller));
            }
            if !self.jwt.is_empty() && jwt::looks_like_jwt(credentials) {
                return self.jwt_caller(credentials).await;
            }
            Ok(None)
        } else if scheme.eq_ignore_ascii_case("basic") {
            Ok(self.basic.verify(authorization, credentials).await)
        } else {
            Ok(None)
        }
    }

    async fn jwt_caller(&self, token: &str) -> Result<Option<Caller>, KeysUnavailable> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(e) => {
                tracing::debug!(reason = %e, "JWT refused: unreadable header");
                return Ok(None);
            }
        };
        let Some(issuer) = jwt::unverified_issuer(token) else {
            return Ok(None);
        };
        let mut unjudged = false;
        for validator in self.jwt.iter().filter(|v| v.issuer() == issuer) {
            if let Some(caller) = validator.validate(token, &header).await {
                return Ok(Some(caller));
            }
            unjudged |= validator.keys_unavailable();
        }
        if unjudged {
            Err(KeysUnavailable)
        } else {
            Ok(None)
        }
    }

    /// The `WWW-Authenticate` challenges a 401 carries: Bearer always (with RFC 6750's
    /// `invalid_token` when a bearer value was presented), Basic when some tenant
    /// accepts it.
    fn challenges(&self, bearer_presented: bool) -> Vec<HeaderValue> {
        let bearer = if bearer_presented {
            "Bearer realm=\"scim-bridge\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"scim-bridge\""
        };
        let mut challenges = vec![HeaderValue::from_static(bearer)];
        if !self.basic.is_empty() {
            challenges.push(HeaderValue::from_static(
                "Basic realm=\"scim-bridge\", charset=\"UTF-8\"",
            ));
        }
        challenges
    }
}

/// An IdP's signing keys (its JWKS) have never loaded, so its tokens cannot be checked.
/// Answered 503 with Retry-After: a 401 would tell Entra its credential is wrong, and
/// Entra quarantines an app after repeated 401s.
#[derive(Debug)]
pub struct KeysUnavailable;

/// For `check-config`: the tenant's JWT keys load (a JWKS is fetched); the number of
/// usable keys.
pub async fn check_jwt_keys(
    config: &crate::config::JwtConfig,
    tenant: &Arc<Tenant>,
) -> Result<usize, String> {
    jwt::JwtValidator::new(config, tenant.clone())?
        .check_keys()
        .await
}

/// The caller presenting `headers`, or the answer refusing it: 401 with a SCIM error and
/// `WWW-Authenticate`, or 503 while an IdP's signing keys cannot be loaded.
pub async fn caller(app: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match authorization {
        Some(value) => match app.credentials.authenticate(value).await {
            Ok(caller) => caller,
            Err(KeysUnavailable) => {
                return Err(ApiError::new(
                    503,
                    None,
                    "the identity provider's signing keys could not be loaded; retry later",
                )
                .retry(5)
                .into_response())
            }
        },
        None => None,
    };
    if let Some(caller) = caller {
        tracing::debug!(tenant = %caller.tenant.name, credential = %caller.credential_id, "authenticated");
        return Ok(caller);
    }
    let mut response = ApiError::new(401, None, "missing or invalid credentials").into_response();
    let headers = response.headers_mut();
    headers.remove(header::WWW_AUTHENTICATE);
    let bearer_presented = authorization
        .and_then(|a| a.split_whitespace().next())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"));
    for challenge in app.credentials.challenges(bearer_presented) {
        headers.append(header::WWW_AUTHENTICATE, challenge);
    }
    Err(response)
}
