//! Projection as changes arrive: the first time a ledger changes (or after a restart) its
//! document is loaded; from then on each new chunk samod stores is read on its own.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};
use fairpos_sync::ledger::why_refused_adding;
use fairpos_sync::ledger_changes::{follows, in_causal_order, ChangeReader};
use fairpos_sync::plausible::Weight;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::chunks_digest;
use fairpos_sync::{LedgerDoc, LedgerId, Record};
use rusqlite::Connection;

use super::{announced, apply_records, forged, refuse, stored_projection, Outcome, Projection};
use crate::{devices, Error, Result};

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
    /// The digest of the stored keys the projection has read, stored with it: a start does
    /// not load a ledger whose stored keys still have this digest.
    chunks_digest: String,
    records: usize,
    /// What the records projected come to ([`fairpos_sync::plausible::MAX_LEDGER_FEN`]).
    weight: Weight,
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
    /// Ledgers whose last pass failed: a pass with one of them isolates each ledger.
    failing: HashSet<DocumentId>,
    /// The passes made, and the last each held ledger was projected in.
    passes: u64,
    touched: HashMap<DocumentId, u64>,
    /// The most ledgers held ([`MOST_HELD`] when `None`).
    most_held: Option<usize>,
}

/// The most ledgers a projector holds ([`super::let_go_of_the_least_recent`]).
pub const MOST_HELD: usize = 2_000;

/// How a pass keeps one ledger's failure from undoing the others'.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Each ledger in a savepoint of its own, rolled back alone if it fails.
    Savepoint,
    /// No savepoints: a failing ledger fails the pass, which is rolled back. A savepoint
    /// makes SQLite copy every page it touches first, which was a sixth of a cold
    /// projection's time, for a failure that almost never comes.
    None,
}

/// How a pass ended.
enum Pass {
    Committed(Vec<Result<Outcome>>),
    /// A ledger failed in a pass without savepoints: nothing of it is written.
    RolledBack,
}

impl Projector {
    pub fn new() -> Projector {
        Projector::default()
    }

    /// A projector holding `most` ledgers at most.
    pub fn holding_at_most(most: usize) -> Projector {
        Projector {
            most_held: Some(most),
            ..Projector::default()
        }
    }

    /// Projects what is new of the document `doc_id` in storage. After a failure the ledger
    /// is let go, to be loaded afresh from storage and the stored heads next time.
    pub fn project(&mut self, conn: &Connection, doc_id: &DocumentId) -> Result<Outcome> {
        self.touch(std::slice::from_ref(doc_id));
        let outcome = self.project_isolated(conn, doc_id, Isolation::Savepoint);
        self.let_go_of_the_least_recent();
        outcome
    }

    /// Marks `docs` as projected in a new pass.
    fn touch(&mut self, docs: &[DocumentId]) {
        self.passes += 1;
        for d in docs {
            self.touched.insert(d.clone(), self.passes);
        }
    }

    /// Lets go of the ledgers projected longest ago beyond the most held.
    fn let_go_of_the_least_recent(&mut self) {
        let most = self.most_held.unwrap_or(MOST_HELD);
        super::let_go_of_the_least_recent(&mut self.held, &mut self.touched, most);
    }

    fn project_isolated(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        isolation: Isolation,
    ) -> Result<Outcome> {
        let outcome = if self.held.contains_key(doc_id) {
            match self.read_new_changes(conn, doc_id, isolation) {
                Ok(None) => {
                    self.held.remove(doc_id);
                    self.load(conn, doc_id, isolation)
                }
                Ok(Some(outcome)) => Ok(outcome),
                Err(e) => Err(e),
            }
        } else {
            self.load(conn, doc_id, isolation)
        };
        if outcome.is_err() {
            self.held.remove(doc_id);
        }
        outcome
    }

    /// The document path: loads the ledger from storage, checks the changes the stored heads
    /// do not cover and projects their records.
    fn load(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        isolation: Isolation,
    ) -> Result<Outcome> {
        let prepared = read(fetch(conn, doc_id)?)?;
        self.finish(conn, doc_id, prepared, isolation, drop)
    }

