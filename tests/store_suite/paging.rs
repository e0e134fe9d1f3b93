//! Reading a whole directory page by page (`startIndex` 1, 1 + count, ...), as Okta and
//! Entra do: the same rows as one big page when nothing changes, and, while other rows
//! are inserted and deleted, every row that existed for the whole read exactly once.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use scim_bridge::store::{ListQuery, Store};
use serde_json::json;

use super::support::*;

/// The id of every user in `q`'s order, read in pages of `count` from `startIndex` 1 on,
/// calling `between` after each page (inserts and deletes). Stops at the first empty
/// page, or after 1,000 pages (a read that never ends is as wrong as a skipped row).
async fn read_pages(
    store: &Arc<dyn Store>,
    q: &ListQuery,
    count: u64,
    mut between: impl FnMut(usize) -> Vec<(bool, String)>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut start = 1;
    for page_number in 0..1000 {
        let mut page_query = q.clone();
        page_query.start_index = start;
        page_query.count = count;
        let page = store.list_users(TENANT, &page_query).await.unwrap();
        if page.items.is_empty() {
            break;
        }
        start += page.items.len() as u64;
        seen.extend(page.items.into_iter().map(|u| u.id));
        for (insert, id) in between(page_number) {
            if insert {
                let u = user(&id, &format!("{id}@example.com"), json!({}));
                store.insert_user(TENANT, &u).await.unwrap();
            } else {
                store.delete_user(TENANT, &id).await.unwrap();
            }
        }
    }
    seen
}

