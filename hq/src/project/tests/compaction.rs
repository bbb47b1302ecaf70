//! samod's compactions as the projector meets them: a snapshot stored, then the chunks it
//! replaced deleted; and, since samod-core patch 14, the changes new since stored on their
//! own beside it first.

use super::*;

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

/// samod's compaction of a ledger it stored before stores the changes new since on their own
/// beside its snapshot, which it names by the heads they lead to: the projector reads the
/// changes on their own and takes the snapshot as nothing new, also once the chunks it
/// replaced are deleted. A snapshot whose heads the changes read do not lead to (a
/// compaction without them, as upstream samod stores one) loads the document.
#[test]
fn a_compaction_beside_the_changes_it_holds_is_read_without_the_document() {
    let (mut f, mut p) = Fixture::projected_once();
    let c2 = f.cash_in();
    f.store_change(&c2);
    assert_eq!(
        projected_how(p.project(&f.hq.conn, &f.doc_id).unwrap()),
        (1, false)
    );
    let new = [f.cash_in(), f.cash_in()];
    f.store_compaction(&new);
    assert_eq!(
        projected_how(p.project(&f.hq.conn, &f.doc_id).unwrap()),
        (2, false)
    );
    for key in [
        format!("{}/snapshot/first", f.doc_id),
        format!("{}/incremental/{}", f.doc_id, c2.hash()),
    ] {
        let delete = "DELETE FROM samod_kv WHERE key = ?1";
        assert_eq!(f.hq.conn.execute(delete, [key]).unwrap(), 1);
        assert_eq!(
            projected_how(p.project(&f.hq.conn, &f.doc_id).unwrap()),
            (0, false)
        );
    }
    assert_eq!(backlog(&f.hq.conn).unwrap(), 0);
    f.cash_in();
    f.store_compaction(&[]);
    assert_eq!(
        projected_how(p.project(&f.hq.conn, &f.doc_id).unwrap()),
        (1, true)
    );
    assert_eq!(f.projected(), 5);
}
