//! The admin console under `/admin/`: server-rendered pages over the admin layer
//! ([`crate::admin`]), signed in with `[admin]` accounts. Off unless `[admin]` is
//! configured. Every state-changing request is a POST carrying the session's CSRF
//! token ([`Action`]); the session cookie is HttpOnly, SameSite=Strict, Secure under TLS.
mod actions;
mod pages;
pub mod session;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::admin::{Admin, AdminConfig, AdminError, AdminService};
use session::{cookie_value, same_secret, Accounts, LoginLimiter, Sessions, SESSION_COOKIE};

/// The console's state.
pub struct Console {
    pub service: AdminService,
    accounts: Accounts,
    sessions: Sessions,
    limiter: LoginLimiter,
    /// Cookies get `Secure` when the bridge serves HTTPS.
    secure_cookies: bool,
    /// Names of the configured notification sinks, for the notifications page.
    pub sink_names: Vec<String>,
}

impl Console {
    pub fn new(
        service: AdminService,
        config: &AdminConfig,
        secure_cookies: bool,
        sink_names: Vec<String>,
    ) -> Result<Self, String> {
        // The first sample now, so "the last hour" counts from the start.
        crate::admin::activity::activity();
        Ok(Self {
            service,
            accounts: Accounts::new(config)?,
            sessions: Sessions::new(Duration::from_secs(config.session_ttl_secs)),
            limiter: LoginLimiter::new(config.login_attempts_per_minute),
            secure_cookies,
            sink_names,
        })
    }
}

pub type ConsoleState = Arc<Console>;

/// The console's routes, under `/admin`.
pub fn router<S: Clone + Send + Sync + 'static>(console: ConsoleState) -> Router<S> {
    Router::new()
        // The edge checks drop a trailing slash before routing; both spellings work.
        .route("/admin", get(pages::overview))
        .route("/admin/", get(pages::overview))
        .route(
            "/admin/login",
            get(actions::login_form).post(actions::login),
        )
        .route("/admin/logout", post(actions::logout))
        .route("/admin/users", get(pages::users))
        .route("/admin/users/{tenant}/{id}", get(pages::user))
        .route("/admin/jobs", get(pages::jobs))
        .route("/admin/jobs/retry", post(actions::retry))
        .route("/admin/deprovisions/approve", post(actions::approve))
        .route("/admin/deprovisions/reject", post(actions::reject))
        .route("/admin/drift", get(pages::drift))
        .route("/admin/reconcile", post(actions::reconcile))
        .route("/admin/audit", get(pages::audit))
        .route("/admin/config", get(pages::config))
        .route("/admin/notifications", get(pages::notifications))
        .route("/admin/static/admin.css", get(pages::css))
        .route("/admin/static/admin.js", get(pages::js))
        .with_state(console)
}

/// The one place admin errors become responses: a page with the status.
pub struct ConsoleError {
    status: StatusCode,
    message: String,
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        let status = match &e {
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "admin console: store failure");
        }
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl ConsoleError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page = views::ErrorPage {
            chrome: views::Chrome::anonymous(),
            status: self.status.as_u16(),
            message: self.message,
        };
        (self.status, views::html(&page)).into_response()
    }
}

/// A signed-in admin (else a redirect to the login page).
pub struct Signed {
    pub admin: Admin,
    pub csrf: String,
    /// The session cookie's value (to sign out).
    pub session: String,
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &ConsoleState,
    ) -> Result<Self, Response> {
        let session = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie_value(h, SESSION_COOKIE))
            .and_then(|id| console.sessions.get(id).map(|s| (id.to_string(), s)));
        match session {
            Some((session, (admin, csrf))) => Ok(Signed {
                admin,
                csrf,
                session,
            }),
            None => Err(Redirect::to("/admin/login").into_response()),
        }
    }
}

/// The fields of every action form.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
}

impl ActionForm {
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref().filter(|t| !t.is_empty())
    }

    /// The tenant, required.
    pub fn required_tenant(&self) -> Result<&str, ConsoleError> {
        self.tenant()
            .ok_or_else(|| ConsoleError::new(StatusCode::BAD_REQUEST, "a tenant is required"))
    }

    pub fn id(&self) -> Result<Option<i64>, ConsoleError> {
        match self.id.as_deref().filter(|i| !i.is_empty()) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| ConsoleError::new(StatusCode::BAD_REQUEST, "id must be a number")),
        }
    }
}

/// A state-changing request: a signed-in admin and a form whose CSRF token is the
/// session's. Every POST handler but login takes one, so none can skip the check.
pub struct Action {
    pub admin: Admin,
    pub form: ActionForm,
    pub session: String,
}

impl FromRequest<ConsoleState> for Action {
    type Rejection = Response;

    async fn from_request(request: Request, console: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, console).await?;
        let request = Request::from_parts(parts, body);
        let Form(form) = Form::<ActionForm>::from_request(request, console)
            .await
            .map_err(|e| {
                ConsoleError::new(StatusCode::BAD_REQUEST, e.body_text()).into_response()
            })?;
        if !same_secret(&form.csrf, &signed.csrf) {
            tracing::warn!(admin = %signed.admin.name, "admin console: CSRF token missing or wrong");
            return Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong; reload the page and try again",
            )
            .into_response());
        }
        Ok(Action {
            admin: signed.admin,
            form,
            session: signed.session,
        })
    }
}

/// After an action: back to `to` with a notice.
fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let url = format!("{to}{sep}notice={}", views::urlencode(notice));
    Redirect::to(&url).into_response()
}

fn page<T: askama::Template>(template: &T) -> Response {
    Html(views::html(template)).into_response()
}
