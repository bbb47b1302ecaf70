//! A USB printer device file (`/dev/usb/lp0`) or a plain file that receipts are appended to.
//!
//! A USB printer out of paper, or switched off with its cable in, takes no more bytes, and a
//! write to its device file waited for ever: the sale was saved, but `fairpos sell` never
//! returned, and the touchscreen's printer thread printed nothing again. The file is written
//! without blocking, polled for room, and a printer that takes nothing for [`STALLED`] is
//! not reached.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{PrinterStatus, ReceiptPrinter};
use crate::{Error, Result};

/// How long a printer may take no byte before its receipt is given up.
pub const STALLED: Duration = Duration::from_secs(15);

pub struct DeviceFilePrinter {
    path: PathBuf,
    /// A plain file is created if missing and appended to; a device must exist.
    plain_file: bool,
    /// How long a write may make no progress.
    stalled: Duration,
}

impl DeviceFilePrinter {
    pub fn usb(path: PathBuf) -> DeviceFilePrinter {
        DeviceFilePrinter {
            path,
            plain_file: false,
            stalled: STALLED,
        }
    }

    pub fn file(path: PathBuf) -> DeviceFilePrinter {
        DeviceFilePrinter {
            path,
            plain_file: true,
            stalled: STALLED,
        }
    }

    /// A device given up after `stalled` with no byte taken (tests).
    pub fn usb_stalling_after(path: PathBuf, stalled: Duration) -> DeviceFilePrinter {
        DeviceFilePrinter {
            stalled,
            ..DeviceFilePrinter::usb(path)
        }
    }
}

/// Writes all of `bytes` to `file`, opened without blocking, waiting for room at most
/// `stalled` at a time.
#[cfg(unix)]
fn write_within(file: &mut std::fs::File, bytes: &[u8], stalled: Duration) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let mut left = bytes;
    let mut since_progress = std::time::Instant::now();
    while !left.is_empty() {
        match file.write(left) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                left = &left[n..];
                since_progress = std::time::Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Measured from the last byte taken: a poll that says there is room while
                // the writes still find none does not spin for ever.
                let left = stalled.saturating_sub(since_progress.elapsed());
                if left.is_zero() {
                    return Err(stalled_error(stalled));
                }
                if !room_within(file, left)? {
                    return Err(stalled_error(stalled));
                }
            }
            Err(e) => return Err(e),
        }
    }
    // Taken is not printed: a USB printer's driver takes the last bytes into its buffer and
    // answers at once, and closing the file cancels what it has not sent ("applications
    // setting O_NONBLOCK must poll to wait for the buffer to drain before closing", usblp).
    // Room again is the buffer drained. A plain file or a pipe has room at once.
    if room_within(file, stalled)? {
        Ok(())
    } else {
        Err(stalled_error(stalled))
    }
}

/// Whether `file` can be written to again within `within`.
#[cfg(unix)]
fn room_within(file: &std::fs::File, within: Duration) -> std::io::Result<bool> {
    use std::io::ErrorKind;
    use std::os::fd::AsRawFd;
    let until = std::time::Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        let mut room = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd, valid for the call, of a descriptor `file` holds open.
        match unsafe { libc::poll(&mut room, 1, ms) } {
            0 => return Ok(false),
            n if n < 0 => {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ => return Ok(true),
        }
    }
}

/// Why a write was given up: the printer took no byte for `stalled`.
fn stalled_error(stalled: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "it took no byte for {} ms (out of paper, or switched off?)",
            stalled.as_millis()
        ),
    )
}

#[cfg(not(unix))]
fn write_within(file: &mut std::fs::File, bytes: &[u8], _: Duration) -> std::io::Result<()> {
    file.write_all(bytes)
}

impl ReceiptPrinter for DeviceFilePrinter {
    fn describe(&self) -> String {
        let kind = if self.plain_file { "file" } else { "usb" };
        format!("{kind} {}", self.path.display())
    }

    fn status(&mut self) -> Result<Option<PrinterStatus>> {
        Ok(None)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let what = || format!("printer {}", self.path.display());
        let mut options = OpenOptions::new();
        options.append(true).create(self.plain_file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NONBLOCK);
        }
        let mut file = options.open(&self.path).map_err(|e| Error::io(what(), e))?;
        write_within(&mut file, bytes, self.stalled)
            .and_then(|_| file.flush())
            .map_err(|e| Error::io(what(), e))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A device that takes no more bytes (a pipe whose reader reads nothing, as a USB
    /// printer out of paper) is given up, not waited for: the write fails, naming why.
    #[test]
    fn a_device_taking_no_bytes_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("lp0");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // A reader that holds the pipe open and reads nothing.
        use std::os::unix::fs::OpenOptionsExt;
        let _reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let mut printer = DeviceFilePrinter::usb_stalling_after(fifo, Duration::from_millis(300));
        let e = printer.send(&vec![b'x'; 1 << 20]).unwrap_err();
        assert!(e.to_string().contains("took no byte for 300 ms"), "{e}");
        // A receipt that fits is taken.
        let mut file = DeviceFilePrinter::file(dir.path().join("receipts.bin"));
        file.send(b"receipt").unwrap();
    }
}
