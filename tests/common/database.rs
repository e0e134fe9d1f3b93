//! The database a harness runs on: SQLite in a temporary directory, or a fresh schema
//! on the PostgreSQL server `SCIM_BRIDGE_TEST_POSTGRES_URL` names when
//! `SCIM_BRIDGE_TEST_BACKEND=postgres`.

use super::sqlite_url;

pub const BACKEND_VAR: &str = "SCIM_BRIDGE_TEST_BACKEND";
pub const POSTGRES_URL_VAR: &str = "SCIM_BRIDGE_TEST_POSTGRES_URL";

/// The database of one harness, removed when it drops.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl TestDatabase {
    /// SQLite in a temporary directory, or a fresh PostgreSQL schema when
    /// `SCIM_BRIDGE_TEST_BACKEND=postgres` (then the server must answer).
    pub async fn from_env() -> TestDatabase {
        match std::env::var(BACKEND_VAR).as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
            Ok("postgres") => {
                let url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
                    panic!("{BACKEND_VAR}=postgres needs {POSTGRES_URL_VAR} (a server URL)")
                });
                TestDatabase::Postgres(PgSchema::create(&url, "it").await)
            }
            Ok(other) => panic!("{BACKEND_VAR}={other:?}: use sqlite or postgres"),
        }
    }

    /// The URL the bridge's configuration gets.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => sqlite_url(dir.path()),
            TestDatabase::Postgres(schema) => schema.url.clone(),
        }
    }
}

/// A fresh schema on a PostgreSQL server. `url` selects it through the connection's
/// `search_path` and names the connections after it (`application_name`), so that the
/// drop can end them: a bridge still running in the test's runtime keeps its pool, and
/// a current-thread runtime blocked in `drop` could not let it finish a transaction
/// that `DROP SCHEMA` would wait for.
pub struct PgSchema {
    pub server_url: String,
    pub schema: String,
    pub url: String,
}

impl PgSchema {
    pub async fn create(server_url: &str, prefix: &str) -> PgSchema {
        let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        scim_bridge::store::postgres::PostgresStore::create_schema(server_url, &schema)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {server_url} ({POSTGRES_URL_VAR}) is unusable: {e}")
            });
        let sep = if server_url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{server_url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
        );
        PgSchema {
            server_url: server_url.to_string(),
            schema,
            url,
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (server_url, schema) = (self.server_url.clone(), self.schema.clone());
        // Drop cannot await, and may run inside the test's runtime: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&server_url).await?;
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&mut conn)
                    .await?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await?;
                    Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
                })
                .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.schema),
            Err(_) => eprintln!("could not drop test schema {}", self.schema),
        }
    }
}
