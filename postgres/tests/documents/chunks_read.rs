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
async fn projected_from(pool: &Pool, doc: &str) -> Option<Vec<String>> {
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
    let ledger = &fair(&mut Lcg(35), 14)[0];
    let records = &ledger.records;
    assert!(records.len() >= 14, "{} records", records.len());
    let first = records.len() - 9;
    let mut doc = ledger_doc(ledger, &records[..first]);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();
    enrol_its_till(&a, &doc).await;
    let whole = doc.automerge().save();
    let snapshot = store_whole(&a, &doc).await;

    // Projected whole: the chunk it was read from is kept with the heads.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(first));
    assert_eq!(
        projected_from(&a, &shown).await,
        Some(vec![snapshot.clone()])
    );

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
    assert_eq!(projected_from(&a, &shown).await, Some(keys));
    // Nothing more stored: nothing read.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(0));

    // A change stored before the one it follows: read alone it waits, so the document is
    // loaded, which fails here. Loaded whole, the change still waits: every chunk but its
    // own is kept as read, so the next projection, once the one it follows is stored, reads
    // both on their own.
    let follows = doc.append(&records[first + 2], 0).unwrap();
    let after = doc.append(&records[first + 3], 0).unwrap();
    store_change(&a, &id, &after).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    let projected = project_within(&a, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (0, true));
    let after_key = key(&id, "incremental", &after.hash().to_string()).to_string();
    let all_but_after: Vec<String> = fairpos_postgres::documents::chunk_keys(&a, &id)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| *k != after_key)
        .collect();
    assert_eq!(all_but_after.len(), 3);
    assert_eq!(projected_from(&a, &shown).await, Some(all_but_after));
    set_bytes(&a, &snapshot, b"not a document").await;
    store_change(&a, &id, &follows).await;
    let projected = project_within(&b, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (2, false));
    assert_eq!(records_held(&a).await, first + 4);
    let keys = fairpos_postgres::documents::chunk_keys(&a, &id)
        .await
        .unwrap();
    assert_eq!(projected_from(&a, &shown).await, Some(keys));
    set_bytes(&a, &snapshot, &whole).await;

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
    let compacted = key(&id, "snapshot", "t");
    let compacted_whole = doc.automerge().save();
    PgStorage::new(a.clone())
        .put(compacted.clone(), compacted_whole.clone())
        .await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    assert_eq!(records_held(&a).await, first + 6);
    // Then samod deletes what the snapshot replaced, a chunk at a time: the snapshot read is
    // still stored, so nothing is loaded (it is broken here) and nothing is new.
    let (snapshot, whole) = (compacted.to_string(), compacted_whole);
    set_bytes(&a, &snapshot, b"not a document").await;
    let replaced = fairpos_postgres::documents::chunk_keys(&a, &id)
        .await
        .unwrap();
    for gone in replaced.iter().filter(|k| **k != snapshot) {
        let delete = "DELETE FROM samod_kv WHERE key = $1";
        assert_eq!(client.execute(delete, &[gone]).await.unwrap(), 1);
        let projected = project_within(&a, &id, None).await.unwrap().unwrap();
        assert_eq!((projected.new, projected.document_loaded), (0, false));
    }
    assert_eq!(
        projected_from(&a, &shown).await,
        Some(vec![snapshot.clone()])
    );
    set_bytes(&a, &snapshot, &whole).await;

    // Nor is a ledger refused read on its own.
    set_bytes(&a, &snapshot, b"not a document").await;
    let refuse = "UPDATE hq_docs SET refused = 'by hand' WHERE doc_id = $1";
    client.execute(refuse, &[&shown]).await.unwrap();
    store_change(&a, &id, &doc.append(&records[first + 7], 0).unwrap()).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    assert_eq!(records_held(&a).await, first + 7);

    // A change another actor wrote, read on its own, is refused as the document path
    // refuses it.
    set_bytes(&a, &snapshot, b"not a document").await;
    let mut forger = doc.automerge().fork();
    forger.set_actor(fairpos_sync::ActorId::random());
    let (_, map) = forger.get(automerge::ROOT, "records").unwrap().unwrap();
    let forged = &records[first + 8];
    let mut tx = forger.transaction();
    tx.put(&map, &forged.header().id, forged.to_json().unwrap())
        .unwrap();
    tx.commit();
    let change = forger.get_last_local_change().unwrap().clone();
    store_change(&a, &id, &change).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(err.to_string().contains("forged ledger change"), "{err}");
    assert_eq!(records_held(&a).await, first + 7);
    // (Its chunk taken away again: the refusal was not stored, so nothing is new.)
    let forged_key = key(&id, "incremental", &change.hash().to_string()).to_string();
    let delete = "DELETE FROM samod_kv WHERE key = $1";
    assert_eq!(client.execute(delete, &[&forged_key]).await.unwrap(), 1);
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(0));

    // A record under a sequence number projected already (only a hand-made change writes
    // one) is left to the document path, which refuses the ledger.
    set_bytes(&a, &snapshot, b"not a document").await;
    let header = records[first + 6].header();
    let json = records[first + 6].to_json().unwrap();
    let json = json
        .replacen(
            &format!("\"id\":\"{}\"", header.id),
            "\"id\":\"T1-again\"",
            1,
        )
        .replacen(
            &format!("\"seq\":{},", header.seq),
            &format!("\"seq\":{},", records[first].header().seq),
            1,
        );
    let again = Record::from_json(&json).unwrap();
    assert_eq!(again.header().id, "T1-again");
    store_change(&a, &id, &doc.append(&again, 0).unwrap()).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    set_bytes(&a, &snapshot, &whole).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(err.to_string().contains("reuses sequence number"), "{err}");
    assert_eq!(records_held(&a).await, first + 7);
}

