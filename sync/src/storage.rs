//! SQLite storage of ledger documents, in the till's (or HQ's) own database, so that a
//! record's ledger change commits in the same transaction as everything else it causes.
//!
//! A document is a compacted snapshot (`Automerge::save`) plus the changes stored after it,
//! one row each; [`compact`] folds the loose changes into a new snapshot off the hot path.
//!
//! A record may also wait in the journal ([`journal`]): one row of its JSON, the cheapest
//! durable write there is. The record determines its change (the document's heads, the
//! till's actor, the record's time and value), so appending it to its document just after
//! the journal row commits ([`journaled`], [`settle`]), or after a crash, makes the same change
//! byte for byte as making it inside the transaction would.

use automerge::{Automerge, Change, ReadDoc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::ledger::{LedgerDoc, LedgerId};
use crate::record::Record;
use crate::{Error, Result};

/// Creates the storage tables if they are missing. Idempotent.
pub fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "-- One row per document, written when it is created and when it is compacted.
         CREATE TABLE IF NOT EXISTS ledger_docs(
             doc_key  TEXT PRIMARY KEY,
             records  INTEGER NOT NULL  -- records held in the snapshot
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS ledger_snapshots(
             doc_key  TEXT PRIMARY KEY,
             bytes    BLOB NOT NULL
         ) STRICT;
         -- An append-only log: a change is stored once, when it is made or first received
         -- (the document knows which changes it has). Compaction keeps it short, so it has
         -- no index: one b-tree page written per change.
         CREATE TABLE IF NOT EXISTS ledger_changes(
             doc_key TEXT NOT NULL,
             hash    TEXT NOT NULL,
             bytes   BLOB NOT NULL,
             records INTEGER NOT NULL  -- records the change adds
         ) STRICT;
         -- Records written durably but not yet appended to their document, in order.
         CREATE TABLE IF NOT EXISTS ledger_journal(
             seq     INTEGER PRIMARY KEY,
             doc_key TEXT NOT NULL,
             record  TEXT NOT NULL
         ) STRICT;",
    )?;
    Ok(())
}

/// Loads a ledger document; `None` when nothing is stored under `id`. Refused when some of
/// its changes wait for a missing one, or when it holds fewer records than are stored: a
/// stored change that does not parse (a bit turned on the card) is not an error to
/// automerge, which keeps the changes before it. Taken as the ledger, the next sale was
/// written on top of the short one, and the next compaction deleted the rest for good.
pub fn load(conn: &Connection, id: &LedgerId) -> Result<Option<LedgerDoc>> {
    let key = id.key();
    let Some(StoredChunks {
        snapshot,
        loose,
        records,
    }) = stored_chunks(conn, &key)?
    else {
        return Ok(None);
    };
    let am = |source| Error::automerge(&key, source);
    let mut doc = match snapshot {
        Some(bytes) => Automerge::load(&bytes).map_err(am)?,
        None => Automerge::new(),
    };
    if !loose.is_empty() {
        doc.load_incremental(&loose).map_err(am)?;
    }
    let ledger = LedgerDoc::open(id.clone(), whole(&key, doc)?)?;
    every_record(&ledger, records)?;
    Ok(Some(ledger))
}

/// Refuses `ledger` unless it holds the `stored` records its chunks were stored with.
fn every_record(ledger: &LedgerDoc, stored: i64) -> Result<()> {
    if ledger.len() as i64 != stored {
        return Err(Error::NotALedger {
            key: ledger.id().key(),
            why: format!(
                "{} of its {stored} stored records load (a stored change is damaged)",
                ledger.len(),
            ),
        });
    }
    Ok(())
}

/// The stored bytes of a ledger as one run of chunks (the snapshot, then the changes stored
/// after it), without loading them: what a sync session loads into its own copy, which
/// [`session_ledger`] then checks. `None` when nothing is stored under `id`.
pub fn stored_bytes(conn: &Connection, id: &LedgerId) -> Result<Option<Vec<u8>>> {
    Ok(stored_chunks(conn, &id.key())?.map(
        |StoredChunks {
             snapshot, loose, ..
         }| {
            let mut bytes = snapshot.unwrap_or_default();
            bytes.extend_from_slice(&loose);
            bytes
        },
    ))
}

