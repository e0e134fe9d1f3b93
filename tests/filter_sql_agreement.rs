//! The store answers indexed filters in SQL and the rest in memory; both must return
//! exactly the users the in-memory evaluator selects, for any filter.
use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use scim_bridge::scim::filter::{matches, parse_filter};
use scim_bridge::scim::schema;
use scim_bridge::store::{self, filter_view, ListQuery, Meta, Store, UpstreamLink, UserRecord};
use serde_json::{json, Value};

const NAMES: &[&str] = &[
    "alice@x.com",
    "Bob@X.com",
    "carol",
    "dave@y.org",
    "Eve",
    "ALICE2@x.com",
];
const VALUES: &[&str] = &[
    "alice@x.com",
    "ALICE@X.COM",
    "bob@x.com",
    "carol",
    "x",
    "",
    "Ext-1",
    "ext-1",
    "Eve",
    "zzz",
];
const ATTRS: &[&str] = &[
    "userName",
    "externalId",
    "id",
    "displayName",
    "emails.value",
    "emails",
    "title",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "meta.lastModified",
];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn base_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn users() -> Vec<UserRecord> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut resource = json!({"userName": name, "name": {"givenName": "G", "familyName": "F"}});
            if i % 2 == 0 {
                resource["externalId"] = json!(if i == 0 { "Ext-1".to_string() } else { format!("ext-1-{i}") });
            }
            if i % 3 != 2 {
                resource["displayName"] = json!(["Eve", "carol", "Zed"][i % 3]);
            }
            if i != 4 {
                resource["emails"] = json!([{"value": name.to_lowercase(), "type": "work"}, {"value": format!("{i}@alt.net")}]);
            }
            if i == 1 {
                resource["title"] = json!("x");
            }
            let at = base_time() + Duration::days(i as i64);
            UserRecord {
                id: format!("id-{i}"),
                resource,
                meta: Meta::first(at),
                link: UpstreamLink { upstream_username: name.to_string(), ..UpstreamLink::default() },
            }
        })
        .collect()
}

fn comparison() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        prop::sample::select(VALUES).prop_map(|v| format!("\"{v}\"")),
        (0i64..8).prop_map(|d| format!("\"{}\"", (base_time() + Duration::days(d)).to_rfc3339())),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("id-3".to_string()).prop_map(|v| format!("\"{v}\"")),
    ];
    prop_oneof![
        (
            prop::sample::select(ATTRS),
            prop::sample::select(OPS),
            value
        )
            .prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        prop::sample::select(ATTRS).prop_map(|a| format!("{a} pr")),
        Just("emails[type eq \"work\" and value co \"x\"]".to_string()),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    comparison().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

async fn seeded_store(dir: &tempfile::TempDir) -> std::sync::Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.path().join("agree.db").display());
    let store = store::open(&url, 2).await.unwrap();
    for user in users() {
        store.insert_user("t", &user).await.unwrap();
    }
    store
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn sql_and_memory_agree(text in filter_text()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (got, expected) = runtime.block_on(async {
            let store = seeded_store(&dir).await;
            let filter = parse_filter(&text).unwrap();
            let page = store.list_users("t", &ListQuery::page(Some(filter.clone()), 1, 100 )).await.unwrap();
            let mut got: Vec<String> = page.items.into_iter().map(|u| u.id).collect();
            got.sort();
            let mut expected: Vec<String> = users()
                .iter()
                .filter(|u| matches(&filter, &filter_view(u), schema::user()))
                .map(|u| u.id.clone())
                .collect();
            expected.sort();
            (got, expected)
        });
        prop_assert_eq!(got, expected, "filter: {}", text);
    }
}

#[tokio::test]
async fn store_is_tenant_scoped_and_counts_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(&dir).await;
    let all = store
        .list_users("t", &ListQuery::page(None, 1, 2))
        .await
        .unwrap();
    assert_eq!((all.total, all.items.len()), (NAMES.len() as u64, 2));
    let other = store
        .list_users("other", &ListQuery::page(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(other.total, 0);
    let f = parse_filter("userName eq \"ALICE@x.com\"").unwrap();
    let hit = store
        .list_users("t", &ListQuery::page(Some(f), 1, 10))
        .await
        .unwrap();
    assert_eq!(
        hit.items.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec!["id-0"]
    );
    let _: Value = hit.items[0].resource.clone();
}
