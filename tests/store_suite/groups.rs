//! Groups, member rows, and the `sync_user` jobs every membership change enqueues.
use std::sync::Arc;
use std::time::Instant;

use scim_bridge::store::{GroupRef, GroupWrite, JobState, Member, Store, StoreError};
use serde_json::json;

use super::support::*;

pub async fn insert_group_with_members_enqueues_each(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    let g = group("g-1", "Admins", json!({"externalId": "okta-g1"}));
    // A duplicate in the member list is one membership and one job.
    store
        .insert_group(TENANT, &g, &ids(&["u-2", "u-1", "u-2"]))
        .await
        .unwrap();
    assert_eq!(
        store.get_group(TENANT, "g-1").await.unwrap(),
        Some(g.clone())
    );
    assert_eq!(store.get_group(TENANT, "nope").await.unwrap(), None);
    assert_eq!(
        store
            .group_members(TENANT, "g-1")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.user_id)
            .collect::<Vec<_>>(),
        ["u-1", "u-2"]
    );
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-2"]
    );
    let jobs = all_jobs(&store).await;
    assert!(jobs
        .iter()
        .all(|j| j.tenant == TENANT && j.retry.attempts == 0 && j.retry.last_error.is_none()));

    // A group without members enqueues nothing.
    store
        .insert_group(TENANT, &group("g-2", "Empty", json!({})), &[])
        .await
        .unwrap();
    assert_eq!(all_jobs(&store).await.len(), 2);
    assert!(store.group_members(TENANT, "g-2").await.unwrap().is_empty());
}

/// Group `g-1`, "Admins" (externalId `x-1`), with its member `u-1`, in `tenant`.
async fn admins_with_u1(store: &Arc<dyn Store>, tenant: &str) {
    users(store, tenant, &["u-1"]).await;
    let admins = group("g-1", "Admins", json!({"externalId": "x-1"}));
    insert_group(store, tenant, admins, &["u-1"]).await;
}

pub async fn group_display_name_and_external_id_are_unique(store: Arc<dyn Store>) {
    admins_with_u1(&store, TENANT).await;
    drain(&store).await;
    let same_name = store
        .insert_group(TENANT, &group("g-2", "ADMINS", json!({})), &ids(&["u-1"]))
        .await;
    assert_eq!(conflict_field(same_name), "displayName");
    let same_external = store
        .insert_group(
            TENANT,
            &group("g-2", "Others", json!({"externalId": "x-1"})),
            &ids(&["u-1"]),
        )
        .await;
    assert_eq!(conflict_field(same_external), "externalId");
    // The refused writes left nothing behind: no group, no membership, no job.
    assert_eq!(store.get_group(TENANT, "g-2").await.unwrap(), None);
    assert_eq!(store.user_groups(TENANT, "u-1").await.unwrap().len(), 1);
    assert!(all_jobs(&store).await.is_empty());
    // Renaming onto a taken name is refused as well.
    store
        .insert_group(TENANT, &group("g-2", "Others", json!({})), &[])
        .await
        .unwrap();
    let g2 = store.get_group(TENANT, "g-2").await.unwrap().unwrap();
    assert_eq!(
        conflict_field(
            store
                .update_group(
                    TENANT,
                    GroupWrite::of(&next_group(&g2, "admins")).resyncing_all()
                )
                .await
        ),
        "displayName"
    );
    // Other tenants have their own names.
    admins_with_u1(&store, OTHER).await;
}

