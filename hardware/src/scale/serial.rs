//! A scale on a serial port: each question is written whole, the answer read up to its
//! terminator within the time given. A scale that is unplugged is reopened at the same path
//! on the next question, as the scanner is.

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serialport::{DataBits, Parity, StopBits};

use super::{Ask, Protocol, Reading, Scale};
use crate::{Error, Result};

/// Bytes a serial line carries per character: data bits, parity and stop bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
}

impl Framing {
    /// `8N1`, `7E1`, `7O1`, `8N2` …
    pub fn parse(text: &str) -> Option<Framing> {
        let b = text.trim().as_bytes();
        let [data, parity, stop] = b else {
            return None;
        };
        Some(Framing {
            data_bits: match data {
                b'7' => DataBits::Seven,
                b'8' => DataBits::Eight,
                _ => return None,
            },
            parity: match parity.to_ascii_uppercase() {
                b'N' => Parity::None,
                b'E' => Parity::Even,
                b'O' => Parity::Odd,
                _ => return None,
            },
            stop_bits: match stop {
                b'1' => StopBits::One,
                b'2' => StopBits::Two,
                _ => return None,
            },
        })
    }

    /// What a protocol's scales are set to out of the box: 7E1 for Toledo 8217, 8N1 for SMA.
    pub fn default_for(protocol: Protocol) -> Framing {
        let text = match protocol {
            Protocol::Toledo8217 => "7E1",
            Protocol::Sma => "8N1",
        };
        Framing::parse(text).unwrap_or(Framing {
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
        })
    }
}

pub struct SerialScale {
    path: PathBuf,
    baud: u32,
    framing: Framing,
    protocol: Protocol,
    /// What a Toledo 8217 scale weighs in.
    toledo_unit: &'static str,
    port: Option<Box<dyn serialport::SerialPort>>,
    /// The last question got no whole answer: one may still be on its way.
    unsettled: bool,
}

/// How long the line must stay silent, after a question that got no whole answer, before
/// the next is asked: its answer, arriving late after the next question's clearing, was
/// taken for that question's.
const QUIET: Duration = Duration::from_millis(150);

impl SerialScale {
    /// A scale at `path`; it is opened on the first question (and again after it goes away).
    pub fn new(path: PathBuf, baud: u32, framing: Framing, protocol: Protocol) -> SerialScale {
        SerialScale {
            path,
            baud,
            framing,
            protocol,
            toledo_unit: "kg",
            port: None,
            unsettled: false,
        }
    }

    /// The scale, a Toledo 8217 one set to weigh in `unit` (`kg`, `jin`, `g` or `lb`).
    pub fn weighing_in(mut self, unit: &'static str) -> SerialScale {
        self.toledo_unit = unit;
        self
    }

    fn port(&mut self) -> Result<&mut Box<dyn serialport::SerialPort>> {
        if self.port.is_none() {
            let port = serialport::new(self.path.to_string_lossy(), self.baud)
                .data_bits(self.framing.data_bits)
                .parity(self.framing.parity)
                .stop_bits(self.framing.stop_bits)
                .timeout(Duration::from_millis(100))
                .open()
                .map_err(|source| Error::Serial {
                    what: format!("scale {}", self.path.display()),
                    source,
                })?;
            self.port = Some(port);
        }
        self.port
            .as_mut()
            .ok_or_else(|| Error::Silent("the scale's port is not open".into()))
    }

    /// Asks and reads one answer; a port that fails is dropped, to be reopened next time.
    fn ask(&mut self, ask: Ask, timeout: Duration) -> Result<Reading> {
        let result = self.exchange(ask, timeout);
        self.unsettled = result.is_err();
        if let Err(Error::Io { .. } | Error::Serial { .. }) = &result {
            self.port = None;
        }
        result
    }

    fn exchange(&mut self, ask: Ask, timeout: Duration) -> Result<Reading> {
        let (protocol, unit) = (self.protocol, self.toledo_unit);
        let what = format!("scale {}", self.path.display());
        let deadline = Instant::now() + timeout;
        let unsettled = std::mem::take(&mut self.unsettled);
        let port = self.port()?;
        // Half the time at most: a line that never goes quiet (noise, a scale sending on its
        // own) leaves the question time to be answered, and is said so.
        if unsettled && !wait_for_quiet(port.as_mut(), Instant::now() + timeout / 2) {
            return Err(Error::Scale(format!(
                "{what}: the line never went quiet in {} ms (noise, or a scale set to send \
                 its weight on its own?)",
                (timeout / 2).as_millis()
            )));
        }
        // An answer left over from an earlier question would be taken for this one's.
        let _ = port.clear(serialport::ClearBuffer::Input);
        port.write_all(protocol.command(ask))
            .and_then(|_| port.flush())
            .map_err(|e| Error::io(&what, e))?;
        let mut answer = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !answer.is_empty() {
                // Bytes with no end: a scale at another baud or protocol than set.
                return Err(Error::Scale(format!(
                    "{what}: {} bytes with no end in {} ms (its baud and protocol as set?)",
                    answer.len(),
                    timeout.as_millis()
                )));
            }
            if left.is_zero() {
                return Err(Error::Silent(format!(
                    "{what} did not answer within {} ms",
                    timeout.as_millis()
                )));
            }
            let _ = port.set_timeout(left.min(Duration::from_millis(100)));
            let mut buf = [0u8; 64];
            match port.read(&mut buf) {
                Ok(0) => return Err(Error::io(&what, ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if protocol.whole_answer(&answer).is_some() {
                        return protocol
                            .parse(&answer, unit)
                            .map_err(|why| Error::Scale(format!("{what}: {why}")));
                    }
                    if answer.len() > 256 {
                        return Err(Error::Scale(format!("{what}: an answer with no end")));
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&what, e)),
            }
        }
    }
}

/// Reads and drops what `port` carries until it has been silent for [`QUIET`]: whether it
/// was before `deadline`.
fn wait_for_quiet(port: &mut dyn serialport::SerialPort, deadline: Instant) -> bool {
    let _ = port.set_timeout(Duration::from_millis(50));
    let mut heard = Instant::now();
    let mut buf = [0u8; 64];
    while heard.elapsed() < QUIET {
        if Instant::now() >= deadline {
            return false;
        }
        match port.read(&mut buf) {
            Ok(n) if n > 0 => heard = Instant::now(),
            Ok(_) => return true,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    true
}

impl Scale for SerialScale {
    fn describe(&self) -> String {
        format!(
            "{} scale {} at {} baud",
            self.protocol.name(),
            self.path.display(),
            self.baud
        )
    }

    fn weigh(&mut self, timeout: Duration) -> Result<Reading> {
        self.ask(Ask::Weight, timeout)
    }

    fn zero(&mut self, timeout: Duration) -> Result<Reading> {
        self.ask(Ask::Zero, timeout)
    }

    fn tare(&mut self, timeout: Duration) -> Result<Reading> {
        self.ask(Ask::Tare, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framings_are_read_as_written_on_the_scale() {
        let f = Framing::parse("7E1").unwrap();
        assert_eq!(
            (f.data_bits, f.parity, f.stop_bits),
            (DataBits::Seven, Parity::Even, StopBits::One)
        );
        assert_eq!(Framing::parse("8n1").unwrap().parity, Parity::None);
        assert!(Framing::parse("9N1").is_none());
        assert!(Framing::parse("8N").is_none());
    }
}