/// The orders a listing can have in SQL (by id, by a column both ways, a column some
/// users lack), each with and without a filter.
fn orders() -> Vec<ListQuery> {
    let mut orders = vec![query(None, 1, 1000)];
    for (attr, descending) in [
        ("userName", false),
        ("userName", true),
        ("externalId", false),
        ("externalId", true),
    ] {
        orders.push(sorted(None, attr, descending));
        orders.push(sorted(Some(r#"userName gt "t""#), attr, descending));
    }
    orders.push(query(Some(r#"userName gt "t""#), 1, 1000));
    orders
}

/// 30 users `u-00`..`u-29`, every third without an externalId, some sharing one.
async fn thirty_users(store: &Arc<dyn Store>) {
    for n in 0..30 {
        let id = format!("u-{n:02}");
        let extra = match n % 3 {
            0 => json!({}),
            1 => json!({"externalId": format!("ext-{}", 29 - n)}),
            _ => json!({"externalId": format!("shared-{n}")}),
        };
        let u = user(&id, &format!("{id}@example.com"), extra);
        store.insert_user(TENANT, &u).await.unwrap();
    }
}

pub async fn paging_reads_what_one_page_reads(store: Arc<dyn Store>) {
    thirty_users(&store).await;
    for q in orders() {
        let whole = user_ids(&store, TENANT, &q).await;
        assert_eq!(whole.len(), 30);
        for count in [1, 4, 7, 30] {
            let paged = read_pages(&store, &q, count, |_| vec![]).await;
            assert_eq!(paged, whole, "pages of {count} of {q:?}");
        }
        // A client that jumps (or another that starts over) gets the same pages.
        for (start, count) in [(9, 5), (1, 5), (6, 5), (29, 5), (31, 5), (3, 30)] {
            let mut page_query = q.clone();
            page_query.start_index = start;
            page_query.count = count;
            let page = store.list_users(TENANT, &page_query).await.unwrap();
            assert_eq!(page.total, 30);
            let from = usize::try_from(start - 1).unwrap().min(30);
            let to = (from + usize::try_from(count).unwrap()).min(30);
            let ids: Vec<String> = page.items.into_iter().map(|u| u.id).collect();
            assert_eq!(ids, whole[from..to], "start {start} count {count} of {q:?}");
        }
    }
}

/// Each id at most once, and every id of `stable` exactly once.
fn assert_each_once(seen: &[String], stable: &[String], what: &str) {
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in seen {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let repeated: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "{what}: repeated {repeated:?}");
    let skipped: Vec<_> = stable
        .iter()
        .filter(|id| !times.contains_key(id.as_str()))
        .collect();
    assert!(skipped.is_empty(), "{what}: skipped {skipped:?}");
}

pub async fn paging_past_inserts_and_deletes_skips_and_repeats_nothing(store: Arc<dyn Store>) {
    thirty_users(&store).await;
    let stable: Vec<String> = (0..30).map(|n| format!("u-{n:02}")).collect();
    for (round, q) in orders().into_iter().enumerate() {
        // Users that sort before every stable one (`a-`) and after (`z-`): deleting one
        // before the read position shifts every later row back (OFFSET would skip one),
        // inserting one there shifts them on (OFFSET would repeat one).
        let doomed: Vec<String> = (0..6).map(|n| format!("a-{round}-{n}")).collect();
        users(
            &store,
            TENANT,
            &doomed.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        let seen = read_pages(&store, &q, 4, |page| match page {
            0..=2 => vec![
                (false, doomed[page * 2].clone()),
                (false, doomed[page * 2 + 1].clone()),
            ],
            3..=8 => vec![
                (true, format!("a-{round}-new-{page}")),
                (true, format!("z-{round}-new-{page}")),
            ],
            _ => vec![],
        })
        .await;
        assert_each_once(&seen, &stable, &format!("{q:?}"));
        for id in (3..=8).flat_map(|p| [format!("a-{round}-new-{p}"), format!("z-{round}-new-{p}")])
        {
            store.delete_user(TENANT, &id).await.unwrap();
        }
    }
}

pub async fn paging_while_another_task_writes(store: Arc<dyn Store>) {
    thirty_users(&store).await;
    let stable: Vec<String> = (0..30).map(|n| format!("u-{n:02}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // Churn before, between and after the stable users, in every order.
                for prefix in ["a", "u-15x", "z"] {
                    let id = format!("{prefix}-{n}");
                    let u = user(&id, &format!("{id}@example.com"), json!({"externalId": id}));
                    store.insert_user(TENANT, &u).await.unwrap();
                    if n >= 2 {
                        let old = format!("{prefix}-{}", n - 2);
                        store.delete_user(TENANT, &old).await.unwrap();
                    }
                }
                n += 1;
                tokio::task::yield_now().await;
            }
        })
    };
    for q in orders() {
        for _ in 0..3 {
            let seen = read_pages(&store, &q, 3, |_| vec![]).await;
            assert_each_once(&seen, &stable, &format!("{q:?}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
}

/// Every page's total is the count at the time of that page: a count remembered from an
/// earlier page of the listing is never answered after an insert or a delete. The
/// writes go through the store's pool, other connections than the one whose change
/// marker the list reads, as another replica's writes would.
pub async fn paging_totals_follow_inserts_and_deletes(store: Arc<dyn Store>) {
    thirty_users(&store).await;
    for q in [
        query(None, 1, 4),
        sorted(Some(r#"userName gt "t""#), "userName", true),
    ] {
        let mut expected = 30u64;
        let mut extra = 0;
        for (page_number, start) in (1..=30).step_by(4).enumerate() {
            let mut page_query = q.clone();
            page_query.start_index = start;
            page_query.count = 4;
            let page = store.list_users(TENANT, &page_query).await.unwrap();
            assert_eq!(page.total, expected, "page {page_number} of {q:?}");
            // Page again with nothing written in between: the same total.
            let again = store.list_users(TENANT, &page_query).await.unwrap();
            assert_eq!(again.total, expected, "page {page_number} again of {q:?}");
            match page_number % 3 {
                0 => {
                    let id = format!("v-{extra}");
                    let u = user(&id, &format!("{id}@example.com"), json!({}));
                    store.insert_user(TENANT, &u).await.unwrap();
                    extra += 1;
                    expected += 1;
                }
                1 => {
                    store
                        .delete_user(TENANT, &format!("v-{}", extra - 1))
                        .await
                        .unwrap();
                    expected -= 1;
                }
                _ => {}
            }
        }
    }
}
