//! A scanner on a serial port. Reads that time out mid-code keep their bytes; a scanner that
//! is unplugged is reopened at the same path when it comes back, without restarting the till.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{BarcodeSource, LineSplitter, SourceState};
use crate::Result;

/// Pause between attempts to reopen an absent scanner.
const REOPEN_EVERY: Duration = Duration::from_millis(200);

pub struct SerialScanner {
    path: PathBuf,
    baud: u32,
    port: Option<Box<dyn serialport::SerialPort>>,
    splitter: LineSplitter,
    ready: VecDeque<String>,
    state: SourceState,
}

impl SerialScanner {
    /// A scanner at `path`; it is opened on first use (and again after it goes away).
    pub fn new(path: PathBuf, baud: u32) -> SerialScanner {
        SerialScanner {
            path,
            baud,
            port: None,
            splitter: LineSplitter::new(),
            ready: VecDeque::new(),
            state: SourceState::Disconnected("not opened yet".into()),
        }
    }

    fn lost(&mut self, why: String) {
        self.port = None;
        // Half a code from before the unplug would corrupt the next one.
        self.splitter = LineSplitter::new();
        self.state = SourceState::Disconnected(why);
    }

    fn try_open(&mut self) -> bool {
        match serialport::new(self.path.to_string_lossy(), self.baud)
            .timeout(Duration::from_millis(100))
            .open()
        {
            Ok(port) => {
                self.port = Some(port);
                self.state = SourceState::Connected;
                true
            }
            Err(e) => {
                self.state = SourceState::Disconnected(format!("{}: {e}", self.path.display()));
                false
            }
        }
    }
}

impl BarcodeSource for SerialScanner {
    fn describe(&self) -> String {
        format!(
            "serial scanner {} at {} baud",
            self.path.display(),
            self.baud
        )
    }

    fn next_code(&mut self, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.ready.pop_front() {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if self.port.is_none() && !self.try_open() {
                std::thread::sleep(REOPEN_EVERY.min(left));
                continue;
            }
            let Some(port) = self.port.as_mut() else {
                continue;
            };
            let _ = port.set_timeout(left.min(Duration::from_millis(100)));
            let mut buf = [0u8; 256];
            match port.read(&mut buf) {
                // A pty whose other end closed reads 0 bytes; a real port reports an error.
                Ok(0) => self.lost("the scanner went away".into()),
                Ok(n) => {
                    let codes = self.splitter.push(&buf[..n]);
                    self.ready.extend(codes);
                }
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.lost(format!("{}: {e}", self.path.display())),
            }
        }
    }

    fn state(&self) -> SourceState {
        self.state.clone()
    }
}
