//! The one store test suite: every case runs against SQLite (a file in a temporary
//! directory) and against PostgreSQL when `SCIM_BRIDGE_TEST_POSTGRES_URL` is set (CI sets
//! it to `postgres://postgres@127.0.0.1:5432/test`). Each PostgreSQL case gets a fresh
//! schema, dropped afterwards, so cases run in parallel on one server.
//!
//! With the variable set, an unreachable server fails the PostgreSQL cases; without it,
//! they print that they were skipped. `cargo test --test store_suite sqlite::` or
//! `postgres::` runs one backend.
mod store_suite {
    pub mod admin;
    pub mod deprovisions;
    pub mod groups;
    pub mod jobs;
    pub mod paging;
    pub mod support;
    pub mod unique;
    pub mod users;
}

use std::future::Future;
use std::io::Write;
use std::sync::Arc;

use scim_bridge::store::postgres::PostgresStore;
use scim_bridge::store::{self, Store};

const POSTGRES_URL_VAR: &str = "SCIM_BRIDGE_TEST_POSTGRES_URL";

/// Runs `case` on a fresh SQLite database.
async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("suite.db").display());
    let store = store::open(&url, 4).await.expect("open SQLite");
    case(store).await;
}

/// Runs `case` on a fresh schema of the PostgreSQL server the environment names, and
/// drops the schema afterwards, also when the case panics (the panic is re-raised).
async fn on_postgres<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "skipped postgres::{name}: {POSTGRES_URL_VAR} is not set"
        );
        return;
    };
    let schema = format!("suite_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::open_in_schema(&url, &schema, 8)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} ({POSTGRES_URL_VAR}) is unusable: {e}"));
    let pool = store.pool().clone();
    let outcome = tokio::spawn(case(Arc::new(store))).await;
    pool.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// One `#[tokio::test]` per case and backend: `sqlite::<case>` and `postgres::<case>`.
macro_rules! suite {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::on_sqlite(crate::store_suite::$module::$case).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::on_postgres(stringify!($case), crate::store_suite::$module::$case).await
                }
            )*
        }
    };
}

suite! {
    users::user_insert_get_update_delete,
    unique::user_name_and_external_id_are_unique,
    unique::one_upstream_user_links_one_scim_user,
    users::list_users_pages_and_filters,
    users::list_users_sorts,
    users::tenants_are_isolated,
    users::create_intents_put_get_clear,
    users::audit_lists_newest_first,
    users::user_link_update_keeps_version,
    users::prior_access_is_kept_apart_from_the_link,
    users::existing_users_picks_the_tenants_users,
    users::concurrent_updates_of_one_version_serialise,
    users::point_lookups_see_every_commit,
    paging::paging_reads_what_one_page_reads,
    paging::paging_past_inserts_and_deletes_skips_and_repeats_nothing,
    paging::paging_while_another_task_writes,
    paging::paging_totals_follow_inserts_and_deletes,
    groups::insert_group_with_members_enqueues_each,
    groups::group_display_name_and_external_id_are_unique,
    groups::update_group_diffs_members,
    groups::update_group_version_check,
    groups::resync_all_enqueues_old_and_new_members,
    groups::delete_group_enqueues_former_members,
    groups::members_and_user_groups_are_ordered,
    groups::list_groups_filters,
    groups::deleting_a_user_removes_its_memberships_and_jobs,
    groups::large_group_membership_changes,
    jobs::enqueue_coalesces,
    jobs::claim_marks_running_with_a_lease,
    jobs::expired_lease_is_claimed_again,
    jobs::own_leases_are_renewed_and_given_back,
    jobs::complete_removes_the_job_and_older_failed_ones,
    jobs::retry_returns_to_pending_later,
    jobs::retry_is_dropped_when_another_job_is_pending,
    jobs::fail_and_requeue,
    jobs::list_jobs_filters,
    jobs::count_jobs_by_tenant_and_state,
    jobs::concurrent_claimers_never_share_a_job,
    jobs::concurrent_enqueues_coalesce,
    deprovisions::guard_holds_after_the_limit,
    deprovisions::a_window_that_has_passed_does_not_count,
    deprovisions::approve_claim_and_finish,
    deprovisions::an_expired_lease_is_claimed_again,
    deprovisions::concurrent_admissions_share_one_limit,
    admin::audit_search_filters_and_pages,
    admin::reject_removes_only_held_deprovisions,
    admin::the_outbox_deduplicates_claims_and_retries,
}
