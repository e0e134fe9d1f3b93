//! The one layer on the SCIM routes: who is calling (401 otherwise), the tenant's
//! request budget (429), the upstream time of the answer (`Server-Timing`), and the
//! request's metrics and log line. One `from_fn` layer rather than four, because each
//! costs a boxed future and a clone of the inner service on every request.
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::observe::{self, TenantLabel};
use super::{auth, limits, timing, AppState};

pub async fn scim_gate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let caller = match auth::caller(&app, request.headers()).await {
        Ok(caller) => caller,
        Err(refusal) => {
            observe::record(&endpoint, &method, refusal.status(), None, start.elapsed());
            return refusal;
        }
    };
    let (tenant, credential) = (caller.tenant.clone(), caller.credential_id.clone());
    let response = match limits::over_budget(&caller) {
        Some(refusal) => refusal,
        None => {
            let system = caller.tenant.target.user_rules().system;
            request.extensions_mut().insert(caller);
            let handler = crate::upstream::for_system(system, next.run(request));
            timing::server_timing(handler).await
        }
    };
    let label = TenantLabel {
        tenant: &tenant.name,
        credential: &credential,
    };
    observe::record(
        &endpoint,
        &method,
        response.status(),
        Some(label),
        start.elapsed(),
    );
    response
}
