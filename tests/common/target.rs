//! The target a harness provisions into, and a per-target view of its simulator's
//! state, so one test checks a Bandwidth and a NetSapiens tenant alike: roles there are
//! the one scope here, `DEACTIVATED` there is scope `No Portal` here.
//!
//! [`both_targets!`](crate::both_targets) instantiates a test `async fn name(target)`
//! as `name::bandwidth` and `name::netsapiens`.

use bandwidth_sim::ns::{NsConfig, NsSimHandle, NsSimulator, NsUser, DOMAIN_KEY};
use bandwidth_sim::Faults;
use bandwidth_sim::{SimHandle, SimStats, SnapshotUser};

/// The NetSapiens domain of the harness's tenant.
pub const NS_DOMAIN: &str = "acme";
/// The extension range a NetSapiens harness allocates from.
pub const NS_RANGE: (u32, u32) = (2000, 2999);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetKind {
    #[default]
    Bandwidth,
    Netsapiens,
}

impl TargetKind {
    /// The system's name as the bridge's error texts give it.
    pub fn system(self) -> &'static str {
        match self {
            TargetKind::Bandwidth => "Bandwidth",
            TargetKind::Netsapiens => "NetSapiens",
        }
    }

    /// What a user in no mapped group holds: the tenant's base role, or the default
    /// scope.
    pub fn base_access(self) -> Vec<String> {
        match self {
            TargetKind::Bandwidth => vec!["basicAccess".into()],
            TargetKind::Netsapiens => vec!["Basic User".into()],
        }
    }

    /// What a member of the `Bandwidth Admins` group holds (sorted).
    pub fn admin_access(self) -> Vec<String> {
        match self {
            TargetKind::Bandwidth => vec!["User Administrator".into(), "basicAccess".into()],
            TargetKind::Netsapiens => vec!["Office Manager".into()],
        }
    }

    /// What a member of the `okta-billing` group (by externalId) holds (sorted).
    pub fn billing_access(self) -> Vec<String> {
        match self {
            TargetKind::Bandwidth => vec!["Billing Reports".into(), "basicAccess".into()],
            TargetKind::Netsapiens => vec!["Call Center Agent".into()],
        }
    }

    /// The tenant's `base_roles`, group rules and `[target]` section for this target.
    pub fn tenant_toml(self, bandwidth: &str, sim_url: &str) -> String {
        match self {
            TargetKind::Bandwidth => bandwidth.to_string(),
            TargetKind::Netsapiens => format!(
                r#"
[tenants.acme.groups]
role_prefix = "bandwidth-role-"

[[tenants.acme.groups.map]]
display_name = "Bandwidth Admins"
roles = ["Office Manager"]

[[tenants.acme.groups.map]]
external_id = "okta-billing"
roles = ["Call Center Agent"]
{}"#,
                netsapiens_target_toml("acme", sim_url, NS_RANGE)
            ),
        }
    }
}

/// `[tenants.TENANT.target]` for the NetSapiens simulator at `sim_url` (domain
/// [`NS_DOMAIN`], its domain key), allocating extensions from `range`; more keys of
/// the section may follow.
pub fn netsapiens_target_toml(tenant: &str, sim_url: &str, range: (u32, u32)) -> String {
    format!(
        r#"
[tenants.{tenant}.target]
kind = "netsapiens"
base_url = "{sim_url}"
domain = "{NS_DOMAIN}"
api_key = "{DOMAIN_KEY}"
extension_range = [{}, {}]
"#,
        range.0, range.1
    )
}

/// A user as the target holds it, in the terms the shared tests assert on: the Bandwidth
/// simulator's user (its fields through `Deref`), which a NetSapiens user is translated
/// into: the extension as `user_id`, emails joined with `;`, no phone and no accounts,
/// the one scope as the one role (none while `No Portal`), `No Portal` as `DEACTIVATED`.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub user: SnapshotUser,
    /// NetSapiens' `user-scope` as it is; `None` on Bandwidth.
    pub scope: Option<String>,
}

impl std::ops::Deref for Held {
    type Target = SnapshotUser;

    fn deref(&self) -> &SnapshotUser {
        &self.user
    }
}

