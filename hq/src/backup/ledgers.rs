//! The ledgers a restore carries over from the database it replaces. Tills give a restored
//! headquarters back what they synced since the backup at their next sync, but a till
//! revoked since (its hardware failed) never syncs again, and its bundle is refused: the
//! database being replaced may be the only place its last sales are. Automerge documents
//! only combine, so every change the replaced database holds of a ledger is stored in the
//! copy too; `hq serve`, when it next starts, projects what its ledgers gained (as it does
//! chunks stored after the last projection), each sale once.

use std::collections::HashSet;
use std::path::Path;

use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::{document_chunk_keys, document_chunks, load_chunks};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::devices::actor_of;
use crate::project::first_forged;
use crate::Result;

/// What the ledgers of the replaced database gave the copy.
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// Ledgers the copy took changes of.
    pub ledgers: usize,
    /// Ledgers not carried over, each with why (their device writes with another actor in
    /// the copy, or is unknown to it; their changes do not read), and those carried that the
    /// copy holds refused.
    pub not_carried: Vec<String>,
}

/// Stores in the copy at `copy` every chunk of a ledger the database at `replaced` holds
/// and the copy lacks, for each ledger whose device the copy knows with the same actor and
/// whose chunks read as its device's own changes.
pub(super) fn carry_over(replaced: &Path, copy: &Path) -> Result<Carried> {
    let old = Connection::open_with_flags(replaced, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut new = Connection::open(copy)?;
    let ledgers: Vec<(String, String, String)> = old
        .prepare(
            "SELECT doc_id, doc_key, device FROM hq_docs
             WHERE device IS NOT NULL AND refused IS NULL ORDER BY doc_key",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut carried = Carried::default();
    for (doc, key, device) in ledgers {
        let Ok(doc_id) = doc.parse::<DocumentId>() else {
            continue;
        };
        // Each ledger on its own: one that fails is named, the others are still carried.
        match carry_one(&old, &mut new, (&doc, &doc_id, &key, &device)) {
            Ok(true) => {
                carried.ledgers += 1;
                if let Some(why) = refused_in(&new, &doc)? {
                    carried.not_carried.push(format!(
                        "{key}: carried over, but the backup holds it refused ({why}): it is \
                         projected once headquarters takes it again (a limit raised since)"
                    ));
                }
            }
            Ok(false) => {}
            Err(Refusal(why)) => carried
                .not_carried
                .push(format!("{key}: not carried over: {why}")),
        }
    }
    Ok(carried)
}

/// Why the copy `conn` holds the ledger `doc` refused, if it does.
fn refused_in(conn: &Connection, doc: &str) -> Result<Option<String>> {
    let refused: Option<Option<String>> = conn
        .query_row(
            "SELECT refused FROM hq_docs WHERE doc_id = ?1",
            [doc],
            |r| r.get(0),
        )
        .optional()?;
    Ok(refused.flatten())
}

/// Why one ledger was not carried over.
struct Refusal(String);

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Refusal {
        Refusal(e.to_string())
    }
}

impl From<crate::Error> for Refusal {
    fn from(e: crate::Error) -> Refusal {
        Refusal(e.to_string())
    }
}

/// Carries the ledger `(doc, doc_id, key, device)` over from `old` into `new`: whether it
/// took any chunk.
fn carry_one(
    old: &Connection,
    new: &mut Connection,
    (doc, doc_id, key, device): (&str, &DocumentId, &str, &str),
) -> std::result::Result<bool, Refusal> {
    // The keys first: most ledgers the copy holds whole (their tills synced before the
    // backup), and their bytes are not read.
    let held: HashSet<String> = document_chunk_keys(new, doc_id)?.into_iter().collect();
    if document_chunk_keys(old, doc_id)?
        .iter()
        .all(|chunk| held.contains(chunk))
    {
        return Ok(false);
    }
    let chunks = document_chunks(old, doc_id)?;
    let actor = actor_of(new, device)?;
    if actor != actor_of(old, device)? {
        return Err(Refusal(format!(
            "{device} is unknown to the backup or writes with another actor there (it \
             syncs it once enrolled again)"
        )));
    }
    let why = match load_chunks(doc, &chunks) {
        Ok(Some(ledger)) => first_forged(&ledger, device, actor.as_deref()),
        Ok(None) => return Ok(false),
        Err(e) => Some(format!("its changes do not read: {e}")),
    };
    if let Some(why) = why {
        return Err(Refusal(why));
    }
    let tx = new.transaction()?;
    for (chunk, bytes) in chunks.iter().filter(|(chunk, _)| !held.contains(chunk)) {
        tx.execute(
            "INSERT INTO samod_kv(key, bytes) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            params![chunk, bytes],
        )?;
    }
    crate::project::register_ledger(&tx, doc, key, device)?;
    tx.commit()?;
    Ok(true)
}
