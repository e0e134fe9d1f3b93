//! List and `.search` answers, shared by every resource type (RFC 7644 §3.4.2, §3.4.3).
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::extract::{scim_response, ScimCall, ScimJson};
use super::groups::Groups;
use super::resource::ScimResource;
use super::users::Users;
use crate::scim::params::ListParams;
use crate::store::ListQuery;

const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The store's query for a page of `params`, capped at the server's page size.
pub fn store_query(params: &ListParams, start_index: u64, max_page_size: u64) -> ListQuery {
    ListQuery {
        sort_by: params.sort_by.clone(),
        descending: params.descending,
        ..ListQuery::page(
            params.filter.clone(),
            start_index,
            params.page_size(max_page_size),
        )
    }
}

/// A ListResponse around the page's resources, each already JSON text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse<'a> {
    schemas: [&'static str; 1],
    total_results: u64,
    start_index: u64,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: &'a [Box<RawValue>],
}

pub fn list_response(total: u64, start_index: u64, resources: Vec<Box<RawValue>>) -> Response {
    let body = ListResponse {
        schemas: [LIST_RESPONSE],
        total_results: total,
        start_index,
        items_per_page: resources.len(),
        resources: &resources,
    };
    scim_response(StatusCode::OK, &body, None, None)
}

/// `POST /.search`: users then groups, paged as one list.
pub async fn search_all(call: ScimCall, ScimJson(body): ScimJson) -> Result<Response, ApiError> {
    let params = ListParams::from_search_body(&body)?;
    let size = params.page_size(call.app.max_page_size);
    let (user_total, mut resources) = Users::page(&call, &params, params.start_index).await?;
    let group_start = params.start_index.saturating_sub(user_total).max(1);
    let remaining = ListParams {
        count: Some(size.saturating_sub(resources.len() as u64)),
        ..params.clone()
    };
    let (group_total, group_items) = Groups::page(&call, &remaining, group_start).await?;
    if params.start_index > user_total || (resources.len() as u64) < size {
        resources.extend(group_items);
    }
    Ok(list_response(
        user_total + group_total,
        params.start_index,
        resources,
    ))
}
