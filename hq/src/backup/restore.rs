//! `hq restore`: a backup put in place of a stopped headquarters' (or hub's) database. The
//! copy is written, checked and completed beside the database before anything is moved;
//! the database it replaces is kept, renamed, and what the backup brings back of the
//! dashboard's sign-ins is settled ([`super::dashboard`]). Once the copy is in place the
//! restore has happened: what fails after that is told as a warning, not as a failed
//! restore.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automerge::ReadDoc;
use rusqlite::Connection;
use serde::Serialize;

use super::dashboard::{self, SignIns};
use super::{
    check_stopped, fair_of, holding_of, pg_tools_instead, read_only, sync_directory, Holding, Pace,
    Progress, Teller, META_DATABASE,
};
use crate::dir_lock::DirLock;
use crate::instance::HQ_DB;
use crate::{audit, Error, Hq, Result};

/// What `hq restore` did.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    #[serde(flatten)]
    pub holding: Holding,
    /// Where the database the restore replaced was kept, if there was one.
    pub replaced_kept_as: Option<PathBuf>,
    /// Devices the replaced database held revoked and the backup does not: revoked again in
    /// the copy. `None` when that is not known (no database replaced, or one that could not
    /// be read). Always empty for a hub, which takes its registry from headquarters.
    pub revoked_since: Option<Vec<String>>,
    /// Devices enrolled (or added) again since the backup, as the replaced database holds
    /// them: their rows and enrolment codes carried into the copy, which held the old token
    /// good and the till's new one not. `None` when not known, as for `revoked_since`.
    pub enrolled_again_since: Option<Vec<String>>,
    /// Catalog changes the replaced database held and the backup lacked, merged in (the
    /// tills that synced since hold them).
    pub catalog_changes_merged: usize,
    /// Ledgers the replaced database held changes of that the backup lacked, carried over
    /// ([`super::ledgers`]): projected when `hq serve` next starts.
    pub ledgers_carried: usize,
    /// Audit log entries the replaced database held beyond the backup's, kept: a restore
    /// does not undo the record of who did what.
    pub audit_entries_kept: usize,
    /// Dashboard sessions the backup held, all ended: one ended since would live again.
    pub sessions_ended: usize,
    /// Accounts the replaced database held otherwise than the backup (added, removed, or
    /// with another password or role since), each with how: as the backup has them again,
    /// to set again. `None` when that is not known (no database replaced, or one whose
    /// accounts could not be read).
    pub accounts_changed_since: Option<Vec<String>>,
    /// Screen links the replaced database held revoked and the backup does not: revoked
    /// again in the copy. `None` as for the accounts.
    pub screen_links_revoked_since: Option<Vec<String>>,
    /// What did not go as it should once the copy was in place.
    pub warnings: Vec<String>,
}

/// Puts the copy `from` (made by [`super::backup`]) in place of the database of the
/// headquarters in `dir`, which must be stopped. The copy is written beside the database,
/// checked, and given the catalog changes the database it replaces holds since the backup
/// (which the tills hold too) when that catalog descends from the backup's. The copy's
/// dashboard sessions are ended, the devices and screen links revoked since the backup
/// revoked again, and the accounts changed since named ([`super::dashboard`]). The database
/// is then kept beside it, renamed, and its owner and mode go to the copy. Into a directory
/// without a headquarters (a new machine), the copy is only put in place (its sessions
/// ended), owned as the directory is. While the copy takes longer than two seconds,
/// `progress` is told how far it has come ([`Progress`]).
pub fn restore(dir: &Path, from: &Path, progress: impl FnMut(Progress)) -> Result<Restored> {
    restore_paced(dir, from, progress, Pace::OPERATOR, COPY_CHUNK)
}

/// How much of a backup is copied between two looks at the clock: 64 MiB, a fraction of a
/// second.
const COPY_CHUNK: u64 = 64 << 20;

