//! `/Roles` and `/Entitlements`: what the caller's tenant can grant upstream, read-only,
//! with filters, sorting, paging and projection like every other list (the resource
//! shapes and the contracts they follow are in src/scim/schema/grants.rs).
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{scim_response, ScimCall};
use super::list::list_response;
use super::resource::{json_text, shown};
use super::AppState;
use crate::provision::Error;
use crate::scim::filter::{check_filter, matches};
use crate::scim::params::ListParams;
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

/// A read of one kind: who asks, and the request's parameters.
struct Read {
    call: ScimCall,
    kind: Kind,
    params: ListParams,
}

impl Read {
    fn of(call: ScimCall, kind: Kind, query: Option<String>) -> Result<Self, ApiError> {
        let params = ListParams::from_query(query.as_deref())?;
        Ok(Self { call, kind, params })
    }

    /// Every grant of the kind the caller's tenant has, as a SCIM resource.
    async fn resources(&self) -> Result<Vec<Value>, ApiError> {
        let catalog = self
            .call
            .caller
            .tenant
            .catalog()
            .await
            .map_err(Error::from)?;
        let grants: &[Grant] = match self.kind {
            Kind::Roles => &catalog.roles,
            Kind::Entitlements => &catalog.entitlements,
        };
        let schema = self.kind.schema();
        Ok(grants
            .iter()
            .map(|g| grant_resource(schema, g, &self.call.app.scim_base))
            .collect())
    }
}

async fn list(read: Read) -> Result<Response, ApiError> {
    let (params, schema) = (&read.params, read.kind.schema());
    if let Some(filter) = &params.filter {
        check_filter(filter, schema)?;
    }
    let mut found: Vec<Value> = read
        .resources()
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
    let page = found
        .into_iter()
        .skip(params.start_index.saturating_sub(1) as usize)
        .take(params.page_size(read.call.app.max_page_size) as usize)
        .map(|r| json_text(&shown(r, schema, params)))
        .collect::<Result<_, _>>()?;
    Ok(list_response(total, params.start_index, page))
}

async fn one(read: Read, id: String) -> Result<Response, ApiError> {
    let (params, schema) = (&read.params, read.kind.schema());
    let found = read
        .resources()
        .await?
        .into_iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .ok_or_else(|| ApiError::new(404, None, format!("{} {id} not found", schema.name)))?;
    let body = shown(found, schema, params);
    Ok(scim_response(StatusCode::OK, &body, None, None))
}

/// `GET /Roles[/{id}]` and `GET /Entitlements[/{id}]`.
pub fn routes() -> Router<AppState> {
    let kinds = [
        (Kind::Roles, "/Roles"),
        (Kind::Entitlements, "/Entitlements"),
    ];
    kinds
        .into_iter()
        .fold(Router::new(), |router, (kind, path)| {
            let all = move |call, RawQuery(query)| async move {
                list(Read::of(call, kind, query)?).await
            };
            let by_id = move |call, Path(id), RawQuery(query)| async move {
                one(Read::of(call, kind, query)?, id).await
            };
            router
                .route(path, get(all))
                .route(&format!("{path}/{{id}}"), get(by_id))
        })
}
