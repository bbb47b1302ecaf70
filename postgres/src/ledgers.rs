//! A stored ledger document projected by whichever process hears of it: loaded from
//! `samod_kv`, checked to be the ledger its document id is made from, every record naming
//! that ledger's device, then its records into the projection ([`crate::project`]), where
//! each counts once however many processes do the same at the same time.

use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::ids::document_id;
use fairpos_sync::ledger::foreign_record;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::load_chunks;
use fairpos_sync::{LedgerDoc, Record};

use crate::documents::document_chunks;
use crate::{Error, Pool, Result};

/// Projects the stored document `doc`. Returns how many records were new, or `None` when
/// nothing of it is stored or it is the fair's catalog (copied with the ledgers). The whole ledger is decoded each time (the records already
/// projected add nothing): a process keeps no documents between calls yet.
pub async fn project_document(pool: &Pool, doc: &DocumentId) -> Result<Option<usize>> {
    let chunks = document_chunks(pool, doc).await?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let want = doc.clone();
    let decoded = tokio::task::spawn_blocking(move || decode(&want, &chunks))
        .await
        .map_err(|e| Error::Ledger(format!("decoding {doc}: {e}")))??;
    let Some((key, records)) = decoded else {
        return Ok(None);
    };
    Ok(Some(crate::project(pool, &key, &records).await?))
}

/// The ledger's key and records, from its chunks (`None` for the fair's catalog); refused
/// unless the document is the ledger its id says and every record is its device's.
fn decode(doc: &DocumentId, chunks: &[(String, Vec<u8>)]) -> Result<Option<(String, Vec<Record>)>> {
    let shown = doc.to_string();
    let am = load_chunks(&shown, chunks)
        .map_err(|e| Error::Ledger(e.to_string()))?
        .ok_or_else(|| Error::Ledger(format!("{shown} has no chunks")))?;
    if CatalogDoc::is_stored_as(&am, doc) {
        return Ok(None);
    }
    let ledger = LedgerDoc::open_claimed(am).map_err(|e| Error::Ledger(e.to_string()))?;
    let key = ledger.id().key();
    let its_document = document_id(&key);
    if its_document != *doc {
        return Err(Error::Integrity(format!(
            "document {shown} holds the ledger {key}, whose document is {its_document}"
        )));
    }
    let records = ledger.records().map_err(|e| Error::Ledger(e.to_string()))?;
    if let Some(why) = foreign_record(&key, &ledger.id().device, &records) {
        return Err(Error::Integrity(why));
    }
    Ok(Some((key, records)))
}