/// [`restore`], `chunk` bytes copied at a time, its progress told as `pace` says.
pub(super) fn restore_paced(
    dir: &Path,
    from: &Path,
    progress: impl FnMut(Progress),
    pace: Pace,
    chunk: u64,
) -> Result<Restored> {
    let whose = check_backup(from)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Held until the copy is in place: no command starts on the database being replaced.
    let _alone = DirLock::alone(dir)?;
    let current = dir.join(HQ_DB);
    if same_file(from, &current) {
        return Err(Error::input(format!(
            "{} is this headquarters' own database: restore from a backup of it",
            from.display()
        )));
    }
    let replaced = if current.exists() {
        Some(Replaced::read(dir, &whose)?)
    } else {
        // A till's data directory (its database is `till.db`) is no place for headquarters:
        // the till would then be taken for one.
        if dir.join("till.db").exists() {
            return Err(Error::input(format!(
                "{} holds a till (till.db): restore headquarters into its own --data directory",
                dir.display()
            )));
        }
        check_no_log_left(dir)?;
        None
    };

    // The copy, whole, beside the database it is to replace.
    let placing = tempfile::Builder::new()
        .prefix(".fairpos-restore-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    let mut teller = Teller::new(pace, progress);
    let source = File::open(from).map_err(io(from))?;
    let read = source.metadata().map_err(io(from))?;
    let placed = placing.as_file();
    let copied = copy_told(source, read.len(), placed, chunk, &mut teller).map_err(|e| {
        Error::Other(format!(
            "copying {} into {}: {e} (nothing was restored)",
            from.display(),
            dir.display()
        ))
    })?;
    teller.checking(copied);
    let holding = holding_of(placing.path()).map_err(|e| {
        Error::input(format!(
            "{} does not read back whole, so nothing was restored: {e}",
            from.display()
        ))
    })?;
    let mut restored = Restored {
        holding,
        replaced_kept_as: None,
        revoked_since: None,
        enrolled_again_since: None,
        catalog_changes_merged: 0,
        ledgers_carried: 0,
        audit_entries_kept: 0,
        sessions_ended: 0,
        accounts_changed_since: None,
        screen_links_revoked_since: None,
        warnings: Vec::new(),
    };
    if let Some(replaced) = &replaced {
        let (kept, continued) = keep_audit_log(dir, placing.path(), &replaced.audit_log)?;
        restored.audit_entries_kept = kept;
        if !continued {
            restored.warnings.push(format!(
                "the audit log of the database replaced does not continue the backup's \
                 (another machine's, or a headquarters set up again): the {kept} entries of \
                 it the backup lacks were added after the backup's"
            ));
        }
    }
    if let Some(catalog) = replaced.as_ref().and_then(|r| r.catalog.clone()) {
        match merge_catalog(dir, placing.path(), catalog)? {
            Merged::Changes(n) => restored.catalog_changes_merged = n,
            Merged::NotDescended => restored.warnings.push(
                "the catalog of the database replaced does not descend from the backup's \
                 (another headquarters' catalog): it was not merged in"
                    .into(),
            ),
        }
    }
    if replaced.is_some() {
        carry_ledgers(&current, placing.path(), &mut restored);
    }
    // A hub's devices come from headquarters, and it imports no statements or slips.
    if replaced.as_ref().is_some_and(|r| !r.hub) {
        match super::since::not_brought_back(&current, placing.path()) {
            Ok(since) => restored.warnings.extend(since),
            Err(e) => restored.warnings.push(format!(
                "what organizers did since the backup did not read ({e}): statements \
                 imported, shift slips verified and devices added since are to be done again"
            )),
        }
    }
    let sign_ins = replaced.as_ref().map(|r| &r.sign_ins);
    let hub = replaced.as_ref().is_some_and(|r| r.hub);
    dashboard::end_sessions_and_compare(placing.path(), sign_ins, hub, &mut restored)?;
    // The backup's mode last: one read-only to this user is still written to above.
    placed
        .set_permissions(read.permissions())
        .map_err(io(placing.path()))?;
    let written = placed.metadata().map_err(io(placing.path()))?;
    teller.flushing(written.len());
    placing.as_file().sync_all().map_err(io(placing.path()))?;

    match &replaced {
        None => {
            placing.persist_noclobber(&current).map_err(|e| Error::Io {
                path: current.clone(),
                source: e.error,
            })?;
            let owner = std::fs::metadata(dir).ok();
            give_owner(&current, owner.as_ref(), None, &mut restored.warnings);
        }
        Some(replaced) => {
            let kept = unused_name(
                dir,
                &format!(
                    "{HQ_DB}.before-restore-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                ),
            );
            // Kept by a second name, then the copy renamed over it in one step: the data
            // directory never lacks its database (renamed away first, a crash before the
            // copy took its place left none, and `hq init` would have made a new one). A
            // file system without hard links renames it away as before.
            let linked = std::fs::hard_link(&current, &kept).is_ok();
            if !linked {
                std::fs::rename(&current, &kept).map_err(io(&current))?;
            }
            let placed = if linked {
                placing.persist(&current).map(|_| ())
            } else {
                placing.persist_noclobber(&current).map(|_| ())
            };
            if let Err(e) = placed {
                // Linked, the database never left its name (the second one goes again).
                let put_back = if linked {
                    let _ = std::fs::remove_file(&kept);
                    true
                } else {
                    std::fs::rename(&kept, &current).is_ok()
                };
                let now_at = if put_back { &current } else { &kept };
                return Err(Error::Other(format!(
                    "{}: {} (nothing was restored; the database is {})",
                    current.display(),
                    e.error,
                    now_at.display()
                )));
            }
            let was = replaced.metadata.as_ref();
            let mode = was.map(|m| m.permissions());
            give_owner(&current, was, mode, &mut restored.warnings);
            restored.replaced_kept_as = Some(kept);
        }
    }
    if let Err(e) = sync_directory(dir) {
        restored
            .warnings
            .push(format!("the rename may not be on disk yet: {e}"));
    }
    Ok(restored)
}

/// Copies the file `source`, `of` bytes long, into `to`, `chunk` bytes at a time, each in
/// the kernel where it can be, telling `teller` how far it has come: the bytes copied.
fn copy_told(
    mut source: File,
    of: u64,
    mut to: &File,
    chunk: u64,
    teller: &mut Teller<impl FnMut(Progress)>,
) -> std::io::Result<u64> {
    let mut copied = 0;
    loop {
        let n = std::io::copy(&mut (&mut source).take(chunk), &mut to)?;
        if n == 0 {
            return Ok(copied);
        }
        copied += n;
        teller.copied(copied, of);
    }
}

/// Whose the backup is: its fair and role (`hq` or `hub`).
struct Whose {
    fair: String,
    role: String,
}

/// Whose the backup `from` is, refused when it is not a headquarters database at rest (a
/// database in use has its write-ahead log beside it, which a copy of the file alone leaves
/// out) or is a PostgreSQL headquarters' data directory. Only what says whose it is is read
/// here: every page is checked once, in the copy.
fn check_backup(from: &Path) -> Result<Whose> {
    let not_a_backup = |why: String| {
        Error::input(format!(
            "{} is not a backup of a fairpos headquarters: {why}",
            from.display()
        ))
    };
    // Beside it by its bytes: a name that is not UTF-8 is not shown lossily and missed.
    let mut log = from.as_os_str().to_os_string();
    log.push("-wal");
    let log = PathBuf::from(log);
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
        return Err(not_a_backup(format!(
            "a write-ahead log is beside it ({}): it is a database in use; make a backup of it \
             with `hq backup`",
            log.display()
        )));
    }
    let whose = || -> Result<(Whose, bool)> {
        let conn = read_only(from)?;
        let role = crate::meta(&conn, "role")?
            .ok_or_else(|| Error::Integrity("no role: not a headquarters' database".into()))?;
        let on_postgres = crate::meta(&conn, META_DATABASE)?.is_some();
        let fair = fair_of(&conn)?;
        Ok((Whose { fair, role }, on_postgres))
    };
    let (whose, on_postgres) = whose().map_err(|e| not_a_backup(e.to_string()))?;
    if on_postgres {
        return Err(pg_tools_instead(&format!(
            "the backup is of its data directory only; restore the database with \
             pg_restore{}",
            super::AFTER_PG_RESTORE
        )));
    }
    Ok(whose)
}

/// Refuses a directory without `hq.db` but with its write-ahead log or shared memory left
/// (a database moved aside without them): SQLite would replay that log into the copy.
fn check_no_log_left(dir: &Path) -> Result<()> {
    for end in ["-wal", "-shm"] {
        let left = dir.join(format!("{HQ_DB}{end}"));
        if left.exists() {
            return Err(Error::input(format!(
                "{} is left without its database: move it aside too, then restore again",
                left.display()
            )));
        }
    }
    Ok(())
}

/// What is taken from the database a restore replaces, checked stopped, of the same fair and
/// role as the backup, and read as far as it can be (it may be what the restore is for).
struct Replaced {
    metadata: Option<std::fs::Metadata>,
    /// A hub's, which takes its devices from headquarters: none to revoke again.
    hub: bool,
    catalog: Option<automerge::Automerge>,
    /// Its audit log, numbered (none for a database older than the log).
    audit_log: Vec<(i64, audit::Entry)>,
    /// Its accounts, screen links and devices, as far as they read.
    sign_ins: SignIns,
}

impl Replaced {
    fn read(dir: &Path, backup: &Whose) -> Result<Replaced> {
        let current = dir.join(HQ_DB);
        let conn = Connection::open(&current)?;
        conn.busy_timeout(Duration::from_secs(1))?;
        check_stopped(dir, &conn)?;
        if let Ok(Some(_)) = crate::meta(&conn, META_DATABASE) {
            return Err(pg_tools_instead(&format!(
                "restore the database with pg_restore{}",
                super::AFTER_PG_RESTORE
            )));
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
            hub: backup.role == "hub",
            catalog: fairpos_sync::samod_storage::load_document(&conn, &catalog_id)
                .ok()
                .flatten(),
            audit_log: audit::numbered(&conn, None).unwrap_or_default(),
            sign_ins: dashboard::sign_ins_of(&conn),
        })
    }
}

