//! A ledger's projection resumed from the heads projected before: only the records added
//! since are read, and what those before came to (stored beside the heads) still counts
//! towards the day's bound.

use super::*;
use fairpos_postgres::registry;
use fairpos_sync::plausible::{Weight, MAX_FEN};

/// What `hq_docs` holds of what the ledger `doc`'s records come to.
async fn weight_stored(pool: &Pool, doc: &str) -> Option<Weight> {
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT weight_fen, weight_qty FROM hq_docs WHERE doc_id = $1",
            &[&doc],
        )
        .await
        .unwrap();
    let (fen, qty): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
    Some(Weight {
        fen: u64::try_from(fen?).unwrap(),
        qty: u64::try_from(qty?).unwrap(),
    })
}

async fn set_weight_fen(pool: &Pool, doc: &str, fen: Option<i64>) {
    pool.get()
        .await
        .unwrap()
        .execute(
            "UPDATE hq_docs SET weight_fen = $2 WHERE doc_id = $1",
            &[&doc, &fen],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledgers_projection_resumes_with_what_its_records_before_came_to() {
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    // Sales of the largest total a record may name: some of them within the day's bound,
    // one more beyond it.
    let ledger = &fair(&mut Lcg(33), 20)[0];
    let mut sales: Vec<Record> = ledger.records.clone();
    for record in &mut sales {
        if let Record::Sale(sale) = record {
            sale.total_fen = MAX_FEN;
        }
    }
    let within = (1..sales.len())
        .take_while(|n| Weight::of(&sales[..*n]).beyond_a_day().is_none())
        .last()
        .expect("a sale within the bound");
    let reached = Weight::of(&sales[..=within]).beyond_a_day().is_some();
    assert!(reached, "the fixture's sales reach the bound");
    let (before, beyond) = (&sales[..within], &sales[within]);
    let mut doc = ledger_doc(ledger, before);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();

    // Its till enrolled with the actor that writes it, the ledger announced and stored.
    enrol_its_till(&a, &doc).await;
    store_whole(&a, &doc).await;

    // Projected whole: what its records come to is stored with its heads.
    assert_eq!(project_document(&b, &id).await.unwrap(), Some(before.len()));
    assert_eq!(weight_stored(&a, &shown).await, Some(Weight::of(before)));

    // One sale more, stored as the till's next change: what the records before came to
    // counts, so the ledger is beyond a day's bound and refused, by either process (each
    // reading the change on its own).
    let change = doc.append(beyond, 0).unwrap();
    store_change(&b, &id, &change).await;
    for process in [&a, &b] {
        let err = project_document(process, &id).await.unwrap_err();
        assert!(matches!(err, Error::Integrity(_)), "{err}");
        assert!(err.to_string().contains("in a day"), "{err}");
    }
    // Where what they came to is not known (a build before stored none), the ledger is read
    // whole, and refused as well.
    set_weight_fen(&a, &shown, None).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(err.to_string().contains("in a day"), "{err}");
    // So is one stored with other heads than those projected (a build before, still
    // running, projected it further alone), and one whose document lacks a head projected:
    // each is read whole, as it would be counted short from those heads. (With a head more,
    // the change stored since does not follow the heads, so it is not read on its own.)
    let unknown_head = "ff".repeat(32);
    for (heads, weight_heads) in [
        ("heads", "'other heads than ' || $2"),
        ("heads || ',' || $2", "heads || ',' || $2"),
    ] {
        let sql = format!(
            "UPDATE hq_docs SET weight_fen = 0, heads = {heads}, weight_heads = {weight_heads}
             WHERE doc_id = $1"
        );
        let client = a.get().await.unwrap();
        client
            .execute(&sql, &[&shown, &unknown_head])
            .await
            .unwrap();
        let err = project_document(&a, &id).await.unwrap_err();
        assert!(err.to_string().contains("in a day"), "{heads}: {err}");
    }
    a.get()
        .await
        .unwrap()
        .execute(
            "UPDATE hq_docs SET heads = replace(heads, ',' || $2, ''),
                 weight_heads = replace(heads, ',' || $2, '') WHERE doc_id = $1",
            &[&shown, &unknown_head],
        )
        .await
        .unwrap();
    assert_eq!(records_held(&a).await, before.len());

    // Resumed, only the records added since its heads are read and counted: told that
    // those before came to nothing, the projection takes the new sale alone, so it never
    // read them (the test's way to see it; what is stored is what the records came to).
    // The document is loaded: the chunks the ledger was projected from, whose later changes
    // would otherwise be read on their own (`chunks_read.rs`), are forgotten.
    a.get()
        .await
        .unwrap()
        .execute(
            "UPDATE hq_docs SET chunk_keys = NULL WHERE doc_id = $1",
            &[&shown],
        )
        .await
        .unwrap();
    set_weight_fen(&a, &shown, Some(0)).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    assert_eq!(records_held(&a).await, before.len() + 1);
    let stored = weight_stored(&a, &shown).await.unwrap();
    let told = Weight {
        fen: 0,
        qty: Weight::of(before).qty,
    };
    assert_eq!(stored, told.adding(std::slice::from_ref(beyond)));
}

/// In a database that only mirrors a SQLite headquarters (it knows no devices, and no till
/// announces anything to it), a ledger projected is registered with how far it is
/// projected: its stored chunks are then not decoded again (a start decodes only the
/// ledgers stored since), and a change stored after is projected from its heads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_ledger_keeps_how_far_it_is_projected() {
    use fairpos_postgres::ledgers::unprojected;
    use fairpos_sync::ledger::heads_text;
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(34), 5)[0];
    let (earlier, last) = ledger.records.split_at(ledger.records.len() - 1);
    let mut doc = ledger_doc(ledger, earlier);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();
    let device = doc.id().device.clone();
    store_whole(&a, &doc).await;
    assert!(registry::documents(&a, None).await.unwrap().is_empty());

    assert_eq!(
        project_document(&b, &id).await.unwrap(),
        Some(earlier.len())
    );
    let held = registry::documents(&a, Some(&device)).await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, earlier.len() as i64);
    assert_eq!(weight_stored(&a, &shown).await, Some(Weight::of(earlier)));
    let waiting = unprojected(&a, std::slice::from_ref(&id)).await.unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");

    let change = doc.append(&last[0], 0).unwrap();
    store_change(&b, &id, &change).await;
    let waiting = unprojected(&a, std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(waiting, std::slice::from_ref(&id));
    // Resumed from its heads: told that the records before came to nothing, the projection
    // counts the new one alone (read whole, it would count them all).
    set_weight_fen(&a, &shown, Some(0)).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    let held = registry::documents(&b, Some(&device)).await.unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, ledger.records.len() as i64);
    let fen = Weight::of(&last[..1]).fen;
    assert_eq!(weight_stored(&a, &shown).await.map(|w| w.fen), Some(fen));
    assert_eq!(records_held(&a).await, ledger.records.len());
}

/// A database at migration 12 (the weights, not the heads they describe) is listed as
/// lacking migration 13, which adds the column, and only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_weights_and_not_their_heads_gains_them_at_migration_13() {
    let Some(server) = server() else { return };
    let (_, a, _) = two_processes(&server).await;
    a.get()
        .await
        .unwrap()
        .batch_execute(
            "ALTER TABLE hq_docs DROP COLUMN weight_heads;
             DELETE FROM fairpos_migrations WHERE version = 13;",
        )
        .await
        .unwrap();
    let pending = fairpos_postgres::pending(&a).await.unwrap();
    assert_eq!(pending.iter().map(|m| m.0).collect::<Vec<_>>(), [13]);
    assert_eq!(fairpos_postgres::migrate(&a).await.unwrap(), [13]);
    assert!(fairpos_postgres::pending(&a).await.unwrap().is_empty());
    // The column is there again: a ledger's projection state reads.
    let state = registry::projected(&a.get().await.unwrap(), "no such document").await;
    assert_eq!(state.unwrap(), None);
}
