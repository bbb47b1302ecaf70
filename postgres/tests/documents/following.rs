//! Processes following the store: each ledger projected once whichever process stored it, a
//! ledger another process stored left to it and projected here if it did not, its projection
//! reported when heard of, and the projection's backlog.

use super::chunks_read::store_ready_change_and_forged_fork;
use super::*;

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
    let mut told = Vec::new();
    let first = catch_up(&a, None, |done, of| told.push((done, of)))
        .await
        .unwrap();
    assert_eq!((first.documents, first.new_records), (2, early));
    // Told as each document stored is projected (the catalog, taken but not projected,
    // among them).
    let stored = first.took.len();
    let each: Vec<_> = (1..=stored).map(|done| (done, stored)).collect();
    assert_eq!(told, each);
    assert_eq!(first.with_new_records, 2);
    let second = catch_up(&b, None, |_, _| {}).await.unwrap();
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
    catch_up(&b, None, |_, _| {}).await.unwrap();
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

/// A ledger projected with a change that waits for one not stored (here a forged fork, which
/// nothing stored later will be followed by) is taken again a second later with nothing more
/// heard of: alone, that change goes to the document, which refuses the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_read_with_a_change_waiting_is_taken_again_and_a_forged_fork_refused() {
    let Some(server) = server() else { return };
    let (url, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(29), 6)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 3);
    let (mut doc, id, _) = projected_whole(&a, ledger, earlier).await;
    // Stored before the process follows the store, so not heard of.
    store_ready_change_and_forged_fork(&a, &mut doc, &id, &later[0], &later[2]).await;
    let origin = Origin::new();
    let listener = Listener::start(&url, &origin, &[]).await.unwrap();
    let (follower, mut passed) = following(&a, listener, follow::LEFT_TO_ANOTHER);

    // The till's next change, heard of: read with the first on their own; the fork waits.
    let storage = PgStorage::new(a.clone()).announcing_as(&origin);
    store_change_through(&storage, &id, &doc.append(&later[1], 0).unwrap()).await;
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &id))
        .await
        .expect("the ledger is projected when its change is heard of");
    assert_eq!(pass.new_records, 2, "{pass:?}");
    assert_eq!(pass.waiting, std::slice::from_ref(&id), "{pass:?}");
    assert!(pass.refused.is_empty(), "{pass:?}");

    // Nothing more stored: taken again all the same, and refused.
    let pass = tokio::time::timeout(Duration::from_secs(20), taking(&mut passed, &id))
        .await
        .expect("the ledger is taken again");
    assert_eq!(pass.refused.len(), 1, "{pass:?}");
    assert!(
        pass.refused[0].1.contains("forged ledger change"),
        "{pass:?}"
    );
    assert!(pass.waiting.is_empty(), "{pass:?}");
    assert_eq!(records_held(&a).await, earlier.len() + 2);
    follower.abort();
}

/// A till storing a change every 200 ms beside a forged fork does not keep the fork waiting:
/// the ledger is taken again a second after the fork first waited, from its document, and
/// refused while the changes still come (taken again only a second after the last pass that
/// left it waiting, from the chunks alone, it was never judged while they came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_fork_is_refused_while_the_till_keeps_storing_changes() {
    let Some(server) = server() else { return };
    let (url, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(31), 36)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 31);
    let (mut doc, id, _) = projected_whole(&a, ledger, earlier).await;
    // Stored before the process follows the store, so not heard of.
    store_change(&a, &id, &super::chunks_read::forged_fork(&doc, &later[30])).await;
    let origin = Origin::new();
    let listener = Listener::start(&url, &origin, &[]).await.unwrap();
    let (follower, mut passed) = following(&a, listener, follow::LEFT_TO_ANOTHER);
    let storage = PgStorage::new(a.clone()).announcing_as(&origin);
    let forged = |pass: &follow::Pass| {
        pass.refused
            .iter()
            .any(|(doc, why)| *doc == id && why.contains("forged ledger change"))
    };
    // Thirty changes, 200 ms apart: each heard of and read with those before it, on its own.
    let mut refused_while_storing = false;
    for record in &later[..30] {
        store_change_through(&storage, &id, &doc.append(record, 0).unwrap()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Ok(pass) = passed.try_recv() {
            refused_while_storing |= forged(&pass);
        }
    }
    assert!(
        refused_while_storing,
        "the fork was judged as the till stored"
    );
    follower.abort();
}

