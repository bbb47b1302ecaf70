//! The projector against ledgers stored as samod stores them.

use fairpos_sync::ids::document_id;
use fairpos_sync::record::{CashMoveRecord, Header};
use fairpos_sync::samod_storage::put_chunk;
use fairpos_sync::ActorId;

use super::*;
use automerge::Change;
use fairpos_domain::demo;
use fairpos_sync::LedgerId;

mod hubs;
mod sale_ids;
mod weights;

/// Headquarters in a temporary directory, with till T01 enrolled as `actor` and its
/// ledger for one day announced and stored as a snapshot of its first `n` records.
struct Fixture {
    dir: tempfile::TempDir,
    hq: Hq,
    ledger: LedgerDoc,
    doc_id: DocumentId,
    seq: u64,
}

impl Fixture {
    fn new(actor: &ActorId) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let hq = Hq::init(
            dir.path(),
            demo::FAIR_TOML,
            crate::Founding::Hq {
                organizer_password: "organizer-pw",
            },
        )
        .unwrap();
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
            dir,
            hq,
            ledger,
            doc_id,
            seq: 0,
        }
    }

    /// One more cash movement in the ledger; returns its change.
    fn cash_in(&mut self) -> Change {
        self.seq += 1;
        let record = cash_move(self.seq, self.seq);
        self.ledger.append(&record, 0).unwrap()
    }

    /// T01's ledger of another `day`, announced and stored whole, holding a cash movement
    /// for each `(seq, id)`.
    fn other_day(&self, day: &str, actor: &ActorId, records: &[(u64, u64)]) -> DocumentId {
        let id = LedgerId {
            fair: self.hq.fair.id.clone(),
            device: "T01".into(),
            day: day.into(),
        };
        let doc_id = document_id(&id.key());
        self.hq
            .conn
            .execute(
                "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
                 VALUES (?1, ?2, 'T01', '', 0, 'now')",
                params![doc_id.to_string(), id.key()],
            )
            .unwrap();
        let (mut ledger, _) = LedgerDoc::create(id, actor.clone(), 0).unwrap();
        for &(seq, n) in records {
            ledger.append(&cash_move(seq, n), 0).unwrap();
        }
        let bytes = ledger.automerge().save();
        put_chunk(&self.hq.conn, &doc_id, "snapshot", day, &bytes).unwrap();
        doc_id
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

    /// A fixture of a random actor whose ledger, one cash movement stored as a snapshot, a
    /// projector has projected.
    fn projected_once() -> (Fixture, Projector) {
        let mut f = Fixture::new(&ActorId::random());
        f.cash_in();
        f.store_snapshot("first");
        let mut p = Projector::new();
        p.project(&f.hq.conn, &f.doc_id).unwrap();
        (f, p)
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

/// Cash movement number `n` of T01, at sequence number `seq`.
fn cash_move(seq: u64, n: u64) -> Record {
    Record::CashMove(CashMoveRecord {
        header: Header {
            id: format!("00000000-0000-7000-8000-{n:012}"),
            device: "T01".into(),
            seq,
            at: "2026-11-22T10:00:00+08:00".into(),
        },
        shift: "s".into(),
        amount_fen: 100,
        reason: "float".into(),
    })
}

/// New records of a ledger projected, and whether its document was loaded to project them.
fn projected_how(outcome: Outcome) -> (usize, bool) {
    match outcome {
        Outcome::Projected {
            new_records,
            document_loaded,
            ..
        } => (new_records, document_loaded),
        other => panic!("not projected: {other:?}"),
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
    let first = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(first), (1, true), "the document loaded");

    // Three more changes; samod stores each under its hash, so they come in any order.
    let c2 = f.cash_in();
    let c3 = f.cash_in();
    let c4 = f.cash_in();
    f.store_change(&c4);
    f.store_change(&c3);
    let waiting = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(waiting), (0, false), "read on their own");
    assert_eq!(f.projected(), 1, "nothing applied before its dependency");
    f.store_change(&c2);
    let all = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(all), (3, false));
    assert_eq!(f.projected(), 4);

    // samod compacts: a snapshot holding one more change sends the projector back to
    // the document, which takes only what is new.
    f.cash_in();
    f.store_snapshot("compacted");
    let compacted = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(compacted), (1, true));
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
    let (mut f, mut p) = Fixture::projected_once();
    f.ledger.set_actor(ActorId::random());
    let forged = f.cash_in();
    f.store_change(&forged);
    assert_eq!(backlog(&f.hq.conn).unwrap(), 1, "the forged change stored");
    let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(
        matches!(&outcome, Outcome::Refused(why) if why.contains("forged ledger change")),
        "{outcome:?}"
    );
    assert_eq!(f.projected(), 1);
    // Refused, it is not waiting for the projection.
    assert_eq!(backlog(&f.hq.conn).unwrap(), 0);
}

