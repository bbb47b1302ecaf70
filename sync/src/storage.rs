//! SQLite storage of ledger documents, in the till's (or HQ's) own database, so that a
//! record's ledger change commits in the same transaction as everything else it causes.
//!
//! A document is a compacted snapshot (`Automerge::save`) plus the changes stored after it,
//! one row each. Appending a sale stores one small change (constant cost however long the
//! day); [`compact`] folds the loose changes into a new snapshot off the hot path.

use automerge::{Automerge, Change, ReadDoc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::ledger::{heads_text, LedgerDoc, LedgerId};
use crate::{Error, Result};

/// Creates the storage tables if they are missing. Idempotent.
pub fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS ledger_docs(
             doc_key  TEXT PRIMARY KEY,
             snapshot BLOB,
             heads    TEXT NOT NULL,
             records  INTEGER NOT NULL,
             loose    INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE IF NOT EXISTS ledger_changes(
             doc_key TEXT NOT NULL,
             hash    TEXT NOT NULL,
             bytes   BLOB NOT NULL,
             UNIQUE(doc_key, hash)
         ) STRICT;",
    )?;
    Ok(())
}

/// Loads a ledger document; `None` when nothing is stored under `id`.
pub fn load(conn: &Connection, id: &LedgerId) -> Result<Option<LedgerDoc>> {
    let key = id.key();
    let snapshot: Option<Option<Vec<u8>>> = conn
        .query_row(
            "SELECT snapshot FROM ledger_docs WHERE doc_key = ?1",
            [&key],
            |row| row.get(0),
        )
        .optional()?;
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let am = |source| Error::automerge(&key, source);
    let mut doc = match snapshot {
        Some(bytes) => Automerge::load(&bytes).map_err(am)?,
        None => Automerge::new(),
    };
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM ledger_changes WHERE doc_key = ?1 ORDER BY rowid")?;
    let mut rows = stmt.query([&key])?;
    let mut loose = Vec::new();
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(0)?;
        loose.extend_from_slice(&bytes);
    }
    if !loose.is_empty() {
        doc.load_incremental(&loose).map_err(am)?;
    }
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(Error::NotALedger {
            key,
            why: format!("{} change(s) it depends on are not stored", missing.len()),
        });
    }
    LedgerDoc::open(id.clone(), doc).map(Some)
}

/// Stores `change`, just made in `doc`, and the document's new heads. Storing a change
/// twice is harmless.
pub fn store_change(conn: &Connection, doc: &LedgerDoc, change: &Change) -> Result<()> {
    let key = doc.id().key();
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO ledger_changes(doc_key, hash, bytes) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key, change.hash().to_string(), change.raw_bytes()])?;
    conn.prepare_cached(
        "INSERT INTO ledger_docs(doc_key, snapshot, heads, records, loose)
         VALUES (?1, NULL, ?2, ?3, ?4)
         ON CONFLICT(doc_key) DO UPDATE SET
             heads = excluded.heads, records = excluded.records, loose = loose + ?4",
    )?
    .execute(params![
        key,
        heads_text(&doc.heads()),
        doc.len() as i64,
        inserted as i64
    ])?;
    Ok(())
}

/// Replaces the loose changes of `doc` with one snapshot. Run it outside a sale's
/// transaction: it costs a full save of the document.
pub fn compact(conn: &Connection, doc: &LedgerDoc) -> Result<()> {
    let key = doc.id().key();
    let bytes = doc.automerge().save();
    conn.execute(
        "UPDATE ledger_docs SET snapshot = ?2, heads = ?3, records = ?4, loose = 0
         WHERE doc_key = ?1",
        params![key, bytes, heads_text(&doc.heads()), doc.len() as i64],
    )?;
    conn.execute("DELETE FROM ledger_changes WHERE doc_key = ?1", [&key])?;
    Ok(())
}

/// What is stored of one document, without loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub id: LedgerId,
    pub heads: String,
    pub records: i64,
    /// Changes stored since the last snapshot.
    pub loose: i64,
}

/// Every stored ledger document, ordered by key.
pub fn stored_docs(conn: &Connection) -> Result<Vec<StoredDoc>> {
    let mut stmt = conn.prepare_cached(
        "SELECT doc_key, heads, records, loose FROM ledger_docs ORDER BY doc_key",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, heads, records, loose) = row?;
        let id = LedgerId::from_key(&key).ok_or_else(|| Error::NotALedger {
            key: key.clone(),
            why: "the storage key is not ledger/<fair>/<device>/<day>".into(),
        })?;
        out.push(StoredDoc {
            id,
            heads,
            records,
            loose,
        });
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

    #[test]
    fn loose_changes_and_snapshots_load_to_the_same_document() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert!(load(&conn, &id()).unwrap().is_none());

        let (mut doc, genesis) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        store_change(&conn, &doc, &genesis).unwrap();
        for seq in 1..=5 {
            let change = doc.append(&record(seq), 0).unwrap();
            store_change(&conn, &doc, &change).unwrap();
            store_change(&conn, &doc, &change).unwrap(); // a repeat is ignored
        }
        let stored = stored_docs(&conn).unwrap();
        assert_eq!((stored[0].records, stored[0].loose), (5, 6));
        assert_eq!(
            load(&conn, &id()).unwrap().unwrap().records().unwrap(),
            doc.records().unwrap()
        );

        compact(&conn, &doc).unwrap();
        let change = doc.append(&record(6), 0).unwrap();
        store_change(&conn, &doc, &change).unwrap();
        let loaded = load(&conn, &id()).unwrap().unwrap();
        assert_eq!(loaded.len(), 6);
        assert_eq!(loaded.heads(), doc.heads());
        assert_eq!(stored_docs(&conn).unwrap()[0].loose, 1);
    }

    #[test]
    fn a_missing_change_is_reported_not_hidden() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let (mut doc, genesis) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        store_change(&conn, &doc, &genesis).unwrap();
        let lost = doc.append(&record(1), 0).unwrap();
        let _ = lost; // never stored
        let change = doc.append(&record(2), 0).unwrap();
        store_change(&conn, &doc, &change).unwrap();
        let err = load(&conn, &id()).err().unwrap();
        assert!(err.to_string().contains("not stored"), "{err}");
    }
}
