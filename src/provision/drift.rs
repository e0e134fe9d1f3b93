//! Drift between what the IdP said (the bridge's stored users, their links and the
//! access their groups grant) and what the upstream has. Pure: [`expected_user`] turns
//! one stored user into the upstream state it should have, [`compare`] lists every
//! difference against an upstream listing. `reconcile` does the I/O around it.
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::access::Access;
use super::mapping::{is_active, map_user};
use crate::config::DeactivatePolicy;
use crate::store::{fold, UserRecord};
use crate::upstream::{AccessModel, AccountScope, DesiredUser, Target, UpstreamUser, UserRules};

/// What kind of difference a finding is. The names are part of the JSON output and of
/// the `scim_bridge_drift_users{kind}` metric: keep them stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A user the bridge links to an upstream user that the upstream no longer lists
    /// (or an active user that has no upstream user at all).
    MissingUpstream,
    /// An upstream user no stored user links to.
    Orphan,
    /// An upstream user no stored user links to that the bridge itself created for a
    /// SCIM create never completed (its create intent remains): deprovisioned by intent
    /// recovery, not made by hand.
    AbandonedCreate,
    /// First or last name, email, phone or department differ.
    Attribute,
    /// Roles, admin scope or accounts differ.
    Access,
    /// Active upstream while the IdP says inactive, or the other way round.
    Status,
}

impl DriftKind {
    pub const ALL: [DriftKind; 6] = [
        DriftKind::MissingUpstream,
        DriftKind::Orphan,
        DriftKind::AbandonedCreate,
        DriftKind::Attribute,
        DriftKind::Access,
        DriftKind::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::MissingUpstream => "missing_upstream",
            DriftKind::Orphan => "orphan",
            DriftKind::AbandonedCreate => "abandoned_create",
            DriftKind::Attribute => "attribute",
            DriftKind::Access => "access",
            DriftKind::Status => "status",
        }
    }

    /// Whether a `sync_user` job restores it (the job writes the IdP's attributes,
    /// the computed access and the status the deprovisioning policy gives).
    pub fn repaired_by_sync(self) -> bool {
        matches!(
            self,
            DriftKind::Attribute | DriftKind::Access | DriftKind::Status
        )
    }
}

/// One difference. `field` names the attribute (`first_name`, `last_name`, `email`,
/// `phone`, `department`, `roles`, `account_scope`, `accounts`, `active`); it is `None` for
/// missing and orphan findings, whose `expected`/`actual` are `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: DriftKind,
    /// The SCIM id; `None` for an orphan.
    pub scim_id: Option<String>,
    pub upstream_id: Option<String>,
    /// The upstream username (for a stored user, the one its link records).
    pub username: String,
    pub field: Option<&'static str>,
    pub expected: Value,
    pub actual: Value,
}

/// The access a user should have upstream, as far as the bridge manages it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedAccess {
    pub roles: BTreeSet<String>,
    pub scope: AccountScope,
    /// `None`: upstream keeps whatever accounts it has (none configured, or the
    /// target ties users to one account).
    pub accounts: Option<BTreeSet<String>>,
}

/// What one stored user should look like upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub scim_id: String,
    /// `None` for an active user that has no upstream user (a failed re-create).
    pub upstream_id: Option<String>,
    pub username: String,
    /// The user as the target holds it: names, email, phone, status, and the
    /// department where the tenant manages it (`None`: left alone).
    pub held: DesiredUser,
    /// `None` when the bridge leaves access as upstream has it (a deactivated user
    /// keeps its roles under the `deactivate` policy).
    pub access: Option<ExpectedAccess>,
}

/// How the tenant and its upstream shape the expected state.
#[derive(Clone)]
pub struct Rules<'a> {
    /// The target, to see the expected user as it holds users (one chosen scope,
    /// several emails in one field); `None` compares the mapped user as it is.
    pub target: Option<&'a dyn Target>,
    pub on_deactivate: DeactivatePolicy,
    /// What the target requires of a user and how it writes phones.
    pub user_rules: UserRules,
    /// The upstream's role names: a desired role it does not have is left out, as the
    /// job worker leaves it out, so it is not reported as drift on every run.
    pub known_roles: Option<&'a BTreeSet<String>>,
    /// What the target can grant: access it cannot hold is never reported as drift.
    pub access_model: AccessModel,
}