/// A change of the till's own that removes a record projected (so that the ledger's later
/// records would be counted against its day without it): refused on the change path, and by
/// a projector that starts afresh. The record stays projected.
#[test]
fn a_change_removing_a_projected_record_is_refused() {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let (f, mut p) = Fixture::projected_once();
    let mut shrunk = f.ledger.automerge().clone();
    let mut tx = shrunk.transaction();
    let (_, records) = tx.get(automerge::ROOT, "records").unwrap().unwrap();
    tx.delete(&records, "00000000-0000-7000-8000-000000000001")
        .unwrap();
    tx.commit();
    f.store_change(&shrunk.get_last_local_change().unwrap());
    let refused = |outcome: &Outcome| matches!(outcome, Outcome::Refused(why) if why.ends_with("a record projected was removed"));
    let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    let outcome = Projector::new().project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    assert_eq!(f.projected(), 1);
}

/// A pass over several ledgers runs without savepoints. A ledger failing in it (here one that
/// reuses another day's sequence number) rolls the pass back, and the pass runs again with
/// each ledger on its own: the other ledgers are projected, nothing of the failing one is, and
/// it is refused (it would fail at every try), as on PostgreSQL; the next pass with that
/// ledger goes ledger by ledger from the start.
#[test]
fn a_ledger_contradicting_the_projection_in_a_pass_is_refused_and_the_others_projected() {
    let actor = ActorId::random();
    let mut f = Fixture::new(&actor);
    for _ in 0..3 {
        f.cash_in();
    }
    f.store_snapshot("first-day");
    let reusing = f.other_day("2026-11-23", &actor, &[(4, 4), (2, 102), (5, 5)]);
    let fine = f.other_day("2026-11-24", &actor, &[(6, 6), (7, 7)]);
    let docs = [f.doc_id.clone(), reusing, fine];
    let mut p = Projector::new();
    for pass in 0..2 {
        let outcomes = p.project_all(&f.hq.conn, &docs).unwrap();
        let mut outcomes = outcomes.into_iter();
        let first = outcomes.next().unwrap().unwrap();
        let refused = outcomes.next().unwrap().unwrap();
        let last = outcomes.next().unwrap().unwrap();
        let expected = if pass == 0 { (3, 2) } else { (0, 0) };
        assert_eq!(
            (new_records(first), new_records(last)),
            expected,
            "pass {pass}"
        );
        // Refused, not failed: it would fail at every try.
        let Outcome::Refused(why) = refused else {
            panic!("pass {pass}: {refused:?}")
        };
        let said = if pass == 0 {
            "reuses sequence number 2"
        } else {
            "refused before"
        };
        assert!(why.contains(said), "pass {pass}: {why}");
        let stored: Option<String> =
            f.hq.conn
                .query_row(
                    "SELECT refused FROM hq_docs WHERE doc_id = ?1",
                    [docs[1].to_string()],
                    |r| r.get(0),
                )
                .unwrap();
        assert!(
            stored.is_some_and(|why| why.contains("reuses sequence number 2")),
            "pass {pass}"
        );
        let ids: Vec<String> =
            f.hq.conn
                .prepare("SELECT id FROM cash_moves ORDER BY id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
        let numbers: Vec<&str> = ids.iter().map(|id| &id[id.len() - 3..]).collect();
        assert_eq!(numbers, ["001", "002", "003", "006", "007"], "pass {pass}");
    }
}

/// A start takes the ledgers stored since their projection (by their chunk keys' digest), and
/// those whose digest was never recorded; not the ones projected from what is stored, whether
/// by the document path or the change path.
#[test]
fn a_start_takes_only_the_ledgers_stored_since_their_projection() {
    let actor = ActorId::random();
    let mut f = Fixture::new(&actor);
    for _ in 0..3 {
        f.cash_in();
    }
    f.store_snapshot("first");
    let other = f.other_day("2026-11-23", &actor, &[(10, 10), (11, 11)]);
    // The catalog is not projected: every start takes it.
    let catalog = document_id(&fairpos_sync::ids::catalog_key(&f.hq.fair.id));
    // A start takes `ledgers` and the catalog, no more.
    let takes = |f: &Fixture, ledgers: &[&DocumentId], when: &str| {
        let mut taken = stored_since_projected(&f.hq.conn).unwrap();
        taken.sort_by_key(|d| d.to_string());
        let mut expected: Vec<DocumentId> = ledgers.iter().map(|&d| d.clone()).collect();
        expected.push(catalog.clone());
        expected.sort_by_key(|d| d.to_string());
        assert_eq!(taken, expected, "{when}");
        // The backlog is those ledgers; the catalog is never projected, so not counted.
        assert_eq!(
            backlog(&f.hq.conn).unwrap(),
            ledgers.len(),
            "backlog {when}"
        );
    };
    takes(&f, &[&f.doc_id, &other], "never projected");

    let mut p = Projector::new();
    for outcome in p
        .project_all(&f.hq.conn, &[f.doc_id.clone(), other.clone()])
        .unwrap()
    {
        outcome.unwrap();
    }
    takes(&f, &[], "projected from storage");

    // Stored, and the process stops before projecting it.
    let change = f.cash_in();
    f.store_change(&change);
    takes(&f, &[&f.doc_id], "a change stored since");
    // The change path records the keys it read.
    assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 1);
    takes(&f, &[], "the change projected");

    // Stored since, and projected whole from what is stored (as a bundle's import does):
    // which chunks it was read from is recorded too.
    let id = LedgerId {
        fair: f.hq.fair.id.clone(),
        device: "T01".into(),
        day: "2026-11-23".into(),
    };
    let stored = fairpos_sync::samod_storage::load_document(&f.hq.conn, &other)
        .unwrap()
        .unwrap();
    let mut more = LedgerDoc::open(id, stored).unwrap();
    more.set_actor(actor.clone());
    more.append(&cash_move(12, 12), 0).unwrap();
    let bytes = more.automerge().save();
    put_chunk(&f.hq.conn, &other, "snapshot", "more", &bytes).unwrap();
    takes(&f, &[&other], "a snapshot stored since");
    assert_eq!(new_records(project(&f.hq.conn, &other).unwrap()), 1);
    takes(&f, &[], "projected whole from storage");
    assert_eq!(f.projected(), 7);
}

