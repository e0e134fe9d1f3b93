//! Records and queries the cases build, so each case reads as what it checks.
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use scim_bridge::scim::filter::{parse_attr_path, parse_filter};
use scim_bridge::store::{
    GroupRecord, Job, JobState, Lease, ListPage, ListQuery, Meta, QueueFilter, Store, StoreError,
    UpstreamLink, UserRecord,
};
use serde_json::{json, Value};

pub const TENANT: &str = "acme";
pub const OTHER: &str = "globex";
/// The process the suite claims jobs and deprovisions as.
pub const OWNER: &str = "suite";
/// The suite's claims: a minute each.
pub const OWN_LEASE: Lease<'static> = Lease {
    owner: OWNER,
    term: std::time::Duration::from_secs(60),
};

/// Now, at the database's precision (microseconds), so records compare equal after a
/// round trip.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A fixed instant `minutes` after 2024-01-01, for lastModified comparisons.
pub fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("fixed date")
        .to_utc()
        + Duration::minutes(minutes)
}

/// A core `kind` (User, Group) resource naming itself `name` in `name_attr`, merged with
/// `extra`.
fn resource(kind: &str, name_attr: &str, name: &str, extra: Value) -> Value {
    let mut resource = json!({
        "schemas": [format!("urn:ietf:params:scim:schemas:core:2.0:{kind}")],
        name_attr: name,
    });
    if let (Some(obj), Value::Object(more)) = (resource.as_object_mut(), extra) {
        obj.extend(more);
    }
    resource
}

/// A user whose resource is `{"userName": name}` merged with `extra`.
pub fn user(id: &str, name: &str, extra: Value) -> UserRecord {
    let resource = resource("User", "userName", name, extra);
    let t = now();
    UserRecord {
        id: id.into(),
        resource,
        meta: Meta::first(t),
        link: UpstreamLink {
            upstream_username: name.into(),
            ..UpstreamLink::default()
        },
    }
}

/// A group whose resource is `{"displayName": name}` merged with `extra`.
pub fn group(id: &str, name: &str, extra: Value) -> GroupRecord {
    let resource = resource("Group", "displayName", name, extra);
    let t = now();
    GroupRecord {
        id: id.into(),
        resource,
        version: 1,
        created: t,
        last_modified: t,
    }
}

/// The next version of a group, as a PUT would write it.
pub fn next_group(g: &GroupRecord, name: &str) -> GroupRecord {
    let mut next = g.clone();
    next.version += 1;
    next.resource["displayName"] = json!(name);
    next.last_modified = now();
    next
}

pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Inserts `record` into `tenant`, which must succeed.
pub async fn insert_user(store: &Arc<dyn Store>, tenant: &str, record: UserRecord) {
    store.insert_user(tenant, &record).await.unwrap();
}

/// Inserts `record` with the members `list` into `tenant`, which must succeed.
pub async fn insert_group(
    store: &Arc<dyn Store>,
    tenant: &str,
    record: GroupRecord,
    list: &[&str],
) {
    store
        .insert_group(tenant, &record, &ids(list))
        .await
        .unwrap();
}

/// Enqueues a sync job for each of the users `list` of `tenant`; returns how many it
/// enqueued.
pub async fn enqueue(store: &Arc<dyn Store>, tenant: &str, list: &[&str]) -> u64 {
    store.enqueue_user_syncs(tenant, &ids(list)).await.unwrap()
}

/// Inserts plain users `ids` (userName = id) into `tenant`.
pub async fn users(store: &Arc<dyn Store>, tenant: &str, list: &[&str]) {
    for id in list {
        insert_user(
            store,
            tenant,
            user(id, &format!("{id}@example.com"), json!({})),
        )
        .await;
    }
}

pub fn query(filter: Option<&str>, start_index: u64, count: u64) -> ListQuery {
    ListQuery::page(filter.map(|f| parse_filter(f).unwrap()), start_index, count)
}

pub fn filtered(filter: &str) -> ListQuery {
    query(Some(filter), 1, 100)
}

pub fn sorted(filter: Option<&str>, sort_by: &str, descending: bool) -> ListQuery {
    let mut q = query(filter, 1, 100);
    q.sort_by = Some(parse_attr_path(sort_by).unwrap());
    q.descending = descending;
    q
}

/// Asserts, case by case, that listing the tenant's users with `filter` gives exactly
/// the ids `want`.
pub async fn assert_user_filters(store: &Arc<dyn Store>, cases: &[(&str, &[&str])]) {
    for (filter, want) in cases {
        assert_eq!(
            user_ids(store, TENANT, &filtered(filter)).await,
            *want,
            "{filter}"
        );
    }
}

/// [`assert_user_filters`] for the tenant's groups.
pub async fn assert_group_filters(store: &Arc<dyn Store>, cases: &[(&str, &[&str])]) {
    for (filter, want) in cases {
        assert_eq!(
            group_ids(store, TENANT, &filtered(filter)).await,
            *want,
            "{filter}"
        );
    }
}

/// The page of the tenant's users that `q` asks for.
pub async fn user_page(store: &Arc<dyn Store>, q: &ListQuery) -> ListPage<UserRecord> {
    store.list_users(TENANT, q).await.unwrap()
}

/// The page of the tenant's groups that `q` asks for.
pub async fn group_page(store: &Arc<dyn Store>, q: &ListQuery) -> ListPage<GroupRecord> {
    store.list_groups(TENANT, q).await.unwrap()
}

pub async fn user_ids(store: &Arc<dyn Store>, tenant: &str, q: &ListQuery) -> Vec<String> {
    let page = store.list_users(tenant, q).await.unwrap();
    page.items.into_iter().map(|u| u.id).collect()
}

pub async fn group_ids(store: &Arc<dyn Store>, tenant: &str, q: &ListQuery) -> Vec<String> {
    let page = store.list_groups(tenant, q).await.unwrap();
    page.items.into_iter().map(|g| g.id).collect()
}

/// The users with a job in `state`, sorted.
pub async fn users_with_jobs(store: &Arc<dyn Store>, state: JobState) -> Vec<String> {
    let mut users: Vec<String> = store
        .list_jobs(QueueFilter::of(TENANT, 100_000).in_state(state))
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.request.user_id)
        .collect();
    users.sort();
    users
}

/// Claims and completes every due job, so a case can look at what a change enqueues.
pub async fn drain(store: &Arc<dyn Store>) {
    loop {
        let jobs = store.claim_jobs(OWN_LEASE, 1000).await.unwrap();
        if jobs.is_empty() {
            return;
        }
        for job in &jobs {
            store.complete_job(job).await.unwrap();
        }
    }
}

pub async fn all_jobs(store: &Arc<dyn Store>) -> Vec<Job> {
    store.list_jobs(QueueFilter::all(100_000)).await.unwrap()
}

pub fn conflict_field(result: Result<(), StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(field)) => field,
        other => panic!("expected a Conflict, got {other:?}"),
    }
}
