//! HTTP Basic credentials (Okta, OneLogin): a username and an argon2 password hash.
//!
//! Argon2 is deliberately slow, and an IdP sends the same header on every request, so a
//! successful verification is remembered for a short time, keyed by the SHA-256 of the
//! whole header value (the header itself is never kept). Failures are not remembered;
//! argon2 runs on the blocking pool behind a semaphore, so a flood of wrong passwords
//! costs at most that many cores and never stalls the async workers.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use tokio::sync::Semaphore;

use super::tokens::sha256;
use crate::provision::{Caller, Tenant};

/// How long a verified header is trusted without argon2. Short, so a password removed
/// from the configuration (a restart) or a cache entry can never outlive rotation much.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

struct BasicEntry {
    id: String,
    username: String,
    phc: String,
    tenant: Arc<Tenant>,
}

pub struct BasicCredentials {
    entries: Vec<BasicEntry>,
    /// The most entries one username has (rotation keeps two for a while): every
    /// attempt runs argon2 this many times.
    rounds: usize,
    cache: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
    argon2_slots: Arc<Semaphore>,
}

impl Default for BasicCredentials {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            entries: Vec::new(),
            rounds: 0,
            cache: Mutex::new(HashMap::new()),
            argon2_slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl BasicCredentials {
    pub fn add(
        &mut self,
        id: &str,
        username: &str,
        password_hash: &str,
        tenant: Arc<Tenant>,
    ) -> Result<(), String> {
        PasswordHash::new(password_hash)
            .map_err(|_| format!("basic credential {id}: password_hash is not a PHC string"))?;
        self.entries.push(BasicEntry {
            id: id.to_string(),
            username: username.to_string(),
            phc: password_hash.to_string(),
            tenant,
        });
        let same_username = self
            .entries
            .iter()
            .filter(|e| e.username == username)
            .count();
        self.rounds = self.rounds.max(same_username);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller whose username and password the `Basic` credentials (`encoded`, the
    /// part after the scheme) are. `header` is the whole header value, the cache key.
    pub async fn verify(&self, header: &str, encoded: &str) -> Option<Caller> {
        if self.entries.is_empty() {
            return None;
        }
        let key = sha256(header);
        if let Some(caller) = self.cached(&key) {
            return Some(caller);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        let mut candidates: Vec<(Option<usize>, String)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.username == username)
            .map(|(i, e)| (Some(i), e.phc.clone()))
            .collect();
        // Decoys bring every attempt to the same number of argon2 runs, so the time a
        // refusal takes does not tell whether the username exists.
        while candidates.len() < self.rounds {
            candidates.push((None, self.entries[0].phc.clone()));
        }
        let matched = self.run_argon2(candidates, password.to_string()).await?;
        let entry = &self.entries[matched];
        let caller = Caller {
            tenant: entry.tenant.clone(),
            credential_id: entry.id.clone(),
        };
        self.remember(key, caller.clone());
        Some(caller)
    }

    /// Verifies the password against each candidate hash, in order; a decoy (`None`)
    /// costs the same and never matches.
    async fn run_argon2(
        &self,
        candidates: Vec<(Option<usize>, String)>,
        password: String,
    ) -> Option<usize> {
        let slot = self.argon2_slots.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || {
            // Held here, not by the request: a client that hangs up does not free the
            // slot while argon2 still runs.
            let _slot = slot;
            candidates
                .into_iter()
                .find(|(i, phc)| verify_phc(phc, &password) && i.is_some())
                .and_then(|(i, _)| i)
        })
        .await
        .ok()
        .flatten()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Caller> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(caller, _)| caller.clone())
    }

    fn remember(&self, key: [u8; 32], caller: Caller) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Only verified headers are stored, so the map is bounded by the valid
        // credentials; dropping expired ones keeps it at that.
        cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        cache.insert(key, (caller, Instant::now()));
    }
}

fn verify_phc(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new argon2id PHC string for `password`, with the crate's default (OWASP) costs.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};

    fn tenant() -> Arc<Tenant> {
        let config = crate::config::Config::from_toml_str(
            "[tenants.t.bandwidth]\nbase_url = \"http://127.0.0.1:9\"\naccount_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        crate::app::build_tenant("t", &config.tenants["t"]).unwrap()
    }

    fn cheap_hash(password: &str) -> String {
        let params = argon2::Params::new(1024, 1, 1, None).unwrap();
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    fn header(user: &str, password: &str) -> (String, String) {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        (format!("Basic {encoded}"), encoded)
    }

    #[tokio::test]
    async fn only_verified_headers_are_cached_and_by_hash() {
        let mut basic = BasicCredentials::default();
        basic
            .add("b1", "okta", &cheap_hash("right"), tenant())
            .unwrap();
        let (good, good_encoded) = header("okta", "right");
        let (wrong, wrong_encoded) = header("okta", "wrong");
        let (stranger, stranger_encoded) = header("nobody", "right");

        assert!(basic.cached(&sha256(&good)).is_none());
        let caller = basic.verify(&good, &good_encoded).await.unwrap();
        assert_eq!(caller.credential_id, "b1");
        assert_eq!(
            basic.cached(&sha256(&good)).unwrap().credential_id,
            "b1",
            "a verified header is remembered"
        );
        assert!(basic.verify(&wrong, &wrong_encoded).await.is_none());
        assert!(basic.verify(&stranger, &stranger_encoded).await.is_none());
        let cache = basic.cache.lock().unwrap();
        assert_eq!(cache.len(), 1, "failures are not remembered");
        assert!(
            cache.contains_key(&sha256(&good)),
            "keyed by the header's hash, not the header"
        );
    }
}