/// A headquarters from before the digest gains its column when opened, and its ledgers are
/// taken at the next start.
#[test]
fn a_headquarters_from_before_the_digest_takes_its_ledgers_once_more() {
    let actor = ActorId::random();
    let mut f = Fixture::new(&actor);
    f.cash_in();
    f.store_snapshot("first");
    new_records(Projector::new().project(&f.hq.conn, &f.doc_id).unwrap());
    f.hq.conn
        .execute_batch("ALTER TABLE hq_docs DROP COLUMN chunks_digest")
        .unwrap();
    let reopened = Hq::open(f.dir.path()).unwrap();
    let taken = stored_since_projected(&reopened.conn).unwrap();
    assert!(taken.contains(&f.doc_id), "{taken:?}");
}

/// A stored snapshot that does not load fails the ledger's projection with the chunk's key
/// and automerge's reason, and projects nothing of it.
#[test]
fn a_corrupt_snapshot_fails_with_automerges_reason() {
    let actor = ActorId::random();
    let mut f = Fixture::new(&actor);
    f.cash_in();
    let torn = b"\x85\x6f\x4a\x83 not a document";
    put_chunk(&f.hq.conn, &f.doc_id, "snapshot", "torn", torn).unwrap();
    let shown = Projector::new()
        .project(&f.hq.conn, &f.doc_id)
        .unwrap_err()
        .to_string();
    assert!(shown.contains("snapshot/torn"), "{shown}");
    assert!(shown.contains("unable to parse chunk"), "{shown}");
    assert_eq!(f.projected(), 0);
}

/// samod compacts by storing a snapshot and then deleting the chunks it holds. A projection
/// that read the keys in between recorded chunks deleted since: the ledger reads as waiting
/// (the backlog) until it is projected again, which a delete wakes, and then not, with no
/// record added.
#[test]
fn a_compactions_deletes_leave_the_ledger_waiting_until_it_is_projected_again() {
    let actor = ActorId::random();
    let mut f = Fixture::new(&actor);
    f.cash_in();
    f.store_snapshot("first");
    let mut deleted = vec![format!("{}/snapshot/first", f.doc_id)];
    for _ in 0..2 {
        let change = f.cash_in();
        f.store_change(&change);
        deleted.push(format!("{}/incremental/{}", f.doc_id, change.hash()));
    }
    let mut p = Projector::new();
    assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 3);
    // The compaction's snapshot, projected before its deletes.
    f.store_snapshot("compacted");
    assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 0);
    assert_eq!(backlog(&f.hq.conn).unwrap(), 0);
    for key in &deleted {
        f.hq.conn
            .execute("DELETE FROM samod_kv WHERE key = ?1", [key])
            .unwrap();
    }
    assert_eq!(backlog(&f.hq.conn).unwrap(), 1, "chunks deleted since");
    assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 0);
    assert_eq!(backlog(&f.hq.conn).unwrap(), 0, "projected again");
    assert_eq!(f.projected(), 3);
}

