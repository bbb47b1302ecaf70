//! samod's document store in PostgreSQL shared by several processes (here, pools), on a real
//! server: chunks of one ledger stored through two processes at once load as one document,
//! every put is heard by a listener, samod itself finds a document there, stored ledgers
//! projected by two processes at once count each record once and equal SQLite's projection,
//! and two processes following the store project every ledger once, one of them stopped
//! mid-work; a put the server refuses for a moment is stored when tried again, and one it
//! keeps refusing stops the process.

mod common;

use std::time::Duration;

use automerge::transaction::Transactable;

use common::compare::{assert_same, sqlite_projection};
use common::{fair, fresh_database, server, Lcg, Ledger};
use fairpos_postgres::documents::{document_chunks, Heard, Listener, Origin, PgStorage};
use fairpos_postgres::follow::{self, catch_up, follow};
use fairpos_postgres::{connect, migrate, project_document, Error, Pool};
use fairpos_sync::ids::document_id;
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
    // writes nothing back (vendor/FAIRPOS-PATCH.md, 9); eleven more changes make it compact:
    // it writes a snapshot of its own there and then deletes the chunks that snapshot holds
    // (when is its business: wait for the snapshot). The base can then go, and the document
    // stays whole.
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
    let heads = handle.with_document(|d| {
        for n in 0..11 {
            let mut tx = d.transaction();
            tx.put(automerge::ROOT, "n", n as i64).unwrap();
            tx.commit();
        }
        d.get_heads()
    });
    repo.stop().await;
    let samods_snapshot = async {
        loop {
            let chunks = document_chunks(&a, &id).await.unwrap();
            if chunks
                .iter()
                .any(|(k, _)| k.contains("/snapshot/") && !k.ends_with("/base"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), samods_snapshot)
        .await
        .expect("samod writes its snapshot into PostgreSQL");
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
    // A sale whose total no till writes (which wrapped the roll-up's sums).
    let mut forged = ledgers[0].records.clone();
    let sale = forged.iter_mut().find_map(|r| match r {
        Record::Sale(s) => Some(s),
        _ => None,
    });
    sale.expect("the ledger holds a sale").total_fen = i64::MAX;
    let doc = ledger_doc(&ledgers[0], &forged);
    PgStorage::new(a.clone())
        .put(key(&id, "snapshot", "s"), doc.automerge().save())
        .await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string()
            .contains("total_fen 9223372036854775807 is beyond what a till takes"),
        "{err}"
    );
    // A sale of eleven lines, each at the largest amount a record may name: within a
    // record's bound, beyond what a till takes in a day.
    let mut forged = ledgers[0].records.clone();
    let sale = forged.iter_mut().find_map(|r| match r {
        Record::Sale(s) => Some(s),
        _ => None,
    });
    let sale = sale.expect("the ledger holds a sale");
    let mut line = sale.lines[0].clone();
    line.amount_fen = fairpos_sync::plausible::MAX_FEN;
    sale.lines = vec![line; 11];
    let doc = ledger_doc(&ledgers[0], &forged);
    PgStorage::new(a.clone())
        .put(key(&id, "snapshot", "s"), doc.automerge().save())
        .await;
    let err = project_document(&a, &id).await.unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(
        err.to_string()
            .contains("beyond what a till takes in a day"),
        "{err}"
    );
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
        let change = doc.append(r, 0).unwrap();
        let name = change.hash().to_string();
        storage
            .put(key(&id, "incremental", &name), change.raw_bytes().to_vec())
            .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_following_the_store_project_every_ledger_once() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    let ledgers = fair(&mut Lcg(13), 40);
    // The tills sync through the first process, which is stopped while they do: the second
    // projects what the first stored and did not project itself.
    let (origin_a, origin_b) = (Origin::new(), Origin::new());
    let storage = PgStorage::new(b.clone()).announcing_as(&origin_a);
    // Two ledgers were stored before either process started: both catch up, once.
    for ledger in &ledgers[..2] {
        store_in_pieces(&storage, ledger).await;
    }
    let early: usize = ledgers[..2].iter().map(|l| l.records.len()).sum();
    let first = catch_up(&a, None).await.unwrap();
    assert_eq!((first.documents, first.new_records), (2, early));
    assert_eq!(first.with_new_records, 2);
    let second = catch_up(&b, None).await.unwrap();
    assert_eq!((second.documents, second.new_records), (2, 0));
    assert_eq!(
        second.with_new_records, 0,
        "both found projected by the first"
    );

    // Both follow the store; the first is stopped while the tills sync.
    let follower = |pool: Pool, mut listener: Listener| {
        tokio::spawn(async move {
            follow(&pool, &mut listener, None, &Default::default(), |_| {}).await
        })
    };
    let first = follower(
        a.clone(),
        Listener::start(&url, &origin_a, &[]).await.unwrap(),
    );
    let second = follower(
        b.clone(),
        Listener::start(&url, &origin_b, &[]).await.unwrap(),
    );
    for (i, ledger) in ledgers[2..].iter().enumerate() {
        store_in_pieces(&storage, ledger).await;
        if i == 1 {
            first.abort();
        }
    }
    every_record_projected(
        &a,
        &ledgers,
        "the process still following projects every ledger",
    )
    .await;
    assert!(first.await.unwrap_err().is_cancelled());
    second.abort();
}

