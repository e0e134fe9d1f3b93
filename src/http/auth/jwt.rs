//! OAuth2 bearer JWTs (Entra ID): signature by one of the tenant's keys with an allowed
//! public-key algorithm, the tenant's issuer, one of its audiences, `exp`/`nbf` within
//! the leeway. `alg: none` never parses into a header, and HMAC algorithms are neither
//! configurable nor matched to a public key.
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::Value;

use super::keys::{Jwks, Key, KeyFamily, KeySource};
use crate::config::JwtConfig;
use crate::provision::{Caller, Tenant};

pub struct JwtValidator {
    credential_id: String,
    tenant: Arc<Tenant>,
    issuer: String,
    audiences: Vec<String>,
    client_ids: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
    keys: KeySource,
}

impl JwtValidator {
    pub fn new(config: &JwtConfig, tenant: Arc<Tenant>) -> Result<JwtValidator, String> {
        let algorithms = config
            .algorithms
            .iter()
            .map(|name| {
                name.parse::<Algorithm>()
                    .ok()
                    .filter(|a| KeyFamily::of(*a).is_some())
                    .ok_or_else(|| format!("jwt: algorithm {name:?} is not allowed"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = if let Some(url) = &config.jwks_url {
            KeySource::Jwks(Arc::new(Jwks::new(
                url,
                Duration::from_secs(config.jwks_refresh_secs),
                Duration::from_secs(config.jwks_min_refetch_secs),
            )?))
        } else if let Some(pem) = &config.public_key_pem {
            KeySource::Static(Arc::new(
                Key::from_pem(pem.as_bytes()).map_err(|e| format!("jwt.public_key_pem: {e}"))?,
            ))
        } else if let Some(path) = &config.public_key_pem_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("jwt.public_key_pem_file {path}: {e}"))?;
            KeySource::Static(Arc::new(
                Key::from_pem(&pem).map_err(|e| format!("jwt.public_key_pem_file {path}: {e}"))?,
            ))
        } else {
            return Err("jwt: no key source".into());
        };
        Ok(JwtValidator {
            credential_id: config.id.clone(),
            tenant,
            issuer: config.issuer.clone(),
            audiences: config.audiences.clone(),
            client_ids: config.client_ids.clone(),
            algorithms,
            leeway_secs: config.leeway_secs,
            keys,
        })
    }

    pub async fn check_keys(&self) -> Result<usize, String> {
        self.keys.check().await
    }

    /// Any directory app may get a token for the audience; `client_ids` narrows it to
    /// the provisioning client (`azp` in v2 tokens, `appid` in v1).
    fn client_allowed(&self, claims: &Value) -> bool {
        if self.client_ids.is_empty() {
            return true;
        }
        ["azp", "appid"]
            .iter()
            .filter_map(|name| claims.get(*name).and_then(Value::as_str))
            .any(|client| self.client_ids.iter().any(|c| c == client))
    }

    /// See [`KeySource::unavailable`].
    pub fn keys_unavailable(&self) -> bool {
        self.keys.unavailable()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The caller if this tenant accepts the token. Reasons for refusal go to the debug
    /// log (never the token).
    pub async fn validate(&self, token: &str, header: &Header) -> Option<Caller> {
        if !self.algorithms.contains(&header.alg) {
            tracing::debug!(tenant = %self.tenant.name, alg = ?header.alg, "JWT refused: algorithm not allowed");
            return None;
        }
        let family = KeyFamily::of(header.alg)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        let candidates = self.keys.candidates(header.kid.as_deref()).await;
        let usable = candidates
            .iter()
            .filter(|k| k.family == family && k.algorithm.is_none_or(|a| a == header.alg));
        let mut refusal = None;
        for key in usable {
            match jsonwebtoken::decode::<Value>(token, &key.decoding, &validation) {
                Ok(data) if self.client_allowed(&data.claims) => {
                    return Some(Caller {
                        tenant: self.tenant.clone(),
                        credential_id: self.credential_id.clone(),
                    })
                }
                Ok(_) => {
                    tracing::debug!(tenant = %self.tenant.name, "JWT refused: client not in client_ids");
                    return None;
                }
                Err(e) => refusal = Some(e),
            }
        }
        match refusal {
            Some(e) => tracing::debug!(tenant = %self.tenant.name, reason = %e, "JWT refused"),
            None => {
                tracing::debug!(tenant = %self.tenant.name, kid = ?header.kid, "JWT refused: no key for its kid and alg")
            }
        }
        None
    }
}

/// Whether a bearer value has the shape of a JWS compact serialisation.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The `iss` claim, read without verifying anything: only to pick the tenants whose
/// validator should then verify the token properly.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape_and_unverified_issuer() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://issuer/"}"#)
        );
        assert!(looks_like_jwt(&token));
        assert_eq!(
            unverified_issuer(&token).as_deref(),
            Some("https://issuer/")
        );
        assert!(looks_like_jwt("a.b."), "alg none has an empty signature");
        for opaque in [
            "opaque-token_123",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "a b.c.d",
            "a.b+.c",
        ] {
            assert!(!looks_like_jwt(opaque), "{opaque}");
        }
        assert_eq!(unverified_issuer("a.%%%.c"), None);
        assert_eq!(unverified_issuer(&format!("a.{}.c", b64("[]"))), None);
    }
}
