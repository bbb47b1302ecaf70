//! Barcode scanners: a serial scanner, and the burst detector that tells a keyboard-wedge
//! scanner from a person at the keyboard (the touchscreen feeds it key events).

pub mod lines;
mod serial;
pub mod wedge;

use std::time::Duration;

pub use lines::LineSplitter;
pub use serial::SerialScanner;

use crate::Result;

/// Whether a scanner can be read now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    Connected,
    /// Unplugged or not found; the source keeps trying to reopen it.
    Disconnected(String),
}

/// Something that yields scanned codes, one per call.
pub trait BarcodeSource: Send {
    fn describe(&self) -> String;

    /// Waits up to `timeout` for the next code. `Ok(None)` when none came; a scanner that went
    /// away shows in [`BarcodeSource::state`] and is reopened when it comes back.
    fn next_code(&mut self, timeout: Duration) -> Result<Option<String>>;

    fn state(&self) -> SourceState;
}
