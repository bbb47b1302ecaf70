//! A ledger projected before takes the changes stored since from their chunks alone, without
//! its document; whatever those chunks cannot vouch for loads the document, as before.
//!
//! The test's way to see which path a projection took: the ledger's first chunk (a
//! snapshot of its first records) is broken in the store, so loading the document fails,
//! and reading the later chunks alone does not.

use super::*;
use automerge::ReadDoc;
use fairpos_postgres::ledgers::project_within;
use fairpos_postgres::registry;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::plausible::Weight;

/// What `hq_docs` holds of the chunks `doc` was projected from, if anything.
async fn chunk_keys(pool: &Pool, doc: &str) -> Option<Vec<String>> {
    let client = pool.get().await.unwrap();
    let row = client
        .query_one("SELECT chunk_keys FROM hq_docs WHERE doc_id = $1", &[&doc])
        .await
        .unwrap();
    row.get(0)
}

/// Sets the stored bytes of the chunk `key` to `bytes`.
async fn set_bytes(pool: &Pool, key: &str, bytes: &[u8]) {
    let client = pool.get().await.unwrap();
    let updated = client
        .execute(
            "UPDATE samod_kv SET bytes = $2 WHERE key = $1",
            &[&key, &bytes],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1, "{key} is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_projected_before_reads_the_changes_stored_since_on_their_own() {
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(35), 12)[0];
    let records = &ledger.records;
    assert!(records.len() >= 12, "{} records", records.len());
    let first = records.len() - 8;
    let mut doc = ledger_doc(ledger, &records[..first]);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();
    enrol_its_till(&a, &doc).await;
    let snapshot = key(&id, "snapshot", "s");
    let whole = doc.automerge().save();
    PgStorage::new(a.clone())
        .put(snapshot.clone(), whole.clone())
        .await;
    let snapshot = snapshot.to_string();

    // Projected whole: the chunk it was read from is kept with the heads.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(first));
    assert_eq!(chunk_keys(&a, &shown).await, Some(vec![snapshot.clone()]));

    // Two changes stored since, one chunk each, read on their own by the other process: the
    // snapshot is broken, so the document could not have been loaded.
    set_bytes(&a, &snapshot, b"not a document").await;
    let mut changes = Vec::new();
    for record in &records[first..first + 2] {
        changes.push(doc.append(record, 0).unwrap());
        store_change(&a, &id, changes.last().unwrap()).await;
    }
    let projected = project_within(&b, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (2, false));
    assert_eq!(records_held(&a).await, first + 2);
    let held = registry::documents(&a, Some(&doc.id().device))
        .await
        .unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, (first + 2) as i64);
    let state = registry::projected(&a.get().await.unwrap(), &shown).await;
    let state = state.unwrap().unwrap();
    assert_eq!(state.weight, Some(Weight::of(&records[..first + 2])));
    let keys = fairpos_postgres::documents::chunk_keys(&a, &id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(chunk_keys(&a, &shown).await, Some(keys));
    // Nothing more stored: nothing read.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(0));

    // A change stored before the one it follows: read alone it waits, so the document is
    // loaded, which fails here. Loaded whole, the change still waits, so the chunks are not
    // kept: the next projection loads the document again, and takes both.
    let follows = doc.append(&records[first + 2], 0).unwrap();
    let after = doc.append(&records[first + 3], 0).unwrap();
    store_change(&a, &id, &after).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    let projected = project_within(&a, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (0, true));
    assert_eq!(chunk_keys(&a, &shown).await, None);
    store_change(&a, &id, &follows).await;
    assert_eq!(project_document(&b, &id).await.unwrap(), Some(2));
    assert_eq!(records_held(&a).await, first + 4);
    assert!(chunk_keys(&a, &shown).await.is_some());

    // Where the digest stored is not the one of the chunks kept (a build before this one,
    // still running, projected the ledger further and kept none), the document is loaded.
    set_bytes(&a, &snapshot, b"not a document").await;
    let next = doc.append(&records[first + 4], 0).unwrap();
    store_change(&a, &id, &next).await;
    let client = a.get().await.unwrap();
    let digest_sql = "UPDATE hq_docs SET chunks_digest = $2 WHERE doc_id = $1";
    client
        .execute(digest_sql, &[&shown, &"another"])
        .await
        .unwrap();
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    // So is one compacted into a snapshot since.
    set_bytes(&a, &snapshot, &whole).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    set_bytes(&a, &snapshot, b"not a document").await;
    doc.append(&records[first + 5], 0).unwrap();
    PgStorage::new(a.clone())
        .put(key(&id, "snapshot", "t"), doc.automerge().save())
        .await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    assert_eq!(records_held(&a).await, first + 6);

    // A change another actor wrote, read on its own, is refused as the document path
    // refuses it.
    set_bytes(&a, &snapshot, b"not a document").await;
    let mut forger = doc.automerge().fork();
    forger.set_actor(fairpos_sync::ActorId::random());
    let (_, map) = forger.get(automerge::ROOT, "records").unwrap().unwrap();
    let forged = &records[first + 6];
    let mut tx = forger.transaction();
    tx.put(&map, &forged.header().id, forged.to_json().unwrap())
        .unwrap();
    tx.commit();
    let change = forger.get_last_local_change().unwrap().clone();
    store_change(&a, &id, &change).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(err.to_string().contains("forged ledger change"), "{err}");
    assert_eq!(records_held(&a).await, first + 6);
}
