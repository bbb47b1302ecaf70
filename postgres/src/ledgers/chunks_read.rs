//! A ledger projected before, taken further from the chunks stored since alone: each one
//! change samod stored as it came (`<document>/incremental/<hash>`), read on its own
//! without loading the document. What SQLite's projector does with the ledgers it holds in
//! memory, from what the last projection stored in `hq_docs` instead, so any process may
//! take it. Loading a day's ledger of 2 000 sales costs its projection 12 ms; a till that
//! syncs after each sale stores one chunk.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use fairpos_sync::ledger::{heads_text, why_refused_adding};
use fairpos_sync::ledger_changes::ChangeReader;

use super::Decoded;
use crate::documents::chunks_named;
use crate::registry::ProjectedState;
use crate::{Error, Result};

/// What the chunks among `keys` (every chunk the ledger has stored, in key order, whose
/// digest is `digest`) that `before` was not read from add to the ledger, or `None` when
/// they need its document:
/// - one of them is not a single change (samod's compaction into a snapshot, say), or is
///   gone when read;
/// - one of their changes depends on a change neither projected at the heads nor among them
///   (it arrived before what it follows, or the ledger forked), or does anything but put
///   new records.
///
/// Refused as the document path refuses them: records that are not the device's, or that
/// with those before come to more than a day's bound.
pub(super) async fn read(
    tx: &Transaction<'_>,
    before: &ProjectedState,
    keys: &[String],
    digest: String,
) -> Result<Option<Decoded>> {
    let (Some(read), Some(weight)) = (&before.chunks_read, before.weight) else {
        return Ok(None);
    };
    let projected: HashSet<&str> = read.keys.iter().map(String::as_str).collect();
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
    let chunks = chunks.into_iter().map(|(_, bytes)| bytes);
    let appended = reader.appended_chunks(&before.heads, chunks);
    let Some(appended) = appended.map_err(|e| Error::Ledger(e.to_string()))? else {
        return Ok(None);
    };
    let weight = why_refused_adding(&read.doc_key, &read.device, weight, &appended.records)
        .map_err(Error::Integrity)?;
    Ok(Some(Decoded {
        len: read.records as usize + appended.records.len(),
        key: read.doc_key.clone(),
        device: read.device.clone(),
        records: appended.records,
        weight,
        heads: heads_text(&appended.heads),
        new_authors: appended.authors,
        chunks_digest: digest,
        chunks_read: Some((keys.to_vec(), read.records_map.clone())),
    }))
}
