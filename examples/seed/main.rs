//! Fills a store with synthetic users for benchmarks: `seed DATABASE_URL TENANT COUNT`;
//! `seed --upstream CONFIG TENANT COUNT` puts the same users in the tenant's upstream
//! (a bandwidth-sim, see `upstream.rs`).
//!
//! One user is written through the store (so its row is exactly what the bridge writes);
//! the database then copies that template `COUNT` times in batched `INSERT ... SELECT`
//! statements inside one transaction, replacing a marker with each user's number. A
//! million users take seconds this way; one store insert (one transaction) per user took
//! minutes on PostgreSQL, where each commit waits for the WAL.
use chrono::Utc;
use scim_bridge::store::{self, Meta, SyncState, UpstreamLink, UserRecord};
use serde_json::json;
use sqlx::{Database, Encode, Executor, IntoArguments, PgPool, Pool, SqlitePool, Type};

mod upstream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Stands for the user's number in every text column of the template row.
const MARK: &str = "#n#";
const TEMPLATE_ID: &str = "5eed-template";
/// Seeded ids are `5eed0000-0000-4000-8000-` and the number in 12 digits, so that
/// `bench/by_id.lua` can ask for random existing users.
const ID_PREFIX: &str = "5eed0000-0000-4000-8000-";
/// The columns of `users` that hold the user's number (all others are copied as-is).
const NUMBERED: &[&str] = &[
    "user_name",
    "user_name_fold",
    "external_id",
    "display_name_fold",
    "resource",
    "link",
    "upstream_id",
];
const BATCH: usize = 100_000;

fn seeded_user(i: &str, id: String) -> UserRecord {
    let username = format!("user{i}@example.com");
    let now = Utc::now();
    UserRecord {
        id,
        resource: json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": username,
            "externalId": format!("ext-{i}"),
            "name": {"givenName": "Bench", "familyName": format!("User{i}")},
            "emails": [{"value": username, "type": "work", "primary": true}],
            "active": true
        }),
        meta: Meta::first(now),
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

/// How each database spells the user's number as text and as 12 zero-padded digits.
struct Dialect {
    text: &'static str,
    padded: &'static str,
}

const SQLITE: Dialect = Dialect {
    text: "CAST(s.i AS TEXT)",
    padded: "substr('000000000000' || s.i, -12)",
};
const POSTGRES: Dialect = Dialect {
    text: "s.i::text",
    padded: "lpad(s.i::text, 12, '0')",
};

/// The statements that copy the template to users `lo..hi` (`$1` is the tenant).
fn copy_batch(dialect: &Dialect, columns: &[String], lo: usize, hi: usize) -> [String; 2] {
    let numbers = format!(
        "WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {hi})"
    );
    let id = format!("'{ID_PREFIX}' || {}", dialect.padded);
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "id" => id.clone(),
            c if NUMBERED.contains(&c) => format!("replace(t.{c}, '{MARK}', {})", dialect.text),
            c => format!("t.{c}"),
        })
        .collect();
    [
        format!(
            "{numbers} INSERT INTO users ({}) SELECT {} FROM users t, s \
             WHERE t.tenant = $1 AND t.id = '{TEMPLATE_ID}'",
            columns.join(", "),
            exprs.join(", ")
        ),
        format!(
            "{numbers} INSERT INTO user_emails (tenant, user_id, value_fold) \
             SELECT e.tenant, {id}, replace(e.value_fold, '{MARK}', {}) FROM user_emails e, s \
             WHERE e.tenant = $1 AND e.user_id = '{TEMPLATE_ID}'",
            dialect.text
        ),
    ]
}

/// Every statement of the seeding transaction: the copies, then the template's removal.
fn statements(dialect: &Dialect, columns: &[String], count: usize) -> Vec<String> {
    let mut all: Vec<String> = (0..count)
        .step_by(BATCH)
        .flat_map(|lo| copy_batch(dialect, columns, lo, (lo + BATCH).min(count)))
        .collect();
    all.push(format!(
        "DELETE FROM user_emails WHERE tenant = $1 AND user_id = '{TEMPLATE_ID}'"
    ));
    all.push(format!(
        "DELETE FROM users WHERE tenant = $1 AND id = '{TEMPLATE_ID}'"
    ));
    all
}

/// Runs `statements`, each bound to `tenant`, in one transaction.
async fn run_all<DB>(pool: &Pool<DB>, statements: Vec<String>, tenant: &str) -> Result<(), BoxError>
where
    DB: Database,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut tx = pool.begin().await?;
    for sql in statements {
        sqlx::query(&sql).bind(tenant).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let started = std::time::Instant::now();
    match args.as_slice() {
        [_, flag, config, tenant, count] if flag == "--upstream" => {
            let count: usize = count.parse()?;
            upstream::seed(config, tenant, count).await?;
            eprintln!(
                "seeded {count} upstream users in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        [_, url, tenant, count] => seed_store(url, tenant, count.parse()?, started).await,
        _ => Err(
            "usage: seed DATABASE_URL TENANT COUNT | seed --upstream CONFIG TENANT COUNT".into(),
        ),
    }
}

async fn seed_store(
    url: &str,
    tenant: &str,
    count: usize,
    started: std::time::Instant,
) -> Result<(), BoxError> {
    let store = store::open(url, 1).await?;
    store
        .insert_user(tenant, &seeded_user(MARK, TEMPLATE_ID.into()))
        .await?;
    drop(store);
    if url.starts_with("sqlite:") {
        let pool = SqlitePool::connect(url).await?;
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('users') ORDER BY cid")
                .fetch_all(&pool)
                .await?;
        run_all(&pool, statements(&SQLITE, &columns, count), tenant).await?;
    } else {
        let pool = PgPool::connect(url).await?;
        // Generated and defaulted-by-sequence columns are the database's to fill.
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'users' \
               AND is_generated = 'NEVER' AND is_identity = 'NO' \
               AND coalesce(column_default, '') NOT LIKE 'nextval(%' \
             ORDER BY ordinal_position",
        )
        .fetch_all(&pool)
        .await?;
        run_all(&pool, statements(&POSTGRES, &columns, count), tenant).await?;
    }
    eprintln!(
        "seeded {count} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
