//! Projection at headquarters: a ledger document that changed in storage is loaded, checked
//! (every change by its till's actor, every record naming its till) and its new records are
//! applied to the SQL tables, together with the heads now held. A document that fails the
//! check is refused whole and logged; nothing of it is projected. The [`Projector`] does
//! this incrementally as samod stores changes.

mod projector;
#[cfg(test)]
mod tests;

pub use projector::Projector;

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash};
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::ledger::{heads_text, why_refused_adding};
use fairpos_sync::plausible::Weight;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::{chunks_digest, load_chunks};
use fairpos_sync::{LedgerDoc, LedgerId, Record};
use rusqlite::{params, Connection, OptionalExtension};

use crate::Result;
use crate::{devices, now_text, Hq};
use fairpos_projection::apply as projection;
use fairpos_projection::rollup;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nobody announced this document: it is not projected.
    Unknown,
    /// The catalog changed.
    Catalog,
    Projected {
        new_records: usize,
        /// Products tills added offline, for headquarters to fold into the catalog.
        product_adds: Vec<CatalogProduct>,
        /// Whether the ledger's document was loaded from storage to project it: not where
        /// the projector read the chunks stored since on their own.
        document_loaded: bool,
    },
    Refused(String),
}

impl Outcome {
    /// The same outcome, of a ledger whose document was loaded to reach it.
    pub(crate) fn with_document_loaded(self) -> Outcome {
        match self {
            Outcome::Projected {
                new_records,
                product_adds,
                ..
            } => Outcome::Projected {
                new_records,
                product_adds,
                document_loaded: true,
            },
            other => other,
        }
    }
}

/// Checks that every change of `doc` was made by `device`'s actor.
pub fn check_authors(conn: &Connection, device: &str, doc: &Automerge) -> Result<Option<String>> {
    let actor = devices::actor_of(conn, device)?;
    Ok(first_forged(doc, device, actor.as_deref()))
}

/// Why `doc` is refused, if a change of it was not made by `actor`, `device`'s (`None`:
/// `device` never enrolled).
pub(crate) fn first_forged(doc: &Automerge, device: &str, actor: Option<&str>) -> Option<String> {
    let Some(actor) = actor else {
        return Some(format!("{device} has no enrolled actor"));
    };
    doc.get_changes_meta(&[]).into_iter().find_map(|change| {
        let author = change.actor.to_hex_string();
        (author != actor).then(|| forged(&change.hash, &author, device, Some(actor)))
    })
}

/// Why a ledger change is refused: another actor than the till's wrote it.
pub(crate) fn forged(
    change: &ChangeHash,
    author: &str,
    device: &str,
    actor: Option<&str>,
) -> String {
    format!(
        "forged ledger change {change}: written by actor {author}, but {device} writes as {}",
        actor.unwrap_or("nobody")
    )
}

