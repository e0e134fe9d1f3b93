//! The NetSapiens adapter against the simulator over loopback: lifecycle, extension
//! allocation (also by two replicas at once), conflicts, access limits, both
//! credentials, read-back after 202, rate limits and lost answers.

#[path = "common/faults.rs"]
mod faults;

use std::sync::Arc;
use std::time::Duration;

use bandwidth_sim::ns::{NsConfig, NsSimHandle, NsSimulator, NsUser, DOMAIN_KEY, READ_ONLY_KEY};
use faults::faults;
use scim_bridge::upstream::netsapiens::{NetsapiensConfig, NetsapiensTarget, NsCredential};
use scim_bridge::upstream::{DesiredUser, Target, TargetError, UpstreamUser};
use secrecy::SecretString;

/// A NetSapiens simulator with the default configuration but what `set` changes.
async fn sim(set: impl FnOnce(&mut NsConfig)) -> NsSimHandle {
    let mut config = NsConfig::default();
    set(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    NsSimulator::start(config, listener).await.expect("start")
}

fn config(sim: &NsSimHandle, credential: NsCredential) -> NetsapiensConfig {
    let mut c = NetsapiensConfig::new(sim.base_url(), "acme", credential);
    c.calls.rate_limit_per_second = 1000;
    c.extension_range = (2000, 2099);
    c
}

fn key(k: &str) -> NsCredential {
    NsCredential::ApiKey(SecretString::from(k.to_string()))
}

fn target(sim: &NsSimHandle) -> NetsapiensTarget {
    NetsapiensTarget::new(config(sim, key(DOMAIN_KEY))).expect("target")
}

fn desired(username: &str) -> DesiredUser {
    DesiredUser {
        username: username.into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: username.to_string(),
        active: true,
        ..DesiredUser::default()
    }
}

/// Creates the user `username` (see [`desired`]), which must succeed.
async fn create(t: &NetsapiensTarget, username: &str, what: &str) -> UpstreamUser {
    t.create_user(&desired(username)).await.expect(what)
}

/// Creates `user`, which must be refused; returns why.
async fn create_err(t: &NetsapiensTarget, user: &DesiredUser, what: &str) -> TargetError {
    t.create_user(user).await.expect_err(what)
}

fn state_users(sim: &NsSimHandle) -> Vec<NsUser> {
    sim.snapshot().domains["acme"].users.clone()
}

#[tokio::test]
async fn lifecycle_create_find_update_scope_deactivate_reactivate_delete() {
    let sim = sim(|_| {}).await;
    let t = target(&sim);
    t.ping().await.expect("ping");
    assert_eq!(t.user_rules().system, "NetSapiens");
    assert!(t.access_model().roles && !t.access_model().accounts);

    let created = create(&t, "jane@acme.test", "create").await;
    assert_eq!(created.id, "2000");
    assert_eq!(created.username, "jane@acme.test");
    assert_eq!(created.roles, ["Basic User"]);
    assert!(created.active);
    assert_eq!(
        t.get_user("2000").await.expect("get"),
        Some(created.clone())
    );
    let found = t.find_by_username("JANE@acme.test").await.expect("find");
    assert_eq!(found.map(|u| u.id).as_deref(), Some("2000"));
    let found = t.find_by_email("Jane@Acme.test").await.expect("find");
    assert_eq!(found.map(|u| u.id).as_deref(), Some("2000"));
    assert_eq!(t.find_by_username("nobody").await.expect("find"), None);

    // Group rules name scopes; the highest ranked wins.
    let mut want = desired("jane@acme.test");
    want.last_name = "Smith".into();
    want.roles = Some(vec!["Call Center Agent".into(), "Office Manager".into()]);
    let updated = t.update_user("2000", &want).await.expect("update");
    assert_eq!(updated.last_name, "Smith");
    assert_eq!(updated.roles, ["Office Manager"]);
    // roles: None keeps upstream's scope.
    want.roles = None;
    want.first_name = "Janet".into();
    let kept = t.update_user("2000", &want).await.expect("update");
    assert_eq!(kept.roles, ["Office Manager"]);

    want.active = false;
    let off = t.update_user("2000", &want).await.expect("deactivate");
    assert!(!off.active);
    assert_eq!(state_users(&sim)[0].user_scope, "No Portal");
    want.active = true;
    let on = t.update_user("2000", &want).await.expect("reactivate");
    assert!(on.active);
    assert_eq!(state_users(&sim)[0].user_scope, "Basic User");

    let u = &state_users(&sim)[0];
    assert_eq!(
        (u.name_first_name.as_str(), u.name_last_name.as_str()),
        ("Janet", "Smith")
    );
    assert_eq!(u.login_username, "jane@acme.test");
    let writes = sim.snapshot().stats.updates;
    t.update_user("2000", &want).await.expect("unchanged");
    assert_eq!(
        sim.snapshot().stats.updates,
        writes,
        "nothing to write, nothing sent"
    );

    t.delete_user("2000").await.expect("delete");
    t.delete_user("2000").await.expect("already gone is fine");
    assert!(state_users(&sim).is_empty());
    assert_eq!(t.list_roles().await.expect("roles").len(), 11);
}

#[tokio::test]
async fn allocation_skips_taken_numbers_and_replicas_never_collide() {
    let sim = sim(|_| {}).await;
    for ext in ["2000", "2001", "2003"] {
        sim.seed_user(NsUser {
            user: ext.into(),
            domain: "acme".into(),
            name_first_name: "Seed".into(),
            name_last_name: "User".into(),
            email_address: format!("{ext}@seed.test"),
            ..NsUser::default()
        });
    }
    let t = target(&sim);
    let first = create(&t, "a@acme.test", "create").await;
    assert_eq!(first.id, "2002");

    // Two replicas, each its own adapter, creating at once.
    let (r1, r2) = (Arc::new(target(&sim)), Arc::new(target(&sim)));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let t = if i % 2 == 0 { r1.clone() } else { r2.clone() };
        tasks.push(tokio::spawn(async move {
            t.create_user(&desired(&format!("u{i}@acme.test"))).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("join").expect("create").id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "every create got its own extension: {ids:?}");
    assert_eq!(state_users(&sim).len(), 16);
}

#[tokio::test]
async fn taken_login_username_is_a_conflict_naming_it() {
    let sim = sim(|_| {}).await;
    sim.seed_user(NsUser {
        user: "100".into(),
        domain: "other".into(),
        name_first_name: "O".into(),
        name_last_name: "Ther".into(),
        email_address: "o@other.test".into(),
        login_username: "jane@acme.test".into(),
        ..NsUser::default()
    });
    let err = create_err(&target(&sim), &desired("jane@acme.test"), "409").await;
    assert!(
        matches!(&err, TargetError::Conflict(m) if m.starts_with("login-username")),
        "{err:?}"
    );
    assert!(state_users(&sim).is_empty());
    let mut bad = desired("x@acme.test");
    bad.roles = Some(vec!["Admin".into()]);
    let err = create_err(&target(&sim), &bad, "unknown scope").await;
    assert!(
        matches!(&err, TargetError::Invalid(m) if m.contains("Admin")),
        "{err:?}"
    );
}

#[tokio::test]
async fn keys_limited_to_another_domain_or_read_only_are_forbidden() {
    let sim = sim(|_| {}).await;
    let mut other = config(&sim, key(DOMAIN_KEY));
    other.domain = "other".into();
    let err = NetsapiensTarget::new(other)
        .expect("target")
        .ping()
        .await
        .expect_err("403");
    assert!(matches!(err, TargetError::Forbidden(_)), "{err:?}");
    let ro = NetsapiensTarget::new(config(&sim, key(READ_ONLY_KEY))).expect("target");
    ro.ping().await.expect("reads are allowed");
    let access = ro.key_access().await.expect("apikeys/~");
    assert!(access.read_only() && access.covers("acme") && !access.covers("other"));
    let err = create_err(&ro, &desired("r@acme.test"), "read-only").await;
    assert!(matches!(err, TargetError::Forbidden(_)), "{err:?}");
    let report = ro.preflight().await.expect("preflight");
    assert!(report.problems[0].contains("read-only"), "{report:?}");
    assert!(
        report.notes.iter().any(|n| n.contains("100 free")),
        "{report:?}"
    );
    let mut elsewhere = config(&sim, key(DOMAIN_KEY));
    elsewhere.domain = "other".into();
    let report = NetsapiensTarget::new(elsewhere)
        .expect("target")
        .preflight()
        .await
        .expect("preflight");
    assert!(
        report.problems[0].contains("limited to domain acme"),
        "{report:?}"
    );
    let mut missing = config(&sim, key(bandwidth_sim::ns::SUPER_KEY));
    missing.domain = "nowhere".into();
    let report = NetsapiensTarget::new(missing)
        .expect("target")
        .preflight()
        .await
        .expect("preflight");
    assert_eq!(report.problems, ["domain nowhere does not exist"]);
    let mut full = config(&sim, key(DOMAIN_KEY));
    full.extension_range = (10, 10);
    sim.seed_user(NsUser {
        user: "10".into(),
        domain: "acme".into(),
        name_first_name: "Ten".into(),
        name_last_name: "Ten".into(),
        email_address: "ten@acme.test".into(),
        ..NsUser::default()
    });
    let report = NetsapiensTarget::new(full)
        .expect("target")
        .preflight()
        .await
        .expect("preflight");
    assert_eq!(
        report.problems,
        ["extension range 10-10 has no free number"]
    );
    assert!(target(&sim)
        .preflight()
        .await
        .expect("preflight")
        .problems
        .is_empty());
    let bad = NetsapiensTarget::new(config(&sim, key("nsd_wrong"))).expect("target");
    assert!(matches!(bad.ping().await, Err(TargetError::Auth(_))));
}

#[tokio::test]
async fn password_grant_tokens_are_refreshed_and_renewed_after_a_401() {
    let sim = sim(|c| c.token_ttl = Duration::from_secs(2)).await;
    let grant = |password: &str| NsCredential::Password {
        client_id: "sim-client".into(),
        client_secret: SecretString::from("sim-secret".to_string()),
        username: "admin@acme".into(),
        password: SecretString::from(password.to_string()),
    };
    let wrong = NetsapiensTarget::new(config(&sim, grant("nope"))).expect("target");
    assert!(matches!(wrong.ping().await, Err(TargetError::Auth(_))));
    let t = NetsapiensTarget::new(config(&sim, grant("sim-password"))).expect("target");
    create(&t, "p@acme.test", "create").await;
    let issued = sim.snapshot().stats.tokens_issued;
    // Revoked early: the 401 drops the token and the call is repeated with a fresh one.
    sim.expire_tokens();
    t.get_user("2000").await.expect("get").expect("exists");
    assert_eq!(sim.snapshot().stats.tokens_issued, issued + 1);
    // Past half its life the token is renewed (by refresh token) before it expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.get_user("2000").await.expect("get").expect("exists");
    assert_eq!(sim.snapshot().stats.tokens_issued, issued + 2);
    assert_eq!(
        sim.snapshot().stats.by_status.get("401"),
        Some(&2),
        "wrong password once, revoked once"
    );
}

#[tokio::test]
async fn accepted_writes_are_read_back_and_never_reported_unreadable() {
    let sim = sim(|c| {
        c.ignore_synchronous = true;
        c.async_delay = Duration::from_millis(300);
    })
    .await;
    let t = target(&sim);
    let created = create(&t, "slow@acme.test", "create after 202").await;
    assert_eq!(created.username, "slow@acme.test");
    let mut want = desired("slow@acme.test");
    want.first_name = "Later".into();
    let updated = t
        .update_user(&created.id, &want)
        .await
        .expect("update after 202");
    assert_eq!(updated.first_name, "Later");

    let mut impatient = config(&sim, key(DOMAIN_KEY));
    impatient.readable_timeout = Duration::from_millis(100);
    let t = NetsapiensTarget::new(impatient).expect("target");
    let err = create_err(&t, &desired("late@acme.test"), "not readable in time").await;
    assert!(
        matches!(&err, TargetError::Unavailable(m) if m.contains("not readable")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_lost_create_answers_do_not_duplicate() {
    let sim = sim(|_| {}).await;
    let t = target(&sim);
    sim.set_faults(faults(|f| f.rate_limit = Some(2)));
    for _ in 0..5 {
        t.ping().await.expect("429 waited out via Retry-After");
    }
    assert!(sim.snapshot().stats.rate_limited > 0);

    sim.set_faults(faults(|f| f.drop_next_create_responses = 1));
    let created = create(&t, "once@acme.test", "create").await;
    assert_eq!(created.id, "2000");
    assert_eq!(state_users(&sim).len(), 1);
    assert_eq!(sim.snapshot().stats.creates, 1);
    assert_eq!(sim.snapshot().stats.dropped_responses, 1);
}
