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
    let (url, root_cert) = take_root_cert(url);
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

/// `url` without its `sslrootcert` setting, and that setting's file.
pub(crate) fn take_root_cert(url: &str) -> (String, Option<String>) {
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let (kept, file) = without_root_cert(query.split('&'));
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, file)
    } else {
        let (kept, file) = without_root_cert(url.split_whitespace());
        (kept.join(" "), file)
    }
}

/// The settings (`key=value`) but `sslrootcert`, and its value.
fn without_root_cert<'a>(
    settings: impl Iterator<Item = &'a str>,
) -> (Vec<&'a str>, Option<String>) {
    let mut file = None;
    let kept = settings
        .filter(|setting| match setting.strip_prefix("sslrootcert=") {
            Some(value) => {
                file = Some(value.to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept, file)
}

#[cfg(test)]
mod tests {
    use super::take_root_cert;

    #[test]
    fn the_root_certificate_is_taken_out_of_either_form_of_address() {
        assert_eq!(
            take_root_cert("postgres://u@h:5/db?sslmode=require&sslrootcert=/ca.pem"),
            (
                "postgres://u@h:5/db?sslmode=require".into(),
                Some("/ca.pem".into())
            )
        );
        assert_eq!(
            take_root_cert("postgres://u@h:5/db?sslrootcert=ca.pem"),
            ("postgres://u@h:5/db".into(), Some("ca.pem".into()))
        );
        assert_eq!(
            take_root_cert("host=h sslrootcert=/ca.pem sslmode=require"),
            ("host=h sslmode=require".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db"),
            ("postgres://u@h/db".into(), None)
        );
    }
}
