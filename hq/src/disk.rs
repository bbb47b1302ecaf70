//! The free space left on the disk of headquarters' data directory, watched while it
//! serves. On SQLite every sale headquarters takes is written there, and a put samod cannot
//! store stops the process (`fairpos_sync::samod_storage`): a disk about to fill is logged
//! (once, and once more when there is room again) and `/api/v1/health` says `"disk": "low"`,
//! so that whoever runs headquarters hears of it before it stops. On PostgreSQL the
//! database's own disk is the server's to watch; the data directory is still watched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// `--min-free-disk`'s default: room for about a day of a busy headquarters' sales.
pub const DEFAULT_MIN_FREE: &str = "2GiB";

/// How often the free space is read again.
pub const EVERY: Duration = Duration::from_secs(30);

/// The bytes an unprivileged process may still write on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statvfs` is plain data, so all zeroes is a valid value; `path` is a
    // NUL-terminated string that outlives the call, which fills `stat` and keeps neither.
    let (stat, status) = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        let status = libc::statvfs(path.as_ptr(), &mut stat);
        (stat, status)
    };
    if status != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Both are 64-bit here, 32-bit on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// What the last reading of the free space said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskState {
    /// Not read yet, or the last read failed.
    Unknown,
    Ok,
    /// Under the minimum.
    Low,
}

impl DiskState {
    /// As `/api/v1/health` answers it.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskState::Unknown => "unknown",
            DiskState::Ok => "ok",
            DiskState::Low => "low",
        }
    }

    fn from_u8(v: u8) -> DiskState {
        match v {
            1 => DiskState::Ok,
            2 => DiskState::Low,
            _ => DiskState::Unknown,
        }
    }
}

/// The data directory's free space as last read, shared by the server's handlers.
#[derive(Debug)]
pub struct DiskWatch {
    dir: PathBuf,
    min_free: u64,
    free: AtomicU64,
    /// A [`DiskState`] as its number.
    state: AtomicU8,
    /// The last read failed (logged once until one succeeds).
    failing: AtomicBool,
}

impl DiskWatch {
    /// Watches `dir`, low below `min_free` bytes (0: never low); reads it once now (and
    /// logs if low).
    pub fn new(dir: &Path, min_free: u64) -> DiskWatch {
        let watch = DiskWatch {
            dir: dir.to_path_buf(),
            min_free,
            free: AtomicU64::new(u64::MAX),
            state: AtomicU8::new(DiskState::Unknown as u8),
            failing: AtomicBool::new(false),
        };
        watch.check();
        watch
    }

    /// What the last reading said.
    pub fn state(&self) -> DiskState {
        DiskState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Whether the free space was below the minimum when last read.
    pub fn is_low(&self) -> bool {
        self.state() == DiskState::Low
    }

    /// The free bytes when last read; `None` while the state is unknown (not read yet, or
    /// the last read failed).
    pub fn free(&self) -> Option<u64> {
        (self.state() != DiskState::Unknown).then(|| self.free.load(Ordering::Relaxed))
    }

    /// The free space under which the disk is low (0: never).
    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    /// Reads the free space again and logs what [`DiskWatch::record`] gives.
    pub fn check(&self) {
        if let Some(line) = self.record(free_bytes(&self.dir)) {
            eprintln!("{line}");
        }
    }

    /// Takes a reading of the free space; the line to log, if it says something new: the
    /// minimum crossed either way ([`change`]), or a first failed read (the state is then
    /// unknown until a read succeeds).
    pub fn record(&self, reading: std::io::Result<u64>) -> Option<String> {
        match reading {
            Ok(free) => {
                self.failing.store(false, Ordering::Relaxed);
                self.free.store(free, Ordering::Relaxed);
                let now = if free < self.min_free {
                    DiskState::Low
                } else {
                    DiskState::Ok
                };
                let was = DiskState::from_u8(self.state.swap(now as u8, Ordering::Relaxed));
                change(&self.dir, was == DiskState::Low, free, self.min_free)
            }
            Err(e) => {
                self.state
                    .store(DiskState::Unknown as u8, Ordering::Relaxed);
                let was_failing = self.failing.swap(true, Ordering::Relaxed);
                (!was_failing).then(|| {
                    format!(
                        "cannot read the free space under {}: {e}",
                        self.dir.display()
                    )
                })
            }
        }
    }

    /// Reads the free space every [`EVERY`], for as long as the server runs.
    pub async fn keep_watching(self: std::sync::Arc<Self>) {
        let mut every = tokio::time::interval(EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            let watch = self.clone();
            let _ = tokio::task::spawn_blocking(move || watch.check()).await;
        }
    }
}

/// The line to log when the free space `free` crosses the minimum one way or the other
/// (`was_low`: it was below when last read); `None` when it stays on the same side.
pub fn change(dir: &Path, was_low: bool, free: u64, min_free: u64) -> Option<String> {
    let low = free < min_free;
    match (was_low, low) {
        (false, true) => Some(format!(
            "the disk under {} has {} free, under --min-free-disk {}: on SQLite, headquarters \
             stops when it cannot store a sale there; make room or move the data directory",
            dir.display(),
            size(free),
            size(min_free)
        )),
        (true, false) => Some(format!(
            "the disk under {} has {} free again",
            dir.display(),
            size(free)
        )),
        _ => None,
    }
}

/// `bytes` in MiB (whole), as an operator reads it.
fn size(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_only_when_the_minimum_is_crossed() {
        let dir = Path::new("/srv/hq");
        let min = 2 << 30;
        assert_eq!(change(dir, false, 3 << 30, min), None);
        let low = change(dir, false, 100 << 20, min).unwrap();
        assert!(
            low.contains("/srv/hq has 100 MiB free, under --min-free-disk 2048 MiB"),
            "{low}"
        );
        assert_eq!(change(dir, true, 99 << 20, min), None);
        assert_eq!(change(dir, true, min - 1, min), None);
        let again = change(dir, true, min, min).unwrap();
        assert_eq!(again, "the disk under /srv/hq has 2048 MiB free again");
    }

    #[test]
    fn readings_move_the_state_and_log_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let watch = DiskWatch::new(dir.path(), 2 << 30);
        // The first reading was this machine's own disk, whatever it has.
        let _ = watch.record(Ok(3 << 30));
        assert_eq!(watch.state(), DiskState::Ok);
        assert!(watch
            .record(Ok(1 << 30))
            .unwrap()
            .contains("1024 MiB free, under"));
        assert_eq!(
            (watch.state(), watch.free()),
            (DiskState::Low, Some(1 << 30))
        );
        assert_eq!(watch.record(Ok(1 << 29)), None);
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(watch
            .record(Err(gone))
            .unwrap()
            .starts_with("cannot read the free space"));
        assert_eq!((watch.state(), watch.free()), (DiskState::Unknown, None));
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(watch.record(Err(gone)), None, "a failure is logged once");
        assert_eq!(watch.record(Ok(3 << 30)), None);
        assert_eq!(watch.state(), DiskState::Ok);
        assert!(watch.record(Ok(1)).is_some());
        assert!(watch
            .record(Ok(2 << 30))
            .unwrap()
            .ends_with("has 2048 MiB free again"));
    }

    #[test]
    fn the_free_space_of_a_real_directory_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let missing = dir.path().join("missing");
        assert_eq!(
            free_bytes(&missing).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        assert_eq!(DiskWatch::new(dir.path(), 1).state(), DiskState::Ok);
        assert_eq!(DiskWatch::new(&missing, 1).state(), DiskState::Unknown);
    }
}