/// Sales whose void or refund was projected first (another ledger's, or earlier in their own
/// ledger's batch) count in the roll-up as a scan of every sale counts them, and so do the
/// sales no void or refund names, which the batch counts without looking them up.
#[test]
fn sales_a_void_or_refund_reached_first_count_in_the_roll_up_as_a_scan_counts_them() {
    use fairpos_projection::report::{rolled, scan, Dimension, ReportRow};
    use fairpos_sync::record::{RefundLineRecord, RefundRecord, VoidRecord};
    let fixture = Fixture::new(&ActorId::random());
    let conn = &fixture.hq.conn;
    let id = |n: u64| format!("00000000-0000-7000-8000-{n:012}");
    let header = |seq: u64| Header {
        id: id(seq),
        device: "T01".into(),
        seq,
        at: "2026-11-22T11:00:00+08:00".into(),
    };
    let sale = |n: u64| {
        let mut json: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../fuzz/corpus/ledger_records/sale.json"
        ))
        .unwrap();
        json["id"] = id(n).into();
        json["seq"] = n.into();
        json["sale_seq"] = n.into();
        json["number"] = format!("T01-{n:06}").into();
        Record::from_json(&json.to_string()).unwrap()
    };
    let void = |seq: u64, n: u64| {
        Record::Void(VoidRecord {
            header: header(seq),
            sale: id(n),
            number: format!("T01-{n:06}"),
            shift: "s1".into(),
            reason: "wrong".into(),
        })
    };
    let refund = |seq: u64, n: u64| {
        Record::Refund(RefundRecord {
            header: header(seq),
            number: format!("T01-R{seq:06}"),
            sale: id(n),
            sale_number: format!("T01-{n:06}"),
            shift: "s1".into(),
            method: "wechat".into(),
            amount_fen: 7600,
            lines: vec![RefundLineRecord {
                line: 1,
                sku: "TEA-01".into(),
                qty: 2,
                amount_fen: 7600,
            }],
        })
    };
    let apply = |key: &str, records: &[Record]| {
        let done = Projection {
            heads: &[],
            records: records.len(),
            chunks_digest: None,
            weight: Default::default(),
        };
        apply_records(conn, &fixture.doc_id, key, records, &done).unwrap();
    };
    // A later ledger first: sale 1's void, sale 2's refund.
    apply("later", &[void(101, 1), refund(102, 2)]);
    // Then the sales: sale 4's refund earlier in their batch, sale 3's void after it.
    apply(
        "earlier",
        &[
            refund(103, 4),
            sale(1),
            sale(2),
            sale(3),
            sale(4),
            void(105, 3),
            sale(6),
        ],
    );
    let sorted = |mut rows: Vec<ReportRow>| {
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows
    };
    for by in Dimension::ALL {
        assert_eq!(
            sorted(rolled::rows(conn, by).unwrap()),
            sorted(scan(conn, by).unwrap()),
            "report by {}",
            by.as_str()
        );
    }
    // Sales 2, 4 and 6 stand, two of them refunded a line each.
    let by_stall = fairpos_projection::report::build(conn, Dimension::Stall).unwrap();
    assert_eq!(by_stall.net_fen, 3 * 10600 - 2 * 7600);
}

/// A projector holds so many ledgers at most: one let go of is loaded from storage again
/// when it changes (here, holding none, every pass loads it), and projected the same.
#[test]
fn a_ledger_let_go_of_is_loaded_again_and_projected_the_same() {
    let mut f = Fixture::new(&ActorId::random());
    f.cash_in();
    f.store_snapshot("first");
    let mut holding_none = Projector::holding_at_most(0);
    let first = holding_none.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(first), (1, true));
    let change = f.cash_in();
    f.store_change(&change);
    let again = holding_none.project_all(&f.hq.conn, std::slice::from_ref(&f.doc_id));
    let again = again.unwrap().pop().unwrap().unwrap();
    assert_eq!(
        projected_how(again),
        (1, true),
        "loaded again, as let go of"
    );
    assert_eq!(f.projected(), 2);
    // Holding it, the next change is read on its own.
    let mut holding = Projector::new();
    holding.project(&f.hq.conn, &f.doc_id).unwrap();
    let change = f.cash_in();
    f.store_change(&change);
    let read = holding.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(projected_how(read), (1, false));
}