/// Where none of the snapshots a ledger was projected from is stored any more, what its
/// heads were read from is not known to be stored: the document is loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_whose_snapshot_read_is_gone_is_loaded() {
    let Some(server) = server() else { return };
    let (_, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(36), 4)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 1);
    let (mut doc, id, snapshot) = projected_whole(&a, ledger, earlier).await;
    // The snapshot deleted, the till's next change stored: read on its own, it would be
    // projected; the document, now the change alone, does not load as the ledger.
    let client = a.get().await.unwrap();
    let delete = "DELETE FROM samod_kv WHERE key = $1";
    assert_eq!(client.execute(delete, &[&snapshot]).await.unwrap(), 1);
    store_change(&a, &id, &doc.append(&later[0], 0).unwrap()).await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    assert_eq!(records_held(&a).await, earlier.len());
}

/// samod stores a sync's changes each as it comes, so a pass may find one stored before the
/// one it follows: read on their own, what is ready is projected, and the change that waits
/// is read with the one it follows once that is stored. Until then the ledger is in the
/// projection's backlog (a change of it stored and not projected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_read_before_the_one_it_follows_waits_for_it() {
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(37), 6)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 3);
    let (mut doc, id, snapshot) = projected_whole(&a, ledger, earlier).await;
    let shown = id.to_string();
    // Loading the document fails from here: each projection below reads chunks alone.
    set_bytes(&a, &snapshot, b"not a document").await;
    let changes: Vec<_> = later.iter().map(|r| doc.append(r, 0).unwrap()).collect();
    store_change(&a, &id, &changes[0]).await;
    store_change(&a, &id, &changes[2]).await;
    let projected = project_within(&b, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (1, false));
    assert!(projected.changes_waiting, "to be taken again shortly");
    assert_eq!(records_held(&a).await, earlier.len() + 1);
    let waits = key(&id, "incremental", &changes[2].hash().to_string()).to_string();
    let kept = projected_from(&a, &shown).await.unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&waits), "{kept:?}");
    let within = std::time::Duration::from_secs(10);
    let backlog = fairpos_postgres::ledgers::backlog(&a, within)
        .await
        .unwrap();
    assert_eq!(backlog, 1);
    // Heard of again with nothing new stored: still waiting, and alone it needs the
    // document (which fails here).
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    // The one it follows stored: both read on their own.
    store_change(&a, &id, &changes[1]).await;
    let projected = project_within(&a, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (2, false));
    assert!(!projected.changes_waiting);
    assert_eq!(records_held(&a).await, ledger.records.len());
    let keys = fairpos_postgres::documents::chunk_keys(&a, &id)
        .await
        .unwrap();
    assert_eq!(projected_from(&a, &shown).await, Some(keys));
    let backlog = fairpos_postgres::ledgers::backlog(&a, within)
        .await
        .unwrap();
    assert_eq!(backlog, 0);
    let held = registry::documents(&a, Some(&doc.id().device))
        .await
        .unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
}

/// A change another actor wrote on an older state of the ledger (a forged fork) waits beside
/// a ready change when read on its own, as one on its way would; taken again alone, it goes
/// to the document, which refuses the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_fork_beside_a_ready_change_waits_and_alone_is_refused() {
    let Some(server) = server() else { return };
    let (_, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(38), 6)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 2);
    let (mut doc, id, _) = projected_whole(&a, ledger, earlier).await;
    store_ready_change_and_forged_fork(&a, &mut doc, &id, &later[0], &later[1]).await;
    let projected = project_within(&a, &id, None).await.unwrap().unwrap();
    assert_eq!((projected.new, projected.document_loaded), (1, false));
    assert!(projected.changes_waiting);
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(err.to_string().contains("forged ledger change"), "{err}");
    assert_eq!(records_held(&a).await, earlier.len() + 1);
}

/// Stores the till's next change, putting `ready`, and beside it a [`forged_fork`] putting
/// `forged` on the state before the change that was `doc`'s last.
pub(crate) async fn store_ready_change_and_forged_fork(
    pool: &Pool,
    doc: &mut LedgerDoc,
    id: &DocumentId,
    ready: &Record,
    forged: &Record,
) {
    let fork = forged_fork(doc, forged);
    store_change(pool, id, &doc.append(ready, 0).unwrap()).await;
    store_change(pool, id, &fork).await;
}

/// A change by another actor that puts `record` into `doc`'s records map, on the state before
/// its last change: it depends on none of its heads.
pub(crate) fn forged_fork(doc: &LedgerDoc, record: &Record) -> automerge::Change {
    use automerge::transaction::Transactable;
    let am = doc.automerge();
    let before_last: Vec<_> = am
        .get_changes(&[])
        .iter()
        .rev()
        .nth(1)
        .map(|c| c.hash())
        .into_iter()
        .collect();
    let mut forger = am.fork_at(&before_last).unwrap();
    forger.set_actor(fairpos_sync::ActorId::random());
    let (_, map) = forger.get(automerge::ROOT, "records").unwrap().unwrap();
    let mut tx = forger.transaction();
    tx.put(&map, &record.header().id, record.to_json().unwrap())
        .unwrap();
    tx.commit();
    let change = forger.get_last_local_change().unwrap().clone();
    assert!(doc.heads().iter().all(|h| !change.deps().contains(h)));
    change
}
