//! A stored ledger document projected by whichever process hears of it: loaded from
//! `samod_kv`, checked to be the ledger its document id is made from, every record naming
//! that ledger's device, then its records into the projection ([`crate::project`]), where
//! each counts once however many processes do the same at the same time.

use std::collections::{BTreeSet, HashMap};

use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::ids::document_id;
use fairpos_sync::ledger::{heads_held, heads_text, why_refused_adding};
use fairpos_sync::plausible::Weight;
use fairpos_sync::protocol::over_size;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::{chunks_digest, chunks_held, load_chunks};
use fairpos_sync::{LedgerDoc, Record};

use deadpool_postgres::Transaction;

use crate::apply::{self, Held, Projected};
use crate::documents::{chunks_in, document_keys};
use crate::registry::{self, Authors, ProjectedState};
use crate::{Error, Pool, Result};

mod chunks_read;

/// Projects the stored document `doc`. Returns how many records were new, or `None` when
/// nothing of it is stored or it is the fair's catalog (copied with the ledgers). A ledger
/// whose stored chunks are the very ones it was last projected from is not decoded again.
/// Where only single changes that follow its heads were stored since, those are read on
/// their own ([`chunks_read`]: a process keeps no documents between calls). Otherwise its
/// document is loaded and the records added since its last projection are read and
/// projected ([`decode`]; a ledger read whole, as one projected by an older build is,
/// projects those held already as nothing).
///
/// On a headquarters served from PostgreSQL (the database knows devices), every change the
/// heads projected before do not cover must be written by the actor the ledger's device
/// enrolled with, as on SQLite, and the heads projected are stored for its confirmations. A
/// database that only mirrors a SQLite headquarters knows no devices; its ledgers were
/// checked there.
pub async fn project_document(pool: &Pool, doc: &DocumentId) -> Result<Option<usize>> {
    Ok(project_within(pool, doc, None).await?.map(|p| p.new))
}

/// As [`project_document`]; an announced ledger whose chunks take more than `max_bytes` is
/// refused before anything of it is loaded or projected.
///
/// The chunks are read, and their digest compared, in the ledger's turn
/// ([`apply::ledger_turn`]), held until the projection commits: when two processes hear of
/// the same store, the second waits for the first and then finds the chunks projected,
/// instead of decoding the whole ledger again only to find its records held.
pub async fn project_within(
    pool: &Pool,
    doc: &DocumentId,
    max_bytes: Option<u64>,
) -> Result<Option<Projected>> {
    project_reading(pool, doc, max_bytes, Reading::ChunksAlone).await
}

/// How a projection reads what is new of a ledger projected before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// From the chunks stored since alone where they vouch for it, else from the document.
    ChunksAlone,
    /// From the document: for a ledger taken again because a change read on its own waited
    /// ([`Projected::changes_waiting`]), which only the document tells from a fork.
    Document,
}

/// [`project_within`], reading what is new as `reading` says (nothing is read where every
/// chunk stored was projected).
pub async fn project_reading(
    pool: &Pool,
    doc: &DocumentId,
    max_bytes: Option<u64>,
    reading: Reading,
) -> Result<Option<Projected>> {
    let shown = doc.to_string();
    // Over the size limit: refused before its chunks are even loaded, let alone read.
    if let Some(max) = max_bytes {
        let sized = registry::stored_sizes(pool, std::slice::from_ref(&shown)).await?;
        if let Some((_, device, bytes)) = sized.first() {
            if let Some(why) = over_size(&shown, device, (*bytes).max(0) as u64, max) {
                return Err(Error::Integrity(why));
            }
        }
    }
    let mut client = pool.get().await?;
    let mut attempt = 0;
    loop {
        let tx = apply::ledger_turn(&mut client, &shown).await?;
        match project_turn(tx, doc, reading).await {
            Err(e) => apply::again_after(e, &mut attempt).await?,
            outcome => return outcome,
        }
    }
}