pub async fn update_group_diffs_members(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3", "u-4"]).await;
    let g = group("g-1", "Admins", json!({}));
    store
        .insert_group(TENANT, &g, &ids(&["u-1", "u-2", "u-3"]))
        .await
        .unwrap();
    drain(&store).await;

    // u-1 leaves, u-4 joins, u-2 and u-3 stay: jobs for u-1 and u-4 only.
    let v2 = next_group(&g, "Admins");
    store
        .update_group(
            TENANT,
            GroupWrite::of(&v2).with_members(&ids(&["u-4", "u-2", "u-3", "u-4"])),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_group(TENANT, "g-1").await.unwrap(),
        Some(v2.clone())
    );
    assert_eq!(member_ids(&store, "g-1").await, ["u-2", "u-3", "u-4"]);
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-4"]
    );
    drain(&store).await;

    // The group alone leaves the membership alone, and without resync enqueues nothing.
    let v3 = next_group(&v2, "Admins");
    let unchanged = GroupWrite::of(&v3);
    store.update_group(TENANT, unchanged).await.unwrap();
    assert_eq!(member_ids(&store, "g-1").await, ["u-2", "u-3", "u-4"]);
    assert!(all_jobs(&store).await.is_empty());

    // The same set again changes nothing and enqueues nothing.
    let v4 = next_group(&v3, "Admins");
    store
        .update_group(
            TENANT,
            GroupWrite::of(&v4).with_members(&ids(&["u-2", "u-3", "u-4"])),
        )
        .await
        .unwrap();
    assert!(all_jobs(&store).await.is_empty());

    // The empty set removes everyone.
    let v5 = next_group(&v4, "Admins");
    store
        .update_group(TENANT, GroupWrite::of(&v5).with_members(&[]))
        .await
        .unwrap();
    assert!(member_ids(&store, "g-1").await.is_empty());
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-2", "u-3", "u-4"]
    );
    assert!(store.user_groups(TENANT, "u-2").await.unwrap().is_empty());
}

