//! `/Groups` handlers: parse, call the provisioner, render.
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{empty, header_str, scim_response, ScimJson};
use super::AppState;
use crate::provision::groups::GroupView;
use crate::provision::render::{etag, render_group};
use crate::provision::Caller;
use crate::scim::filter::AttrPath;
use crate::scim::params::ListParams;
use crate::scim::{projection, schema};
use crate::store::ListQuery;

const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

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

pub async fn list(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let store_query = ListQuery::page(
        params.filter.clone(),
        params.start_index,
        params.page_size(app.max_page_size),
    );
    let store_query = ListQuery {
        sort_by: params.sort_by.clone(),
        descending: params.descending,
        ..store_query
    };
    let (total, views) = app
        .provisioner
        .list_groups(&caller, &store_query, wants_members(&params))
        .await?;
    let resources: Vec<Value> = views.iter().map(|v| render(&app, v, &params)).collect();
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": params.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    Ok(scim_response(StatusCode::OK, &body, None, None))
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
