use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ReadDoc, ROOT};

use super::*;
use crate::ledger::tests::{cash, id};
use crate::LedgerDoc;

/// A ledger of `n` cash moves, and the changes that wrote them after its genesis.
fn ledger(n: u64) -> (LedgerDoc, Vec<Change>) {
    let (mut doc, _) = LedgerDoc::create(id(), ActorId::random(), 0).unwrap();
    let changes = (1..=n)
        .map(|seq| doc.append(&cash(seq), 1).unwrap())
        .collect();
    (doc, changes)
}

#[test]
fn changes_appended_after_some_heads_give_their_records_heads_and_author() {
    let (mut doc, _) = ledger(1);
    let reader = ChangeReader::of(&doc);
    let heads = doc.heads();
    let later: Vec<Change> = (2..=4)
        .map(|seq| doc.append(&cash(seq), 1).unwrap())
        .collect();
    // Given in any order, read in causal order.
    let shuffled = vec![later[2].clone(), later[0].clone(), later[1].clone()];
    let appended = reader.appended(&heads, shuffled).unwrap().unwrap();
    assert_eq!(appended.records, vec![cash(2), cash(3), cash(4)]);
    assert_eq!(appended.heads, doc.heads());
    let actor = doc.automerge().get_actor().to_hex_string();
    assert_eq!(appended.authors, BTreeSet::from([actor]));
    // A reader made again from its key and records map reads the same.
    let again = ChangeReader::new(doc.id().key(), doc.records_map());
    assert_eq!(again.appended(&heads, later).unwrap(), Some(appended));
}

#[test]
fn a_change_among_the_heads_is_passed_over_and_none_adds_nothing() {
    let (doc, changes) = ledger(2);
    let reader = ChangeReader::of(&doc);
    let at_heads = changes[1].clone();
    let appended = reader.appended(&doc.heads(), vec![at_heads]).unwrap();
    let appended = appended.expect("the change at the heads is passed over");
    assert!(appended.records.is_empty());
    assert_eq!(appended.heads, doc.heads());
    let nothing = reader.appended(&doc.heads(), Vec::new()).unwrap().unwrap();
    assert!(nothing.records.is_empty() && nothing.authors.is_empty());
    // One before the heads is not among them: it needs the document.
    let before = changes[0].clone();
    assert_eq!(reader.appended(&doc.heads(), vec![before]).unwrap(), None);
}

#[test]
fn a_change_whose_dependency_is_missing_waits_and_alone_needs_the_document() {
    let (mut doc, _) = ledger(1);
    let reader = ChangeReader::of(&doc);
    let heads = doc.heads();
    let next = doc.append(&cash(2), 1).unwrap();
    let after_next = doc.append(&cash(3), 1).unwrap();
    let last = doc.append(&cash(4), 1).unwrap();
    // Alone, whether what it waits for is stored at all only the document can tell.
    assert_eq!(
        reader.appended(&heads, vec![after_next.clone()]).unwrap(),
        None
    );
    // After one that is ready, it waits; what is ready is read.
    let appended = reader
        .appended(&heads, vec![last.clone(), next.clone()])
        .unwrap()
        .unwrap();
    assert_eq!(appended.records, vec![cash(2)]);
    assert_eq!(appended.heads, vec![next.hash()]);
    assert_eq!(appended.waiting, vec![last.hash()]);
    // With what it waited for, it is read in turn.
    let appended = reader
        .appended(&appended.heads, vec![last, after_next])
        .unwrap()
        .unwrap();
    assert_eq!(appended.records, vec![cash(3), cash(4)]);
    assert_eq!(appended.heads, doc.heads());
    assert!(appended.waiting.is_empty());
    // Nor does one read from heads that are not the ledger's (an older one among them).
    let (doc, changes) = ledger(3);
    let stale = [changes[0].hash()];
    let later = changes[2].clone();
    assert_eq!(
        ChangeReader::of(&doc)
            .appended(&stale, vec![later])
            .unwrap(),
        None
    );
}

