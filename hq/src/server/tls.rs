//! `hq serve --tls-cert FILE --tls-key FILE`: HTTPS and WSS with rustls (ring provider).
//!
//! The certificate served is an [`Identity`] read from those files again on SIGHUP
//! ([`super::hangup`]), as web servers do: a renewed certificate is served to every new
//! connection without a restart, and files that do not make an identity are logged and
//! leave the one served. A certificate within a month of its expiry, or past it, is logged
//! when it is read, and `/metrics` gives its expiry.
//!
//! [`listener`] runs each handshake on a task of its own, with a time limit and a bound on
//! how many run at once ([`super::accept`]), so a slow or silent client holds up no one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use x509_cert::der::Decode;

use super::accept::{Failed, Prepared, STEPS_PER_ADDRESS};
use super::proxy::Trusted;
use super::tally::Tally;
use crate::metrics::Metrics;
use crate::{Error, Result};

/// The certificate chain and key served, from their PEM files, read again by
/// [`Identity::reload`].
#[derive(Debug)]
pub struct Identity {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    served: RwLock<Served>,
}

/// What is served: the chain and key, and when the server's certificate expires (or why
/// that does not read).
#[derive(Debug)]
struct Served {
    certified: Arc<CertifiedKey>,
    expires: std::result::Result<SystemTime, String>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// How long before its certificate expires headquarters says so: a month, time for a
/// renewal that goes through someone's hands.
const EXPIRY_TOLD_WITHIN: Duration = Duration::from_secs(30 * DAY.as_secs());

impl Identity {
    /// Reads `cert` (a PEM chain, the server's first) and `key`, checked to belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Identity>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let served = read_served(cert, key, &provider)?;
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

    /// When the certificate served expires (its `notAfter`); `None` when it could not be
    /// read from the certificate.
    pub fn expires(&self) -> Option<SystemTime> {
        let served = self.served.read().unwrap_or_else(|e| e.into_inner());
        served.expires.as_ref().ok().copied()
    }

    /// Reads the files again and serves what they hold from the next handshake on; on an
    /// error the identity served stays.
    pub fn reload(&self) -> Result<()> {
        let read = read_served(&self.cert, &self.key, &self.provider)?;
        // A poisoned lock still holds a whole identity: each write replaces it in one step.
        *self.served.write().unwrap_or_else(|e| e.into_inner()) = read;
        Ok(())
    }

