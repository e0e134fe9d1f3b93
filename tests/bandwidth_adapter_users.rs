//! The adapter against the simulator over loopback: the user lifecycle, conflicts, roles,
//! credentials and XML answers, in both dialects.

mod adapter_common;

use adapter_common::seed::seeded;
use adapter_common::*;
use bandwidth_sim::{SeedUser, UserEdit};
use scim_bridge::upstream::bandwidth::{BandwidthTarget, Dialect};
use scim_bridge::upstream::{
    AccountScope, DesiredUser, PhoneFormat, Target, TargetError, UpstreamUser,
};

/// Reads `created` back whole by its id, and finds it by `email`.
async fn assert_reads_back(t: &BandwidthTarget, created: &UpstreamUser, email: &str) {
    let got = t.get_user(&created.id).await.expect("get").expect("exists");
    assert_eq!(&got, created);
    let by_mail = t.find_by_email(email).await.expect("find").expect("found");
    assert_eq!(by_mail.id, created.id);
}

/// Updates user `id` to `from`, inactive and with its roles left alone (`None`); the
/// answer must say inactive.
async fn deactivate(t: &BandwidthTarget, id: &str, from: &DesiredUser, what: &str) -> UpstreamUser {
    let mut edit = from.clone();
    edit.roles = None;
    edit.active = false;
    let off = t.update_user(id, &edit).await.expect(what);
    assert!(!off.active);
    off
}

async fn lifecycle(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    t.ping().await.expect("ping");
    assert_eq!(
        t.user_rules().phone_format,
        if d == Dialect::V1 {
            PhoneFormat::E164
        } else {
            PhoneFormat::TenDigits
        }
    );
    assert_eq!(t.user_rules().system, "Bandwidth");
    assert_eq!(t.access_model().accounts, d == Dialect::V1);

    let want = desired(d, "jdoe");
    let created = t.create_user(&want).await.expect("create");
    assert_eq!(created.username, "jdoe");
    assert_eq!(created.email, "jdoe@example.com");
    assert_eq!(created.phone.as_deref(), Some(phone(d).as_str()));
    assert_eq!(
        sorted(created.roles.clone()),
        vec!["Ordering", "basicAccess"]
    );
    assert_eq!(created.accounts, vec![ACCOUNT.to_string()]);
    assert_eq!(created.account_scope, AccountScope::Account);
    assert!(created.active);

    assert_reads_back(&t, &created, "JDoe@Example.com").await;
    let by_name = t
        .find_by_username("JDOE")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(by_name.id, created.id);
    assert_eq!(t.find_by_username("nobody").await.expect("find"), None);
    assert_eq!(
        t.find_by_email("nobody@example.com").await.expect("find"),
        None
    );
    assert_eq!(t.get_user("no-such-id").await.expect("get"), None);

    // roles: None keeps upstream's roles; the username never changes.
    let mut edit = want.clone();
    edit.roles = None;
    edit.first_name = "Janet".into();
    edit.username = "renamed".into();
    let updated = t.update_user(&created.id, &edit).await.expect("update");
    assert_eq!(updated.first_name, "Janet");
    assert_eq!(updated.username, "jdoe");
    assert_eq!(
        sorted(updated.roles.clone()),
        vec!["Ordering", "basicAccess"]
    );
    assert_eq!(updated.phone.as_deref(), Some(phone(d).as_str()));

    let mut edit = want.clone();
    edit.roles = Some(vec!["basicAccess".into(), "Porting".into()]);
    edit.account_scope = Some(AccountScope::AccountAdmin);
    edit.phone = None;
    let updated = t
        .update_user(&created.id, &edit)
        .await
        .expect("update roles");
    assert_eq!(
        sorted(updated.roles.clone()),
        vec!["Porting", "basicAccess"]
    );
    assert_eq!(updated.account_scope, AccountScope::AccountAdmin);
    assert_eq!(updated.phone, None);

    // account_scope None keeps ACCOUNT_ADMIN too.
    let off = deactivate(&t, &created.id, &want, "deactivate").await;
    assert_eq!(
        off.account_scope,
        AccountScope::AccountAdmin,
        "scope None keeps upstream's"
    );
    let snap = sim.snapshot();
    let su = snapshot_user(&snap, "jdoe");
    assert_eq!(su.len(), 1);
    assert_eq!(su[0].status, "DEACTIVATED");
    assert_eq!(sorted(su[0].roles.clone()), vec!["Porting", "basicAccess"]);

    let page = t.list_users(0).await.expect("list");
    assert!(page.users.iter().any(|u| u.id == created.id && !u.active));
    assert_eq!(page.next, None);

    t.delete_user(&created.id).await.expect("delete");
    assert_eq!(t.get_user(&created.id).await.expect("get"), None);
    t.delete_user(&created.id)
        .await
        .expect("delete of a gone user is Ok");
    assert!(snapshot_user(&sim.snapshot(), "jdoe").is_empty());
}
both_dialects!(lifecycle);

async fn update_keeps_what_upstream_changed(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    let id = sim.seed_user(SeedUser {
        account_scope: "ACCOUNT_ADMIN".into(),
        ..seeded("seeded", ("Sam", "Seed"), "seeded@example.com")
    });
    assert!(sim.edit_user(
        &id,
        UserEdit {
            roles: Some(vec!["basicAccess".into(), "Reporting".into()]),
            ..UserEdit::default()
        }
    ));
    let mut want = desired(d, "seeded");
    want.roles = None;
    want.account_scope = None;
    want.phone = None;
    let u = t.update_user(&id, &want).await.expect("update");
    assert_eq!(sorted(u.roles), vec!["Reporting", "basicAccess"]);
    assert_eq!(u.account_scope, AccountScope::AccountAdmin);
    assert_eq!(u.first_name, "Jane");
    let missing = t.update_user("no-such-id", &want).await;
    assert_eq!(missing, Err(TargetError::NotFound));
}
both_dialects!(update_keeps_what_upstream_changed);

