//! `hq backup` and `hq restore`: a copy of a SQLite headquarters (or hub) taken while it
//! serves, and that copy put back while it is stopped. Everything headquarters holds is in
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
use crate::{Error, Result};

/// The `meta` key a data directory on PostgreSQL names its database under.
const META_DATABASE: &str = "database";

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

/// What `hq restore` did.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    #[serde(flatten)]
    pub holding: Holding,
    /// Where the database the restore replaced was kept, if there was one.
    pub replaced_kept_as: Option<PathBuf>,
    /// Devices the replaced database held revoked and the backup does not: to revoke again.
    pub revoked_since: Vec<String>,
    /// Catalog changes the replaced database held and the backup lacked, merged in (the
    /// tills that synced since hold them).
    pub catalog_changes_merged: usize,
}

fn pg_tools_instead(what: &str) -> Error {
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

/// Puts the copy `from` (made by [`backup`]) in place of the database of the headquarters
/// in `dir`, which must be stopped. The copy is written and checked beside the database
/// first; the database it replaces is then kept beside it, renamed (its owner and mode go to
/// the copy), and the catalog edits it holds since the backup, which the tills hold too, are
/// merged in. Into a directory without a headquarters (a new machine), the copy is only put
/// in place.
pub fn restore(dir: &Path, from: &Path) -> Result<Restored> {
    let not_a_backup = |why: String| {
        Error::input(format!(
            "{} is not a backup of a fairpos headquarters: {why}",
            from.display()
        ))
    };
    let log = PathBuf::from(format!("{}-wal", from.display()));
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
        return Err(not_a_backup(format!(
            "a write-ahead log is beside it ({}): it is a database in use; make a backup of it \
             with `hq backup`",
            log.display()
        )));
    }
    let from_holding = holding_of(from).map_err(|e| not_a_backup(e.to_string()))?;
    if read_only(from)
        .and_then(|c| crate::meta(&c, META_DATABASE))?
        .is_some()
    {
        return Err(pg_tools_instead(
            "the backup is of its data directory only; restore the database with pg_restore",
        ));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let current = dir.join(HQ_DB);
    if same_file(from, &current) {
        return Err(Error::input(format!(
            "{} is this headquarters' own database: restore from a backup of it",
            from.display()
        )));
    }

    // The copy, whole, beside the database it is to replace.
    let placing = tempfile::Builder::new()
        .prefix(".fairpos-restore-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    std::fs::copy(from, placing.path()).map_err(io(placing.path()))?;
    placing.as_file().sync_all().map_err(io(placing.path()))?;
    holding_of(placing.path()).map_err(|e| {
        Error::Other(format!(
            "the copy did not read back whole, so it was not put in place: {e}"
        ))
    })?;

    let mut restored = Restored {
        holding: from_holding,
        replaced_kept_as: None,
        revoked_since: Vec::new(),
        catalog_changes_merged: 0,
    };
    if !current.exists() {
        placing.persist_noclobber(&current).map_err(|e| Error::Io {
            path: current.clone(),
            source: e.error,
        })?;
        sync_directory(dir)?;
        return Ok(restored);
    }
    let replaced = Replaced::read(dir, &restored.holding, placing.path())?;
    let kept = unused_name(
        dir,
        &format!(
            "{HQ_DB}.before-restore-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ),
    );
    std::fs::rename(&current, &kept).map_err(io(&current))?;
    if let Err(e) = placing.persist_noclobber(&current) {
        let put_back = std::fs::rename(&kept, &current).is_ok();
        return Err(Error::Other(format!(
            "{}: {} (the database it was to replace is {})",
            current.display(),
            e.error,
            if put_back {
                current.display()
            } else {
                kept.display()
            }
        )));
    }
    replaced.give_owner_and_mode(&current);
    sync_directory(dir)?;
    restored.replaced_kept_as = Some(kept);
    restored.revoked_since = replaced.revoked_since;
    if let Some(catalog) = replaced.catalog {
        restored.catalog_changes_merged = merge_catalog(dir, catalog)?;
    }
    Ok(restored)
}

/// What is taken from the database a restore replaces, checked stopped, of the same fair and
/// role as the backup, and read as far as it can be (it may be what the restore is for).
struct Replaced {
    metadata: Option<std::fs::Metadata>,
    revoked_since: Vec<String>,
    catalog: Option<automerge::Automerge>,
}

impl Replaced {
    fn read(dir: &Path, backup: &Holding, copy: &Path) -> Result<Replaced> {
        let current = dir.join(HQ_DB);
        let conn = Connection::open(&current)?;
        conn.busy_timeout(Duration::from_secs(1))?;
        check_stopped(dir, &conn)?;
        if let Ok(Some(_)) = crate::meta(&conn, META_DATABASE) {
            return Err(pg_tools_instead("restore the database with pg_restore"));
        }
        if let Ok(fair) = fair_of(&conn) {
            if fair != backup.fair {
                return Err(Error::input(format!(
                    "this backup is of fair {}, and {} holds fair {fair}: restore it into a \
                     new --data directory",
                    backup.fair,
                    dir.display()
                )));
            }
        }
        if let Ok(Some(role)) = crate::meta(&conn, "role") {
            if role != backup.role {
                return Err(Error::input(format!(
                    "this backup is of a {}, and {} holds a {role}: restore it into a new \
                     --data directory",
                    backup.role,
                    dir.display()
                )));
            }
        }
        let catalog_id =
            fairpos_sync::ids::document_id(&fairpos_sync::ids::catalog_key(&backup.fair));
        Ok(Replaced {
            metadata: std::fs::metadata(&current).ok(),
            revoked_since: revoked_since(&conn, copy).unwrap_or_default(),
            catalog: fairpos_sync::samod_storage::load_document(&conn, &catalog_id)
                .ok()
                .flatten(),
        })
    }

    /// The replaced database's owner (when this process may give it) and mode, to `path`:
    /// a restore run as root must not leave `hq serve`'s user unable to open it.
    fn give_owner_and_mode(&self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        let Some(m) = &self.metadata else { return };
        let _ = std::fs::set_permissions(path, m.permissions());
        let _ = std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()));
    }
}

/// Devices revoked in `conn`'s database that the copy at `copy` holds unrevoked: a restore
/// lets them in again.
fn revoked_since(conn: &Connection, copy: &Path) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT device FROM devices WHERE revoked_at IS NOT NULL ORDER BY device")?;
    let revoked: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let copy = read_only(copy)?;
    let mut live =
        copy.prepare("SELECT 1 FROM devices WHERE device = ?1 AND revoked_at IS NULL")?;
    let mut out = Vec::new();
    for device in revoked {
        if live.exists([&device])? {
            out.push(device);
        }
    }
    Ok(out)
}

