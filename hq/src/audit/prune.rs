//! `hq audit prune`: the entries written before a day, moved out of the audit log into an
//! archive file ([`super::archive`]), never one of the last six months. The Cybersecurity
//! Law of the PRC (《网络安全法》 Art. 21) asks a network's operator to keep its logs for six
//! months at least; a province's log (every login of every account, every enrolment) grows
//! for as long as headquarters runs.
//!
//! The archive is written whole and flushed to disk, then named as the last step before the
//! transaction that removes its entries and writes the entry saying so (with the archive's
//! SHA-256) commits: a prune that fails before removes nothing and leaves no archive; one
//! killed or failing at its commit leaves the archive named, and the error says so.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Months, NaiveDate, Utc};
use fairpos_postgres::audit::chain::{self, Junctions, Link};
use fairpos_postgres::audit::{NewEntry, StoredEntry};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::archive::{Archive, Finished, Kept};
use super::Entry;
use crate::{now_text, time_text, Error, Result};

pub use fairpos_postgres::audit::Found;

/// How long the log keeps every entry: the six months the Cybersecurity Law asks.
pub const KEPT_MONTHS: u32 = 6;

/// The action of the entry a prune writes.
pub const ACTION: &str = fairpos_postgres::audit::PRUNE_ACTION;

/// The latest day a prune may name, `today` at the fair: six months back.
pub fn latest_day(today: NaiveDate) -> NaiveDate {
    months_before(today, KEPT_MONTHS)
}

/// The first day kept when the last `months` are (`--keep-months`): today at the fair
/// (`offset`, `now`), that many months back.
pub fn months_back(months: u32, offset: FixedOffset, now: DateTime<Utc>) -> NaiveDate {
    months_before(now.with_timezone(&offset).date_naive(), months)
}

/// `day`, `months` calendar months back (the month's last day when it has no such day).
fn months_before(day: NaiveDate, months: u32) -> NaiveDate {
    day.checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDate::MIN)
}

