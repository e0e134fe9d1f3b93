//! The handler shape every SCIM resource type shares (RFC 7644 §3.2-3.6): parse the
//! request, call the provisioner, answer with the rendered resource, its `ETag` and
//! `Location`. A resource type ([`ScimResource`]) says only which provisioner call each
//! method is and how one of its resources renders.
use async_trait::async_trait;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get as get_route, post};
use axum::{Extension, Router};
use serde_json::Value;

use super::error::ApiError;
use super::extract::{empty, header_str, scim_response, ScimJson};
use super::list::list_response;
use super::AppState;
use crate::provision::Caller;
use crate::scim::etag::{etag, not_modified};
use crate::scim::params::ListParams;

/// How a write changes a resource: PUT replaces it whole, PATCH applies operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Replace,
    Patch,
}

/// One SCIM resource type as the HTTP layer serves it.
#[async_trait]
pub trait ScimResource: Send + Sync + 'static {
    /// What the provisioner hands back for one resource.
    type Loaded: Send + Sync;
    /// The endpoint under the SCIM root: `Users`, `Groups`.
    const ENDPOINT: &'static str;

    fn id(item: &Self::Loaded) -> &str;
    fn version(item: &Self::Loaded) -> i64;

    async fn create(app: &AppState, caller: &Caller, body: Value)
        -> Result<Self::Loaded, ApiError>;
    /// One resource, loaded as far as `params` will show it.
    async fn get(
        app: &AppState,
        caller: &Caller,
        id: &str,
        params: &ListParams,
    ) -> Result<Self::Loaded, ApiError>;
    /// A PUT (`Write::Replace`) or PATCH (`Write::Patch`) of one resource.
    async fn write(
        app: &AppState,
        caller: &Caller,
        id: &str,
        how: Write,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Self::Loaded, ApiError>;
    async fn delete(
        app: &AppState,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError>;

    /// One resource as the IdP reads it, projected to `params`. It takes the resource
    /// by value: rendering is its last use, so its attributes are moved, not copied.
    async fn render(
        app: &AppState,
        caller: &Caller,
        item: Self::Loaded,
        params: &ListParams,
    ) -> Result<Value, ApiError>;

    /// One page as the IdP reads it (from `start_index`), and the total.
    async fn page(
        app: &AppState,
        caller: &Caller,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Value>), ApiError>;
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

/// One resource's answer: the rendered body, its ETag and its Location.
async fn answer<R: ScimResource>(
    app: &AppState,
    caller: &Caller,
    status: StatusCode,
    item: R::Loaded,
    params: &ListParams,
) -> Result<Response, ApiError> {
    let location = format!("{}/{}/{}", app.scim_base, R::ENDPOINT, R::id(&item));
    let etag = etag(R::version(&item));
    let body = R::render(app, caller, item, params).await?;
    Ok(scim_response(status, &body, Some(&etag), Some(&location)))
}

pub async fn list<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    page::<R>(&app, &caller, &params).await
}

/// `POST /{endpoint}/.search`.
pub async fn search<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    page::<R>(&app, &caller, &ListParams::from_search_body(&body)?).await
}

/// The list answer for `params`, however they were sent (query or `.search` body).
async fn page<R: ScimResource>(
    app: &AppState,
    caller: &Caller,
    params: &ListParams,
) -> Result<Response, ApiError> {
    let (total, resources) = R::page(app, caller, params, params.start_index).await?;
    Ok(list_response(total, params.start_index, resources))
}

pub async fn create<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let item = R::create(&app, &caller, body).await?;
    answer::<R>(&app, &caller, StatusCode::CREATED, item, &params).await
}

pub async fn get<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(query.as_deref())?;
    let item = R::get(&app, &caller, &id, &params).await?;
    if not_modified(
        header_str(&headers, header::IF_NONE_MATCH),
        R::version(&item),
    ) {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    answer::<R>(&app, &caller, StatusCode::OK, item, &params).await
}

/// `PUT` and `PATCH` of `/{endpoint}/{id}`.
pub async fn write<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
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
    let item = R::write(&app, &caller, &id, how, body, if_match).await?;
    answer::<R>(&app, &caller, StatusCode::OK, item, &params).await
}

pub async fn delete<R: ScimResource>(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let if_match = header_str(&headers, header::IF_MATCH);
    R::delete(&app, &caller, &id, if_match).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
