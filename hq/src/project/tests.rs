//! The projector against ledgers stored as samod stores them.

use fairpos_sync::ids::document_id;
use fairpos_sync::record::{CashMoveRecord, Header};
use fairpos_sync::samod_storage::put_chunk;
use fairpos_sync::ActorId;

use super::*;
use automerge::Change;
use fairpos_domain::demo;
use fairpos_sync::LedgerId;

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
