//! The handler shape every SCIM resource type shares (RFC 7644 §3.2-3.6): parse the
//! request, call the provisioner, answer with the rendered resource, its `ETag` and
//! `Location`. A resource type ([`ScimResource`]) says only which provisioner call each
//! method is and how one of its resources renders.
use async_trait::async_trait;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get as get_route, post};
use axum::Router;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{empty, header_str, scim_response, ScimCall, ScimJson};
use super::list::list_response;
use super::AppState;
pub use crate::provision::{Change, Write};
use crate::scim::etag::{etag, not_modified};
use crate::scim::params::ListParams;
use crate::scim::projection;
use crate::scim::schema::ResourceSchema;

/// One SCIM resource type as the HTTP layer serves it.
#[async_trait]
pub trait ScimResource: Send + Sync + 'static {
    /// What the provisioner hands back for one resource.
    type Loaded: Send + Sync;
    /// The endpoint under the SCIM root: `Users`, `Groups`.
    const ENDPOINT: &'static str;

    fn id(item: &Self::Loaded) -> &str;
    fn version(item: &Self::Loaded) -> i64;

    async fn create(call: &ScimCall, body: Value) -> Result<Self::Loaded, ApiError>;
    /// One resource, loaded as far as `params` will show it.
    async fn get(call: &ScimCall, id: &str, params: &ListParams) -> Result<Self::Loaded, ApiError>;
    /// A PUT (`Write::Replace`) or PATCH (`Write::Patch`) of one resource.
    async fn write(call: &ScimCall, id: &str, change: Change<'_>)
        -> Result<Self::Loaded, ApiError>;
    async fn delete(call: &ScimCall, id: &str, if_match: Option<&str>) -> Result<(), ApiError>;

    /// One resource as the IdP reads it, projected to `params`, as JSON text.
    async fn render(
        call: &ScimCall,
        item: Self::Loaded,
        params: &ListParams,
    ) -> Result<Box<RawValue>, ApiError>;

    /// One page as the IdP reads it (from `start_index`), and the total.
    async fn page(
        call: &ScimCall,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Box<RawValue>>), ApiError>;
}

/// The routes of one resource type: its collection (list, create), `.search`, and one
/// resource (get, PUT, PATCH, delete).
pub fn routes<R: ScimResource>() -> Router<AppState> {
    let base = format!("/{}", R::ENDPOINT);
    Router::new()
        .route(&base, get_route(list::<R>).post(create::<R>))
        .route(&format!("{base}/.search"), post(search::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get_route(get::<R>)
                .put(write::<R>)
                .patch(write::<R>)
                .delete(delete::<R>),
        )
}

/// `full` as the request's `attributes` and `excludedAttributes` show it.
pub fn shown(full: Value, schema: &ResourceSchema, params: &ListParams) -> Value {
    projection::project(
        full,
        schema,
        &params.attributes,
        &params.excluded_attributes,
    )
}

/// A rendered resource as the JSON text of the answer. Resources are rendered to text
/// one by one, so that one whose projection changes nothing can be written straight
/// from its record, without a `Value` tree in between.
pub fn json_text(rendered: &impl Serialize) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(rendered)
        .map_err(|e| ApiError::new(500, None, format!("could not render the answer: {e}")))
}

/// One resource's answer: the rendered body, its ETag and its Location.
async fn answer<R: ScimResource>(
    call: &ScimCall,
    status: StatusCode,
    item: R::Loaded,
    params: &ListParams,
) -> Result<Response, ApiError> {
    let location = format!("{}/{}/{}", call.app.scim_base, R::ENDPOINT, R::id(&item));
    let etag = etag(R::version(&item));
    let body = R::render(call, item, params).await?;
    Ok(scim_response(status, &body, Some(&etag), Some(&location)))
}

pub async fn list<R: ScimResource>(
    call: ScimCall,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    page::<R>(&call, &params).await
}

/// `POST /{endpoint}/.search`.
pub async fn search<R: ScimResource>(
    call: ScimCall,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    page::<R>(&call, &ListParams::from_search_body(&body)?).await
}

/// The list answer for `params`, however they were sent (query or `.search` body).
async fn page<R: ScimResource>(call: &ScimCall, params: &ListParams) -> Result<Response, ApiError> {
    let (total, resources) = R::page(call, params, params.start_index).await?;
    Ok(list_response(total, params.start_index, resources))
}

pub async fn create<R: ScimResource>(
    call: ScimCall,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let item = R::create(&call, body).await?;
    answer::<R>(&call, StatusCode::CREATED, item, &params).await
}

pub async fn get<R: ScimResource>(
    call: ScimCall,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let item = R::get(&call, &id, &params).await?;
    if not_modified(
        header_str(&headers, header::IF_NONE_MATCH),
        R::version(&item),
    ) {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    answer::<R>(&call, StatusCode::OK, item, &params).await
}

/// `PUT` and `PATCH` of `/{endpoint}/{id}`.
pub async fn write<R: ScimResource>(
    call: ScimCall,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let how = if method == Method::PATCH {
        Write::Patch
    } else {
        Write::Replace
    };
    let if_match = header_str(&headers, header::IF_MATCH);
    let change = Change {
        how,
        body,
        if_match,
    };
    let item = R::write(&call, &id, change).await?;
    answer::<R>(&call, StatusCode::OK, item, &params).await
}

pub async fn delete<R: ScimResource>(
    call: ScimCall,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let if_match = header_str(&headers, header::IF_MATCH);
    R::delete(&call, &id, if_match).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
