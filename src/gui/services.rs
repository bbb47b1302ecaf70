//! The till's slow work, each on a thread of its own so that the touchscreen never waits:
//! the printer (status, then the whole receipt), the serial scanner (reads, unplugs,
//! reopens), the scale (read a few times a second while the weight pad is open; zero, tare),
//! and sync with headquarters (a pass every half minute, longer after failures).
//! Results come back as [`Event`]s through `post`, which hands them to the UI's event loop.
//! The database stays the UI thread's: threads get bytes to print, and sync reads the
//! ledgers through a read-only connection of its own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_hardware::config::{PrinterConfig, ScaleConfig, ScannerConfig, ScannerKind};
use fairpos_hardware::printer::{self, ReceiptPrinter};
use fairpos_hardware::scale::{Reading, Scale};

use crate::gui::till::ScaleTrouble;
use fairpos_hardware::scanner::{BarcodeSource, SerialScanner, SourceState};
use rusqlite::{Connection, OpenFlags};

use crate::gui::sync_pace::SyncPace;
use crate::store::DB_FILE;
use crate::till::printing::{printer_trouble, send_receipt, ReadyReceipt, Unprinted};
use crate::uplink::{SyncDone, SyncJob, SyncOptions};

/// What a background thread reports.
pub enum Event {
    /// A receipt went to the printer (`failure: None`) or did not.
    Printed {
        ready: ReadyReceipt,
        failure: Option<Unprinted>,
    },
    /// A slip (a kiosk basket) went to the printer or did not.
    SlipPrinted {
        failure: Option<String>,
    },
    /// How the printer is, when it changed: `None` is ready.
    Printer(Option<String>),
    Scanned(String),
    /// How the serial scanner is, when it changed: `None` is connected.
    Scanner(Option<String>),
    SyncStarted,
    SyncFinished(Box<crate::error::Result<SyncDone>>),
    /// What the scale shows, or why it shows nothing.
    Weight(Result<Reading, ScaleTrouble>),
    /// The scale's answer to [`ScaleJob::WeighNow`], changed or not.
    FreshWeight(Result<Reading, ScaleTrouble>),
}

/// What the scale thread is asked.
pub enum ScaleJob {
    /// Read the scale a few times a second (the weight pad is open), or stop.
    Watch(bool),
    /// Read it at once ("Add" pressed), and tell the answer whatever it is.
    WeighNow,
    Zero,
    Tare,
}

pub type Post = Arc<dyn Fn(Event) + Send + Sync>;

/// Something for the printer thread to print.
pub enum Job {
    Receipt(ReadyReceipt),
    Slip(Vec<u8>),
}

