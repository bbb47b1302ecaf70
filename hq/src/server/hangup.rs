//! SIGHUP, as web servers take it: the files `hq serve` was started with are read again
//! without a restart. The TLS certificate and key ([`super::tls::Identity`]) are served from
//! the next handshake on; `/metrics`' token ([`super::scrape::Token`]) is asked for from the
//! next scrape on. Files that do not read are logged, and what was served before stays.

use std::future::Future;
use std::sync::Arc;

use super::scrape::Token;
use super::tls::Identity;
use crate::{Error, Result};

/// Takes SIGHUP from now on (by default it would end the server) and returns what handles
/// each, for as long as the server runs: `identity` (if serving TLS) and `token` (if
/// `/metrics` asks for one) are read again, and what came of each is logged.
pub fn on_hangup(
    identity: Option<Arc<Identity>>,
    token: Option<Arc<Token>>,
) -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())
        .map_err(|e| Error::Other(format!("cannot take SIGHUP: {e}")))?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            match (identity.clone(), token.clone()) {
                (None, None) => eprintln!(
                    "SIGHUP: serving without --tls-cert or --metrics-token-file, there is no \
                     file to read"
                ),
                (identity, token) => {
                    if let Some(identity) = identity {
                        reload_identity(identity).await;
                    }
                    if let Some(token) = token {
                        reload_token(token).await;
                    }
                }
            }
        }
    })
}

async fn reload_identity(identity: Arc<Identity>) {
    let cert = identity.cert_file().display().to_string();
    match tokio::task::spawn_blocking(move || identity.reload()).await {
        Ok(Ok(())) => eprintln!("SIGHUP: serving the TLS certificate in {cert} now"),
        Ok(Err(e)) => eprintln!("SIGHUP: still serving the certificate before, not this one: {e}"),
        Err(e) => eprintln!("SIGHUP: reloading the TLS certificate: {e}"),
    }
}

async fn reload_token(token: Arc<Token>) {
    let file = token.file.display().to_string();
    match tokio::task::spawn_blocking(move || token.reload()).await {
        Ok(Ok(())) => eprintln!("SIGHUP: /metrics asks for the token in {file} now"),
        Ok(Err(e)) => eprintln!("SIGHUP: /metrics still asks for the token before: {e}"),
        Err(e) => eprintln!("SIGHUP: reloading the metrics token: {e}"),
    }
}
