//! Users as the console shows them: a search, and one user with everything the bridge
//! knows about it and, on demand, what the upstream has right now.
use serde_json::Value;

use super::{Admin, AdminError, AdminService, Result};
use crate::provision::render::render_user;
use crate::scim::filter::parse_filter;
use crate::scim::schema::BRIDGE_USER_SCHEMA;
use crate::store::{AuditEntry, AuditQuery, GroupRef, Job, ListQuery, QueueFilter, UserRecord};
use crate::upstream::UpstreamUser;

/// A row of the users list.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: String,
    pub user_name: String,
    pub external_id: String,
    pub active: bool,
    pub sync_state: &'static str,
    pub last_error: String,
}

impl UserSummary {
    fn of(user: &UserRecord) -> Self {
        let text = |key: &str| user.resource[key].as_str().unwrap_or_default().to_string();
        Self {
            id: user.id.clone(),
            user_name: text("userName"),
            external_id: text("externalId"),
            active: user.resource["active"].as_bool().unwrap_or(true),
            sync_state: user.link.sync_state.as_str(),
            last_error: user.link.last_error.clone().unwrap_or_default(),
        }
    }
}

/// One user's page.
#[derive(Debug, Clone)]
pub struct UserDetail {
    pub tenant: String,
    pub summary: UserSummary,
    /// What the IdP wrote (the SCIM resource without the bridge's extension).
    pub scim: Value,
    /// The bridge's extension: what it last saw and did upstream.
    pub bridge: Value,
    pub groups: Vec<GroupRef>,
    pub jobs: Vec<Job>,
    pub audit: Vec<AuditEntry>,
    /// The live upstream read, when asked for: `Ok(None)` = no such upstream user.
    pub live: Option<std::result::Result<Option<UpstreamUser>, String>>,
}

/// `text` as a quoted SCIM filter string.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Jobs read to find one user's (a user has at most a few).
const JOBS_SCANNED: u32 = 10_000;

impl AdminService {
    /// Users of the tenant whose userName contains `search` or whose externalId is
    /// `search` (all when empty), by id; page `start` is 1-based.
    pub async fn search_users(
        &self,
        admin: &Admin,
        tenant: &str,
        search: &str,
        start: u64,
        count: u64,
    ) -> Result<(u64, Vec<UserSummary>)> {
        let tenant = self.tenant(admin, tenant)?;
        let search = search.trim();
        let filter = if search.is_empty() {
            None
        } else {
            let q = quoted(search);
            Some(
                parse_filter(&format!("userName co {q} or externalId eq {q}"))
                    .map_err(|e| AdminError::Invalid(e.to_string()))?,
            )
        };
        let page = self
            .provisioner
            .store
            .list_users(
                &tenant.name,
                &ListQuery::page(filter, start.max(1), count.clamp(1, 200)),
            )
            .await?;
        Ok((page.total, page.items.iter().map(UserSummary::of).collect()))
    }

    /// Everything about one user; `live` also reads the upstream user now.
    pub async fn user_detail(
        &self,
        admin: &Admin,
        tenant: &str,
        id: &str,
        live: bool,
    ) -> Result<UserDetail> {
        let tenant = self.tenant(admin, tenant)?;
        let store = &self.provisioner.store;
        let user = store.get_user(&tenant.name, id).await?.ok_or_else(|| {
            AdminError::NotFound(format!("no user {id:?} in tenant {}", tenant.name))
        })?;
        let mut scim = render_user(&user, "");
        let bridge = scim
            .as_object_mut()
            .and_then(|o| o.remove(BRIDGE_USER_SCHEMA))
            .unwrap_or(Value::Null);
        let jobs = store
            .list_jobs(QueueFilter::of(&tenant.name, JOBS_SCANNED))
            .await?
            .into_iter()
            .filter(|j| j.user_id == user.id)
            .collect();
        let audit = store
            .search_audit(&AuditQuery {
                tenants: Some(vec![tenant.name.clone()]),
                resource_id: Some(user.id.clone()),
                limit: 50,
                ..AuditQuery::default()
            })
            .await?
            .items;
        let live = if live {
            Some(match &user.link.upstream_id {
                Some(upstream_id) => tenant
                    .target
                    .get_user(upstream_id)
                    .await
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            })
        } else {
            None
        };
        Ok(UserDetail {
            tenant: tenant.name.clone(),
            summary: UserSummary::of(&user),
            scim,
            bridge,
            groups: store.user_groups(&tenant.name, &user.id).await?,
            jobs,
            audit,
            live,
        })
    }
}
