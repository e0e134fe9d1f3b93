//! Role names <-> ids. The bridge and its config speak role *names*; the wire speaks ids.
//! The table is fetched from the roles endpoint and cached by `mod.rs`, which refreshes it
//! once when a name or id is unknown (roles can be added upstream at any time).

use crate::upstream::Role;

#[derive(Debug, Clone, Default)]
pub(crate) struct RoleTable {
    roles: Vec<Role>,
}

impl RoleTable {
    pub(crate) fn new(roles: Vec<Role>) -> Self {
        RoleTable { roles }
    }

    pub(crate) fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Exact name first; then a case-insensitive match, if it is unambiguous.
    pub(crate) fn id_of(&self, name: &str) -> Option<&str> {
        if let Some(r) = self.roles.iter().find(|r| r.name == name) {
            return Some(&r.id);
        }
        let mut it = self
            .roles
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case(name));
        match (it.next(), it.next()) {
            (Some(r), None) => Some(&r.id),
            _ => None,
        }
    }

    pub(crate) fn name_of(&self, id: &str) -> Option<&str> {
        self.roles
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.as_str())
    }

    /// The ids of `names` (order kept, duplicates dropped), or the names it does not know.
    pub(crate) fn ids_for(&self, names: &[String]) -> Result<Vec<String>, Vec<String>> {
        let mut ids: Vec<String> = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for n in names {
            match self.id_of(n) {
                Some(id) if !ids.iter().any(|i| i == id) => ids.push(id.to_string()),
                Some(_) => {}
                None => unknown.push(n.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(ids)
        } else {
            Err(unknown)
        }
    }

    /// Every valid name, sorted, for error messages.
    pub(crate) fn names(&self) -> String {
        let mut n: Vec<&str> = self.roles.iter().map(|r| r.name.as_str()).collect();
        n.sort_unstable();
        n.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoleTable {
        RoleTable::new(vec![
            Role {
                id: "r1".into(),
                name: "basicAccess".into(),
            },
            Role {
                id: "r2".into(),
                name: "Ordering".into(),
            },
            Role {
                id: "r3".into(),
                name: "User Administrator".into(),
            },
        ])
    }

    #[test]
    fn names_map_to_ids_and_back() {
        let t = table();
        assert_eq!(t.id_of("Ordering"), Some("r2"));
        assert_eq!(t.id_of("ordering"), Some("r2"));
        assert_eq!(t.name_of("r3"), Some("User Administrator"));
        assert_eq!(t.name_of("zz"), None);
        let ids = t.ids_for(&["basicAccess".into(), "ORDERING".into(), "Ordering".into()]);
        assert_eq!(ids, Ok(vec!["r1".to_string(), "r2".to_string()]));
    }

    #[test]
    fn unknown_names_are_listed() {
        let t = table();
        let e = t.ids_for(&["Ordering".into(), "Wizard".into()]);
        assert_eq!(e, Err(vec!["Wizard".to_string()]));
        assert_eq!(t.names(), "Ordering, User Administrator, basicAccess");
    }

    #[test]
    fn ambiguous_case_insensitive_match_is_refused() {
        let t = RoleTable::new(vec![
            Role {
                id: "a".into(),
                name: "Porting".into(),
            },
            Role {
                id: "b".into(),
                name: "PORTING".into(),
            },
        ]);
        assert_eq!(t.id_of("porting"), None);
        assert_eq!(t.id_of("PORTING"), Some("b"));
    }
}
