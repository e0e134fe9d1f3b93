//! The NetSapiens side's `/_sim/` back door (no auth): what a test does behind the
//! bridge's back. `NsSimHandle` offers the same operations in Rust.

use super::config::{NsUser, USER_SCOPES};
use super::state::{ns_error, NsShared};
use crate::config::Faults;
use crate::state::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;

pub fn router(shared: Arc<NsShared>) -> Router {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/faults", post(faults))
        .route("/_sim/users", post(seed))
        .route("/_sim/expire-tokens", post(expire))
        .with_state(shared)
}

async fn state(State(shared): State<Arc<NsShared>>) -> Response {
    Json(shared.snapshot()).into_response()
}

async fn faults(State(shared): State<Arc<NsShared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            shared.lock().gate.faults = f.clone();
            Json(f).into_response()
        }
        Err(e) => ns_error(ApiError::bad_request(format!("malformed JSON body: {e}"))),
    }
}

async fn seed(State(shared): State<Arc<NsShared>>, body: Bytes) -> Response {
    let result = serde_json::from_slice::<NsUser>(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
        .and_then(|u| seed_user(&shared, u));
    match result {
        Ok(u) => (StatusCode::CREATED, Json(u)).into_response(),
        Err(e) => ns_error(e),
    }
}

async fn expire(State(shared): State<Arc<NsShared>>) -> Response {
    shared.lock().tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// A user that exists before the bridge: readable at once, no stats move. Upstream's
/// invariants still hold (known domain and scope, unique extension and login-username);
/// an empty scope is `Basic User` and an empty login-username `user@domain`.
pub fn seed_user(shared: &NsShared, mut user: NsUser) -> Result<NsUser, ApiError> {
    if !shared.has_domain(&user.domain) {
        return Err(ApiError::bad_request(format!(
            "unknown domain '{}'",
            user.domain
        )));
    }
    if user.user.is_empty() {
        return Err(ApiError::bad_request("a seeded user needs an extension"));
    }
    if user.user_scope.is_empty() {
        user.user_scope = "Basic User".into();
    }
    if !USER_SCOPES.contains(&user.user_scope.as_str()) {
        return Err(ApiError::bad_request(format!(
            "unknown user-scope '{}'",
            user.user_scope
        )));
    }
    if user.login_username.is_empty() {
        user.login_username = format!("{}@{}", user.user, user.domain);
    }
    shared.write_user(user.clone(), true, Duration::ZERO)?;
    let mut inner = shared.lock();
    inner.gate.stats.creates = inner.gate.stats.creates.saturating_sub(1);
    Ok(user)
}
