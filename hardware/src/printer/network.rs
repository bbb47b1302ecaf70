//! A printer on the network (raw TCP, usually port 9100). Host names are resolved once, within
//! a time limit; connects, reads and writes have time limits so a printer that vanished never
//! hangs the till.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{status, PrinterStatus, ReceiptPrinter, STATUS_TIMEOUT};
use crate::{Error, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a host name may take to resolve: at an offline fair a name whose DNS server is
/// out of reach waited the resolver's own time limits (10 s and more each), twice a receipt.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a printer that answers status queries has, after the receipt, to answer one
/// asked on the same connection: the answer comes once it has read the whole receipt (TCP
/// keeps the order), which a full buffer holds back while it prints; a second more for each
/// KiB of the receipt ([`taken_within`]).
const TAKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a printer has to answer after a receipt of `bytes`.
fn taken_within(bytes: usize) -> Duration {
    TAKEN_TIMEOUT + Duration::from_secs(u64::try_from(bytes / 1024).unwrap_or(u64::MAX).min(60))
}

pub struct NetworkPrinter {
    address: String,
    /// Where the address resolved to, kept until none of them answers.
    resolved: Option<Vec<SocketAddr>>,
    /// The printer answered the last status query: one that answers none after a receipt
    /// may not have read it.
    answered: bool,
}

impl NetworkPrinter {
    /// `address` is `host:port`, `ip:port`, or a host alone (port 9100).
    pub fn new(address: String) -> NetworkPrinter {
        NetworkPrinter {
            address,
            resolved: None,
            answered: false,
        }
    }

    fn what(&self) -> String {
        format!("printer {}", self.address)
    }

    /// The addresses the printer's address resolves to: kept from before, or resolved on a
    /// thread of its own within [`RESOLVE_TIMEOUT`].
    fn addresses(&mut self) -> Result<Vec<SocketAddr>> {
        if let Some(kept) = &self.resolved {
            return Ok(kept.clone());
        }
        let target = if self.address.contains(':') {
            self.address.clone()
        } else {
            format!("{}:9100", self.address)
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("printer-resolve".into())
            .spawn(move || {
                let _ = tx.send(target.to_socket_addrs().map(Vec::from_iter));
            })
            .map_err(|e| Error::io(self.what(), e))?;
        let resolved = match rx.recv_timeout(RESOLVE_TIMEOUT) {
            Ok(resolved) => {
                resolved.map_err(|e| Error::io(format!("{}: cannot resolve", self.what()), e))?
            }
            Err(_) => {
                return Err(Error::Silent(format!(
                    "{}: its name did not resolve within {} s (is the network's DNS server \
                     reachable? an IP address needs none)",
                    self.what(),
                    RESOLVE_TIMEOUT.as_secs()
                )))
            }
        };
        self.resolved = Some(resolved.clone());
        Ok(resolved)
    }

    fn connect(&mut self) -> Result<TcpStream> {
        let mut last = None;
        for addr in self.addresses()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream
                        .set_write_timeout(Some(WRITE_TIMEOUT))
                        .and_then(|_| stream.set_read_timeout(Some(Duration::from_millis(50))))
                        .and_then(|_| stream.set_nodelay(true))
                        .map_err(|e| Error::io(self.what(), e))?;
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        // None answered: resolved again next time (the printer may have moved).
        self.resolved = None;
        Err(Error::io(
            self.what(),
            last.unwrap_or_else(|| std::io::Error::other("no address")),
        ))
    }
}

impl ReceiptPrinter for NetworkPrinter {
    fn describe(&self) -> String {
        format!("network {}", self.address)
    }

    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        let mut stream = self.connect()?;
        let status =
            status::ask(&mut stream, STATUS_TIMEOUT).map_err(|e| Error::io(self.what(), e))?;
        // One that answers none now (another printer at the address) is not asked after
        // its receipts.
        self.answered = status.is_some();
        Ok(status)
    }

    /// The receipt, then, of a printer that answers status queries, one asked on the same
    /// connection: a printer that took the connection and read nothing (its buffer stuck, a
    /// print server hung) was told printed, the receipt gone with no trace.
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let mut stream = self.connect()?;
        let what = self.what();
        stream
            .write_all(bytes)
            .and_then(|_| stream.flush())
            .map_err(|e| Error::io(&what, e))?;
        if self.answered {
            let within = taken_within(bytes.len());
            let read = status::answers(&mut stream, within).map_err(|e| Error::io(&what, e))?;
            if !read {
                return Err(Error::Unconfirmed(format!(
                    "{what} took the receipt and answered nothing after it within {} s: it \
                     may not have read it",
                    within.as_secs()
                )));
            }
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| Error::io(&what, e))
    }
}
