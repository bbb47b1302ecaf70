//! The data directory's lock, `hq.lock` beside `hq.db`: every `fairpos hq` command holds it
//! shared while it runs (`hq serve` for as long as it serves), and `hq restore` holds it
//! alone from its first look at the database to the copy's rename. A command started while
//! a restore runs is refused, not given the database being replaced (SQLite names a
//! database's write-ahead log by its path: a process that opened the old file would put its
//! log beside the new one). An advisory lock (`flock`): the kernel lets it go when its
//! process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

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
    /// no lock to take: `dir` does not exist (the command says so itself), or this user
    /// cannot make the lock file there (it then cannot write the database either).
    pub fn shared(dir: &Path) -> Result<Option<DirLock>> {
        let Some(file) = open(dir).ok() else {
            return Ok(None);
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DirLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(Error::input(format!(
                "{}: `hq restore` is replacing the database; run this again once it has ended",
                dir.display()
            ))),
            // A file system without locks: as before there were any.
            Err(TryLockError::Error(_)) => Ok(None),
        }
    }

    /// Holds `dir`'s lock alone, as `hq restore` does; refused while any other command holds
    /// it.
    pub fn alone(dir: &Path) -> Result<DirLock> {
        let file = open(dir).map_err(|source| Error::Io {
            path: dir.join(LOCK_FILE),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::input(format!(
                "{} is in use by another fairpos process: stop `hq serve` first (and let a \
                 command running there, such as `hq backup`, end)",
                dir.display()
            ))),
            Err(TryLockError::Error(source)) => Err(Error::Io {
                path: dir.join(LOCK_FILE),
                source,
            }),
        }
    }
}

/// Opens `dir`'s lock file, made if missing; read-only when this user may not write it (a
/// lock needs no more).
fn open(dir: &Path) -> std::io::Result<File> {
    let path = dir.join(LOCK_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .or_else(|_| File::open(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_share_the_lock_and_a_restore_holds_it_alone() {
        let dir = tempfile::tempdir().unwrap();
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
}
