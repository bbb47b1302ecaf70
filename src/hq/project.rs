//! Projection at headquarters: a ledger document that changed in storage is loaded, checked
//! (every change by its till's actor, every record naming its till) and its new records are
//! applied to the SQL tables, together with the heads now held. A document that fails the
//! check is refused whole and logged; nothing of it is projected.

use automerge::Automerge;
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::load_document;
use fairpos_sync::{LedgerDoc, LedgerId, Record};
use rusqlite::{params, Connection, OptionalExtension};

use super::{devices, now_text, Hq};
use crate::error::Result;
use crate::projection;

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
    },
    Refused(String),
}

/// Checks that every change of `doc` was made by `device`'s actor.
pub fn check_authors(conn: &Connection, device: &str, doc: &Automerge) -> Result<Option<String>> {
    let Some(actor) = devices::actor_of(conn, device)? else {
        return Ok(Some(format!("{device} has no enrolled actor")));
    };
    for change in doc.get_changes_meta(&[]) {
        let author = change.actor.to_hex_string();
        if author != actor {
            return Ok(Some(format!(
                "forged ledger change {}: written by actor {author}, but {device} writes as {actor}",
                change.hash
            )));
        }
    }
    Ok(None)
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

fn refuse(conn: &Connection, doc_id: &DocumentId, device: &str, why: String) -> Result<Outcome> {
    conn.execute(
        "UPDATE hq_docs SET refused = ?2, updated_at = ?3 WHERE doc_id = ?1",
        params![doc_id.to_string(), why, now_text()],
    )?;
    Hq::log_event(conn, device, "refused", &why);
    Ok(Outcome::Refused(why))
}

/// Projects the document `doc_id` as stored.
pub fn project(conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
    let Some((key, device)) = announced(conn, doc_id)? else {
        return Ok(Outcome::Unknown);
    };
    let Some(device) = device else {
        return Ok(Outcome::Catalog);
    };
    let Some(doc) = load_document(conn, doc_id)? else {
        return Ok(Outcome::Unknown);
    };
    project_ledger(conn, doc_id, &key, &device, doc)
}

/// Projects a ledger document already loaded.
pub fn project_ledger(
    conn: &Connection,
    doc_id: &DocumentId,
    key: &str,
    device: &str,
    doc: Automerge,
) -> Result<Outcome> {
    if let Some(why) = check_authors(conn, device, &doc)? {
        return refuse(conn, doc_id, device, why);
    }
    let Some(id) = LedgerId::from_key(key) else {
        return refuse(conn, doc_id, device, format!("{key} is not a ledger key"));
    };
    let ledger = match LedgerDoc::open(id, doc) {
        Ok(l) => l,
        Err(e) => return refuse(conn, doc_id, device, e.to_string()),
    };
    let records = match ledger.records() {
        Ok(r) => r,
        Err(e) => return refuse(conn, doc_id, device, e.to_string()),
    };
    if let Some(r) = records.iter().find(|r| r.header().device != device) {
        let why = format!(
            "record {} in {key} claims device {}",
            r.header().id,
            r.header().device
        );
        return refuse(conn, doc_id, device, why);
    }
    let tx = conn.unchecked_transaction()?;
    let mut new_records = 0;
    let mut product_adds = Vec::new();
    for record in &records {
        if projection::apply(&tx, record, key)? {
            new_records += 1;
            if let Record::ProductAdd(p) = record {
                product_adds.push(p.product.clone());
            }
        }
    }
    tx.execute(
        "UPDATE hq_docs SET heads = ?2, records = ?3, refused = NULL, updated_at = ?4
         WHERE doc_id = ?1",
        params![
            doc_id.to_string(),
            heads_text(&ledger.heads()),
            records.len() as i64,
            now_text()
        ],
    )?;
    tx.commit()?;
    Ok(Outcome::Projected {
        new_records,
        product_adds,
    })
}

/// Registers ledger keys `peer` is about to sync. A till may announce only its own ledgers; a
/// hub, those of enrolled tills. Returns why not, when not.
pub fn announce(
    conn: &Connection,
    peer: &devices::Peer,
    fair_id: &str,
    keys: &[String],
) -> Result<Option<String>> {
    for key in keys {
        let Some(id) = LedgerId::from_key(key) else {
            return Ok(Some(format!("{key} is not a ledger key")));
        };
        if id.fair != fair_id {
            return Ok(Some(format!("{key} belongs to another fair")));
        }
        let allowed = match peer {
            devices::Peer::Till(d) => *d == id.device,
            devices::Peer::Hub(_) => conn
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM devices WHERE device = ?1 AND role = 'till')",
                    [&id.device],
                    |r| r.get(0),
                )
                .unwrap_or(false),
            devices::Peer::Organizer(_) => false,
        };
        if !allowed {
            let why = format!("{} may not sync the ledger of {}", peer.name(), id.device);
            Hq::log_event(conn, peer.name(), "refused", &why);
            return Ok(Some(why));
        }
        conn.execute(
            "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
             VALUES (?1, ?2, ?3, '', 0, ?4) ON CONFLICT(doc_id) DO NOTHING",
            params![
                fairpos_sync::ids::document_id(key).to_string(),
                key,
                id.device,
                now_text()
            ],
        )?;
    }
    Ok(None)
}

