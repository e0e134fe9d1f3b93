//! Checks of tenant credentials that serde cannot make: every hash parses, every key
//! source is usable, and a credential decides one tenant.
use std::collections::BTreeMap;

use super::{BasicConfig, ConfigError, JwtConfig};

/// A Basic username names one tenant (several passwords of it may coexist, for rotation),
/// and every hash must parse now rather than fail every request later.
pub(super) fn validate_basic(
    tenant: &str,
    basic: &[BasicConfig],
    owners: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for credential in basic {
        let invalid = |why: &str| {
            ConfigError::Invalid(format!(
                "tenant {tenant}: basic credential {}: {why}",
                credential.id
            ))
        };
        if credential.username.is_empty() || credential.username.contains(':') {
            return Err(invalid("username must be non-empty and without ':'"));
        }
        argon2::password_hash::PasswordHash::new(&credential.password_hash)
            .map_err(|_| invalid("password_hash is not a PHC string (scim-bridge basic new)"))?;
        let owner = owners
            .entry(credential.username.clone())
            .or_insert_with(|| tenant.to_string());
        if owner != tenant {
            return Err(invalid(
                "username is also used by another tenant; a credential belongs to one tenant",
            ));
        }
    }
    Ok(())
}

/// Exactly one key source, asymmetric algorithms only (an HMAC "key" would be the public
/// key, which anyone has), and no issuer/audience pair shared by two tenants, so a token
/// decides its tenant.
pub(super) fn validate_jwt(
    tenant: &str,
    jwt: &JwtConfig,
    owners: &mut BTreeMap<(String, String), String>,
) -> Result<(), ConfigError> {
    let invalid = |why: String| ConfigError::Invalid(format!("tenant {tenant}: jwt: {why}"));
    let sources = [
        jwt.jwks_url.is_some(),
        jwt.public_key_pem.is_some(),
        jwt.public_key_pem_file.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(invalid(
            "set exactly one of jwks_url, public_key_pem, public_key_pem_file".into(),
        ));
    }
    if jwt.issuer.is_empty() || jwt.audiences.is_empty() {
        return Err(invalid(
            "issuer and at least one audience are required".into(),
        ));
    }
    if jwt.algorithms.is_empty() {
        return Err(invalid("algorithms must not be empty".into()));
    }
    for name in &jwt.algorithms {
        let algorithm: jsonwebtoken::Algorithm = name
            .parse()
            .map_err(|_| invalid(format!("unknown algorithm {name:?}")))?;
        use jsonwebtoken::Algorithm::{HS256, HS384, HS512};
        if matches!(algorithm, HS256 | HS384 | HS512) {
            return Err(invalid(format!(
                "{name} is symmetric; only public-key algorithms (RS256, ES256, ...) are allowed"
            )));
        }
    }
    for audience in &jwt.audiences {
        let owner = owners
            .entry((jwt.issuer.clone(), audience.clone()))
            .or_insert_with(|| tenant.to_string());
        if owner != tenant {
            return Err(invalid(format!(
                "issuer {} with audience {audience} is also tenant {owner}'s",
                jwt.issuer
            )));
        }
    }
    Ok(())
}
