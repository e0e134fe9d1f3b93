//! What the TLS tests share: certificates made at test time, a bridge serving HTTPS
//! with them, and a client that reports the certificate it was shown. Each test is in a
//! binary of its own, so a SIGHUP sent by one cannot reload the other's certificate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::database::TestDatabase;
use crate::common::{config_toml, start_sim, Options, TOKEN};
use bandwidth_sim::SimConfig;
use scim_bridge::config::{Config, TlsConfig};

/// Writes a fresh self-signed certificate for `localhost` and its key into `dir`
/// (each file replaced whole by a rename); returns the certificate's PEM and DER.
pub fn new_certificate(dir: &Path) -> (String, Vec<u8>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    for (name, text) in [
        ("key.pem", key_pair.serialize_pem()),
        ("cert.pem", cert.pem()),
    ] {
        let staged = dir.join(format!("{name}.new"));
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, dir.join(name)).unwrap();
    }
    (cert.pem(), cert.der().to_vec())
}

/// The certificate the bridge presents, to a client that trusts only `trusted_pem`.
pub async fn served_certificate(addr: SocketAddr, trusted_pem: &str) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(trusted_pem.as_bytes()).unwrap())
        .tls_info(true)
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{}/scim/v2/Users", addr.port()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "no peer certificate".to_string())
}

/// Writes a fresh certificate into `dir`, starts the bridge serving it (reloading every
/// `poll_secs`) and checks that it does; returns the address, what must live as long as
/// the test, and the certificate (PEM, DER).
pub async fn serving_a_new_certificate(
    dir: &Path,
    poll_secs: u64,
) -> (SocketAddr, impl Drop, TestDatabase, (String, Vec<u8>)) {
    let (pem, der) = new_certificate(dir);
    let (addr, sim, db) = start(dir, poll_secs).await;
    assert_eq!(served_certificate(addr, &pem).await.unwrap(), der);
    (addr, sim, db, (pem, der))
}

/// Starts the simulator and the bridge on HTTPS; returns the bridge's address and what
/// must live as long as the test.
pub async fn start(dir: &Path, poll_secs: u64) -> (SocketAddr, impl Drop, TestDatabase) {
    let sim = start_sim(SimConfig::default()).await;
    let db = TestDatabase::from_env().await;
    let config = Config::from_toml_str(&config_toml(
        &Options::default(),
        &sim.base_url(),
        &db.url(),
    ))
    .unwrap();
    let state = scim_bridge::app::build(&config).await.unwrap();
    let tls = TlsConfig {
        cert_path: dir.join("cert.pem"),
        key_path: dir.join("key.pem"),
        reload_poll_secs: poll_secs,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { scim_bridge::app::serve_tls(state, listener, &tls).await });
    (addr, SimGuard(sim), db)
}

pub struct SimGuard(bandwidth_sim::SimHandle);

impl Drop for SimGuard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// Waits until the bridge serves `expected` to a client trusting `pem`, running `nudge`
/// between tries; fails after 15 s with the last answer.
pub async fn until_served(addr: SocketAddr, pem: &str, expected: &[u8], nudge: impl Fn()) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = served_certificate(addr, pem).await;
        if got.as_deref() == Ok(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served: {:?}",
            got.map(|_| "the old certificate")
        );
        nudge();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