/// `ledgers` announced, as a till announces its ledgers before it syncs (what was projected
/// of each is then held with it): their document ids.
async fn announced(pool: &Pool, ledgers: &[Ledger]) -> Vec<DocumentId> {
    let announced: Vec<(String, String, String)> = ledgers
        .iter()
        .map(|l| {
            let ledger = ledger_doc(l, &[]).id().clone();
            let id = document_id(&ledger.key()).to_string();
            (ledger.key(), id, ledger.device)
        })
        .collect();
    let refused = fairpos_postgres::registry::announce(pool, &announced, 10);
    assert_eq!(refused.await.unwrap(), None);
    announced.iter().map(|a| a.1.parse().unwrap()).collect()
}

/// A process following the store through `listener` on `pool`, leaving what another stores
/// to it for `left_for`: its task, and the passes it reports.
fn following(
    pool: &Pool,
    mut listener: Listener,
    left_for: Duration,
) -> (
    tokio::task::JoinHandle<fairpos_postgres::Result<()>>,
    tokio::sync::mpsc::UnboundedReceiver<follow::Pass>,
) {
    let (passes, passed) = tokio::sync::mpsc::unbounded_channel();
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        let done = |pass: &follow::Pass| drop(passes.send(pass.clone()));
        let failed_before = follow::Pass::default();
        follow::follow_leaving(&pool, &mut listener, None, &failed_before, left_for, done).await
    });
    (task, passed)
}

/// The next pass `passed` reports that took `doc`.
async fn taking(
    passed: &mut tokio::sync::mpsc::UnboundedReceiver<follow::Pass>,
    doc: &DocumentId,
) -> follow::Pass {
    loop {
        let pass = passed.recv().await.expect("the follower runs");
        if pass.took.contains(doc) {
            return pass;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_another_process_stored_is_left_to_it_and_projected_here_if_it_did_not() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    let fair = fair(&mut Lcg(17), 3);
    let ledgers = &fair[..3];
    let ids = announced(&a, ledgers).await;
    let (origin_a, origin_b) = (Origin::new(), Origin::new());
    let through_a = PgStorage::new(a.clone()).announcing_as(&origin_a);
    // Process B follows the store; its passes are watched here.
    let listener = Listener::start(&url, &origin_b, &[]).await.unwrap();
    let (follower, mut passed) = following(&b, listener, follow::LEFT_TO_ANOTHER);

    // A stores the first ledger and projects it; its turn is then held (as by a projection
    // that never ends): B sees it projected without waiting for the turn.
    store_in_pieces(&through_a, &ledgers[0]).await;
    let held = ledgers[0].records.len();
    assert_eq!(project_document(&a, &ids[0]).await.unwrap(), Some(held));
    let mut turn = connect(&url).unwrap().get().await.unwrap();
    let tx = turn.transaction().await.unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&fairpos_postgres::LEDGER_LOCK, &ids[0].to_string()],
    )
    .await
    .unwrap();
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &ids[0]))
        .await
        .expect("B reports the ledger A projected, without its turn");
    assert_eq!((pass.documents, pass.new_records), (1, 0));
    tx.rollback().await.unwrap();

    // A stores the second and dies before projecting it: B projects it.
    store_in_pieces(&through_a, &ledgers[1]).await;
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &ids[1]))
        .await
        .expect("B projects a ledger A stored and did not project");
    assert!(pass.new_records > 0);

    // What B stores itself, B projects.
    store_in_pieces(
        &PgStorage::new(b.clone()).announcing_as(&origin_b),
        &ledgers[2],
    )
    .await;
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &ids[2]))
        .await
        .expect("B projects what it stores");
    assert!(pass.new_records > 0);
    every_record_projected(&a, ledgers, "every record is projected").await;
    follower.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_another_process_projected_is_reported_when_its_projection_is_heard_of() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(19), 1)[0];
    let id = announced(&a, std::slice::from_ref(ledger)).await.remove(0);
    // B leaves what A stores to A for an hour: only A's projection, heard of, ends the wait.
    let (origin_a, origin_b) = (Origin::new(), Origin::new());
    let listener = Listener::start(&url, &origin_b, &[]).await.unwrap();
    let (follower, mut passed) = following(&b, listener, Duration::from_secs(3600));
    store_in_pieces(&PgStorage::new(a.clone()).announcing_as(&origin_a), ledger).await;
    let held = ledger.records.len();
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(held));
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &id))
        .await
        .expect("B reports the ledger once A's projection is heard of");
    assert_eq!((pass.documents, pass.new_records), (1, 0));
    follower.abort();
}

