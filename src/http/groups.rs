//! `/Groups`: which provisioner call each method is, and how a group renders (members
//! only when the answer shows them). The handler shape is `resource.rs`'s.
use async_trait::async_trait;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::ApiError;
use super::extract::ScimCall;
use super::list::store_query;
use super::resource::{json_text, shown, Change, ScimResource};
use super::AppState;
use crate::provision::groups::GroupView;
use crate::provision::render::render_group;
use crate::scim::filter::AttrPath;
use crate::scim::params::ListParams;
use crate::scim::schema;

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

fn render(
    app: &AppState,
    view: &GroupView,
    params: &ListParams,
) -> Result<Box<RawValue>, ApiError> {
    json_text(&shown(
        render_group(view, &app.scim_base),
        schema::group(),
        params,
    ))
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

    async fn create(call: &ScimCall, body: Value) -> Result<GroupView, ApiError> {
        Ok(call
            .app
            .provisioner
            .create_group(&call.caller, body)
            .await?)
    }

    async fn get(call: &ScimCall, id: &str, params: &ListParams) -> Result<GroupView, ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        Ok(provisioner
            .get_group(caller, id, wants_members(params))
            .await?)
    }

    async fn write(call: &ScimCall, id: &str, change: Change<'_>) -> Result<GroupView, ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        Ok(provisioner.write_group(caller, id, change).await?)
    }

    async fn delete(call: &ScimCall, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let (provisioner, caller) = (&call.app.provisioner, &call.caller);
        Ok(provisioner.delete_group(caller, id, if_match).await?)
    }

    async fn render(
        call: &ScimCall,
        view: GroupView,
        params: &ListParams,
    ) -> Result<Box<RawValue>, ApiError> {
        render(&call.app, &view, params)
    }

    async fn page(
        call: &ScimCall,
        params: &ListParams,
        start_index: u64,
    ) -> Result<(u64, Vec<Box<RawValue>>), ApiError> {
        let app = &call.app;
        let query = store_query(params, start_index, app.max_page_size);
        let (total, views) = app
            .provisioner
            .list_groups(&call.caller, &query, wants_members(params))
            .await?;
        let rendered = views.iter().map(|v| render(app, v, params));
        Ok((total, rendered.collect::<Result<_, _>>()?))
    }
}
