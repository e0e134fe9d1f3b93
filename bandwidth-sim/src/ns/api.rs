//! The NetSapiens ns-api v2 routes of docs/netsapiens-wire.md: tokens, the caller's key,
//! domains and users keyed by extension.

use super::config::{NsUser, USER_SCOPES};
use super::state::{ns_error, Caller, NsShared, Token};
use crate::conn::ConnKill;
use crate::faults::{self, Dropped};
use crate::state::{absent, count_param, looks_like_email, non_empty, offset_param, ApiError};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BASE: &str = "/ns-api/v2";
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn router(shared: Arc<NsShared>) -> Router {
    let api = Router::new()
        .route(&format!("{BASE}/apikeys/~"), get(my_key))
        .route(&format!("{BASE}/domains/{{domain}}"), get(get_domain))
        .route(
            &format!("{BASE}/domains/{{domain}}/users"),
            get(list_users).post(create_user),
        )
        .route(
            &format!("{BASE}/domains/{{domain}}/users/{{user}}"),
            get(get_user).put(put_user).delete(delete_user),
        )
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::guard::<NsShared>,
        ));
    Router::new()
        .route(&format!("{BASE}/tokens"), post(token))
        .merge(api)
        .fallback(|| async { ns_error(ApiError::not_found("no such endpoint")) })
        .with_state(shared)
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

fn unauthorized(message: &str) -> Response {
    ns_error(ApiError::new(401, "unauthorized", message))
}

async fn token(State(shared): State<Arc<NsShared>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<TokenRequest>(&body) else {
        return ns_error(ApiError::bad_request("malformed JSON body"));
    };
    let client_ok = req.client_id.as_deref() == Some(shared.config.client_id.as_str())
        && req.client_secret.as_deref() == Some(shared.config.client_secret.as_str());
    if !client_ok {
        return unauthorized("unknown client_id or client_secret");
    }
    let login = match req.grant_type.as_deref() {
        Some("password") => {
            let found = shared.config.logins.iter().find(|l| {
                Some(l.username.as_str()) == req.username.as_deref()
                    && Some(l.password.as_str()) == req.password.as_deref()
            });
            match found {
                Some(l) => l.clone(),
                None => return unauthorized("wrong username or password"),
            }
        }
        Some("refresh_token") => {
            let name = req
                .refresh_token
                .as_deref()
                .and_then(|r| shared.lock().refresh.remove(r));
            match name.and_then(|n| shared.config.logins.iter().find(|l| l.username == n)) {
                Some(l) => l.clone(),
                None => return unauthorized("unknown refresh token"),
            }
        }
        _ => {
            return ns_error(ApiError::bad_request(
                "grant_type must be password or refresh_token",
            ))
        }
    };
    let (access, refresh) = (random_token(), random_token());
    let ttl = shared.config.token_ttl;
    {
        let mut inner = shared.lock();
        let now = Instant::now();
        inner.tokens.retain(|_, t| t.expires > now);
        inner.tokens.insert(
            access.clone(),
            Token {
                login: login.username.clone(),
                expires: now + ttl,
            },
        );
        inner
            .refresh
            .insert(refresh.clone(), login.username.clone());
        inner.gate.stats.tokens_issued += 1;
    }
    let body = json!({
        "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
        "expires_in": ttl.as_secs(), "domain": login.domain, "user-scope": login.user_scope,
    });
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert("Cache-Control", HeaderValue::from_static("no-store"));
    resp
}

/// The caller; the guard already turned a missing one into 401.
fn caller(shared: &NsShared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    shared
        .caller(headers)
        .ok_or_else(|| ApiError::new(401, "unauthorized", "credential expired mid-request"))
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ns_error)
}

async fn my_key(State(shared): State<Arc<NsShared>>, headers: HeaderMap) -> Response {
    respond(caller(&shared, &headers).map(|c| {
        Json(json!({
            "key-id": c.key_id, "description": c.description, "domain": c.domain,
            "user-scope": c.user_scope, "readonly": if c.read_only { "yes" } else { "no" },
            "allowed-ips": "*",
        }))
        .into_response()
    }))
}

async fn get_domain(
    State(shared): State<Arc<NsShared>>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Response {
    respond((|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, false)?;
        Ok(
            Json(json!({"domain": domain, "description": format!("{domain} (simulated)")}))
                .into_response(),
        )
    })())
}

async fn list_users(
    State(shared): State<Arc<NsShared>>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    respond((|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, false)?;
        let Ok(Query(q)) = query else {
            return Err(ApiError::bad_request("malformed query string"));
        };
        let start = offset_param("start", q.get("start").map(String::as_str))?;
        let limit = count_param(
            "limit",
            q.get("limit").map(String::as_str),
            DEFAULT_LIMIT,
            MAX_LIMIT,
        )?;
        let users: Vec<NsUser> = shared
            .list_users(&domain)
            .into_iter()
            .skip(start)
            .take(limit)
            .collect();
        Ok(Json(users).into_response())
    })())
}

async fn get_user(
    State(shared): State<Arc<NsShared>>,
    headers: HeaderMap,
    Path((domain, ext)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, false)?;
        shared
            .get_user(&domain, &ext)
            .map(|u| Json(u).into_response())
            .ok_or_else(|| ApiError::not_found(format!("no user {ext} in domain {domain}")))
    })())
}

/// Every writable field, all optional, so create and PUT can say what is missing.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserIn {
    user: Option<String>,
    domain: Option<String>,
    name_first_name: Option<String>,
    name_last_name: Option<String>,
    email_address: Option<String>,
    user_scope: Option<String>,
    department: Option<String>,
    site: Option<String>,
    login_username: Option<String>,
    synchronous: Option<String>,
}

