//! What only a NetSapiens tenant does, end to end through the common harness (the
//! shared lifecycle, groups, errors... run on both targets in their own files):
//! extensions, the remembered scope, re-creating at the old extension, and
//! `login_username`. Checked through the simulator's state.

mod common;

use bandwidth_sim::ns::{NsSimHandle, NsUser, DOMAIN_KEY, SUPER_KEY};
use common::scim::{assert_error_mentions, group_body, one_op};
use common::target::{TargetKind, NS_DOMAIN};
use common::{user, Harness, Options};
use reqwest::{Method, StatusCode};
use scim_bridge::store::{JobState, QueueFilter};
use serde_json::{json, Value};

async fn netsapiens(options: Options) -> Harness {
    Harness::start(Options {
        target: TargetKind::Netsapiens,
        ..options
    })
    .await
}

fn scope_of(h: &Harness, username: &str) -> String {
    h.held(username)
        .and_then(|u| u.scope)
        .unwrap_or_else(|| panic!("{username} is not held"))
}

/// The scope `username` holds once the worker has nothing left to do.
async fn settled_scope(h: &Harness, username: &str) -> String {
    settle(h).await;
    scope_of(h, username)
}

/// The NetSapiens simulator behind `h`.
fn ns_sim(h: &Harness) -> &NsSimHandle {
    let common::target::Upstream::Netsapiens(sim) = &h.upstream else {
        panic!("a NetSapiens tenant has the NetSapiens simulator");
    };
    sim
}