/// The projection's backlog, as `/metrics` reads it: the announced ledgers stored since their
/// projection, whichever process stored them; not a document nobody announced, not a refused
/// ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_is_the_announced_ledgers_stored_since_their_projection() {
    use fairpos_postgres::ledgers::backlog;
    const LONG: Duration = Duration::from_secs(30);
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let fair = fair(&mut Lcg(23), 4);
    let (unannounced, ledgers) = (&fair[0], &fair[1..3]);
    let ids = announced(&a, ledgers).await;
    assert_eq!(backlog(&a, LONG).await.unwrap(), 0, "nothing stored yet");
    let through_b = PgStorage::new(b.clone());
    store_in_pieces(&through_b, unannounced).await;
    assert_eq!(backlog(&a, LONG).await.unwrap(), 0, "announced by no till");
    for ledger in ledgers {
        store_in_pieces(&through_b, ledger).await;
    }
    assert_eq!(backlog(&a, LONG).await.unwrap(), 2, "stored through b");
    project_document(&a, &ids[0]).await.unwrap();
    assert_eq!(backlog(&b, LONG).await.unwrap(), 1, "one projected");
    catch_up(&b, None).await.unwrap();
    assert_eq!(backlog(&a, LONG).await.unwrap(), 0, "all projected");

    // A chunk stored since: waiting again, until the ledger is refused.
    let doc = ledger_doc(&ledgers[1], &ledgers[1].records);
    through_b
        .put(key(&ids[1], "snapshot", "since"), doc.automerge().save())
        .await;
    assert_eq!(backlog(&a, LONG).await.unwrap(), 1, "a chunk stored since");
    fairpos_postgres::registry::refuse(&a, &ids[1].to_string(), "for the test")
        .await
        .unwrap();
    assert_eq!(backlog(&a, LONG).await.unwrap(), 0, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_tills_ledger_is_checked_against_its_actor_and_its_heads_are_held() {
    use fairpos_postgres::registry::{self, Enrolling, Enrolment};
    use fairpos_sync::ledger::heads_text;
    let Some(server) = server() else { return };
    let (_, a, b) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(21), 1)[0];
    let (earlier, last) = ledger.records.split_at(ledger.records.len() - 1);
    let mut doc = ledger_doc(ledger, earlier);
    let id = document_id(&doc.id().key());
    let shown = id.to_string();
    let actor = doc.automerge().get_actor().to_hex_string();

    // T1 is enrolled with another actor than the one that wrote the ledger it announces.
    assert!(registry::add_device(&a, "T1", "S1", "till", "code")
        .await
        .unwrap());
    let other_actor = ActorId::random().to_hex_string();
    // A till enrolling again as another device is refused this code, which stays unused.
    let enrolling = |again, role| Enrolling {
        code_hash: "code",
        actor: &other_actor,
        again,
        role,
    };
    let refused = registry::enroll(&a, &enrolling(Some("T2"), None), "secret", "key")
        .await
        .unwrap();
    assert_eq!(
        refused,
        Enrolment::OtherDevice {
            code_for: "T1".into(),
            enrolling: "T2".into()
        }
    );
    // So is a hub, the till's code kept.
    let refused = registry::enroll(&a, &enrolling(None, Some("hub")), "secret", "key")
        .await
        .unwrap();
    assert_eq!(refused, Enrolment::OtherRole("till".into()));
    let granted = registry::enroll(&a, &enrolling(Some("T1"), Some("till")), "secret", "key")
        .await
        .unwrap();
    assert!(matches!(granted, Enrolment::Granted { ref device, .. } if device == "T1"));
    let announced = [(doc.id().key(), shown.clone(), "T1".to_string())];
    assert_eq!(registry::announce(&a, &announced, 1).await.unwrap(), None);
    // One ledger more than T1 may hold is not announced; announcing a held one again is.
    let next_day = doc.id().key().replace("2026-11-22", "2026-11-23");
    let more = [(
        next_day.clone(),
        document_id(&next_day).to_string(),
        "T1".to_string(),
    )];
    let refused = registry::announce(&a, &more, 1).await.unwrap();
    assert_eq!(refused, Some(("T1".to_string(), 2)));
    assert_eq!(registry::announce(&a, &announced, 1).await.unwrap(), None);
    assert_eq!(registry::documents(&a, Some("T1")).await.unwrap().len(), 1);
    PgStorage::new(a.clone())
        .put(key(&id, "snapshot", "s"), doc.automerge().save())
        .await;

    // Refused whole, the refusal held for the till's confirmation and logged.
    let pass = catch_up(&b, None).await.unwrap();
    assert_eq!(pass.refused.len(), 1, "{pass:?}");
    assert!(
        pass.refused[0].1.contains("forged ledger change"),
        "{pass:?}"
    );
    assert_eq!(records_held(&b).await, 0);
    let held = registry::documents(&a, Some("T1")).await.unwrap();
    assert!(
        held[0].refused.as_deref().unwrap().contains("forged"),
        "{held:?}"
    );
    // The other process refuses it too, and the refusal is logged once.
    assert_eq!(catch_up(&a, None).await.unwrap().refused.len(), 1);
    let events = registry::events(&a).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("T1", "refused")
    );

    // Enrolled again with the ledger's actor (the same code, as a till whose first attempt
    // never heard back may not: another actor), it is projected and its heads are held.
    let retry = Enrolling {
        code_hash: "code",
        actor: &actor,
        again: None,
        role: None,
    };
    let again = registry::enroll(&a, &retry, "secret", "key").await.unwrap();
    assert_eq!(again, Enrolment::CodeUsed);
    let client = a.get().await.unwrap();
    client
        .execute(
            "UPDATE devices SET actor = $1 WHERE device = 'T1'",
            &[&actor],
        )
        .await
        .unwrap();
    let pass = catch_up(&b, None).await.unwrap();
    assert!(pass.refused.is_empty(), "{pass:?}");
    assert_eq!(records_held(&b).await, earlier.len());
    let held = registry::documents(&a, Some("T1")).await.unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, earlier.len() as i64);
    assert_eq!(held[0].refused, None);

    // The same chunks again: nothing new. A change stored after them is projected, and
    // moves the heads held on.
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(0));
    let change = doc.append(&last[0], 0).unwrap();
    PgStorage::new(b.clone())
        .put(
            key(&id, "incremental", &change.hash().to_string()),
            change.raw_bytes().to_vec(),
        )
        .await;
    assert_eq!(project_document(&a, &id).await.unwrap(), Some(1));
    let held = registry::documents(&b, Some("T1")).await.unwrap();
    assert_eq!(held[0].heads, heads_text(&doc.heads()));
    assert_eq!(held[0].records, ledger.records.len() as i64);
    assert_eq!(records_held(&b).await, ledger.records.len());
}

