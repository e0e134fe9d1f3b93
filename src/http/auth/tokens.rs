//! Opaque bearer tokens, configured as SHA-256 hashes. The presented token's hash is
//! compared with every configured hash in constant time.
use std::sync::Arc;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::provision::{Caller, Tenant};

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A random token (256 bits, URL-safe) and its hex SHA-256, as `token new` prints
/// them and the demo configures them.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hex::encode(sha256(&token));
    (token, hash)
}

struct TokenHash {
    id: String,
    sha256: [u8; 32],
    tenant: Arc<Tenant>,
}

#[derive(Default)]
pub struct TokenHashes {
    list: Vec<TokenHash>,
}

impl TokenHashes {
    pub fn add(&mut self, id: &str, sha256_hex: &str, tenant: Arc<Tenant>) -> Result<(), String> {
        let bytes =
            hex::decode(sha256_hex).map_err(|_| format!("token {id}: sha256 is not hex"))?;
        let sha256: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("token {id}: sha256 is not 32 bytes"))?;
        self.list.push(TokenHash {
            id: id.to_string(),
            sha256,
            tenant,
        });
        Ok(())
    }

    /// Scans all hashes without stopping early, so timing reveals nothing.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_matches() {
        let (a, hash) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.len() >= 43);
        assert_eq!(hash, hex::encode(sha256(&a)));
    }
}
