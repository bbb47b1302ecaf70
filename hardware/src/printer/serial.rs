//! A printer on a serial port (RS-232 or a USB-serial adapter), opened for each receipt so
//! that a printer switched off and on again needs nothing from the till.

use std::path::PathBuf;
use std::time::Duration;

use super::{status, PrinterStatus, ReceiptPrinter, STATUS_TIMEOUT};
use crate::{Error, Result};

pub struct SerialPrinter {
    path: PathBuf,
    baud: u32,
}

impl SerialPrinter {
    pub fn new(path: PathBuf, baud: u32) -> SerialPrinter {
        SerialPrinter { path, baud }
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

    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        let mut port = self.open()?;
        status::ask(&mut port, STATUS_TIMEOUT)
            .map_err(|e| Error::io(format!("printer {}", self.path.display()), e))
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
