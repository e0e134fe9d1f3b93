//! `seed --upstream CONFIG TENANT COUNT`: the same users in the tenant's upstream, a
//! bandwidth-sim, so that a reconcile of a seeded store has a directory to compare with.
//!
//! The template user is mapped and created through the bridge's own code: the SCIM
//! create's mapping and access ([`Provisioner::desired_on_create`]) and the tenant's
//! target adapter, which writes it with the API's real wire form. So the upstream copies
//! are what the bridge would have written for the seeded users, and a reconcile finds no
//! drift unless the bridge's writing and comparing disagree. The simulator then copies
//! that user COUNT times (`POST /_sim/users/bulk`) with the ids the store's links name.
use std::path::Path;

use scim_bridge::config::Config;
use scim_bridge::provision::mapping::map_user;
use scim_bridge::provision::Provisioner;
use serde_json::{json, Value};

use super::{seeded_user, BoxError, MARK, TEMPLATE_ID};

pub async fn seed(config: &str, tenant: &str, count: usize) -> Result<(), BoxError> {
    let config = Config::load(Path::new(config))?;
    let settings = config
        .tenants
        .get(tenant)
        .ok_or_else(|| format!("no tenant {tenant} in the configuration"))?;
    let base = settings
        .target()
        .ok_or("the tenant has no target")?
        .endpoint()
        .to_string();
    let tenant = scim_bridge::app::build_tenant(tenant, settings)?;
    let template = seeded_user(MARK, TEMPLATE_ID.into());
    let ids = template
        .link
        .upstream_id
        .clone()
        .ok_or("the seeded link has no upstream id")?;
    let mapped = map_user(
        &template.resource,
        &template.link.upstream_username,
        tenant.target.user_rules(),
    )
    .map_err(|e| e.detail)?;
    let desired = Provisioner::desired_on_create(&tenant, &template.resource, &mapped)
        .ok_or("the tenant keeps no upstream user for the seeded user")?;
    let created = tenant.target.create_user(&desired).await?;

    let http = reqwest::Client::new();
    let body = json!({"templateId": created.id, "ids": ids, "marker": MARK, "count": count});
    let resp = http
        .post(format!("{base}/_sim/users/bulk"))
        .json(&body)
        .send()
        .await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        return Err(format!("the bulk seed was refused ({status}): {answer}").into());
    }
    // The template itself would be an orphan.
    http.delete(format!("{base}/_sim/users/{}", created.id))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