/// Handles to the running threads. Dropping it ends them: the printer and sync threads when
/// their channel closes, the scanner thread (and its hold on the port) within one read.
pub struct Services {
    printer: Option<mpsc::Sender<Job>>,
    scale: Option<mpsc::Sender<ScaleJob>>,
    sync_now: Option<mpsc::Sender<()>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Services {
    /// No threads: what tests and a till without devices or headquarters use.
    pub fn none() -> Services {
        Services {
            printer: None,
            scale: None,
            sync_now: None,
            stop: Arc::default(),
        }
    }

    pub fn has_printer(&self) -> bool {
        self.printer.is_some()
    }

    /// Queues a print job; `false` when there is no printer thread.
    pub fn print(&self, job: Job) -> bool {
        self.printer.as_ref().is_some_and(|p| p.send(job).is_ok())
    }

    pub fn has_scale(&self) -> bool {
        self.scale.is_some()
    }

    /// Asks the scale thread; `false` when there is no scale.
    pub fn scale(&self, job: ScaleJob) -> bool {
        self.scale.as_ref().is_some_and(|s| s.send(job).is_ok())
    }

    /// Asks for a sync pass now rather than at the next interval.
    pub fn sync_soon(&self) {
        if let Some(s) = &self.sync_now {
            let _ = s.send(());
        }
    }
}

/// What the services need to know of the till.
pub struct Setup {
    pub dir: PathBuf,
    pub fair: String,
    pub device: String,
    pub printer: PrinterConfig,
    pub scanner: ScannerConfig,
    pub scale: ScaleConfig,
    pub enrolled: bool,
    pub sync_interval: Duration,
}

pub fn start(setup: Setup, post: Post) -> Services {
    let stop = Arc::new(AtomicBool::new(false));
    let printer = match printer::open(&setup.printer) {
        Ok(Some(device)) => Some(start_printer(device, post.clone())),
        Ok(None) => None,
        Err(e) => {
            post(Event::Printer(Some(e.to_string())));
            None
        }
    };
    if setup.scanner.kind == ScannerKind::Serial {
        if let Some(path) = setup.scanner.path.clone() {
            let scanner = SerialScanner::new(path, setup.scanner.baud);
            start_scanner(Box::new(scanner), post.clone(), stop.clone());
        }
    }
    let scale = match setup.scale.open() {
        Ok(Some(device)) => Some(start_scale(device, post.clone())),
        Ok(None) => None,
        Err(e) => {
            post(Event::Weight(Err(ScaleTrouble::of(&e))));
            None
        }
    };
    let sync_now = setup.enrolled.then(|| start_sync(&setup, post));
    Services {
        printer,
        scale,
        sync_now,
        stop,
    }
}

fn start_printer(mut device: Box<dyn ReceiptPrinter>, post: Post) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("printer".into())
        .spawn(move || {
            let mut state: Option<Option<String>> = None;
            let mut report = |now: Option<String>| {
                if state.as_ref() != Some(&now) {
                    state = Some(now.clone());
                    post(Event::Printer(now));
                }
            };
            loop {
                match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(Job::Receipt(ready)) => {
                        let failure =
                            send_receipt(device.as_mut(), &ready.bytes, ready.open_drawer);
                        report(failure.as_ref().map(|u| u.reason.clone()));
                        post(Event::Printed { ready, failure });
                    }
                    Ok(Job::Slip(bytes)) => {
                        let failure =
                            send_receipt(device.as_mut(), &bytes, false).map(|u| u.reason);
                        report(failure.clone());
                        post(Event::SlipPrinted { failure });
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        // Between receipts, watch the printer so the status bar stays true.
                        report(printer_trouble(device.as_mut()));
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .ok();
    tx
}

/// Reads the scale while it is watched, and zeroes or tares it when asked; ends when its
/// channel closes. An unplugged scale is reopened by the next question.
fn start_scale(mut scale: Box<dyn Scale>, post: Post) -> mpsc::Sender<ScaleJob> {
    let (tx, rx) = mpsc::channel::<ScaleJob>();
    std::thread::Builder::new()
        .name("scale".into())
        .spawn(move || {
            let answer = Duration::from_millis(800);
            let mut watching = false;
            let mut last: Option<Result<Reading, ScaleTrouble>> = None;
            loop {
                let wait = if watching {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(3600)
                };
                let reading = match rx.recv_timeout(wait) {
                    Ok(ScaleJob::WeighNow) => {
                        let reading = scale.weigh(answer).map_err(|e| ScaleTrouble::of(&e));
                        last = Some(reading.clone());
                        post(Event::FreshWeight(reading));
                        continue;
                    }
                    Ok(ScaleJob::Watch(on)) => {
                        watching = on;
                        last = None;
                        if !on {
                            continue;
                        }
                        scale.weigh(answer)
                    }
                    Ok(ScaleJob::Zero) => scale.zero(answer),
                    Ok(ScaleJob::Tare) => scale.tare(answer),
                    Err(mpsc::RecvTimeoutError::Timeout) => scale.weigh(answer),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                let reading = reading.map_err(|e| ScaleTrouble::of(&e));
                // Only what changed goes to the screen.
                if last.as_ref() != Some(&reading) {
                    last = Some(reading.clone());
                    post(Event::Weight(reading));
                }
            }
        })
        .ok();
    tx
}

/// Reads a scanner until `stop` is set (its [`Services`] dropped, as when the kiosk hands
/// over to the till, whose own scanner thread then opens the port).
pub fn start_scanner(mut scanner: Box<dyn BarcodeSource>, post: Post, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("scanner".into())
        .spawn(move || {
            let mut state: Option<SourceState> = None;
            while !stop.load(Ordering::Relaxed) {
                let code = scanner.next_code(Duration::from_millis(500));
                let now = scanner.state();
                if state.as_ref() != Some(&now) {
                    post(Event::Scanner(match &now {
                        SourceState::Connected => None,
                        SourceState::Disconnected(why) => Some(why.clone()),
                    }));
                    state = Some(now);
                }
                match code {
                    Ok(Some(code)) => post(Event::Scanned(code)),
                    Ok(None) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(500)),
                }
            }
        })
        .ok();
}

fn start_sync(setup: &Setup, post: Post) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let db = setup.dir.join(DB_FILE);
    let fair = setup.fair.clone();
    let device = setup.device.clone();
    let interval = setup.sync_interval;
    std::thread::Builder::new()
        .name("sync".into())
        .spawn(move || {
            let options = SyncOptions {
                hq: None,
                timeout: Duration::from_secs(20),
            };
            let mut pace = SyncPace::new(interval, Instant::now());
            loop {
                match rx.recv_timeout(pace.wait(Instant::now())) {
                    Ok(()) => {
                        // Asks queued meanwhile (a sale each during a slow pass) are one.
                        while rx.try_recv().is_ok() {}
                        if !pace.may_pass_now(Instant::now()) {
                            continue;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
                post(Event::SyncStarted);
                let done = Connection::open_with_flags(
                    &db,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(crate::error::Error::from)
                .and_then(|conn| SyncJob::read(&conn, &fair, &device, &options))
                .and_then(SyncJob::run);
                match &done {
                    Ok(_) => pace.passed(Instant::now()),
                    Err(e) => {
                        pace.failed(Instant::now(), e.retry_after());
                    }
                }
                post(Event::SyncFinished(Box::new(done)));
            }
        })
        .ok();
    tx
}
