//! Real-time status (`DLE EOT n`): what a printer says of itself, and asking it over any
//! two-way link.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// `DLE EOT n`.
pub fn query(n: u8) -> [u8; 3] {
    [0x10, 0x04, n]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrinterStatus {
    pub offline: bool,
    pub cover_open: bool,
    pub paper_out: bool,
    pub paper_near_end: bool,
}

impl PrinterStatus {
    /// From the answers to `DLE EOT` 1 (printer), 2 (offline cause) and 4 (paper sensor).
    pub fn from_answers(printer: u8, offline: u8, paper: u8) -> PrinterStatus {
        PrinterStatus {
            offline: printer & 0x08 != 0,
            cover_open: offline & 0x04 != 0,
            paper_out: paper & 0x60 != 0 || offline & 0x20 != 0,
            paper_near_end: paper & 0x0C != 0,
        }
    }

    /// What stops printing, if anything: `paper out`, `cover open` or `offline`.
    pub fn problem(&self) -> Option<&'static str> {
        if self.paper_out {
            Some("paper out")
        } else if self.cover_open {
            Some("cover open")
        } else if self.offline {
            Some("offline")
        } else {
            None
        }
    }

    /// The answers a printer in this state gives to `DLE EOT` 1, 2 and 4 (for doubles and
    /// fake printers).
    pub fn answers(&self) -> [u8; 3] {
        let fixed = 0x12;
        let offline = self.offline || self.cover_open || self.paper_out;
        [
            fixed | if offline { 0x08 } else { 0 },
            fixed | if self.cover_open { 0x04 } else { 0 } | if self.paper_out { 0x20 } else { 0 },
            fixed
                | if self.paper_out { 0x60 } else { 0 }
                | if self.paper_near_end { 0x0C } else { 0 },
        ]
    }
}

/// Reads one byte within `timeout`; `None` if none came.
fn read_byte(link: &mut impl Read, timeout: Duration) -> std::io::Result<Option<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1];
    loop {
        match link.read(&mut buf) {
            Ok(1) => return Ok(Some(buf[0])),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asks a printer on `link` for its status. `Ok(None)` when it does not answer the first
/// query within `timeout`. The link's own read timeout should be short.
pub fn ask(
    link: &mut (impl Read + Write),
    timeout: Duration,
) -> std::io::Result<Option<PrinterStatus>> {
    let mut answers = [0u8; 3];
    for (i, n) in [1u8, 2, 4].into_iter().enumerate() {
        link.write_all(&query(n))?;
        link.flush()?;
        match read_byte(link, timeout)? {
            Some(b) => answers[i] = b,
            None => return Ok(None),
        }
    }
    Ok(Some(PrinterStatus::from_answers(
        answers[0], answers[1], answers[2],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        for s in [
            PrinterStatus::default(),
            PrinterStatus {
                paper_out: true,
                ..Default::default()
            },
            PrinterStatus {
                cover_open: true,
                ..Default::default()
            },
        ] {
            let [a, b, c] = s.answers();
            let back = PrinterStatus::from_answers(a, b, c);
            assert_eq!(back.problem(), s.problem());
        }
        assert_eq!(
            PrinterStatus::from_answers(0x12, 0x12, 0x72).problem(),
            Some("paper out")
        );
        assert_eq!(
            PrinterStatus::from_answers(0x1A, 0x16, 0x12).problem(),
            Some("cover open")
        );
    }
}
