use super::*;
use crate::upstream::PhoneFormat;

/// A target that answers reads from a fixed user and fails every write.
struct ReadOnly(UpstreamUser);

#[async_trait]
impl Target for ReadOnly {
    fn user_rules(&self) -> UserRules {
        UserRules::all_required("Test", PhoneFormat::E164)
    }
    fn access_model(&self) -> AccessModel {
        AccessModel::FULL
    }
    async fn create_user(&self, _: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        panic!("dry run wrote: create")
    }
    async fn get_user(&self, id: &str) -> Result<Option<UpstreamUser>, TargetError> {
        Ok((id == self.0.id).then(|| self.0.clone()))
    }
    async fn find_by_username(&self, n: &str) -> Result<Option<UpstreamUser>, TargetError> {
        Ok((n == self.0.username).then(|| self.0.clone()))
    }
    async fn find_by_email(&self, e: &str) -> Result<Option<UpstreamUser>, TargetError> {
        Ok((e == self.0.email).then(|| self.0.clone()))
    }
    async fn update_user(&self, _: &str, _: &DesiredUser) -> Result<UpstreamUser, TargetError> {
        panic!("dry run wrote: update")
    }
    async fn delete_user(&self, _: &str) -> Result<(), TargetError> {
        panic!("dry run wrote: delete")
    }
    async fn list_users(&self, _: u32) -> Result<UserPage, TargetError> {
        Ok(UserPage {
            users: vec![self.0.clone()],
            next: None,
        })
    }
    async fn list_roles(&self) -> Result<Vec<Role>, TargetError> {
        Ok(vec![Role {
            id: "r-1".into(),
            name: "basicAccess".into(),
        }])
    }
    async fn ping(&self) -> Result<(), TargetError> {
        Ok(())
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<SkippedWrite>>);

#[async_trait]
impl WriteRecorder for Collect {
    async fn record(&self, write: &SkippedWrite) {
        self.0.lock().unwrap().push(write.clone());
    }
}

fn existing() -> UpstreamUser {
    UpstreamUser {
        id: "real-1".into(),
        username: "old".into(),
        first_name: "Old".into(),
        last_name: "User".into(),
        email: "old@example.com".into(),
        phone: None,
        roles: vec!["basicAccess".into()],
        account_scope: Default::default(),
        accounts: vec!["1".into()],
        active: true,
        department: None,
    }
}

fn desired(name: &str) -> DesiredUser {
    DesiredUser {
        username: name.into(),
        first_name: "New".into(),
        last_name: "Person".into(),
        email: format!("{name}@example.com"),
        roles: Some(vec!["basicAccess".into()]),
        active: true,
        ..DesiredUser::default()
    }
}

fn target() -> (DryRunTarget, Arc<Collect>) {
    let recorder = Arc::new(Collect::default());
    let t = DryRunTarget::new(Arc::new(ReadOnly(existing())), recorder.clone());
    (t, recorder)
}

#[tokio::test]
async fn a_rehearsed_lifecycle_is_recorded_and_never_reaches_the_inner_target() {
    let (t, recorder) = target();
    let created = t.create_user(&desired("new")).await.unwrap();
    assert!(created.id.starts_with(DRY_RUN_ID_PREFIX));
    assert_eq!(
        t.get_user(&created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        t.find_by_username("NEW").await.unwrap().map(|u| u.id),
        Some(created.id.clone())
    );
    let mut change = desired("new");
    change.last_name = "Renamed".into();
    change.roles = None;
    let updated = t.update_user(&created.id, &change).await.unwrap();
    assert_eq!(updated.last_name, "Renamed");
    assert_eq!(updated.roles, vec!["basicAccess"]);
    t.delete_user(&created.id).await.unwrap();
    assert_eq!(t.get_user(&created.id).await.unwrap(), None);

    let writes = recorder.0.lock().unwrap().clone();
    let ops: Vec<&str> = writes.iter().map(|w| w.operation).collect();
    assert_eq!(ops, vec!["create_user", "update_user", "delete_user"]);
    assert_eq!(writes[0].request["password"], "[redacted]");
    assert_eq!(writes[1].request["last_name"], "Renamed");
    assert_eq!(writes[2].username.as_deref(), Some("new"));
}

#[tokio::test]
async fn writes_to_real_users_answer_the_merge_and_are_not_remembered() {
    let (t, recorder) = target();
    let mut change = desired("old");
    change.active = false;
    change.roles = None;
    let answered = t.update_user("real-1", &change).await.unwrap();
    assert!(!answered.active);
    assert_eq!(answered.username, "old");
    assert_eq!(answered.roles, vec!["basicAccess"]);
    assert!(t.get_user("real-1").await.unwrap().unwrap().active);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    assert_eq!(
        t.update_user("gone", &change).await,
        Err(TargetError::NotFound)
    );
}

#[tokio::test]
async fn a_write_that_changes_nothing_is_not_recorded() {
    let (t, recorder) = target();
    let same = DesiredUser {
        username: "old".into(),
        first_name: "Old".into(),
        last_name: "User".into(),
        email: "old@example.com".into(),
        active: true,
        ..DesiredUser::default()
    };
    assert_eq!(t.update_user("real-1", &same).await.unwrap(), existing());
    assert!(recorder.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_taken_username_or_email_conflicts_as_upstream_would() {
    let (t, recorder) = target();
    assert!(matches!(
        t.create_user(&desired("old")).await,
        Err(TargetError::Conflict(_))
    ));
    let mut by_email = desired("other");
    by_email.email = "old@example.com".into();
    assert!(matches!(
        t.create_user(&by_email).await,
        Err(TargetError::Conflict(_))
    ));
    assert!(recorder.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_role_the_upstream_lacks_is_refused_as_upstream_would() {
    let (t, recorder) = target();
    let mut user = desired("new");
    user.roles = Some(vec!["basicAccess".into(), "Typo".into()]);
    match t.create_user(&user).await {
        Err(TargetError::Invalid(m)) => assert!(m.contains("Typo"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(
        t.update_user("real-1", &user).await,
        Err(TargetError::Invalid(_))
    ));
    assert!(recorder.0.lock().unwrap().is_empty());
}