/// A one-shot projection has no later pass: a forged fork beside a ready change, left
/// waiting by the catch-up, is judged at once from the document and refused; the ready
/// change is projected, and the counts of ledgers taken are not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_projection_reads_a_waiting_change_from_its_document() {
    let Some(server) = server() else { return };
    let (_, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(41), 6)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 2);
    let (mut doc, id, _) = projected_whole(&a, ledger, earlier).await;
    store_ready_change_and_forged_fork(&a, &mut doc, &id, &later[0], &later[1]).await;
    let mut pass = catch_up(&a, None, |_, _| {}).await.unwrap();
    assert_eq!(pass.waiting, std::slice::from_ref(&id), "{pass:?}");
    assert_eq!(pass.new_records, 1, "{pass:?}");
    let documents = pass.documents;

    follow::read_waiting(&a, None, &mut pass).await;
    assert!(pass.waiting.is_empty(), "{pass:?}");
    assert_eq!(pass.refused.len(), 1, "{pass:?}");
    assert!(
        pass.refused[0].1.contains("forged ledger change"),
        "{pass:?}"
    );
    assert_eq!((pass.documents, pass.new_records), (documents, 1));
    assert_eq!(records_held(&a).await, earlier.len() + 1);
    // Nothing waiting: nothing taken.
    follow::read_waiting(&a, None, &mut pass).await;
    assert_eq!(pass.refused.len(), 1);
}

/// A ledger left with a change waiting, whose wait ends on the chunk path (what it waited
/// for stored a moment later, as usual), is not taken again from its document a second
/// after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_ends_on_the_chunk_path_is_not_taken_again_from_the_document() {
    let Some(server) = server() else { return };
    let (url, a, _) = two_processes(&server).await;
    let ledger = &fair(&mut Lcg(43), 6)[0];
    let (earlier, later) = ledger.records.split_at(ledger.records.len() - 3);
    let (mut doc, id, _) = projected_whole(&a, ledger, earlier).await;
    let changes: Vec<_> = later.iter().map(|r| doc.append(r, 0).unwrap()).collect();
    // Stored before the process follows the store, so not heard of.
    store_change(&a, &id, &changes[0]).await;
    let origin = Origin::new();
    let listener = Listener::start(&url, &origin, &[]).await.unwrap();
    let (follower, mut passed) = following(&a, listener, follow::LEFT_TO_ANOTHER);
    let storage = PgStorage::new(a.clone()).announcing_as(&origin);
    let within = Duration::from_secs(20);

    store_change_through(&storage, &id, &changes[2]).await;
    let pass = tokio::time::timeout(within, taking(&mut passed, &id))
        .await
        .expect("the ledger is projected when its change is heard of");
    assert_eq!(pass.new_records, 1, "{pass:?}");
    assert_eq!(pass.waiting, std::slice::from_ref(&id), "{pass:?}");
    store_change_through(&storage, &id, &changes[1]).await;
    let pass = tokio::time::timeout(within, taking(&mut passed, &id))
        .await
        .expect("the ledger is projected when what it waited for is heard of");
    assert_eq!(pass.new_records, 2, "{pass:?}");
    assert!(pass.waiting.is_empty(), "{pass:?}");

    // Two seconds on, no pass has taken it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(pass) = passed.try_recv() {
        assert!(!pass.took.contains(&id), "taken again: {pass:?}");
    }
    assert_eq!(records_held(&a).await, earlier.len() + 3);
    follower.abort();
}
