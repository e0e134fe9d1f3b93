//! HTTPS served by the bridge itself: a self-signed certificate made at test time is
//! served, and a replacement file is picked up by the poll, without a restart.
mod common;
mod tls_support;

use tls_support::{new_certificate, served_certificate, serving_a_new_certificate, until_served};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_reloads_a_changed_certificate_file() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _sim, _db, (first_pem, first_der)) = serving_a_new_certificate(dir.path(), 1).await;
    // Plain HTTP on the HTTPS port gets no SCIM answer.
    let plain = reqwest::get(format!("http://{addr}/healthz")).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    let (second_pem, second_der) = new_certificate(dir.path());
    assert_ne!(first_der, second_der);
    until_served(addr, &second_pem, &second_der, || {}).await;
    assert!(
        served_certificate(addr, &first_pem).await.is_err(),
        "a client trusting only the old certificate is refused now"
    );
}
