//! The free space left on the disk of headquarters' data directory, watched while it
//! serves. On SQLite every sale headquarters takes is written there, and a put samod cannot
//! store stops the process (`fairpos_sync::samod_storage`): a disk about to fill is logged
//! (once, and once more when there is room again) and `/api/v1/health` says `"disk": "low"`,
//! so that whoever runs headquarters hears of it before it stops. On PostgreSQL the
//! database's own disk is the server's to watch; the data directory is still watched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stat` a
    // zeroed `statvfs` the call fills; nothing is kept past it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Both are 64-bit here, 32-bit on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// The data directory's free space as last read, shared by the server's handlers.
#[derive(Debug)]
pub struct DiskWatch {
    dir: PathBuf,
    min_free: u64,
    free: AtomicU64,
    low: AtomicBool,
}

impl DiskWatch {
    /// Watches `dir`, low below `min_free` bytes; reads it once now (and logs if low).
    pub fn new(dir: &Path, min_free: u64) -> DiskWatch {
        let watch = DiskWatch {
            dir: dir.to_path_buf(),
            min_free,
            free: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
        };
        watch.check();
        watch
    }

    /// Whether the free space was below the minimum when last read.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// The free bytes when last read.
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Reads the free space again; logs the line [`change`] gives, if any. A failed read
    /// is logged and leaves the last reading.
    pub fn check(&self) {
        match free_bytes(&self.dir) {
            Ok(free) => {
                self.free.store(free, Ordering::Relaxed);
                let was_low = self.low.swap(free < self.min_free, Ordering::Relaxed);
                if let Some(line) = change(&self.dir, was_low, free, self.min_free) {
                    eprintln!("{line}");
                }
            }
            Err(e) => eprintln!(
                "cannot read the free space under {}: {e}",
                self.dir.display()
            ),
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
    fn the_free_space_of_a_real_directory_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let missing = dir.path().join("missing");
        assert_eq!(
            free_bytes(&missing).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        assert!(DiskWatch::new(dir.path(), u64::MAX).is_low());
        assert!(!DiskWatch::new(dir.path(), 0).is_low());
    }
}