    /// Applies a ledger read by [`read`] and holds it; its records, applied, go to `spent`
    /// (a cold pass frees them on a thread of their own: freeing a ledger's worth of records
    /// took a tenth of the thread that applies them).
    fn finish(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        prepared: Prepared,
        isolation: Isolation,
        spent: impl FnOnce(Vec<Record>),
    ) -> Result<Outcome> {
        match prepared {
            Prepared::Done(outcome) => Ok(outcome),
            Prepared::Refused(held, why) => {
                let device = held.device.clone();
                self.held.insert(doc_id.clone(), *held);
                refuse(conn, doc_id, &device, why)
            }
            Prepared::Ready(mut held, records) => {
                let outcome = held
                    .apply(conn, doc_id, &records, 0, isolation)
                    .map(Outcome::with_document_loaded);
                self.held.insert(doc_id.clone(), *held);
                spent(records);
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
        isolation: Isolation,
    ) -> Result<Option<Outcome>> {
        let held = self.held.get_mut(doc_id).expect("held");
        if held.refused {
            return Ok(Some(Outcome::Refused("refused before".into())));
        }
        let keys = fairpos_sync::samod_storage::document_chunk_keys(conn, doc_id)?;
        for key in &keys {
            if held.chunks.contains(key) {
                continue;
            }
            let Some(bytes) = fairpos_sync::samod_storage::chunk(conn, key)? else {
                continue;
            };
            match Change::from_bytes(bytes) {
                Ok(change) if !held.known.contains(&change.hash()) => held.pending.push(change),
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
            held.chunks.insert(key.clone());
        }
        // Every key listed is read now (or was gone when read, and the digest will differ).
        held.chunks_digest = chunks_digest(keys.iter().map(String::as_str));
        // Those a compaction deleted are not kept (the keys come in order).
        held.chunks.retain(|k| keys.binary_search(k).is_ok());
        // Causal order: a change goes once every change it depends on is projected.
        let (ready, waiting) = in_causal_order(std::mem::take(&mut held.pending), &mut held.known);
        held.pending = waiting;
        let mut records = Vec::new();
        let mut heads = held.heads.clone();
        for change in &ready {
            let author = change.actor_id().to_hex_string();
            if held.actor.as_deref() != Some(author.as_str()) {
                held.refused = true;
                let why = forged(&change.hash(), &author, &held.device, held.actor.as_deref());
                let device = held.device.clone();
                return refuse(conn, doc_id, &device, why).map(Some);
            }
            // A change concurrent with others (a fork no till makes) may put one of their
            // records again: the document sees whether it does.
            if !follows(change, &heads) {
                return Ok(None);
            }
            match held.reader.records(change)? {
                Some(r) => records.extend(r),
                None => return Ok(None),
            }
            heads = vec![change.hash()];
        }
        held.heads = heads;
        let added = records.len();
        held.apply(conn, doc_id, &records, added, isolation)
            .map(Some)
    }

    /// Projects what is new of each of `docs` in one transaction: one commit (one fsync, one
    /// write of each page touched) per pass instead of one per ledger. Ledgers not held yet
    /// (all of them after a restart) are decoded on a second thread while this one applies
    /// the previous ledger's records. A ledger that fails leaves the others projected: the
    /// pass runs without savepoints and, if a ledger fails, is rolled back and run again with
    /// one per ledger (so does a pass with a ledger that failed last time). If the commit
    /// fails, nothing is held and the next pass resumes from the heads stored.
    pub fn project_all(
        &mut self,
        conn: &Connection,
        docs: &[DocumentId],
    ) -> Result<Vec<Result<Outcome>>> {
        self.touch(docs);
        let outcomes = self.project_all_held(conn, docs);
        self.let_go_of_the_least_recent();
        outcomes
    }

    fn project_all_held(
        &mut self,
        conn: &Connection,
        docs: &[DocumentId],
    ) -> Result<Vec<Result<Outcome>>> {
        if !docs.iter().any(|d| self.failing.contains(d)) {
            if let Pass::Committed(outcomes) = self.pass(conn, docs, Isolation::None)? {
                return Ok(outcomes);
            }
            // What the rolled-back pass read of these ledgers is not in the database.
            for d in docs {
                self.held.remove(d);
            }
        }
        let Pass::Committed(outcomes) = self.pass(conn, docs, Isolation::Savepoint)? else {
            return Err(Error::Other("a projection pass was rolled back".into()));
        };
        for (d, outcome) in docs.iter().zip(&outcomes) {
            if outcome.is_err() {
                self.failing.insert(d.clone());
            } else {
                self.failing.remove(d);
            }
        }
        Ok(outcomes)
    }

    /// One pass over `docs` in one transaction; without savepoints it stops at the first
    /// ledger that fails and rolls back.
    fn pass(
        &mut self,
        conn: &Connection,
        docs: &[DocumentId],
        isolation: Isolation,
    ) -> Result<Pass> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let given_up = |outcome: &Result<Outcome>| isolation == Isolation::None && outcome.is_err();
        let mut outcomes: Vec<Option<Result<Outcome>>> = docs.iter().map(|_| None).collect();
        for (i, d) in docs.iter().enumerate() {
            if self.held.contains_key(d) {
                let outcome = self.project_isolated(&tx, d, isolation);
                if given_up(&outcome) {
                    return Ok(Pass::RolledBack);
                }
                outcomes[i] = Some(outcome);
            }
        }
        let cold: Vec<usize> = (0..docs.len()).filter(|&i| outcomes[i].is_none()).collect();
        let mut failed = false;
        std::thread::scope(|scope| {
            let (to_reader, inbox) = std::sync::mpsc::sync_channel::<Result<Fetched>>(2);
            let (to_main, results) = std::sync::mpsc::sync_channel::<Result<Prepared>>(2);
            let (to_free, spent) = std::sync::mpsc::channel::<Vec<Record>>();
            scope.spawn(move || spent.into_iter().for_each(drop));
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
                let free = |records| {
                    let _ = to_free.send(records);
                };
                let outcome = prepared.and_then(|p| self.finish(&tx, &docs[i], p, isolation, free));
                if outcome.is_err() {
                    self.held.remove(&docs[i]);
                }
                if given_up(&outcome) {
                    failed = true;
                    break;
                }
                outcomes[i] = Some(outcome);
            }
            // The reader stops when it can neither receive nor send, the freeing thread when
            // nothing more can be sent to it.
            drop(to_reader);
            drop(results);
            drop(to_free);
        });
        if failed {
            return Ok(Pass::RolledBack);
        }
        if let Err(e) = tx.commit() {
            self.held.clear();
            return Err(e.into());
        }
        Ok(Pass::Committed(
            outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| Err(Error::Other("projection stopped".into()))))
                .collect(),
        ))
    }
}

