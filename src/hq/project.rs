//! Projection at headquarters: a ledger document that changed in storage is loaded, checked
//! (every change by its till's actor, every record naming its till) and its new records are
//! applied to the SQL tables, together with the heads now held. A document that fails the
//! check is refused whole and logged; nothing of it is projected.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash};
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::ledger::ChangeReader;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::load_document;
use fairpos_sync::{LedgerDoc, LedgerId, Record};
use rusqlite::{params, Connection, OptionalExtension};

use super::{devices, now_text, Hq};
use crate::error::{Error, Result};
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
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let outcome = apply_records(&tx, doc_id, key, &records, &ledger.heads(), records.len())?;
    tx.commit()?;
    Ok(outcome)
}

/// Applies `records` of the ledger `key` and stores the heads they bring it to and how many
/// records it holds, on `conn`: inside the caller's transaction or savepoint.
fn apply_records(
    conn: &Connection,
    doc_id: &DocumentId,
    key: &str,
    records: &[Record],
    heads: &[ChangeHash],
    count: usize,
) -> Result<Outcome> {
    let mut new_records = 0;
    let mut product_adds = Vec::new();
    for record in records {
        if projection::apply(conn, record, key)? {
            new_records += 1;
            if let Record::ProductAdd(p) = record {
                product_adds.push(p.product.clone());
            }
        }
    }
    conn.execute(
        "UPDATE hq_docs SET heads = ?2, records = ?3, refused = NULL, updated_at = ?4
         WHERE doc_id = ?1",
        params![
            doc_id.to_string(),
            heads_text(heads),
            count as i64,
            now_text()
        ],
    )?;
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

/// A ledger as the projector holds it between changes: not the document, but what reading
/// its next changes needs.
struct Held {
    key: String,
    device: String,
    reader: ChangeReader,
    /// The actor the device enrolled with: every change must be its.
    actor: Option<String>,
    /// Changes projected.
    known: HashSet<ChangeHash>,
    /// Heads of what is projected.
    heads: Vec<ChangeHash>,
    /// Changes read whose dependencies have not all arrived yet.
    pending: Vec<Change>,
    /// Storage keys already read.
    chunks: HashSet<String>,
    records: usize,
    refused: bool,
}

/// Projection as changes arrive. The first time a ledger changes (or after a restart) its
/// document is loaded from storage and what the stored heads do not cover is projected; from
/// then on each new chunk samod stores (one change) is read on its own, checked (author,
/// dependencies) and its records applied, in causal order. A chunk that is not one plain
/// record-writing change (samod's compacted snapshot, say) sends the ledger back to the
/// document path. Headquarters never merges tills into one document.
#[derive(Default)]
pub struct Projector {
    held: HashMap<DocumentId, Held>,
}

impl Projector {
    pub fn new() -> Projector {
        Projector::default()
    }

    /// Projects what is new of the document `doc_id` in storage. After a failure the ledger
    /// is let go, to be loaded afresh from storage and the stored heads next time.
    pub fn project(&mut self, conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
        let outcome = if self.held.contains_key(doc_id) {
            match self.read_new_changes(conn, doc_id) {
                Ok(None) => {
                    self.held.remove(doc_id);
                    self.load(conn, doc_id)
                }
                Ok(Some(outcome)) => Ok(outcome),
                Err(e) => Err(e),
            }
        } else {
            self.load(conn, doc_id)
        };
        if outcome.is_err() {
            self.held.remove(doc_id);
        }
        outcome
    }

    /// The document path: loads the ledger from storage, checks the changes the stored heads
    /// do not cover and projects their records.
    fn load(&mut self, conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
        let prepared = read(fetch(conn, doc_id)?)?;
        self.finish(conn, doc_id, prepared)
    }

    /// Applies a ledger read by [`read`] and holds it.
    fn finish(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        prepared: Prepared,
    ) -> Result<Outcome> {
        match prepared {
            Prepared::Done(outcome) => Ok(outcome),
            Prepared::Refused(held, why) => {
                let device = held.device.clone();
                self.held.insert(doc_id.clone(), *held);
                refuse(conn, doc_id, &device, why)
            }
            Prepared::Ready(mut held, records) => {
                let outcome = held.apply(conn, doc_id, records, 0);
                self.held.insert(doc_id.clone(), *held);
                outcome
            }
        }
    }

    /// The change path: reads the chunks stored since last time. `None` when one of them
    /// needs the document path.
    fn read_new_changes(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
    ) -> Result<Option<Outcome>> {
        let held = self.held.get_mut(doc_id).expect("held");
        if held.refused {
            return Ok(Some(Outcome::Refused("refused before".into())));
        }
        for key in fairpos_sync::samod_storage::document_chunk_keys(conn, doc_id)? {
            if held.chunks.contains(&key) {
                continue;
            }
            let Some(bytes) = fairpos_sync::samod_storage::chunk(conn, &key)? else {
                continue;
            };
            match Change::from_bytes(bytes) {
                Ok(change) if !held.known.contains(&change.hash()) => held.pending.push(change),
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
            held.chunks.insert(key);
        }
        // Causal order: a change goes once every change it depends on is projected.
        let mut ready = Vec::new();
        loop {
            let before = ready.len();
            let mut waiting = Vec::new();
            for change in std::mem::take(&mut held.pending) {
                if held.known.contains(&change.hash()) {
                    continue;
                }
                if change.deps().iter().all(|d| held.known.contains(d)) {
                    held.known.insert(change.hash());
                    ready.push(change);
                } else {
                    waiting.push(change);
                }
            }
            held.pending = waiting;
            if ready.len() == before {
                break;
            }
        }
        let mut records = Vec::new();
        for change in &ready {
            let author = change.actor_id().to_hex_string();
            if held.actor.as_deref() != Some(author.as_str()) {
                held.refused = true;
                let why = format!(
                    "forged ledger change {}: written by actor {author}, but {} writes as {}",
                    change.hash(),
                    held.device,
                    held.actor.as_deref().unwrap_or("nobody")
                );
                let device = held.device.clone();
                return refuse(conn, doc_id, &device, why).map(Some);
            }
            match held.reader.records(change)? {
                Some(r) => records.extend(r),
                None => return Ok(None),
            }
        }
        for change in &ready {
            held.heads.retain(|h| !change.deps().contains(h));
            held.heads.push(change.hash());
        }
        let added = records.len();
        held.apply(conn, doc_id, records, added).map(Some)
    }

    /// Projects what is new of each of `docs` in one transaction: one commit (one fsync, one
    /// write of each page touched) per pass instead of one per ledger. Ledgers not held yet
    /// (all of them after a restart) are decoded on a second thread while this one applies
    /// the previous ledger's records. A ledger that fails leaves the others projected; if the
    /// commit fails, nothing is held and the next pass resumes from the heads stored.
    pub fn project_all(
        &mut self,
        conn: &Connection,
        docs: &[DocumentId],
    ) -> Result<Vec<Result<Outcome>>> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes: Vec<Option<Result<Outcome>>> = docs.iter().map(|_| None).collect();
        for (i, d) in docs.iter().enumerate() {
            if self.held.contains_key(d) {
                outcomes[i] = Some(self.project(&tx, d));
            }
        }
        let cold: Vec<usize> = (0..docs.len()).filter(|&i| outcomes[i].is_none()).collect();
        std::thread::scope(|scope| {
            let (to_reader, inbox) = std::sync::mpsc::sync_channel::<Result<Fetched>>(2);
            let (to_main, results) = std::sync::mpsc::sync_channel::<Result<Prepared>>(2);
            scope.spawn(move || {
                for fetched in inbox {
                    if to_main.send(fetched.and_then(read)).is_err() {
                        break;
                    }
                }
            });
            let mut fetching = cold.iter();
            // Two ledgers in flight ahead of the one being applied.
            for &i in fetching.by_ref().take(2) {
                let _ = to_reader.send(fetch(&tx, &docs[i]));
            }
            for &i in &cold {
                let Ok(prepared) = results.recv() else { break };
                if let Some(&next) = fetching.next() {
                    let _ = to_reader.send(fetch(&tx, &docs[next]));
                }
                let outcome = prepared.and_then(|p| self.finish(&tx, &docs[i], p));
                if outcome.is_err() {
                    self.held.remove(&docs[i]);
                }
                outcomes[i] = Some(outcome);
            }
            drop(to_reader);
        });
        if let Err(e) = tx.commit() {
            self.held.clear();
            return Err(e.into());
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::Other("projection stopped".into()))))
            .collect())
    }
}