/// Sets a scope by hand in the portal (here: ns-api with the domain's key).
async fn set_scope_upstream(h: &Harness, ext: &str, scope: &str) {
    let url = format!(
        "{}/ns-api/v2/domains/{NS_DOMAIN}/users/{ext}",
        h.upstream.base_url()
    );
    let resp = reqwest::Client::new()
        .put(url)
        .bearer_auth(DOMAIN_KEY)
        .json(&json!({"user-scope": scope, "synchronous": "yes"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
}

async fn set_active(h: &Harness, id: &str, active: bool) -> Value {
    let (status, body) = h
        .patch(id, json!([{"op": "replace", "value": {"active": active}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A tenant under `on_deactivate = "delete"` with Jane created, then `others`, then Jane
/// deactivated (so deleted upstream); the harness and Jane's SCIM id.
async fn jane_deleted_upstream(others: &[&str]) -> (Harness, String) {
    let h = netsapiens(Options {
        on_deactivate: "delete",
        ..Options::default()
    })
    .await;
    let jane = h.create_ok(user("jane@acme.test")).await;
    for name in others {
        h.create_ok(user(name)).await;
    }
    set_active(&h, &jane, false).await;
    assert!(h.held("jane@acme.test").is_none(), "deleted upstream");
    (h, jane)
}

/// Waits until the job worker has run whatever the last change queued, so a check that
/// something stays as it is sees the worker's write too.
async fn settle(h: &Harness) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let acme = QueueFilter::of("acme", 10);
    loop {
        let jobs = h.store.list_jobs(acme).await.unwrap();
        if jobs.iter().all(|j| j.state == JobState::Failed) {
            assert!(jobs.is_empty(), "failed jobs: {jobs:?}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "jobs left: {jobs:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn extensions_are_allocated_in_order_and_a_taken_login_username_is_409() {
    let h = netsapiens(Options::default()).await;
    h.create_ok(user("jane@acme.test")).await;
    h.create_ok(user("bob@acme.test")).await;
    let exts: Vec<String> = h.held_users().into_iter().map(|u| u.user.user_id).collect();
    assert_eq!(exts, ["2000", "2001"]);

    // login-username is unique across the whole system, here taken in another domain.
    ns_sim(&h).seed_user(NsUser {
        user: "100".into(),
        domain: "other".into(),
        name_first_name: "Carol".into(),
        name_last_name: "Elsewhere".into(),
        email_address: "carol@other.test".into(),
        login_username: "carol@acme.test".into(),
        ..NsUser::default()
    });
    let (status, body) = h.create(user("carol@acme.test")).await;
    assert_error_mentions(status, &body, 409, Some("uniqueness"), "login-username");
    assert_eq!(h.held_users().len(), 2);
}

/// Deactivation is scope `No Portal`; the scope it replaced (here one an admin set by
/// hand) comes back on reactivation and stays, unless a group rule now grants one. A
/// scope a rule granted is not remembered: leaving the group while inactive takes it.
#[tokio::test]
async fn the_scope_a_deactivation_replaced_comes_back_unless_a_rule_grants_another() {
    let h = netsapiens(Options::default()).await;
    let id = h.create_ok(user("jane@acme.test")).await;
    assert_eq!(scope_of(&h, "jane@acme.test"), "Basic User");
    set_scope_upstream(&h, "2000", "Site Manager").await;

    set_active(&h, &id, false).await;
    assert_eq!(scope_of(&h, "jane@acme.test"), "No Portal");
    set_active(&h, &id, true).await;
    assert_eq!(scope_of(&h, "jane@acme.test"), "Site Manager");
    assert_eq!(
        settled_scope(&h, "jane@acme.test").await,
        "Site Manager",
        "the worker keeps it"
    );

    // Deactivated again; while inactive she joins a group whose rule grants a scope.
    set_active(&h, &id, false).await;
    let group = group_body("Bandwidth Admins", &[&id]);
    let (status, body) = h.post("/Groups", group).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        settled_scope(&h, "jane@acme.test").await,
        "No Portal",
        "inactive stays so"
    );
    set_active(&h, &id, true).await;
    h.eventually_held("the rule's scope", |u| {
        u[0].scope.as_deref() == Some("Office Manager")
    })
    .await;
    assert_eq!(settled_scope(&h, "jane@acme.test").await, "Office Manager");

    // Deactivated while the rule grants it, then out of the group: the default.
    set_active(&h, &id, false).await;
    let gid = body["id"].as_str().unwrap();
    let (status, _, _) = h
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    settle(&h).await;
    set_active(&h, &id, true).await;
    assert_eq!(settled_scope(&h, "jane@acme.test").await, "Basic User");
    assert_eq!(h.held("jane@acme.test").unwrap().user_id, "2000");
}

/// Under `on_deactivate = "delete"`, reactivation re-creates the user at its old
/// extension while that is free; when someone took it meanwhile, at the next free one
/// of the range, and the audit says so.
#[tokio::test]
async fn a_re_created_user_whose_extension_was_taken_gets_another_and_the_audit_says_so() {
    let (h, jane) = jane_deleted_upstream(&["bob@acme.test"]).await;
    ns_sim(&h).seed_user(NsUser {
        user: "2000".into(),
        domain: NS_DOMAIN.into(),
        name_first_name: "Desk".into(),
        name_last_name: "Phone".into(),
        email_address: "desk@acme.test".into(),
        ..NsUser::default()
    });
    let body = set_active(&h, &jane, true).await;
    assert_eq!(body["id"], jane.as_str());
    let up = h.held("jane@acme.test").expect("re-created");
    assert_eq!(up.user_id, "2002", "the lowest free one");
    let audit = h.audit().await;
    let notes = audit[0].detail["notes"].to_string();
    assert!(
        notes.contains("2000") && notes.contains("2002"),
        "{:?}",
        audit[0].detail
    );
    assert_eq!(audit[0].detail["upstream"], "re-created");
}

/// `login_username = "user@domain"`: NetSapiens' own `<extension>@<domain>`; the SCIM
/// side keeps the IdP's userName.
#[tokio::test]
async fn login_username_can_be_extension_at_domain() {
    let h = netsapiens(Options {
        extra_toml: "login_username = \"user@domain\"".into(),
        ..Options::default()
    })
    .await;
    let id = h.create_ok(user("jane@acme.test")).await;
    let up = h.held("2000@acme").expect("held as 2000@acme");
    assert_eq!(
        (up.user_id.as_str(), up.email.as_str()),
        ("2000", "jane@acme.test")
    );
    let found = h.find_by_username("jane@acme.test").await;
    assert_eq!(found["totalResults"], 1, "{found}");
    let (status, body) = h
        .patch(&id, one_op("replace", "name.familyName", json!("Smith")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.held("2000@acme").unwrap().last_name, "Smith");
    // Two users never clash on login-username: each has its own extension.
    h.create_ok(user("bob@acme.test")).await;
    assert!(h.held("2001@acme").is_some());
}

#[tokio::test]
async fn extension_from_the_work_phone_department_site_and_every_work_email() {
    let h = netsapiens(Options {
        extra_toml: "extension_source = { kind = \"phone\", type = \"work\" }\nsite = \"HQ\""
            .into(),
        ..Options::default()
    })
    .await;
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut jane = user("jane@acme.test");
    jane["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", enterprise]);
    jane["phoneNumbers"] = json!([{"value": "+1 919 555 1234 x2042", "type": "work"}]);
    jane["emails"] = json!([{"value": "desk@acme.test", "type": "work"},
                            {"value": "jane@acme.test", "type": "work", "primary": true},
                            {"value": "home@example.test", "type": "home"}]);
    jane[enterprise] = json!({"department": "Sales"});
    let id = h.create_ok(jane).await;
    let raw = |h: &Harness| ns_sim(h).snapshot().domains[NS_DOMAIN].users.clone();
    let up = raw(&h);
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0].user, "2042",
        "the extension comes from the work phone"
    );
    assert_eq!(up[0].email_address, "jane@acme.test;desk@acme.test");
    assert_eq!(
        (up[0].department.as_str(), up[0].site.as_str()),
        ("Sales", "HQ")
    );

    // A new source value is not sent (the extension never changes); the department is.
    let ops = json!([
        {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 919 555 1234 x2043"},
        {"op": "replace", "path": format!("{enterprise}:department"), "value": "Ops"}
    ]);
    let (status, body) = h.patch(&id, ops).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let up = raw(&h);
    assert_eq!((up.len(), up[0].user.as_str()), (1, "2042"));
    assert_eq!(up[0].department, "Ops");

    // Without a usable suffix the extension is allocated from the range.
    h.create_ok(user("bob@acme.test")).await;
    assert_eq!(raw(&h)[0].user, "2000");

    // A taken source extension is a SCIM 409 naming it.
    let mut carol = user("carol@acme.test");
    carol["phoneNumbers"] = json!([{"value": "tel:+1-919-555-1234;ext=2042", "type": "work"}]);
    let (status, body) = h.create(carol).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness", "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("2042"),
        "{body}"
    );
}

/// Under `on_deactivate = "delete"`, a reactivation re-creates the user; when someone
/// took its login-username meanwhile (unique across the whole system), the IdP gets a
/// 409 naming it, the SCIM user stays inactive as stored, and nothing is created
/// upstream. Once the name is free again, the same PATCH re-creates the user.
#[tokio::test]
async fn a_re_create_whose_login_username_was_taken_is_409_and_changes_nothing() {
    let (h, jane) = jane_deleted_upstream(&[]).await;
    ns_sim(&h).seed_user(NsUser {
        user: "100".into(),
        domain: "other".into(),
        name_first_name: "Jane".into(),
        name_last_name: "Elsewhere".into(),
        email_address: "jane@other.test".into(),
        login_username: "jane@acme.test".into(),
        ..NsUser::default()
    });
    let held_before = h.held_users().len();

    let reactivate = json!([{"op": "replace", "value": {"active": true}}]);
    let (status, body) = h.patch(&jane, reactivate.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("login-username"),
        "{body}"
    );
    let (status, _, stored) = h.call(Method::GET, &format!("/Users/{jane}"), None).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        stored["active"], false,
        "the stored user is unchanged: {stored}"
    );
    assert_eq!(
        h.held_users().len(),
        held_before,
        "nothing created upstream"
    );
    assert!(h.held("jane@acme.test").is_none());

    // The other domain's user is removed (by a super user's key); the IdP's retry of the
    // same PATCH now re-creates Jane.
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/ns-api/v2/domains/other/users/100",
            h.upstream.base_url()
        ))
        .bearer_auth(SUPER_KEY)
        .send()
        .await
        .expect("the simulator answers");
    assert!(resp.status().is_success(), "{resp:?}");
    let (status, body) = h.patch(&jane, reactivate).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true, "{body}");
    assert!(h.held("jane@acme.test").is_some_and(|u| u.active()));
}