/// A ledger's stored state, read from SQLite (cheap) for [`read`] to decode (costly).
enum Fetched {
    Done(Outcome),
    Ledger(Box<Stored>),
}

/// What storage holds of a ledger, and whose it is.
struct Stored {
    key: String,
    device: String,
    id: LedgerId,
    chunks: Vec<(String, Vec<u8>)>,
    stored_heads: String,
    /// What the records at `stored_heads` come to, if known.
    stored_weight: Option<Weight>,
    actor: Option<String>,
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
    let (stored_heads, stored_weight) = stored_projection(conn, doc_id)?;
    let actor = devices::actor_of(conn, &device)?;
    Ok(Fetched::Ledger(Box::new(Stored {
        key,
        device,
        id,
        chunks,
        stored_heads,
        stored_weight,
        actor,
    })))
}

/// Decodes a fetched ledger: the document, the authors of the changes the stored heads do not
/// cover, their records. No database here: this runs beside the thread applying records.
fn read(fetched: Fetched) -> Result<Prepared> {
    let stored = match fetched {
        Fetched::Done(outcome) => return Ok(Prepared::Done(outcome)),
        Fetched::Ledger(stored) => *stored,
    };
    let Stored {
        key,
        device,
        id,
        chunks,
        stored_heads,
        stored_weight,
        actor,
    } = stored;
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
    let projected = fairpos_sync::ledger::heads_held(doc, &stored_heads);
    let mut held = Box::new(Held {
        key,
        device,
        reader: ChangeReader::of(&ledger),
        actor,
        known: HashSet::new(),
        heads: ledger.heads(),
        pending: Vec::new(),
        chunks: chunks.iter().map(|(k, _)| k.clone()).collect(),
        chunks_digest: chunks_digest(chunks.iter().map(|(k, _)| k.as_str())),
        records: ledger.len(),
        weight: Weight::default(),
        refused: false,
    });
    for change in doc.get_changes_meta(&projected) {
        let author = change.actor.to_hex_string();
        if held.actor.as_deref() != Some(author.as_str()) {
            let why = forged(&change.hash, &author, &held.device, held.actor.as_deref());
            held.refused = true;
            return Ok(Prepared::Refused(held, why));
        }
    }
    let records = if projected.is_empty() {
        ledger.records()?
    } else {
        let added = match ledger.added_since(&projected)? {
            Ok(added) => added,
            Err(why) => {
                held.refused = true;
                return Ok(Prepared::Refused(held, why));
            }
        };
        // What was projected before a restart counts towards the ledger's bound: all of it
        // is still there (it only grew). Stored with the heads, when the document holds them
        // all, so only the records added since are read; otherwise read again.
        let every_head_held = projected.len() == stored_heads.split(',').count();
        match stored_weight {
            Some(weight) if every_head_held => {
                held.weight = weight;
                ledger.records_among(&added)?
            }
            _ => {
                let (new, before): (Vec<Record>, Vec<Record>) = ledger
                    .records()?
                    .into_iter()
                    .partition(|r| added.contains(&r.header().id));
                held.weight = Weight::of(&before);
                new
            }
        }
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
    /// projected: in a savepoint (its own transaction when called alone, a part of the pass's
    /// transaction under `project_all`), or straight into the pass's transaction.
    fn apply(
        &mut self,
        conn: &Connection,
        doc_id: &DocumentId,
        records: &[Record],
        added: usize,
        isolation: Isolation,
    ) -> Result<Outcome> {
        let weight = match why_refused_adding(&self.key, &self.device, self.weight, records) {
            Ok(weight) => weight,
            Err(why) => {
                self.refused = true;
                let device = self.device.clone();
                return refuse(conn, doc_id, &device, why);
            }
        };
        let count = self.records + added;
        let done = Projection {
            heads: &self.heads,
            records: count,
            chunks_digest: Some(&self.chunks_digest),
            weight,
        };
        let applied = match isolation {
            Isolation::None => apply_records(conn, doc_id, &self.key, records, &done),
            Isolation::Savepoint => {
                conn.execute_batch("SAVEPOINT project_ledger")?;
                let applied = apply_records(conn, doc_id, &self.key, records, &done);
                let end = match applied {
                    Ok(_) => "RELEASE project_ledger",
                    Err(_) => "ROLLBACK TO project_ledger; RELEASE project_ledger",
                };
                conn.execute_batch(end)?;
                match applied {
                    // A record contradicting what is projected (a sequence number or a
                    // sale's id reused, a void of another till's sale) stays one at every
                    // try: the ledger is refused, as on PostgreSQL, and its till told.
                    Err(e) if contradicts_the_projection(&e) => {
                        self.refused = true;
                        let device = self.device.clone();
                        return refuse(conn, doc_id, &device, e.to_string());
                    }
                    applied => applied,
                }
            }
        };
        if applied.is_ok() {
            self.records = count;
            self.weight = weight;
        }
        applied
    }
}

/// Whether projecting a ledger failed for a record that contradicts what is projected (a
/// row a unique key holds already, as PostgreSQL's projection refuses it), rather than for
/// the moment (a busy database, a full disk) or for the schema (a trigger, a check).
fn contradicts_the_projection(e: &crate::Error) -> bool {
    match e {
        crate::Error::Tables(fairpos_projection::Error::Integrity(_)) => true,
        crate::Error::Tables(fairpos_projection::Error::Sql(e)) | crate::Error::Sql(e) => {
            matches!(
                e,
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        }
        _ => false,
    }
}