/// A ledger's stored state, read from SQLite (cheap) for [`read`] to decode (costly).
enum Fetched {
    Done(Outcome),
    Ledger {
        key: String,
        device: String,
        id: LedgerId,
        chunks: Vec<(String, Vec<u8>)>,
        stored_heads: String,
        actor: Option<String>,
    },
}

/// A ledger decoded, ready to apply.
enum Prepared {
    Done(Outcome),
    Refused(Box<Held>, String),
    Ready(Box<Held>, Vec<Record>),
}

fn fetch(conn: &Connection, doc_id: &DocumentId) -> Result<Fetched> {
    let Some((key, device)) = announced(conn, doc_id)? else {
        return Ok(Fetched::Done(Outcome::Unknown));
    };
    let Some(device) = device else {
        return Ok(Fetched::Done(Outcome::Catalog));
    };
    let Some(id) = LedgerId::from_key(&key) else {
        return Ok(Fetched::Done(refuse(
            conn,
            doc_id,
            &device,
            format!("{key} is not a ledger key"),
        )?));
    };
    let chunks = fairpos_sync::samod_storage::document_chunks(conn, doc_id)?;
    if chunks.is_empty() {
        return Ok(Fetched::Done(Outcome::Unknown));
    }
    let stored_heads: String = conn.query_row(
        "SELECT heads FROM hq_docs WHERE doc_id = ?1",
        [doc_id.to_string()],
        |r| r.get(0),
    )?;
    let actor = devices::actor_of(conn, &device)?;
    Ok(Fetched::Ledger {
        key,
        device,
        id,
        chunks,
        stored_heads,
        actor,
    })
}