/// The ledger `stored` describes, from `doc`: a copy loaded (as a sync session's samod
/// loads one, leniently) from its [`stored_bytes`]. Refused as [`load`] refuses a stored
/// ledger some of whose changes wait for a missing one, and when the copy holds fewer
/// records than are stored: automerge drops the changes after one that does not parse
/// (checksum, truncation) rather than fail such a load.
pub fn session_ledger(stored: &StoredDoc, doc: Automerge) -> Result<LedgerDoc> {
    let key = stored.id.key();
    let ledger = LedgerDoc::open(stored.id.clone(), whole(&key, doc)?)?;
    every_record(&ledger, stored.records)?;
    Ok(ledger)
}

/// `doc`, loaded from the chunks stored under `key`, when it holds every change its changes
/// depend on; a document some of whose changes wait for others is not the ledger stored.
fn whole(key: &str, doc: Automerge) -> Result<Automerge> {
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(Error::NotALedger {
            key: key.to_string(),
            why: format!("{} change(s) it depends on are not stored", missing.len()),
        });
    }
    Ok(doc)
}

/// What is stored of one ledger document.
struct StoredChunks {
    /// Its last compaction, if it had one.
    snapshot: Option<Vec<u8>>,
    /// The changes stored after it, concatenated in the order they were stored.
    loose: Vec<u8>,
    /// The records they hold together, as stored with them.
    records: i64,
}

/// What is stored under `key`; `None` when no such document is stored.
fn stored_chunks(conn: &Connection, key: &str) -> Result<Option<StoredChunks>> {
    let Some(mut records) = conn
        .prepare_cached("SELECT records FROM ledger_docs WHERE doc_key = ?1")?
        .query_row([key], |row| row.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let snapshot: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM ledger_snapshots WHERE doc_key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?;
    let mut stmt = conn.prepare_cached(
        "SELECT bytes, records FROM ledger_changes WHERE doc_key = ?1 ORDER BY rowid",
    )?;
    let mut rows = stmt.query([key])?;
    let mut loose = Vec::new();
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(0)?;
        loose.extend_from_slice(&bytes);
        records += row.get::<_, i64>(1)?;
    }
    Ok(Some(StoredChunks {
        snapshot,
        loose,
        records,
    }))
}

/// Stores a new document with its genesis change.
pub fn create(conn: &Connection, doc: &LedgerDoc, genesis: &Change) -> Result<()> {
    conn.prepare_cached("INSERT INTO ledger_docs(doc_key, records) VALUES (?1, 0)")?
        .execute([doc.id().key()])?;
    store_change(conn, doc, genesis, 0)
}

/// Stores `change`, just made in (or first applied to) `doc`, which adds `records` records.
/// Call it once per change.
pub fn store_change(
    conn: &Connection,
    doc: &LedgerDoc,
    change: &Change,
    records: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO ledger_changes(doc_key, hash, bytes, records) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        doc.id().key(),
        change.hash().to_string(),
        change.raw_bytes(),
        records
    ])?;
    Ok(())
}

/// Replaces the loose changes of `doc` with one snapshot. Run it outside a sale's
/// transaction: it costs a full save of the document.
pub fn compact(conn: &Connection, doc: &LedgerDoc) -> Result<()> {
    let key = doc.id().key();
    // Never a snapshot of fewer records than are stored in place of them.
    let stored: i64 = conn
        .query_row(
            "SELECT d.records + COALESCE((SELECT SUM(c.records) FROM ledger_changes c
                                      WHERE c.doc_key = d.doc_key), 0)
         FROM ledger_docs d WHERE d.doc_key = ?1",
            [&key],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if (doc.len() as i64) < stored {
        return every_record(doc, stored);
    }
    let bytes = doc.automerge().save();
    conn.execute(
        "INSERT INTO ledger_snapshots(doc_key, bytes) VALUES (?1, ?2)
         ON CONFLICT(doc_key) DO UPDATE SET bytes = excluded.bytes",
        params![key, bytes],
    )?;
    conn.execute(
        "UPDATE ledger_docs SET records = ?2 WHERE doc_key = ?1",
        params![key, doc.len() as i64],
    )?;
    conn.execute("DELETE FROM ledger_changes WHERE doc_key = ?1", [&key])?;
    Ok(())
}