impl Held {
    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

impl From<SnapshotUser> for Held {
    fn from(user: SnapshotUser) -> Self {
        Held { user, scope: None }
    }
}

impl From<NsUser> for Held {
    fn from(u: NsUser) -> Self {
        let active = u.user_scope != "No Portal";
        let user = SnapshotUser {
            user_id: u.user,
            username: u.login_username,
            first_name: u.name_first_name,
            last_name: u.name_last_name,
            email: u.email_address,
            phone_number: None,
            roles: if active {
                vec![u.user_scope.clone()]
            } else {
                vec![]
            },
            accounts: vec![],
            account_scope: String::new(),
            status: if active { "ACTIVE" } else { "DEACTIVATED" }.into(),
        };
        Held {
            user,
            scope: Some(u.user_scope),
        }
    }
}

/// The simulator the tenant provisions into.
#[derive(Clone)]
pub enum Upstream {
    Bandwidth(SimHandle),
    Netsapiens(NsSimHandle),
}

impl Upstream {
    /// A NetSapiens simulator with the harness's faults.
    pub async fn start_netsapiens(faults: Faults) -> NsSimHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = NsConfig {
            faults,
            ..NsConfig::default()
        };
        NsSimulator::start(config, listener).await.unwrap()
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Upstream::Bandwidth(_) => TargetKind::Bandwidth,
            Upstream::Netsapiens(_) => TargetKind::Netsapiens,
        }
    }

    pub fn base_url(&self) -> String {
        match self {
            Upstream::Bandwidth(sim) => sim.base_url(),
            Upstream::Netsapiens(sim) => sim.base_url(),
        }
    }

    /// Every user the target holds (`/_sim/state`), in the simulator's order.
    pub fn users(&self) -> Vec<Held> {
        match self {
            Upstream::Bandwidth(sim) => sim.snapshot().users.into_iter().map(Held::from).collect(),
            Upstream::Netsapiens(sim) => sim
                .snapshot()
                .domains
                .remove(NS_DOMAIN)
                .map(|d| d.users.into_iter().map(Held::from).collect())
                .unwrap_or_default(),
        }
    }

    /// The user with this username (case-insensitive), if the target holds one.
    pub fn user(&self, username: &str) -> Option<Held> {
        self.users()
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// What the simulator counted: requests, injected faults, creates.
    pub fn stats(&self) -> SimStats {
        match self {
            Upstream::Bandwidth(sim) => sim.snapshot().stats,
            Upstream::Netsapiens(sim) => sim.snapshot().stats,
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        match self {
            Upstream::Bandwidth(sim) => sim.set_faults(faults),
            Upstream::Netsapiens(sim) => sim.set_faults(faults),
        }
    }

    /// Stops the simulator: the upstream is gone.
    pub fn shutdown(&self) {
        match self {
            Upstream::Bandwidth(sim) => sim.shutdown(),
            Upstream::Netsapiens(sim) => sim.shutdown(),
        }
    }

    /// Edits a user behind the bridge's back (an admin in the upstream's portal): a new
    /// last name, and roles (NetSapiens: the first is the scope).
    pub async fn edit(&self, user_id: &str, last_name: &str, roles: &[&str]) {
        match self {
            Upstream::Bandwidth(sim) => {
                let edit = bandwidth_sim::UserEdit {
                    last_name: Some(last_name.into()),
                    roles: Some(roles.iter().map(|r| r.to_string()).collect()),
                    ..bandwidth_sim::UserEdit::default()
                };
                assert!(sim.edit_user(user_id, edit), "no user {user_id}");
            }
            Upstream::Netsapiens(sim) => {
                let url = format!(
                    "{}/ns-api/v2/domains/{NS_DOMAIN}/users/{user_id}",
                    sim.base_url()
                );
                let body = serde_json::json!({"name-last-name": last_name,
                    "user-scope": roles[0], "synchronous": "yes"});
                let resp = reqwest::Client::new()
                    .put(url)
                    .bearer_auth(DOMAIN_KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "edit {user_id}: {resp:?}");
            }
        }
    }

    /// Removes a user behind the bridge's back (an admin in the upstream's portal).
    pub async fn remove(&self, user_id: &str) {
        match self {
            Upstream::Bandwidth(sim) => assert!(sim.remove_user(user_id), "no user {user_id}"),
            Upstream::Netsapiens(sim) => {
                let url = format!(
                    "{}/ns-api/v2/domains/{NS_DOMAIN}/users/{user_id}",
                    sim.base_url()
                );
                let resp = reqwest::Client::new()
                    .delete(url)
                    .bearer_auth(DOMAIN_KEY)
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "delete {user_id}: {resp:?}");
            }
        }
    }
}

/// Instantiates each `async fn name(target: TargetKind)` as the tests
/// `name::bandwidth` and `name::netsapiens`.
#[macro_export]
macro_rules! both_targets {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn bandwidth() {
                    super::$name($crate::common::target::TargetKind::Bandwidth).await
                }
                #[tokio::test]
                async fn netsapiens() {
                    super::$name($crate::common::target::TargetKind::Netsapiens).await
                }
            }
        )*
    };
}
