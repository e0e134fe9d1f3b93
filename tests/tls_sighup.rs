//! HTTPS served by the bridge itself: SIGHUP reloads the certificate (in a binary of its
//! own, so the signal cannot be what makes tests/tls.rs pass).
mod common;
mod tls_support;

use tls_support::{new_certificate, serving_a_new_certificate, until_served};

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    // Handled by this process from here on, so a SIGHUP can never end the test binary.
    let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A poll far longer than the test: only the signal can make it reload.
    let (addr, _sim, _db, _) = serving_a_new_certificate(dir.path(), 3600).await;
    let (second_pem, second_der) = new_certificate(dir.path());
    let pid = std::process::id().to_string();
    until_served(addr, &second_pem, &second_der, || {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    })
    .await;
}
