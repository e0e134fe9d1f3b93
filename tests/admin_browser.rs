//! The admin console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) through WebDriver. An operator signs in, sees a job that failed
//! while the simulator answered 503, retries it and sees it succeed, approves a held
//! deprovision and runs a reconcile. Two screenshots land in `docs/`.
//!
//! Without Chromium or its driver this test FAILS (with how to install them): it must
//! never pass without having run.
mod common;
mod support;

use std::time::Duration;

use bandwidth_sim::Faults;
use common::console::{admin_toml, PASSWORD};
use common::faults::faults;
use common::webdriver::Browser;
use common::{user, Harness};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_a_failed_job_approves_a_deprovision_and_reconciles() {
    let extra = format!(
        "[tenants.acme.deprovision_guard]\nmax = 1\nwindow_secs = 3600\n[worker]\nmax_attempts = 2\n{}",
        admin_toml(&[("ops", "operator", &[])])
    );
    let h = Harness::with(|o| o.extra_toml = extra).await;
    let ann = h.create_ok(user("ann@x.com")).await;
    let bob = h.create_ok(user("bob@x.com")).await;
    let cat = h.create_ok(user("cat@x.com")).await;
    // Bob's deactivation goes upstream; Cat's is one too many for the guard: held.
    for id in [&bob, &cat] {
        support::set_active(&h, id, false).await;
    }
    assert_eq!(h.upstream("cat@x.com").unwrap().status, "ACTIVE");

    // Every upstream call fails while Ann joins the admins group: her role sync job
    // fails for good after its two attempts.
    h.sim.set_faults(faults(|f| f.fail_rate = 1.0));
    let group = support::group("Bandwidth Admins", &[&ann]);
    let (status, _, body) = h.call(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    h.failed_jobs("the job never failed", |failed| !failed.is_empty())
        .await;
    h.sim.set_faults(Faults::default());
    // The breaker's one-second cool-down passes before the retry.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let browser = Browser::start().await;
    let root = h.root();
    browser.goto(&format!("{root}/admin/")).await;
    assert!(browser.url().await.ends_with("/admin/login"));
    browser.type_into("#name", "ops").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#signin").await;
    browser.shows("live refresh").await;
    assert!(browser.url().await.ends_with("/admin/"), "signed in");
    let overview = browser.text().await;
    assert!(overview.contains("1\njobs failed"), "{overview}");
    assert!(overview.contains("1\ndeprovisions held"), "{overview}");
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    browser.screenshot(&docs.join("admin-overview.png")).await;

    browser.goto(&format!("{root}/admin/jobs")).await;
    let jobs = browser.text().await;
    assert!(jobs.contains(&ann), "the failed job names Ann: {jobs}");
    assert!(
        jobs.contains("cat@x.com") && jobs.contains("held"),
        "{jobs}"
    );
    browser.screenshot(&docs.join("admin-jobs.png")).await;

    browser.click("button.retry").await;
    browser.shows("Re-queued 1 failed job(s).").await;
    browser
        .wait_for(
            &format!("{root}/admin/jobs"),
            "the retried job succeeds",
            |t| t.contains("No failed jobs."),
        )
        .await;
    h.eventually("Ann has the admins' role upstream", |s| {
        Harness::roles_of(s, "ann@x.com").contains(&"User Administrator".to_string())
    })
    .await;

    browser.click("button.approve").await;
    browser
        .shows("Released 1 held deprovision(s) to the worker.")
        .await;
    h.eventually("Cat is deactivated upstream", |s| {
        s.users
            .iter()
            .any(|u| u.username == "cat@x.com" && u.status == "DEACTIVATED")
    })
    .await;

    browser
        .goto(&format!("{root}/admin/drift?tenant=acme"))
        .await;
    browser.click("button.run-reconcile").await;
    // The form's answer first: loading the drift page again before the POST went out
    // would cancel it (the reconcile would never start; that is how this failed now and
    // then).
    browser
        .shows("Reconcile of acme started; the report appears here when it is done.")
        .await;
    let report = |t: &str| t.contains("by admin:ops") || t.contains("by reconcile");
    let drift = match browser
        .poll_for(&format!("{root}/admin/drift?tenant=acme"), report)
        .await
    {
        Ok(text) => text,
        // The audit log says whether the reconcile ran, failed or never started.
        Err(text) => panic!(
            "the reconcile report never appeared; the page shows:\n{text}\naudit log:\n{:#?}",
            h.audit().await
        ),
    };
    assert!(drift.contains("finding(s)"), "{drift}");
    let audit = h.audit().await;
    for action in ["job_retry", "deprovision_approve", "reconcile_run"] {
        assert!(
            audit
                .iter()
                .any(|e| e.actor == "admin:ops" && e.action == action),
            "{action} audited"
        );
    }
}