/// The upstream state `user` should have, given the access its groups grant. `Ok(None)`
/// when no upstream user is expected (inactive under the `delete` policy, or never
/// linked while inactive). `Err` when the stored resource cannot be mapped (it was
/// valid when written, so this means a changed mapping; reported, not guessed).
pub fn expected_user(
    user: &UserRecord,
    access: &Access,
    rules: Rules<'_>,
) -> Result<Option<Expected>, String> {
    let active = is_active(&user.resource);
    if user.link.upstream_id.is_none() && !active {
        return Ok(None);
    }
    let mapped = map_user(
        &user.resource,
        &user.link.upstream_username,
        rules.user_rules.clone(),
    )
    .map_err(|e| format!("user {}: {}", user.id, e.detail))?;
    let granted = |access: &Access| ExpectedAccess {
        roles: access
            .roles
            .iter()
            .filter(|r| rules.known_roles.is_none_or(|known| known.contains(*r)))
            .cloned()
            .collect(),
        scope: access.scope,
        accounts: (rules.access_model.accounts && !access.accounts.is_empty())
            .then(|| access.accounts.clone()),
    };
    let (upstream_active, access) = match (active, rules.on_deactivate) {
        (true, _) => (true, Some(granted(access))),
        (false, DeactivatePolicy::Deactivate) => (false, None),
        (false, DeactivatePolicy::StripRoles) => (true, Some(granted(&Access::default()))),
        // A linked inactive user under `delete` should be gone upstream.
        (false, DeactivatePolicy::Delete) => (false, None),
    };
    let desired = DesiredUser {
        roles: access.as_ref().map(|a| a.roles.iter().cloned().collect()),
        active: upstream_active,
        ..mapped.user
    };
    let held = match rules.target {
        Some(target) => target.as_held(&desired),
        None => desired,
    };
    let access = access.map(|a| ExpectedAccess {
        roles: held
            .roles
            .clone()
            .map_or(a.roles, |r| r.into_iter().collect()),
        ..a
    });
    Ok(Some(Expected {
        scim_id: user.id.clone(),
        upstream_id: user.link.upstream_id.clone(),
        username: user.link.upstream_username.clone(),
        held: DesiredUser {
            active: upstream_active,
            ..held
        },
        access,
    }))
}

fn sorted(set: &BTreeSet<String>) -> Value {
    json!(set)
}

fn sorted_vec(list: &[String]) -> Value {
    json!(list.iter().cloned().collect::<BTreeSet<_>>())
}

/// Every difference between the expected users and the upstream listing: per expected
/// user, each differing field (or `missing_upstream`); then each upstream user that no
/// expected user links to (`orphan`), by username. `linked` are upstream ids that stored
/// users link to without being expected there (inactive users under `delete` whose
/// upstream delete has not happened): they are not orphans. The whole comparison in
/// memory; `reconcile` makes the same one in passes (see `reconcile_index`).
pub fn compare(
    expected: &[Expected],
    upstream: &[UpstreamUser],
    linked: &HashSet<String>,
) -> Vec<Finding> {
    let by_id: HashMap<&str, &UpstreamUser> = upstream.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut findings = Vec::new();
    let mut claimed: HashSet<&str> = HashSet::new();
    for want in expected {
        let found = want.upstream_id.as_deref().and_then(|id| by_id.get(id));
        let Some(have) = found else {
            findings.push(missing(want));
            continue;
        };
        claimed.insert(have.id.as_str());
        findings.extend(differences(want, have));
    }
    let mut orphans: Vec<&UpstreamUser> = upstream
        .iter()
        .filter(|u| !claimed.contains(u.id.as_str()) && !linked.contains(&u.id))
        .collect();
    sort_orphans(&mut orphans);
    findings.extend(orphans.into_iter().map(orphan));
    findings
}

