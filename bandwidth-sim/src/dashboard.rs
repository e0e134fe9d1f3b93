//! Dialect `dashboard`: the Iris-style API under `/api` (Basic auth, PascalCase JSON, XML unless
//! JSON is asked for). Only the first configured account is served; any other is a 404.

use crate::conn::ConnKill;
use crate::directory::Filter;
use crate::faults::{self, Dropped};
use crate::state::{
    absent, non_empty, require_email, role_id, ApiError, Scope, Shared, User, ROLE_NAMES,
};
use crate::xml;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    let fallback_state = shared.clone();
    Router::new()
        .route(
            "/api/accounts/{account}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/api/accounts/{account}/users/{id}",
            get(get_user).put(put_user).delete(delete_user),
        )
        .route("/api/accounts/{account}/roles", get(list_roles))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::guard::<Shared>,
        ))
        .fallback(move |headers: HeaderMap| async move {
            let json = wants_json(&fallback_state, &headers);
            error_response(ApiError::not_found("no such endpoint"), json)
        })
        .with_state(shared)
}

pub fn wants_json(shared: &Shared, headers: &HeaderMap) -> bool {
    let asked = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"));
    asked && !shared.lock().gate.faults.xml_always
}

fn xml_body(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    resp
}

pub fn error_response(err: ApiError, json: bool) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if json {
        let body = json!({"Errors": [{"Code": err.code, "Description": err.description}]});
        (status, Json(body)).into_response()
    } else {
        xml_body(status, xml::error_response(err.code, &err.description))
    }
}

/// Per-request context: whether to answer JSON, and the account check every path shares.
struct Ctx {
    shared: Arc<Shared>,
    json: bool,
}

impl Ctx {
    fn new(shared: Arc<Shared>, headers: &HeaderMap) -> Self {
        let json = wants_json(&shared, headers);
        Ctx { shared, json }
    }

    fn account(&self, account: &str) -> Result<String, ApiError> {
        match self.shared.config.accounts.first() {
            Some((id, _)) if id == account => Ok(id.clone()),
            _ => Err(ApiError::not_found(format!("account {account} not found"))),
        }
    }

    fn error(&self, err: ApiError) -> Response {
        error_response(err, self.json)
    }

    fn user(&self, status: StatusCode, u: User) -> Response {
        if self.json {
            (status, Json(user_out(u))).into_response()
        } else {
            xml_body(status, xml::user_response(&u))
        }
    }

