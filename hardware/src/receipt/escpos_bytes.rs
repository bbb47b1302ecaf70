//! ESC/POS bytes of a laid-out receipt, built with the `escpos` crate into memory so that the
//! transport can send the whole receipt in one write.

use std::cell::RefCell;
use std::rc::Rc;

use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{JustifyMode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption};

use super::charset::{codec, fit};
use super::layout::{Align, Block};
use crate::config::TextEncoding;
use crate::{Error, Result};

/// `FS &`: Chinese character mode on (double-byte GB text).
pub const CHINESE_ON: [u8; 2] = [0x1C, 0x26];
/// `ESC p 0 t1 t2`: a 50 ms pulse on drawer pin 2, then 500 ms off. (The `escpos` crate's
/// drawer command leaves out t1 and t2, which a printer would then take from the receipt.)
pub const DRAWER_PULSE: [u8; 5] = [0x1B, 0x70, 0x00, 25, 250];
/// `DLE DC4 1 0 1`: a 100 ms pulse on drawer pin 2 at once, which a printer carries out even
/// while it cannot print (paper out, offline; Epson, Citizen, SNBC, Bixolon references):
/// the drawer of a cash sale opens although its receipt waits in the queue.
pub const DRAWER_PULSE_NOW: [u8; 5] = [0x10, 0x14, 0x01, 0x00, 0x01];

/// An `escpos` driver that keeps what it is given.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Driver for Capture {
    fn name(&self) -> String {
        "capture".into()
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

/// What was built, and which characters had to be substituted.
pub struct Built {
    pub bytes: Vec<u8>,
    pub substituted: Vec<char>,
}

/// The bytes that print `blocks` on a `width`-column printer, ending with a cut.
pub fn build(
    blocks: &[Block],
    width: usize,
    encoding: TextEncoding,
    open_drawer: bool,
) -> Result<Built> {
    let fail = |e: escpos::errors::PrinterError| Error::Receipt(e.to_string());
    let capture = Capture::default();
    let protocol = Protocol::new(escpos::utils::Encoder::new(codec(encoding)));
    let mut printer = Printer::new(capture.clone(), protocol, None);
    let mut substituted = Vec::new();
    printer.init().map_err(fail)?;
    if open_drawer {
        printer.custom(&DRAWER_PULSE).map_err(fail)?;
    }
    printer.custom(&CHINESE_ON).map_err(fail)?;
    let qr_size = if width >= 48 { 6 } else { 5 };
    for block in blocks {
        match block {
            Block::Text { text, align, bold } => {
                let (text, lost) = fit(text, encoding);
                substituted.extend(lost);
                let mode = match align {
                    Align::Left => JustifyMode::LEFT,
                    Align::Center => JustifyMode::CENTER,
                };
                printer
                    .justify(mode)
                    .and_then(|p| p.bold(*bold))
                    .and_then(|p| p.writeln(&text))
                    .and_then(|p| p.bold(false))
                    .map_err(fail)?;
            }
            Block::Rule => {
                printer
                    .justify(JustifyMode::LEFT)
                    .and_then(|p| p.writeln(&"-".repeat(width)))
                    .map_err(fail)?;
            }
            Block::Qr(payload) => {
                let option =
                    QRCodeOption::new(QRCodeModel::Model2, qr_size, QRCodeCorrectionLevel::M);
                printer
                    .justify(JustifyMode::CENTER)
                    .and_then(|p| p.qrcode_option(payload, option))
                    .and_then(|p| p.justify(JustifyMode::LEFT))
                    .map_err(fail)?;
            }
        }
    }
    printer
        .feeds(3)
        .and_then(|p| p.cut())
        .and_then(|p| p.print())
        .map_err(fail)?;
    let bytes = capture.0.borrow().clone();
    substituted.sort_unstable();
    substituted.dedup();
    Ok(Built { bytes, substituted })
}
