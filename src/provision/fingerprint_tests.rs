use std::collections::BTreeSet;

use super::*;
use crate::provision::drift::{differences, Expected, ExpectedAccess};
use crate::upstream::DesiredUser;

/// Whether the fingerprint and the full comparison agree on `want` and `have`.
fn agrees(want: &Expected, have: &UpstreamUser) -> bool {
    Fingerprint::of_expected(want).matches(have) == differences(want, have).is_empty()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// An expected user and the upstream user that matches it exactly.
fn pair() -> (Expected, UpstreamUser) {
    let want = Expected {
        scim_id: "s1".into(),
        upstream_id: Some("u1".into()),
        username: "jdoe".into(),
        held: DesiredUser {
            username: "jdoe".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            email: "Jane@Example.com".into(),
            phone: Some("+19195551234".into()),
            active: true,
            ..DesiredUser::default()
        },
        access: Some(ExpectedAccess {
            roles: set(&["basicAccess", "Porting"]),
            scope: AccountScope::Account,
            accounts: None,
        }),
    };
    let have = UpstreamUser {
        id: "u1".into(),
        username: "jdoe".into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: "jane@example.com".into(),
        phone: Some("+19195551234".into()),
        roles: vec!["Porting".into(), "basicAccess".into(), "Porting".into()],
        account_scope: AccountScope::Account,
        accounts: vec!["9900000".into()],
        active: true,
        department: None,
    };
    (want, have)
}

type Change = (&'static str, fn(&mut Expected, &mut UpstreamUser));

/// One change per field `differences` looks at, and changes it must not see.
const CHANGES: &[Change] = &[
    ("nothing", |_, _| {}),
    ("first name", |_, h| h.first_name = "Janet".into()),
    ("last name", |_, h| h.last_name = "Doe ".into()),
    ("email case only", |_, h| {
        h.email = "JANE@EXAMPLE.COM".into()
    }),
    ("email", |_, h| h.email = "jane@example.org".into()),
    ("no phone upstream", |_, h| h.phone = None),
    ("no phone expected", |w, _| w.held.phone = None),
    ("an empty phone", |w, h| {
        w.held.phone = None;
        h.phone = Some(String::new());
    }),
    ("phone", |_, h| h.phone = Some("9195551234".into())),
    ("department managed, none upstream", |w, _| {
        w.held.department = Some("Sales".into());
    }),
    ("department managed, empty expected", |w, _| {
        w.held.department = Some(String::new());
    }),
    ("department managed, equal", |w, h| {
        w.held.department = Some("Sales".into());
        h.department = Some("Sales".into());
    }),
    ("department not managed", |_, h| {
        h.department = Some("Sales".into());
    }),
    ("deactivated upstream", |_, h| h.active = false),
    ("a role more", |_, h| h.roles.push("Ordering".into())),
    ("a role less", |_, h| h.roles.retain(|r| r != "Porting")),
    ("no roles", |_, h| h.roles.clear()),
    ("scope", |_, h| h.account_scope = AccountScope::AccountAdmin),
    ("access left alone", |w, h| {
        w.access = None;
        h.roles.clear();
        h.account_scope = AccountScope::AccountAdmin;
    }),
    ("accounts managed, equal", |w, _| {
        if let Some(a) = &mut w.access {
            a.accounts = Some(set(&["9900000"]));
        }
    }),
    ("accounts managed, different", |w, _| {
        if let Some(a) = &mut w.access {
            a.accounts = Some(set(&["9900000", "9900001"]));
        }
    }),
    ("accounts not managed", |_, h| h.accounts.clear()),
    ("a name split differently", |w, h| {
        w.held.first_name = "Jane D".into();
        w.held.last_name = "oe".into();
        h.first_name = "Jane".into();
        h.last_name = "D oe".into();
    }),
    ("a role name that joins two", |w, _| {
        if let Some(a) = &mut w.access {
            a.roles = set(&["basicAccessPorting"]);
        }
    }),
];

#[test]
fn the_fingerprint_sees_a_difference_exactly_when_the_full_comparison_does() {
    for (what, change) in CHANGES {
        let (mut want, mut have) = pair();
        change(&mut want, &mut have);
        assert!(agrees(&want, &have), "{what}");
    }
    let (want, have) = pair();
    assert!(Fingerprint::of_expected(&want).matches(&have));
}

#[test]
fn changes_that_compare_equal_match_and_others_do_not() {
    let matching = [
        "nothing",
        "email case only",
        "department not managed",
        "access left alone",
        "accounts managed, equal",
        "accounts not managed",
        "department managed, equal",
        "department managed, empty expected",
    ];
    for (what, change) in CHANGES {
        let (mut want, mut have) = pair();
        change(&mut want, &mut have);
        let matches = Fingerprint::of_expected(&want).matches(&have);
        assert_eq!(matches, matching.contains(what), "{what}");
    }
}
