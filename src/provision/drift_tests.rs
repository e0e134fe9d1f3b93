use super::*;
use crate::store::{SyncState, UpstreamLink};
use crate::upstream::PhoneFormat;
use chrono::Utc;

fn record(id: &str, upstream_id: Option<&str>, resource: Value) -> UserRecord {
    UserRecord {
        id: id.into(),
        resource,
        meta: crate::store::Meta::first(Utc::now()),
        link: UpstreamLink {
            upstream_id: upstream_id.map(str::to_string),
            upstream_username: "jdoe".into(),
            sync_state: SyncState::Synced,
            ..UpstreamLink::default()
        },
    }
}

fn resource(active: bool) -> Value {
    json!({"userName":"jdoe","active":active,"name":{"givenName":"Jane","familyName":"Doe"},
           "emails":[{"value":"jane@example.com","primary":true}],
           "phoneNumbers":[{"value":"919-555-1234","type":"work"}]})
}

fn access(roles: &[&str]) -> Access {
    Access {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Access::default()
    }
}

fn rules(policy: DeactivatePolicy) -> Rules<'static> {
    Rules {
        target: None,
        on_deactivate: policy,
        user_rules: UserRules::all_required("Bandwidth", PhoneFormat::E164),
        known_roles: None,
        access_model: AccessModel::FULL,
    }
}

/// The upstream user that matches `resource(true)` with `basicAccess` exactly.
fn upstream(id: &str) -> UpstreamUser {
    UpstreamUser {
        id: id.into(),
        username: "jdoe".into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: "jane@example.com".into(),
        phone: Some("+19195551234".into()),
        roles: vec!["basicAccess".into()],
        account_scope: AccountScope::Account,
        accounts: vec!["9900000".into()],
        active: true,
        department: None,
    }
}

/// What the bridge expects upstream for SCIM user `s1` (linked to `u1` unless
/// `linked` is false) with `active`, `roles` and `policy`.
fn want(linked: bool, active: bool, roles: &[&str], policy: DeactivatePolicy) -> Expected {
    let user = record("s1", linked.then_some("u1"), resource(active));
    expected_user(&user, &access(roles), rules(policy))
        .unwrap()
        .unwrap()
}

const WITH_PORTING: &[&str] = &["basicAccess", "Porting"];

fn expected_active() -> Expected {
    want(true, true, &["basicAccess"], DeactivatePolicy::Deactivate)
}

fn fields(findings: &[Finding]) -> Vec<(DriftKind, Option<&'static str>)> {
    findings.iter().map(|f| (f.kind, f.field)).collect()
}

