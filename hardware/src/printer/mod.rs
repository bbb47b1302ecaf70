//! Receipt printers behind one small trait, with real backends (serial, TCP, USB printer
//! device file, plain file) and an in-memory double.

mod device;
mod memory;
mod network;
mod serial;
pub mod status;

use std::time::Duration;

pub use device::DeviceFilePrinter;
pub use memory::MemoryPrinter;
pub use network::NetworkPrinter;
pub use serial::SerialPrinter;
pub use status::PrinterStatus;

use crate::config::{PrinterConfig, PrinterKind};
use crate::Result;

/// How long a printer may take to answer a status query.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(400);

/// A receipt printer.
///
/// Contract: [`ReceiptPrinter::send`] hands the whole receipt to the device in one write
/// after opening it, so a receipt is never sent in pieces; a printer that cannot be reached
/// fails before any byte goes out. Printing failures never undo a sale: the till queues the
/// receipt and says so.
pub trait ReceiptPrinter: Send {
    /// Where the printer is, for messages: `serial /dev/ttyUSB0 at 9600 baud`.
    fn describe(&self) -> String;

    /// Asks the printer how it is (`DLE EOT` 1, 2, 4). `Ok(None)` when it does not answer
    /// status queries (many do not, and a file never does).
    fn status(&mut self) -> Result<Option<PrinterStatus>>;

    /// Sends a whole receipt.
    fn send(&mut self, bytes: &[u8]) -> Result<()>;
}

/// The printer `config` names; `None` when it says `kind = "none"`.
pub fn open(config: &PrinterConfig) -> Result<Option<Box<dyn ReceiptPrinter>>> {
    config.validate()?;
    let path = || config.path.clone().unwrap_or_default();
    Ok(match config.kind {
        PrinterKind::None => None,
        PrinterKind::Serial => Some(Box::new(SerialPrinter::new(path(), config.baud))),
        PrinterKind::Network => Some(Box::new(NetworkPrinter::new(
            config.address.clone().unwrap_or_default(),
        ))),
        PrinterKind::Usb => Some(Box::new(DeviceFilePrinter::usb(path()))),
        PrinterKind::File => Some(Box::new(DeviceFilePrinter::file(path()))),
    })
}
