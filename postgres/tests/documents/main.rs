//! samod's document store in PostgreSQL shared by several processes (here, pools), on a real
//! server: chunks of one ledger stored through two processes at once load as one document,
//! every put is heard by a listener, samod itself finds a document there, stored ledgers
//! projected by two processes at once count each record once and equal SQLite's projection,
//! and two processes following the store project every ledger once, one of them stopped
//! mid-work; puts made at once are written together; puts the server refuses for a moment
//! are stored when tried again, and ones it keeps refusing stop the process.

mod chunks_read;
#[path = "../common/mod.rs"]
mod common;
mod enrolled;
mod following;
mod group_commit;
mod heartbeat;
mod resumed;

use std::time::Duration;

use automerge::transaction::Transactable;

use common::compare::{assert_same, sqlite_projection};
use common::{fair, fresh_database, server, Lcg, Ledger};
use fairpos_postgres::documents::{
    document_chunks, put_chunks, Heard, Listener, Origin, PgStorage,
};
use fairpos_postgres::follow::{self, catch_up, follow};
use fairpos_postgres::{connect, migrate, project_document, Error, Pool};
use fairpos_sync::ids::document_id;
use fairpos_sync::record::SaleRecord;
use fairpos_sync::samod::storage::{Storage, StorageKey};
use fairpos_sync::samod::{DocumentId, Repo};
use fairpos_sync::samod_storage::load_chunks;
use fairpos_sync::{ActorId, LedgerDoc, LedgerId, Record};

/// The test fair's ledgers as the tills write them: one Automerge document each.
fn ledger_doc(ledger: &Ledger, records: &[Record]) -> LedgerDoc {
    let mut parts = ledger.key.split('/');
    let mut part = || parts.next().unwrap().to_string();
    let id = LedgerId {
        fair: part(),
        device: part(),
        day: part(),
    };
    let (mut doc, _) = LedgerDoc::create(id, ActorId::random(), 0).unwrap();
    for r in records {
        doc.append(r, 0).unwrap();
    }
    doc
}

fn key(doc: &DocumentId, kind: &str, name: &str) -> StorageKey {
    StorageKey::from_parts([doc.to_string(), kind.to_string(), name.to_string()]).unwrap()
}

/// Stores `change` of the ledger `doc` through `pool`, as samod stores a change a till sent:
/// a chunk of its own, named by its hash.
async fn store_change(pool: &Pool, doc: &DocumentId, change: &automerge::Change) {
    store_change_through(&PgStorage::new(pool.clone()), doc, change).await;
}

/// [`store_change`] through `storage` (one announcing its stores, say).
async fn store_change_through(storage: &PgStorage, doc: &DocumentId, change: &automerge::Change) {
    let name = change.hash().to_string();
    storage
        .put(key(doc, "incremental", &name), change.raw_bytes().to_vec())
        .await;
}

/// The ledger of `ledger`'s `records`, its till enrolled, stored whole (one snapshot) and
/// projected through `pool`: its document, its id and the snapshot's key.
async fn projected_whole(
    pool: &Pool,
    ledger: &Ledger,
    records: &[Record],
) -> (LedgerDoc, DocumentId, String) {
    let doc = ledger_doc(ledger, records);
    let id = document_id(&doc.id().key());
    enrol_its_till(pool, &doc).await;
    let snapshot = store_whole(pool, &doc).await;
    assert_eq!(
        project_document(pool, &id).await.unwrap(),
        Some(records.len())
    );
    (doc, id, snapshot)
}

/// Stores the ledger `doc` whole through `pool`, as samod stores a document a peer sent
/// whole: one snapshot (`s`). Its key, as stored.
async fn store_whole(pool: &Pool, doc: &LedgerDoc) -> String {
    let snapshot = key(&document_id(&doc.id().key()), "snapshot", "s");
    PgStorage::new(pool.clone())
        .put(snapshot.clone(), doc.automerge().save())
        .await;
    snapshot.to_string()
}

