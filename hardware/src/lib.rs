//! fairpos-hardware: the devices at a stall, behind small traits, knowing nothing of SQLite
//! or sync.
//!
//! - Receipts: a [`receipt::Receipt`] (plain strings and fen) is laid out for 58 or 80 mm
//!   paper by display width ([`receipt::layout`]), shown as UTF-8 text or built into ESC/POS
//!   bytes with Chinese in GB18030 or GBK ([`receipt::escpos_bytes`]).
//! - Printers: [`printer::ReceiptPrinter`] sends a whole receipt in one write after asking the
//!   printer how it is (`DLE EOT`), over serial, TCP, a USB printer device file or a plain
//!   file; [`printer::MemoryPrinter`] is the double for tests.
//! - Scanners: [`scanner::BarcodeSource`] yields scanned codes; the serial backend reopens an
//!   unplugged scanner, and [`scanner::wedge::BurstDetector`] tells a keyboard-wedge scanner's
//!   burst from a person typing.
//! - Scales: [`scale::Scale`] answers with the weight on the plate, speaking Mettler Toledo
//!   8217 or SMA over serial ([`scale::SerialScale`]); [`scale::MemoryScale`] is the double.
//!
//! What a code *means* (EAN-13, scale label, payment code, our receipt) is the till's domain
//! and lives there.

pub mod config;
mod error;
pub mod ports;
pub mod printer;
pub mod receipt;
pub mod scale;
pub mod scanner;

pub use error::{Error, Result};
