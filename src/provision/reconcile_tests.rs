use super::*;
use crate::upstream::{AccessModel, PhoneFormat, Role, Target, TargetError, UserPage, UserRules};
use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

/// A read-only upstream serving `pages`; past the last one, the last again when
/// `repeat` (an upstream that ignores the page number), else the end.
struct Pages {
    pages: Vec<Vec<UpstreamUser>>,
    repeat: bool,
}

fn upstream(id: &str) -> UpstreamUser {
    UpstreamUser {
        id: id.into(),
        username: id.into(),
        first_name: "F".into(),
        last_name: "L".into(),
        email: format!("{id}@example.com"),
        phone: None,
        roles: vec![],
        account_scope: Default::default(),
        accounts: vec![],
        active: true,
        department: None,
    }
}

#[async_trait]
impl Target for Pages {
    fn user_rules(&self) -> UserRules {
        UserRules::all_required("Test", PhoneFormat::E164)
    }
    fn access_model(&self) -> AccessModel {
        AccessModel::FULL
    }
    async fn create_user(&self, _: &DesiredUser) -> std::result::Result<UpstreamUser, TargetError> {
        Err(TargetError::Protocol("read only".into()))
    }
    async fn get_user(&self, _: &str) -> std::result::Result<Option<UpstreamUser>, TargetError> {
        Ok(None)
    }
    async fn find_by_username(
        &self,
        _: &str,
    ) -> std::result::Result<Option<UpstreamUser>, TargetError> {
        Ok(None)
    }
    async fn find_by_email(
        &self,
        _: &str,
    ) -> std::result::Result<Option<UpstreamUser>, TargetError> {
        Ok(None)
    }
    async fn update_user(
        &self,
        _: &str,
        _: &DesiredUser,
    ) -> std::result::Result<UpstreamUser, TargetError> {
        Err(TargetError::Protocol("read only".into()))
    }
    async fn delete_user(&self, _: &str) -> std::result::Result<(), TargetError> {
        Err(TargetError::Protocol("read only".into()))
    }
    async fn list_users(&self, page: u32) -> std::result::Result<UserPage, TargetError> {
        let at = page as usize;
        let last = self.pages.len().checked_sub(1);
        let shown = match last {
            Some(last) if self.repeat => at.min(last),
            _ => at,
        };
        let more = self.repeat || at + 1 < self.pages.len();
        Ok(UserPage {
            users: self.pages.get(shown).cloned().unwrap_or_default(),
            next: more.then_some(page + 1),
        })
    }
    async fn list_roles(&self) -> std::result::Result<Vec<Role>, TargetError> {
        Ok(vec![])
    }
    async fn ping(&self) -> std::result::Result<(), TargetError> {
        Ok(())
    }
}

#[derive(Default)]
struct Counted(std::sync::Mutex<Vec<usize>>);

impl Progress for Counted {
    fn listed(&self, count: usize) {
        self.0.lock().unwrap().push(count);
    }
    fn compared(&self, _: usize, _: usize) {}
}

/// A bridge on a fresh SQLite store whose tenant `t` provisions into `pages`.
async fn bridge(pages: Pages) -> (Provisioner, Arc<Tenant>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = crate::store::open(&url, 2).await.unwrap();
    let config = crate::config::Config::from_toml_str(
        "[tenants.t.bandwidth]\nbase_url = \"http://x\"\naccount_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let tenant = Arc::new(Tenant::new("t", &config.tenants["t"], Arc::new(pages)));
    (Provisioner::new(store), tenant, dir)
}

#[tokio::test]
async fn pages_are_listed_once_per_user_and_a_repeating_upstream_ends() {
    // Pages that overlap (a user shifted between reads) and then repeat forever.
    let pages = Pages {
        pages: vec![
            vec![upstream("a"), upstream("b")],
            vec![upstream("b"), upstream("c")],
            vec![upstream("c")],
        ],
        repeat: true,
    };
    let (bridge, tenant, _dir) = bridge(pages).await;
    let progress = Counted::default();
    let report = bridge
        .reconcile(&tenant, Options::default(), &progress)
        .await
        .unwrap();
    assert_eq!(report.upstream_users, 3);
    assert_eq!(*progress.0.lock().unwrap(), vec![2, 3, 3]);
    let orphans: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.username.as_str())
        .collect();
    assert_eq!(orphans, vec!["a", "b", "c"]);
    assert!(report.findings.iter().all(|f| f.kind == DriftKind::Orphan));
}

