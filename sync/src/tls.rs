//! Whom a till or a hub trusts when it speaks `https://` and `wss://` to headquarters: the
//! operating system's root certificates, and a fair's own certificate authority when one was
//! given at enrolment (`--ca FILE`, kept with the device's identity). rustls with the ring
//! provider; one client configuration serves the HTTP calls and the sync socket alike.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};

use crate::{Error, Result};

/// The trust of one device: the system's roots and, perhaps, a fair's CA.
///
/// The system's roots are read when a configuration is first asked for, not when the trust
/// is made: a till syncing with `http://` on a fair's LAN never reads them (reading them was
/// about a tenth of a one-shot `fairpos sync`'s work). A fair's CA is checked at once.
#[derive(Clone)]
pub struct Trust {
    ca_pem: Option<String>,
    fair_roots: RootCertStore,
    builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    config: Arc<OnceLock<Arc<ClientConfig>>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("fair_ca", &self.ca_pem.is_some())
            .finish()
    }
}

impl Trust {
    /// The operating system's roots alone.
    pub fn system() -> Result<Trust> {
        Trust::with_ca(None)
    }

    /// The system's roots and the certificates of `ca_pem` (PEM text, one or more
    /// certificates), refused when it holds none or one that cannot be a root.
    pub fn with_ca(ca_pem: Option<&str>) -> Result<Trust> {
        install_crypto_provider();
        let mut fair_roots = RootCertStore::empty();
        if let Some(pem) = ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| bad_ca(format!("not PEM: {e}")))?;
                fair_roots
                    .add(cert)
                    .map_err(|e| bad_ca(format!("not a usable CA certificate: {e}")))?;
            }
            if fair_roots.is_empty() {
                return Err(bad_ca(
                    "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
                ));
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Codec(format!("TLS: {e}")))?;
        Ok(Trust {
            ca_pem: ca_pem.map(str::to_string),
            fair_roots,
            builder,
            config: Arc::default(),
        })
    }

    /// The fair's CA as given, to be kept with the device's identity.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The client configuration: the system's roots (read once per process) and the fair's.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config
            .get_or_init(|| {
                let mut roots = system_roots().clone();
                roots.roots.extend(self.fair_roots.roots.iter().cloned());
                Arc::new(
                    self.builder
                        .clone()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            })
            .clone()
    }

    /// The configuration for `url`: [`Trust::client_config`] under `https://` and `wss://`;
    /// under any other scheme one trusting no one, which plain TCP never consults, so that
    /// the system's roots are not read for it.
    pub fn client_config_for(&self, url: &url::Url) -> Arc<ClientConfig> {
        if matches!(url.scheme(), "https" | "wss") {
            return self.client_config();
        }
        Arc::new(
            self.builder
                .clone()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
        )
    }
}

fn bad_ca(why: String) -> Error {
    Error::BadCa(why)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's TLS provider, for HTTP clients built without a configuration of
/// ours (tests, tools). Harmless when one is installed already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The system's roots, read once per process. Unreadable entries are skipped: a store with
/// a bad file still verifies against the good ones, and a fair's CA may be all there is.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// The errors `error` wraps, itself first; inside I/O errors too, whose `source` skips the
/// error they wrap.
pub fn chain<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &(dyn std::error::Error + 'static)),
        None => e.source(),
    })
}

/// The first cause of `error`, the one that says what happened ("Connection refused"),
/// where HTTP clients lead with what they were doing ("error sending request").
pub fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    chain(error).last().unwrap_or(error).to_string()
}

/// The TLS failure somewhere in `error`'s chain, in one line, or `None` when it is not one.
/// A certificate that does not verify says what to do about it.
pub fn failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = chain(error).find_map(|e| e.downcast_ref::<rustls::Error>())?;
    Some(match tls {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => format!(
            "its certificate does not verify ({tls}); if the fair runs its own certificate \
             authority, enrol with --ca FILE (the CA's certificate, PEM)"
        ),
        other => format!("TLS failed: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let e = Trust::with_ca(Some("hello")).unwrap_err();
        assert!(e.to_string().contains("no certificate"), "{e}");
        let e = Trust::with_ca(Some(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("CA certificate"), "{e}");
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        let said = failure(&io).unwrap();
        assert!(
            said.contains("does not verify") && said.contains("--ca"),
            "{said}"
        );
        assert_eq!(failure(&std::io::Error::other("refused")), None);
    }
}