/// Writes `record` of the document `id` to the journal: durable, not yet in the document.
pub fn journal(conn: &Connection, id: &LedgerId, record: &Record) -> Result<()> {
    conn.prepare_cached("INSERT INTO ledger_journal(doc_key, record) VALUES (?1, ?2)")?
        .execute(params![id.key(), record.to_json()?])?;
    Ok(())
}

/// A record waiting in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journaled {
    /// Its place in the journal, for [`settle`].
    pub seq: i64,
    pub id: LedgerId,
    pub record: Record,
}

/// The records waiting in the journal, in the order they were written.
pub fn journaled(conn: &Connection) -> Result<Vec<Journaled>> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, doc_key, record FROM ledger_journal ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, key, json) = row?;
        let id = LedgerId::from_key(&key).ok_or_else(|| Error::NotALedger {
            key: key.clone(),
            why: "the journal's key is not ledger/<fair>/<device>/<day>".into(),
        })?;
        let record = Record::from_json(&json).map_err(|source| Error::BadRecord {
            key: key.clone(),
            id: format!("journal entry {seq}"),
            source,
        })?;
        out.push(Journaled { seq, id, record });
    }
    Ok(out)
}

/// Takes a journaled record out once its document holds it.
pub fn settle(conn: &Connection, seq: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM ledger_journal WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// What is stored of one document, without loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub id: LedgerId,
    /// Records held, snapshot and loose changes together.
    pub records: i64,
    /// Changes stored since the last snapshot.
    pub loose: i64,
}