/// Decodes a fetched ledger: the document, the authors of the changes the stored heads do not
/// cover, their records. No database here: this runs beside the thread applying records.
fn read(fetched: Fetched) -> Result<Prepared> {
    let (key, device, id, chunks, stored_heads, actor) = match fetched {
        Fetched::Done(outcome) => return Ok(Prepared::Done(outcome)),
        Fetched::Ledger {
            key,
            device,
            id,
            chunks,
            stored_heads,
            actor,
        } => (key, device, id, chunks, stored_heads, actor),
    };
    let Some(doc) = fairpos_sync::samod_storage::load_chunks(&key, &chunks)? else {
        return Ok(Prepared::Done(Outcome::Unknown));
    };
    let ledger = match LedgerDoc::open(id, doc) {
        Ok(l) => l,
        // Not whole yet (the genesis may still be on its way): try again later.
        Err(_) => return Ok(Prepared::Done(Outcome::Unknown)),
    };
    let doc = ledger.automerge();
    // Resume from the heads projected before a restart, when the document has them.
    let projected: Vec<ChangeHash> = stored_heads
        .split(',')
        .filter_map(|h| h.parse().ok())
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .collect();
    let mut held = Box::new(Held {
        key,
        device,
        reader: ledger.change_reader(),
        actor,
        known: HashSet::new(),
        heads: ledger.heads(),
        pending: Vec::new(),
        chunks: chunks.iter().map(|(k, _)| k.clone()).collect(),
        records: ledger.len(),
        refused: false,
    });
    for change in doc.get_changes_meta(&projected) {
        let author = change.actor.to_hex_string();
        if held.actor.as_deref() != Some(author.as_str()) {
            let why = format!(
                "forged ledger change {}: written by actor {author}, but {} writes as {}",
                change.hash,
                held.device,
                held.actor.as_deref().unwrap_or("nobody")
            );
            held.refused = true;
            return Ok(Prepared::Refused(held, why));
        }
    }
    let records = if projected.is_empty() {
        ledger.records()?
    } else {
        ledger.records_since(&projected)?
    };
    held.known = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|c| c.hash)
        .collect();
    // Single changes stored beside the document that it could not apply yet (their
    // dependencies are missing) wait in `pending`.
    for (_, bytes) in chunks
        .into_iter()
        .filter(|(k, _)| k.contains("/incremental/"))
    {
        if let Ok(change) = Change::from_bytes(bytes) {
            if !held.known.contains(&change.hash()) {
                held.pending.push(change);
            }
        }
    }
    Ok(Prepared::Ready(held, records))
}