/// The finding of an expected user that upstream does not list.
pub fn missing(want: &Expected) -> Finding {
    Finding {
        kind: DriftKind::MissingUpstream,
        scim_id: Some(want.scim_id.clone()),
        upstream_id: want.upstream_id.clone(),
        username: want.username.clone(),
        field: None,
        expected: Value::Null,
        actual: Value::Null,
    }
}

/// The finding of an upstream user no stored user links to.
pub fn orphan(u: &UpstreamUser) -> Finding {
    Finding {
        kind: DriftKind::Orphan,
        scim_id: None,
        upstream_id: Some(u.id.clone()),
        username: u.username.clone(),
        field: None,
        expected: Value::Null,
        actual: json!({"active": u.active}),
    }
}

/// Orphans in report order: by username, then id.
pub fn sort_orphans<U: std::borrow::Borrow<UpstreamUser>>(orphans: &mut [U]) {
    orphans.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        a.username.cmp(&b.username).then(a.id.cmp(&b.id))
    });
}

/// Each field in which `have`, the upstream user `want` links to, differs from it.
/// [`super::fingerprint`] reduces what this compares to a digest: the two change together.
pub fn differences(want: &Expected, have: &UpstreamUser) -> Vec<Finding> {
    use DriftKind::{Attribute, Status};
    let held = &want.held;
    // (what differs, the field, the expected value, the upstream's), compared as JSON.
    let mut compared = vec![
        (
            Attribute,
            "first_name",
            json!(held.first_name),
            json!(have.first_name),
        ),
        (
            Attribute,
            "last_name",
            json!(held.last_name),
            json!(have.last_name),
        ),
    ];
    // Email addresses are case-insensitive in practice, and upstreams fold them.
    if !held.email.eq_ignore_ascii_case(&have.email) {
        compared.push((Attribute, "email", json!(held.email), json!(have.email)));
    }
    compared.push((Attribute, "phone", json!(held.phone), json!(have.phone)));
    if let Some(department) = &held.department {
        let actual = have.department.as_deref().unwrap_or_default();
        compared.push((Attribute, "department", json!(department), json!(actual)));
    }
    compared.push((Status, "active", json!(held.active), json!(have.active)));
    if let Some(access) = &want.access {
        // Sets of names: `sorted` folds order and repeats away before comparing.
        compared.push((
            DriftKind::Access,
            "roles",
            sorted(&access.roles),
            sorted_vec(&have.roles),
        ));
        compared.push((
            DriftKind::Access,
            "account_scope",
            json!(access.scope),
            json!(have.account_scope),
        ));
        if let Some(accounts) = &access.accounts {
            let actual = sorted_vec(&have.accounts);
            compared.push((DriftKind::Access, "accounts", sorted(accounts), actual));
        }
    }
    compared
        .into_iter()
        .filter(|(_, _, expected, actual)| expected != actual)
        .map(|(kind, field, expected, actual)| Finding {
            kind,
            scim_id: Some(want.scim_id.clone()),
            upstream_id: Some(have.id.clone()),
            username: want.username.clone(),
            field: Some(field),
            expected,
            actual,
        })
        .collect()
}

/// Tells the bridge's own abandoned creates from hand-made orphans: an orphan whose
/// folded username has a create intent (`intents`) is an [`DriftKind::AbandonedCreate`].
pub fn mark_abandoned_creates(findings: &mut [Finding], intents: &HashSet<String>) {
    for finding in findings.iter_mut() {
        if finding.kind == DriftKind::Orphan && intents.contains(&fold(&finding.username)) {
            finding.kind = DriftKind::AbandonedCreate;
        }
    }
}

/// How many distinct users each kind of finding touches (every kind present, zeros
/// included, so a gauge falls back to 0 once drift is repaired).
pub fn users_per_kind(findings: &[Finding]) -> Vec<(DriftKind, usize)> {
    DriftKind::ALL
        .iter()
        .map(|kind| {
            let users: HashSet<(&Option<String>, &Option<String>)> = findings
                .iter()
                .filter(|f| f.kind == *kind)
                .map(|f| (&f.scim_id, &f.upstream_id))
                .collect();
            (*kind, users.len())
        })
        .collect()
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
