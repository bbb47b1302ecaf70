//! A printer on the network (raw TCP, usually port 9100). Host names are resolved; connects,
//! reads and writes have time limits so a printer that vanished never hangs the till.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{status, PrinterStatus, ReceiptPrinter, STATUS_TIMEOUT};
use crate::{Error, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct NetworkPrinter {
    address: String,
}

impl NetworkPrinter {
    /// `address` is `host:port`, `ip:port`, or a host alone (port 9100).
    pub fn new(address: String) -> NetworkPrinter {
        NetworkPrinter { address }
    }

    fn connect(&self) -> Result<TcpStream> {
        let what = || format!("printer {}", self.address);
        let target = if self.address.contains(':') {
            self.address.clone()
        } else {
            format!("{}:9100", self.address)
        };
        let addrs = target
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("{}: cannot resolve", what()), e))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream
                        .set_write_timeout(Some(WRITE_TIMEOUT))
                        .and_then(|_| stream.set_read_timeout(Some(Duration::from_millis(50))))
                        .and_then(|_| stream.set_nodelay(true))
                        .map_err(|e| Error::io(what(), e))?;
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(Error::io(
            what(),
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
        status::ask(&mut stream, STATUS_TIMEOUT)
            .map_err(|e| Error::io(format!("printer {}", self.address), e))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let mut stream = self.connect()?;
        stream
            .write_all(bytes)
            .and_then(|_| stream.flush())
            .and_then(|_| stream.shutdown(std::net::Shutdown::Write))
            .map_err(|e| Error::io(format!("printer {}", self.address), e))
    }
}
