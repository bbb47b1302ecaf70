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
    // The paper's printable dots: 12 a column (32 columns are 384 dots, 48 are 576).
    let dots = width.saturating_mul(12);
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
                let (size, level) = qr_fit(payload.len(), dots, qr_size).ok_or_else(|| {
                    Error::Receipt(format!(
                        "a QR code of {} bytes does not fit {width} columns of paper",
                        payload.len()
                    ))
                })?;
                let option = QRCodeOption::new(QRCodeModel::Model2, size, level);
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

/// The bytes a QR code of each version (1 to 40) holds in byte mode, at error correction
/// levels L and M (ISO/IEC 18004, table 7): what a printer's own encoder needs at most for
/// a payload with lower-case letters, as the slips' and baskets' are.
const BYTES_HELD: [(usize, usize); 40] = [
    (17, 14),
    (32, 26),
    (53, 42),
    (78, 62),
    (106, 84),
    (134, 106),
    (154, 122),
    (192, 152),
    (230, 180),
    (271, 213),
    (321, 251),
    (367, 287),
    (425, 331),
    (458, 362),
    (520, 412),
    (586, 450),
    (644, 504),
    (718, 560),
    (792, 624),
    (858, 666),
    (929, 711),
    (1003, 779),
    (1091, 857),
    (1171, 911),
    (1273, 997),
    (1367, 1059),
    (1465, 1125),
    (1528, 1190),
    (1628, 1264),
    (1732, 1370),
    (1840, 1452),
    (1952, 1538),
    (2068, 1628),
    (2188, 1722),
    (2303, 1809),
    (2431, 1911),
    (2563, 1989),
    (2699, 2099),
    (2809, 2213),
    (2953, 2331),
];

/// The fewest dots a module may take: smaller, a phone's camera reads the code poorly.
const SMALLEST_MODULE: u8 = 3;

/// The module size (dots, at most `preferred`) and error correction that print a QR code of
/// `bytes` within `dots` of paper: level M if it fits with modules of [`SMALLEST_MODULE`]
/// dots or more, else L. `None` when neither fits. A signed shift slip (some 440 bytes) was
/// printed at 5 dots a module, version 16: 405 dots on a 384-dot paper, cut off or not
/// printed at all, and nothing to read from its photo.
pub(crate) fn qr_fit(
    bytes: usize,
    dots: usize,
    preferred: u8,
) -> Option<(u8, QRCodeCorrectionLevel)> {
    let levels = [
        (QRCodeCorrectionLevel::M, BYTES_HELD.map(|(_, m)| m)),
        (QRCodeCorrectionLevel::L, BYTES_HELD.map(|(l, _)| l)),
    ];
    for (level, held) in levels {
        let Some(version) = held.iter().position(|&n| n >= bytes) else {
            continue;
        };
        let modules = 17 + 4 * (version + 1);
        let size = u8::try_from(dots / modules)
            .unwrap_or(u8::MAX)
            .min(preferred);
        if size >= SMALLEST_MODULE {
            return Some((size, level));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`qr_fit`], its level as a letter.
    fn fit(bytes: usize, dots: usize, preferred: u8) -> Option<(u8, char)> {
        qr_fit(bytes, dots, preferred).map(|(size, level)| {
            let letter = match level {
                QRCodeCorrectionLevel::L => 'L',
                QRCodeCorrectionLevel::M => 'M',
                _ => '?',
            };
            (size, letter)
        })
    }

    #[test]
    fn a_qr_code_is_sized_to_fit_the_paper() {
        // A receipt's short code: the size asked for.
        assert_eq!(fit(60, 384, 5), Some((5, 'M')));
        // A signed slip, 436 bytes: version 16-M, 81 modules, at 4 dots (324 of 384).
        assert_eq!(fit(436, 384, 5), Some((4, 'M')));
        assert_eq!(fit(436, 576, 6), Some((6, 'M')), "80 mm: 486 dots of 576");
        // 900 bytes: version 24-M, 113 modules at 3 dots. 1 200: M would be version 29 (133
        // modules, 2 dots); L is version 25, 117 modules at 3.
        assert_eq!(fit(900, 384, 5), Some((3, 'M')));
        assert_eq!(fit(1200, 384, 5), Some((3, 'L')));
        assert_eq!(fit(3000, 576, 6), None, "beyond version 40");
        assert_eq!(fit(2000, 384, 5), None, "too many modules for the paper");
        // Every size chosen fits: modules × size within the dots.
        for bytes in (1..2400).step_by(7) {
            for (dots, preferred) in [(384, 5), (576, 6)] {
                if let Some((size, level)) = fit(bytes, dots, preferred) {
                    let held = BYTES_HELD.map(|(l, m)| if level == 'L' { l } else { m });
                    let version = held.iter().position(|&n| n >= bytes).unwrap() + 1;
                    assert!(
                        (17 + 4 * version) * usize::from(size) <= dots,
                        "{bytes} {dots}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_long_qr_code_is_printed_at_the_size_that_fits() {
        let payload = "a".repeat(436);
        let built = build(&[Block::Qr(payload)], 32, TextEncoding::Gbk, false).unwrap();
        // GS ( k 3 0 49 67 n: the module size.
        let size_at = built
            .bytes
            .windows(7)
            .position(|w| w == [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43])
            .unwrap();
        assert_eq!(built.bytes[size_at + 7], 4);
        let too_long = build(&[Block::Qr("a".repeat(2000))], 32, TextEncoding::Gbk, false);
        assert!(too_long.is_err());
    }
}
