//! `hq serve --tls-cert FILE --tls-key FILE`: HTTPS and WSS with rustls (ring provider).
//!
//! The certificate served is an [`Identity`] read from those files again on SIGHUP
//! ([`super::hangup`]), as web servers do: a renewed certificate is served to every new
//! connection without a restart, and files that do not make an identity are logged and
//! leave the one served.
//!
//! [`TlsListener`] is an axum [`Listener`]: one task accepts TCP connections and runs each
//! handshake on a task of its own, with a time limit and a bound on how many run at once, so
//! a slow or silent client holds up no one; finished handshakes are handed to the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::serve::Listener;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::{Error, Result};

/// How long a client may take over its handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; further connections wait to be accepted.
const HANDSHAKES_AT_ONCE: usize = 256;

/// The certificate chain and key served, from their PEM files, read again by
/// [`Identity::reload`].
#[derive(Debug)]
pub struct Identity {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    served: RwLock<Arc<CertifiedKey>>,
}

impl Identity {
    /// Reads `cert` (a PEM chain, the server's first) and `key`, checked to belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Identity>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let served = certified_key(cert, key, &provider)?;
        Ok(Arc::new(Identity {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            served: RwLock::new(served),
        }))
    }

    /// The certificate file, as named to `--tls-cert`.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// Reads the files again and serves what they hold from the next handshake on; on an
    /// error the identity served stays.
    pub fn reload(&self) -> Result<()> {
        let read = certified_key(&self.cert, &self.key, &self.provider)?;
        // A poisoned lock still holds a whole identity: each write replaces it in one step.
        *self.served.write().unwrap_or_else(|e| e.into_inner()) = read;
        Ok(())
    }
}

impl ResolvesServerCert for Identity {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let served = self.served.read().unwrap_or_else(|e| e.into_inner());
        Some(served.clone())
    }
}

/// The server's TLS configuration, serving `identity`.
pub fn server_config(identity: Arc<Identity>) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(identity.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(identity);
    // HTTP/1.1 only: the sync socket is a WebSocket upgrade.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A PEM certificate chain and its private key, checked to belong together.
fn certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>> {
    let bad = |path: &Path, why: String| Error::input(format!("{}: {why}", path.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, format!("cannot read the certificate: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(
            cert,
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        Error::input(format!(
            "{} and {} do not make a TLS identity: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Arc::new(certified))
}

/// TLS connections, handshaken, for axum to serve.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and handshakes as `config` says, on tasks of the current runtime.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(HANDSHAKES_AT_ONCE);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE));
        tokio::spawn(async move {
            loop {
                // Once the server stops taking connections (the listener dropped), stop
                // accepting: the port is let go.
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => slot,
                    _ = tx.closed() => return,
                };
                let Ok(slot) = slot else {
                    return;
                };
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    _ = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum does.
                        eprintln!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let hand_over = tx.clone();
                tokio::spawn(async move {
                    let shaken = tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream));
                    match shaken.await {
                        Ok(Ok(tls)) => {
                            drop(slot);
                            let _ = hand_over.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => eprintln!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => eprintln!("TLS handshake with {peer} took too long"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (the runtime is stopping): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