/// Enrols the till of the ledger `doc` with the actor that writes it, and announces the
/// ledger, as its first sync does.
async fn enrol_its_till(pool: &Pool, doc: &LedgerDoc) {
    use fairpos_postgres::registry::{self, Enrolling, Enrolment};
    let device = doc.id().device.clone();
    let actor = doc.automerge().get_actor().to_hex_string();
    assert!(registry::add_device(pool, &device, "S1", "till", "code")
        .await
        .unwrap());
    let enrolling = Enrolling {
        code_hash: "code",
        actor: &actor,
        again: None,
        role: None,
    };
    let granted = registry::enroll(pool, &enrolling, "secret", "key")
        .await
        .unwrap();
    assert!(matches!(granted, Enrolment::Granted { .. }), "{granted:?}");
    let shown = document_id(&doc.id().key()).to_string();
    let announced = [(doc.id().key(), shown, device)];
    assert_eq!(registry::announce(pool, &announced, 1).await.unwrap(), None);
}

/// Two processes of one headquarters, each with its own pool on one database, migrated.
async fn two_processes(server: &str) -> (String, Pool, Pool) {
    let url = fresh_database(server).await;
    let (a, b) = (connect(&url).unwrap(), connect(&url).unwrap());
    migrate(&a).await.unwrap();
    (url, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_stored_through_two_processes_load_as_one_document() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(3), 10)[0];
    let (earlier, last_two) = ledger.records.split_at(ledger.records.len() - 2);
    let mut doc = ledger_doc(ledger, earlier);
    let id = document_id(&doc.id().key());
    // The listeners are process A's; each process's puts are announced as its own. The
    // second takes this document itself whoever stores it (as each takes the catalog).
    let (origin_a, origin_b) = (Origin::new(), Origin::new());
    let mut listener = Listener::start(&url, &origin_a, &[]).await.unwrap();
    let mut taking_itself = Listener::start(&url, &origin_a, std::slice::from_ref(&id))
        .await
        .unwrap();
    let through_a = PgStorage::new(a.clone()).announcing_as(&origin_a);
    let through_b = PgStorage::new(b.clone()).announcing_as(&origin_b);
    through_a
        .put(key(&id, "snapshot", "base"), doc.automerge().save())
        .await;
    // The till's next two changes reach headquarters through different processes at once.
    let first = doc.append(&last_two[0], 1).unwrap();
    let second = doc.append(&last_two[1], 2).unwrap();
    let incremental = |c: &automerge::Change| {
        (
            key(&id, "incremental", &c.hash().to_string()),
            c.raw_bytes().to_vec(),
        )
    };
    let ((k1, v1), (k2, v2)) = (incremental(&first), incremental(&second));
    tokio::join!(through_b.put(k2, v2), through_a.put(k1, v1));

    // Every put is heard, whichever process made it; B's as left to B.
    let mut left_to_another = 0;
    for _ in 0..3 {
        let heard = tokio::time::timeout(Duration::from_secs(10), listener.next())
            .await
            .expect("a put is announced")
            .expect("the listener's connection is up");
        assert_eq!(heard.doc(), &id);
        assert!(!matches!(heard, Heard::Projected(_)));
        left_to_another += usize::from(matches!(heard, Heard::LeftToAnother(_)));
    }
    assert_eq!(left_to_another, 1);
    assert!(listener.try_next().is_none());
    for _ in 0..3 {
        let heard = tokio::time::timeout(Duration::from_secs(10), taking_itself.next());
        assert_eq!(heard.await.unwrap().unwrap(), Heard::Stored(id.clone()));
    }

    let chunks = document_chunks(&b, &id).await.unwrap();
    assert_eq!(chunks.len(), 3);
    let loaded = load_chunks(&id.to_string(), &chunks).unwrap().unwrap();
    assert_eq!(loaded.get_heads(), doc.heads());
    let range = through_b.load_range(StorageKey::from_parts([id.to_string()]).unwrap());
    assert_eq!(range.await.len(), 3);

    // samod itself, on the other process's storage, finds the whole document. Loading it
    // writes nothing back (vendor/FAIRPOS-PATCH.md, 9); later changes make it compact once
    // they weigh as much as the snapshot (13): it writes a snapshot of its own there and
    // then deletes the chunks that snapshot holds (when is its business: wait for the
    // snapshot, a change at a time, each a blob as large as the base). The base can then
    // go, and the document stays whole.
    let repo = Repo::build_tokio()
        .with_storage(PgStorage::new(b.clone()))
        .load()
        .await;
    let handle = repo
        .find(id.clone())
        .await
        .unwrap()
        .expect("samod finds the document in PostgreSQL");
    assert_eq!(handle.with_document(|d| d.get_heads()), doc.heads());
    assert_eq!(document_chunks(&a, &id).await.unwrap().len(), 3);
    let blob = doc.automerge().save();
    let samods_snapshot = async {
        for n in 0i64.. {
            handle.with_document(|d| {
                let mut tx = d.transaction();
                tx.put(automerge::ROOT, "n", n).unwrap();
                tx.put(automerge::ROOT, "blob", blob.clone()).unwrap();
                tx.commit();
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            let chunks = document_chunks(&a, &id).await.unwrap();
            if chunks
                .iter()
                .any(|(k, _)| k.contains("/snapshot/") && !k.ends_with("/base"))
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), samods_snapshot)
        .await
        .expect("samod writes its snapshot into PostgreSQL");
    let heads = handle.with_document(|d| d.get_heads());
    repo.stop().await;
    through_a.delete(key(&id, "snapshot", "base")).await;
    let chunks = document_chunks(&a, &id).await.unwrap();
    assert!(chunks.iter().all(|(k, _)| !k.ends_with("/base")));
    let loaded = load_chunks(&id.to_string(), &chunks).unwrap().unwrap();
    assert_eq!(loaded.get_heads(), heads);
}

/// A delete is announced as a put is, with the process that made it: samod's compaction
/// deletes the chunks its snapshot supersedes, and whoever read the keys in between reads them
/// again. Deleting nothing announces nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_is_announced_as_a_put_is() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(29), 4)[0];
    let doc = ledger_doc(ledger, &ledger.records);
    let id = document_id(&doc.id().key());
    let (origin_a, origin_b) = (Origin::new(), Origin::new());
    let mut listener = Listener::start(&url, &origin_a, &[]).await.unwrap();
    let through_a = PgStorage::new(a.clone()).announcing_as(&origin_a);
    let through_b = PgStorage::new(b.clone()).announcing_as(&origin_b);
    let base = key(&id, "snapshot", "base");
    through_a.put(base.clone(), doc.automerge().save()).await;
    async fn heard(listener: &mut Listener) -> Heard {
        tokio::time::timeout(Duration::from_secs(10), listener.next())
            .await
            .expect("announced")
            .expect("the listener's connection is up")
    }
    assert_eq!(heard(&mut listener).await, Heard::Stored(id.clone()));
    // Deleting nothing: the next thing heard is a marker stored after it.
    through_b.delete(key(&id, "snapshot", "none such")).await;
    let marker = document_id("ledger/fair/T9/2026-11-22");
    through_a.put(key(&marker, "snapshot", "m"), vec![1]).await;
    assert_eq!(heard(&mut listener).await, Heard::Stored(marker));
    through_b.delete(base).await;
    assert_eq!(heard(&mut listener).await, Heard::LeftToAnother(id.clone()));
    assert!(document_chunks(&a, &id).await.unwrap().is_empty());
    assert!(
        listener.try_next().is_none(),
        "deleting nothing announces nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_ledgers_projected_by_two_processes_at_once_count_each_record_once() {
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledgers = fair(&mut Lcg(5), 30);
    let storage = PgStorage::new(a.clone());
    let mut ids = Vec::new();
    for ledger in &ledgers {
        let doc = ledger_doc(ledger, &ledger.records);
        let id = document_id(&doc.id().key());
        storage
            .put(key(&id, "snapshot", "s"), doc.automerge().save())
            .await;
        ids.push(id);
    }
    let run = |pool: Pool, ids: Vec<DocumentId>| {
        tokio::spawn(async move {
            let mut added = 0;
            for id in ids {
                added += project_document(&pool, &id).await.unwrap().unwrap();
            }
            added
        })
    };
    let reversed = ids.iter().rev().cloned().collect();
    let (x, y) = tokio::join!(run(a.clone(), ids.clone()), run(b.clone(), reversed));
    let total: usize = ledgers.iter().map(|l| l.records.len()).sum();
    assert_eq!(x.unwrap() + y.unwrap(), total);
    assert_same(&b, &sqlite_projection(&ledgers)).await;

    // A document nobody stored is nothing to project.
    let unknown = document_id("ledger/fair/T9/2026-11-22");
    assert_eq!(project_document(&a, &unknown).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_is_not_the_ledger_its_id_says_or_holds_forged_records_is_refused() {
    let Some(server) = server() else { return };
    let (_, a, _) = two_processes(&server).await;
    let ledgers = fair(&mut Lcg(9), 3);
    let doc = ledger_doc(&ledgers[0], &ledgers[0].records);
    // Stored under the second till's document id.
    let other = document_id(&doc.id().key().replace("/T1/", "/T2/"));
    PgStorage::new(a.clone())
        .put(key(&other, "snapshot", "s"), doc.automerge().save())
        .await;
    let err = project_document(&a, &other).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string().contains("holds the ledger ledger/fair/T1/"),
        "{err}"
    );
    // A record that names another device than its ledger's.
    let mut forged = ledgers[0].records.clone();
    if let Record::CashMove(m) = &mut forged[4] {
        m.header.device = "T2".into();
    } else {
        panic!("the fifth record is the cash move");
    }
    let doc = ledger_doc(&ledgers[0], &forged);
    let id = document_id(&doc.id().key());
    PgStorage::new(a.clone())
        .put(key(&id, "snapshot", "s"), doc.automerge().save())
        .await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(err.to_string().contains("claims device T2"), "{err}");
    // The first ledger stored with its first sale changed by `forge`: refused, and why.
    let refused_with = |forge: fn(&mut SaleRecord)| {
        let (a, id) = (a.clone(), id.clone());
        let mut forged = ledgers[0].records.clone();
        let sale = forged.iter_mut().find_map(|r| match r {
            Record::Sale(s) => Some(s),
            _ => None,
        });
        forge(sale.expect("the ledger holds a sale"));
        let doc = ledger_doc(&ledgers[0], &forged);
        async move {
            PgStorage::new(a.clone())
                .put(key(&id, "snapshot", "s"), doc.automerge().save())
                .await;
            let err = project_document(&a, &id).await.unwrap_err();
            assert!(matches!(err, Error::Integrity(_)), "{err}");
            err.to_string()
        }
    };
    // A sale whose total no till writes (which wrapped the roll-up's sums).
    let err = refused_with(|sale| sale.total_fen = i64::MAX).await;
    let told = "total_fen 9223372036854775807 is beyond what a till takes";
    assert!(err.contains(told), "{err}");
    // A sale of eleven lines, each at the largest amount a record may name: within a
    // record's bound, beyond what a till takes in a day.
    let err = refused_with(|sale| {
        let mut line = sale.lines[0].clone();
        line.amount_fen = fairpos_sync::plausible::MAX_FEN;
        sale.lines = vec![line; 11];
    })
    .await;
    assert!(err.contains("beyond what a till takes in a day"), "{err}");
    let held = common::rows_in(&a, "records").await;
    assert_eq!(held, 0, "nothing of a refused ledger is projected");
}

/// Stores `ledger` as a till's sync does: a snapshot of its first half, then one chunk per
/// later change.
async fn store_in_pieces(storage: &PgStorage, ledger: &Ledger) {
    let half = ledger.records.len() / 2;
    let mut doc = ledger_doc(ledger, &ledger.records[..half]);
    let id = document_id(&doc.id().key());
    storage
        .put(key(&id, "snapshot", "first"), doc.automerge().save())
        .await;
    for r in &ledger.records[half..] {
        store_change_through(storage, &id, &doc.append(r, 0).unwrap()).await;
    }
}

/// Waits (30 s at most, else `what` fails the test) until `pool` holds every record of
/// `ledgers`, then compares its projection with SQLite's.
async fn every_record_projected(pool: &Pool, ledgers: &[Ledger], what: &str) {
    let total: usize = ledgers.iter().map(|l| l.records.len()).sum();
    let all_projected = async {
        while records_held(pool).await < total {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all_projected)
        .await
        .expect(what);
    assert_same(pool, &sqlite_projection(ledgers)).await;
}

async fn records_held(pool: &Pool) -> usize {
    common::rows_in(pool, "records").await as usize
}

/// How [`a_put_postgresql_refuses_is_tried_again_then_stops_the_process`] breaks the store
/// in its child, and the child's database.
const BREAK: &str = "FAIRPOS_TEST_BREAK_PG_STORAGE";
const BROKEN_DATABASE: &str = "FAIRPOS_TEST_BROKEN_PG_DATABASE";

/// Run only as a child of the test below: puts PostgreSQL refuses, for half a second
/// (`for-a-while`) or for good (`for-good`), or deletes it refuses for good
/// (`deletes-for-good`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_put_postgresql_refuses_is_tried_again_then_stops_the_process"]
async fn refused_put_child() {
    let (Ok(how), Ok(url)) = (std::env::var(BREAK), std::env::var(BROKEN_DATABASE)) else {
        return;
    };
    let pool = connect(&url).unwrap();
    migrate(&pool).await.unwrap();
    let doc = document_id("ledger/fair/T1/2026-11-22");
    let stored_first = ["h1", "h2"].map(|name| key(&doc, "incremental", name));
    if how == "deletes-for-good" {
        let chunks: Vec<(String, Vec<u8>)> = stored_first
            .iter()
            .map(|k| (k.to_string(), b"change".to_vec()))
            .collect();
        put_chunks(&pool, &chunks).await.unwrap();
    }
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE refusing(since timestamptz);
             INSERT INTO refusing VALUES (now());
             CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF EXISTS (SELECT 1 FROM refusing) THEN
                     RAISE EXCEPTION 'the database refuses it';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refused BEFORE INSERT OR DELETE ON samod_kv
                 FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();
    if how == "for-a-while" {
        let pool = pool.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let client = pool.get().await.unwrap();
            client.batch_execute("DELETE FROM refusing").await.unwrap();
        });
    }
    let storage = PgStorage::new(pool.clone());
    if how == "deletes-for-good" {
        // A compaction's deletes: given up, the chunks left as they are.
        let deletes = stored_first.map(|key| {
            let storage = storage.clone();
            async move { storage.delete(key).await }
        });
        futures::future::join_all(deletes).await;
        let stored = common::rows_in(&pool, "samod_kv").await;
        println!("answered, {stored} chunks stored");
        return;
    }
    // Three changes put at once (in one batch or a few), each tried again until stored.
    let puts = ["h1", "h2", "h3"].map(|name| {
        let storage = storage.clone();
        let key = key(&doc, "incremental", name);
        async move { storage.put(key, name.as_bytes().to_vec()).await }
    });
    futures::future::join_all(puts).await;
    let stored = common::rows_in(&pool, "samod_kv").await;
    println!("answered, {stored} chunks stored");
}

/// Puts PostgreSQL refuses for a moment (a restart, a lost connection) are tried again and
/// stored; ones it keeps refusing stop the process (SIGABRT) with one line saying why,
/// instead of answering samod as if the chunks were stored. Deletes it keeps refusing are
/// given up after as long, the chunks left stored (superseded, harmless), and the process
/// goes on.
#[test]
fn a_put_postgresql_refuses_is_tried_again_then_stops_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let Some(server) = server() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for how in ["for-a-while", "for-good", "deletes-for-good"] {
        let url = runtime.block_on(fresh_database(&server));
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "refused_put_child", "--ignored", "--nocapture"])
            .env(BREAK, how)
            .env(BROKEN_DATABASE, &url)
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr),
        );
        assert!(
            err.contains("the database refuses it"),
            "{how}: the refusal is logged: {err}"
        );
        if how == "for-a-while" {
            assert!(child.status.success(), "{how}: {out}\n{err}");
            assert!(out.contains("answered, 3 chunks stored"), "{how}: {out}");
        } else if how == "deletes-for-good" {
            assert!(child.status.success(), "{how}: {out}\n{err}");
            assert!(out.contains("answered, 2 chunks stored"), "{how}: {out}");
            assert!(
                err.contains("failed for 6 s; the chunks stay stored"),
                "{how}: {err}"
            );
        } else {
            assert_eq!(child.status.signal(), Some(6), "{how}: {out}\n{err}");
            assert!(!out.contains("answered"), "{how}: {out}");
            assert!(
                err.contains("failed for 6 s; stopping headquarters"),
                "{how}: {err}"
            );
        }
    }
}