#[test]
fn an_identical_user_has_no_findings() {
    let findings = compare(&[expected_active()], &[upstream("u1")], &HashSet::new());
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn each_attribute_is_its_own_finding_with_both_values() {
    let mut have = upstream("u1");
    have.first_name = "Janet".into();
    have.last_name = "Smith".into();
    have.email = "other@example.com".into();
    have.phone = None;
    let findings = compare(&[expected_active()], &[have], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![
            (DriftKind::Attribute, Some("first_name")),
            (DriftKind::Attribute, Some("last_name")),
            (DriftKind::Attribute, Some("email")),
            (DriftKind::Attribute, Some("phone")),
        ]
    );
    assert_eq!(findings[0].expected, json!("Jane"));
    assert_eq!(findings[0].actual, json!("Janet"));
    assert_eq!(findings[3].expected, json!("+19195551234"));
    assert_eq!(findings[3].actual, Value::Null);
    assert!(findings
        .iter()
        .all(|f| f.scim_id.as_deref() == Some("s1") && f.upstream_id.as_deref() == Some("u1")));
}

#[test]
fn email_case_is_not_drift() {
    let mut have = upstream("u1");
    have.email = "JANE@Example.com".into();
    assert!(compare(&[expected_active()], &[have], &HashSet::new()).is_empty());
}

#[test]
fn a_phone_written_differently_upstream_is_drift() {
    let mut have = upstream("u1");
    have.phone = Some("9195551234".into());
    let findings = compare(&[expected_active()], &[have], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![(DriftKind::Attribute, Some("phone"))]
    );
}

#[test]
fn role_set_differences_are_one_access_finding_in_sorted_order() {
    let want = want(true, true, WITH_PORTING, DeactivatePolicy::Deactivate);
    let mut have = upstream("u1");
    have.roles = vec!["Ordering".into(), "basicAccess".into()];
    let findings = compare(&[want], &[have], &HashSet::new());
    assert_eq!(fields(&findings), vec![(DriftKind::Access, Some("roles"))]);
    assert_eq!(findings[0].expected, json!(["Porting", "basicAccess"]));
    assert_eq!(findings[0].actual, json!(["Ordering", "basicAccess"]));
}

#[test]
fn role_order_upstream_is_not_drift() {
    let want = want(true, true, WITH_PORTING, DeactivatePolicy::Deactivate);
    let mut have = upstream("u1");
    have.roles = vec!["Porting".into(), "basicAccess".into()];
    assert!(compare(&[want], &[have], &HashSet::new()).is_empty());
}

#[test]
fn admin_scope_drift_is_reported() {
    let mut have = upstream("u1");
    have.account_scope = AccountScope::AccountAdmin;
    let findings = compare(&[expected_active()], &[have], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![(DriftKind::Access, Some("account_scope"))]
    );
    assert_eq!(findings[0].expected, json!("ACCOUNT"));
    assert_eq!(findings[0].actual, json!("ACCOUNT_ADMIN"));
}

#[test]
fn accounts_are_compared_only_when_the_bridge_grants_some() {
    // None configured: upstream's own account list is not the bridge's business.
    let mut have = upstream("u1");
    have.accounts = vec!["1".into(), "2".into()];
    assert!(compare(&[expected_active()], &[have.clone()], &HashSet::new()).is_empty());

    let user = record("s1", Some("u1"), resource(true));
    let mut granted = access(&["basicAccess"]);
    granted.accounts = ["9900000".to_string(), "9900001".to_string()].into();
    let want = expected_user(&user, &granted, rules(DeactivatePolicy::Deactivate))
        .unwrap()
        .unwrap();
    let findings = compare(std::slice::from_ref(&want), &[have], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![(DriftKind::Access, Some("accounts"))]
    );
    assert_eq!(findings[0].expected, json!(["9900000", "9900001"]));

    // A target that ties users to one account never reports account drift.
    let dashboard = Rules {
        access_model: AccessModel {
            accounts: false,
            ..AccessModel::FULL
        },
        ..rules(DeactivatePolicy::Deactivate)
    };
    let want = expected_user(&user, &granted, dashboard).unwrap().unwrap();
    assert_eq!(want.access.unwrap().accounts, None);
}

#[test]
fn roles_the_upstream_does_not_know_are_left_out() {
    let known: BTreeSet<String> = ["basicAccess".to_string()].into();
    let r = Rules {
        known_roles: Some(&known),
        ..rules(DeactivatePolicy::Deactivate)
    };
    let user = record("s1", Some("u1"), resource(true));
    let want = expected_user(&user, &access(&["basicAccess", "Typo Role"]), r)
        .unwrap()
        .unwrap();
    assert!(compare(&[want], &[upstream("u1")], &HashSet::new()).is_empty());
}

#[test]
fn deactivated_upstream_for_an_active_user_is_status_drift() {
    let mut have = upstream("u1");
    have.active = false;
    let findings = compare(&[expected_active()], &[have], &HashSet::new());
    assert_eq!(fields(&findings), vec![(DriftKind::Status, Some("active"))]);
    assert_eq!(findings[0].expected, json!(true));
}

#[test]
fn an_inactive_user_under_deactivate_keeps_its_roles_but_must_be_deactivated() {
    let want = want(
        true,
        false,
        &["basicAccess", "Porting"],
        DeactivatePolicy::Deactivate,
    );
    assert!(!want.held.active);
    assert_eq!(want.access, None);
    // Still active upstream, roles whatever they are: only the status is drift.
    let mut have = upstream("u1");
    have.roles = vec!["Ordering".into()];
    let findings = compare(
        std::slice::from_ref(&want),
        &[have.clone()],
        &HashSet::new(),
    );
    assert_eq!(fields(&findings), vec![(DriftKind::Status, Some("active"))]);
    assert_eq!(findings[0].expected, json!(false));
    have.active = false;
    assert!(compare(&[want], &[have], &HashSet::new()).is_empty());
}

#[test]
fn an_inactive_user_under_strip_roles_must_be_active_without_roles() {
    let want = want(true, false, &["basicAccess"], DeactivatePolicy::StripRoles);
    assert!(want.held.active);
    let findings = compare(
        std::slice::from_ref(&want),
        &[upstream("u1")],
        &HashSet::new(),
    );
    assert_eq!(fields(&findings), vec![(DriftKind::Access, Some("roles"))]);
    assert_eq!(findings[0].expected, json!([]));
    let mut stripped = upstream("u1");
    stripped.roles.clear();
    assert!(compare(&[want], &[stripped], &HashSet::new()).is_empty());
}

#[test]
fn no_upstream_user_is_expected_for_an_unlinked_inactive_user() {
    let user = record("s1", None, resource(false));
    for policy in [
        DeactivatePolicy::Delete,
        DeactivatePolicy::Deactivate,
        DeactivatePolicy::StripRoles,
    ] {
        assert_eq!(expected_user(&user, &access(&[]), rules(policy)), Ok(None));
    }
}

#[test]
fn an_active_user_without_an_upstream_user_is_missing() {
    let want = want(false, true, &["basicAccess"], DeactivatePolicy::Delete);
    let findings = compare(&[want], &[], &HashSet::new());
    assert_eq!(fields(&findings), vec![(DriftKind::MissingUpstream, None)]);
    assert_eq!(findings[0].upstream_id, None);
}

#[test]
fn a_linked_user_gone_upstream_is_missing_and_nothing_else() {
    let findings = compare(&[expected_active()], &[upstream("other")], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![
            (DriftKind::MissingUpstream, None),
            (DriftKind::Orphan, None)
        ]
    );
    assert_eq!(findings[0].upstream_id.as_deref(), Some("u1"));
    assert_eq!(findings[1].upstream_id.as_deref(), Some("other"));
    assert_eq!(findings[1].scim_id, None);
}

#[test]
fn orphans_come_last_sorted_by_username_with_their_status() {
    let mut b = upstream("ub");
    b.username = "bob".into();
    b.active = false;
    let mut a = upstream("ua");
    a.username = "alice".into();
    let findings = compare(
        &[expected_active()],
        &[b, upstream("u1"), a],
        &HashSet::new(),
    );
    let names: Vec<&str> = findings.iter().map(|f| f.username.as_str()).collect();
    assert_eq!(names, vec!["alice", "bob"]);
    assert!(findings.iter().all(|f| f.kind == DriftKind::Orphan));
    assert_eq!(findings[1].actual, json!({"active": false}));
}

#[test]
fn users_linked_but_not_expected_are_not_orphans() {
    let linked: HashSet<String> = ["u9".to_string()].into();
    assert!(compare(&[], &[upstream("u9")], &linked).is_empty());
}

#[test]
fn an_unmappable_stored_user_is_an_error_not_a_guess() {
    let user = record("s1", Some("u1"), json!({"userName":"jdoe"}));
    let err = expected_user(&user, &access(&[]), rules(DeactivatePolicy::Deactivate)).unwrap_err();
    assert!(err.contains("s1"), "{err}");
}

#[test]
fn the_phone_is_expected_in_the_targets_format() {
    let user = record("s1", Some("u1"), resource(true));
    let r = Rules {
        user_rules: UserRules::all_required("Bandwidth", PhoneFormat::TenDigits),
        ..rules(DeactivatePolicy::Deactivate)
    };
    let want = expected_user(&user, &access(&[]), r).unwrap().unwrap();
    assert_eq!(want.held.phone.as_deref(), Some("9195551234"));
    assert_eq!(want.username, "jdoe");
}

#[test]
fn users_per_kind_counts_users_not_fields() {
    let mut have = upstream("u1");
    have.first_name = "X".into();
    have.last_name = "Y".into();
    have.roles.clear();
    let mut orphan = upstream("u2");
    orphan.username = "zed".into();
    let findings = compare(&[expected_active()], &[have, orphan], &HashSet::new());
    let counts: HashMap<DriftKind, usize> = users_per_kind(&findings).into_iter().collect();
    assert_eq!(counts[&DriftKind::Attribute], 1);
    assert_eq!(counts[&DriftKind::Access], 1);
    assert_eq!(counts[&DriftKind::Orphan], 1);
    assert_eq!(counts[&DriftKind::Status], 0);
    assert_eq!(counts[&DriftKind::MissingUpstream], 0);
    assert_eq!(counts.len(), DriftKind::ALL.len());
}

#[test]
fn findings_serialise_with_stable_names() {
    let mut have = upstream("u1");
    have.last_name = "Smith".into();
    let findings = compare(&[expected_active()], &[have], &HashSet::new());
    assert_eq!(
        serde_json::to_value(&findings[0]).unwrap(),
        json!({"kind":"attribute","scim_id":"s1","upstream_id":"u1","username":"jdoe",
               "field":"last_name","expected":"Doe","actual":"Smith"})
    );
}

#[test]
fn netsapiens_drift_compares_the_chosen_scope_joined_emails_and_department() {
    use crate::upstream::netsapiens::{NetsapiensConfig, NetsapiensTarget, NsCredential};
    use secrecy::SecretString;
    let ns = NetsapiensTarget::new(NetsapiensConfig::new(
        "http://127.0.0.1:18790",
        "acme",
        NsCredential::ApiKey(SecretString::from("nsd_test".to_string())),
    ))
    .expect("target");
    let r = Rules {
        target: Some(&ns),
        user_rules: ns.user_rules(),
        ..rules(DeactivatePolicy::Deactivate)
    };
    let mut res = resource(true);
    res["emails"] = json!([{"value":"jane@example.com","primary":true},
                           {"value":"desk@example.com","type":"work"}]);
    res["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "Sales"});
    let user = record("s1", Some("2001"), res);
    let granted = access(&["Call Center Agent", "Office Manager"]);
    let want = expected_user(&user, &granted, r).unwrap().unwrap();
    assert_eq!(want.held.email, "jane@example.com;desk@example.com");
    assert_eq!(want.held.department.as_deref(), Some("Sales"));
    let mut have = UpstreamUser {
        id: "2001".into(),
        email: "jane@example.com;desk@example.com".into(),
        phone: None,
        roles: vec!["Office Manager".into()],
        department: Some("Sales".into()),
        ..upstream("2001")
    };
    let findings = compare(
        std::slice::from_ref(&want),
        &[have.clone()],
        &HashSet::new(),
    );
    assert!(findings.is_empty(), "{findings:?}");
    have.roles = vec!["Call Center Agent".into()];
    have.department = Some("Ops".into());
    let findings = compare(&[want], &[have], &HashSet::new());
    assert_eq!(
        fields(&findings),
        vec![
            (DriftKind::Attribute, Some("department")),
            (DriftKind::Access, Some("roles")),
        ]
    );
    assert_eq!(findings[1].expected, json!(["Office Manager"]));
}