/// A new archive's path in `folder` (`--archive-dir`; made when missing, for this user
/// alone): `audit-before-DAY-WHEN.jsonl`, WHEN `now` in UTC (and `-2`, `-3`… after it when
/// taken), so that a timer's prunes never name one twice.
pub fn archive_in(folder: &Path, before: NaiveDate, now: DateTime<Utc>) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder);
    made.map_err(|source| Error::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    let when = now.format("%Y%m%dT%H%M%SZ");
    // Two in one second (a timer's run and one by hand): the second numbered.
    let names = std::iter::once(String::new()).chain((2..).map(|n| format!("-{n}")));
    let free = names
        .take(100)
        .map(|n| folder.join(format!("audit-before-{before}-{when}{n}.jsonl")))
        .find(|path| path.symlink_metadata().is_err());
    free.ok_or_else(|| Error::Other(format!("{}: no free archive name", folder.display())))
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

/// The detail of a prune's own entry.
pub fn detail(kept: &Kept, before: NaiveDate, offset: FixedOffset) -> String {
    format!(
        "{} entries written before {before} ({offset}), archived to {}, sha256 {}",
        kept.entries,
        kept.path.display(),
        kept.sha256
    )
}

/// An error at or after the archive was named: the archive stays, and the error says where.
pub fn archive_kept(e: Error, kept: &Kept) -> Error {
    Error::Other(format!(
        "{e}; the archive {} was kept: `hq audit` shows whether its entries are still in the \
         log",
        kept.path.display()
    ))
}

/// What a SQLite log holds before `before`.
pub fn found(conn: &Connection, before: DateTime<Utc>) -> Result<Found> {
    let (entries, first_at, last_at) = conn.query_row(
        "SELECT COUNT(*), MIN(at), MAX(at) FROM audit_log WHERE at < ?1",
        [time_text(before)],
        |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Found {
        entries: entries.unsigned_abs(),
        first_at,
        last_at,
    })
}

/// The entries of a SQLite log up to the last one written before `?1` (found by the index
/// of times), in the order of their numbers, each with its link and whether it was written
/// before `?1` (a clock set back puts later ones among them): the log is not read past it.
pub(crate) const READ_BEFORE: &str =
    "SELECT id, at, actor, address, action, detail, follows, digest, at < ?1 FROM audit_log
     WHERE id <= (SELECT max(id) FROM audit_log WHERE at < ?1)
     ORDER BY id";

/// Moves the entries of a SQLite log written before `before` into `archive`, then removes
/// them in one transaction with the entry `by` writes of it (`(actor, address)`; its
/// detail from `detail`, then where the chain continues, [`chain::CONTINUES_FROM`]). None
/// before: nothing written, no archive kept. The archive kept, if any.
///
/// The entries are read, and the archive written and flushed to disk, before the log is
/// taken for writing: a serving headquarters' writer waits only for the removal. No entry
/// before `before` is written meanwhile: each is written with the time it is written, and
/// a restore, which writes entries with their own times, writes them into its copy with the
/// data directory locked. Should another prune have removed some, nothing is removed and no
/// archive kept.
pub fn prune(
    conn: &mut Connection,
    before: DateTime<Utc>,
    mut archive: Archive,
    by: (&str, &str),
    detail: impl FnOnce(&Kept) -> String,
) -> Result<Option<Kept>> {
    let before = time_text(before);
    let mut last = 0i64;
    let mut junctions = Junctions::default();
    {
        // One read transaction: what is read is one moment's log.
        let read = conn.transaction()?;
        let mut stmt = read.prepare(READ_BEFORE)?;
        let mut rows = stmt.query([&before])?;
        while let Some(r) = rows.next()? {
            let link = super::link_from(r, 6)?;
            let removed: bool = r.get(8)?;
            let entry = super::entry_from(r, 1)?;
            junctions.add(removed, &entry.stored(), link.follows.as_deref());
            if removed {
                last = r.get(0)?;
                archive.add(last, &entry, &link)?;
            }
        }
    }
    if archive.entries() == 0 {
        return Ok(None);
    }
    let finished = archive.finish()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The prune's entry follows the newest entry before the removal (the last removed,
    // when it was the newest).
    let newest = super::head(&tx)?;
    let removed = tx.execute(
        "DELETE FROM audit_log WHERE at < ?1 AND id <= ?2",
        params![before, last],
    )?;
    if removed as u64 != finished.kept.entries {
        return Err(Error::Integrity(format!(
            "the audit log: {} entries read before {before}, but {removed} to remove \
             (another prune at the same time?); nothing was removed",
            finished.kept.entries
        )));
    }
    let next_follows = next_follows(&tx, last)?.unwrap_or_else(|| Some(newest.clone()));
    let junctions = junctions.finish(next_follows.as_deref());
    let (actor, address) = by;
    let entry = Entry {
        at: now_text(),
        actor: actor.to_string(),
        address: address.to_string(),
        action: ACTION.to_string(),
        detail: chain::with_junctions(detail(&finished.kept), &junctions),
    };
    super::insert_following(&tx, &entry, &newest)?;
    let kept = finished.name()?;
    // A commit that fails may still be on disk (a WAL written, its sync failed): the
    // archive stays.
    tx.commit().map_err(|e| archive_kept(e.into(), &kept))?;
    Ok(Some(kept))
}

/// What the entry after entry `last` follows, if there is one.
fn next_follows(conn: &Connection, last: i64) -> Result<Option<Option<String>>> {
    let next = conn.query_row(
        "SELECT follows FROM audit_log WHERE id > ?1 ORDER BY id LIMIT 1",
        [last],
        |r| r.get(0),
    );
    Ok(next.optional()?)
}

/// An archive a prune on PostgreSQL writes into ([`fairpos_postgres::audit::prune`]), and
/// the entry of itself it gives once the archive is on disk.
pub struct ForPostgres<'a> {
    archive: Option<Archive>,
    finished: Option<Finished>,
    /// The archive once named: kept even when the transaction then fails.
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
            finished: None,
            kept: None,
            by,
            detail,
        }
    }
}

impl fairpos_postgres::audit::Archive for ForPostgres<'_> {
    type Error = Error;

    fn add(&mut self, id: i64, stored: StoredEntry, link: Link) -> Result<()> {
        let archive = self.archive.as_mut().ok_or_else(out_of_turn)?;
        archive.add(id, &super::from_postgres(stored), &link)
    }

    fn flush(&mut self, count: u64) -> Result<()> {
        let archive = self.archive.take().ok_or_else(out_of_turn)?;
        let finished = self.finished.insert(archive.finish()?);
        if finished.kept.entries != count {
            return Err(Error::Integrity(format!(
                "the audit archive holds {} entries of {count}",
                finished.kept.entries
            )));
        }
        Ok(())
    }

    fn entry(&mut self, junctions: &[String]) -> Result<NewEntry> {
        let finished = self.finished.as_ref().ok_or_else(out_of_turn)?;
        let (actor, address) = self.by;
        Ok((
            actor.to_string(),
            address.to_string(),
            ACTION.to_string(),
            chain::with_junctions((self.detail)(&finished.kept), junctions),
        ))
    }

    fn name(&mut self) -> Result<()> {
        let finished = self.finished.take().ok_or_else(out_of_turn)?;
        self.kept = Some(finished.name()?);
        Ok(())
    }
}

