//! A printer on a serial port (RS-232 or a USB-serial adapter), opened for each receipt so
//! that a printer switched off and on again needs nothing from the till.

use std::path::PathBuf;
use std::time::Duration;

use super::{status, PrinterStatus, ReceiptPrinter, STATUS_TIMEOUT};
use crate::{Error, Result};

/// How long a printer that answered before is given to answer again once it has missed a
/// question, before it is taken as not reached.
const SILENT_AFTER: Duration = Duration::from_secs(2);

/// Reads and lets go of what the port holds until it has been quiet for two of its reads
/// (the port's timeout is 50 ms), for a second at most (a printer sending its status on its
/// own is never quiet).
fn drain(port: &mut Box<dyn serialport::SerialPort>) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    let mut quiet = 0;
    let until = std::time::Instant::now() + Duration::from_secs(1);
    while quiet < 2 && std::time::Instant::now() < until {
        match std::io::Read::read(port, &mut buf) {
            Ok(n) if n > 0 => quiet = 0,
            Ok(_) => quiet += 1,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => quiet += 1,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub struct SerialPrinter {
    path: PathBuf,
    baud: u32,
    /// It has answered a status query: silence now is a printer off or its cable out,
    /// not one of the printers that never answer.
    answered: bool,
}

impl SerialPrinter {
    pub fn new(path: PathBuf, baud: u32) -> SerialPrinter {
        SerialPrinter {
            path,
            baud,
            answered: false,
        }
    }

    fn open(&self) -> Result<Box<dyn serialport::SerialPort>> {
        serialport::new(self.path.to_string_lossy(), self.baud)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(|source| Error::Serial {
                what: format!("printer {}", self.path.display()),
                source,
            })
    }
}

impl ReceiptPrinter for SerialPrinter {
    fn describe(&self) -> String {
        format!("serial {} at {} baud", self.path.display(), self.baud)
    }

    /// A port opens whether or not a printer is on behind it (a USB-serial adapter's does):
    /// a printer that answered status queries and answers none now is not reached, rather
    /// than taken as ready, its receipt written into nothing and said printed.
    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        let mut port = self.open()?;
        let what = || format!("printer {}", self.path.display());
        let mut status =
            status::ask(&mut port, STATUS_TIMEOUT).map_err(|e| Error::io(what(), e))?;
        if status.is_none() && self.answered {
            // Asked again, given longer: a printer busy with the last receipt's image may
            // miss a question. What it answered late to the first asking is let go of first,
            // and what comes later still is passed over by asking again's way: read as
            // answers to the second asking, each answer was one behind, a cover open read as
            // closed.
            drain(&mut port).map_err(|e| Error::io(what(), e))?;
            status =
                status::ask_again(&mut port, SILENT_AFTER).map_err(|e| Error::io(what(), e))?;
        }
        match status {
            Some(_) => self.answered = true,
            None if self.answered => {
                return Err(Error::Silent(format!(
                    "printer {} answered status queries before and answers none now: is it \
                     switched on, its cable in?",
                    self.path.display()
                )))
            }
            None => {}
        }
        Ok(status)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let mut port = self.open()?;
        // Generous: 9600 baud moves about 1 KB a second.
        let seconds = 5 + bytes.len() as u64 / 500;
        port.set_timeout(Duration::from_secs(seconds))
            .map_err(|source| Error::Serial {
                what: format!("printer {}", self.path.display()),
                source,
            })?;
        std::io::Write::write_all(&mut port, bytes)
            .and_then(|_| std::io::Write::flush(&mut port))
            .map_err(|e| Error::io(format!("printer {}", self.path.display()), e))
    }
}
