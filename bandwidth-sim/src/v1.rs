//! Dialect `v1`: the Account API (OAuth2 client credentials, camelCase JSON).

use crate::conn::ConnKill;
use crate::directory::Filter;
use crate::faults::{self, Dropped};
use crate::state::{
    self, absent, is_e164, non_empty, require_email, role_id, ApiError, Scope, Shared, User,
    ROLE_NAMES,
};
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route(
            "/api/v1/users/{id}",
            get(get_user).put(put_user).delete(delete_user),
        )
        .route("/api/v1/roles", get(list_roles))
        .route("/api/v2/accounts", get(list_accounts))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::guard::<Shared>,
        ));
    Router::new()
        .route("/api/v1/oauth2/token", post(token))
        .merge(api)
        .fallback(|| async { error_response(ApiError::not_found("no such endpoint")) })
        .with_state(shared)
}

pub fn error_response(err: ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"errors": [{"code": err.code, "description": err.description}]});
    (status, Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let creds = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(faults::basic_credentials);
    let valid = creds.is_some_and(|(id, secret)| {
        id == shared.config.client_id && secret == shared.config.client_secret
    });
    if !valid {
        let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        resp.headers_mut().insert(
            "WWW-Authenticate",
            HeaderValue::from_static("Basic realm=\"bandwidth-sim\""),
        );
        return resp;
    }
    let Ok(Form(form)) = form else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let ttl = shared.config.token_ttl;
    {
        let mut inner = shared.lock();
        let now = Instant::now();
        inner.tokens.retain(|_, (_, exp)| *exp > now);
        inner
            .tokens
            .insert(token.clone(), (shared.config.client_id.clone(), now + ttl));
        inner.gate.stats.tokens_issued += 1;
    }
    let body = json!({"access_token": token, "expires_in": ttl.as_secs(), "token_type": "Bearer"});
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert("Cache-Control", HeaderValue::from_static("no-store"));
    resp
}

/// Everything a client may send; all optional so missing fields become a 400 naming them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIn {
    user_id: Option<String>,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone_number: Option<String>,
    account_scope: Option<String>,
    roles: Option<Vec<String>>,
    accounts: Option<Vec<String>>,
    status: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserOut {
    user_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    account_scope: &'static str,
    roles: Vec<String>,
    accounts: Vec<String>,
    status: &'static str,
}

fn user_out(u: User) -> UserOut {
    UserOut {
        user_id: u.user_id,
        username: u.username,
        first_name: u.first_name,
        last_name: u.last_name,
        email: u.email,
        phone_number: u.phone,
        account_scope: u.scope.as_str(),
        roles: u.roles,
        accounts: u.accounts,
        status: if u.active { "ACTIVE" } else { "DEACTIVATED" },
    }
}

/// Checks the body against v1's rules. On create `status` is ignored (new users are ACTIVE);
/// on PUT a field left out is reset, except the ones that are required.
fn validate(body: &[u8], creating: bool) -> Result<User, ApiError> {
    let input: UserIn = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "malformed_body", format!("malformed JSON body: {e}")))?;
    let username = non_empty(&input.username);
    let first_name = non_empty(&input.first_name);
    let last_name = non_empty(&input.last_name);
    let email = non_empty(&input.email);
    let scope = non_empty(&input.account_scope);
    let missing = absent(&[
        ("username", username.is_none()),
        ("firstName", first_name.is_none()),
        ("lastName", last_name.is_none()),
        ("email", email.is_none()),
        ("accountScope", scope.is_none()),
        ("roles", creating && input.roles.is_none()),
        ("accounts", creating && input.accounts.is_none()),
    ]);
    ApiError::unless_none("missing_field", "missing required field(s)", &missing)?;
    let email = require_email("email", email)?;
    let scope_text = scope.unwrap_or_default();
    let scope = Scope::parse(&scope_text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "accountScope must be ACCOUNT or ACCOUNT_ADMIN, got '{scope_text}'"
        ))
    })?;
    let phone = non_empty(&input.phone_number);
    if let Some(p) = &phone {
        if !is_e164(p) {
            return Err(ApiError::bad_request(format!(
                "phoneNumber '{p}' is not E.164 (+ and 8 to 15 digits)"
            )));
        }
    }
    let active = match (creating, input.status.as_deref()) {
        (true, _) | (false, None | Some("ACTIVE")) => true,
        (false, Some("DEACTIVATED")) => false,
        (false, Some(other)) => {
            return Err(ApiError::bad_request(format!(
                "status must be ACTIVE or DEACTIVATED, got '{other}'"
            )))
        }
    };
    Ok(User {
        user_id: input.user_id.unwrap_or_default(),
        username: username.unwrap_or_default(),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        email,
        phone,
        roles: input.roles.unwrap_or_default(),
        accounts: input.accounts.unwrap_or_default(),
        scope,
        active,
    })
}

async fn create_user(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    body: Bytes,
) -> Response {
    let created = validate(&body, true).and_then(|u| shared.create_user(u));
    match created {
        Ok(user) => {
            let mut resp = (StatusCode::CREATED, Json(user_out(user))).into_response();
            if faults::take_drop(&*shared) {
                conn.cut();
                resp.extensions_mut().insert(Dropped);
            }
            resp
        }
        Err(e) => error_response(e),
    }
}

async fn get_user(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.get_user(&id) {
        Some(u) => Json(user_out(u)).into_response(),
        None => error_response(ApiError::not_found(format!("no user with id {id}"))),
    }
}

async fn put_user(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = validate(&body, false).and_then(|u| {
        if !u.user_id.is_empty() && u.user_id != id {
            return Err(ApiError::bad_request(format!(
                "userId '{}' in the body does not match the path's '{id}'",
                u.user_id
            )));
        }
        shared.replace_user(&id, u)
    });
    match result {
        Ok(u) => Json(user_out(u)).into_response(),
        Err(e) => error_response(e),
    }
}

async fn delete_user(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if shared.delete_user(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error_response(ApiError::not_found(format!("no user with id {id}")))
    }
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error_response(ApiError::bad_request("malformed query string"));
    };
    let filter = Filter {
        username: q.get("username").map(String::as_str),
        email: q.get("email").map(String::as_str),
        account: None,
    };
    match shared.list_page(
        filter,
        q.get("page").map(String::as_str),
        q.get("size").map(String::as_str),
    ) {
        Ok((users, page)) => {
            let users: Vec<UserOut> = users.into_iter().map(user_out).collect();
            Json(json!({
                "users": users,
                "page": {"number": page.number, "size": page.size,
                         "totalElements": page.total_elements, "totalPages": page.total_pages},
            }))
            .into_response()
        }
        Err(e) => error_response(e),
    }
}

async fn list_roles() -> Response {
    let roles: Vec<_> = ROLE_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"roleId": role_id(i), "name": name, "description": state::role_description(name)})
        })
        .collect();
    Json(json!({ "roles": roles })).into_response()
}

async fn list_accounts(State(shared): State<Arc<Shared>>) -> Response {
    let accounts: Vec<_> = shared
        .config
        .accounts
        .iter()
        .map(|(id, name)| json!({"accountId": id, "name": name}))
        .collect();
    Json(json!({ "accounts": accounts })).into_response()
}