/// Carries over into the copy at `copy` the ledgers' changes the database at `replaced`
/// holds ([`super::ledgers`]), saying in `restored` how many and what was not carried.
fn carry_ledgers(replaced: &Path, copy: &Path, restored: &mut Restored) {
    match super::ledgers::carry_over(replaced, copy) {
        Ok(carried) => {
            restored.ledgers_carried = carried.ledgers;
            for why in carried.not_carried {
                restored
                    .warnings
                    .push(format!("a ledger of the database replaced, {why}"));
            }
        }
        Err(e) => restored.warnings.push(format!(
            "the ledgers of the database replaced did not read ({e}): the tills' next syncs \
             bring back what they sold since the backup, and a till revoked since has its \
             sales in the database kept"
        )),
    }
}

enum Merged {
    /// How many changes were new to the copy's catalog.
    Changes(usize),
    /// The catalog given lacks some of the copy's: not the same catalog grown since.
    NotDescended,
}

/// Merges `catalog` (as the replaced database held it) into the catalog of the copy at
/// `copy`, stored as edits are, if it descends from it (holds every change the copy's has).
fn merge_catalog(dir: &Path, copy: &Path, catalog: automerge::Automerge) -> Result<Merged> {
    let hq = Hq::open_file(dir, copy)?;
    let before = crate::catalog::load(&hq)?.automerge().get_heads();
    if before
        .iter()
        .any(|head| catalog.get_change_by_hash(head).is_none())
    {
        return Ok(Merged::NotDescended);
    }
    crate::catalog::merge_in(&hq, catalog)?;
    let after = crate::catalog::load(&hq)?;
    Ok(Merged::Changes(
        after.automerge().get_changes(&before).len(),
    ))
}

