//! Discovery endpoints (RFC 7644 §4). They say only what the bridge really does.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::scim_response;
use super::AppState;
use crate::scim::schema;

const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

pub async fn service_provider_config(State(app): State<AppState>) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scim-bridge/scim-bridge#readme",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": app.max_page_size},
        "changePassword": {"supported": false},
        // `sortBy` and `sortOrder` work on lists and `.search` (RFC 7644 §3.4.2.3).
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A per-tenant token issued with `scim-bridge token new`, sent as `Authorization: Bearer <token>`.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", app.scim_base)},
    });
    scim_response(StatusCode::OK, &body, None, None)
}

fn list(resources: Vec<Value>) -> Response {
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    scim_response(StatusCode::OK, &body, None, None)
}

fn one(resources: Vec<Value>, key: &str, id: &str, what: &str) -> Result<Response, ApiError> {
    resources
        .into_iter()
        .find(|r| {
            r.get(key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(id))
        })
        .map(|r| scim_response(StatusCode::OK, &r, None, None))
        .ok_or_else(|| ApiError::new(404, None, format!("no {what} {id}")))
}

pub async fn schemas() -> Response {
    list(schema::schema_documents())
}

pub async fn schema_by_id(Path(id): Path<String>) -> Result<Response, ApiError> {
    one(schema::schema_documents(), "id", &id, "schema")
}

pub async fn resource_types() -> Response {
    list(schema::resource_type_documents())
}

pub async fn resource_type_by_id(Path(id): Path<String>) -> Result<Response, ApiError> {
    one(
        schema::resource_type_documents(),
        "id",
        &id,
        "resource type",
    )
}
