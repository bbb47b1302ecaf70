//! What a ledger's records come to (the day's bound): amounts no till writes refused, the
//! bound counted on the change path and by a projector that resumes, and the weight stored
//! with the heads it describes.

use super::*;
use fairpos_sync::plausible::Weight;

/// A cash movement of `i64::MAX` fen, on the change path and then in a ledger read whole:
/// refused, nothing of it projected, where it wrapped the drawer's sums.
#[test]
fn an_amount_no_till_writes_is_refused() {
    let (mut f, mut p) = Fixture::projected_once();
    f.seq += 1;
    let mut forged = cash_move(f.seq, f.seq);
    if let Record::CashMove(m) = &mut forged {
        m.amount_fen = i64::MAX;
    }
    let change = f.ledger.append(&forged, 0).unwrap();
    f.store_change(&change);
    let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
    let refused = |outcome: &Outcome| {
        matches!(outcome, Outcome::Refused(why)
            if why.contains("amount_fen 9223372036854775807 is beyond what a till takes"))
    };
    assert!(refused(&outcome), "{outcome:?}");
    assert_eq!(f.projected(), 1);
    // Read whole by a projector that starts afresh: refused the same.
    let mut fresh = Projector::new();
    let outcome = fresh.project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    assert_eq!(f.projected(), 1);
}

/// One more cash movement of T01 at the largest amount a record may name, in and out by turns,
/// stored as a change.
fn largest(f: &mut Fixture) {
    f.seq += 1;
    let mut record = cash_move(f.seq, f.seq);
    if let Record::CashMove(m) = &mut record {
        let max = fairpos_sync::plausible::MAX_FEN;
        m.amount_fen = if f.seq.is_multiple_of(2) { max } else { -max };
    }
    let change = f.ledger.append(&record, 0).unwrap();
    f.store_change(&change);
}

/// Cash movements each within a record's bound that together come to more than a till takes
/// in a day: the one that takes the ledger past it is refused on the change path, and so by a
/// projector that starts afresh and resumes from the heads projected before, counting what
/// they hold. Nothing of it is projected.
#[test]
fn a_ledger_whose_amounts_come_to_more_than_a_tills_day_is_refused() {
    use fairpos_sync::plausible::{MAX_FEN, MAX_LEDGER_FEN};
    let (mut f, mut p) = Fixture::projected_once();
    // The one movement of 100 fen and nine at the bound, either way: within the day's.
    let within = MAX_LEDGER_FEN / MAX_FEN as u64 - 1;
    for _ in 0..within {
        largest(&mut f);
    }
    let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(new_records(outcome), within as usize);
    largest(&mut f);
    let refused = |outcome: &Outcome| {
        matches!(outcome, Outcome::Refused(why)
            if why.contains(&format!("by its size, come to {} fen,", MAX_LEDGER_FEN + 100)))
    };
    let mut fresh = Projector::new();
    let outcome = fresh.project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    let outcome = p.project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    assert_eq!(f.projected(), 1 + within as i64);

    // What the records projected come to is stored with their heads: a projector starting
    // afresh reads only the records added since. Where it is not known (a build before
    // stored none), the ledger is read whole and refused as well.
    let stored = |fen: Option<i64>| {
        f.hq.conn
            .execute(
                "UPDATE hq_docs SET weight_fen = ?1 WHERE device = 'T01'",
                [fen],
            )
            .unwrap();
    };
    stored(None);
    let outcome = Projector::new().project(&f.hq.conn, &f.doc_id).unwrap();
    assert!(refused(&outcome), "{outcome:?}");
    // So is one stored with other heads than those projected (a build before, run since,
    // projected it further alone), and one whose document lacks a head projected: each is
    // read whole, as it would be counted short from those heads.
    let unknown_head = "ff".repeat(32);
    for (heads, weight_heads) in [
        ("heads", "'other heads than ' || ?1"),
        ("heads || ',' || ?1", "heads || ',' || ?1"),
    ] {
        let sql = format!(
            "UPDATE hq_docs SET weight_fen = 0, heads = {heads}, weight_heads = {weight_heads}
             WHERE device = 'T01'"
        );
        f.hq.conn.execute(&sql, [&unknown_head]).unwrap();
        let outcome = Projector::new().project(&f.hq.conn, &f.doc_id).unwrap();
        assert!(refused(&outcome), "{heads}: {outcome:?}");
    }
    let put_back = "UPDATE hq_docs SET heads = replace(heads, ',' || ?1, ''), weight_heads = \
                    replace(heads, ',' || ?1, '') WHERE device = 'T01'";
    f.hq.conn.execute(put_back, [&unknown_head]).unwrap();
    // Told that the records projected came to nothing, it takes the new movement alone: it
    // read none of the others (the test's way to see it).
    stored(Some(0));
    let outcome = Projector::new().project(&f.hq.conn, &f.doc_id).unwrap();
    assert_eq!(new_records(outcome), 1);
    let told = Weight {
        fen: MAX_FEN as u64,
        qty: 0,
    };
    assert_eq!(weight_stored(&f), Some(told));
}

/// What T01's ledger's records come to, as stored with its heads.
fn weight_stored(f: &Fixture) -> Option<Weight> {
    stored_projection(&f.hq.conn, &f.doc_id).unwrap().1
}

/// What a ledger's records come to is stored with its heads, by a projection of the whole
/// document as by the projector, and counts each amount by its size.
#[test]
fn what_a_ledgers_records_come_to_is_stored_with_its_heads() {
    let (mut f, mut p) = Fixture::projected_once();
    let first = Weight::of(&f.ledger.records().unwrap());
    assert_eq!(weight_stored(&f), Some(first));
    let change = f.cash_in();
    f.store_change(&change);
    assert_eq!(new_records(p.project(&f.hq.conn, &f.doc_id).unwrap()), 1);
    let both = Weight::of(&f.ledger.records().unwrap());
    assert!(both.fen > first.fen, "{both:?}");
    assert_eq!(weight_stored(&f), Some(both));
    f.hq.conn
        .execute(
            "UPDATE hq_docs SET weight_fen = NULL, weight_qty = NULL WHERE device = 'T01'",
            [],
        )
        .unwrap();
    assert_eq!(new_records(project(&f.hq.conn, &f.doc_id).unwrap()), 0);
    assert_eq!(weight_stored(&f), Some(both));
}

/// A headquarters from before the ledgers' weights, or from before the heads they describe,
/// gains the columns it lacks when opened; its ledgers are read whole at their next
/// projection, which stores what they come to.
#[test]
fn a_headquarters_from_before_the_weights_reads_its_ledgers_whole_once() {
    for dropped in ["weight_fen, weight_qty, weight_heads", "weight_heads"] {
        let (mut f, _) = Fixture::projected_once();
        for column in dropped.split(", ") {
            let drop = format!("ALTER TABLE hq_docs DROP COLUMN {column}");
            f.hq.conn.execute_batch(&drop).unwrap();
        }
        let reopened = Hq::open(f.dir.path()).unwrap();
        let (_, weight) = stored_projection(&reopened.conn, &f.doc_id).unwrap();
        assert_eq!(weight, None, "{dropped}");
        let change = f.cash_in();
        f.store_change(&change);
        let outcome = Projector::new().project(&reopened.conn, &f.doc_id).unwrap();
        assert_eq!(new_records(outcome), 1);
        let every = Weight::of(&f.ledger.records().unwrap());
        let (_, weight) = stored_projection(&reopened.conn, &f.doc_id).unwrap();
        assert_eq!(weight, Some(every), "{dropped}");
    }
}
