//! `/Roles` and `/Entitlements`: what the caller's tenant can grant upstream, read-only,
//! with filters, sorting, paging and projection like every other list (the resource
//! shapes and the contracts they follow are in src/scim/schema/grants.rs).
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::error::ApiError;
use super::extract::scim_response;
use super::list::list_response;
use super::AppState;
use crate::provision::{Caller, Error};
use crate::scim::filter::{check_filter, matches};
use crate::scim::params::ListParams;
use crate::scim::projection::project;
use crate::scim::schema::grants::{entitlement, grant_resource, role, Grant};
use crate::scim::schema::ResourceSchema;

#[derive(Clone, Copy)]
enum Kind {
    Roles,
    Entitlements,
}

impl Kind {
    fn schema(self) -> &'static ResourceSchema {
        match self {
            Kind::Roles => role(),
            Kind::Entitlements => entitlement(),
        }
    }
}

async fn resources(app: &AppState, caller: &Caller, kind: Kind) -> Result<Vec<Value>, ApiError> {
    let catalog = caller.tenant.catalog().await.map_err(Error::from)?;
    let grants: &[Grant] = match kind {
        Kind::Roles => &catalog.roles,
        Kind::Entitlements => &catalog.entitlements,
    };
    Ok(grants
        .iter()
        .map(|g| grant_resource(kind.schema(), g, &app.scim_base))
        .collect())
}

async fn list(
    app: AppState,
    caller: Caller,
    query: Option<String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let schema = kind.schema();
    if let Some(filter) = &params.filter {
        check_filter(filter, schema)?;
    }
    let mut found: Vec<Value> = resources(&app, &caller, kind)
        .await?
        .into_iter()
        .filter(|r| params.filter.as_ref().is_none_or(|f| matches(f, r, schema)))
        .collect();
    if let Some(path) = &params.sort_by {
        found.sort_by_cached_key(|r| crate::store::sort_key(r, path));
        if params.descending {
            found.reverse();
        }
    }
    let total = found.len() as u64;
    let page: Vec<Value> = found
        .into_iter()
        .skip(params.start_index.saturating_sub(1) as usize)
        .take(params.page_size(app.max_page_size) as usize)
        .map(|r| project(r, schema, &params.attributes, &params.excluded_attributes))
        .collect();
    Ok(list_response(total, params.start_index, page))
}

async fn one(
    app: AppState,
    caller: Caller,
    id: String,
    query: Option<String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let schema = kind.schema();
    let found = resources(&app, &caller, kind)
        .await?
        .into_iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .ok_or_else(|| ApiError::new(404, None, format!("{} {id} not found", schema.name)))?;
    let body = project(
        found,
        schema,
        &params.attributes,
        &params.excluded_attributes,
    );
    Ok(scim_response(StatusCode::OK, &body, None, None))
}

pub async fn list_roles(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    list(app, caller, query, Kind::Roles).await
}

pub async fn get_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    one(app, caller, id, query, Kind::Roles).await
}

pub async fn list_entitlements(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    list(app, caller, query, Kind::Entitlements).await
}

pub async fn get_entitlement(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    one(app, caller, id, query, Kind::Entitlements).await
}
