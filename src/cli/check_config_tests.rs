use super::*;

fn tenant_with_token(sha256: &str) -> TenantConfig {
    let text = format!(
        "[tenants.t]\ntokens = [{{ id = \"okta\", sha256 = \"{sha256}\" }}]\n\
         [tenants.t.target]\nkind = \"bandwidth\"\nbase_url = \"http://x\"\naccount_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    );
    let mut config = Config::from_toml_str(&text).unwrap();
    config.tenants.remove("t").unwrap()
}

#[test]
fn placeholder_token_hashes_are_refused() {
    for placeholder in [
        "0".repeat(64),
        "f".repeat(64),
        "A".repeat(64),
        EMPTY_SHA256.into(),
    ] {
        let problems = placeholder_credentials("t", &tenant_with_token(&placeholder));
        assert_eq!(problems.len(), 1, "{placeholder}");
        assert!(problems[0].contains("placeholder"), "{}", problems[0]);
        assert!(
            problems[0].contains("scim-bridge token new"),
            "{}",
            problems[0]
        );
    }
    let (_, real) = crate::http::auth::new_token();
    assert!(placeholder_credentials("t", &tenant_with_token(&real)).is_empty());
}

#[test]
fn sqlite_urls_name_their_file() {
    assert_eq!(sqlite_path("//rel.db"), Some(PathBuf::from("rel.db")));
    assert_eq!(
        sqlite_path("///var/lib/x/b.db?mode=rwc"),
        Some(PathBuf::from("/var/lib/x/b.db"))
    );
    assert_eq!(sqlite_path("b.db"), Some(PathBuf::from("b.db")));
    assert_eq!(sqlite_path(":memory:"), None);
}

#[tokio::test]
async fn a_missing_sqlite_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let url = format!("sqlite://{}", missing.join("bridge.db").display());
    let report = check_database(&url).await;
    let problem = report.problem.expect("a missing directory is a problem");
    assert!(
        problem.contains(&missing.display().to_string()),
        "{problem}"
    );
    assert!(problem.contains("does not exist"), "{problem}");
}

#[tokio::test]
async fn a_writable_sqlite_directory_passes_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let report = check_database(&url).await;
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_sqlite_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    // root writes anywhere, so the check has nothing to find there.
    let probe = tempfile::tempfile_in(dir.path());
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let report = check_database(&url).await;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if probe.is_err() {
        let problem = report.problem.expect("read-only directory");
        assert!(problem.contains("not writable"), "{problem}");
    }
}

#[tokio::test]
async fn a_relative_sqlite_path_is_explained() {
    let report = check_database("sqlite://rel-check.db").await;
    assert_eq!(report.notes.len(), 1);
    assert!(report.notes[0].contains("relative to the working directory"));
    assert!(report.notes[0].contains("sqlite:///"));
    assert!(!std::path::Path::new("rel-check.db").exists());
}

#[tokio::test]
async fn a_refused_postgres_connection_says_so_with_host_and_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let report = check_database(&format!("postgres://u:pw@127.0.0.1:{port}/db")).await;
    let problem = report.problem.expect("nothing listens there");
    assert!(
        problem.contains(&format!("connection refused at 127.0.0.1:{port}")),
        "{problem}"
    );
    assert!(!problem.contains("pw"), "{problem}");
}

#[tokio::test]
async fn an_answering_postgres_passes() {
    let Ok(url) = std::env::var("SCIM_BRIDGE_TEST_POSTGRES_URL") else {
        // Past the harness's capture, so scripts/test.sh counts the skip.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped cli::check_config::an_answering_postgres_passes: SCIM_BRIDGE_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let report = check_database(&url).await;
    assert!(report.problem.is_none(), "{:?}", report.problem);
}

#[test]
fn only_relative_sqlite_paths_get_a_note() {
    let note = relative_sqlite_note("sqlite://bridge.db").expect("relative");
    assert!(
        note.contains("bridge.db is relative to the working directory"),
        "{note}"
    );
    assert!(relative_sqlite_note("sqlite:///var/lib/x/bridge.db").is_none());
    assert!(relative_sqlite_note("sqlite::memory:").is_none());
    assert!(relative_sqlite_note("postgres://h/db").is_none());
}
