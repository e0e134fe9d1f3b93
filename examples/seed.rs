//! Fills a store with synthetic users for benchmarks: `seed DATABASE_URL TENANT COUNT`.
//! Writes through the store (not the SCIM API) so that 100,000 users take seconds, not
//! the upstream's rate limit; several inserts are in flight at once, because on
//! PostgreSQL each is a transaction waiting for its commit.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use scim_bridge::store::{self, SyncState, UpstreamLink, UserRecord};
use serde_json::json;

const IN_FLIGHT: usize = 16;

fn seeded_user(i: usize) -> UserRecord {
    let username = format!("user{i}@example.com");
    let now = Utc::now();
    UserRecord {
        // Predictable ids, so `bench/by_id.lua` can ask for random existing users.
        id: format!("5eed0000-0000-4000-8000-{i:012}"),
        resource: json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": username,
            "externalId": format!("ext-{i}"),
            "name": {"givenName": "Bench", "familyName": format!("User{i}")},
            "emails": [{"value": username, "type": "work", "primary": true}],
            "active": true
        }),
        version: 1,
        created: now,
        last_modified: now,
        link: UpstreamLink {
            upstream_id: Some(format!("bench-{i}")),
            upstream_username: username.clone(),
            roles: vec!["basicAccess".into()],
            sync_state: SyncState::Synced,
            last_synced_at: Some(now),
            ..UpstreamLink::default()
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, tenant, count] = args.as_slice() else {
        return Err("usage: seed DATABASE_URL TENANT COUNT".into());
    };
    let count: usize = count.parse()?;
    let store = store::open(url, IN_FLIGHT as u32).await?;
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (store, next, tenant) = (store.clone(), next.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, store::StoreError>(());
                }
                store.insert_user(&tenant, &seeded_user(i)).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    eprintln!(
        "seeded {count} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
