//! `hq audit prune`: the entries written before a day, moved out of the audit log into an
//! archive file, never one of the last six months. The Cybersecurity Law of the PRC
//! (《网络安全法》 Art. 21) asks a network's operator to keep its logs for six months at
//! least; a province's log (every login of every account, every enrolment) grows for as long
//! as headquarters runs.
//!
//! The archive is written whole (under a temporary name, then flushed to disk and named)
//! before the entries leave the log, in the transaction that removes them and writes the
//! entry saying so, with the archive's SHA-256: a prune that fails removes nothing, and one
//! killed after its archive was named leaves the entries in both.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Months, NaiveDate, Utc};
use fairpos_postgres::audit::{NewEntry, StoredEntry};
use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Entry;
use crate::{now_text, Error, Result};

/// How long the log keeps every entry: the six months the Cybersecurity Law asks.
pub const KEPT_MONTHS: u32 = 6;

/// The action of the entry a prune writes.
pub const ACTION: &str = "audit prune";

/// The latest day a prune may name, `today` at the fair: six months back.
pub fn latest_day(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_months(Months::new(KEPT_MONTHS))
        .unwrap_or(NaiveDate::MIN)
}

/// The instant day `before` begins at the fair (`offset`), if that is six months before
/// `now` at least; else refused, naming the latest day that is.
pub fn cutoff(before: NaiveDate, offset: FixedOffset, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let latest = latest_day(now.with_timezone(&offset).date_naive());
    if before > latest {
        return Err(Error::input(format!(
            "refused: entries written on or after {latest} are within the last six months, \
             which the Cybersecurity Law of the PRC (Art. 21) asks network logs be kept: \
             name {latest} or an earlier day"
        )));
    }
    super::day_begins(before, offset)
}

/// `at` as the log writes its times (RFC 3339, UTC, to the second), which compare as text.
pub fn as_logged(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Entries written before a time: how many, and when the first and the last were.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub entries: u64,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
}

/// A line of the archive: an entry with its number in the log.
#[derive(Serialize)]
struct Line<'a> {
    id: i64,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// An archive being written: JSON Lines, one entry a line, oldest first, under a temporary
/// name beside where it goes, hashed as it is written.
pub struct Archive {
    file: BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    sha256: Sha256,
    entries: u64,
}

/// An archive flushed to disk and named.
#[derive(Debug)]
pub struct Kept {
    pub path: PathBuf,
    pub entries: u64,
    /// Of the whole file, in hex.
    pub sha256: String,
}

/// How often a long prune says how far it is.
const PROGRESS_EVERY: u64 = 100_000;

impl Archive {
    /// A new archive to be kept at `path`: refused when something is there already (an
    /// archive is never written over) or the folder is not.
    pub fn create(path: &Path) -> Result<Archive> {
        if path.symlink_metadata().is_ok() {
            return Err(Error::input(format!(
                "{} exists: an archive is never written over; name a new file",
                path.display()
            )));
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let io = |source| Error::Io {
            path: folder.to_path_buf(),
            source,
        };
        let file = tempfile::Builder::new()
            .prefix(".audit-archive-")
            .tempfile_in(folder)
            .map_err(io)?;
        Ok(Archive {
            file: BufWriter::new(file),
            path: path.to_path_buf(),
            sha256: Sha256::new(),
            entries: 0,
        })
    }

    /// Adds entry `id` as the next line.
    pub fn add(&mut self, id: i64, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(&Line { id, entry })
            .map_err(|e| Error::Other(format!("an audit entry as JSON: {e}")))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| self.io(e))?;
        self.sha256.update(&line);
        self.entries += 1;
        if self.entries.is_multiple_of(PROGRESS_EVERY) {
            eprintln!("{} entries archived…", self.entries);
        }
        Ok(())
    }

    /// Flushes what was written to disk (a long archive's before the log is locked).
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| self.io(e))?;
        let synced = self.file.get_ref().as_file().sync_data();
        synced.map_err(|e| self.io(e))
    }

    /// Flushes the archive to disk and gives it its name, unless something took that name
    /// meanwhile.
    pub fn keep(self) -> Result<Kept> {
        let Archive {
            file,
            path,
            sha256,
            entries,
        } = self;
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.as_file().sync_all().map_err(io)?;
        file.persist_noclobber(&path).map_err(|e| io(e.error))?;
        // The new name itself on disk.
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(folder)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        let sha256 = sha256
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Kept {
            path,
            entries,
            sha256,
        })
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// An archive a prune on PostgreSQL writes into ([`fairpos_postgres::audit::prune`]), and
/// the entry of itself it gives once the archive is kept.
pub struct ForPostgres<'a> {
    archive: Option<Archive>,
    /// The archive once kept: kept even when the transaction then fails.
    pub kept: Option<Kept>,
    by: (&'a str, &'a str),
    detail: &'a dyn Fn(&Kept) -> String,
}

