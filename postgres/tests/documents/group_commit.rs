//! samod's puts made at once are written together (group commit): far fewer statements than
//! puts, each put readable through another process as soon as it is answered, every
//! document announced, a key put twice while it waits stored once.

use std::collections::HashSet;

use futures::stream::{FuturesUnordered, StreamExt};

use super::*;

/// Makes the database count the statements that insert into `samod_kv`.
async fn count_inserting_statements(pool: &Pool) {
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE statements(n int NOT NULL);
             INSERT INTO statements VALUES (0);
             CREATE FUNCTION counted() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 UPDATE statements SET n = n + 1;
                 RETURN NULL;
             END $$;
             CREATE TRIGGER counted AFTER INSERT ON samod_kv
                 FOR EACH STATEMENT EXECUTE FUNCTION counted();",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_made_at_once_are_written_together_and_each_is_readable_once_answered() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    count_inserting_statements(&a).await;
    let mut listener = Listener::start(&url, &Origin::new(), &[]).await.unwrap();
    let storage = PgStorage::new(a.clone());
    let docs: Vec<DocumentId> = (1..=4)
        .map(|t| document_id(&format!("ledger/fair/T{t}/2026-11-22")))
        .collect();
    // 50 changes of each of four ledgers, as samod puts a save's changes: all at once; the
    // first change of each put twice.
    let puts = docs
        .iter()
        .flat_map(|doc| (0..50).map(move |n| (doc.clone(), n)))
        .chain(docs.iter().map(|doc| (doc.clone(), 0)));
    let mut at_once: FuturesUnordered<_> = puts
        .map(|(doc, n)| {
            let (storage, b) = (storage.clone(), b.clone());
            async move {
                let key = key(&doc, "incremental", &format!("change{n}"));
                let bytes = format!("{doc} {n}").into_bytes();
                storage.put(key.clone(), bytes.clone()).await;
                let read = b
                    .get()
                    .await
                    .unwrap()
                    .query_opt(
                        "SELECT bytes FROM samod_kv WHERE key = $1",
                        &[&key.to_string()],
                    )
                    .await
                    .unwrap()
                    .map(|row| row.get::<_, Vec<u8>>(0));
                assert_eq!(read, Some(bytes), "{key} is readable once answered");
            }
        })
        .collect();
    let mut answered = 0;
    while at_once.next().await.is_some() {
        answered += 1;
    }
    assert_eq!(answered, 204);
    assert_eq!(common::rows_in(&a, "samod_kv").await, 200);

    let client = a.get().await.unwrap();
    let statements: i32 = client
        .query_one("SELECT n FROM statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        (1..=20).contains(&statements),
        "204 puts made at once took {statements} statements"
    );

    let mut heard = HashSet::new();
    while heard.len() < docs.len() {
        let next = tokio::time::timeout(Duration::from_secs(10), listener.next())
            .await
            .expect("every document is announced")
            .expect("the listener's connection is up");
        heard.insert(next.doc().clone());
    }
    assert_eq!(heard, docs.iter().cloned().collect());
}
