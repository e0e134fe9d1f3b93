//! The `/_sim/` back door (no auth): what a test does to upstream behind the bridge's back.
//! `SimHandle` offers the same operations in Rust.

use crate::config::{BulkSeed, Faults, SeedUser, UserEdit};
use crate::state::{role_id_by_name, ApiError, Scope, Shared, User};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", post(faults))
        .route("/_sim/users", post(seed))
        .route("/_sim/users/bulk", post(seed_bulk))
        .route("/_sim/users/{id}", patch(edit).delete(remove))
        .route("/_sim/expire-tokens", post(expire))
        .with_state(shared)
}

fn error(err: ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"errors": [{"code": err.code, "description": err.description}]});
    (status, Json(body)).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "malformed_body", format!("malformed JSON body: {e}")))
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.snapshot()).into_response()
}

/// The counters alone: `/_sim/state` lists every user, too much to read between the
/// steps of a benchmark over a million of them.
async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().gate.stats.clone()).into_response()
}

async fn faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse::<Faults>(&body) {
        Ok(f) => {
            shared.lock().gate.faults = f.clone();
            Json(f).into_response()
        }
        Err(e) => error(e),
    }
}

async fn seed(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse::<SeedUser>(&body).and_then(|s| seed_user(&shared, s)) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "userId": id }))).into_response(),
        Err(e) => error(e),
    }
}

/// Runs on a blocking thread: a million copies hold the lock for seconds.
async fn seed_bulk(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let seed = match parse::<BulkSeed>(&body) {
        Ok(seed) => seed,
        Err(e) => return error(e),
    };
    let done = tokio::task::spawn_blocking(move || crate::bulk::seed_bulk(&shared, &seed)).await;
    match done {
        Ok(Ok(created)) => {
            (StatusCode::CREATED, Json(json!({ "created": created }))).into_response()
        }
        Ok(Err(e)) => error(e),
        Err(e) => error(ApiError::new(
            500,
            "internal",
            format!("bulk seed failed: {e}"),
        )),
    }
}

async fn edit(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match parse::<UserEdit>(&body).and_then(|e| edit_user(&shared, &id, e)) {
        Ok(user) => Json(json!({ "userId": user.user_id })).into_response(),
        Err(e) => error(e),
    }
}

async fn remove(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if remove_user(&shared, &id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(ApiError::not_found(format!("no user with id {id}")))
    }
}

async fn expire(State(shared): State<Arc<Shared>>) -> Response {
    expire_tokens(&shared);
    StatusCode::NO_CONTENT.into_response()
}

fn role_ids(names: &[String]) -> Result<Vec<String>, ApiError> {
    names
        .iter()
        .map(|n| {
            role_id_by_name(n)
                .ok_or_else(|| ApiError::bad_request(format!("unknown role name '{n}'")))
        })
        .collect()
}

fn scope(s: &str) -> Result<Scope, ApiError> {
    Scope::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "accountScope must be ACCOUNT or ACCOUNT_ADMIN, got '{s}'"
        ))
    })
}

fn check_accounts(shared: &Shared, accounts: &[String]) -> Result<(), ApiError> {
    match accounts
        .iter()
        .find(|a| !shared.config.accounts.iter().any(|(id, _)| id == *a))
    {
        Some(a) => Err(ApiError::bad_request(format!("unknown account id '{a}'"))),
        None => Ok(()),
    }
}

/// Upstream's own invariants still hold for seeded users (unique username and email, known
/// roles and accounts); the API's format rules (phone, password, withheld roles) do not apply.
pub fn seed_user(shared: &Shared, seed: SeedUser) -> Result<String, ApiError> {
    if seed.username.trim().is_empty() || seed.email.trim().is_empty() {
        return Err(ApiError::bad_request(
            "a seeded user needs username and email",
        ));
    }
    let accounts = if seed.accounts.is_empty() {
        shared
            .config
            .accounts
            .iter()
            .take(1)
            .map(|(id, _)| id.clone())
            .collect()
    } else {
        seed.accounts
    };
    check_accounts(shared, &accounts)?;
    let user = User {
        user_id: uuid::Uuid::new_v4().to_string(),
        username: seed.username,
        first_name: seed.first_name,
        last_name: seed.last_name,
        email: seed.email,
        phone: seed.phone_number,
        roles: role_ids(&seed.roles)?,
        accounts,
        scope: scope(&seed.account_scope)?,
        active: seed.active,
    };
    shared.insert_raw(user, None)
}

pub fn edit_user(shared: &Shared, id: &str, edit: UserEdit) -> Result<User, ApiError> {
    let mut user = shared
        .get_user(id)
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))?;
    if let Some(v) = edit.first_name {
        user.first_name = v;
    }
    if let Some(v) = edit.last_name {
        user.last_name = v;
    }
    if let Some(v) = edit.email {
        user.email = v;
    }
    if let Some(v) = edit.phone_number {
        user.phone = v;
    }
    if let Some(v) = edit.roles {
        user.roles = role_ids(&v)?;
    }
    if let Some(v) = edit.account_scope {
        user.scope = scope(&v)?;
    }
    if let Some(v) = edit.accounts {
        check_accounts(shared, &v)?;
        user.accounts = v;
    }
    if let Some(v) = edit.active {
        user.active = v;
    }
    shared.insert_raw(user.clone(), Some(id))?;
    Ok(user)
}

pub fn remove_user(shared: &Shared, id: &str) -> bool {
    shared.lock().users.remove(id).is_some()
}

pub fn expire_tokens(shared: &Shared) {
    shared.lock().tokens.clear();
}

pub fn set_faults(shared: &Shared, faults: Faults) {
    shared.lock().gate.faults = faults;
}