impl<'a> ForPostgres<'a> {
    /// `archive`, whose entry will be by `by` (`(actor, address)`), its detail `detail`'s.
    pub fn new(
        archive: Archive,
        by: (&'a str, &'a str),
        detail: &'a dyn Fn(&Kept) -> String,
    ) -> Self {
        ForPostgres {
            archive: Some(archive),
            kept: None,
            by,
            detail,
        }
    }

    fn open(&mut self) -> Result<&mut Archive> {
        self.archive.as_mut().ok_or_else(kept_already)
    }
}

impl fairpos_postgres::audit::Archive for ForPostgres<'_> {
    type Error = Error;

    fn add(&mut self, id: i64, stored: StoredEntry) -> Result<()> {
        let entry = super::from_postgres(stored);
        self.open()?.add(id, &entry)
    }

    fn keep(&mut self, _count: u64) -> Result<NewEntry> {
        let archive = self.archive.take().ok_or_else(kept_already)?;
        let kept = self.kept.insert(archive.keep()?);
        let (actor, address) = self.by;
        Ok((
            actor.to_string(),
            address.to_string(),
            ACTION.to_string(),
            (self.detail)(kept),
        ))
    }
}

fn kept_already() -> Error {
    Error::Other("the audit archive is kept already".into())
}

/// The detail of a prune's own entry.
pub fn detail(kept: &Kept, before: NaiveDate, offset: FixedOffset) -> String {
    format!(
        "{} entries written before {before} ({offset}), archived to {}, sha256 {}",
        kept.entries,
        kept.path.display(),
        kept.sha256
    )
}

/// What a SQLite log holds before `before`.
pub fn found(conn: &Connection, before: DateTime<Utc>) -> Result<Found> {
    let (entries, first_at, last_at) = conn.query_row(
        "SELECT COUNT(*), MIN(at), MAX(at) FROM audit_log WHERE at < ?1",
        [as_logged(before)],
        |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Found {
        entries: entries.unsigned_abs(),
        first_at,
        last_at,
    })
}

