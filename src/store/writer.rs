//! One write transaction of the till: records appended to their ledger documents and
//! projected into the tables together, or a sale written to the journal (its one durable
//! row) to reach its document and the tables right after it is acknowledged.

use std::collections::HashMap;

use fairpos_projection::apply as projection;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::{storage, LedgerDoc, LedgerId, Record};
use rusqlite::{Connection, Transaction};

use super::state::TillState;
use super::Identity;
use crate::error::{Error, Result};

pub struct Writer<'a> {
    tx: Transaction<'a>,
    ledgers: &'a mut HashMap<LedgerId, LedgerDoc>,
    identity: &'a Identity,
    state: &'a mut TillState,
    /// Documents changed in memory: dropped from the cache if the transaction fails.
    touched: Vec<LedgerId>,
    /// Sales written to the journal.
    journaled: usize,
    /// Reload the till state after commit: the write changed what it cannot follow.
    reload: bool,
}

impl<'a> Writer<'a> {
    pub(super) fn new(
        tx: Transaction<'a>,
        ledgers: &'a mut HashMap<LedgerId, LedgerDoc>,
        identity: &'a Identity,
        state: &'a mut TillState,
    ) -> Writer<'a> {
        Writer {
            tx,
            ledgers,
            identity,
            state,
            touched: Vec::new(),
            journaled: 0,
            reload: false,
        }
    }

    /// The transaction to commit, the documents touched, the sales journaled, and whether the
    /// state must be reloaded.
    pub(super) fn finish(self) -> (Transaction<'a>, Vec<LedgerId>, usize, bool) {
        (self.tx, self.touched, self.journaled, self.reload)
    }

    pub fn conn(&self) -> &Connection {
        &self.tx
    }

    pub fn identity(&self) -> &Identity {
        self.identity
    }

    pub fn state(&self) -> &TillState {
        self.state
    }

    /// Reload the till state after this write commits (imports, voids, refunds).
    pub fn reload_state_after(&mut self) {
        self.reload = true;
    }

    /// The next number in this till's sequence of records.
    pub fn next_record_seq(&self) -> u64 {
        self.state.last_record_seq + 1
    }

    /// The ledger document `id`, loaded from storage if this process has not yet.
    fn ledger(&mut self, id: &LedgerId) -> Result<Option<&mut LedgerDoc>> {
        if !self.ledgers.contains_key(id) {
            if let Some(mut doc) = storage::load(&self.tx, id)? {
                doc.set_actor(self.identity.actor.clone());
                self.ledgers.insert(id.clone(), doc);
            }
        }
        Ok(self.ledgers.get_mut(id))
    }

    pub(super) fn compact(&mut self, id: &LedgerId) -> Result<()> {
        self.ledger(id)?;
        let doc = self
            .ledgers
            .get(id)
            .ok_or_else(|| Error::Integrity(format!("{} is not stored", id.key())))?;
        storage::compact(&self.tx, doc)?;
        Ok(())
    }

    /// The ledger document of `record`'s day, and the record's time in milliseconds.
    fn place(&self, record: &Record) -> Result<(LedgerId, i64)> {
        let at_text = &record.header().at;
        let at = chrono::DateTime::parse_from_rfc3339(at_text)
            .map_err(|e| Error::Other(format!("record time {at_text:?}: {e}")))?;
        let id = LedgerId {
            fair: self.identity.fair.id.clone(),
            device: self.identity.device.to_string(),
            day: at.format("%Y-%m-%d").to_string(),
        };
        Ok((id, at.timestamp_millis()))
    }

    /// Writes `record`. A sale goes to the journal: one row, all that makes it durable; its
    /// document and its rows follow once it is acknowledged ([`super::Store::catch_up`]). Any
    /// other record is appended to its document and projected now, after whatever waits in
    /// the journal, so that a document always takes its records in order.
    ///
    /// A record headquarters would refuse on its own (an amount or a quantity beyond what a
    /// till takes, [`fairpos_sync::plausible::implausible`]) is refused here, before anything
    /// is written: its day's ledger would be refused there whole, every sale of the day with
    /// it. What a whole day's records come to (`Weight::beyond_a_day`, a thousand billion
    /// yuan) is not checked here.
    pub fn append(&mut self, record: &Record) -> Result<()> {
        if let Some(why) = fairpos_sync::plausible::implausible(record) {
            return Err(Error::input(format!(
                "not written: headquarters would refuse this {} and the day's ledger with it: \
                 {why}",
                record.kind()
            )));
        }
        let (id, at_ms) = self.place(record)?;
        if let Record::Sale(_) = record {
            storage::journal(&self.tx, &id, record)?;
            self.journaled += 1;
        } else {
            self.flush_journal()?;
            self.append_to_document(&id, record, at_ms)?;
            self.project(record, &id)?;
        }
        self.state.observe(record);
        Ok(())
    }

    /// Appends what waits in the journal to its documents, projects it, and empties the
    /// journal. Returns how many records it took.
    pub(super) fn flush_journal(&mut self) -> Result<usize> {
        let waiting = storage::journaled(&self.tx)?;
        for entry in &waiting {
            let (id, at_ms) = self.place(&entry.record)?;
            if id != entry.id {
                return Err(Error::Integrity(format!(
                    "journal entry {} names {}, but its record belongs in {}",
                    entry.seq,
                    entry.id.key(),
                    id.key()
                )));
            }
            self.append_to_document(&id, &entry.record, at_ms)?;
            self.project(&entry.record, &id)?;
            storage::settle(&self.tx, entry.seq)?;
        }
        self.journaled = 0;
        Ok(waiting.len())
    }

    /// The heads of the document `record` was appended to (sorted hex, comma-separated): what
    /// a shift slip commits to.
    pub fn heads_after(&mut self, record: &Record) -> Result<String> {
        let (id, _) = self.place(record)?;
        let doc = self
            .ledger(&id)?
            .ok_or_else(|| Error::Integrity(format!("{} is not stored", id.key())))?;
        Ok(heads_text(&doc.heads()))
    }

    fn append_to_document(&mut self, id: &LedgerId, record: &Record, at_ms: i64) -> Result<()> {
        self.touched.push(id.clone());
        if self.ledger(id)?.is_none() {
            let (doc, genesis) = LedgerDoc::create(id.clone(), self.identity.actor.clone(), at_ms)?;
            storage::create(&self.tx, &doc, &genesis)?;
            self.ledgers.insert(id.clone(), doc);
        }
        let doc = self
            .ledgers
            .get_mut(id)
            .ok_or_else(|| Error::Integrity(format!("{} is not loaded", id.key())))?;
        let change = doc.append(record, at_ms)?;
        storage::store_change(&self.tx, doc, &change, 1)?;
        Ok(())
    }

    fn project(&self, record: &Record, id: &LedgerId) -> Result<()> {
        if !projection::apply(&self.tx, record, &id.key())? {
            return Err(Error::Integrity(format!(
                "record {} was already written",
                record.header().id
            )));
        }
        Ok(())
    }
}
