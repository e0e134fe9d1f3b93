//! Console sign-in: local accounts with argon2 hashes, sessions held in this process
//! (keyed by the SHA-256 of the cookie, so a leaked memory dump or log holds no usable
//! id), a CSRF token per session, and login rate limiting.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::admin::{Admin, AdminAccount, AdminConfig};
use crate::http::auth::sha256;

pub const SESSION_COOKIE: &str = "scim_bridge_admin";
/// Double-submit token of the login form (no session exists yet to hold one).
pub const LOGIN_COOKIE: &str = "scim_bridge_login";
const RATE_WINDOW: Duration = Duration::from_secs(60);

struct Session {
    admin: Admin,
    csrf: String,
    expires: Instant,
}

pub struct Sessions {
    ttl: Duration,
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

/// A random, URL-safe token of 256 bits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two secrets are equal, in time that does not tell how much of them matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for `admin`; returns the cookie value.
    pub fn open(&self, admin: Admin) -> String {
        let id = random_token();
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            sha256(&id),
            Session {
                admin,
                csrf: random_token(),
                expires: now + self.ttl,
            },
        );
        id
    }

    /// The admin and CSRF token of a live session.
    pub fn get(&self, id: &str) -> Option<(Admin, String)> {
        let sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(&sha256(id))
            .filter(|s| s.expires > Instant::now())
            .map(|s| (s.admin.clone(), s.csrf.clone()))
    }

    pub fn close(&self, id: &str) {
        let mut sessions = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&sha256(id));
    }
}

/// Failed logins per key (an account name, or `*` for all of them) in the current
/// minute. Counting failures by name stops guessing one account's password; the
/// overall count (ten times the per-name limit) stops spraying many names.
pub struct LoginLimiter {
    per_name: u32,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_name: per_minute.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, key: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(key)
            .filter(|(start, _)| start.elapsed() < RATE_WINDOW)
            .map_or(0, |(_, n)| *n)
    }

    /// Whether a login for `name` may be tried now.
    pub fn allows(&self, name: &str) -> bool {
        self.count(name) < self.per_name && self.count("*") < self.per_name.saturating_mul(10)
    }

    pub fn failed(&self, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.retain(|_, (start, _)| start.elapsed() < RATE_WINDOW);
        for key in [name, "*"] {
            let entry = failures
                .entry(key.to_string())
                .or_insert((Instant::now(), 0));
            entry.1 += 1;
        }
    }
}

/// The accounts of `[admin]`, checked with argon2 off the async threads.
pub struct Accounts {
    accounts: Vec<AdminAccount>,
    /// Verified for unknown names, so a refusal takes as long whether or not the name
    /// exists.
    decoy: String,
}

impl Accounts {
    pub fn new(config: &AdminConfig) -> Result<Self, String> {
        let decoy = crate::http::auth::hash_password(&random_token())?;
        Ok(Self {
            accounts: config.accounts.clone(),
            decoy,
        })
    }

    pub async fn verify(&self, name: &str, password: &str) -> Option<Admin> {
        let account = self.accounts.iter().find(|a| a.name == name).cloned();
        let phc = account
            .as_ref()
            .map_or_else(|| self.decoy.clone(), |a| a.password_hash.clone());
        let password = password.to_string();
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|hash| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let account = account.filter(|_| verified)?;
        Some(Admin {
            name: account.name,
            role: account.role,
            tenants: account.tenants,
        })
    }
}

/// The `Set-Cookie` value for a cookie of the console.
pub fn cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn removed_cookie(name: &str, secure: bool) -> String {
    cookie(name, "", Duration::ZERO, secure)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::AdminRole;

    fn admin() -> Admin {
        Admin {
            name: "ann".into(),
            role: AdminRole::Viewer,
            tenants: vec![],
        }
    }

    #[test]
    fn sessions_expire_and_close() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let id = sessions.open(admin());
        let (who, csrf) = sessions.get(&id).unwrap();
        assert_eq!(who.name, "ann");
        assert_eq!(csrf.len(), 43);
        assert!(sessions.get("forged").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.get(&id).is_none(), "expired");
        let id = Sessions::new(Duration::from_secs(60)).open(admin());
        let sessions2 = Sessions::new(Duration::from_secs(60));
        assert!(sessions2.get(&id).is_none(), "sessions are per store");
    }

    #[test]
    fn failed_logins_are_limited_per_name_and_overall() {
        let limiter = LoginLimiter::new(2);
        assert!(limiter.allows("ann"));
        limiter.failed("ann");
        limiter.failed("ann");
        assert!(!limiter.allows("ann"));
        assert!(limiter.allows("bob"));
        for i in 0..20 {
            limiter.failed(&format!("spray{i}"));
        }
        assert!(!limiter.allows("bob"), "too many failures overall");
    }

    #[test]
    fn cookies_are_strict_http_only_and_secure_under_tls() {
        let c = cookie("a", "b", Duration::from_secs(60), true);
        assert_eq!(
            c,
            "a=b; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert!(!cookie("a", "b", Duration::from_secs(1), false).contains("Secure"));
        assert_eq!(
            cookie_value("x=1; scim_bridge_admin=abc", SESSION_COOKIE),
            Some("abc")
        );
    }
}