#[test]
fn a_change_that_writes_over_a_record_needs_the_document() {
    let (doc, _) = ledger(2);
    let reader = ChangeReader::of(&doc);
    let heads = doc.heads();
    let mut am: Automerge = doc.automerge().clone();
    let (_, records) = am.get(ROOT, "records").unwrap().unwrap();
    let mut other = cash(1);
    if let Record::CashMove(m) = &mut other {
        m.amount_fen = 1;
    }
    let mut tx = am.transaction();
    tx.put(&records, "id-0001", other.to_json().unwrap())
        .unwrap();
    tx.commit();
    let over = am.get_last_local_change().unwrap().clone();
    assert!(!heads.contains(&over.hash()), "a change made");
    assert_eq!(reader.appended(&heads, vec![over]).unwrap(), None);
}

#[test]
fn changes_come_in_causal_order_and_those_waiting_are_named() {
    let (_, changes) = ledger(4);
    let mut known = HashSet::from([changes[0].hash()]);
    let given = vec![
        changes[3].clone(),
        changes[1].clone(),
        changes[0].clone(),
        changes[2].clone(),
    ];
    let (ready, waiting) = in_causal_order(given, &mut known);
    let hashes = |cs: &[Change]| cs.iter().map(Change::hash).collect::<Vec<_>>();
    assert_eq!(hashes(&ready), hashes(&changes[1..]));
    assert!(waiting.is_empty());
    assert_eq!(known.len(), 4);

    let mut known = HashSet::from([changes[0].hash()]);
    let (ready, waiting) = in_causal_order(vec![changes[2].clone()], &mut known);
    assert!(ready.is_empty());
    assert_eq!(hashes(&waiting), [changes[2].hash()]);
}

#[test]
fn a_change_concurrent_with_a_head_needs_the_document() {
    // Two heads: the ledger's next change, and one made beside it from the same state.
    let (mut doc, _) = ledger(1);
    let reader = ChangeReader::of(&doc);
    let mut beside: Automerge = doc.automerge().fork();
    let next = doc.append(&cash(2), 1).unwrap();
    let (_, records) = beside.get(ROOT, "records").unwrap().unwrap();
    let mut tx = beside.transaction();
    tx.put(&records, "id-0003", cash(3).to_json().unwrap())
        .unwrap();
    tx.commit();
    let concurrent = beside.get_last_local_change().unwrap().clone();
    let mut both = doc.automerge().clone();
    both.apply_changes([concurrent.clone()]).unwrap();
    let heads = both.get_heads();
    assert_eq!(heads.len(), 2);
    // A change after only one of them does not follow both.
    let mut after = doc.automerge().clone();
    let mut tx = after.transaction();
    tx.put(&records, "id-0004", cash(4).to_json().unwrap())
        .unwrap();
    tx.commit();
    let after_one = after.get_last_local_change().unwrap().clone();
    assert_eq!(after_one.deps(), [next.hash()]);
    assert_eq!(reader.appended(&heads, vec![after_one]).unwrap(), None);
}

#[test]
fn chunks_are_read_as_one_change_each_after_heads_as_stored() {
    let (mut doc, _) = ledger(1);
    let reader = ChangeReader::of(&doc);
    let heads = crate::ledger::heads_text(&doc.heads());
    let c2 = doc.append(&cash(2), 1).unwrap();
    let c3 = doc.append(&cash(3), 1).unwrap();
    let c4 = doc.append(&cash(4), 1).unwrap();
    let chunk = |name: &str, c: &Change| (name.to_string(), c.raw_bytes().to_vec());
    let chunks = vec![chunk("c2", &c2), chunk("c3", &c3)];
    let read = reader.appended_chunks(&heads, chunks.clone()).unwrap();
    let read = read.unwrap();
    assert_eq!(read.appended.records, vec![cash(2), cash(3)]);
    assert!(read.waiting.is_empty());
    // A chunk whose change waits (the one before it not given) is named.
    let gap = vec![chunk("c2", &c2), chunk("c4", &c4)];
    let read = reader.appended_chunks(&heads, gap).unwrap().unwrap();
    assert_eq!(read.appended.records, vec![cash(2)]);
    assert_eq!(read.waiting, ["c4"]);
    // Two changes in one chunk, heads that are not hashes: not read.
    let both = [c2.raw_bytes(), c3.raw_bytes()].concat();
    let one = vec![("both".to_string(), both)];
    assert_eq!(reader.appended_chunks(&heads, one).unwrap(), None);
    assert_eq!(reader.appended_chunks("", chunks.clone()).unwrap(), None);
    assert_eq!(reader.appended_chunks("not a hash", chunks).unwrap(), None);
}