async fn member_ids(store: &Arc<dyn Store>, group_id: &str) -> Vec<String> {
    store
        .group_members(TENANT, group_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect()
}

pub async fn update_group_version_check(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2"]).await;
    let g = group("g-1", "Admins", json!({}));
    store
        .insert_group(TENANT, &g, &ids(&["u-1"]))
        .await
        .unwrap();
    drain(&store).await;
    let v2 = next_group(&g, "Admins v2");
    store
        .update_group(TENANT, GroupWrite::of(&v2))
        .await
        .unwrap();

    // Written against version 1 again: refused, and the membership change with it.
    let stale = next_group(&g, "Lost");
    assert!(matches!(
        store
            .update_group(
                TENANT,
                GroupWrite::of(&stale)
                    .with_members(&ids(&["u-2"]))
                    .resyncing_all()
            )
            .await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(store.get_group(TENANT, "g-1").await.unwrap(), Some(v2));
    assert_eq!(member_ids(&store, "g-1").await, ["u-1"]);
    assert!(all_jobs(&store).await.is_empty());

    let ghost = next_group(&group("ghost", "Ghost", json!({})), "Ghost");
    assert!(matches!(
        store
            .update_group(TENANT, GroupWrite::of(&ghost).with_members(&[]))
            .await,
        Err(StoreError::NotFound)
    ));
    // Another tenant's group is not found either.
    let mut elsewhere = next_group(&g, "Admins v3");
    elsewhere.version = 3;
    assert!(matches!(
        store.update_group(OTHER, GroupWrite::of(&elsewhere)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn resync_all_enqueues_old_and_new_members(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3", "u-4"]).await;
    let g = group("g-1", "Admins", json!({}));
    store
        .insert_group(TENANT, &g, &ids(&["u-1", "u-2"]))
        .await
        .unwrap();
    drain(&store).await;

    // A rename: every member is resynced.
    let v2 = next_group(&g, "Administrators");
    store
        .update_group(TENANT, GroupWrite::of(&v2).resyncing_all())
        .await
        .unwrap();
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-2"]
    );
    drain(&store).await;

    // A rename with a new member set: old and new members alike.
    let v3 = next_group(&v2, "Admins again");
    store
        .update_group(
            TENANT,
            GroupWrite::of(&v3)
                .with_members(&ids(&["u-2", "u-3"]))
                .resyncing_all(),
        )
        .await
        .unwrap();
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-2", "u-3"]
    );
    let refs = store.user_groups(TENANT, "u-3").await.unwrap();
    assert_eq!(refs[0].display_name, "Admins again");
}

pub async fn delete_group_enqueues_former_members(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    insert_group(
        &store,
        TENANT,
        group("g-1", "Admins", json!({})),
        &["u-1", "u-3"],
    )
    .await;
    insert_group(&store, TENANT, group("g-2", "Others", json!({})), &["u-2"]).await;
    drain(&store).await;

    assert!(!store.delete_group(OTHER, "g-1").await.unwrap());
    assert!(all_jobs(&store).await.is_empty());
    assert!(store.delete_group(TENANT, "g-1").await.unwrap());
    assert_eq!(store.get_group(TENANT, "g-1").await.unwrap(), None);
    assert!(member_ids(&store, "g-1").await.is_empty());
    assert!(store.user_groups(TENANT, "u-1").await.unwrap().is_empty());
    assert_eq!(
        users_with_jobs(&store, JobState::Pending).await,
        ["u-1", "u-3"]
    );
    assert!(!store.delete_group(TENANT, "g-1").await.unwrap());
    // The other group is untouched, and its name can be reused.
    assert_eq!(member_ids(&store, "g-2").await, ["u-2"]);
    store
        .insert_group(TENANT, &group("g-3", "admins", json!({})), &[])
        .await
        .unwrap();
}

pub async fn members_and_user_groups_are_ordered(store: Arc<dyn Store>) {
    // Inserted out of order; one with a displayName, one without.
    for record in [
        user("u-b", "bob@x.com", json!({"displayName": "Bob Builder"})),
        user("u-a", "alice@x.com", json!({})),
    ] {
        insert_user(&store, TENANT, record).await;
    }
    for (id, name, ext) in [
        ("g-1", "zeta", Some("z")),
        ("g-2", "Alpha", None),
        ("g-3", "beta", Some("b")),
    ] {
        let extra = ext.map_or(json!({}), |e| json!({"externalId": e}));
        insert_group(&store, TENANT, group(id, name, extra), &["u-b", "u-a"]).await;
    }
    assert_eq!(
        store.group_members(TENANT, "g-1").await.unwrap(),
        [
            Member {
                user_id: "u-a".into(),
                display: "alice@x.com".into()
            },
            Member {
                user_id: "u-b".into(),
                display: "Bob Builder".into()
            },
        ]
    );
    assert_eq!(
        store.user_groups(TENANT, "u-a").await.unwrap(),
        [
            GroupRef {
                id: "g-2".into(),
                display_name: "Alpha".into(),
                external_id: None
            },
            GroupRef {
                id: "g-3".into(),
                display_name: "beta".into(),
                external_id: Some("b".into())
            },
            GroupRef {
                id: "g-1".into(),
                display_name: "zeta".into(),
                external_id: Some("z".into())
            },
        ]
    );
    assert!(store
        .user_groups(TENANT, "nobody")
        .await
        .unwrap()
        .is_empty());

    // Read with the user (one statement), and for a page of users at once: same order.
    let of_a = store.user_groups(TENANT, "u-a").await.unwrap();
    let of_b = store.user_groups(TENANT, "u-b").await.unwrap();
    let (user, groups) = store
        .get_user_with_groups(TENANT, "u-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((user.id.as_str(), &groups), ("u-a", &of_a));
    assert_eq!(
        store.get_user_with_groups(TENANT, "nobody").await.unwrap(),
        None
    );
    let page = store
        .users_groups(TENANT, &ids(&["u-a", "u-b", "nobody"]))
        .await
        .unwrap();
    assert_eq!((page.len(), &page["u-a"], &page["u-b"]), (2, &of_a, &of_b));
}

pub async fn list_groups_filters(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2", "u-3"]).await;
    let groups = [
        ("g-1", "Admins", "x-1", vec!["u-1", "u-2"], 0),
        ("g-2", "Sales", "x-2", vec!["u-2"], 10),
        ("g-3", "Support Admins", "x-3", vec![], 20),
    ];
    for (id, name, ext, members, minutes) in groups {
        let mut g = group(id, name, json!({"externalId": ext}));
        g.created = at(minutes);
        g.last_modified = at(minutes);
        store
            .insert_group(TENANT, &g, &ids(&members))
            .await
            .unwrap();
    }

    let page = group_page(&store, &query(None, 1, 2)).await;
    assert_eq!(page.total, 3);
    assert_eq!(
        page.items.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["g-1", "g-2"]
    );
    assert_group_filters(
        &store,
        &[
            (r#"displayName eq "ADMINS""#, &["g-1"]),
            (r#"externalId eq "x-2""#, &["g-2"]),
            (r#"members[value eq "u-2"]"#, &["g-1", "g-2"]),
            (r#"members.value eq "u-1""#, &["g-1"]),
            (r#"members.value eq "u-3""#, &[]),
            (
                r#"displayName eq "sales" and members[value eq "u-2"]"#,
                &["g-2"],
            ),
            (
                r#"meta.lastModified ge "2024-01-01T00:10:00Z""#,
                &["g-2", "g-3"],
            ),
            // In memory: substring matches on the resource.
            (r#"displayName co "admins""#, &["g-1", "g-3"]),
        ],
    )
    .await;
    let page = group_page(&store, &query(Some(r#"displayName co "admins""#), 2, 5)).await;
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, "g-3");
    // Sorted by displayName, both ways.
    assert_eq!(
        group_ids(&store, TENANT, &sorted(None, "displayName", true)).await,
        ["g-3", "g-2", "g-1"]
    );
    assert_eq!(
        group_ids(&store, TENANT, &sorted(None, "displayName", false)).await,
        ["g-1", "g-2", "g-3"]
    );
    // Another tenant sees none of them.
    let page = store.list_groups(OTHER, &query(None, 1, 10)).await.unwrap();
    assert_eq!((page.total, page.items.len()), (0, 0));
    assert!(
        group_ids(&store, OTHER, &filtered(r#"members[value eq "u-2"]"#))
            .await
            .is_empty()
    );
}

pub async fn deleting_a_user_removes_its_memberships_and_jobs(store: Arc<dyn Store>) {
    users(&store, TENANT, &["u-1", "u-2"]).await;
    let g = group("g-1", "Admins", json!({}));
    store
        .insert_group(TENANT, &g, &ids(&["u-1", "u-2"]))
        .await
        .unwrap();
    // u-1 has a pending, a running and a failed job.
    let claimed = store.claim_jobs(OWN_LEASE, 10).await.unwrap();
    let first = claimed.iter().find(|j| j.user_id == "u-1").unwrap().clone();
    store.fail_job(&first, "boom").await.unwrap();
    enqueue(&store, TENANT, &["u-1"]).await;
    store.claim_jobs(OWN_LEASE, 10).await.unwrap();
    enqueue(&store, TENANT, &["u-1"]).await;
    assert_eq!(
        all_jobs(&store)
            .await
            .iter()
            .filter(|j| j.user_id == "u-1")
            .count(),
        3
    );

    assert!(store.delete_user(TENANT, "u-1").await.unwrap());
    assert!(all_jobs(&store).await.iter().all(|j| j.user_id != "u-1"));
    assert_eq!(member_ids(&store, "g-1").await, ["u-2"]);
    assert!(store.user_groups(TENANT, "u-1").await.unwrap().is_empty());
    assert_eq!(
        group_ids(&store, TENANT, &filtered(r#"members[value eq "u-1"]"#))
            .await
            .len(),
        0
    );
    // Enqueueing for a user that is gone creates no job (the trait does not say
    // whether that is an error, so either answer is accepted).
    let _ = store.enqueue_user_syncs(TENANT, &ids(&["u-1"])).await;
    assert!(all_jobs(&store).await.iter().all(|j| j.user_id != "u-1"));
    // The group still updates normally.
    store
        .update_group(
            TENANT,
            GroupWrite::of(&next_group(&g, "Admins")).with_members(&ids(&["u-2"])),
        )
        .await
        .unwrap();
}

/// A big group goes in and changes in a few statements, not one per member.
pub async fn large_group_membership_changes(store: Arc<dyn Store>) {
    const N: usize = 3000;
    let all: Vec<String> = (0..N).map(|i| format!("u-{i:05}")).collect();
    let mut writers = Vec::new();
    for chunk in all.chunks(N / 4) {
        let store = store.clone();
        let chunk = chunk.to_vec();
        writers.push(tokio::spawn(async move {
            for id in chunk {
                insert_user(&store, TENANT, user(&id, &id, json!({}))).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let g = group("g-big", "Everyone", json!({}));
    let started = Instant::now();
    store
        .insert_group(TENANT, &g, &all[..N - 500])
        .await
        .unwrap();
    let inserted = started.elapsed();
    assert_eq!(all_jobs(&store).await.len(), N - 500);
    drain(&store).await;

    // 500 leave from the front, 500 join at the back.
    let started = Instant::now();
    store
        .update_group(
            TENANT,
            GroupWrite::of(&next_group(&g, "Everyone")).with_members(&all[500..]),
        )
        .await
        .unwrap();
    let updated = started.elapsed();
    eprintln!("{N}-user group: insert {inserted:?}, update {updated:?}");
    let members = member_ids(&store, "g-big").await;
    assert_eq!(members, all[500..]);
    let expected: Vec<String> = all[..500].iter().chain(&all[N - 500..]).cloned().collect();
    assert_eq!(users_with_jobs(&store, JobState::Pending).await, expected);
    assert_eq!(
        group_ids(
            &store,
            TENANT,
            &filtered(&format!(r#"members[value eq "{}"]"#, all[N - 1]))
        )
        .await,
        ["g-big"]
    );
}
