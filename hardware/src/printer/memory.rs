//! The in-memory double: keeps every receipt it is sent and reports the status it is told.

use std::sync::{Arc, Mutex};

use super::{PrinterStatus, ReceiptPrinter};
use crate::{Error, Result};

#[derive(Clone, Default)]
pub struct MemoryPrinter {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    status: Arc<Mutex<Option<PrinterStatus>>>,
    unreachable: Arc<Mutex<bool>>,
}

impl MemoryPrinter {
    pub fn new() -> MemoryPrinter {
        MemoryPrinter::default()
    }

    /// Receipts sent so far.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What `status` answers from now on (`None`: no answer).
    pub fn set_status(&self, status: Option<PrinterStatus>) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }

    /// Makes the printer unreachable (or reachable again).
    pub fn set_unreachable(&self, yes: bool) {
        if let Ok(mut u) = self.unreachable.lock() {
            *u = yes;
        }
    }

    fn check_reachable(&self) -> Result<()> {
        if self.unreachable.lock().map(|u| *u).unwrap_or(false) {
            return Err(Error::io(
                "printer memory",
                std::io::Error::new(std::io::ErrorKind::NotConnected, "unplugged"),
            ));
        }
        Ok(())
    }
}

impl ReceiptPrinter for MemoryPrinter {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        self.check_reachable()?;
        Ok(self.status.lock().map(|s| *s).unwrap_or(None))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_reachable()?;
        if let Ok(mut s) = self.sent.lock() {
            s.push(bytes.to_vec());
        }
        Ok(())
    }
}
