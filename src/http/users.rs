//! `/Users`: which provisioner call each method is, and how a user renders (with its
//! `groups` computed from memberships). The handler shape is `resource.rs`'s.
use async_trait::async_trait;
use serde_json::Value;

use super::error::ApiError;
use super::extract::ScimCall;
use super::list::store_query;
use super::resource::{shown, Change, ScimResource};
use crate::provision::render::{render_user_owned, with_groups};
use crate::provision::Caller;
use crate::scim::params::ListParams;
use crate::scim::schema;
use crate::store::{GroupRef, UserRecord};

pub struct Users;

/// A user as a handler loaded it: a read brings its groups along (one statement), a
/// write leaves them to be read for the answer.
pub struct UserView {
    user: UserRecord,
    groups: Option<Vec<GroupRef>>,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        Self { user, groups: None }
    }
}

/// A user as its tenant's IdP reads it: with the access it inherits from base roles and
/// groups shown beside its direct assignments when the tenant honours those.
fn rendered(caller: &Caller, user: UserRecord, base: &str) -> Value {
    let inherited = caller.tenant.direct_assignments.then(|| user.link.clone());
    let mut out = render_user_owned(user, base);
    if let Some(link) = inherited {
        crate::provision::catalog::with_inherited_access(&mut out, &link);
    }
    out
}

#[async_trait]
impl ScimResource for Users {
    type Loaded = UserView;
    const ENDPOINT: &'static str = "Users";

    fn id(view: &UserView) -> &str {
        &view.user.id
    }

    fn version(view: &UserView) -> i64 {
        view.user.meta.version
    }

    async fn create(call: &ScimCall, body: Value) -> Result<UserView, ApiError> {
        Ok(call
            .app
            .provisioner
            .create_user(&call.caller, body)
            .await?
            .into())
    }

    async fn get(call: &ScimCall, id: &str, _: &ListParams) -> Result<UserView, ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        let (user, groups) = provisioner.get_user_with_groups(caller, id).await?;
        Ok(UserView {
            user,
            groups: Some(groups),
        })
    }

    async fn write(call: &ScimCall, id: &str, change: Change<'_>) -> Result<UserView, ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        Ok(provisioner.write_user(caller, id, change).await?.into())
    }

    async fn delete(call: &ScimCall, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        Ok(provisioner.delete_user(caller, id, if_match).await?)
    }

    async fn render(
        call: &ScimCall,
        view: UserView,
        params: &ListParams,
    ) -> Result<Value, ApiError> {
        let (app, caller) = (&call.app, &call.caller);
        let UserView { user, groups } = view;
        let groups = match groups {
            Some(groups) => groups,
            None => app.provisioner.user_groups(caller, &user.id).await?,
        };
        let full = with_groups(
            rendered(caller, user, &app.scim_base),
            &groups,
            &app.scim_base,
        );
        Ok(shown(full, schema::user(), params))
    }

    /// A listed user carries no `groups`: reading every user's memberships would cost
    /// a query per user.
    async fn page(
        call: &ScimCall,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Value>), ApiError> {
        let (app, caller) = (&call.app, &call.caller);
        let query = store_query(params, start_index, app.max_page_size);
        let page = app.provisioner.list_users(caller, &query).await?;
        let resources = page
            .items
            .into_iter()
            .map(|u| shown(rendered(caller, u, &app.scim_base), schema::user(), params))
            .collect();
        Ok((page.total, resources))
    }
}