async fn inactive_create(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    let mut want = desired(d, "sleeper");
    want.active = false;
    want.roles = None;
    let u = t.create_user(&want).await.expect("create");
    assert!(!u.active);
    assert_eq!(u.roles, vec!["basicAccess"], "default role");
    let snap = sim.snapshot();
    let su = snapshot_user(&snap, "sleeper");
    assert_eq!(su.len(), 1);
    assert_eq!(su[0].status, "DEACTIVATED");
}
both_dialects!(inactive_create);

async fn conflicts(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    t.create_user(&desired(d, "taken")).await.expect("create");
    let mut same_name = desired(d, "TAKEN");
    same_name.email = "other@example.com".into();
    match t.create_user(&same_name).await {
        Err(TargetError::Conflict(m)) => assert!(!m.is_empty()),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let mut same_mail = desired(d, "someone-else");
    same_mail.email = "Taken@Example.com".into();
    match t.create_user(&same_mail).await {
        Err(TargetError::Conflict(m)) => assert!(!m.is_empty()),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(sim.snapshot().users.len(), 1);
}
both_dialects!(conflicts);

async fn roles(d: Dialect) {
    let sim = start_sim(d, |c| c.withheld_roles = vec!["Porting".into()]).await;
    let t = target(d, &sim);
    let all = t.list_roles().await.expect("roles");
    assert!(all.iter().any(|r| r.name == "basicAccess"));
    assert!(all.iter().any(|r| r.name == "User Administrator"));

    let mut unknown = desired(d, "u1");
    unknown.roles = Some(vec!["basicAccess".into(), "Wizard".into()]);
    match t.create_user(&unknown).await {
        Err(TargetError::Invalid(m)) => {
            assert!(m.contains("Wizard"), "{m}");
            assert!(m.contains("basicAccess") && m.contains("Ordering"), "{m}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    let mut withheld = desired(d, "u2");
    withheld.roles = Some(vec!["Porting".into()]);
    match t.create_user(&withheld).await {
        Err(TargetError::Forbidden(m)) => assert!(m.contains("Porting"), "{m}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let ok = t.create_user(&desired(d, "u3")).await.expect("create");
    match t.update_user(&ok.id, &withheld).await {
        Err(TargetError::Forbidden(_)) => {}
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(sim.snapshot().users.len(), 1);
}
both_dialects!(roles);

async fn bad_credentials(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let mut cfg = config(d, &sim);
    cfg.client_secret = "wrong".to_string().into();
    cfg.password = "wrong".to_string().into();
    let t = BandwidthTarget::new(cfg).expect("config");
    assert!(matches!(t.ping().await, Err(TargetError::Auth(_))), "ping");
    assert!(
        matches!(t.get_user("x").await, Err(TargetError::Auth(_))),
        "get"
    );
    assert!(matches!(
        t.create_user(&desired(d, "x")).await,
        Err(TargetError::Auth(_))
    ));
    assert!(sim.snapshot().users.is_empty());
}
both_dialects!(bad_credentials);

async fn paging(d: Dialect) {
    let sim = start_sim(d, |_| {}).await;
    let t = target(d, &sim);
    for i in 0..130 {
        sim.seed_user(seeded(
            &format!("user{i:03}"),
            ("P", "Age"),
            &format!("user{i:03}@example.com"),
        ));
    }
    let first = t.list_users(0).await.expect("page 0");
    assert_eq!(first.users.len(), 100);
    assert_eq!(first.next, Some(1));
    let second = t.list_users(1).await.expect("page 1");
    assert_eq!(second.users.len(), 30);
    assert_eq!(second.next, None);
    let mut names: Vec<_> = first
        .users
        .iter()
        .chain(&second.users)
        .map(|u| u.username.clone())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 130);
}
both_dialects!(paging);

#[tokio::test]
async fn xml_answers_are_parsed() {
    let d = Dialect::Dashboard;
    let sim = start_sim(d, |_| {}).await;
    sim.set_faults(faults(|f| f.xml_always = true));
    let t = target(d, &sim);
    t.ping().await.expect("ping over XML");
    let roles = t.list_roles().await.expect("roles over XML");
    assert!(roles.iter().any(|r| r.name == "Ordering"));
    let created = t
        .create_user(&desired(d, "xmluser"))
        .await
        .expect("create over XML");
    assert_eq!(
        sorted(created.roles.clone()),
        vec!["Ordering", "basicAccess"]
    );
    assert_eq!(created.email, "xmluser@example.com");
    assert_reads_back(&t, &created, "xmluser@example.com").await;
    let u = deactivate(&t, &created.id, &desired(d, "xmluser"), "update over XML").await;
    assert_eq!(sorted(u.roles), vec!["Ordering", "basicAccess"]);
    assert_eq!(t.list_users(0).await.expect("list").users.len(), 1);
    match t.create_user(&desired(d, "xmluser")).await {
        Err(TargetError::Conflict(m)) => {
            assert!(!m.starts_with("HTTP"), "XML description read: {m}")
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(t.get_user("nope").await.expect("get"), None);
}