/// Every document samod has stored, but the ledgers the projection has refused.
pub fn stored_not_refused(conn: &Connection) -> Result<Vec<DocumentId>> {
    let refused: std::collections::HashSet<String> = conn
        .prepare("SELECT doc_id FROM hq_docs WHERE refused IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut docs = fairpos_sync::samod_storage::stored_documents(conn)?;
    docs.retain(|doc| !refused.contains(&doc.to_string()));
    Ok(docs)
}

/// What a start takes: every stored document not refused whose stored chunks are not the
/// ones its projection was read from (by their keys' digest), or were never recorded. A
/// ledger stored and projected before the last stop is not loaded again; one stored after
/// its last projection committed (a process killed in between) is.
pub fn stored_since_projected(conn: &Connection) -> Result<Vec<DocumentId>> {
    let projected: HashMap<String, String> = conn
        .prepare("SELECT doc_id, chunks_digest FROM hq_docs WHERE chunks_digest IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut since = Vec::new();
    for doc in stored_not_refused(conn)? {
        let done = projected.get(&doc.to_string()).map(String::as_str);
        if stored_since(conn, &doc, done)? {
            since.push(doc);
        }
    }
    Ok(since)
}

/// Whether `doc` has chunks stored that its projection, whose chunks' digest is `projected`
/// (`None`: never projected, or projected before digests were recorded), was not read from.
fn stored_since(conn: &Connection, doc: &DocumentId, projected: Option<&str>) -> Result<bool> {
    let keys = fairpos_sync::samod_storage::document_chunk_keys(conn, doc)?;
    Ok(!keys.is_empty()
        && projected != Some(chunks_digest(keys.iter().map(String::as_str)).as_str()))
}

/// The projection's backlog: ledgers announced by their tills and not refused, with chunks
/// stored that their projection was not read from (more stored since, or never projected).
/// A monitoring system watches it to see the projection fall behind; the fair's catalog
/// (announced by no till) and documents nobody announced are never projected, so never
/// counted.
pub fn backlog(conn: &Connection) -> Result<usize> {
    let ledgers: Vec<(String, Option<String>)> = conn
        .prepare(
            "SELECT doc_id, chunks_digest FROM hq_docs
             WHERE device IS NOT NULL AND refused IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut waiting = 0;
    for (doc, projected) in ledgers {
        let Ok(doc) = doc.parse::<DocumentId>() else {
            continue;
        };
        waiting += usize::from(stored_since(conn, &doc, projected.as_deref())?);
    }
    Ok(waiting)
}

/// The key and device of an announced document.
pub fn announced(
    conn: &Connection,
    doc_id: &DocumentId,
) -> Result<Option<(String, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT doc_key, device FROM hq_docs WHERE doc_id = ?1",
            [doc_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The heads projected of the announced document `doc_id` ([`heads_text`] form), read with
/// what its records came to at them, if known: stored with those very heads (a build before
/// stored none, and a build before run since would have projected it further alone).
pub(crate) fn stored_projection(
    conn: &Connection,
    doc_id: &DocumentId,
) -> Result<(String, Option<Weight>)> {
    let (heads, fen, qty, described): (String, Option<i64>, Option<i64>, Option<bool>) = conn
        .prepare_cached(
            "SELECT heads, weight_fen, weight_qty, weight_heads = heads
             FROM hq_docs WHERE doc_id = ?1",
        )?
        .query_row([doc_id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let weight = Weight::from_stored(fen, qty).filter(|_| described == Some(true));
    Ok((heads, weight))
}

pub(crate) fn refuse(
    conn: &Connection,
    doc_id: &DocumentId,
    device: &str,
    why: String,
) -> Result<Outcome> {
    conn.execute(
        "UPDATE hq_docs SET refused = ?2, updated_at = ?3 WHERE doc_id = ?1",
        params![doc_id.to_string(), why, now_text()],
    )?;
    Hq::log_event(conn, device, "refused", &why);
    Ok(Outcome::Refused(why))
}

/// Registers the ledger `key` of `device`, stored as `doc_id`, as announced and projected
/// nowhere yet; nothing when it is registered already. An announcement, a bundle and a
/// restore's carry-over register ledgers so.
pub(crate) fn register_ledger(
    conn: &Connection,
    doc_id: &str,
    key: &str,
    device: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
         VALUES (?1, ?2, ?3, '', 0, ?4) ON CONFLICT(doc_id) DO NOTHING",
        params![doc_id, key, device, now_text()],
    )?;
    Ok(())
}

/// Projects the document `doc_id` as stored.
pub fn project(conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
    let Some((key, device)) = announced(conn, doc_id)? else {
        return Ok(Outcome::Unknown);
    };
    let Some(device) = device else {
        return Ok(Outcome::Catalog);
    };
    project_stored(conn, doc_id, &key, &device)
}

/// Projects the ledger `key` of `device` from every chunk stored of it now, recording which
/// (their keys' digest): a start does not take it again, and it is not counted in the
/// [`backlog`].
///
/// The ledger is read and decoded outside the write transaction, so that a serving process's
/// writes do not wait for it; inside, its chunk keys are read again, and if a serving process
/// stored (or compacted) it meanwhile, it is read once more, [`READS`] times at most.
pub fn project_stored(
    conn: &Connection,
    doc_id: &DocumentId,
    key: &str,
    device: &str,
) -> Result<Outcome> {
    for _ in 0..READS {
        let chunks = fairpos_sync::samod_storage::document_chunks(conn, doc_id)?;
        let Some(doc) = load_chunks(&doc_id.to_string(), &chunks)? else {
            return Ok(Outcome::Unknown);
        };
        let digest = chunks_digest(chunks.iter().map(|(k, _)| k.as_str()));
        let (stored_heads, _) = stored_projection(conn, doc_id)?;
        let decoded = decode(conn, key, device, doc, &stored_heads)?;
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let keys = fairpos_sync::samod_storage::document_chunk_keys(&tx, doc_id)?;
        if chunks_digest(keys.iter().map(String::as_str)) != digest {
            continue;
        }
        let outcome = match decoded {
            Decoded::Refused(why) => refuse(&tx, doc_id, device, why)?,
            Decoded::Ledger {
                heads,
                records,
                weight,
            } => {
                let done = Projection {
                    heads: &heads,
                    records: records.len(),
                    chunks_digest: Some(&digest),
                    weight,
                };
                apply_records(&tx, doc_id, key, &records, &done)?.with_document_loaded()
            }
        };
        tx.commit()?;
        return Ok(outcome);
    }
    Err(crate::Error::Other(format!(
        "{key} changed every time it was read ({READS} times): try again"
    )))
}

/// How often [`project_stored`] reads a ledger that keeps changing.
const READS: usize = 3;

/// A ledger as decoded from its chunks: why it is refused, or its heads and records.
enum Decoded {
    Refused(String),
    Ledger {
        heads: Vec<ChangeHash>,
        records: Vec<Record>,
        weight: Weight,
    },
}

/// Decodes the ledger `key` of `device` from `doc`, checking its authors, that it only grew
/// since `stored_heads` (what is projected of it), and its records.
fn decode(
    conn: &Connection,
    key: &str,
    device: &str,
    doc: Automerge,
    stored_heads: &str,
) -> Result<Decoded> {
    if let Some(why) = check_authors(conn, device, &doc)? {
        return Ok(Decoded::Refused(why));
    }
    let Some(id) = LedgerId::from_key(key) else {
        return Ok(Decoded::Refused(format!("{key} is not a ledger key")));
    };
    let ledger = match LedgerDoc::open(id, doc) {
        Ok(l) => l,
        Err(e) => return Ok(Decoded::Refused(e.to_string())),
    };
    let projected = fairpos_sync::ledger::heads_held(ledger.automerge(), stored_heads);
    if let Some(why) = ledger.why_not_grown_since(&projected)? {
        return Ok(Decoded::Refused(why));
    }
    let records = match ledger.records() {
        Ok(r) => r,
        Err(e) => return Ok(Decoded::Refused(e.to_string())),
    };
    let weight = match why_refused_adding(key, device, Weight::default(), &records) {
        Ok(weight) => weight,
        Err(why) => return Ok(Decoded::Refused(why)),
    };
    Ok(Decoded::Ledger {
        heads: ledger.heads(),
        records,
        weight,
    })
}

/// What a ledger's projection covers once its records are applied.
pub(crate) struct Projection<'a> {
    /// The heads of the changes applied.
    pub heads: &'a [ChangeHash],
    /// How many records the ledger holds.
    pub records: usize,
    /// The digest of the keys of the stored chunks they were read from
    /// ([`fairpos_sync::samod_storage::chunks_digest`]), when they were read from storage.
    pub chunks_digest: Option<&'a str>,
    /// What all its records come to: where a projection of it after a restart resumes.
    pub weight: Weight,
}

/// Applies `records` of the ledger `key` and stores what the projection now covers, on
/// `conn`: inside the caller's transaction or savepoint.
pub(crate) fn apply_records(
    conn: &Connection,
    doc_id: &DocumentId,
    key: &str,
    records: &[Record],
    done: &Projection,
) -> Result<Outcome> {
    let mut new_records = 0;
    let mut product_adds = Vec::new();
    let mut counted = rollup::Batch::default();
    let mut stock = projection::StockOut::default();
    // The sales a void or refund may have reached first: only they are looked up.
    let mut named = projection::NamedSales::projected(conn, records)?;
    let mut inserts = projection::Inserts::prepare(conn)?;
    for record in records {
        if projection::apply_in_batch(conn, &mut inserts, record, key, &mut stock, &mut named)? {
            new_records += 1;
            match record {
                Record::ProductAdd(p) => {
                    crate::till_added::keep(conn, p)?;
                    product_adds.push(p.product.clone());
                }
                Record::Sale(sale) if named.may_name(&sale.header.id) => {
                    counted.count_sale(conn, &sale.into())?
                }
                Record::Sale(sale) => counted.count(&sale.into(), &rollup::Prior::default()),
                _ => {}
            }
        }
    }
    counted.flush(conn)?;
    stock.write(conn)?;
    conn.prepare_cached(
        "UPDATE hq_docs SET heads = ?2, records = ?3, chunks_digest = ?4, refused = NULL,
         updated_at = ?5, weight_fen = ?6, weight_qty = ?7, weight_heads = ?2
         WHERE doc_id = ?1",
    )?
    .execute(params![
        doc_id.to_string(),
        heads_text(done.heads),
        done.records as i64,
        done.chunks_digest,
        now_text(),
        done.weight.stored().0,
        done.weight.stored().1,
    ])?;
    Ok(Outcome::Projected {
        new_records,
        product_adds,
        document_loaded: false,
    })
}

/// The ledger `key` names, when it is a ledger key of the fair `fair_id`; why not otherwise.
pub(crate) fn ledger_of(key: &str, fair_id: &str) -> std::result::Result<LedgerId, String> {
    // Told back (and logged) cut short: a key is a device's to make up.
    let shown = || crate::untrusted::shown_cut(key, 80);
    let Some(id) = LedgerId::from_key(key) else {
        return Err(format!("{} is not a ledger key", shown()));
    };
    if id.fair != fair_id {
        return Err(format!("{} belongs to another fair", shown()));
    }
    // Its device is checked against the peer's; its day, here: a key is kept and sent back
    // with every confirmation, so none but a till's own form (`YYYY-MM-DD`) is taken.
    if !fairpos_sync::ledger::is_day(&id.day) {
        let day = crate::untrusted::shown_cut(&id.day, 16);
        return Err(format!("the day {day} of a ledger key is not YYYY-MM-DD"));
    }
    Ok(id)
}

/// Why `peer` may not announce a ledger of `device`.
pub(crate) fn may_not_sync(peer: &devices::Peer, device: &str) -> String {
    // The device is as a key names it: the peer's to make up, so told cut short.
    let device = crate::untrusted::shown_cut(device, 16);
    format!("{} may not sync the ledger of {device}", peer.name())
}

/// Registers ledger keys `peer` is about to sync. A till may announce only its own ledgers; a
/// hub, those of enrolled tills. Returns why not, when not.
pub fn announce(
    conn: &Connection,
    peer: &devices::Peer,
    fair_id: &str,
    keys: &[String],
    limits: &crate::limits::DocumentLimits,
) -> Result<Option<String>> {
    let mut ids = Vec::with_capacity(keys.len());
    let mut new_per_device: std::collections::BTreeMap<String, u64> = Default::default();
    for key in keys {
        let id = match ledger_of(key, fair_id) {
            Ok(id) => id,
            Err(why) => return Ok(Some(why)),
        };
        let allowed = match peer {
            devices::Peer::Till(d) => *d == id.device,
            devices::Peer::Hub(_) => conn
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM devices WHERE device = ?1 AND role = 'till')",
                    [&id.device],
                    |r| r.get(0),
                )
                .unwrap_or(false),
            devices::Peer::Person { .. } => false,
        };
        if !allowed {
            let why = may_not_sync(peer, &id.device);
            Hq::log_event(conn, peer.name(), "refused", &why);
            return Ok(Some(why));
        }
        let doc_id = fairpos_sync::ids::document_id(key);
        let new = announced(conn, &doc_id)?.is_none();
        if new {
            *new_per_device.entry(id.device.clone()).or_default() += 1;
        }
        ids.push((key, doc_id, id, new));
    }
    for (device, new) in &new_per_device {
        if let Some(why) = crate::limits::too_many(conn, device, *new, limits)? {
            Hq::log_event(conn, peer.name(), "refused", &why);
            return Ok(Some(why));
        }
    }
    for (key, doc_id, id, new) in ids {
        register_ledger(conn, &doc_id.to_string(), key, &id.device)?;
        // A hub whose uplink was down when the till was revoked relays the sales it took
        // since: not taken (the share policy refuses a revoked till's ledger), and, for a
        // ledger headquarters never had, now said, to the log and, through the hub, to the
        // till (they were left out in silence, the till told all was confirmed by the hub).
        // One registered before the revocation is not marked: part of it was taken.
        if matches!(peer, devices::Peer::Hub(_)) && revoked(conn, &id.device)? {
            if new {
                refuse(conn, &doc_id, &id.device, revoked_before(&id.device, peer))?;
            } else {
                // Said in the log at least, at each link of the hub that relays it.
                Hq::log_event(conn, &id.device, "refused", &relayed_since(key, peer));
            }
        }
    }
    Ok(None)
}

/// Whether `device` is revoked (as the share policy takes it: not a till added again and
/// not enrolled yet, whose ledgers a hub relays).
fn revoked(conn: &Connection, device: &str) -> Result<bool> {
    let revoked = conn
        .query_row(
            "SELECT revoked_at IS NOT NULL FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()?;
    Ok(revoked.unwrap_or(false))
}

/// What of the ledger `key` of a till revoked since headquarters registered it `hub` relays
/// and headquarters does not take.
pub(crate) fn relayed_since(key: &str, hub: &devices::Peer) -> String {
    format!(
        "its till is revoked: what {} relays of {key} since the revocation is not counted \
         here; the till's own reports list it",
        hub.name()
    )
}

/// Why a ledger of `device` that `hub` relays after `device` was revoked is not taken.
pub(crate) fn revoked_before(device: &str, hub: &devices::Peer) -> String {
    format!(
        "{device} was revoked before this ledger reached headquarters (through {}): its sales \
         are not counted here; the till's own reports list them",
        hub.name()
    )
}

/// Lets go of the ledgers of `held` projected longest ago (by their pass in `touched`)
/// beyond `most`, down to three quarters of it (not one at every pass); they are loaded from
/// storage again should they change. Kept for the process's life, every ledger of a season
/// (500 tills a day, each some 100 KB of change hashes) grew a serving headquarters' memory
/// without bound.
fn let_go_of_the_least_recent<V>(
    held: &mut HashMap<DocumentId, V>,
    touched: &mut HashMap<DocumentId, u64>,
    most: usize,
) {
    if held.len() <= most {
        return;
    }
    let mut by_age: Vec<(u64, DocumentId)> = held
        .keys()
        .map(|d| (touched.get(d).copied().unwrap_or(0), d.clone()))
        .collect();
    by_age.sort_unstable_by_key(|(pass, _)| *pass);
    let keep = most * 3 / 4;
    for (_, d) in by_age.into_iter().take(held.len() - keep) {
        held.remove(&d);
    }
    touched.retain(|d, _| held.contains_key(d));
}