    /// Logs what the operator must know of the certificate served, as of `now`: that it
    /// has expired, or expires within [`EXPIRY_TOLD_WITHIN`], or that its date does not
    /// read. Told when `hq serve` starts, at each SIGHUP, and once a day
    /// ([`watch_expiry`]).
    pub fn tell_expiry(&self, now: SystemTime) {
        let expires = {
            let served = self.served.read().unwrap_or_else(|e| e.into_inner());
            served.expires.clone()
        };
        let told = match expires {
            Ok(expires) => expiry_warning(&self.cert, expires, now),
            Err(why) => Some(format!(
                "the TLS certificate served (from {}): its expiry does not read ({why}), so \
                 headquarters cannot warn of it; check it with `openssl x509 -noout -enddate`",
                self.cert.display()
            )),
        };
        if let Some(told) = told {
            eprintln!("{told}");
        }
    }
}

/// Tells of `identity`'s expiry once a day, for as long as the server runs: a renewal that
/// failed sends no SIGHUP.
pub async fn watch_expiry(identity: Arc<Identity>) {
    loop {
        tokio::time::sleep(DAY).await;
        identity.tell_expiry(SystemTime::now());
    }
}

/// What to tell of the certificate served from `file`, which expires at `expires`, as of
/// `now`: that it has expired, or expires within [`EXPIRY_TOLD_WITHIN`]; `None` otherwise.
fn expiry_warning(file: &Path, expires: SystemTime, now: SystemTime) -> Option<String> {
    let on = chrono::DateTime::<chrono::Utc>::from(expires).format("%Y-%m-%d %H:%M UTC");
    let renew = "renew it, then send `hq serve` SIGHUP";
    let file = file.display();
    match expires.duration_since(now) {
        Err(_) => Some(format!(
            "the TLS certificate served (from {file}) expired on {on}: tills and browsers \
             refuse it; {renew}"
        )),
        Ok(left) if left < EXPIRY_TOLD_WITHIN => {
            let when = match left.as_secs() / DAY.as_secs() {
                0 => "within a day".to_string(),
                1 => "in 1 day".to_string(),
                days => format!("in {days} days"),
            };
            Some(format!(
                "the TLS certificate served (from {file}) expires on {on}, {when}: {renew}"
            ))
        }
        Ok(_) => None,
    }
}

impl ResolvesServerCert for Identity {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let served = self.served.read().unwrap_or_else(|e| e.into_inner());
        Some(served.certified.clone())
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

/// A PEM certificate chain and its private key, checked to belong together, and when the
/// chain's first certificate expires (or why that does not read).
fn read_served(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Served> {
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
    // rustls checks the certificate against its key (below); its dates are read here.
    let expires = x509_cert::Certificate::from_der(&chain[0])
        .map(|c| UNIX_EPOCH + c.tbs_certificate.validity.not_after.to_unix_duration())
        .map_err(|e| e.to_string());
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        Error::input(format!(
            "{} and {} do not make a TLS identity: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Served {
        certified: Arc::new(certified),
        expires,
    })
}

/// TLS connections, handshaken as `config` says, for axum to serve: each after its load
/// balancer's PROXY protocol header when `proxy` names the load balancers
/// ([`super::proxy`]), the client's address the header's. Behind a balancer, a client its
/// headers name has at most [`STEPS_PER_ADDRESS`] handshakes under way, as a client straight
/// to the server has ([`Prepared`]); one more is closed once its header is read, counted in
/// `metrics` as refused.
pub fn listener(
    tcp: TcpListener,
    config: Arc<ServerConfig>,
    proxy: Option<Arc<Trusted>>,
    metrics: Arc<Metrics>,
) -> std::io::Result<Prepared<TlsStream<TcpStream>>> {
    let acceptor = TlsAcceptor::from(config);
    let step = match proxy {
        Some(_) => "PROXY header and TLS handshake",
        None => "TLS handshake",
    };
    let balancer = super::proxy::balancer(proxy.clone());
    // Behind a balancer, its connections are not counted per address as they are accepted:
    // each client its header names is counted for its handshake here.
    let handshakes = Tally::new(STEPS_PER_ADDRESS);
    let refusals = metrics.clone();
    Prepared::new(tcp, step, balancer, metrics, move |mut tcp, peer| {
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        let handshakes = handshakes.clone();
        let refusals = refusals.clone();
        async move {
            let (client, _place) = match proxy {
                Some(trusted) => {
                    let client = super::proxy::client_of(&mut tcp, peer, &trusted)
                        .await
                        .map_err(|line| Failed::new(peer, line))?;
                    let Some(place) = handshakes.take(client.ip()) else {
                        refusals.connection_refused();
                        let who = format!("{client} through the balancer {}", peer.ip());
                        return Err(Failed::steps_full(client, &who, "TLS handshake"));
                    };
                    (client, Some(place))
                }
                None => (peer, None),
            };
            // Small TLS records go out at once.
            let _ = tcp.set_nodelay(true);
            match acceptor.accept(tcp).await {
                Ok(tls) => Ok((tls, client)),
                Err(e) => Err(Failed::new(
                    client,
                    format!("TLS handshake with {client} failed: {e}"),
                )),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_told_of_within_a_month_of_its_expiry_and_once_expired() {
        let file = Path::new("/etc/fairpos/hq.pem");
        let day = DAY;
        // 2026-12-06 00:00 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_796_515_200);
        assert_eq!(expiry_warning(file, now + 31 * day, now), None);
        let soon = expiry_warning(file, now + 10 * day, now).unwrap();
        assert_eq!(
            soon,
            "the TLS certificate served (from /etc/fairpos/hq.pem) expires on 2026-12-16 00:00 \
             UTC, in 10 days: renew it, then send `hq serve` SIGHUP"
        );
        let today = expiry_warning(file, now + day / 2, now).unwrap();
        assert!(today.contains("00 UTC, within a day: renew"), "{today}");
        let gone = expiry_warning(file, now - day, now).unwrap();
        assert!(
            gone.starts_with(
                "the TLS certificate served (from /etc/fairpos/hq.pem) expired on 2026-12-05 \
                 00:00 UTC: tills and browsers refuse it"
            ),
            "{gone}"
        );
    }
}