/// The entries of `replaced` (the replaced database's audit log) that the copy at `copy`
/// lacks, written into the copy as they were: those numbered beyond the copy's last entry
/// when the replaced log holds that entry under the same number (it continues the
/// backup's), else every entry it holds that the copy does not. How many, and whether it
/// continued the backup's.
fn keep_audit_log(
    dir: &Path,
    copy: &Path,
    replaced: &[(i64, audit::Entry)],
) -> Result<(usize, bool)> {
    let hq = Hq::open_file(dir, copy)?;
    // The backup's last entry decides; its whole log is read only when the two part.
    let backup_last = audit::numbered(&hq.conn, Some(1))?.pop();
    let continued = backup_last
        .as_ref()
        .is_none_or(|last| replaced.contains(last));
    let later: Vec<&audit::Entry> = if continued {
        let last = backup_last.map_or(0, |(number, _)| number);
        replaced
            .iter()
            .filter(|(number, _)| *number > last)
            .map(|(_, entry)| entry)
            .collect()
    } else {
        let backup_log = audit::numbered(&hq.conn, None)?;
        let held: HashSet<&audit::Entry> = backup_log.iter().map(|(_, entry)| entry).collect();
        replaced
            .iter()
            .map(|(_, entry)| entry)
            .filter(|entry| !held.contains(entry))
            .collect()
    };
    // One transaction: each entry its own would wait for its own flush to disk.
    let tx = hq.conn.unchecked_transaction()?;
    for entry in &later {
        audit::insert(&tx, entry)?;
    }
    tx.commit()?;
    Ok((later.len(), continued))
}

/// Gives `path` the owner of `like` (when this process may) and `mode`, saying in `warnings`
/// what could not be done: a restore run as root must not leave `hq serve`'s user unable to
/// open the database.
fn give_owner(
    path: &Path,
    like: Option<&std::fs::Metadata>,
    mode: Option<std::fs::Permissions>,
    warnings: &mut Vec<String>,
) {
    use std::os::unix::fs::MetadataExt;
    if let Some(mode) = mode {
        if let Err(e) = std::fs::set_permissions(path, mode) {
            warnings.push(format!("{}: its mode was not set: {e}", path.display()));
        }
    }
    let Some(like) = like else { return };
    let already = std::fs::metadata(path).is_ok_and(|m| m.uid() == like.uid());
    if !already {
        if let Err(e) = std::os::unix::fs::chown(path, Some(like.uid()), Some(like.gid())) {
            warnings.push(format!(
                "{} is not owned by user {} as the database before it was: {e}",
                path.display(),
                like.uid()
            ));
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

/// Whether `a` and `b` are one file (both existing).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