const STORED: usize = 1_100;

fn username(i: usize) -> String {
    format!("user{i:04}@example.com")
}

/// Stored user `i`, linked to upstream user `u{i}` unless `linked` is false.
fn stored(i: usize, linked: bool) -> crate::store::UserRecord {
    crate::store::UserRecord {
        id: format!("s{i:04}"),
        resource: json!({"userName": username(i), "active": true,
                         "name": {"givenName": "U", "familyName": format!("N{i}")},
                         "emails": [{"value": username(i), "primary": true}]}),
        meta: crate::store::Meta::first(Utc::now()),
        link: crate::store::UpstreamLink {
            upstream_id: linked.then(|| format!("u{i}")),
            upstream_username: username(i),
            sync_state: crate::store::SyncState::Synced,
            ..Default::default()
        },
    }
}

/// The upstream user that matches stored user `i` (no base roles: none configured).
fn upstream_of(i: usize) -> UpstreamUser {
    UpstreamUser {
        username: username(i),
        first_name: "U".into(),
        last_name: format!("N{i}"),
        email: username(i),
        ..upstream(&format!("u{i}"))
    }
}

#[tokio::test]
async fn a_directory_over_several_store_pages_is_reported_exactly() {
    // Upstream in another order than the store, in pages of 100: every 97th user
    // renamed, every 101st missing, two orphans; stored user 0 never linked.
    let mut listed: Vec<UpstreamUser> = (1..STORED)
        .rev()
        .filter(|i| i % 101 != 0)
        .map(|i| {
            let mut u = upstream_of(i);
            if i % 97 == 0 {
                u.last_name = "Renamed".into();
            }
            u
        })
        .collect();
    listed.insert(500, upstream("handmade-b"));
    listed.push(upstream("handmade-a"));
    let pages = Pages {
        pages: listed.chunks(100).map(<[UpstreamUser]>::to_vec).collect(),
        repeat: false,
    };
    let (bridge, tenant, _dir) = bridge(pages).await;
    for i in 0..STORED {
        bridge
            .store
            .insert_user("t", &stored(i, i > 0))
            .await
            .unwrap();
    }

    let report = bridge
        .reconcile(&tenant, Options::default(), &Quiet)
        .await
        .unwrap();
    let mut want: Vec<(DriftKind, String, Option<&str>)> = vec![];
    for i in 0..STORED {
        if i == 0 || i % 101 == 0 {
            want.push((DriftKind::MissingUpstream, username(i), None));
        } else if i % 97 == 0 {
            want.push((DriftKind::Attribute, username(i), Some("last_name")));
        }
    }
    want.push((DriftKind::Orphan, "handmade-a".into(), None));
    want.push((DriftKind::Orphan, "handmade-b".into(), None));
    let got: Vec<(DriftKind, String, Option<&str>)> = report
        .findings
        .iter()
        .map(|f| (f.kind, f.username.clone(), f.field))
        .collect();
    assert_eq!(got, want);
    assert_eq!(report.stored_users, STORED);
    assert_eq!(report.upstream_users, listed.len());
    let renamed = report.findings.iter().find(|f| f.field.is_some()).unwrap();
    assert_eq!(renamed.scim_id.as_deref(), Some("s0097"));
    assert_eq!(renamed.upstream_id.as_deref(), Some("u97"));
    assert_eq!(
        (&renamed.expected, &renamed.actual),
        (&json!("N97"), &json!("Renamed"))
    );
    let missing = &report.findings[0];
    assert_eq!(
        (missing.scim_id.as_deref(), missing.upstream_id.as_deref()),
        (Some("s0000"), None)
    );
    assert_eq!(report.findings[2].upstream_id.as_deref(), Some("u101"));
}
