//! HTTPS served by the bridge itself (the alternative is a TLS-terminating proxy in
//! front, see deploy/nginx.conf). rustls with the ring provider, as the upstream client
//! uses. The certificate and key are re-read on SIGHUP and whenever either file's
//! modification time or size changes, so a renewed certificate (certbot, cert-manager)
//! is served without a restart; a renewal that cannot be loaded (a half-written file)
//! keeps the previous certificate and is retried at the next poll.
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// A client that connects and never finishes its handshake is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate being served, replaceable while connections are accepted.
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

/// What identifies one version of the files on disk.
type Stamp = Option<[(SystemTime, u64); 2]>;

fn stamp(paths: [&Path; 2]) -> Stamp {
    let one = |p: &Path| {
        let meta = std::fs::metadata(p).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    Some([one(paths[0])?, one(paths[1])?])
}

fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("certificate {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate {}: no CERTIFICATE in the file",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("key {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not make a TLS identity: {e}"))?;
    // axum serves HTTP/1.1 only (its http2 feature is off).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Certificates {
    /// Loads the configured files; an error here is a start-up error.
    pub fn load(config: &TlsConfig) -> Result<Arc<Self>, String> {
        let current = load(&config.cert_path, &config.key_path)?;
        Ok(Arc::new(Self {
            cert_path: config.cert_path.clone(),
            key_path: config.key_path.clone(),
            current: RwLock::new(current),
        }))
    }

    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stamp(&self) -> Stamp {
        stamp([&self.cert_path, &self.key_path])
    }

    /// Re-reads the files; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = load(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Reloads on SIGHUP and when the files change (checked every `poll`), until the
    /// task is dropped.
    pub fn watch(self: &Arc<Self>, poll: Duration) -> tokio::task::JoinHandle<()> {
        let certs = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut loaded = certs.stamp();
            loop {
                #[cfg(unix)]
                let signalled = tokio::select! {
                    Some(()) = async { match hangup.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    } } => true,
                    _ = tokio::time::sleep(poll) => false,
                };
                #[cfg(not(unix))]
                let signalled = {
                    tokio::time::sleep(poll).await;
                    false
                };
                let now = certs.stamp();
                if !signalled && now == loaded {
                    continue;
                }
                match certs.reload() {
                    Ok(()) => {
                        loaded = now;
                        tracing::info!(cert = %certs.cert_path.display(), signalled, "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate not reloaded; still serving the previous one")
                    }
                }
            }
        })
    }
}

/// TLS connections for `axum::serve`. Handshakes run in tasks of their own, so a slow
/// or silent client never holds up accepting the next one.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, certs: Arc<Certificates>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Ends, unbinding the port, once the server dropped this listener.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = tx.closed() => break,
                };
                let (tcp, addr) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = TlsAcceptor::from(certs.current());
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local_addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task ended, which it only does once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> (PathBuf, PathBuf) {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn config(cert_path: PathBuf, key_path: PathBuf) -> TlsConfig {
        TlsConfig {
            cert_path,
            key_path,
            reload_poll_secs: 5,
        }
    }

    #[test]
    fn a_file_that_cannot_be_loaded_keeps_the_certificate_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = write_pair(dir.path());
        let certs = Certificates::load(&config(cert_path.clone(), key_path.clone())).unwrap();
        let before = certs.current();

        std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\nhalf writ").unwrap();
        let error = certs.reload().unwrap_err();
        assert!(error.contains("cert.pem"), "{error}");
        assert!(Arc::ptr_eq(&before, &certs.current()));

        write_pair(dir.path());
        certs.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &certs.current()));
    }

    #[test]
    fn missing_or_empty_files_are_start_up_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let (cert_path, key_path) = write_pair(dir.path());
        let error = Certificates::load(&config(missing.clone(), key_path.clone()))
            .err()
            .unwrap();
        assert!(error.contains("missing.pem"), "{error}");
        assert!(Certificates::load(&config(cert_path.clone(), missing)).is_err());
        std::fs::write(&cert_path, "").unwrap();
        let error = Certificates::load(&config(cert_path, key_path))
            .err()
            .unwrap();
        assert!(error.contains("no CERTIFICATE"), "{error}");
    }
}
