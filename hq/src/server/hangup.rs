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
            super::service_manager::reloading();
            if identity.is_none() && token.is_none() {
                eprintln!(
                    "SIGHUP: serving without --tls-cert or --metrics-token-file, there is no \
                     file to read"
                );
            }
            if let Some(identity) = identity.clone() {
                let reloaded = identity.clone();
                let before = "still serving the certificate before, not this one";
                let reload = move || {
                    reloaded.reload()?;
                    Ok(format!(
                        "serving the TLS certificate in {} now",
                        reloaded.cert_file().display()
                    ))
                };
                reread(reload, before).await;
                // Renewed or not, the certificate now served: told if it expires soon.
                identity.tell_expiry(std::time::SystemTime::now());
            }
            if let Some(token) = token.clone() {
                let before = "/metrics still asks for the token before";
                let reload = move || {
                    let which = match token.reload()? {
                        1 => "the token".to_string(),
                        n => format!("any of the {n} tokens"),
                    };
                    Ok(format!(
                        "/metrics asks for {which} in {} now",
                        token.file.display()
                    ))
                };
                reread(reload, before).await;
            }
            super::service_manager::reloaded();
        }
    })
}

/// Runs `reload` off the async workers (it reads files) and logs what came of it: what it
/// says it serves now when it read them, `before` (what stays served) and why when it did not.
async fn reread(reload: impl FnOnce() -> Result<String> + Send + 'static, before: &str) {
    match tokio::task::spawn_blocking(reload).await {
        Ok(Ok(now)) => eprintln!("SIGHUP: {now}"),
        Ok(Err(e)) => eprintln!("SIGHUP: {before}: {e}"),
        Err(e) => eprintln!("SIGHUP: {before}: the reading failed: {e}"),
    }
}
