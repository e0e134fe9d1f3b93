//! `/Groups`: which provisioner call each method is, and how a group renders (members
//! only when the answer shows them). The handler shape is `resource.rs`'s.
use async_trait::async_trait;
use serde_json::Value;

use super::error::ApiError;
use super::list::store_query;
use super::resource::{ScimResource, Write};
use super::AppState;
use crate::provision::groups::GroupView;
use crate::provision::render::render_group;
use crate::provision::Caller;
use crate::scim::filter::AttrPath;
use crate::scim::params::ListParams;
use crate::scim::{projection, schema};

pub struct Groups;

fn names_members(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("members")
}

/// Whether the answer shows members: not when excluded, nor when `attributes` lists
/// others only. Skipping them spares reading a 10,000-row membership.
fn wants_members(params: &ListParams) -> bool {
    if params
        .excluded_attributes
        .iter()
        .any(|p| names_members(p) && p.sub_attr.is_none())
    {
        return false;
    }
    params.attributes.is_empty() || params.attributes.iter().any(names_members)
}

fn render(app: &AppState, view: &GroupView, params: &ListParams) -> Value {
    let full = render_group(view, &app.scim_base);
    projection::project(
        full,
        schema::group(),
        &params.attributes,
        &params.excluded_attributes,
    )
}

#[async_trait]
impl ScimResource for Groups {
    type Loaded = GroupView;
    const ENDPOINT: &'static str = "Groups";

    fn id(view: &GroupView) -> &str {
        &view.group.id
    }

    fn version(view: &GroupView) -> i64 {
        view.group.version
    }

    async fn create(app: &AppState, caller: &Caller, body: Value) -> Result<GroupView, ApiError> {
        Ok(app.provisioner.create_group(caller, body).await?)
    }

    async fn get(
        app: &AppState,
        caller: &Caller,
        id: &str,
        params: &ListParams,
    ) -> Result<GroupView, ApiError> {
        Ok(app
            .provisioner
            .get_group(caller, id, wants_members(params))
            .await?)
    }

    async fn write(
        app: &AppState,
        caller: &Caller,
        id: &str,
        how: Write,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<GroupView, ApiError> {
        let provisioner = &app.provisioner;
        Ok(match how {
            Write::Replace => {
                provisioner
                    .replace_group(caller, id, body, if_match)
                    .await?
            }
            Write::Patch => provisioner.patch_group(caller, id, body, if_match).await?,
        })
    }

    async fn delete(
        app: &AppState,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError> {
        Ok(app.provisioner.delete_group(caller, id, if_match).await?)
    }

    async fn render(
        app: &AppState,
        _: &Caller,
        view: GroupView,
        params: &ListParams,
    ) -> Result<Value, ApiError> {
        Ok(render(app, &view, params))
    }

    async fn page(
        app: &AppState,
        caller: &Caller,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Value>), ApiError> {
        let query = store_query(params, start_index, app.max_page_size);
        let (total, views) = app
            .provisioner
            .list_groups(caller, &query, wants_members(params))
            .await?;
        Ok((
            total,
            views.iter().map(|v| render(app, v, params)).collect(),
        ))
    }
}
