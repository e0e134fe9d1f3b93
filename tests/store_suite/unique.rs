//! Unique indexes of users: each refusal is a `Conflict` naming what is taken, on both
//! databases (PostgreSQL names the index, SQLite lists its columns).
use std::sync::Arc;

use scim_bridge::store::{Store, UpstreamLink};
use serde_json::json;

use super::support::*;

pub async fn user_name_and_external_id_are_unique(store: Arc<dyn Store>) {
    insert_user(
        &store,
        TENANT,
        user("u-1", "Alice@X.com", json!({"externalId": "ext-1"})),
    )
    .await;
    let taken_name = store
        .insert_user(TENANT, &user("u-2", "aLiCe@x.COM", json!({})))
        .await;
    assert_eq!(conflict_field(taken_name), "userName");
    let taken_external = store
        .insert_user(TENANT, &user("u-2", "bob", json!({"externalId": "ext-1"})))
        .await;
    assert_eq!(conflict_field(taken_external), "externalId");
    // externalId is case-exact.
    insert_user(
        &store,
        TENANT,
        user("u-2", "bob", json!({"externalId": "EXT-1"})),
    )
    .await;
    // Renaming into a taken userName is refused too, and changes nothing.
    let mut rename = store.get_user(TENANT, "u-2").await.unwrap().unwrap();
    rename.meta.version += 1;
    rename.resource["userName"] = json!("ALICE@x.com");
    assert_eq!(
        conflict_field(store.update_user(TENANT, &rename).await),
        "userName"
    );
    let bob = store.get_user(TENANT, "u-2").await.unwrap().unwrap();
    assert_eq!(bob.meta.version, 1);
    assert_eq!(bob.resource["userName"], "bob");
    // Another tenant has its own namespace.
    insert_user(
        &store,
        OTHER,
        user("u-9", "alice@x.com", json!({"externalId": "ext-1"})),
    )
    .await;
}

pub async fn one_upstream_user_links_one_scim_user(store: Arc<dyn Store>) {
    let linked = |id: &str, name: &str| {
        let mut u = user(id, name, json!({}));
        u.link.upstream_id = Some("bw-1".into());
        u
    };
    store
        .insert_user(TENANT, &linked("u-1", "alice"))
        .await
        .unwrap();
    let twice = store.insert_user(TENANT, &linked("u-2", "bob")).await;
    assert_eq!(conflict_field(twice), "the upstream user");
    assert!(store.get_user(TENANT, "u-2").await.unwrap().is_none());
    // Linking an existing user to it is refused the same way, and changes nothing.
    insert_user(&store, TENANT, user("u-2", "bob", json!({}))).await;
    let link = UpstreamLink {
        upstream_id: Some("bw-1".into()),
        ..UpstreamLink::default()
    };
    assert_eq!(
        conflict_field(store.update_user_link(TENANT, "u-2", &link).await),
        "the upstream user"
    );
    let bob = store.get_user(TENANT, "u-2").await.unwrap().unwrap();
    assert_eq!(bob.link.upstream_id, None);
    // Another tenant links its own users.
    store
        .insert_user(OTHER, &linked("u-1", "alice"))
        .await
        .unwrap();
}
