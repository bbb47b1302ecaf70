//! `hq backup` and `hq restore` ([`restore`]): a copy of a SQLite headquarters (or hub)
//! taken while it serves, and that copy put back while it is stopped. Everything headquarters holds is in
//! its database (`hq.db`), so the copy is of that: its pages as one read transaction sees
//! them (SQLite's online backup), which its tills' syncs go on writing beside, checked whole
//! before it takes its name. A headquarters on PostgreSQL is backed up with PostgreSQL's own
//! tools.
//!
//! What was synced after a backup is not lost with it: every till still holds every sale it
//! made, and its next sync gives the restored headquarters back what the copy lacks (a till
//! enrolled after the backup is enrolled again first: `fairpos enroll --again`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fairpos_domain::fair::Fair;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::instance::{connect, HQ_DB};
use crate::progress::{Due, Pace};
use crate::META_DATABASE;
use crate::{Error, Result};

/// What a copy of a headquarters' database holds, read from the copy itself.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Holding {
    /// The fair's id.
    pub fair: String,
    /// `hq` or `hub`.
    pub role: String,
    /// Ledger documents announced by their tills.
    pub ledgers: i64,
    /// Sales projected from them.
    pub sales: i64,
    /// The database file's size.
    pub bytes: u64,
}

/// What an operator does after `pg_restore`, before serving: what `hq restore` does itself
/// on SQLite, which a dump brings back as it was (sessions ended since, devices and screen
/// links revoked since).
pub(crate) const AFTER_PG_RESTORE: &str = "; before, note the devices and screen links \
     revoked since the dump (`hq audit`: the restore drops the entries written since); then, \
     before serving, `hq end-sessions` (the dump's sessions would live again), and revoke again \
     each device (`hq revoke-device`) and screen link (`hq screen-link --revoke`) revoked \
     since the dump, which it lets in again; a device enrolled again since is then added and \
     enrolled again";

pub(crate) fn pg_tools_instead(what: &str) -> Error {
    Error::input(format!(
        "this headquarters keeps its data in PostgreSQL (the database `hq init --database` \
         named): {what}"
    ))
}

/// Copies the database of the headquarters in `dir`, serving or not, into the new file
/// `to`, telling `progress` how far it has come while it takes longer than two seconds,
/// then that it checks the copy, then that it writes it to disk ([`Progress`]). The copy is written under a temporary name beside `to`, checked
/// (`PRAGMA quick_check`), flushed to disk, and only then named `to`: an interrupted backup
/// leaves no file that looks whole.
pub fn backup(dir: &Path, to: &Path, progress: impl FnMut(Progress)) -> Result<Holding> {
    backup_paced(dir, to, progress, Pace::OPERATOR, 4096)
}

/// How far a copy (a backup's or a restore's) has come, told while a long one is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `bytes` of `of` copied: told every second or so once the copy has taken two.
    Copied { bytes: u64, of: u64 },
    /// The copy, `bytes` long, is made and is being read back whole (`PRAGMA quick_check`,
    /// which takes longer than the copy): told of every copy, whatever it took.
    Checking { bytes: u64 },
    /// The copy, read back whole, is being written to disk (`fsync`: a copy the kernel made
    /// may still be in memory): told of every copy, last.
    Flushing { bytes: u64 },
}

/// Tells a copy's [`Progress`] as its [`Pace`] says.
struct Teller<F> {
    due: Due,
    progress: F,
}

impl<F: FnMut(Progress)> Teller<F> {
    fn new(pace: Pace, progress: F) -> Teller<F> {
        Teller {
            due: Due::new(pace),
            progress,
        }
    }

    /// `bytes` of `of` copied: told when it is due.
    fn copied(&mut self, bytes: u64, of: u64) {
        if self.due.take() {
            (self.progress)(Progress::Copied { bytes, of });
        }
    }

    /// The copy, `bytes` long, is to be checked.
    fn checking(&mut self, bytes: u64) {
        (self.progress)(Progress::Checking { bytes });
    }

    /// The copy, `bytes` long and checked, is to be written to disk.
    fn flushing(&mut self, bytes: u64) {
        (self.progress)(Progress::Flushing { bytes });
    }
}

/// Steps that found the copy busy, one after another, before the backup gives up (about ten
/// seconds): neither file is another connection's to lock, so this is not expected.
const BUSY_STEPS: u32 = 1000;