/// Moves the entries of a SQLite log written before `before` into `archive`, then removes
/// them in one transaction with the entry `by` writes of it (`(actor, address)`; its
/// detail from `detail`). None before: nothing written, no archive kept. The archive kept,
/// if any.
///
/// The entries are read, and the archive written and flushed to disk, before the log is
/// taken for writing: a serving headquarters' writer waits only for the removal. No entry
/// before `before` can be written meanwhile (each is written with the time it is written);
/// should another prune have removed some, nothing is removed and no archive kept.
pub fn prune(
    conn: &mut Connection,
    before: DateTime<Utc>,
    mut archive: Archive,
    by: (&str, &str),
    detail: impl FnOnce(&Kept) -> String,
) -> Result<Option<Kept>> {
    let before = as_logged(before);
    let mut last = 0i64;
    {
        // One read transaction: what is read is one moment's log.
        let read = conn.transaction()?;
        let mut stmt = read.prepare(
            "SELECT id, at, actor, address, action, detail FROM audit_log
             WHERE at < ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([&before])?;
        while let Some(r) = rows.next()? {
            last = r.get(0)?;
            let entry = Entry {
                at: r.get(1)?,
                actor: r.get(2)?,
                address: r.get(3)?,
                action: r.get(4)?,
                detail: r.get(5)?,
            };
            archive.add(last, &entry)?;
        }
    }
    if archive.entries == 0 {
        return Ok(None);
    }
    archive.flush()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let removed = tx.execute(
        "DELETE FROM audit_log WHERE at < ?1 AND id <= ?2",
        params![before, last],
    )?;
    if removed as u64 != archive.entries {
        return Err(Error::Integrity(format!(
            "the audit log: {} entries read before {before}, but {removed} to remove \
             (another prune at the same time?); nothing was removed",
            archive.entries
        )));
    }
    let kept = archive.keep()?;
    let (actor, address) = by;
    super::insert(
        &tx,
        &Entry {
            at: now_text(),
            actor: actor.to_string(),
            address: address.to_string(),
            action: ACTION.to_string(),
            detail: detail(&kept),
        },
    )?;
    if let Err(e) = tx.commit() {
        // Rolled back: the entries are still in the log, and the archive holds them again.
        let _ = std::fs::remove_file(&kept.path);
        return Err(e.into());
    }
    Ok(Some(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn beijing() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn the_last_six_months_are_never_pruned() {
        assert_eq!(latest_day(day("2026-12-04")), day("2026-06-04"));
        // A month too short for the day: its last.
        assert_eq!(latest_day(day("2026-08-31")), day("2026-02-28"));
        // 2026-12-04 00:30 at the fair is still 2026-12-03 in UTC.
        let now: DateTime<Utc> = "2026-12-03T16:30:00Z".parse().unwrap();
        let cut = cutoff(day("2026-06-04"), beijing(), now).unwrap();
        assert_eq!(as_logged(cut), "2026-06-03T16:00:00Z");
        let refused = cutoff(day("2026-06-05"), beijing(), now).unwrap_err();
        assert!(refused.is_bad_input());
        assert!(refused.to_string().contains("name 2026-06-04"), "{refused}");
        // In UTC it is still the 3rd: the 4th is refused there.
        let utc = FixedOffset::east_opt(0).unwrap();
        assert!(cutoff(day("2026-06-04"), utc, now).is_err());
        assert!(cutoff(day("2026-06-03"), utc, now).is_ok());
    }

    fn log(entries: &[(&str, &str)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        for (at, action) in entries {
            let entry = Entry {
                at: at.to_string(),
                actor: "alice".into(),
                address: "local".into(),
                action: action.to_string(),
                detail: "d".into(),
            };
            super::super::insert(&conn, &entry).unwrap();
        }
        conn
    }

    #[test]
    fn entries_before_the_cutoff_go_to_the_archive_and_the_log_says_so() {
        let mut conn = log(&[
            ("2025-01-01T00:00:00Z", "init"),
            ("2025-05-31T15:59:59Z", "login"),
            ("2025-05-31T16:00:00Z", "user add"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2025.jsonl");
        let before: DateTime<Utc> = "2025-05-31T16:00:00Z".parse().unwrap();
        let found_before = found(&conn, before).unwrap();
        assert_eq!(found_before.entries, 2);
        assert_eq!(
            found_before.last_at.as_deref(),
            Some("2025-05-31T15:59:59Z")
        );
        let archive = Archive::create(&path).unwrap();
        let kept = prune(&mut conn, before, archive, ("bob", "local"), |k| {
            format!("{} entries", k.entries)
        })
        .unwrap()
        .unwrap();
        assert_eq!(kept.entries, 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<i64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, [1, 2]);
        let hex: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(kept.sha256, hex);
        let left: Vec<String> = super::super::entries(&conn, None)
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.action, e.detail))
            .collect();
        assert_eq!(left, ["user add d", "audit prune 2 entries"]);
        // Nothing before any more: no archive, nothing written.
        let again = Archive::create(&dir.path().join("again.jsonl")).unwrap();
        let none = prune(
            &mut conn,
            before,
            again,
            ("bob", "local"),
            |_| unreachable!(),
        );
        assert!(none.unwrap().is_none());
        assert!(!dir.path().join("again.jsonl").exists());
        assert_eq!(super::super::entries(&conn, None).unwrap().len(), 2);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_archive_is_never_written_over_and_a_failed_one_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken.jsonl");
        std::fs::write(&path, "someone's").unwrap();
        let refused = Archive::create(&path).err().unwrap();
        assert!(refused.is_bad_input(), "{refused}");
        // The name taken while the archive was written: the prune fails, the log is whole.
        let mut conn = log(&[("2025-01-01T00:00:00Z", "init")]);
        let late = dir.path().join("late.jsonl");
        let archive = Archive::create(&late).unwrap();
        std::fs::write(&late, "first").unwrap();
        let before: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        let failed = prune(&mut conn, before, archive, ("bob", "local"), |_| {
            String::new()
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&late).unwrap(), "first");
        assert_eq!(super::super::entries(&conn, None).unwrap().len(), 1);
    }
}
