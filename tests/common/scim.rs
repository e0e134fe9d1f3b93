//! Short forms of the SCIM calls and checks the integration tests repeat: one line for
//! a POST, a one-operation PATCH, a group, an error's status and body, a wait for jobs
//! that failed for good.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use scim_bridge::store::{Job, JobState, QueueFilter};
use serde_json::{json, Value};

use super::{assert_scim_error, Harness};

/// Sends a SCIM request to `url`, with `token` (bearer) and `headers`; returns status,
/// headers and JSON body (`Null` when the body is empty).
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, json)
}

/// A PATCH request's body with these operations.
pub fn patch_body(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// The operations of a PATCH with one: `op` (any case, as IdPs vary) of `value` at `path`.
pub fn one_op(op: &str, path: &str, value: Value) -> Value {
    json!([{"op": op, "path": path, "value": value}])
}

/// The operations of a PATCH with one value-less `op` (a remove) at `path`.
pub fn op_at(op: &str, path: &str) -> Value {
    json!([{"op": op, "path": path}])
}

/// A SCIM group create body: `display_name` with the given member ids.
pub fn group_body(display_name: &str, member_ids: &[impl AsRef<str>]) -> Value {
    let members: Vec<_> = member_ids
        .iter()
        .map(|id| json!({ "value": id.as_ref() }))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": display_name,
        "members": members,
    })
}

/// Asserts an error answer: the HTTP status, and the SCIM error body with the same
/// status and this `scimType`.
pub fn assert_error(status: StatusCode, body: &Value, code: u16, scim_type: Option<&str>) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_scim_error(body, code, scim_type);
}

/// [`assert_error`], and the error's `detail` mentions `needle`.
pub fn assert_error_mentions(
    status: StatusCode,
    body: &Value,
    code: u16,
    scim_type: Option<&str>,
    needle: &str,
) {
    assert_error(status, body, code, scim_type);
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "{needle:?} not in {body}");
}

impl Harness {
    /// POSTs `body` to `path` with the tenant's token.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::POST, path, Some(body)).await;
        (status, body)
    }

    /// GETs `path` with the tenant's token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::GET, path, None).await;
        (status, body)
    }

    /// PATCHes a user with `ops`, which must succeed; returns the user.
    pub async fn patch_ok(&self, id: &str, ops: Value) -> Value {
        let (status, body) = self.patch(id, ops).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// PATCHes a group with `ops`, which must succeed; returns the answer's body.
    pub async fn group_patch_ok(&self, id: &str, ops: Value) -> Value {
        let (status, body) = self.group_patch(id, ops).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Creates a group that must succeed and returns its SCIM id.
    pub async fn create_group_ok(&self, group: Value) -> String {
        let (status, body) = self.post("/Groups", group).await;
        assert_eq!(status, StatusCode::CREATED, "create group failed: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// The tenant's jobs that failed for good, once `check` holds for them; fails the
    /// test after 60 s (the worker retries with backoff before it gives up).
    pub async fn failed_jobs(&self, what: &str, check: impl Fn(&[Job]) -> bool) -> Vec<Job> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let failed = self
                .store
                .list_jobs(QueueFilter::of("acme", 10).in_state(JobState::Failed))
                .await
                .unwrap();
            if check(&failed) {
                return failed;
            }
            assert!(Instant::now() < deadline, "{what}: {failed:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
