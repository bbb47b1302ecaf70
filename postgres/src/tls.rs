//! TLS to the database: rustls, trusting the system's roots and, when the address names one,
//! the database's own certificate authority, as libpq's addresses say it:
//! `sslmode=disable|prefer|require` (tokio-postgres reads it; `prefer`, the default, falls
//! back to plain text only when the server offers no TLS) and `sslrootcert=FILE` (read here,
//! and taken out of the address, which tokio-postgres would refuse with it). Unlike libpq's
//! `require`, a certificate that does not verify is always refused.

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Error, Result};

/// The connection settings of `url` and the TLS connector its `sslrootcert` asks for.
pub(crate) fn address(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let (url, root_cert) = crate::root_cert::take_root_cert(url);
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        let shown = crate::password::shown(&url);
        Error::Config(format!("the database address {shown:?} is not valid: {e}"))
    })?;
    crate::password::fill(&mut config);
    let ca = match &root_cert {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the database's CA certificate {path}: {e}"
            ))
        })?),
        None => None,
    };
    let trust = fairpos_sync::tls::Trust::with_ca(ca.as_deref())
        .map_err(|e| Error::Config(format!("the database's CA certificate: {e}")))?;
    let client = (*trust.client_config()).clone();
    Ok((config, MakeRustlsConnect::new(client)))
}