/// Every stored ledger document, ordered by key.
pub fn stored_docs(conn: &Connection) -> Result<Vec<StoredDoc>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.doc_key, d.records + COALESCE(SUM(c.records), 0), COUNT(c.doc_key)
         FROM ledger_docs d LEFT JOIN ledger_changes c ON c.doc_key = d.doc_key
         GROUP BY d.doc_key ORDER BY d.doc_key",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, records, loose) = row?;
        let id = LedgerId::from_key(&key).ok_or_else(|| Error::NotALedger {
            key: key.clone(),
            why: "the storage key is not ledger/<fair>/<device>/<day>".into(),
        })?;
        out.push(StoredDoc { id, records, loose });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CashMoveRecord, Header, Record};
    use automerge::ActorId;

    fn id() -> LedgerId {
        LedgerId {
            fair: "demo".into(),
            device: "T01".into(),
            day: "2026-11-22".into(),
        }
    }

    fn record(seq: u64) -> Record {
        Record::CashMove(CashMoveRecord {
            header: Header {
                id: format!("r{seq:03}"),
                device: "T01".into(),
                seq,
                at: "2026-11-22T09:00:00+08:00".into(),
            },
            shift: "s".into(),
            amount_fen: seq as i64,
            reason: String::new(),
        })
    }

    /// A database with the storage tables and one new ledger stored in it.
    fn stored_ledger() -> (Connection, LedgerDoc) {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let (doc, genesis) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        create(&conn, &doc, &genesis).unwrap();
        (conn, doc)
    }

    /// Appends the records numbered `seqs` to `doc`, storing each change as it is made.
    fn append_stored(conn: &Connection, doc: &mut LedgerDoc, seqs: std::ops::RangeInclusive<u64>) {
        for seq in seqs {
            let change = doc.append(&record(seq), 0).unwrap();
            store_change(conn, doc, &change, 1).unwrap();
        }
    }

    #[test]
    fn loose_changes_and_snapshots_load_to_the_same_document() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert!(load(&conn, &id()).unwrap().is_none());

        let (mut doc, genesis) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        create(&conn, &doc, &genesis).unwrap();
        append_stored(&conn, &mut doc, 1..=5);
        let stored = stored_docs(&conn).unwrap();
        assert_eq!((stored[0].records, stored[0].loose), (5, 6));
        let loaded = load(&conn, &id()).unwrap().unwrap();
        assert_eq!(loaded.records().unwrap(), doc.records().unwrap());
        assert_eq!(loaded.len(), 5);
        assert_eq!(session_copy(&conn).unwrap().heads(), doc.heads());

        compact(&conn, &doc).unwrap();
        append_stored(&conn, &mut doc, 6..=6);
        let loaded = load(&conn, &id()).unwrap().unwrap();
        assert_eq!(loaded.len(), 6);
        assert_eq!(loaded.heads(), doc.heads());
        assert_eq!(session_copy(&conn).unwrap().heads(), doc.heads());
        let stored = stored_docs(&conn).unwrap();
        assert_eq!((stored[0].records, stored[0].loose), (6, 1));
    }

    /// The stored bytes loaded as a sync session's samod loads a seed (`load_incremental`
    /// into an empty document), then checked.
    fn session_copy(conn: &Connection) -> Result<LedgerDoc> {
        let bytes = stored_bytes(conn, &id()).unwrap().unwrap();
        let mut copy = Automerge::new();
        copy.load_incremental(&bytes).unwrap();
        session_ledger(&stored_docs(conn).unwrap()[0], copy)
    }

    #[test]
    fn a_session_copy_missing_a_damaged_change_is_refused() {
        let (conn, mut doc) = stored_ledger();
        append_stored(&conn, &mut doc, 1..=3);
        compact(&conn, &doc).unwrap();
        append_stored(&conn, &mut doc, 4..=6);
        assert_eq!(session_copy(&conn).unwrap().len(), 6);
        // The last byte of the second change after the snapshot turned: its checksum fails,
        // and automerge keeps the snapshot alone.
        let (rowid, mut bytes): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT rowid, bytes FROM ledger_changes ORDER BY rowid LIMIT 1 OFFSET 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        *bytes.last_mut().unwrap() ^= 0xff;
        conn.execute(
            "UPDATE ledger_changes SET bytes = ?1 WHERE rowid = ?2",
            params![bytes, rowid],
        )
        .unwrap();
        let damaged = "of its 6 stored records load (a stored change is damaged)";
        let err = session_copy(&conn).err().unwrap();
        assert!(err.to_string().contains(&format!("3 {damaged}")), "{err}");
        // Loaded as the till's writer and `bundle export` load it (the snapshot, then the
        // changes after it): refused too. It was the ledger up to the damaged change, and
        // the next sale was written on top of it.
        let err = load(&conn, &id()).err().unwrap();
        assert!(err.to_string().contains(&format!("4 {damaged}")), "{err}");
        // A short copy is never compacted in place of what is stored.
        let (_, mut short) = stored_ledger();
        short.set_actor(ActorId::random());
        let err = compact(&conn, &short).unwrap_err();
        assert!(err.to_string().contains(&format!("0 {damaged}")), "{err}");
        let loose: i64 = conn
            .query_row("SELECT COUNT(*) FROM ledger_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(loose, 3, "the changes stored are all kept");
    }

    #[test]
    fn a_missing_change_is_reported_not_hidden() {
        let (conn, mut doc) = stored_ledger();
        let _lost = doc.append(&record(1), 0).unwrap(); // never stored
        let change = doc.append(&record(2), 0).unwrap();
        store_change(&conn, &doc, &change, 1).unwrap();
        let err = load(&conn, &id()).err().unwrap();
        assert!(err.to_string().contains("not stored"), "{err}");
        // A session's copy of the same bytes loads, holding the change back: checked whole,
        // it is refused the same way.
        let mut copy = Automerge::new();
        copy.load_incremental(&stored_bytes(&conn, &id()).unwrap().unwrap())
            .unwrap();
        let err = session_ledger(&stored_docs(&conn).unwrap()[0], copy)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("1 change(s) it depends on are not stored"),
            "{err}"
        );
    }
}
