//! The HTTP surface: SCIM under `/scim/v2`, health under `/healthz` and `/readyz`,
//! Prometheus metrics under `/metrics`, the admin console under `/admin/` when configured.
//! Handlers are thin; all decisions are in `provision`.
pub mod admin;
pub mod auth;
pub mod connections;
mod discovery;
mod edges;
pub mod error;
pub mod extract;
mod frame;
mod gate;
mod grants;
mod groups;
mod limits;
mod list;
pub mod observe;
mod resource;
mod timing;
mod users;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{middleware, Json, Router};
use serde_json::json;

use crate::provision::{Provisioner, Tenant};
use groups::Groups;
use users::Users;

/// What every handler may use, behind one `Arc`: axum clones the state into every
/// middleware layer and handler of every request, and a clone of the fields themselves
/// (strings, a dozen `Arc`s) measured about 17,000 instructions per request.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct App {
    pub provisioner: Provisioner,
    pub credentials: Arc<auth::Credentials>,
    pub tenants: Arc<Vec<Arc<Tenant>>>,
    /// Public URL of the SCIM root, or `/scim/v2` for relative locations.
    pub scim_base: String,
    pub max_page_size: u64,
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: std::time::Duration,
    /// Bearer token `/metrics` requires, if any (`server.metrics_token`).
    pub metrics_token: Option<secrecy::SecretString>,
    /// The admin layer (the console's and the CLI's).
    pub admin: crate::admin::AdminService,
    /// The console under `/admin/`, when `[admin]` is configured.
    pub console: Option<Arc<admin::Console>>,
    /// Timeouts and the cap of client connections.
    pub connection_limits: connections::ConnectionLimits,
}

pub fn router(app: AppState) -> Router {
    let scim = Router::new()
        .merge(resource::routes::<Users>())
        .merge(resource::routes::<Groups>())
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/.search", post(list::search_all))
        .merge(grants::routes())
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema_by_id))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type_by_id))
        // Unknown paths are routes too, so that they pass authentication: without a
        // credential every path under /scim/v2 is the same 401 (no endpoint discovery).
        .route("/", any(no_such_endpoint))
        .route("/{*rest}", any(no_such_endpoint))
        .fallback(no_such_endpoint)
        .route_layer(middleware::from_fn_with_state(app.clone(), gate::scim_gate));
    let console = match &app.console {
        Some(console) => admin::router(console.clone()),
        None => Router::new(),
    };
    let routes = Router::new()
        .nest("/scim/v2", scim)
        .merge(console)
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(observe::metrics))
        .fallback(no_such_endpoint)
        .with_state(app.clone());
    // Around the whole router, not layered onto each route with `Router::layer`: a
    // layered route is cloned with every layer inside it on each request (axum clones a
    // route's boxed service per call), which cost ~70 allocations per lookup.
    let framed = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(app, frame::frame))
        .service(routes);
    Router::new().fallback_service(framed)
}

async fn no_such_endpoint() -> error::ApiError {
    error::ApiError::new(404, None, "no such endpoint")
}

/// Ready when the store answers and every tenant's upstream credentials work.
async fn ready(State(app): State<AppState>) -> Response {
    let mut problems = Vec::new();
    if let Err(e) = app.provisioner.store.ping().await {
        problems.push(format!("store: {e}"));
    }
    for tenant in app.tenants.iter() {
        if let Err(e) = tenant.target.ping().await {
            problems.push(format!("tenant {}: {e}", tenant.name));
        }
    }
    if problems.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "problems": problems})),
        )
            .into_response()
    }
}
