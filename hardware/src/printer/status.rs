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

/// Whether `byte` is an answer to `DLE EOT`: bits 1 and 4 set, 0 and 7 clear, whatever
/// the status. Anything else on the link (an XON or XOFF of a serial printer's flow
/// control, an automatic status byte) is not one.
fn is_status(byte: u8) -> bool {
    byte & 0x93 == 0x12
}

/// The next status answer on `link` within `timeout`, other bytes passed over: taken for
/// an answer, a stray byte shifted the three answers by one, and a printer with its cover
/// open could be read as ready (and a receipt sent to it taken as printed).
fn read_status(link: &mut impl Read, timeout: Duration) -> std::io::Result<Option<u8>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match read_byte(link, left)? {
            Some(b) if is_status(b) => return Ok(Some(b)),
            Some(_) if !left.is_zero() => {}
            _ => return Ok(None),
        }
    }
}

/// Asks a printer on `link` for its status. `Ok(None)` when it does not answer the first
/// query within `timeout`. The link's own read timeout should be short.
pub fn ask(
    link: &mut (impl Read + Write),
    timeout: Duration,
) -> std::io::Result<Option<PrinterStatus>> {
    ask_settling(link, timeout, None)
}

/// Asks a printer on `link` one question (`DLE EOT 1`) and waits up to `timeout` for its
/// answer: whether it answered. After a receipt on the same link, an answer says the printer
/// has read the whole receipt.
pub fn answers(link: &mut (impl Read + Write), timeout: Duration) -> std::io::Result<bool> {
    link.write_all(&query(1))?;
    link.flush()?;
    Ok(read_status(link, timeout)?.is_some())
}

/// How long a printer asked again is listened to after each answer, for a later one.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Asks again a printer that missed a question: its late answers to the questions asked
/// before come first, then the answer to this one. After each answer what else comes within
/// [`SETTLE`] is read too, and the last answer taken: the first read as answers to this
/// asking, each answer was one behind, and a cover open read as closed.
pub fn ask_again(
    link: &mut (impl Read + Write),
    timeout: Duration,
) -> std::io::Result<Option<PrinterStatus>> {
    ask_settling(link, timeout, Some(SETTLE))
}

fn ask_settling(
    link: &mut (impl Read + Write),
    timeout: Duration,
    settle: Option<Duration>,
) -> std::io::Result<Option<PrinterStatus>> {
    let mut answers = [0u8; 3];
    // The whole asking is held to `timeout` (a line whose noise looks like answers now and
    // then would otherwise be listened to for ever).
    let until = Instant::now() + timeout;
    for (i, n) in [1u8, 2, 4].into_iter().enumerate() {
        link.write_all(&query(n))?;
        link.flush()?;
        let asked = Instant::now();
        match read_status(link, until.saturating_duration_since(asked))? {
            Some(b) => answers[i] = b,
            None => return Ok(None),
        }
        if let Some(settle) = settle {
            // Listened to at least as long as this answer took: a printer slow to answer
            // every question sends the answer to this one that long after the one it owed.
            let settle = settle.max(asked.elapsed());
            loop {
                let left = until.saturating_duration_since(Instant::now()).min(settle);
                match read_status(link, left)? {
                    Some(later) if !left.is_zero() => answers[i] = later,
                    _ => break,
                }
            }
        }
    }
    Ok(Some(PrinterStatus::from_answers(
        answers[0], answers[1], answers[2],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A printer over a link that answers each query at once, after answers it owes from
    /// before (late answers to questions an earlier asking gave up on).
    struct Owing {
        status: PrinterStatus,
        owed: Vec<u8>,
        unread: std::collections::VecDeque<u8>,
    }

    impl Read for Owing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.unread.pop_front() {
                Some(b) => {
                    buf[0] = b;
                    Ok(1)
                }
                None => Err(ErrorKind::TimedOut.into()),
            }
        }
    }

    impl Write for Owing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let [a, b, c] = self.status.answers();
            self.unread.extend(self.owed.drain(..));
            self.unread.push_back(match buf[2] {
                1 => a,
                2 => b,
                _ => c,
            });
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Asked again, a printer owing an answer to an earlier `DLE EOT 1` is read whole: its
    /// cover open is not read as closed (each answer one behind).
    #[test]
    fn asked_again_the_answers_owed_are_passed_over() {
        let status = PrinterStatus {
            cover_open: true,
            ..Default::default()
        };
        let owing = || Owing {
            status,
            owed: vec![status.answers()[0]],
            unread: Default::default(),
        };
        let timeout = Duration::from_millis(20);
        let read = ask_again(&mut owing(), timeout).unwrap().unwrap();
        assert_eq!(read.problem(), Some("cover open"));
        // Asked the first time's way, the answers are one behind.
        let shifted = ask(&mut owing(), timeout).unwrap().unwrap();
        assert_ne!(shifted.problem(), Some("cover open"));
    }

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

    /// A link whose printer has already said `said`; what is written to it is dropped.
    struct Said(std::io::Cursor<Vec<u8>>);

    impl Read for Said {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Said {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_that_are_no_status_answer_are_passed_over() {
        // An XON of the printer's flow control before a cover-open printer's three answers:
        // taken as the first answer, it shifted them and read as "ready".
        let mut link = Said(std::io::Cursor::new(vec![0x11, 0x1A, 0x13, 0x16, 0x12]));
        let status = ask(&mut link, Duration::from_millis(50)).unwrap();
        assert_eq!(status.and_then(|s| s.problem()), Some("cover open"));
        // Nothing but stray bytes: no answer.
        let mut link = Said(std::io::Cursor::new(vec![0x11, 0x13]));
        assert_eq!(ask(&mut link, Duration::from_millis(50)).unwrap(), None);
    }
}