/// Merges `catalog` (the catalog as the replaced database held it) into the restored one;
/// how many of its changes were new to it.
fn merge_catalog(dir: &Path, catalog: automerge::Automerge) -> Result<usize> {
    let hq = crate::Hq::open(dir)?;
    let before = crate::catalog::load(&hq)?.automerge().get_heads();
    crate::catalog::merge_in(&hq, catalog)?;
    let after = crate::catalog::load(&hq)?;
    Ok(after.automerge().get_changes(&before).len())
}

/// Whether `a` and `b` are one file (both existing).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Refuses a database `conn` another process has open: leaving write-ahead logging needs
/// every other connection closed, and a serving process keeps one. Leaving it also folds
/// the log into the file, which is then whole. A database too damaged to say is taken as
/// stopped when no log is beside it (SQLite removes it when the last connection closes).
fn check_stopped(dir: &Path, conn: &Connection) -> Result<()> {
    let running = || {
        Error::input(format!(
            "headquarters in {} is running (another process has {HQ_DB} open): stop `hq \
             serve` first",
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

/// `dir/name`, or `dir/name-2`, `-3`… whichever is not taken: a restore never renames a
/// database over one kept before.
fn unused_name(dir: &Path, name: &str) -> PathBuf {
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{name}-{n}"));
    }
    path
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn read_only(path: &Path) -> Result<Connection> {
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Reads what the database file at `path` holds, after checking every page of it.
fn holding_of(path: &Path) -> Result<Holding> {
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

fn fair_of(conn: &Connection) -> Result<String> {
    let toml = crate::meta(conn, "fair_toml")?
        .ok_or_else(|| Error::Integrity("no fair: not a headquarters' database".into()))?;
    Ok(Fair::from_toml(&toml)?.id)
}

/// Makes a rename in `dir` durable.
fn sync_directory(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
