//! One scope per user: of the scopes a user's groups grant (as role names), the one
//! ranked highest by the tenant's priority list wins; none granted is the default.

use super::wire::USER_SCOPES;
use crate::upstream::TargetError;

/// The scope for `granted` (role names), or `Invalid` naming any that is no scope.
pub(crate) fn choose(
    granted: &[String],
    priority: &[String],
    default: &str,
) -> Result<String, TargetError> {
    let unknown: Vec<&str> = granted
        .iter()
        .map(String::as_str)
        .filter(|g| !USER_SCOPES.contains(g))
        .collect();
    if !unknown.is_empty() {
        return Err(TargetError::Invalid(format!(
            "not a NetSapiens user-scope: {} (expected one of: {})",
            unknown.join(", "),
            USER_SCOPES.join(", ")
        )));
    }
    let rank = |s: &str| {
        priority
            .iter()
            .position(|p| p == s)
            .unwrap_or(priority.len())
    };
    Ok(granted
        .iter()
        .min_by_key(|g| rank(g))
        .cloned()
        .unwrap_or_else(|| default.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::netsapiens::config::DEFAULT_SCOPE_PRIORITY;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn highest_priority_wins_else_the_default() {
        let priority = names(&DEFAULT_SCOPE_PRIORITY);
        let table: [(&[&str], &str); 6] = [
            (&[], "Basic User"),
            (&["Call Center Agent"], "Call Center Agent"),
            (&["Call Center Agent", "Office Manager"], "Office Manager"),
            (&["Simple User", "Advanced User"], "Advanced User"),
            (&["No Portal", "Simple User"], "Simple User"),
            (
                &["Call Center Supervisor", "Site Manager", "Basic User"],
                "Site Manager",
            ),
        ];
        for (granted, want) in table {
            assert_eq!(
                choose(&names(granted), &priority, "Basic User").expect("scope"),
                want,
                "{granted:?}"
            );
        }
    }

    #[test]
    fn a_tenant_priority_list_reorders_and_unlisted_scopes_rank_last() {
        let priority = names(&["Call Center Agent", "Office Manager"]);
        let got = choose(
            &names(&["Office Manager", "Call Center Agent"]),
            &priority,
            "Basic User",
        );
        assert_eq!(got.expect("scope"), "Call Center Agent");
        let got = choose(
            &names(&["Site Manager", "Office Manager"]),
            &priority,
            "Basic User",
        );
        assert_eq!(got.expect("scope"), "Office Manager");
    }

    #[test]
    fn unknown_scopes_are_refused_by_name() {
        let err = choose(&names(&["Admin", "Basic User"]), &[], "Basic User").expect_err("refused");
        assert!(
            matches!(&err, TargetError::Invalid(m) if m.contains("Admin")),
            "{err:?}"
        );
    }
}
