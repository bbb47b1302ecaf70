//! A USB printer device file (`/dev/usb/lp0`) or a plain file that receipts are appended to.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::{PrinterStatus, ReceiptPrinter};
use crate::{Error, Result};

pub struct DeviceFilePrinter {
    path: PathBuf,
    /// A plain file is created if missing and appended to; a device must exist.
    plain_file: bool,
}

impl DeviceFilePrinter {
    pub fn usb(path: PathBuf) -> DeviceFilePrinter {
        DeviceFilePrinter {
            path,
            plain_file: false,
        }
    }

    pub fn file(path: PathBuf) -> DeviceFilePrinter {
        DeviceFilePrinter {
            path,
            plain_file: true,
        }
    }
}

impl ReceiptPrinter for DeviceFilePrinter {
    fn describe(&self) -> String {
        let kind = if self.plain_file { "file" } else { "usb" };
        format!("{kind} {}", self.path.display())
    }

    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        Ok(None)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let what = || format!("printer {}", self.path.display());
        let mut file = OpenOptions::new()
            .append(true)
            .create(self.plain_file)
            .open(&self.path)
            .map_err(|e| Error::io(what(), e))?;
        file.write_all(bytes)
            .and_then(|_| file.flush())
            .map_err(|e| Error::io(what(), e))
    }
}
