//! Users, create intents, the audit log and upstream links.
use std::sync::Arc;

use chrono::Duration;
use scim_bridge::store::{
    AuditEntry, CreateIntent, Prior, Store, StoreError, SyncState, UpstreamLink,
};
use serde_json::json;

use super::support::*;

pub async fn user_insert_get_update_delete(store: Arc<dyn Store>) {
    let u = user(
        "u-1",
        "Jane@Example.com",
        json!({"name": {"givenName": "Jane"}}),
    );
    store.insert_user(TENANT, &u).await.unwrap();
    assert_eq!(
        store.get_user(TENANT, "u-1").await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(store.get_user(TENANT, "nope").await.unwrap(), None);

    let mut v2 = u.clone();
    v2.meta.version = 2;
    v2.resource["name"]["givenName"] = json!("Janet");
    v2.meta.last_modified = u.meta.last_modified + Duration::seconds(5);
    store.update_user(TENANT, &v2).await.unwrap();
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored, v2);
    assert_eq!(stored.meta.created, u.meta.created, "created never changes");

    // Written against version 1 again: someone else got there first.
    let mut stale = u.clone();
    stale.meta.version = 2;
    stale.resource["name"]["givenName"] = json!("Lost");
    assert!(matches!(
        store.update_user(TENANT, &stale).await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(
        store.get_user(TENANT, "u-1").await.unwrap(),
        Some(v2.clone())
    );

    let mut ghost = user("ghost", "ghost", json!({}));
    ghost.meta.version = 2;
    assert!(matches!(
        store.update_user(TENANT, &ghost).await,
        Err(StoreError::NotFound)
    ));

    assert!(store.delete_user(TENANT, "u-1").await.unwrap());
    assert_eq!(store.get_user(TENANT, "u-1").await.unwrap(), None);
    assert!(!store.delete_user(TENANT, "u-1").await.unwrap());
    // The userName is free again.
    insert_user(&store, TENANT, user("u-2", "jane@example.com", json!({}))).await;
}

/// Five users with distinct indexed and unindexed attributes.
async fn five_users(store: &Arc<dyn Store>) {
    let people = [
        ("u-1", "alice@x.com", "Alice", "Engineer", "ext-1", 0),
        ("u-2", "Bob@X.com", "Bob", "Manager", "ext-2", 10),
        ("u-3", "carol", "Carol", "Engineer", "ext-3", 20),
        ("u-4", "dave@y.org", "Dave", "Designer", "ext-4", 30),
        ("u-5", "EVE", "Eve", "engineering lead", "ext-5", 40),
    ];
    for (id, name, given, title, ext, minutes) in people {
        let mut u = user(
            id,
            name,
            json!({
                "externalId": ext,
                "title": title,
                "name": {"givenName": given, "familyName": format!("{given}son")},
                "emails": [{"value": format!("{given}.Work@Y.org"), "type": "work"}],
            }),
        );
        u.meta.created = at(minutes);
        u.meta.last_modified = at(minutes);
        store.insert_user(TENANT, &u).await.unwrap();
    }
}

pub async fn list_users_pages_and_filters(store: Arc<dyn Store>) {
    five_users(&store).await;

    // Paging in the default order (by id), with the total of every page.
    let page = user_page(&store, &query(None, 1, 2)).await;
    assert_eq!(page.total, 5);
    assert_eq!(
        page.items.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u-1", "u-2"]
    );
    let page = user_page(&store, &query(None, 3, 2)).await;
    assert_eq!(page.total, 5);
    assert_eq!(
        page.items.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u-3", "u-4"]
    );
    let page = user_page(&store, &query(None, 5, 10)).await;
    assert_eq!((page.total, page.items.len()), (5, 1));
    let page = user_page(&store, &query(None, 9, 10)).await;
    assert_eq!((page.total, page.items.len()), (5, 0));
    let page = user_page(&store, &query(None, 1, 0)).await;
    assert_eq!((page.total, page.items.len()), (5, 0));

    // Indexed filters, answered in SQL.
    assert_user_filters(
        &store,
        &[
            (r#"userName eq "BOB@x.com""#, &["u-2"]),
            (r#"userName eq "eve""#, &["u-5"]),
            (r#"emails.value eq "carol.work@y.ORG""#, &["u-3"]),
            (r#"externalId eq "ext-4""#, &["u-4"]),
            (r#"externalId eq "EXT-4""#, &[]), // externalId is case-exact
            (
                r#"meta.lastModified gt "2024-01-01T00:15:00Z""#,
                &["u-3", "u-4", "u-5"],
            ),
            (
                r#"meta.lastModified ge "2024-01-01T01:20:00+01:00""#,
                &["u-3", "u-4", "u-5"],
            ), // offsets are normalised
            (
                r#"userName eq "carol" or externalId eq "ext-1""#,
                &["u-1", "u-3"],
            ),
        ],
    )
    .await;
    assert_eq!(
        user_ids(&store, TENANT, &filtered(r#"not (userName eq "carol")"#))
            .await
            .len(),
        4
    );

    // Filters SQL cannot answer: evaluated in memory, same answers.
    assert_user_filters(
        &store,
        &[
            (r#"title co "engineer""#, &["u-1", "u-3", "u-5"]),
            (r#"name.givenName eq "carol""#, &["u-3"]),
            (r#"userName sw "a" and title co "Engineer""#, &["u-1"]),
            (r#"externalId eq "ext-3" and title co "Engineer""#, &["u-3"]),
        ],
    )
    .await;
    // Paging over the in-memory path keeps the total of all matches.
    let page = user_page(&store, &query(Some(r#"title co "engineer""#), 2, 1)).await;
    assert_eq!(page.total, 3);
    assert_eq!(page.items[0].id, "u-3");
    // No match.
    let page = user_page(&store, &filtered(r#"userName eq "nobody""#)).await;
    assert_eq!((page.total, page.items.len()), (0, 0));
}

pub async fn list_users_sorts(store: Arc<dyn Store>) {
    five_users(&store).await;
    // No externalId: sorts last ascending, first descending.
    insert_user(&store, TENANT, user("u-0", "zed", json!({}))).await;

    // userName sorts case-insensitively.
    let ascending = ["u-1", "u-2", "u-3", "u-4", "u-5", "u-0"];
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "userName", false)).await,
        ascending
    );
    let mut descending = ascending;
    descending.reverse();
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "userName", true)).await,
        descending
    );
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "externalId", false)).await,
        ["u-1", "u-2", "u-3", "u-4", "u-5", "u-0"]
    );
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "externalId", true)).await,
        ["u-0", "u-5", "u-4", "u-3", "u-2", "u-1"]
    );
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "meta.lastModified", true))
            .await
            .first()
            .map(String::as_str),
        Some("u-0"),
        "u-0 was written last"
    );
    // Sorting combines with a filter and with paging.
    let mut q = sorted(Some(r#"title eq "Engineer""#), "userName", true);
    q.count = 1;
    let page = store.list_users(TENANT, &q).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, "u-3");
    // An attribute without a column sorts in memory.
    assert_eq!(
        user_ids(&store, TENANT, &sorted(None, "name.familyName", false)).await,
        ["u-1", "u-2", "u-3", "u-4", "u-5", "u-0"]
    );
    assert_eq!(
        user_ids(
            &store,
            TENANT,
            &sorted(Some(r#"title co "engineer""#), "name.givenName", true)
        )
        .await,
        ["u-5", "u-3", "u-1"]
    );
}

pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    let mut a = user("u-1", "shared@x.com", json!({"externalId": "e"}));
    a.link.upstream_id = Some("bw-1".into());
    store.insert_user(TENANT, &a).await.unwrap();
    put_intent(&store, "shared@x.com", "u-1").await;
    store.append_audit(&audit(TENANT, "create")).await.unwrap();

    assert_eq!(store.get_user(OTHER, "u-1").await.unwrap(), None);
    let page = store.list_users(OTHER, &query(None, 1, 10)).await.unwrap();
    assert_eq!((page.total, page.items.len()), (0, 0));
    assert!(
        user_ids(&store, OTHER, &filtered(r#"userName eq "shared@x.com""#))
            .await
            .is_empty()
    );
    assert!(
        user_ids(&store, OTHER, &filtered(r#"title pr or userName pr"#))
            .await
            .is_empty()
    );
    assert_eq!(
        store.user_id_by_upstream(OTHER, "bw-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.user_id_by_upstream(TENANT, "bw-1").await.unwrap(),
        Some("u-1".into())
    );
    assert_eq!(
        store.create_intent(OTHER, "shared@x.com").await.unwrap(),
        None
    );
    assert!(store.list_audit(OTHER, 10).await.unwrap().is_empty());
    assert!(store
        .existing_users(OTHER, &ids(&["u-1"]))
        .await
        .unwrap()
        .is_empty());
    assert!(store.user_groups(OTHER, "u-1").await.unwrap().is_empty());
    let mut v2 = a.clone();
    v2.meta.version = 2;
    assert!(matches!(
        store.update_user(OTHER, &v2).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store.delete_user(OTHER, "u-1").await.unwrap());
    // The same ids and names in the other tenant are independent.
    insert_user(
        &store,
        OTHER,
        user("u-1", "shared@x.com", json!({"externalId": "e"})),
    )
    .await;
    assert!(store.delete_user(OTHER, "u-1").await.unwrap());
    assert!(store.get_user(TENANT, "u-1").await.unwrap().is_some());
}

fn audit(tenant: &str, action: &str) -> AuditEntry {
    AuditEntry {
        at: now(),
        tenant: tenant.into(),
        actor: "token-1".into(),
        resource_type: "User".into(),
        resource_id: "u-1".into(),
        action: action.into(),
        outcome: "ok".into(),
        detail: json!({"action": action, "n": [1, 2]}),
    }
}

/// Records that a create of `name` is under way as `id`.
async fn put_intent(store: &Arc<dyn Store>, name: &str, id: &str) {
    let intent = CreateIntent::now(name, id);
    store.put_create_intent(TENANT, &intent).await.unwrap();
}

pub async fn create_intents_put_get_clear(store: Arc<dyn Store>) {
    assert_eq!(store.create_intent(TENANT, "jane").await.unwrap(), None);
    put_intent(&store, "Jane", "id-1").await;
    assert_eq!(
        store.create_intent(TENANT, "JANE").await.unwrap(),
        Some("id-1".into()),
        "looked up case-insensitively"
    );
    // A second attempt under a new id replaces the first.
    put_intent(&store, "jane", "id-2").await;
    assert_eq!(
        store.create_intent(TENANT, "jane").await.unwrap(),
        Some("id-2".into())
    );
    put_intent(&store, "other", "id-3").await;
    store.clear_create_intent(TENANT, "jAnE").await.unwrap();
    assert_eq!(store.create_intent(TENANT, "jane").await.unwrap(), None);
    assert_eq!(
        store.create_intent(TENANT, "other").await.unwrap(),
        Some("id-3".into())
    );
    // Clearing what is not there is fine.
    store.clear_create_intent(TENANT, "jane").await.unwrap();
}

pub async fn audit_lists_newest_first(store: Arc<dyn Store>) {
    for action in ["create", "update", "delete"] {
        store.append_audit(&audit(TENANT, action)).await.unwrap();
    }
    store.append_audit(&audit(OTHER, "create")).await.unwrap();
    let entries = store.list_audit(TENANT, 2).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["delete", "update"]
    );
    let first = &entries[0];
    let expected = audit(TENANT, "delete");
    assert_eq!(first.tenant, TENANT);
    assert_eq!(first.actor, expected.actor);
    assert_eq!(first.resource_type, "User");
    assert_eq!(first.resource_id, "u-1");
    assert_eq!(first.outcome, "ok");
    assert_eq!(first.detail, expected.detail);
    assert_eq!(store.list_audit(TENANT, 10).await.unwrap().len(), 3);
}

pub async fn user_link_update_keeps_version(store: Arc<dyn Store>) {
    let u = user("u-1", "jane", json!({}));
    store.insert_user(TENANT, &u).await.unwrap();
    let link = UpstreamLink {
        upstream_id: Some("bw-42".into()),
        upstream_username: "jane".into(),
        roles: vec!["Admin".into(), "Viewer".into()],
        account_scope: Default::default(),
        accounts: vec!["9900".into()],
        sync_state: SyncState::Failed,
        last_error: Some("upstream said no".into()),
        last_synced_at: Some(now()),
        prior: Prior::default(),
    };
    store.update_user_link(TENANT, "u-1", &link).await.unwrap();
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored.link, link);
    assert_eq!(stored.meta.version, 1, "the ETag stays");
    assert_eq!(stored.resource, u.resource);
    assert_eq!(stored.meta.last_modified, u.meta.last_modified);
    assert_eq!(
        store.user_id_by_upstream(TENANT, "bw-42").await.unwrap(),
        Some("u-1".into())
    );
    // An update written on top of the unchanged version still succeeds.
    let mut v2 = stored.clone();
    v2.meta.version = 2;
    store.update_user(TENANT, &v2).await.unwrap();
    assert!(matches!(
        store.update_user_link(TENANT, "ghost", &link).await,
        Err(StoreError::NotFound)
    ));
}

/// What a deprovision took (a scope, an extension) survives the link rewrites of later
/// syncs and of IdP updates, in a list as in a point read, until it is replaced.
pub async fn prior_access_is_kept_apart_from_the_link(store: Arc<dyn Store>) {
    let u = user("u-1", "jane", json!({}));
    store.insert_user(TENANT, &u).await.unwrap();
    let prior = Prior {
        roles: vec!["Office Manager".into()],
        upstream_id: Some("2042".into()),
    };
    store.remember_prior(TENANT, "u-1", &prior).await.unwrap();
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored.link.prior, prior);
    // A sync's link write and an IdP update leave it alone.
    let link = UpstreamLink {
        upstream_id: Some("2042".into()),
        roles: vec!["No Portal".into()],
        ..UpstreamLink::default()
    };
    store.update_user_link(TENANT, "u-1", &link).await.unwrap();
    let mut v2 = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    v2.meta.version = 2;
    v2.link.prior = Prior::default();
    store.update_user(TENANT, &v2).await.unwrap();
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored.link.prior, prior);
    assert_eq!(stored.link.roles, ["No Portal"]);
    let listed = store
        .list_users(TENANT, &scim_bridge::store::ListQuery::page(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(listed.items[0].link.prior, prior);
    // Replaced as a whole; empty roles read back as none.
    let freed = Prior {
        roles: vec![],
        upstream_id: Some("2043".into()),
    };
    store.remember_prior(TENANT, "u-1", &freed).await.unwrap();
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored.link.prior, freed);
    assert!(matches!(
        store.remember_prior(TENANT, "ghost", &prior).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.remember_prior(OTHER, "u-1", &prior).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn existing_users_picks_the_tenants_users(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    users(&store, OTHER, &["u-4"]).await;
    let mut found = store
        .existing_users(TENANT, &ids(&["u-3", "u-4", "nope", "u-1"]))
        .await
        .unwrap();
    found.sort();
    assert_eq!(found, ["u-1", "u-3"]);
    assert!(store.existing_users(TENANT, &[]).await.unwrap().is_empty());
}

/// Replicas writing the same version of one user at once: exactly one wins.
pub async fn concurrent_updates_of_one_version_serialise(store: Arc<dyn Store>) {
    let u = user("u-1", "jane", json!({"title": "v1"}));
    store.insert_user(TENANT, &u).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let mut next = u.clone();
        next.meta.version = 2;
        next.resource["title"] = json!(format!("writer {w}"));
        writers.push(tokio::spawn(async move {
            (w, store.update_user(TENANT, &next).await)
        }));
    }
    let mut winners = Vec::new();
    for w in writers {
        match w.await.unwrap() {
            (w, Ok(())) => winners.push(w),
            (_, Err(StoreError::VersionMismatch)) => {}
            (_, Err(e)) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let stored = store.get_user(TENANT, "u-1").await.unwrap().unwrap();
    assert_eq!(stored.meta.version, 2);
    assert_eq!(
        stored.resource["title"],
        json!(format!("writer {}", winners[0]))
    );
}

/// The lookups IdPs send before each write (id, userName, externalId equality) see every
/// commit at once, also on SQLite where they run on their own read connections.
pub async fn point_lookups_see_every_commit(store: Arc<dyn Store>) {
    let lookup = |filter: String| {
        let store = store.clone();
        async move { user_ids(&store, TENANT, &filtered(&filter)).await }
    };
    let mut u = user("p-1", "Point@Example.com", json!({"externalId": "ext-p1"}));
    for round in 0..20 {
        let name = format!("point{round}@example.com");
        let ext = format!("ext-p{round}");
        if round == 0 {
            u.resource["userName"] = json!(name);
            u.resource["externalId"] = json!(ext);
            store.insert_user(TENANT, &u).await.unwrap();
        } else {
            let mut next = u.clone();
            next.meta.version += 1;
            next.resource["userName"] = json!(name);
            next.resource["externalId"] = json!(ext);
            store.update_user(TENANT, &next).await.unwrap();
            u = next;
            let old = format!("point{}@example.com", round - 1);
            assert!(lookup(format!("userName eq \"{old}\"")).await.is_empty());
        }
        // userName is caseExact=false; externalId and id are caseExact.
        let upper = name.to_uppercase();
        assert_eq!(
            lookup(format!("userName eq \"{upper}\"")).await,
            ids(&["p-1"])
        );
        assert_eq!(
            lookup(format!("externalId eq \"{ext}\"")).await,
            ids(&["p-1"])
        );
        assert!(lookup(format!("externalId eq \"{}\"", ext.to_uppercase()))
            .await
            .is_empty());
        assert_eq!(lookup("id eq \"p-1\"".into()).await, ids(&["p-1"]));
        let stored = store.get_user(TENANT, "p-1").await.unwrap().unwrap();
        assert_eq!(stored.meta.version, u.meta.version, "round {round}");
        let total_only = store
            .list_users(
                TENANT,
                &query(Some(&format!("userName eq \"{name}\"")), 1, 0),
            )
            .await
            .unwrap();
        assert_eq!((total_only.total, total_only.items.len()), (1, 0));
    }
    // Another tenant's lookups never see it.
    assert!(user_ids(&store, "other", &filtered("id eq \"p-1\""))
        .await
        .is_empty());
    assert!(store.delete_user(TENANT, "p-1").await.unwrap());
    assert!(lookup("id eq \"p-1\"".into()).await.is_empty());
    assert_eq!(store.get_user(TENANT, "p-1").await.unwrap(), None);
}
