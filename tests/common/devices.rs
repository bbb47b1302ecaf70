//! Real devices for tests: serial pty pairs made by `socat`, and a fake ESC/POS printer that
//! answers status queries and keeps what it is sent, on a pty or a TCP socket.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairpos_hardware::printer::PrinterStatus;

/// Two linked pseudo-terminals, `a` and `b`: what is written to one is read from the other.
pub struct PtyPair {
    child: Child,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    pub fn new(dir: &Path, name: &str) -> PtyPair {
        let a = dir.join(format!("{name}-a"));
        let b = dir.join(format!("{name}-b"));
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat (scripts/setup.sh --test installs it)");
        let start = Instant::now();
        while !(a.exists() && b.exists()) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "socat made no ptys"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        PtyPair { child, a, b }
    }

    /// Tears the pair down, as unplugging a USB-serial scanner does.
    pub fn unplug(mut self) {
        // SIGTERM, so that socat removes its links; then wait for it.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.a);
        let _ = std::fs::remove_file(&self.b);
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A printer that answers `DLE EOT` with the status it is told and keeps every other byte.
#[derive(Clone)]
pub struct FakePrinter {
    pub status: Arc<Mutex<PrinterStatus>>,
    pub received: Arc<Mutex<Vec<u8>>>,
    /// How long the next status query waits for its answer (a printer busy with an image).
    late_once: Arc<Mutex<Option<Duration>>>,
    stop: Arc<AtomicBool>,
}

impl FakePrinter {
    fn new() -> FakePrinter {
        FakePrinter {
            status: Arc::default(),
            received: Arc::default(),
            late_once: Arc::default(),
            stop: Arc::default(),
        }
    }

    pub fn set(&self, status: PrinterStatus) {
        *self.status.lock().unwrap() = status;
    }

    /// Answers the next status query `by` late, the queries after it in turn.
    pub fn answer_late_once(&self, by: Duration) {
        *self.late_once.lock().unwrap() = Some(by);
    }

    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until what was received contains `needle`.
    pub fn wait_for(&self, needle: &[u8]) -> Vec<u8> {
        self.wait_for_after(0, needle)
    }

    /// Waits until what was received after its first `from` bytes contains `needle`.
    pub fn wait_for_after(&self, from: usize, needle: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got[from.min(got.len())..]
                .windows(needle.len())
                .any(|w| w == needle)
            {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the printer never got {needle:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Handles the bytes of one read: answers status queries, keeps the rest.
    fn take(&self, bytes: &[u8], pending: &mut Vec<u8>, reply: &mut dyn Write) {
        pending.extend_from_slice(bytes);
        let mut i = 0;
        let mut keep = Vec::new();
        while i < pending.len() {
            if pending[i] == 0x10 && pending.get(i + 1) == Some(&0x04) {
                let Some(&n) = pending.get(i + 2) else { break };
                if let Some(late) = self.late_once.lock().unwrap().take() {
                    std::thread::sleep(late);
                }
                let answers = self.status.lock().unwrap().answers();
                let byte = match n {
                    1 => answers[0],
                    2 => answers[1],
                    _ => answers[2],
                };
                let _ = reply.write_all(&[byte]);
                let _ = reply.flush();
                i += 3;
            } else {
                keep.push(pending[i]);
                i += 1;
            }
        }
        pending.drain(..i);
        self.received.lock().unwrap().extend(keep);
    }

    /// Serves on the `b` end of a pty pair.
    pub fn on_pty(path: &Path) -> FakePrinter {
        let printer = FakePrinter::new();
        let me = printer.clone();
        let mut port = serialport::new(path.to_string_lossy(), 9600)
            .timeout(Duration::from_millis(20))
            .open()
            .expect("open the printer's end of the pty");
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 4096];
            while !me.stop.load(Ordering::Relaxed) {
                match port.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let mut reply = port.try_clone().expect("clone port");
                        me.take(&buf[..n], &mut pending, &mut reply);
                    }
                    _ => {}
                }
            }
        });
        printer
    }

    /// Serves on a TCP port of 127.0.0.1; returns the printer and its port.
    pub fn on_tcp() -> (FakePrinter, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let printer = FakePrinter::new();
        let me = printer.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !me.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_millis(50)))
                            .unwrap();
                        let mut pending = Vec::new();
                        let mut buf = [0u8; 4096];
                        let idle = Instant::now();
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    let mut reply = stream.try_clone().unwrap();
                                    me.take(&buf[..n], &mut pending, &mut reply);
                                }
                                Err(_) if idle.elapsed() < Duration::from_secs(30) => {}
                                Err(_) => break,
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        (printer, port)
    }
}

impl Drop for FakePrinter {
    fn drop(&mut self) {
        if Arc::strong_count(&self.stop) <= 2 {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}
