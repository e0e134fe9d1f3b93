//! `/Groups` handlers: parse, call the provisioner, render.
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{empty, header_str, scim_response, ScimJson};
use super::list::{list_response, store_query};
use super::AppState;
use crate::provision::groups::GroupView;
use crate::provision::render::{etag, render_group};
use crate::provision::Caller;
use crate::scim::filter::AttrPath;
use crate::scim::params::ListParams;
use crate::scim::{projection, schema};

fn names_members(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("members")
}

/// Whether the answer shows members: not when excluded, nor when `attributes` lists
/// others only. Skipping them spares reading a 10,000-row membership.
fn wants_members(params: &ListParams) -> bool {
    if params
        .excluded_attributes
        .iter()
        .any(|p| names_members(p) && p.sub_attr.is_none())
    {
        return false;
    }
    params.attributes.is_empty() || params.attributes.iter().any(names_members)
}

fn render(app: &AppState, view: &GroupView, params: &ListParams) -> Value {
    let full = render_group(view, &app.scim_base);
    projection::project(
        &full,
        schema::group(),
        &params.attributes,
        &params.excluded_attributes,
    )
}

fn one_group(
    app: &AppState,
    status: StatusCode,
    view: &GroupView,
    params: &ListParams,
) -> Response {
    let location = format!("{}/Groups/{}", app.scim_base, view.group.id);
    scim_response(
        status,
        &render(app, view, params),
        Some(&etag(view.group.version)),
        Some(&location),
    )
}

/// One page of groups as the IdP reads them, and the total.
pub async fn page(
    app: &AppState,
    caller: &Caller,
    params: &ListParams,
    start_index: u64,
) -> Result<(u64, Vec<Value>), ApiError> {
    let query = store_query(params, start_index, app.max_page_size);
    let (total, views) = app
        .provisioner
        .list_groups(caller, &query, wants_members(params))
        .await?;
    Ok((
        total,
        views.iter().map(|v| render(app, v, params)).collect(),
    ))
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

/// `POST /Groups/.search`.
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
    let view = app.provisioner.create_group(&caller, body).await?;
    Ok(one_group(&app, StatusCode::CREATED, &view, &params))
}

pub async fn get(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let view = app
        .provisioner
        .get_group(&caller, &id, wants_members(&params))
        .await?;
    if super::users::not_modified(&headers, view.group.version) {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    Ok(one_group(&app, StatusCode::OK, &view, &params))
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
    let view = app
        .provisioner
        .replace_group(&caller, &id, body, if_match)
        .await?;
    Ok(one_group(&app, StatusCode::OK, &view, &params))
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
    let view = app
        .provisioner
        .patch_group(&caller, &id, body, if_match)
        .await?;
    Ok(one_group(&app, StatusCode::OK, &view, &params))
}

pub async fn delete(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let if_match = header_str(&headers, header::IF_MATCH);
    app.provisioner.delete_group(&caller, &id, if_match).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
