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
    use std::os::fd::AsRawFd;
    let mut left = bytes;
    while !left.is_empty() {
        match file.write(left) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => left = &left[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut room = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = libc::c_int::try_from(stalled.as_millis()).unwrap_or(libc::c_int::MAX);
                // SAFETY: one pollfd, valid for the call, of a descriptor `file` holds open.
                match unsafe { libc::poll(&mut room, 1, ms) } {
                    0 => {
                        return Err(std::io::Error::new(
                            ErrorKind::TimedOut,
                            format!(
                                "it took no byte for {} s (out of paper, or switched off?)",
                                stalled.as_secs()
                            ),
                        ))
                    }
                    n if n < 0 => {
                        let e = std::io::Error::last_os_error();
                        if e.kind() != ErrorKind::Interrupted {
                            return Err(e);
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
        assert!(e.to_string().contains("took no byte"), "{e}");
        // A receipt that fits is taken.
        let mut file = DeviceFilePrinter::file(dir.path().join("receipts.bin"));
        file.send(b"receipt").unwrap();
    }
}
