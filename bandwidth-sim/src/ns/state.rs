//! The NetSapiens side's memory: users per domain (with writes not yet readable), tokens,
//! fault settings, rate windows and stats. One `Mutex`, never held across an `.await`.

use super::config::{NsConfig, NsUser};
use crate::faults::{Gate, Guarded};
use crate::state::{lock_unpoisoned, ApiError, SimStats};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One user: the version readers see, and the latest write, readable from `ready_at`.
#[derive(Clone, Debug)]
pub struct Record {
    visible: Option<NsUser>,
    latest: NsUser,
    ready_at: Instant,
}

impl Record {
    fn readable(&self, now: Instant) -> Option<&NsUser> {
        if now >= self.ready_at {
            Some(&self.latest)
        } else {
            self.visible.as_ref()
        }
    }
}

/// Who a request speaks for.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The rate limit's key: the API key's id or the token's login.
    pub id: String,
    pub key_id: String,
    pub description: String,
    /// A domain name, or `*`.
    pub domain: String,
    pub user_scope: String,
    pub read_only: bool,
}

pub struct Token {
    pub login: String,
    pub expires: Instant,
}

pub struct Inner {
    /// (domain, extension) -> record
    pub users: BTreeMap<(String, String), Record>,
    pub tokens: HashMap<String, Token>,
    /// refresh token -> login
    pub refresh: HashMap<String, String>,
    /// Fault settings, rate windows and counters.
    pub gate: Gate,
}

pub struct NsShared {
    pub config: NsConfig,
    inner: Mutex<Inner>,
}

/// `GET /_sim/state`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NsSnapshot {
    pub system: String,
    pub domains: BTreeMap<String, DomainState>,
    pub stats: SimStats,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DomainState {
    pub users: Vec<NsUser>,
}

pub fn ns_error(err: ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({"code": err.status, "message": err.description})),
    )
        .into_response()
}

/// Orders extensions as numbers (`99` before `100`), which string order would not.
fn ext_order(a: &NsUser, b: &NsUser) -> std::cmp::Ordering {
    (a.user.len(), &a.user).cmp(&(b.user.len(), &b.user))
}

impl NsShared {
    pub fn new(config: NsConfig) -> Self {
        let inner = Inner {
            users: BTreeMap::new(),
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            gate: Gate::new(config.faults.clone()),
        };
        NsShared {
            config,
            inner: Mutex::new(inner),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock_unpoisoned(&self.inner)
    }

    pub fn has_domain(&self, domain: &str) -> bool {
        self.config.domains.iter().any(|d| d == domain)
    }

    pub fn snapshot(&self) -> NsSnapshot {
        let now = Instant::now();
        let inner = self.lock();
        let mut domains: BTreeMap<String, DomainState> = self
            .config
            .domains
            .iter()
            .map(|d| (d.clone(), DomainState::default()))
            .collect();
        for ((domain, _), record) in &inner.users {
            if let Some(u) = record.readable(now) {
                domains
                    .entry(domain.clone())
                    .or_default()
                    .users
                    .push(u.clone());
            }
        }
        for d in domains.values_mut() {
            d.users.sort_by(ext_order);
        }
        NsSnapshot {
            system: "netsapiens".into(),
            domains,
            stats: inner.gate.stats.clone(),
        }
    }

    /// The caller behind `Authorization: Bearer ...`: an API key or a live access token.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let value = headers.get("authorization")?.to_str().ok()?;
        let bearer = value.strip_prefix("Bearer ")?.trim();
        if let Some(k) = self.config.api_keys.iter().find(|k| k.key == bearer) {
            return Some(Caller {
                id: format!("key:{}", &k.key[..k.key.len().min(12)]),
                key_id: k.key[..k.key.len().min(12)].to_string(),
                description: k.description.clone(),
                domain: k.domain.clone(),
                user_scope: k.user_scope.clone(),
                read_only: k.read_only,
            });
        }
        let login = {
            let inner = self.lock();
            let token = inner.tokens.get(bearer)?;
            (token.expires > Instant::now()).then(|| token.login.clone())?
        };
        let l = self.config.logins.iter().find(|l| l.username == login)?;
        Some(Caller {
            id: format!("login:{}", l.username),
            key_id: String::new(),
            description: format!("access token of {}", l.username),
            domain: l.domain.clone(),
            user_scope: l.user_scope.clone(),
            read_only: false,
        })
    }

