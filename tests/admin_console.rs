//! The admin console over real HTTP: sign-in, CSRF, roles, tenant scoping, audited
//! actions, and no secret on any page.
mod common;
mod support;

use common::console::{admin_toml, Console, Page, PASSWORD};
use common::{user, Harness, Options};
use reqwest::StatusCode;

async fn start(accounts: &[(&str, &str, &[&str])], extra: &str, second_tenant: bool) -> Harness {
    Harness::start(Options {
        extra_toml: format!("{extra}{}", admin_toml(accounts)),
        second_tenant,
        ..Options::default()
    })
    .await
}

/// Audit entries of every tenant by `actor` with `action`.
async fn audit_by(h: &Harness, actor: &str, action: &str) -> Vec<scim_bridge::store::AuditEntry> {
    let query = scim_bridge::store::AuditQuery {
        actor: Some(actor.into()),
        action: Some(action.into()),
        limit: 100,
        ..Default::default()
    };
    h.store
        .search_audit(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.actor == actor && e.action == action)
        .collect()
}

#[tokio::test]
async fn the_console_is_off_without_an_admin_section() {
    let h = Harness::default().await;
    let answer = reqwest::get(format!("{}/admin/login", h.root()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_wrong_password_session_cookie_and_logout() {
    let h = start(&[("ops", "operator", &[])], "", false).await;
    let mut c = Console::new(&h.root());

    let anonymous = c.get("/admin/").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location.as_deref(), Some("/admin/login"));

    let wrong = c.login("ops", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    wrong.assert_shows(&["Wrong name or password"]);
    let unknown = c.login("nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(!c.cookies.contains_key("scim_bridge_admin"));

    let ok = c.login("ops", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/admin/"));
    let session = c
        .set_cookies
        .iter()
        .find(|s| s.starts_with("scim_bridge_admin=") && !s.starts_with("scim_bridge_admin=;"))
        .expect("a session cookie")
        .clone();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=28800",
    ] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: {session}");

    let overview = c.get("/admin/").await;
    assert_eq!(overview.status, StatusCode::OK);
    overview.assert_shows(&["tenant-acme", "ops (operator"]);

    let csrf = overview.csrf();
    let out = c.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/admin/login"));
    assert_eq!(c.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_login_without_the_forms_token_is_refused_and_guessing_is_rate_limited() {
    let h = start(&[("ops", "operator", &[])], "", false).await;
    let mut c = Console::new(&h.root());
    let forged = c
        .post(
            "/admin/login",
            &[("csrf", "made-up"), ("name", "ops"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!c.cookies.contains_key("scim_bridge_admin"));

    for _ in 0..5 {
        assert_eq!(
            c.login("ops", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = c.login("ops", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(!c.cookies.contains_key("scim_bridge_admin"));
}

#[tokio::test]
async fn state_changes_without_the_sessions_csrf_token_are_refused() {
    let h = start(&[("ops", "operator", &[])], "", false).await;
    let (mut c, csrf) = Console::signed_in(&h.root(), "ops").await;
    for form in [
        vec![("tenant", "acme")],
        vec![("tenant", "acme"), ("csrf", "wrong")],
    ] {
        for path in [
            "/admin/jobs/retry",
            "/admin/deprovisions/approve",
            "/admin/reconcile",
            "/admin/logout",
        ] {
            let answer = c.post(path, &form).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} {form:?}");
            answer.assert_shows(&["CSRF"]);
        }
    }
    assert!(h
        .audit()
        .await
        .iter()
        .all(|e| !e.actor.starts_with("admin:")));
    // The token of another session does not do either.
    let (_, other_csrf) = Console::signed_in(&h.root(), "ops").await;
    assert_ne!(other_csrf, csrf);
    let answer = c.post("/admin/jobs/retry", &[("csrf", &other_csrf)]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Still signed in: the refusals did not end the session.
    assert_eq!(c.get("/admin/jobs").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_viewer_sees_but_cannot_act() {
    let h = start(&[("eve", "viewer", &[])], "", false).await;
    let (mut c, csrf) = Console::signed_in(&h.root(), "eve").await;
    let jobs = c.get("/admin/jobs").await;
    assert_eq!(jobs.status, StatusCode::OK);
    assert!(!jobs.body.contains("retry-all") && !jobs.body.contains("/admin/deprovisions/approve"));
    for (path, form) in [
        ("/admin/jobs/retry", vec![("csrf", csrf.as_str())]),
        (
            "/admin/deprovisions/approve",
            vec![("csrf", csrf.as_str()), ("tenant", "acme")],
        ),
        (
            "/admin/deprovisions/reject",
            vec![("csrf", csrf.as_str()), ("tenant", "acme")],
        ),
        (
            "/admin/reconcile",
            vec![
                ("csrf", csrf.as_str()),
                ("tenant", "acme"),
                ("mode", "repair"),
            ],
        ),
    ] {
        let answer = c.post(path, &form).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        answer.assert_shows(&["viewer"]);
    }
    assert_eq!(c.get("/admin/config").await.status, StatusCode::FORBIDDEN);
    assert!(h
        .audit()
        .await
        .iter()
        .all(|e| !e.actor.starts_with("admin:")));
}

#[tokio::test]
async fn a_tenant_scoped_admin_sees_only_its_tenant() {
    let h = start(&[("gops", "operator", &["globex"])], "", true).await;
    let acme_user = h.create_ok(user("acme.only@x.com")).await;
    let (mut c, csrf) = Console::signed_in(&h.root(), "gops").await;

    let overview = c.get("/admin/").await;
    overview.assert_shows(&["tenant-globex"]);
    assert!(!overview.body.contains("tenant-acme"), "{}", overview.body);
    assert_eq!(
        c.get("/admin/users?tenant=acme").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(&format!("/admin/users/acme/{acme_user}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let audit = c.get("/admin/audit").await;
    assert!(!audit.body.contains("acme.only@x.com") && !audit.body.contains(&acme_user));
    let audit = c.get("/admin/audit?tenant=acme").await;
    assert_eq!(audit.status, StatusCode::NOT_FOUND);
    let jobs = c.get("/admin/jobs?tenant=acme").await;
    assert_eq!(jobs.status, StatusCode::NOT_FOUND);
    for path in [
        "/admin/deprovisions/approve",
        "/admin/deprovisions/reject",
        "/admin/reconcile",
    ] {
        let answer = c.post(path, &[("csrf", &csrf), ("tenant", "acme")]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Retry without a tenant covers its own tenants only, and is audited there.
    let answer = c.post("/admin/jobs/retry", &[("csrf", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let retries = audit_by(&h, "admin:gops", "job_retry").await;
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].tenant, "globex");
}

/// Posts the operator's `decision` ("approve" or "reject") on acme's held deprovision `id`.
async fn decide(c: &mut Console, csrf: &str, decision: &str, id: i64) -> Page {
    let id = id.to_string();
    let form = [("csrf", csrf), ("tenant", "acme"), ("id", id.as_str())];
    c.post(&format!("/admin/deprovisions/{decision}"), &form)
        .await
}

#[tokio::test]
async fn every_action_is_audited_with_the_admins_name() {
    let guard = "[tenants.acme.deprovision_guard]\nmax = 1\nwindow_secs = 3600\n";
    let h = start(&[("ops", "operator", &[])], guard, false).await;
    let a = h.create_ok(user("a@x.com")).await;
    let b = h.create_ok(user("b@x.com")).await;
    let c_id = h.create_ok(user("c@x.com")).await;
    for id in [&a, &b, &c_id] {
        support::set_active(&h, id, false).await;
    }
    let held = h
        .app
        .admin
        .list_deprovisions(&scim_bridge::admin::Admin::cli(), Some("acme"), None, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 2, "b and c are held: {held:?}");

    let (mut c, csrf) = Console::signed_in(&h.root(), "ops").await;
    let jobs = c.get("/admin/jobs?tenant=acme").await;
    jobs.assert_shows(&["b@x.com", "c@x.com"]);

    let answer = decide(&mut c, &csrf, "reject", held[0].id).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let answer = decide(&mut c, &csrf, "approve", held[1].id).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let followed = c.get(answer.location.as_deref().unwrap()).await;
    followed.assert_shows(&["Released 1 held deprovision"]);
    h.eventually("the approved deactivation is carried out", |s| {
        s.users
            .iter()
            .any(|u| u.username == held[1].request.upstream_username && u.status == "DEACTIVATED")
    })
    .await;
    assert_eq!(
        h.upstream(&held[0].request.upstream_username)
            .unwrap()
            .status,
        "ACTIVE",
        "the rejected one keeps its access"
    );
    let rejected_user = h
        .store
        .get_user("acme", &held[0].request.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rejected_user.link.sync_state,
        scim_bridge::store::SyncState::Failed
    );

    let answer = c
        .post("/admin/jobs/retry", &[("csrf", &csrf), ("tenant", "acme")])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let answer = c
        .post(
            "/admin/reconcile",
            &[("csrf", &csrf), ("tenant", "acme"), ("mode", "report")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while audit_by(&h, "admin:ops", "reconcile_run").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the reconcile never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for action in [
        "deprovision_reject",
        "deprovision_approve",
        "job_retry",
        "reconcile_run",
    ] {
        let entries = audit_by(&h, "admin:ops", action).await;
        assert_eq!(entries.len(), 1, "{action}");
        assert_eq!(entries[0].tenant, "acme");
    }
    let drift = c.get("/admin/drift?tenant=acme").await;
    drift.assert_shows(&["reconcile-summary"]);
    let audit = c.get("/admin/audit?actor=admin%3Aops").await;
    audit.assert_shows(&["deprovision_reject", "4 entries"]);
}

#[tokio::test]
async fn users_search_and_a_users_page_with_a_live_upstream_read() {
    let h = start(&[("eve", "viewer", &[])], "", false).await;
    let id = h.create_ok(user("jane.doe@x.com")).await;
    h.create_ok(user("john.roe@x.com")).await;
    let (mut c, _) = Console::signed_in(&h.root(), "eve").await;
    let found = c.get("/admin/users?tenant=acme&q=jane").await;
    assert!(found.body.contains("jane.doe@x.com") && !found.body.contains("john.roe@x.com"));
    found.assert_shows(&["1 user(s)"]);
    let all = c.get("/admin/users?tenant=acme").await;
    all.assert_shows(&["2 user(s)"]);
    let page = c.get(&format!("/admin/users/acme/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_shows(&["upstreamUsername", "read-upstream"]);
    assert!(
        page.body.contains("create"),
        "its audit trail: {}",
        page.body
    );
    let live = c.get(&format!("/admin/users/acme/{id}?live=1")).await;
    live.assert_shows(&["live-upstream", "&#34;active&#34;: true"]);
}

#[tokio::test]
async fn no_page_renders_a_secret() {
    let h = start(
        &[("ops", "operator", &[])],
        "[server]\nmetrics_token = \"metrics-secret-4b1d\"\n",
        true,
    )
    .await;
    let id = h.create_ok(user("s@x.com")).await;
    let (mut c, _) = Console::signed_in(&h.root(), "ops").await;
    let config = c.get("/admin/config").await;
    assert_eq!(config.status, StatusCode::OK);
    config.assert_shows(&["globex", "***"]);
    let token_hash = hex::encode(scim_bridge::http::auth::sha256(common::TOKEN));
    let sim_secret = scim_bridge_sim_secret();
    let mut secrets = vec![
        common::TOKEN.to_string(),
        token_hash,
        "metrics-secret-4b1d".to_string(),
        common::CLIENT_B.1.to_string(),
        sim_secret,
        "$argon2id$".to_string(),
    ];
    secrets.retain(|s| !s.is_empty());
    for path in [
        "/admin/".to_string(),
        "/admin/config".into(),
        "/admin/audit".into(),
        "/admin/jobs".into(),
        "/admin/drift".into(),
        format!("/admin/users/acme/{id}?live=1"),
        "/admin/notifications".into(),
    ] {
        let page = c.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for secret in &secrets {
            assert!(
                !page.body.contains(secret.as_str()),
                "{path} shows {secret}"
            );
        }
    }
    let (status, _) = h.get("/Users").await;
    assert_eq!(status, StatusCode::OK);
}

/// The acme tenant's upstream client secret, as the simulator's defaults have it.
fn scim_bridge_sim_secret() -> String {
    bandwidth_sim::SimConfig::default().client_secret
}