/// How [`a_put_postgresql_refuses_is_tried_again_then_stops_the_process`] breaks the store
/// in its child, and the child's database.
const BREAK: &str = "FAIRPOS_TEST_BREAK_PG_STORAGE";
const BROKEN_DATABASE: &str = "FAIRPOS_TEST_BROKEN_PG_DATABASE";

/// Run only as a child of the test below: a put PostgreSQL refuses, for half a second
/// (`for-a-while`) or for good (`for-good`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_put_postgresql_refuses_is_tried_again_then_stops_the_process"]
async fn refused_put_child() {
    let (Ok(how), Ok(url)) = (std::env::var(BREAK), std::env::var(BROKEN_DATABASE)) else {
        return;
    };
    let pool = connect(&url).unwrap();
    migrate(&pool).await.unwrap();
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
             CREATE TRIGGER refused BEFORE INSERT ON samod_kv
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
    let doc = document_id("ledger/fair/T1/2026-11-22");
    PgStorage::new(pool.clone())
        .put(key(&doc, "incremental", "h"), b"change".to_vec())
        .await;
    let stored = common::rows_in(&pool, "samod_kv").await;
    println!("answered, {stored} chunk stored");
}

/// A put PostgreSQL refuses for a moment (a restart, a lost connection) is tried again and
/// stored; one it keeps refusing stops the process (SIGABRT) with one line saying why,
/// instead of answering samod as if the chunk were stored.
#[test]
fn a_put_postgresql_refuses_is_tried_again_then_stops_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let Some(server) = server() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for how in ["for-a-while", "for-good"] {
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
            assert!(out.contains("answered, 1 chunk stored"), "{how}: {out}");
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