/// [`backup`], `pages` pages a step, its progress told as `pace` says.
fn backup_paced(
    dir: &Path,
    to: &Path,
    progress: impl FnMut(Progress),
    pace: Pace,
    pages: i32,
) -> Result<Holding> {
    if !dir.join(HQ_DB).exists() {
        return Err(Error::input(format!(
            "no headquarters in {}",
            dir.display()
        )));
    }
    if to.exists() {
        return Err(Error::input(format!(
            "{} exists: back up to a new file (a backup is never written over)",
            to.display()
        )));
    }
    let mut conn = connect(dir)?;
    if crate::meta(&conn, META_DATABASE)?.is_some() {
        return Err(pg_tools_instead(&format!(
            "back it up with pg_dump (pg_dump --format=custom --file=FILE URL) and restore \
             it with pg_restore --clean{AFTER_PG_RESTORE}"
        )));
    }
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::input(format!(
            "cannot back up to {}: there is no directory {}",
            to.display(),
            parent.display()
        )));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let partial = tempfile::Builder::new()
        .prefix(".fairpos-backup-")
        .tempfile_in(&parent)
        .map_err(io(&parent))?;
    let partial_path = partial.path().to_path_buf();

    // One read transaction, held from the first page to the last: the tills' syncs commit
    // beside it, and the copy is the database as it stood when it began. (A backup that
    // took a read transaction per step would start over after each commit, and never end
    // while tills sync.)
    let reading = conn.transaction()?;
    // The read that begins it (a pragma reads no page, and so begins none).
    let _: i64 = reading.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let page_size: i64 = reading.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let page_size = page_size as u64;
    let mut copy = Connection::open(&partial_path)?;
    let mut teller = Teller::new(pace, progress);
    // The copy is flushed once, whole, before it is named; until then it is a temporary
    // file that a failure throws away, so it needs neither a journal nor a flush per step.
    copy.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    {
        let backup = Backup::new(&reading, &mut copy)?;
        let mut busy = 0;
        loop {
            match backup.step(pages)? {
                StepResult::Done => break,
                StepResult::More => busy = 0,
                _ => {
                    busy += 1;
                    if busy > BUSY_STEPS {
                        return Err(Error::Other(
                            "the backup found the database busy for ten seconds".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let at = backup.progress();
            let (all, left) = (at.pagecount as u64, at.remaining as u64);
            teller.copied((all - left.min(all)) * page_size, all * page_size);
        }
    }
    drop(reading);
    drop(conn);
    copy.close().map_err(|(_, e)| e)?;
    // The pages copied say write-ahead logging, as the database's do (bytes 18 and 19 of
    // the header, 2 and 2); the copy is one file, in a rollback journal's mode (1 and 1).
    // Written here, with no connection open, rather than by `PRAGMA journal_mode`, which
    // would first open the copy in WAL mode and make its log and shared memory beside it,
    // on a backup disk that may not take shared memory.
    use std::os::unix::fs::FileExt as _;
    partial
        .as_file()
        .write_all_at(&[1, 1], 18)
        .map_err(io(&partial_path))?;

    let written = partial.as_file().metadata().map_err(io(&partial_path))?;
    teller.checking(written.len());
    let holding = holding_of(&partial_path).map_err(|e| {
        Error::Other(format!(
            "the copy did not read back whole, so it was not kept: {e}"
        ))
    })?;
    teller.flushing(written.len());
    partial.as_file().sync_all().map_err(io(&partial_path))?;
    partial.persist_noclobber(to).map_err(|e| Error::Io {
        path: to.to_path_buf(),
        source: e.error,
    })?;
    sync_directory(&parent)?;
    Ok(holding)
}

/// Refuses a database `conn` another process has open: leaving write-ahead logging needs
/// every other connection closed, and a serving process keeps one. Leaving it also folds
/// the log into the file, which is then whole. A database too damaged to say is taken as
/// stopped when no log is beside it (SQLite removes it when the last connection closes).
pub(crate) fn check_stopped(dir: &Path, conn: &Connection) -> Result<()> {
    let running = || {
        Error::input(format!(
            "{} is being served (another process has {HQ_DB} open): stop `hq serve` first",
            dir.display()
        ))
    };
    match conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    }) {
        Ok(mode) if mode == "delete" => Ok(()),
        Ok(_) => Err(running()),
        Err(e) if is_busy(&e) => Err(running()),
        Err(e) => {
            let log_beside = ["-wal", "-shm"]
                .iter()
                .any(|end| dir.join(format!("{HQ_DB}{end}")).exists());
            if log_beside {
                return Err(Error::input(format!(
                    "{HQ_DB} in {} cannot be read ({e}) and its write-ahead log is beside it: \
                     if `hq serve` is stopped, move {HQ_DB}, {HQ_DB}-wal and {HQ_DB}-shm aside, \
                     then restore again",
                    dir.display()
                )));
            }
            Ok(())
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(crate) fn read_only(path: &Path) -> Result<Connection> {
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Reads what the database file at `path` holds, after checking every page of it.
pub(crate) fn holding_of(path: &Path) -> Result<Holding> {
    let bytes = std::fs::metadata(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let conn = read_only(path)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(Error::Integrity(format!("damaged: {check}")));
    }
    let role = crate::meta(&conn, "role")?
        .ok_or_else(|| Error::Integrity("no role: not a headquarters' database".into()))?;
    let fair = fair_of(&conn)?;
    let ledgers = conn.query_row(
        "SELECT COUNT(*) FROM hq_docs WHERE device IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let sales = conn.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?;
    Ok(Holding {
        fair,
        role,
        ledgers,
        sales,
        bytes,
    })
}

pub(crate) fn fair_of(conn: &Connection) -> Result<String> {
    let toml = crate::meta(conn, "fair_toml")?
        .ok_or_else(|| Error::Integrity("no fair: not a headquarters' database".into()))?;
    Ok(Fair::from_toml(&toml)?.id)
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_directory(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
}

mod dashboard;
mod ledgers;
mod restore;
mod since;
pub use restore::{restore, Restored};

#[cfg(test)]
mod tests;