    /// Resolves `~`, then checks the caller may touch `domain` (and write, if it does).
    pub fn domain_for(
        &self,
        caller: &Caller,
        domain: &str,
        write: bool,
    ) -> Result<String, ApiError> {
        let domain = if domain == "~" {
            if caller.domain == "*" {
                return Err(ApiError::not_found(
                    "'~' names no domain for a key of all domains",
                ));
            }
            caller.domain.clone()
        } else {
            domain.to_string()
        };
        if caller.domain != "*" && caller.domain != domain {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("this credential is limited to domain {}", caller.domain),
            ));
        }
        if write && caller.read_only {
            return Err(ApiError::new(403, "forbidden", "this API key is read-only"));
        }
        if !self.has_domain(&domain) {
            return Err(ApiError::not_found(format!("no domain {domain}")));
        }
        Ok(domain)
    }

    pub fn get_user(&self, domain: &str, ext: &str) -> Option<NsUser> {
        let inner = self.lock();
        inner
            .users
            .get(&(domain.to_string(), ext.to_string()))
            .and_then(|r| r.readable(Instant::now()).cloned())
    }

    /// The domain's readable users, ordered by extension.
    pub fn list_users(&self, domain: &str) -> Vec<NsUser> {
        let now = Instant::now();
        let inner = self.lock();
        let mut users: Vec<NsUser> = inner
            .users
            .iter()
            .filter(|((d, _), _)| d == domain)
            .filter_map(|(_, r)| r.readable(now).cloned())
            .collect();
        users.sort_by(ext_order);
        users
    }

    /// Stores a write; `delay` zero makes it readable at once. Checks extension and
    /// login-username uniqueness against every accepted write, readable or not.
    pub fn write_user(
        &self,
        user: NsUser,
        creating: bool,
        delay: Duration,
    ) -> Result<(), ApiError> {
        let mut inner = self.lock();
        let key = (user.domain.clone(), user.user.clone());
        let exists = inner.users.contains_key(&key);
        if creating && exists {
            return Err(ApiError::new(
                409,
                "conflict",
                format!(
                    "user {} already exists in domain {}",
                    user.user, user.domain
                ),
            ));
        }
        if !creating && !exists {
            return Err(ApiError::not_found(format!(
                "no user {} in domain {}",
                user.user, user.domain
            )));
        }
        let taken = inner.users.iter().any(|(k, r)| {
            *k != key
                && r.latest
                    .login_username
                    .eq_ignore_ascii_case(&user.login_username)
        });
        if taken {
            return Err(ApiError::new(
                409,
                "conflict",
                format!("login-username {} is already in use", user.login_username),
            ));
        }
        let now = Instant::now();
        let visible = inner.users.get(&key).and_then(|r| r.readable(now).cloned());
        inner.users.insert(
            key,
            Record {
                visible,
                latest: user,
                ready_at: now + delay,
            },
        );
        if creating {
            inner.gate.stats.creates += 1;
        } else {
            inner.gate.stats.updates += 1;
        }
        Ok(())
    }

    /// The latest accepted write of a user (readable or not), for a PUT to merge into.
    pub fn latest(&self, domain: &str, ext: &str) -> Option<NsUser> {
        self.lock()
            .users
            .get(&(domain.to_string(), ext.to_string()))
            .map(|r| r.latest.clone())
    }

    pub fn delete_user(&self, domain: &str, ext: &str) -> bool {
        let mut inner = self.lock();
        let removed = inner
            .users
            .remove(&(domain.to_string(), ext.to_string()))
            .is_some();
        if removed {
            inner.gate.stats.deletes += 1;
        }
        removed
    }
}

impl Guarded for NsShared {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Gate) -> R) -> R {
        f(&mut self.lock().gate)
    }

    fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        self.caller(headers).map(|c| c.id)
    }

    fn unauthorized(&self, _headers: &HeaderMap) -> Response {
        let mut resp = ns_error(ApiError::new(
            401,
            "unauthorized",
            "missing, unknown or expired API key or access token",
        ));
        resp.headers_mut().insert(
            "WWW-Authenticate",
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        resp
    }

    fn error_response(&self, _headers: &HeaderMap, err: ApiError) -> Response {
        ns_error(err)
    }

    fn throttled(&self, _headers: &HeaderMap, reset: u64) -> Response {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut resp = ns_error(ApiError::new(429, "rate_limited", "too many requests"));
        resp.headers_mut().insert(
            "Retry-After",
            HeaderValue::from(reset.saturating_sub(now).max(1)),
        );
        resp
    }
}
