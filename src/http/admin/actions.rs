//! Signing in and out, and the console's actions (POST, CSRF-checked through
//! [`Action`]): each calls the admin layer, which checks the role and audits.
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::session::{
    cookie, cookie_value, random_token, removed_cookie, same_secret, LOGIN_COOKIE, SESSION_COOKIE,
};
use super::views::{html, LoginPage};
use super::{done, Action, ConsoleError, ConsoleState};
use crate::admin::Decision;
use crate::provision::reconcile::Options;

type Result = std::result::Result<Response, ConsoleError>;

/// How long a login form stays usable.
const LOGIN_FORM_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

fn login_page(c: &ConsoleState, status: StatusCode, error: Option<&str>) -> Response {
    let token = random_token();
    let set = cookie(LOGIN_COOKIE, &token, LOGIN_FORM_TTL, c.secure_cookies);
    let page = LoginPage {
        csrf: token,
        error: error.map(str::to_string),
    };
    (
        status,
        AppendHeaders([(header::SET_COOKIE, set)]),
        axum::response::Html(html(&page)),
    )
        .into_response()
}

pub async fn login_form(State(c): State<ConsoleState>) -> Response {
    login_page(&c, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(c): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, LOGIN_COOKIE));
    if !expected.is_some_and(|token| same_secret(token, &form.csrf)) {
        return login_page(
            &c,
            StatusCode::FORBIDDEN,
            Some("The form expired; please sign in again."),
        );
    }
    if !c.limiter.allows(&form.name) {
        tracing::warn!(admin = %form.name, "admin console: login refused, too many failed attempts");
        return login_page(
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins; wait a minute and try again."),
        );
    }
    let Some(admin) = c.accounts.verify(&form.name, &form.password).await else {
        c.limiter.failed(&form.name);
        tracing::warn!(admin = %form.name, "admin console: wrong name or password");
        return login_page(
            &c,
            StatusCode::UNAUTHORIZED,
            Some("Wrong name or password."),
        );
    };
    tracing::info!(admin = %admin.name, role = admin.role.as_str(), "admin console: signed in");
    let session = c.sessions.open(admin);
    let ttl = c.sessions.ttl();
    (
        AppendHeaders([
            (
                header::SET_COOKIE,
                cookie(SESSION_COOKIE, &session, ttl, c.secure_cookies),
            ),
            (
                header::SET_COOKIE,
                removed_cookie(LOGIN_COOKIE, c.secure_cookies),
            ),
        ]),
        Redirect::to("/admin/"),
    )
        .into_response()
}

pub async fn logout(State(c): State<ConsoleState>, action: Action) -> Response {
    c.sessions.close(&action.session);
    tracing::info!(admin = %action.admin.name, "admin console: signed out");
    (
        AppendHeaders([(
            header::SET_COOKIE,
            removed_cookie(SESSION_COOKIE, c.secure_cookies),
        )]),
        Redirect::to("/admin/login"),
    )
        .into_response()
}

fn jobs_page(tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("/admin/jobs?tenant={}", super::views::urlencode(t)),
        None => "/admin/jobs".into(),
    }
}

pub async fn retry(State(c): State<ConsoleState>, a: Action) -> Result {
    let id = a.form.id()?;
    let n = c.service.retry_jobs(&a.admin, a.form.tenant(), id).await?;
    Ok(done(
        &jobs_page(a.form.tenant()),
        &format!("Re-queued {n} failed job(s)."),
    ))
}

pub async fn approve(State(c): State<ConsoleState>, a: Action) -> Result {
    decide(c, a, Decision::Approve).await
}

pub async fn reject(State(c): State<ConsoleState>, a: Action) -> Result {
    decide(c, a, Decision::Reject).await
}

async fn decide(c: ConsoleState, a: Action, decision: Decision) -> Result {
    let (tenant, id) = (a.form.required_tenant()?, a.form.id()?);
    let n = c
        .service
        .decide_deprovisions(&a.admin, tenant, id, decision)
        .await?;
    let message = match decision {
        Decision::Approve => format!("Released {n} held deprovision(s) to the worker."),
        Decision::Reject => {
            format!("Rejected {n} held deprovision(s); the upstream users keep their access.")
        }
    };
    Ok(done(&jobs_page(Some(tenant)), &message))
}

pub async fn reconcile(State(c): State<ConsoleState>, a: Action) -> Result {
    let tenant = a.form.required_tenant()?;
    let repair = match a.form.mode.as_deref() {
        None | Some("report") => false,
        Some("repair") => true,
        Some(other) => {
            return Err(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown reconcile mode {other:?}"),
            ))
        }
    };
    let options = Options {
        repair,
        deactivate_orphans: false,
    };
    let started = c.service.start_reconcile(&a.admin, tenant, options)?;
    let notice = if started {
        format!(
            "Reconcile of {tenant} started{}; the report appears here when it is done.",
            if repair { " with repair" } else { "" }
        )
    } else {
        format!("A reconcile of {tenant} is already running.")
    };
    Ok(done(
        &format!("/admin/drift?tenant={}", super::views::urlencode(tenant)),
        &notice,
    ))
}
