//! A ledger's later changes read on their own, without its document: what headquarters
//! projects of a ledger it projected before, from the chunks samod stored since (one change
//! each). Loading a day's ledger with automerge takes milliseconds; reading a change takes
//! microseconds. Whatever these readers cannot vouch for sends the caller back to the
//! document ([`crate::LedgerDoc`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{Change, ChangeHash};

use crate::ledger::decode_record;
use crate::{LedgerDoc, Record, Result};

/// Reads the records a ledger change writes straight from the change, without applying it
/// to the document: applying a change to a loaded Automerge document walks the whole records
/// map (milliseconds for a day of sales), reading it costs microseconds. A change that does
/// anything but put new records (as every change after the genesis does) is not read:
/// [`ChangeReader::records`] answers `None` and the caller falls back to the document.
#[derive(Clone, Debug)]
pub struct ChangeReader {
    key: String,
    /// The records map's object id, as text (`2@<actor>`).
    records: String,
}

impl ChangeReader {
    /// A reader of `ledger`'s later changes.
    pub fn of(ledger: &LedgerDoc) -> ChangeReader {
        ChangeReader::new(ledger.id().key(), ledger.records_map())
    }

    /// A reader of the ledger `key`'s changes, whose records map is the object
    /// `records_map` ([`LedgerDoc::records_map`]).
    pub fn new(key: String, records_map: String) -> ChangeReader {
        ChangeReader {
            key,
            records: records_map,
        }
    }

    /// The records `change` puts into the ledger's records map, each stored under its own
    /// id; `None` when it does anything else (an op elsewhere, an insert, a put that names
    /// what it replaces).
    pub fn records(&self, change: &Change) -> Result<Option<Vec<Record>>> {
        use automerge::legacy::{Key, ObjectId, OpType};
        let mut out = Vec::new();
        for op in change.decode().operations {
            let ObjectId::Id(obj) = &op.obj else {
                return Ok(None);
            };
            if format!("{}@{}", obj.0, obj.1) != self.records || op.insert || !op.pred.is_empty() {
                return Ok(None);
            }
            let (Key::Map(id), OpType::Put(automerge::ScalarValue::Str(json))) =
                (&op.key, &op.action)
            else {
                return Ok(None);
            };
            out.push(decode_record(&self.key, id, Some(json))?);
        }
        Ok(Some(out))
    }

    /// What `changes` add to the ledger projected up to `heads`, read from the changes alone.
    /// Those that are ready (each dependency among the heads or the changes before) are taken
    /// in causal order: `None` unless each of them [`follows`] the heads before it (the first
    /// those heads) and only puts records, as each change a till writes after its genesis
    /// does. Changes among `heads` already are passed over. That a record put is new to the
    /// ledger, these changes cannot tell (a hand-made change may put one again without naming
    /// it): the caller checks it against what it projected.
    ///
    /// A change that depends on one not given waits ([`Appended::waiting`]): samod stores a
    /// sync's changes each as it comes, so a pass may find one before the one it follows.
    /// Whether what it depends on is on its way, or is an ancestor of the heads (a fork no
    /// till makes, a forgery among them), only the document can tell: PostgreSQL's follower
    /// reads what is still unread from the document a second later, and `None` answers where
    /// some wait and none is ready.
    pub fn appended(&self, heads: &[ChangeHash], changes: Vec<Change>) -> Result<Option<Appended>> {
        let mut known: HashSet<ChangeHash> = heads.iter().copied().collect();
        let (ready, waiting) = in_causal_order(changes, &mut known);
        if ready.is_empty() && !waiting.is_empty() {
            return Ok(None);
        }
        let mut appended = Appended {
            records: Vec::new(),
            heads: heads.to_vec(),
            authors: BTreeSet::new(),
            waiting: waiting.iter().map(Change::hash).collect(),
        };
        for change in &ready {
            if !follows(change, &appended.heads) {
                return Ok(None);
            }
            let Some(records) = self.records(change)? else {
                return Ok(None);
            };
            appended.records.extend(records);
            appended.heads = vec![change.hash()];
            appended.authors.insert(change.actor_id().to_hex_string());
        }
        Ok(Some(appended))
    }

    /// [`ChangeReader::appended`] for changes as samod stores them, one to a chunk, after
    /// heads as stored ([`crate::ledger::heads_text`]): `None` also where a chunk is not one
    /// change, or the heads do not read as hashes. Each chunk is given with its key; the
    /// keys of those whose change waits come back with what the others add.
    pub fn appended_chunks(
        &self,
        heads: &str,
        chunks: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Option<AppendedChunks>> {
        let heads: std::result::Result<Vec<ChangeHash>, _> =
            heads.split(',').map(str::parse).collect();
        let Ok(heads) = heads else {
            return Ok(None);
        };
        let mut keys = HashMap::new();
        let mut changes = Vec::new();
        for (key, bytes) in chunks {
            let Ok(change) = Change::from_bytes(bytes) else {
                return Ok(None);
            };
            keys.insert(change.hash(), key);
            changes.push(change);
        }
        let Some(appended) = self.appended(&heads, changes)? else {
            return Ok(None);
        };
        let waiting = appended
            .waiting
            .iter()
            .filter_map(|hash| keys.remove(hash))
            .collect();
        Ok(Some(AppendedChunks { appended, waiting }))
    }
}

/// What a ledger's later changes add to it ([`ChangeReader::appended`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    /// The records they write, in causal order.
    pub records: Vec<Record>,
    /// The ledger's heads with them.
    pub heads: Vec<ChangeHash>,
    /// The actors that wrote them, in hex.
    pub authors: BTreeSet<String>,
    /// The changes given that wait for one not given, not read.
    pub waiting: Vec<ChangeHash>,
}

/// What a ledger's later chunks add to it ([`ChangeReader::appended_chunks`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AppendedChunks {
    pub appended: Appended,
    /// The keys of the chunks whose change waits for one not given: not read.
    pub waiting: Vec<String>,
}

/// Whether `change` depends on exactly `heads`: the next change of a ledger whose heads they
/// are, as a till writes its ledger, one change after another. One that depends on fewer of
/// them is concurrent with the others (a fork no till makes), and a record it puts may be one
/// of theirs.
pub fn follows(change: &Change, heads: &[ChangeHash]) -> bool {
    let deps = change.deps();
    deps.len() == heads.len() && heads.iter().all(|h| deps.contains(h))
}

/// Of `pending`, those whose dependencies are all `known` or ready before them, in an order
/// where each comes after what it depends on (each added to `known`), and those still
/// waiting for one. A change `known` already is dropped.
pub fn in_causal_order(
    pending: Vec<Change>,
    known: &mut HashSet<ChangeHash>,
) -> (Vec<Change>, Vec<Change>) {
    let mut ready = Vec::new();
    let mut waiting = pending;
    loop {
        let before = ready.len();
        let mut still = Vec::new();
        for change in std::mem::take(&mut waiting) {
            if known.contains(&change.hash()) {
                continue;
            }
            if change.deps().iter().all(|d| known.contains(d)) {
                known.insert(change.hash());
                ready.push(change);
            } else {
                still.push(change);
            }
        }
        waiting = still;
        if ready.len() == before {
            return (ready, waiting);
        }
    }
}

#[cfg(test)]
mod tests;
