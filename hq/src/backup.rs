//! `hq backup` and `hq restore` ([`restore`]): a copy of a SQLite headquarters (or hub)
//! taken while it serves, and that copy put back while it is stopped. Everything headquarters holds is in
//! its database (`hq.db`), so the copy is of that: one read transaction of it (`VACUUM
//! INTO`), which its tills' syncs go on writing beside, checked whole before it takes its
//! name. A headquarters on PostgreSQL is backed up with PostgreSQL's own tools.
//!
//! What was synced after a backup is not lost with it: every till still holds every sale it
//! made, and its next sync gives the restored headquarters back what the copy lacks (a till
//! enrolled after the backup is enrolled again first: `fairpos enroll --again`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_domain::fair::Fair;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::instance::{connect, HQ_DB};
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

pub(crate) fn pg_tools_instead(what: &str) -> Error {
    Error::input(format!(
        "this headquarters keeps its data in PostgreSQL (the database `hq init --database` \
         named): {what}"
    ))
}

/// Copies the database of the headquarters in `dir`, serving or not, into the new file
/// `to`; `progress(copied, about)` is called every second or so while a copy takes longer
/// than two seconds. The copy is written under a temporary name beside `to`, checked
/// (`PRAGMA quick_check`), flushed to disk, and only then named `to`: an interrupted backup
/// leaves no file that looks whole.
pub fn backup(
    dir: &Path,
    to: &Path,
    progress: impl Fn(u64, u64) + Send + 'static,
) -> Result<Holding> {
    let telling = Telling {
        after: Duration::from_secs(2),
        every: Duration::from_secs(1),
    };
    backup_telling(dir, to, progress, telling)
}

/// When a copy's progress is told: first once it has taken `after`, then `every` so often.
#[derive(Clone, Copy, Debug)]
struct Telling {
    after: Duration,
    every: Duration,
}

fn backup_telling(
    dir: &Path,
    to: &Path,
    progress: impl Fn(u64, u64) + Send + 'static,
    telling: Telling,
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
    let conn = connect(dir)?;
    if crate::meta(&conn, META_DATABASE)?.is_some() {
        return Err(pg_tools_instead(
            "back it up with pg_dump (pg_dump --format=custom --file=FILE URL) and restore \
             it with pg_restore --clean",
        ));
    }
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let partial = tempfile::Builder::new()
        .prefix(".fairpos-backup-")
        .tempfile_in(&parent)
        .map_err(io(&parent))?;
    let partial_path = partial.path().to_path_buf();
    let Some(partial_text) = partial_path.to_str() else {
        return Err(Error::input(format!(
            "{}: back up to a path that is UTF-8",
            to.display()
        )));
    };
    let about: u64 = conn.query_row(
        "SELECT (page_count - freelist_count) * page_size
         FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        let watched = partial_path.clone();
        std::thread::spawn(move || {
            let mut next = Instant::now() + telling.after;
            let glance = telling.every.min(Duration::from_millis(100));
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(glance);
                if Instant::now() >= next && !done.load(Ordering::Relaxed) {
                    let copied = std::fs::metadata(&watched).map(|m| m.len()).unwrap_or(0);
                    progress(copied, about);
                    next += telling.every;
                }
            }
        })
    };
    // One read transaction: the tills' syncs commit beside it, and the copy is the
    // database as it stood when it began.
    let copied = conn.execute("VACUUM INTO ?1", [partial_text]);
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    drop(conn);
    copied?;

    let holding = holding_of(&partial_path).map_err(|e| {
        Error::Other(format!(
            "the copy did not read back whole, so it was not kept: {e}"
        ))
    })?;
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

mod restore;
pub use restore::{restore, Restored};

#[cfg(test)]
mod tests;
