//! Ledger documents: one Automerge document per till and day, written by that till alone.
//!
//! Layout of the document root:
//!
//! ```text
//! { "type": "fairpos-ledger", "version": 1,
//!   "fair": "<fair id>", "device": "T01", "day": "2026-11-22",
//!   "records": { "<record id>": "<record as JSON text>", ... } }
//! ```
//!
//! A record is one string value: the measured cheapest way to write a sale (one op per sale,
//! commit cost nearly flat in the size of the document). The genesis change that creates the
//! root keys is written by the till that owns the ledger; nobody else writes to it.

use std::borrow::Cow;
use std::collections::HashSet;

use automerge::{
    transaction::{CommitOptions, Transactable},
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ReadDoc, ROOT,
};

use crate::plausible::Weight;
use crate::{Error, Record, Result};

const DOC_TYPE: &str = "fairpos-ledger";
const DOC_VERSION: i64 = 1;

/// Why headquarters refuses the ledger `key` of `device`, or `None`: when one of its
/// `records` names another device (a till writes only its own ledgers), names an amount or a
/// quantity no till writes, or when they come to more than a till takes in a day
/// ([`crate::plausible`]).
pub fn why_refused(key: &str, device: &str, records: &[Record]) -> Option<String> {
    why_refused_adding(key, device, Weight::default(), records).err()
}

/// [`why_refused`] for `records` written after others that came to `before`: what they all
/// come to, or why the ledger is refused.
pub fn why_refused_adding(
    key: &str,
    device: &str,
    before: Weight,
    records: &[Record],
) -> std::result::Result<Weight, String> {
    if let Some(why) = why_a_record_is_refused(key, device, records) {
        return Err(why);
    }
    let weight = before.adding(records);
    match weight.beyond_a_day() {
        Some(why) => Err(format!("{key}: {why}")),
        None => Ok(weight),
    }
}

fn why_a_record_is_refused(key: &str, device: &str, records: &[Record]) -> Option<String> {
    if let Some(r) = records.iter().find(|r| r.header().device != device) {
        return Some(format!(
            "record {} in {key} claims device {}",
            r.header().id,
            r.header().device
        ));
    }
    records.iter().find_map(|r| {
        let why = crate::plausible::implausible(r)?;
        Some(format!("record {} in {key}: {why}", r.header().id))
    })
}

/// Whether `text` is a day as a ledger's key names it: `YYYY-MM-DD`, a date of the calendar.
pub fn is_day(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// Which ledger a document is: a fair, a device, a day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerId {
    pub fair: String,
    pub device: String,
    /// Local date at the fair, `YYYY-MM-DD`.
    pub day: String,
}

impl LedgerId {
    /// The storage key, `ledger/<fair>/<device>/<day>`.
    pub fn key(&self) -> String {
        format!("ledger/{}/{}/{}", self.fair, self.device, self.day)
    }

    /// Parses a key made by [`LedgerId::key`].
    pub fn from_key(key: &str) -> Option<LedgerId> {
        let mut parts = key.split('/');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some("ledger"), Some(fair), Some(device), Some(day), None) => Some(LedgerId {
                fair: fair.to_string(),
                device: device.to_string(),
                day: day.to_string(),
            }),
            _ => None,
        }
    }
}

/// One till-day ledger held in memory.
pub struct LedgerDoc {
    id: LedgerId,
    doc: Automerge,
    records: ObjId,
    /// Records held. Kept here because Automerge counts a map's keys by walking them.
    len: usize,
}

impl LedgerDoc {
    /// Starts a new ledger and returns the genesis change, which the caller must store.
    pub fn create(id: LedgerId, actor: ActorId, at_ms: i64) -> Result<(LedgerDoc, Change)> {
        let key = id.key();
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        let am = |source| Error::automerge(&key, source);
        tx.put(ROOT, "type", DOC_TYPE).map_err(am)?;
        tx.put(ROOT, "version", DOC_VERSION).map_err(am)?;
        tx.put(ROOT, "fair", id.fair.as_str()).map_err(am)?;
        tx.put(ROOT, "device", id.device.as_str()).map_err(am)?;
        tx.put(ROOT, "day", id.day.as_str()).map_err(am)?;
        let records = tx.put_object(ROOT, "records", ObjType::Map).map_err(am)?;
        tx.commit_with(CommitOptions::default().with_time(at_ms));
        let change = last_change(&doc, &key)?;
        Ok((
            LedgerDoc {
                id,
                doc,
                records,
                len: 0,
            },
            change,
        ))
    }