impl Held {
    /// Checks that `records` name this ledger's device, then applies them with the heads now
    /// projected, in a savepoint: its own transaction when called alone, a part of the pass's
    /// transaction under `project_all`.
    fn apply(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        records: Vec<Record>,
        added: usize,
    ) -> Result<Outcome> {
        if let Some(r) = records.iter().find(|r| r.header().device != self.device) {
            self.refused = true;
            let why = format!(
                "record {} in {} claims device {}",
                r.header().id,
                self.key,
                r.header().device
            );
            let device = self.device.clone();
            return refuse(conn, doc_id, &device, why);
        }
        conn.execute_batch("SAVEPOINT project_ledger")?;
        let applied = apply_records(
            conn,
            doc_id,
            &self.key,
            &records,
            &self.heads,
            self.records + added,
        );
        match applied {
            Ok(outcome) => {
                conn.execute_batch("RELEASE project_ledger")?;
                self.records += added;
                Ok(outcome)
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO project_ledger; RELEASE project_ledger")?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fairpos_sync::ids::document_id;
    use fairpos_sync::record::{CashMoveRecord, Header};
    use fairpos_sync::samod_storage::put_chunk;
    use fairpos_sync::ActorId;

    use super::*;
    use crate::catalog_csv::demo;

    /// Headquarters in a temporary directory, with till T01 enrolled as `actor` and its
    /// ledger for one day announced and stored as a snapshot of its first `n` records.
    struct Fixture {
        _dir: tempfile::TempDir,
        hq: Hq,
        ledger: LedgerDoc,
        doc_id: DocumentId,
        seq: u64,
    }

    impl Fixture {
        fn new(actor: &ActorId) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let hq = Hq::init(dir.path(), demo::FAIR_TOML, "organizer-pw").unwrap();
            hq.conn
                .execute(
                    "INSERT INTO devices(device, stall, role, actor) VALUES ('T01', 'S01', 'till', ?1)",
                    [actor.to_hex_string()],
                )
                .unwrap();
            let id = LedgerId {
                fair: hq.fair.id.clone(),
                device: "T01".into(),
                day: "2026-11-22".into(),
            };
            let doc_id = document_id(&id.key());
            hq.conn
                .execute(
                    "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
                     VALUES (?1, ?2, 'T01', '', 0, 'now')",
                    params![doc_id.to_string(), id.key()],
                )
                .unwrap();
            let (ledger, _) = LedgerDoc::create(id, actor.clone(), 0).unwrap();
            Fixture {
                _dir: dir,
                hq,
                ledger,
                doc_id,
                seq: 0,
            }
        }

        /// One more cash movement in the ledger; returns its change.
        fn cash_in(&mut self) -> Change {
            self.seq += 1;
            let record = Record::CashMove(CashMoveRecord {
                header: Header {
                    id: format!("00000000-0000-7000-8000-{:012}", self.seq),
                    device: "T01".into(),
                    seq: self.seq,
                    at: "2026-11-22T10:00:00+08:00".into(),
                },
                shift: "s".into(),
                amount_fen: 100,
                reason: "float".into(),
            });
            self.ledger.append(&record, 0).unwrap()
        }

        fn store_change(&self, change: &Change) {
            let name = change.hash().to_string();
            put_chunk(
                &self.hq.conn,
                &self.doc_id,
                "incremental",
                &name,
                change.raw_bytes(),
            )
            .unwrap();
        }

        fn store_snapshot(&self, name: &str) {
            let bytes = self.ledger.automerge().save();
            put_chunk(&self.hq.conn, &self.doc_id, "snapshot", name, &bytes).unwrap();
        }

        fn projected(&self) -> i64 {
            self.hq
                .conn
                .query_row("SELECT COUNT(*) FROM cash_moves", [], |r| r.get(0))
                .unwrap()
        }
    }

    fn new_records(outcome: Outcome) -> usize {
        match outcome {
            Outcome::Projected { new_records, .. } => new_records,
            other => panic!("not projected: {other:?}"),
        }
    }

    #[test]
    fn changes_arriving_out_of_order_are_projected_once_their_dependencies_are() {
        let actor = ActorId::random();
        let mut f = Fixture::new(&actor);
        f.cash_in();
        f.store_snapshot("first");
        let mut p = Projector::new();
        assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 1);

        // Three more changes; samod stores each under its hash, so they come in any order.
        let c2 = f.cash_in();
        let c3 = f.cash_in();
        let c4 = f.cash_in();
        f.store_change(&c4);
        f.store_change(&c3);
        assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 0);
        assert_eq!(f.projected(), 1, "nothing applied before its dependency");
        f.store_change(&c2);
        assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 3);
        assert_eq!(f.projected(), 4);

        // samod compacts: a snapshot holding one more change sends the projector back to
        // the document, which takes only what is new.
        f.cash_in();
        f.store_snapshot("compacted");
        assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 1);
        assert_eq!(f.projected(), 5);

        // A restarted projector resumes from the stored heads and projects nothing twice.
        let mut again = Projector::new();
        assert_eq!(
            new_records(again.project(&f.hq.conn, &f.doc_id).unwrap()),
            0
        );
        let stored: String =
            f.hq.conn
                .query_row(
                    "SELECT heads FROM hq_docs WHERE doc_id = ?1",
                    [f.doc_id.to_string()],
                    |r| r.get(0),
                )
                .unwrap();
        assert_eq!(stored, heads_text(&f.ledger.heads()));
    }

    #[test]
    fn a_change_by_another_actor_is_refused_on_the_change_path() {
        let actor = ActorId::random();
        let mut f = Fixture::new(&actor);
        f.cash_in();
        f.store_snapshot("first");
        let mut p = Projector::new();
        p.project(&f.hq.conn, &f.doc_id).unwrap();
        f.ledger.set_actor(ActorId::random());
        let forged = f.cash_in();
        f.store_change(&forged);
        let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
        assert!(
            matches!(&outcome, Outcome::Refused(why) if why.contains("forged ledger change")),
            "{outcome:?}"
        );
        assert_eq!(f.projected(), 1);
    }
}
