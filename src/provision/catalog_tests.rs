use super::*;
use crate::store::SyncState;

fn role(id: &str, name: &str) -> Role {
    Role {
        id: id.into(),
        name: name.into(),
    }
}

fn bandwidth_like() -> Catalog {
    Catalog::new(
        &[
            role("1", "basicAccess"),
            role("7", "Porting"),
            role("9", "User Administrator"),
        ],
        AccessModel::FULL,
        &["9900000".into(), "9900001".into(), "9900000".into()],
        "Bandwidth",
    )
}

#[test]
fn the_catalog_offers_roles_by_name_and_the_models_entitlements() {
    let c = bandwidth_like();
    let ids: Vec<&str> = c.roles.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["Porting", "User Administrator", "basicAccess"]);
    assert!(c.roles[0].description.contains("upstream id 7"));
    let ents: Vec<(&str, &str)> = c
        .entitlements
        .iter()
        .map(|g| (g.id.as_str(), g.kind.as_str()))
        .collect();
    assert_eq!(
        ents,
        [
            (ADMIN_SCOPE_ID, "Admin scope"),
            ("account:9900000", "Account"),
            ("account:9900001", "Account")
        ]
    );

    let no_accounts = Catalog::new(
        &[role("1", "basicAccess")],
        AccessModel {
            accounts: false,
            ..AccessModel::FULL
        },
        &["9900000".into()],
        "Bandwidth",
    );
    assert_eq!(no_accounts.entitlements.len(), 1, "admin scope only");
    let scope_only = Catalog::new(
        &[role("1", "basicAccess")],
        AccessModel {
            roles: false,
            admin_scope: false,
            accounts: false,
            deactivation_replaces_roles: false,
        },
        &[],
        "PBX",
    );
    assert_eq!(scope_only, Catalog::default());
}

#[test]
fn assignments_in_every_dialect_are_checked_and_spelled_as_the_catalog_does() {
    let c = bandwidth_like();
    let cases = [
        // Okta: the resource id as value, with display.
        (
            json!({"roles":[{"value":"Porting","display":"Porting"}]}),
            json!({"roles":[{"value":"Porting","display":"Porting"}]}),
        ),
        // Entra app roles: bare strings and other casing.
        (
            json!({"roles":["porting"]}),
            json!({"roles":[{"value":"Porting"}]}),
        ),
        (
            json!({"roles":[{"value":"user administrator","primary":false}]}),
            json!({"roles":[{"value":"User Administrator","primary":false}]}),
        ),
        (
            json!({"entitlements":[{"value":"ACCOUNT:9900001","type":"Account"},{"value":"scope:account_admin"}]}),
            json!({"entitlements":[{"value":"account:9900001","type":"Account"},{"value":ADMIN_SCOPE_ID}]}),
        ),
        // Inherited elements echoed back by a PUT are dropped, not validated.
        (
            json!({"roles":[{"value":"Porting"},{"value":"Ghost","type":"inherited"}]}),
            json!({"roles":[{"value":"Porting"}]}),
        ),
        (json!({"roles":[]}), json!({"roles":[]})),
        (json!({"userName":"x"}), json!({"userName":"x"})),
    ];
    for (input, want) in cases {
        let mut resource = input.clone();
        c.normalize_assignments(&mut resource)
            .unwrap_or_else(|e| panic!("{input}: {}", e.detail));
        assert_eq!(resource, want, "{input}");
    }
}

#[test]
fn an_unknown_or_malformed_assignment_is_400_naming_it() {
    let c = bandwidth_like();
    for (input, named) in [
        (
            json!({"roles":[{"value":"Nuclear Launch"}]}),
            "Nuclear Launch",
        ),
        (
            json!({"entitlements":[{"value":"account:123"}]}),
            "account:123",
        ),
        (json!({"entitlements":["scope:ACCOUNT"]}), "scope:ACCOUNT"),
        (json!({"roles":[{"display":"no value"}]}), "string value"),
        (json!({"roles":[5]}), "string value"),
    ] {
        let mut resource = input.clone();
        let e = c.normalize_assignments(&mut resource).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(crate::scim::error::ScimType::InvalidValue)),
            "{input}"
        );
        assert!(e.detail.contains(named), "{input}: {}", e.detail);
    }
    let mut nothing_grantable = json!({"roles":["basicAccess"]});
    let e = Catalog::default()
        .normalize_assignments(&mut nothing_grantable)
        .unwrap_err();
    assert!(e.detail.contains("offered: none"), "{}", e.detail);
}

#[test]
fn direct_grants_read_roles_accounts_and_admin_but_not_inherited_elements() {
    let resource = json!({
        "roles":[{"value":"Porting"},"Billing",{"value":"basicAccess","type":"inherited"}],
        "entitlements":[{"value":"account:1"},{"value":ADMIN_SCOPE_ID},{"value":"account:2","type":"Inherited"},{"value":"other"}]
    });
    assert_eq!(
        direct_grants(&resource),
        DirectGrants {
            roles: vec!["Porting".into(), "Billing".into()],
            accounts: vec!["1".into()],
            admin: true,
        }
    );
    assert_eq!(direct_grants(&json!({})), DirectGrants::default());
}

fn link(roles: &[&str], scope: AccountScope, accounts: &[&str]) -> UpstreamLink {
    UpstreamLink {
        upstream_id: Some("u1".into()),
        upstream_username: "a".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        account_scope: scope,
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        sync_state: SyncState::Synced,
        ..UpstreamLink::default()
    }
}

/// `rendered` with its [`InheritedAccess`] added as a read shows it (the answer itself
/// is written by `render::UserDocument`, whose tests check the same).
fn with_inherited_access(rendered: &mut Value, link: &UpstreamLink) {
    let extra = InheritedAccess::of(rendered, link);
    for (attr, added) in extra.attributes() {
        if !added.is_empty() {
            let list = rendered
                .as_object_mut()
                .unwrap()
                .entry(attr)
                .or_insert(json!([]));
            list.as_array_mut().unwrap().extend_from_slice(added);
        }
    }
}

#[test]
fn reads_add_inherited_access_after_direct_assignments() {
    let mut rendered = json!({"userName":"a","roles":[{"value":"Porting"}]});
    with_inherited_access(
        &mut rendered,
        &link(
            &["Porting", "basicAccess"],
            AccountScope::AccountAdmin,
            &["1"],
        ),
    );
    assert_eq!(
        rendered["roles"],
        json!([{"value":"Porting"},{"value":"basicAccess","display":"basicAccess","type":"inherited"}])
    );
    assert_eq!(
        rendered["entitlements"],
        json!([
            {"value":ADMIN_SCOPE_ID,"display":"Account Admin","type":"inherited"},
            {"value":"account:1","display":"Account 1","type":"inherited"}
        ])
    );
    // What a read adds, a write of the same document drops again.
    let mut echoed = rendered.clone();
    strip_inherited(&mut echoed);
    assert_eq!(echoed["roles"], json!([{"value":"Porting"}]));
    assert_eq!(echoed["entitlements"], json!([]));

    let mut plain = json!({"userName":"a"});
    with_inherited_access(&mut plain, &link(&[], AccountScope::Account, &[]));
    assert_eq!(
        plain,
        json!({"userName":"a"}),
        "nothing to add, nothing added"
    );
    let mut unlinked = json!({"userName":"a"});
    let mut gone = link(&["basicAccess"], AccountScope::Account, &[]);
    gone.upstream_id = None;
    with_inherited_access(&mut unlinked, &gone);
    assert_eq!(
        unlinked,
        json!({"userName":"a"}),
        "no upstream user, no access"
    );
}
