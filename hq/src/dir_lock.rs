//! The data directory's lock, `hq.lock` beside `hq.db`: every `fairpos hq` command holds it
//! shared while it runs (`hq serve` for as long as it serves), and `hq restore` holds it
//! alone from its first look at the database to the copy's rename. A command started while
//! a restore runs is refused, not given the database being replaced (SQLite names a
//! database's write-ahead log by its path: a process that opened the old file would put its
//! log beside the new one). An advisory lock (`flock`): the kernel lets it go when its
//! process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::instance::HQ_DB;
use crate::{Error, Result};

/// The lock file's name in a data directory.
pub const LOCK_FILE: &str = "hq.lock";

/// A hold on a data directory's lock, let go when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Holds `dir`'s lock shared, as every command but a restore does. `None` when there is
    /// no lock to take: neither a database nor a lock file in `dir` (the command says so
    /// itself, and no lock file is left in a directory that is not a headquarters'), a lock
    /// file this user cannot open (said on stderr), or a file system without locks.
    pub fn shared(dir: &Path) -> Result<Option<DirLock>> {
        if !dir.join(HQ_DB).exists() && !dir.join(LOCK_FILE).exists() {
            return Ok(None);
        }
        let file = match open(dir) {
            Ok(file) => file,
            Err(e) => {
                eprintln!(
                    "warning: {}: {e}; running without the directory's lock",
                    dir.join(LOCK_FILE).display()
                );
                return Ok(None);
            }
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DirLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(Error::input(format!(
                "{}: `hq restore` is replacing the database; run this again once it has ended",
                dir.display()
            ))),
            Err(TryLockError::Error(_)) => Ok(None),
        }
    }

    /// Holds `dir`'s lock alone, as `hq restore` does; refused while any other command holds
    /// it. On a file system without locks, a hold that holds nothing (`hq restore` still
    /// refuses a database another process has open).
    pub fn alone(dir: &Path) -> Result<DirLock> {
        let at = dir.join(LOCK_FILE);
        let file = open(dir).map_err(|source| Error::Io {
            path: at.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::input(format!(
                "{} is in use by another fairpos process: stop `hq serve` first (and let a \
                 command running there, such as `hq backup` or another `hq restore`, end)",
                dir.display()
            ))),
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                Ok(DirLock { _file: file })
            }
            Err(TryLockError::Error(source)) => Err(Error::Io { path: at, source }),
        }
    }
}

/// Opens `dir`'s lock file, made if missing, read-only when this user may not write it (a
/// lock needs no more). Made readable by every user: a restore run as root must not leave
/// a lock that `hq serve`'s user cannot open.
fn open(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .or_else(|_| File::open(&path))?;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0o044 {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode | 0o444));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_share_the_lock_and_a_restore_holds_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            DirLock::shared(dir.path()).unwrap().is_none(),
            "no database"
        );
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "and no lock file left"
        );
        // Between a restore's two renames there is no database, but the lock is there.
        let restoring = DirLock::alone(dir.path()).unwrap();
        assert!(DirLock::shared(dir.path()).is_err(), "hq init is refused");
        drop(restoring);
        std::fs::write(dir.path().join(HQ_DB), b"").unwrap();
        let serving = DirLock::shared(dir.path()).unwrap().unwrap();
        let backing_up = DirLock::shared(dir.path()).unwrap().unwrap();
        let refused = DirLock::alone(dir.path()).unwrap_err();
        assert!(refused.is_bad_input(), "{refused}");
        assert!(refused.to_string().contains("stop `hq serve` first"));
        drop(serving);
        assert!(DirLock::alone(dir.path()).is_err(), "the backup still runs");
        drop(backing_up);

        let restoring = DirLock::alone(dir.path()).unwrap();
        let refused = DirLock::shared(dir.path()).unwrap_err();
        assert!(refused.is_bad_input(), "{refused}");
        assert!(refused.to_string().contains("`hq restore` is replacing"));
        assert!(DirLock::alone(dir.path()).is_err());
        drop(restoring);
        assert!(DirLock::shared(dir.path()).unwrap().is_some());

        assert!(DirLock::shared(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn the_lock_file_is_readable_by_the_user_hq_serve_runs_as() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK_FILE);
        // As a restore run as root with umask 077 would make it.
        std::fs::write(&lock, b"").unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
        let _restoring = DirLock::alone(dir.path()).unwrap();
        let mode = std::fs::metadata(&lock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