/// An archive's steps taken out of their order (add, flush, entry, name).
fn out_of_turn() -> Error {
    Error::Other("the audit archive's steps out of turn".into())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

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
        assert_eq!(time_text(cut), "2026-06-03T16:00:00Z");
        let refused = cutoff(day("2026-06-05"), beijing(), now).unwrap_err();
        assert!(refused.is_bad_input());
        assert!(refused.to_string().contains("name 2026-06-04"), "{refused}");
        assert_eq!(months_back(12, beijing(), now), day("2025-12-04"));
        assert_eq!(
            months_back(6, beijing(), now),
            latest_day(day("2026-12-04"))
        );
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
        // The entry kept follows the last removed: the prune's names its digest.
        let last_removed = text.lines().last().unwrap();
        let last_removed: serde_json::Value = serde_json::from_str(last_removed).unwrap();
        let junction = last_removed["digest"].as_str().unwrap();
        let prune_said = format!("audit prune 2 entries{}{junction}", chain::CONTINUES_FROM);
        assert_eq!(left, ["user add d".to_string(), prune_said]);
        // The chain is whole: with its gap named, and with the archive put back.
        let walked = |archived| {
            let mut walk = super::super::verify::Walk::new(&[], archived);
            super::super::verify::walk_sqlite(&conn, &mut walk).unwrap();
            walk.finish()
        };
        let (alone, _, _) = walked(Vec::new());
        assert_eq!((alone.broken, alone.pruned.len()), (None, 1));
        let (archived, _) = super::super::verify::archived(std::slice::from_ref(&path)).unwrap();
        let (with_archive, from_archive, _) = walked(archived);
        assert_eq!(with_archive.broken, None);
        assert_eq!((with_archive.pruned.len(), from_archive), (0, 2));
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
    fn a_prune_whose_archive_cannot_be_named_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
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
        let left = super::super::entries(&conn, None).unwrap();
        let actions: Vec<&str> = left.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["init"]);
    }

    #[test]
    fn entries_written_later_among_older_ones_stay_and_the_chain_stays_whole() {
        // The clock set back between the second and the third.
        let mut conn = log(&[
            ("2025-01-01T00:00:00Z", "init"),
            ("2026-01-01T00:00:00Z", "user add"),
            ("2025-02-01T00:00:00Z", "login"),
            ("2026-02-01T00:00:00Z", "logout"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let before: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        let archive = Archive::create(&path).unwrap();
        let kept = prune(&mut conn, before, archive, ("bob", "local"), |k| {
            format!("{} entries", k.entries)
        });
        assert_eq!(kept.unwrap().unwrap().entries, 2);
        let left = super::super::entries(&conn, None).unwrap();
        let actions: Vec<&str> = left.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["user add", "logout", ACTION]);
        let named = left[2].detail.split(chain::CONTINUES_FROM).nth(1).unwrap();
        assert_eq!(named.split(", ").count(), 2, "{named}");
        let walked = |conn: &Connection, archived| {
            let mut walk = super::super::verify::Walk::new(&[], archived);
            super::super::verify::walk_sqlite(conn, &mut walk).unwrap();
            walk.finish().0
        };
        let verdict = walked(&conn, Vec::new());
        assert_eq!((verdict.broken, verdict.pruned.len()), (None, 2));
        // An entry kept between two a prune removed, removed behind headquarters' back: the
        // gaps are named, so only the archive tells.
        conn.execute("DELETE FROM audit_log WHERE action = 'user add'", [])
            .unwrap();
        assert_eq!(walked(&conn, Vec::new()).broken, None);
        let (archived, _) = super::super::verify::archived(std::slice::from_ref(&path)).unwrap();
        let verdict = walked(&conn, archived);
        assert_eq!(verdict.broken, Some(chain::Break::Removed { id: 3 }));
    }
}
