use super::*;
use crate::upstream::{AccessModel, PhoneFormat, Role, Target, TargetError, UserPage, UserRules};
use async_trait::async_trait;

/// Pages that overlap (a user shifted between reads) and then repeat forever.
struct Pages;

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
        let users = match page {
            0 => vec![upstream("a"), upstream("b")],
            1 => vec![upstream("b"), upstream("c")],
            _ => vec![upstream("c")],
        };
        Ok(UserPage {
            users,
            next: Some(page + 1),
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

#[tokio::test]
async fn pages_are_listed_once_per_user_and_a_repeating_upstream_ends() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = crate::store::open(&url, 2).await.unwrap();
    let config = crate::config::Config::from_toml_str(
        "[tenants.t.bandwidth]\nbase_url = \"http://x\"\naccount_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let tenant = Arc::new(Tenant::new("t", &config.tenants["t"], Arc::new(Pages)));
    let progress = Counted::default();
    let report = Provisioner::new(store)
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