fn parse_user_in(body: &[u8]) -> Result<UserIn, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "malformed_body", format!("malformed JSON body: {e}")))
}

/// `true` for `"yes"`; absent is `"no"`.
fn synchronous(shared: &NsShared, v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(!shared.config.ignore_synchronous),
        Some(other) => Err(ApiError::bad_request(format!(
            "synchronous must be yes or no, got '{other}'"
        ))),
    }
}

fn check_fields(u: &NsUser) -> Result<(), ApiError> {
    if !USER_SCOPES.contains(&u.user_scope.as_str()) {
        return Err(ApiError::bad_request(format!(
            "user-scope '{}' is not one of: {}",
            u.user_scope,
            USER_SCOPES.join(", ")
        )));
    }
    if let Some(bad) = u
        .email_address
        .split(';')
        .map(str::trim)
        .find(|e| !looks_like_email(e))
    {
        return Err(ApiError::bad_request(format!(
            "email-address '{bad}' is not an email address"
        )));
    }
    if u.login_username.trim().is_empty() {
        return Err(ApiError::bad_request("login-username must not be empty"));
    }
    Ok(())
}

fn is_extension(s: &str) -> bool {
    (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// 200 with the user once readable, or 202 and readable after the configured delay.
fn written(user: &NsUser, sync: bool) -> Response {
    if sync {
        return Json(user.clone()).into_response();
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({"code": 202, "message": "Accepted"})),
    )
        .into_response()
}

fn delay(shared: &NsShared, sync: bool) -> Duration {
    if sync {
        Duration::ZERO
    } else {
        shared.config.async_delay
    }
}

async fn create_user(
    State(shared): State<Arc<NsShared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, true)?;
        let input = parse_user_in(&body)?;
        let sync = synchronous(&shared, input.synchronous.as_deref())?;
        let ext = non_empty(&input.user);
        let first = non_empty(&input.name_first_name);
        let last = non_empty(&input.name_last_name);
        let email = non_empty(&input.email_address);
        let missing = absent(&[
            ("user", ext.is_none()),
            ("name-first-name", first.is_none()),
            ("name-last-name", last.is_none()),
            ("email-address", email.is_none()),
        ]);
        ApiError::unless_none("missing_field", "missing required field(s)", &missing)?;
        let ext = ext.unwrap_or_default();
        if !is_extension(&ext) {
            return Err(ApiError::bad_request(format!(
                "user '{ext}' is not an extension (2 to 10 digits)"
            )));
        }
        let user = NsUser {
            login_username: non_empty(&input.login_username)
                .unwrap_or_else(|| format!("{ext}@{domain}")),
            user: ext,
            domain,
            name_first_name: first.unwrap_or_default(),
            name_last_name: last.unwrap_or_default(),
            email_address: email.unwrap_or_default(),
            user_scope: non_empty(&input.user_scope).unwrap_or_else(|| "Basic User".into()),
            department: input.department.unwrap_or_default().trim().to_string(),
            site: input.site.unwrap_or_default().trim().to_string(),
        };
        check_fields(&user)?;
        shared.write_user(user.clone(), true, delay(&shared, sync))?;
        Ok(written(&user, sync))
    })();
    match result {
        Ok(mut resp) => {
            if faults::take_drop(&*shared) {
                conn.cut();
                resp.extensions_mut().insert(Dropped);
            }
            resp
        }
        Err(e) => ns_error(e),
    }
}

async fn put_user(
    State(shared): State<Arc<NsShared>>,
    headers: HeaderMap,
    Path((domain, ext)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, true)?;
        let input = parse_user_in(&body)?;
        let sync = synchronous(&shared, input.synchronous.as_deref())?;
        let mut user = shared
            .latest(&domain, &ext)
            .ok_or_else(|| ApiError::not_found(format!("no user {ext} in domain {domain}")))?;
        if input.user.as_deref().is_some_and(|u| u.trim() != ext) {
            return Err(ApiError::bad_request(
                "user (the extension) cannot be changed",
            ));
        }
        if input.domain.as_deref().is_some_and(|d| d.trim() != domain) {
            return Err(ApiError::bad_request("domain cannot be changed"));
        }
        let set = |field: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *field = v.trim().to_string();
            }
        };
        set(&mut user.name_first_name, input.name_first_name);
        set(&mut user.name_last_name, input.name_last_name);
        set(&mut user.email_address, input.email_address);
        set(&mut user.user_scope, input.user_scope);
        set(&mut user.department, input.department);
        set(&mut user.site, input.site);
        set(&mut user.login_username, input.login_username);
        for (name, value) in [
            ("name-first-name", &user.name_first_name),
            ("name-last-name", &user.name_last_name),
            ("email-address", &user.email_address),
        ] {
            if value.is_empty() {
                return Err(ApiError::bad_request(format!("{name} must not be empty")));
            }
        }
        check_fields(&user)?;
        shared.write_user(user.clone(), false, delay(&shared, sync))?;
        Ok(written(&user, sync))
    })())
}

async fn delete_user(
    State(shared): State<Arc<NsShared>>,
    headers: HeaderMap,
    Path((domain, ext)): Path<(String, String)>,
) -> Response {
    respond((|| {
        let domain = shared.domain_for(&caller(&shared, &headers)?, &domain, true)?;
        if shared.delete_user(&domain, &ext) {
            Ok(
                Json(json!({"code": 200, "message": format!("user {ext} deleted")}))
                    .into_response(),
            )
        } else {
            Err(ApiError::not_found(format!(
                "no user {ext} in domain {domain}"
            )))
        }
    })())
}