/// [`project_reading`] in the ledger's turn `tx`.
async fn project_turn(
    tx: Transaction<'_>,
    doc: &DocumentId,
    reading: Reading,
) -> Result<Option<Projected>> {
    let shown = doc.to_string();
    let projected = registry::projected(&tx, &shown).await?;
    let mut decoded = None;
    if let Some(before) = &projected {
        let keys = document_keys(&tx, doc).await?;
        let digest = chunks_digest(keys.iter().map(String::as_str));
        if before.chunks_digest.as_deref() == Some(digest.as_str()) {
            return Ok(Some(Projected::default()));
        }
        if reading == Reading::ChunksAlone {
            decoded = chunks_read::read(&tx, before, &keys).await?;
        }
    }
    let announced = projected.is_some();
    let document_loaded = decoded.is_none();
    let changes_waiting = decoded.as_ref().is_some_and(|d| d.changes_waiting);
    let ledger = match decoded {
        Some(ledger) => ledger,
        None => {
            let chunks = chunks_in(&tx, doc).await?;
            if chunks.is_empty() {
                return Ok(None);
            }
            let before = projected.unwrap_or_default();
            let want = doc.clone();
            let decoded = tokio::task::spawn_blocking(move || decode(&want, &chunks, &before))
                .await
                .map_err(|e| Error::Ledger(format!("decoding {doc}: {e}")))??;
            let Some(ledger) = decoded else {
                return Ok(None);
            };
            ledger
        }
    };
    let authors = registry::authors_of(&tx, &ledger.device).await?;
    if authors == Authors::Unchecked && !announced {
        // A database that only mirrors a SQLite headquarters: no till announces its ledgers
        // here, so the ledger is registered to keep how far it is projected.
        registry::register_mirrored(&tx, &ledger.key, &shown, &ledger.device).await?;
    }
    let actor = match authors {
        Authors::Unchecked => None,
        Authors::Actor(actor) => Some(actor),
        Authors::Nobody => Some(String::new()),
    };
    if let Some(actor) = actor {
        if let Some(author) = ledger.new_authors.iter().find(|a| **a != actor) {
            let enrolled = if actor.is_empty() { "nobody" } else { &actor };
            return Err(Error::Integrity(format!(
                "forged ledger change: written by actor {author}, but {} writes as {enrolled}",
                ledger.device
            )));
        }
    }
    let (read_keys, records_map) = &ledger.chunks_read;
    let held = Held {
        doc_id: &shown,
        heads: &ledger.heads,
        records: ledger.len as i64,
        weight: ledger.weight,
        chunks_read: (read_keys.as_slice(), records_map.as_str()),
    };
    let projected = apply::project_in(tx, &ledger.key, &ledger.records, Some(held)).await?;
    Ok(Some(Projected {
        document_loaded,
        changes_waiting,
        ..projected
    }))
}

/// A stored ledger as decoded.
struct Decoded {
    key: String,
    device: String,
    /// Its records not projected yet: all of them, or, where its projection resumes from the
    /// heads projected before, those added since.
    records: Vec<Record>,
    /// How many records it holds.
    len: usize,
    /// What all of them come to.
    weight: Weight,
    /// [`heads_text`] of the document.
    heads: String,
    /// Every actor that wrote a change the heads projected before do not cover, in hex.
    new_authors: BTreeSet<String>,
    /// Where its next projection reads the chunks stored after these alone: the keys of
    /// those read whose every change the heads cover (but those whose change waits for one
    /// not stored yet; their digest is stored as the chunks projected), and its records map.
    chunks_read: (Vec<String>, String),
    /// Read from its chunks alone, a change among them waits for one not stored yet
    /// ([`Projected::changes_waiting`]).
    changes_waiting: bool,
}

/// The ledger, from its chunks (`None` for the fair's catalog); refused unless the document
/// is the ledger its id says, it only grew since it was projected `before`, and its records
/// are its device's, each one a till writes, together no more than a till takes in a day.
///
/// Where the document holds every head projected before, and what the records at those heads
/// come to is known, only the records added since are read (each ledger's projection would
/// otherwise read it whole again at every sync, a day's ledger growing to thousands of
/// records); otherwise all of them.
fn decode(
    doc: &DocumentId,
    chunks: &[(String, Vec<u8>)],
    before: &ProjectedState,
) -> Result<Option<Decoded>> {
    let shown = doc.to_string();
    let am = load_chunks(&shown, chunks)
        .map_err(|e| Error::Ledger(e.to_string()))?
        .ok_or_else(|| Error::Ledger(format!("{shown} has no chunks")))?;
    if CatalogDoc::is_stored_as(&am, doc) {
        return Ok(None);
    }
    let projected = heads_held(&am, &before.heads);
    let new_authors = am
        .get_changes_meta(&projected)
        .into_iter()
        .map(|c| c.actor.to_hex_string())
        .collect();
    let heads = heads_text(&am.get_heads());
    let ledger = LedgerDoc::open_claimed(am).map_err(|e| Error::Ledger(e.to_string()))?;
    let key = ledger.id().key();
    let its_document = document_id(&key);
    if its_document != *doc {
        return Err(Error::Integrity(format!(
            "document {shown} holds the ledger {key}, whose document is {its_document}"
        )));
    }
    let ledger_error = |e: fairpos_sync::Error| Error::Ledger(e.to_string());
    let every_head_held = projected.len() == before.heads.split(',').count();
    let (records, weight_before) = match before.weight {
        Some(weight) if !projected.is_empty() && every_head_held => {
            let added = ledger.added_since(&projected).map_err(ledger_error)?;
            let added = added.map_err(Error::Integrity)?;
            (ledger.records_among(&added).map_err(ledger_error)?, weight)
        }
        _ => {
            let grown = ledger
                .why_not_grown_since(&projected)
                .map_err(ledger_error)?;
            if let Some(why) = grown {
                return Err(Error::Integrity(why));
            }
            (ledger.records().map_err(ledger_error)?, Weight::default())
        }
    };
    let device = ledger.id().device.clone();
    let weight =
        why_refused_adding(&key, &device, weight_before, &records).map_err(Error::Integrity)?;
    // A change that waits for one not stored yet is read once that is stored, with it, on
    // its own: its chunk is neither kept as read nor in the digest, so the ledger counts as
    // not projected from every chunk stored (in the backlog) until it is read.
    let held = chunks_held(ledger.automerge(), chunks);
    let chunks_read = (
        held.into_iter().map(str::to_string).collect(),
        ledger.records_map(),
    );
    Ok(Some(Decoded {
        key,
        device,
        records,
        len: ledger.len(),
        weight,
        heads,
        new_authors,
        chunks_read,
        changes_waiting: false,
    }))
}

