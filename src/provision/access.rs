//! What a user may do upstream, computed from scratch every time: tenant base roles +
//! the roles, scope and accounts of every mapped group the user is in + the user's
//! direct assignments (`roles` and `entitlements` naming the tenant's Role and
//! Entitlement resources, when the tenant honours them). Computed rather than patched,
//! so a missed event can never leave a stale role behind: the next sync corrects it.
//!
//! Conflicts resolve by union, never by one source taking away what another grants:
//!
//! | grant        | base            | groups              | direct assignment        | result                  |
//! |--------------|-----------------|---------------------|--------------------------|-------------------------|
//! | roles        | `base_roles`    | prefix and map rules| `roles[].value`          | the union of the three  |
//! | admin scope  | `account_scope` | a rule's `ACCOUNT_ADMIN` | `scope:ACCOUNT_ADMIN` | admin if any says admin |
//! | accounts     | `accounts`      | a rule's `accounts` | `account:<id>`           | the union (base added once any other names one) |
//!
//! Removing a direct assignment removes that grant only when no group or base grants it.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::GroupMappingConfig;
use crate::store::GroupRef;
use crate::upstream::AccountScope;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    pub roles: BTreeSet<String>,
    pub scope: AccountScope,
    /// Empty = the target's own account.
    pub accounts: BTreeSet<String>,
}

impl Access {
    pub fn roles(&self) -> Vec<String> {
        self.roles.iter().cloned().collect()
    }

    pub fn accounts(&self) -> Option<Vec<String>> {
        (!self.accounts.is_empty()).then(|| self.accounts.iter().cloned().collect())
    }
}

pub struct AccessPolicy<'a> {
    pub base_roles: &'a [String],
    pub base_scope: AccountScope,
    pub base_accounts: &'a [String],
    pub mapping: &'a GroupMappingConfig,
    /// Whether the user's own `roles` / `entitlements` grant access.
    pub direct_assignments: bool,
}

impl AccessPolicy<'_> {
    pub fn compute(&self, groups: &[GroupRef], resource: &Value) -> Access {
        let mut access = Access {
            roles: self.base_roles.iter().cloned().collect(),
            scope: self.base_scope,
            accounts: self.base_accounts.iter().cloned().collect(),
        };
        for group in groups {
            if let Some(prefix) = &self.mapping.role_prefix {
                let name = &group.display_name;
                if name.len() > prefix.len()
                    && name.is_char_boundary(prefix.len())
                    && name[..prefix.len()].eq_ignore_ascii_case(prefix)
                {
                    access.roles.insert(name[prefix.len()..].trim().to_string());
                }
            }
            for rule in self.mapping.map.iter().filter(|r| rule_matches(r, group)) {
                access.roles.extend(rule.roles.iter().cloned());
                access.accounts.extend(rule.accounts.iter().cloned());
                if rule.account_scope == Some(AccountScope::AccountAdmin) {
                    access.scope = AccountScope::AccountAdmin;
                }
            }
        }
        if self.direct_assignments {
            let direct = super::catalog::direct_grants(resource);
            access.roles.extend(direct.roles);
            access.accounts.extend(direct.accounts);
            if direct.admin {
                access.scope = AccountScope::AccountAdmin;
            }
        }
        if !access.accounts.is_empty() && !self.base_accounts.is_empty() {
            access.accounts.extend(self.base_accounts.iter().cloned());
        }
        access
    }

    /// Every role name the configuration names explicitly (prefix roles come from group
    /// names and are checked when they appear).
    pub fn configured_roles(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.base_roles.iter().cloned().collect();
        for rule in &self.mapping.map {
            names.extend(rule.roles.iter().cloned());
        }
        names
    }
}

