//! Bearer-token authentication. Tokens are configured as SHA-256 hashes; the presented
//! token's hash is compared with every configured hash in constant time, and the tenant
//! is the one the matching credential belongs to.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::provision::{Caller, Tenant};

pub struct Credential {
    pub id: String,
    pub sha256: [u8; 32],
    pub tenant: Arc<Tenant>,
}

/// Every credential of every tenant.
#[derive(Default)]
pub struct Credentials {
    pub list: Vec<Credential>,
}

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Credentials {
    pub fn add(&mut self, id: &str, sha256_hex: &str, tenant: Arc<Tenant>) -> Result<(), String> {
        let bytes =
            hex::decode(sha256_hex).map_err(|_| format!("token {id}: sha256 is not hex"))?;
        let sha256: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("token {id}: sha256 is not 32 bytes"))?;
        self.list.push(Credential {
            id: id.to_string(),
            sha256,
            tenant,
        });
        Ok(())
    }

    /// Scans all credentials without stopping early, so timing reveals nothing.
    pub fn find(&self, token: &str) -> Option<Caller> {
        let presented = sha256(token);
        let mut found = None;
        for credential in &self.list {
            if bool::from(credential.sha256.ct_eq(&presented)) {
                found = Some(Caller {
                    tenant: credential.tenant.clone(),
                    credential_id: credential.id.clone(),
                });
            }
        }
        found
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves the caller or answers 401 with a SCIM error and `WWW-Authenticate`.
pub async fn require_caller(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match bearer(&request).and_then(|token| app.credentials.find(token)) {
        Some(caller) => {
            let tenant = super::observe::TenantLabel(caller.tenant.name.clone());
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            response.extensions_mut().insert(tenant);
            response
        }
        None => ApiError::new(401, None, "missing or invalid bearer token").into_response(),
    }
}