/// Of `docs`, those whose stored chunks are not the ones they were last projected from
/// (never projected, or more stored since, or a chunk whose change waits for one not stored
/// yet, or nothing stored: the fair's catalog among them),
/// read in one go and outside any ledger's turn: for ledgers another process was left to
/// project, most of which it has.
pub async fn unprojected(pool: &Pool, docs: &[DocumentId]) -> Result<Vec<DocumentId>> {
    let shown: Vec<String> = docs.iter().map(DocumentId::to_string).collect();
    let client = pool.get().await?;
    let keys = client
        .query(
            "SELECT d.doc, k.key FROM unnest($1::text[]) AS d(doc)
             JOIN samod_kv k ON k.key > d.doc || '/' AND k.key < d.doc || '0'
             ORDER BY d.doc, k.key",
            &[&shown],
        )
        .await?;
    let projected = client
        .query(
            "SELECT doc_id, chunks_digest FROM hq_docs
             WHERE doc_id = ANY($1) AND chunks_digest IS NOT NULL",
            &[&shown],
        )
        .await?;
    let mut stored: HashMap<&str, Vec<&str>> = HashMap::new();
    for row in &keys {
        stored.entry(row.get(0)).or_default().push(row.get(1));
    }
    let done: HashMap<&str, &str> = projected.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(docs
        .iter()
        .zip(&shown)
        .filter(|(_, shown)| {
            let digest = stored
                .get(shown.as_str())
                .map(|keys| chunks_digest(keys.iter().copied()));
            digest.is_none() || digest.as_deref() != done.get(shown.as_str()).copied()
        })
        .map(|(doc, _)| doc.clone())
        .collect())
}

/// The projection's backlog: ledgers announced by their tills and not refused, with chunks
/// stored that they were not last projected from (more stored since, never projected, or a
/// change stored before one it depends on, waiting for it),
/// whichever process stored them. A monitoring system watches it to see the projection fall
/// behind. The fair's catalog (announced by no till) is never projected, so never counted.
///
/// Counted in the database, in one statement outside any ledger's turn: each ledger's digest
/// of its chunk keys is [`chunks_digest`]'s, computed by PostgreSQL (SHA-256 of the keys in
/// byte order, each followed by a newline), so one row comes back however many ledgers there
/// are. The statement is cancelled by the server after `within`, so that a slow one does
/// not hold the connection after its caller has given up.
pub async fn backlog(pool: &Pool, within: std::time::Duration) -> Result<usize> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Without JIT: compiling the statement took a tenth of its time, every 15 s.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}; SET LOCAL jit = off",
        within.as_millis().max(1)
    ))
    .await?;
    let waiting: i64 = tx
        .query_one(
            "SELECT count(*) FROM (
                 SELECT d.chunks_digest,
                        encode(sha256(convert_to(
                            string_agg(k.key || E'\\n', '' ORDER BY k.key), 'UTF8')), 'hex')
                            AS stored
                 FROM hq_docs d
                 JOIN samod_kv k ON k.key > d.doc_id || '/' AND k.key < d.doc_id || '0'
                 WHERE d.device IS NOT NULL AND d.refused IS NULL
                 GROUP BY d.doc_id, d.chunks_digest
             ) ledgers
             WHERE stored IS DISTINCT FROM chunks_digest",
            &[],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(waiting as usize)
}