    /// Wraps a loaded document after checking that it is a ledger for `id`.
    pub fn open(id: LedgerId, doc: Automerge) -> Result<LedgerDoc> {
        let key = id.key();
        let not_ledger = |why: String| Error::NotALedger {
            key: key.clone(),
            why,
        };
        let text = |field: &str| -> Result<String> {
            match doc.get(ROOT, field) {
                Ok(Some((value, _))) => value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| not_ledger(format!("`{field}` is not text"))),
                Ok(None) => Err(not_ledger(format!("`{field}` is missing"))),
                Err(source) => Err(Error::automerge(&key, source)),
            }
        };
        if text("type")? != DOC_TYPE {
            return Err(not_ledger("wrong document type".into()));
        }
        for (field, want) in [("fair", &id.fair), ("device", &id.device), ("day", &id.day)] {
            let have = text(field)?;
            if &have != want {
                return Err(not_ledger(format!("`{field}` is {have}, expected {want}")));
            }
        }
        let records = match doc.get(ROOT, "records") {
            Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => obj,
            _ => return Err(not_ledger("`records` map is missing".into())),
        };
        let len = doc.length(&records);
        Ok(LedgerDoc {
            id,
            doc,
            records,
            len,
        })
    }

    /// Wraps a loaded document as the ledger its root names (fair, device, day), for a
    /// reader that knows only the document: the caller checks that this ledger's document id
    /// is the one it loaded.
    pub fn open_claimed(doc: Automerge) -> Result<LedgerDoc> {
        let field = |name: &str| match doc.get(ROOT, name) {
            Ok(Some((value, _))) => value.as_str().map(str::to_string),
            _ => None,
        };
        let id = match (field("fair"), field("device"), field("day")) {
            (Some(fair), Some(device), Some(day)) => LedgerId { fair, device, day },
            _ => {
                return Err(Error::NotALedger {
                    key: "(unnamed)".into(),
                    why: "the document does not name its fair, device and day".into(),
                })
            }
        };
        LedgerDoc::open(id, doc)
    }

    pub fn id(&self) -> &LedgerId {
        &self.id
    }

    /// Uses `actor` for the changes this process makes from now on.
    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    /// Writes `record` as one value and returns the change, which the caller must store in the
    /// same SQLite transaction as the rest of the record's effects. Record ids are unique (the
    /// caller refuses a repeat), so each append adds one record.
    pub fn append(&mut self, record: &Record, at_ms: i64) -> Result<Change> {
        let key = self.id.key();
        let json = record.to_json()?;
        let mut tx = self.doc.transaction();
        tx.put(&self.records, record.header().id.as_str(), json)
            .map_err(|source| Error::automerge(&key, source))?;
        tx.commit_with(CommitOptions::default().with_time(at_ms));
        self.len += 1;
        last_change(&self.doc, &key)
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of sale records held: each record's kind is read, nothing else of it decoded.
    pub fn sales(&self) -> Result<usize> {
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        let key = self.id.key();
        let mut sales = 0;
        for (id, json) in self.record_texts() {
            let Some(json) = json else { continue };
            let k: Kind = serde_json::from_str(&json).map_err(|source| Error::BadRecord {
                key: key.clone(),
                id: id.to_string(),
                source,
            })?;
            sales += usize::from(k.kind == "sale");
        }
        Ok(sales)
    }

    /// Each record's id and text (`None` when not text), in the order of their ids: one walk
    /// over the records map, each text read where it lies (a look-up by id per record took
    /// as long again as decoding them all).
    fn record_texts(&self) -> impl Iterator<Item = (Cow<'_, str>, Option<Cow<'_, str>>)> {
        use automerge::{ScalarValueRef, ValueRef};
        self.doc.map_range(&self.records, ..).map(|item| {
            let text = match item.value {
                ValueRef::Scalar(ScalarValueRef::Str(text)) => Some(text),
                _ => None,
            };
            (item.key, text)
        })
    }

    /// Every record, in the order of their ids.
    pub fn records(&self) -> Result<Vec<Record>> {
        let key = self.id.key();
        self.record_texts()
            .map(|(id, json)| decode_record(&key, &id, json.as_deref()))
            .collect()
    }

    /// The records whose ids are among `ids`, in the order of their ids: the others are not
    /// decoded (what a projection resuming from its heads has applied already, with
    /// [`LedgerDoc::added_since`]).
    pub fn records_among(&self, ids: &HashSet<String>) -> Result<Vec<Record>> {
        let key = self.id.key();
        self.record_texts()
            .filter(|(id, _)| ids.contains(id.as_ref()))
            .map(|(id, json)| decode_record(&key, &id, json.as_deref()))
            .collect()
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Why this ledger did not only grow since `heads`, or `None` (always for `&[]`): see
    /// [`LedgerDoc::added_since`].
    pub fn why_not_grown_since(&self, heads: &[ChangeHash]) -> Result<Option<String>> {
        if heads.is_empty() {
            return Ok(None);
        }
        Ok(self.added_since(heads)?.err())
    }

    /// The ids of the records written after `heads` (all of them for `&[]`), from the
    /// document's diff: what a projection that has applied up to `heads` has still to apply.
    /// Or why the ledger did not only grow since (each change after the genesis puts new
    /// records, as a till writes them): a record removed or written over, or the records map
    /// replaced. Headquarters keeps what it projected up to `heads` whatever the ledger holds
    /// later, so a ledger that shrank would hide records it counts from every check of the
    /// whole ledger (what its records come to, [`crate::plausible::Weight`]). Reads the diff,
    /// not the records.
    pub fn added_since(
        &self,
        heads: &[ChangeHash],
    ) -> Result<std::result::Result<HashSet<String>, String>> {
        if heads.is_empty() {
            return Ok(Ok(self.doc.keys(&self.records).collect()));
        }
        let key = self.id.key();
        let then = self.doc.get_at(ROOT, "records", heads);
        let same_map = matches!(then, Ok(Some((_, ref obj))) if *obj == self.records);
        if !same_map {
            return Ok(Err(format!(
                "{key}: its records map is not the one it was projected from"
            )));
        }
        let patches = self
            .doc
            .diff_obj(&self.records, heads, &self.doc.get_heads(), false)
            .map_err(|e| Error::automerge(&key, e))?;
        let mut added = HashSet::with_capacity(patches.len());
        for patch in patches {
            match patch.action {
                automerge::PatchAction::PutMap { key: id, .. } => added.insert(id),
                _ => return Ok(Err(format!("{key}: a record projected was removed"))),
            };
        }
        // Each put a new record: one written over does not add to the count.
        if self.doc.length_at(&self.records, heads) + added.len() != self.len {
            return Ok(Err(format!("{key}: a record projected was written over")));
        }
        Ok(Ok(added))
    }

    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// The object id of its records map, as text (`2@<actor>`): what, with its key, a
    /// reader of its later changes needs ([`crate::ledger_changes::ChangeReader`]).
    pub fn records_map(&self) -> String {
        self.records.to_string()
    }
}

/// The record stored under `id` in ledger `key`: text (`json`) that decodes to a record
/// which says it is `id`.
pub(crate) fn decode_record(key: &str, id: &str, json: Option<&str>) -> Result<Record> {
    let Some(json) = json else {
        return Err(Error::NotALedger {
            key: key.to_string(),
            why: format!("record {id} is not text"),
        });
    };
    let record = Record::from_json(json).map_err(|source| Error::BadRecord {
        key: key.to_string(),
        id: id.to_string(),
        source,
    })?;
    if record.header().id != id {
        return Err(Error::NotALedger {
            key: key.to_string(),
            why: format!("record stored under {id} says it is {}", record.header().id),
        });
    }
    Ok(record)
}

fn last_change(doc: &Automerge, key: &str) -> Result<Change> {
    doc.get_last_local_change()
        .ok_or_else(|| Error::NotALedger {
            key: key.to_string(),
            why: "the change just made cannot be found".into(),
        })
}

/// The heads `text` ([`heads_text`]) names that `doc` holds: where a projection of `doc`
/// resumes (changes they do not cover are new to it).
pub fn heads_held(doc: &Automerge, text: &str) -> Vec<ChangeHash> {
    text.split(',')
        .filter_map(|h| h.parse().ok())
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .collect()
}

/// Heads as stored and compared: lowercase hex hashes, sorted, comma-separated.
pub fn heads_text(heads: &[ChangeHash]) -> String {
    let mut hex: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    hex.sort();
    hex.join(",")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{CashMoveRecord, Header};

    pub(crate) fn id() -> LedgerId {
        LedgerId {
            fair: "demo".into(),
            device: "T01".into(),
            day: "2026-11-22".into(),
        }
    }

    pub(crate) fn cash(seq: u64) -> Record {
        Record::CashMove(CashMoveRecord {
            header: Header {
                id: format!("id-{seq:04}"),
                device: "T01".into(),
                seq,
                at: "2026-11-22T10:00:00+08:00".into(),
            },
            shift: "s".into(),
            amount_fen: 100,
            reason: "r".into(),
        })
    }

    #[test]
    fn changes_replayed_in_a_fresh_document_give_the_same_records() {
        let (mut doc, genesis) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        let mut changes = vec![genesis];
        for seq in 1..=3 {
            changes.push(doc.append(&cash(seq), 1).unwrap());
        }
        let mut replay = Automerge::new();
        for c in &changes {
            replay.load_incremental(c.raw_bytes()).unwrap();
        }
        let replay = LedgerDoc::open(id(), replay).unwrap();
        assert_eq!(replay.records().unwrap(), doc.records().unwrap());
        assert_eq!(replay.len(), 3);
    }

    #[test]
    fn a_document_for_another_device_is_refused() {
        let (doc, _) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        let bytes = doc.automerge().save();
        let mut other = id();
        other.device = "T02".into();
        let err = LedgerDoc::open(other, Automerge::load(&bytes).unwrap())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("`device` is T01, expected T02"),
            "{err}"
        );
    }

    #[test]
    fn added_since_gives_the_ids_of_what_was_added_after_some_heads() {
        let (mut doc, _) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        doc.append(&cash(1), 0).unwrap();
        let heads = doc.heads();
        doc.append(&cash(2), 0).unwrap();
        doc.append(&cash(3), 0).unwrap();
        let mut later: Vec<String> = doc
            .added_since(&heads)
            .unwrap()
            .unwrap()
            .into_iter()
            .collect();
        later.sort();
        assert_eq!(later, vec!["id-0002", "id-0003"]);
        // Those, and only those, read: as they are among every record.
        let added = doc.added_since(&heads).unwrap().unwrap();
        assert_eq!(
            doc.records_among(&added).unwrap(),
            doc.records().unwrap()[1..]
        );
        assert!(doc.records_among(&HashSet::new()).unwrap().is_empty());
        assert_eq!(doc.added_since(&[]).unwrap().unwrap().len(), 3);
        assert!(doc.added_since(&doc.heads()).unwrap().unwrap().is_empty());
    }

    /// A ledger that only grew since some heads passes; one whose record was removed or
    /// written over since, or whose records map was replaced, is named, however many records
    /// it holds now.
    #[test]
    fn a_ledger_that_did_not_only_grow_since_some_heads_is_named() {
        let (mut doc, _) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
        doc.append(&cash(1), 0).unwrap();
        doc.append(&cash(2), 0).unwrap();
        let heads = doc.heads();
        assert_eq!(doc.why_not_grown_since(&heads).unwrap(), None);
        doc.append(&cash(3), 0).unwrap();
        assert_eq!(doc.why_not_grown_since(&heads).unwrap(), None);
        assert_eq!(doc.why_not_grown_since(&[]).unwrap(), None);
        // The same document changed by its own actor after `heads`, then opened again.
        let changed = |change: &dyn Fn(&mut automerge::transaction::Transaction<'_>, &ObjId)| {
            let mut am = doc.automerge().clone();
            let mut tx = am.transaction();
            let (_, records) = tx.get(ROOT, "records").unwrap().unwrap();
            change(&mut tx, &records);
            tx.commit();
            let doc = LedgerDoc::open(id(), am).unwrap();
            doc.why_not_grown_since(&heads).unwrap().unwrap_or_default()
        };
        let removed = changed(&|tx, records| tx.delete(records, "id-0001").unwrap());
        assert!(
            removed.ends_with("a record projected was removed"),
            "{removed}"
        );
        // Removed, and as many added: the count alone would not tell.
        let swapped = changed(&|tx, records| {
            tx.delete(records, "id-0001").unwrap();
            tx.put(records, "id-0009", cash(9).to_json().unwrap())
                .unwrap();
        });
        assert!(
            swapped.ends_with("a record projected was removed"),
            "{swapped}"
        );
        let over = changed(&|tx, records| tx.put(records, "id-0002", "{}").unwrap());
        assert!(
            over.ends_with("a record projected was written over"),
            "{over}"
        );
        let replaced = changed(&|tx, _| {
            let records = tx.put_object(ROOT, "records", ObjType::Map).unwrap();
            for seq in 1..=4 {
                tx.put(
                    &records,
                    format!("id-{seq:04}"),
                    cash(seq).to_json().unwrap(),
                )
                .unwrap();
            }
        });
        assert!(
            replaced.ends_with("is not the one it was projected from"),
            "{replaced}"
        );
    }

    #[test]
    fn keys_round_trip() {
        assert_eq!(LedgerId::from_key(&id().key()), Some(id()));
        assert_eq!(LedgerId::from_key("catalog/demo"), None);
        assert!(is_day("2026-11-22") && is_day("2028-02-29"));
        for not in [
            "2026-13-45",
            "2026-1-5",
            "2026-11-22x",
            "=1+1",
            "",
            "2027-02-29",
        ] {
            assert!(!is_day(not), "{not:?}");
        }
    }
}
