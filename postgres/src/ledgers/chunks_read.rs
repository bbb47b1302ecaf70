//! A ledger projected before, taken further from the chunks stored since alone: each one
//! change samod stored as it came (`<document>/incremental/<hash>`), read on its own
//! without loading the document. What SQLite's projector does with the ledgers it holds in
//! memory, from what the last projection stored in `hq_docs` instead, so any process may
//! take it. Loading a day's ledger of 2 000 sales costs its projection 12 ms; a till that
//! syncs after each sale stores one chunk.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use fairpos_sync::ledger::{heads_text, why_refused_adding};
use fairpos_sync::ledger_changes::{AppendedChunks, ChangeReader};
use fairpos_sync::Record;

use super::Decoded;
use crate::documents::chunks_named;
use crate::registry::ProjectedState;
use crate::{Error, Result};

/// What the chunks among `keys` (every chunk the ledger has stored, in key order) that
/// `before` was not read from add to the ledger, or `None` when
/// they need its document:
/// - one of them is not a single change (samod's compaction into a snapshot, say), or is
///   gone when read; or one of those `before` was read from is gone and none of its
///   snapshots is still stored;
/// - some of their changes wait for one not stored (one arrived before what it follows, or
///   the ledger forked) and none is ready; or one that is ready does not follow the heads
///   before it, or does anything but put records (a change that waits beside ready ones is
///   left for a later pass, [`crate::Projected::changes_waiting`]);
/// - one of those records is projected already, or put twice (a change that writes over a
///   record without naming it: the document path refuses the ledger).
///
/// Refused as the document path refuses them: records that are not the device's, or that
/// with those before come to more than a day's bound.
pub(super) async fn read(
    tx: &Transaction<'_>,
    before: &ProjectedState,
    keys: &[String],
) -> Result<Option<Decoded>> {
    let (Some(read), Some(weight)) = (&before.chunks_read, before.weight) else {
        return Ok(None);
    };
    let projected: HashSet<&str> = read.keys.iter().map(String::as_str).collect();
    let stored: HashSet<&str> = keys.iter().map(String::as_str).collect();
    // Chunks gone since it was read from them: samod deleting, one by one, what a compaction's
    // snapshot replaced, once that snapshot is stored (and projected). Only while a snapshot
    // it was read from is still stored; otherwise what its heads were read from is not known
    // to be stored, and the document says what is.
    let snapshot_kept = projected
        .iter()
        .any(|k| k.contains("/snapshot/") && stored.contains(k));
    if !snapshot_kept && !projected.is_subset(&stored) {
        return Ok(None);
    }
    let new: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !projected.contains(k))
        .collect();
    if new.iter().any(|k| !k.contains("/incremental/")) {
        return Ok(None);
    }
    let chunks = chunks_named(tx, &new).await?;
    if chunks.len() != new.len() {
        return Ok(None);
    }
    let reader = ChangeReader::new(read.doc_key.clone(), read.records_map.clone());
    let appended = reader.appended_chunks(&before.heads, chunks);
    let Some(AppendedChunks { appended, waiting }) =
        appended.map_err(|e| Error::Ledger(e.to_string()))?
    else {
        return Ok(None);
    };
    if put_again(tx, &read.device, &appended.records).await? {
        return Ok(None);
    }
    let weight = why_refused_adding(&read.doc_key, &read.device, weight, &appended.records)
        .map_err(Error::Integrity)?;
    // A change that waits for one not stored yet is read with it, once that is stored: its
    // chunk is neither kept as read nor in the digest, so the ledger counts as not projected
    // from every chunk stored (in the backlog) until it is read.
    let changes_waiting = !waiting.is_empty();
    let keys: Vec<String> = keys
        .iter()
        .filter(|k| !waiting.contains(k))
        .cloned()
        .collect();
    Ok(Some(Decoded {
        len: read.records as usize + appended.records.len(),
        key: read.doc_key.clone(),
        device: read.device.clone(),
        records: appended.records,
        weight,
        heads: heads_text(&appended.heads),
        new_authors: appended.authors,
        chunks_read: (keys, read.records_map.clone()),
        changes_waiting,
    }))
}

/// Whether one of `records` (read from changes of `device`'s ledger) is put twice among them,
/// or is projected already: by its device and sequence number, the projection's key.
async fn put_again(tx: &Transaction<'_>, device: &str, records: &[Record]) -> Result<bool> {
    let mut ids = HashSet::with_capacity(records.len());
    let mut seqs = HashSet::with_capacity(records.len());
    for record in records {
        let header = record.header();
        let Ok(seq) = i64::try_from(header.seq) else {
            return Ok(true);
        };
        if !ids.insert(header.id.as_str()) || !seqs.insert(seq) {
            return Ok(true);
        }
    }
    let seqs: Vec<i64> = seqs.into_iter().collect();
    if seqs.is_empty() {
        return Ok(false);
    }
    let statement = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM records WHERE device = $1 AND seq = ANY($2))")
        .await?;
    Ok(tx.query_one(&statement, &[&device, &seqs]).await?.get(0))
}