fn rule_matches(rule: &crate::config::GroupRule, group: &GroupRef) -> bool {
    match (&rule.display_name, &rule.external_id) {
        (Some(name), _) => name.eq_ignore_ascii_case(&group.display_name),
        (None, Some(ext)) => group.external_id.as_deref() == Some(ext.as_str()),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GroupRule;
    use serde_json::json;

    fn group(name: &str, ext: Option<&str>) -> GroupRef {
        GroupRef {
            id: name.into(),
            display_name: name.into(),
            external_id: ext.map(str::to_string),
        }
    }

    fn mapping() -> GroupMappingConfig {
        GroupMappingConfig {
            role_prefix: Some("bandwidth-role-".into()),
            use_scim_roles: false,
            map: vec![
                GroupRule {
                    display_name: Some("Bandwidth Admins".into()),
                    account_scope: Some(AccountScope::AccountAdmin),
                    roles: vec!["User Administrator".into()],
                    ..GroupRule::default()
                },
                GroupRule {
                    external_id: Some("ext-billing".into()),
                    roles: vec!["Billing Reports".into()],
                    accounts: vec!["9900001".into()],
                    ..GroupRule::default()
                },
            ],
        }
    }

    /// Groups only (no direct assignments), on these base roles and accounts.
    fn policy<'a>(
        m: &'a GroupMappingConfig,
        base_roles: &'a [String],
        base_accounts: &'a [String],
    ) -> AccessPolicy<'a> {
        AccessPolicy {
            base_roles,
            base_scope: AccountScope::Account,
            base_accounts,
            mapping: m,
            direct_assignments: false,
        }
    }

    #[test]
    fn base_roles_only_without_groups() {
        let (m, base) = (mapping(), vec!["basicAccess".to_string()]);
        let a = policy(&m, &base, &[]).compute(&[], &json!({}));
        assert_eq!(a.roles(), vec!["basicAccess"]);
        assert_eq!(a.scope, AccountScope::Account);
        assert_eq!(a.accounts(), None);
    }

    #[test]
    fn prefix_rule_and_mapped_groups_add_up() {
        let m = mapping();
        let groups = [
            group("bandwidth-role-Porting", None),
            group("BANDWIDTH-ROLE-Ordering", None),
            group("bandwidth admins", None),
            group("Finance", Some("ext-billing")),
            group("Unmapped", None),
            group("bandwidth-role-", None),
        ];
        let a = policy(&m, &[], &[]).compute(&groups, &json!({}));
        assert_eq!(
            a.roles(),
            vec![
                "Billing Reports",
                "Ordering",
                "Porting",
                "User Administrator"
            ]
        );
        assert_eq!(a.scope, AccountScope::AccountAdmin);
        assert_eq!(a.accounts(), Some(vec!["9900001".to_string()]));
    }

    #[test]
    fn group_accounts_keep_the_base_accounts() {
        let (m, base) = (mapping(), vec!["9900000".to_string()]);
        let finance = [group("Finance", Some("ext-billing"))];
        let a = policy(&m, &[], &base).compute(&finance, &json!({}));
        assert_eq!(
            a.accounts(),
            Some(vec!["9900000".to_string(), "9900001".to_string()])
        );
    }

    #[test]
    fn scim_roles_count_only_when_enabled() {
        let m = mapping();
        let user = json!({"roles": [{"value": "Porting"}, "Reporting", {"display": "no value"}]});
        assert!(policy(&m, &[], &[]).compute(&[], &user).roles.is_empty());
        let honoured = AccessPolicy {
            direct_assignments: true,
            ..policy(&m, &[], &[])
        };
        assert_eq!(
            honoured.compute(&[], &user).roles(),
            vec!["Porting", "Reporting"]
        );
    }

    /// The union table in the module comment, case by case.
    #[test]
    fn direct_assignments_merge_with_base_and_groups_by_union() {
        let m = mapping();
        let base_roles = vec!["basicAccess".to_string()];
        let base_accounts = vec!["9900000".to_string()];
        let p = AccessPolicy {
            direct_assignments: true,
            ..policy(&m, &base_roles, &base_accounts)
        };
        let admins = group("Bandwidth Admins", None);
        const BASE: Option<&[&str]> = Some(&["9900000"]);
        /// Groups, the user body, then the expected roles, scope and accounts.
        type Case<'a> = (
            &'a [GroupRef],
            Value,
            &'a [&'a str],
            AccountScope,
            Option<&'a [&'a str]>,
        );
        let cases: &[Case] = &[
            // Nothing direct: base only.
            (
                &[],
                json!({}),
                &["basicAccess"],
                AccountScope::Account,
                BASE,
            ),
            // A direct role adds to base.
            (
                &[],
                json!({"roles":["Porting"]}),
                &["Porting", "basicAccess"],
                AccountScope::Account,
                BASE,
            ),
            // The same role from a group and directly: once.
            (
                &[group("bandwidth-role-Porting", None)],
                json!({"roles":[{"value":"Porting"}]}),
                &["Porting", "basicAccess"],
                AccountScope::Account,
                BASE,
            ),
            // Admin from a group stays admin without a direct admin entitlement.
            (
                std::slice::from_ref(&admins),
                json!({"entitlements":[]}),
                &["User Administrator", "basicAccess"],
                AccountScope::AccountAdmin,
                BASE,
            ),
            // Admin directly, no group.
            (
                &[],
                json!({"entitlements":[{"value":"scope:ACCOUNT_ADMIN"}]}),
                &["basicAccess"],
                AccountScope::AccountAdmin,
                BASE,
            ),
            // A direct account joins the base account.
            (
                &[],
                json!({"entitlements":[{"value":"account:9900001"}]}),
                &["basicAccess"],
                AccountScope::Account,
                Some(&["9900000", "9900001"]),
            ),
            // Inherited elements a read added grant nothing by themselves.
            (
                &[],
                json!({"roles":[{"value":"Porting","type":"inherited"}]}),
                &["basicAccess"],
                AccountScope::Account,
                BASE,
            ),
        ];
        for (groups, user, roles, scope, accounts) in cases {
            let a = p.compute(groups, user);
            assert_eq!(a.roles(), roles.to_vec(), "{user}");
            assert_eq!(a.scope, *scope, "{user}");
            assert_eq!(
                a.accounts(),
                accounts.map(|list| list.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                "{user}"
            );
        }
    }

    #[test]
    fn configured_roles_lists_explicit_names() {
        let (m, base) = (mapping(), vec!["basicAccess".to_string()]);
        let names: Vec<String> = policy(&m, &base, &[])
            .configured_roles()
            .into_iter()
            .collect();
        assert_eq!(
            names,
            vec!["Billing Reports", "User Administrator", "basicAccess"]
        );
    }
}