    fn finish(&self, r: Result<Response, ApiError>) -> Response {
        r.unwrap_or_else(|e| self.error(e))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserOut {
    user_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    telephone_number: Option<String>,
    roles: Vec<String>,
    account_scope: &'static str,
    enabled: bool,
}

fn user_out(u: User) -> UserOut {
    UserOut {
        user_id: u.user_id,
        username: u.username,
        first_name: u.first_name,
        last_name: u.last_name,
        email: u.email,
        telephone_number: u.phone,
        roles: u.roles,
        account_scope: u.scope.as_str(),
        enabled: u.active,
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UserIn {
    user_id: Option<String>,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    telephone_number: Option<String>,
    password: Option<String>,
    roles: Option<Vec<String>>,
    account_scope: Option<String>,
    enabled: Option<bool>,
}

impl From<xml::XmlUserIn> for UserIn {
    fn from(x: xml::XmlUserIn) -> Self {
        UserIn {
            user_id: x.user_id,
            username: x.username,
            first_name: x.first_name,
            last_name: x.last_name,
            email: x.email_address,
            telephone_number: x.telephone_number,
            password: x.password,
            roles: x.roles.map(|r| {
                r.role
                    .into_iter()
                    .map(|r| r.role_id.unwrap_or_default())
                    .collect()
            }),
            account_scope: x.account_scope,
            enabled: x.enabled,
        }
    }
}

/// JSON or XML by Content-Type; without one, by the first non-blank byte.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<UserIn, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_xml = if ctype.contains("xml") {
        true
    } else if ctype.contains("json") {
        false
    } else {
        body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
    };
    let malformed = |e: String| ApiError::new(400, "malformed_body", e);
    if is_xml {
        xml::parse_user(body).map(UserIn::from).map_err(malformed)
    } else {
        serde_json::from_slice(body).map_err(|e| malformed(format!("malformed JSON body: {e}")))
    }
}

/// The simulator's password rules (Bandwidth publishes none).
fn check_password(p: &str, u: &User) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    if p.chars().count() < 12 {
        problems.push("at least 12 characters".to_string());
    }
    if !p.chars().any(|c| c.is_uppercase()) {
        problems.push("an upper-case letter".to_string());
    }
    if !p.chars().any(|c| c.is_lowercase()) {
        problems.push("a lower-case letter".to_string());
    }
    if !p.chars().any(|c| c.is_ascii_digit()) {
        problems.push("a digit".to_string());
    }
    if !p
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        problems.push("a symbol".to_string());
    }
    let lower = p.to_lowercase();
    for (what, value) in [
        ("username", &u.username),
        ("first name", &u.first_name),
        ("last name", &u.last_name),
        ("email", &u.email),
    ] {
        if !value.is_empty() && lower.contains(&value.to_lowercase()) {
            problems.push(format!("no {what}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "weak_password",
            format!("Password must have {}", problems.join(", ")),
        ))
    }
}

/// Checks a body against the dashboard's rules. Fields left out reset: no phone, no roles,
/// scope ACCOUNT, enabled. Accounts are not part of this shape: `accounts` is kept as given.
fn validate(input: UserIn, creating: bool, accounts: Vec<String>) -> Result<User, ApiError> {
    let username = non_empty(&input.username);
    let first_name = non_empty(&input.first_name);
    let last_name = non_empty(&input.last_name);
    let email = non_empty(&input.email);
    let password = input.password.clone().filter(|p| !p.is_empty());
    let missing = absent(&[
        ("Username", username.is_none()),
        ("FirstName", first_name.is_none()),
        ("LastName", last_name.is_none()),
        ("Email", email.is_none()),
        ("Password", creating && password.is_none()),
    ]);
    ApiError::unless_none("missing_field", "missing required field(s)", &missing)?;
    let email = require_email("Email", email)?;
    let phone = non_empty(&input.telephone_number);
    if let Some(p) = &phone {
        if p.len() != 10 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request(format!(
                "TelephoneNumber '{p}' must be 10 digits"
            )));
        }
    }
    let scope = match non_empty(&input.account_scope) {
        None => Scope::Account,
        Some(s) => Scope::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "AccountScope must be ACCOUNT or ACCOUNT_ADMIN, got '{s}'"
            ))
        })?,
    };
    let user = User {
        user_id: input.user_id.unwrap_or_default(),
        username: username.unwrap_or_default(),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        email,
        phone,
        roles: input.roles.unwrap_or_default(),
        accounts,
        scope,
        active: input.enabled.unwrap_or(true),
    };
    if let Some(p) = &password {
        check_password(p, &user)?;
    }
    Ok(user)
}

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn list_users(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    query: Q,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = (|| {
        let account = ctx.account(&account)?;
        let Query(q) = query.map_err(|_| ApiError::bad_request("malformed query string"))?;
        let filter = Filter {
            username: q.get("Username").map(String::as_str),
            email: q.get("Email").map(String::as_str),
            account: Some(&account),
        };
        let (users, page) = ctx.shared.list_page(
            filter,
            q.get("page").map(String::as_str),
            q.get("size").map(String::as_str),
        )?;
        if !ctx.json {
            return Ok(xml_body(StatusCode::OK, xml::users_response(&users, &page)));
        }
        let users: Vec<UserOut> = users.into_iter().map(user_out).collect();
        Ok(Json(json!({
            "Users": users,
            "Page": {"Number": page.number, "Size": page.size,
                     "TotalElements": page.total_elements, "TotalPages": page.total_pages},
        }))
        .into_response())
    })();
    ctx.finish(r)
}

async fn create_user(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = (|| {
        let account = ctx.account(&account)?;
        let input = parse_body(&headers, &body)?;
        let user = validate(input, true, vec![account])?;
        let created = ctx.shared.create_user(user)?;
        let mut resp = ctx.user(StatusCode::CREATED, created);
        if faults::take_drop(&*ctx.shared) {
            conn.cut();
            resp.extensions_mut().insert(Dropped);
        }
        Ok(resp)
    })();
    ctx.finish(r)
}

/// The user if it exists and belongs to the path's account.
fn find_in_account(ctx: &Ctx, account: &str, id: &str) -> Result<User, ApiError> {
    let account = ctx.account(account)?;
    ctx.shared
        .get_user(id)
        .filter(|u| u.accounts.contains(&account))
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = find_in_account(&ctx, &account, &id).map(|u| ctx.user(StatusCode::OK, u));
    ctx.finish(r)
}

async fn put_user(
    State(shared): State<Arc<Shared>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = (|| {
        let existing = find_in_account(&ctx, &account, &id)?;
        let input = parse_body(&headers, &body)?;
        let user = validate(input, false, existing.accounts)?;
        if !user.user_id.is_empty() && user.user_id != id {
            return Err(ApiError::bad_request(format!(
                "UserId '{}' in the body does not match the path's '{id}'",
                user.user_id
            )));
        }
        let updated = ctx.shared.replace_user(&id, user)?;
        Ok(ctx.user(StatusCode::OK, updated))
    })();
    ctx.finish(r)
}

async fn delete_user(
    State(shared): State<Arc<Shared>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = find_in_account(&ctx, &account, &id).and_then(|_| {
        if ctx.shared.delete_user(&id) {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(ApiError::not_found(format!("no user with id {id}")))
        }
    });
    ctx.finish(r)
}

async fn list_roles(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(shared, &headers);
    let r = ctx.account(&account).map(|_| {
        let roles: Vec<(String, &str)> = ROLE_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (role_id(i), *n))
            .collect();
        if ctx.json {
            let roles: Vec<_> = roles
                .iter()
                .map(|(id, name)| json!({"RoleId": id, "RoleName": name}))
                .collect();
            Json(json!({ "Roles": roles })).into_response()
        } else {
            xml_body(StatusCode::OK, xml::roles_response(&roles))
        }
    });
    ctx.finish(r)
}
