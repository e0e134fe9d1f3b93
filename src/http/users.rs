//! `/Users` handlers: parse, call the provisioner, render. Nothing else.
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{empty, header_str, scim_response, ScimJson};
use super::list::{list_response, store_query};
use super::AppState;
use crate::provision::render::{etag, render_user, with_groups};
use crate::provision::Caller;
use crate::scim::params::ListParams;
use crate::scim::{projection, schema};
use crate::store::UserRecord;

/// `If-None-Match` naming the current version: the IdP's copy is fresh (304).
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    let current = etag(version);
    header_str(headers, header::IF_NONE_MATCH)
        .is_some_and(|h| h.split(',').any(|t| t.trim() == current || t.trim() == "*"))
}

/// A user as its tenant's IdP reads it: with the access it inherits from base roles and
/// groups shown beside its direct assignments when the tenant honours those.
fn render(caller: &Caller, user: &UserRecord, base: &str) -> Value {
    let mut rendered = render_user(user, base);
    if caller.tenant.direct_assignments {
        crate::provision::catalog::with_inherited_access(&mut rendered, &user.link);
    }
    rendered
}

/// One user, with its `groups` attribute computed from memberships.
async fn one_user(
    app: &AppState,
    caller: &Caller,
    status: StatusCode,
    user: &UserRecord,
    params: &ListParams,
) -> Result<Response, ApiError> {
    let store = &app.provisioner.store;
    let groups = store
        .user_groups(&caller.tenant.name, &user.id)
        .await
        .map_err(crate::provision::Error::from)?;
    let full = with_groups(
        render(caller, user, &app.scim_base),
        &groups,
        &app.scim_base,
    );
    let body = projection::project(
        &full,
        schema::user(),
        &params.attributes,
        &params.excluded_attributes,
    );
    let location = format!("{}/Users/{}", app.scim_base, user.id);
    Ok(scim_response(
        status,
        &body,
        Some(&etag(user.version)),
        Some(&location),
    ))
}

/// One page of users as the IdP reads them, and the total.
pub async fn page(
    app: &AppState,
    caller: &Caller,
    params: &ListParams,
    start_index: u64,
) -> Result<(u64, Vec<Value>), ApiError> {
    let query = store_query(params, start_index, app.max_page_size);
    let page = app.provisioner.list_users(caller, &query).await?;
    let resources = page
        .items
        .iter()
        .map(|u| {
            let full = render(caller, u, &app.scim_base);
            projection::project(
                &full,
                schema::user(),
                &params.attributes,
                &params.excluded_attributes,
            )
        })
        .collect();
    Ok((page.total, resources))
}

pub async fn list(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let (total, resources) = page(&app, &caller, &params, params.start_index).await?;
    Ok(list_response(total, params.start_index, resources))
}

/// `POST /Users/.search`.
pub async fn search(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_search_body(&body)?;
    let (total, resources) = page(&app, &caller, &params, params.start_index).await?;
    Ok(list_response(total, params.start_index, resources))
}

pub async fn create(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let user = app.provisioner.create_user(&caller, body).await?;
    one_user(&app, &caller, StatusCode::CREATED, &user, &params).await
}

pub async fn get(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let user = app.provisioner.get_user(&caller, &id).await?;
    if not_modified(&headers, user.version) {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    one_user(&app, &caller, StatusCode::OK, &user, &params).await
}

pub async fn replace(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let user = app
        .provisioner
        .replace_user(&caller, &id, body, if_match)
        .await?;
    one_user(&app, &caller, StatusCode::OK, &user, &params).await
}

pub async fn patch(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let if_match = header_str(&headers, header::IF_MATCH);
    let user = app
        .provisioner
        .patch_user(&caller, &id, body, if_match)
        .await?;
    one_user(&app, &caller, StatusCode::OK, &user, &params).await
}

pub async fn delete(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let if_match = header_str(&headers, header::IF_MATCH);
    app.provisioner.delete_user(&caller, &id, if_match).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