/// A ledger as the projector holds it between changes.
struct Held {
    key: String,
    device: String,
    ledger: LedgerDoc,
    /// Storage keys already loaded into `ledger`.
    chunks: std::collections::HashSet<String>,
    /// Heads the projection has applied.
    projected: Vec<automerge::ChangeHash>,
    refused: bool,
}

/// Projection as changes arrive: each ledger stays in memory; a change in storage loads only
/// the new chunks, checks only the new changes' authors, and applies only the records added
/// since the heads last projected (an Automerge diff). Headquarters never merges tills into
/// one document: one held document per ledger.
#[derive(Default)]
pub struct Projector {
    held: std::collections::HashMap<DocumentId, Held>,
}

impl Projector {
    pub fn new() -> Projector {
        Projector::default()
    }

    /// Projects what is new of the document `doc_id` in storage.
    pub fn project(&mut self, conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
        if !self.held.contains_key(doc_id) {
            let Some((key, device)) = announced(conn, doc_id)? else {
                return Ok(Outcome::Unknown);
            };
            let Some(device) = device else {
                return Ok(Outcome::Catalog);
            };
            let Some(id) = LedgerId::from_key(&key) else {
                return refuse(conn, doc_id, &device, format!("{key} is not a ledger key"));
            };
            let keys = fairpos_sync::samod_storage::document_chunk_keys(conn, doc_id)?;
            if keys.is_empty() {
                return Ok(Outcome::Unknown);
            }
            let Some(doc) = load_document(conn, doc_id)? else {
                return Ok(Outcome::Unknown);
            };
            let ledger = match LedgerDoc::open(id, doc) {
                Ok(l) => l,
                // Not whole yet (the genesis may still be on its way): try again later.
                Err(_) => return Ok(Outcome::Unknown),
            };
            // Resume from the heads projected before a restart, when the document has them.
            let stored: String = conn.query_row(
                "SELECT heads FROM hq_docs WHERE doc_id = ?1",
                [doc_id.to_string()],
                |r| r.get(0),
            )?;
            let projected: Vec<automerge::ChangeHash> = stored
                .split(',')
                .filter_map(|h| h.parse().ok())
                .filter(|h| ledger.automerge().get_change_meta_by_hash(h).is_some())
                .collect();
            self.held.insert(
                doc_id.clone(),
                Held {
                    key,
                    device,
                    ledger,
                    chunks: keys.into_iter().collect(),
                    projected,
                    refused: false,
                },
            );
        } else {
            let held = self.held.get_mut(doc_id).expect("held");
            for key in fairpos_sync::samod_storage::document_chunk_keys(conn, doc_id)? {
                if held.chunks.contains(&key) {
                    continue;
                }
                if let Some(bytes) = fairpos_sync::samod_storage::chunk(conn, &key)? {
                    held.ledger.load_more(&bytes)?;
                }
                held.chunks.insert(key);
            }
        }
        let held = self.held.get_mut(doc_id).expect("held");
        if held.refused {
            return Ok(Outcome::Refused("refused before".into()));
        }
        // The authors of the new changes.
        let actor = devices::actor_of(conn, &held.device)?;
        for change in held.ledger.automerge().get_changes_meta(&held.projected) {
            let author = change.actor.to_hex_string();
            if actor.as_deref() != Some(author.as_str()) {
                held.refused = true;
                let why = format!(
                    "forged ledger change {}: written by actor {author}, but {} writes as {}",
                    change.hash,
                    held.device,
                    actor.as_deref().unwrap_or("nobody")
                );
                let device = held.device.clone();
                return refuse(conn, doc_id, &device, why);
            }
        }
        let records = held.ledger.records_since(&held.projected)?;
        if let Some(r) = records.iter().find(|r| r.header().device != held.device) {
            held.refused = true;
            let why = format!(
                "record {} in {} claims device {}",
                r.header().id,
                held.key,
                r.header().device
            );
            let device = held.device.clone();
            return refuse(conn, doc_id, &device, why);
        }
        let tx = conn.unchecked_transaction()?;
        let mut new_records = 0;
        let mut product_adds = Vec::new();
        for record in &records {
            if projection::apply(&tx, record, &held.key)? {
                new_records += 1;
                if let Record::ProductAdd(p) = record {
                    product_adds.push(p.product.clone());
                }
            }
        }
        let heads = held.ledger.heads();
        tx.execute(
            "UPDATE hq_docs SET heads = ?2, records = ?3, refused = NULL, updated_at = ?4
             WHERE doc_id = ?1",
            params![
                doc_id.to_string(),
                heads_text(&heads),
                held.ledger.len() as i64,
                now_text()
            ],
        )?;
        tx.commit()?;
        held.projected = heads;
        Ok(Outcome::Projected {
            new_records,
            product_adds,
        })
    }
}
