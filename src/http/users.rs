//! `/Users`: which provisioner call each method is, and how a user renders (with its
//! `groups` computed from memberships). The handler shape is `resource.rs`'s.
use async_trait::async_trait;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::ApiError;
use super::extract::ScimCall;
use super::list::store_query;
use super::resource::{json_text, shown, Change, ScimResource};
use crate::provision::render::UserDocument;
use crate::provision::Caller;
use crate::scim::params::ListParams;
use crate::scim::{projection, schema};
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

/// A user as its tenant's IdP reads it, projected to `params`: written straight from
/// its record when projection would change nothing (the IdPs' lookups name no
/// attributes, and a plain user loses nothing to projection), else through a `Value`
/// that the projection edits. A tenant that honours direct assignments sees the access
/// a user inherits beside them.
fn rendered(
    caller: &Caller,
    user: &UserRecord,
    groups: Option<&[GroupRef]>,
    base: &str,
    params: &ListParams,
) -> Result<Box<RawValue>, ApiError> {
    let mut document = UserDocument::new(user, base);
    if let Some(groups) = groups {
        document = document.with_groups(groups);
    }
    if caller.tenant.direct_assignments {
        document = document.with_inherited_access();
    }
    let as_rendered = params.attributes.is_empty()
        && params.excluded_attributes.is_empty()
        && document
            .stored()
            .is_some_and(|stored| projection::unchanged_by_default(stored, schema::user()));
    if as_rendered {
        return json_text(&document);
    }
    json_text(&shown(document.to_value(), schema::user(), params))
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
    ) -> Result<Box<RawValue>, ApiError> {
        let (app, caller) = (&call.app, &call.caller);
        let UserView { user, groups } = view;
        let groups = match groups {
            Some(groups) => groups,
            None => app.provisioner.user_groups(caller, &user.id).await?,
        };
        rendered(caller, &user, Some(&groups), &app.scim_base, params)
    }

    /// A listed user carries no `groups`: reading every user's memberships would cost
    /// a query per user.
    async fn page(
        call: &ScimCall,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Box<RawValue>>), ApiError> {
        let (app, caller) = (&call.app, &call.caller);
        let query = store_query(params, start_index, app.max_page_size);
        let page = app.provisioner.list_users(caller, &query).await?;
        let resources = page
            .items
            .iter()
            .map(|u| rendered(caller, u, None, &app.scim_base, params))
            .collect::<Result<_, _>>()?;
        Ok((page.total, resources))
    }
}
