//! Fills a store with synthetic users for benchmarks: `seed DATABASE_URL TENANT COUNT`.
//! Writes through the store (not the SCIM API) so that 100,000 users take seconds, not
//! the upstream's rate limit.
use chrono::Utc;
use scim_bridge::store::{self, SyncState, UpstreamLink, UserRecord};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, tenant, count] = args.as_slice() else {
        return Err("usage: seed DATABASE_URL TENANT COUNT".into());
    };
    let count: usize = count.parse()?;
    let store = store::open(url, 4).await?;
    let started = std::time::Instant::now();
    for i in 0..count {
        let username = format!("user{i}@example.com");
        let now = Utc::now();
        let user = UserRecord {
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
        };
        store.insert_user(tenant, &user).await?;
    }
    eprintln!(
        "seeded {count} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
