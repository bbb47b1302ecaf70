//! samod's puts and deletes made at once are written together (group commit): far fewer
//! statements than writes, each write seen through another process as soon as it is
//! answered, every document announced, a key put twice while it waits stored once.

use std::collections::HashSet;

use futures::stream::{FuturesUnordered, StreamExt};

use super::*;

/// Makes the database count the statements that insert into `samod_kv`, and those that
/// delete from it.
async fn count_writing_statements(pool: &Pool) {
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE statements(op text PRIMARY KEY, n int NOT NULL);
             INSERT INTO statements VALUES ('INSERT', 0), ('DELETE', 0);
             CREATE FUNCTION counted() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 UPDATE statements SET n = n + 1 WHERE op = TG_OP;
                 RETURN NULL;
             END $$;
             CREATE TRIGGER counted AFTER INSERT OR DELETE ON samod_kv
                 FOR EACH STATEMENT EXECUTE FUNCTION counted();",
        )
        .await
        .unwrap();
}

async fn statements(pool: &Pool, op: &str) -> i32 {
    let client = pool.get().await.unwrap();
    let sql = "SELECT n FROM statements WHERE op = $1";
    client.query_one(sql, &[&op]).await.unwrap().get(0)
}

/// The bytes stored under `key`, read through `pool`.
async fn stored(pool: &Pool, key: &StorageKey) -> Option<Vec<u8>> {
    let client = pool.get().await.unwrap();
    let (sql, key) = ("SELECT bytes FROM samod_kv WHERE key = $1", key.to_string());
    let row = client.query_opt(sql, &[&key]).await.unwrap();
    row.map(|row| row.get(0))
}

/// Waits until each of `docs` is heard of.
async fn heard_each(listener: &mut Listener, docs: &[DocumentId]) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_at_once_are_made_together_and_each_is_seen_once_answered() {
    let Some(server) = server() else { return };
    let (url, a, b) = two_processes(&server).await;
    count_writing_statements(&a).await;
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
                assert_eq!(
                    stored(&b, &key).await,
                    Some(bytes),
                    "{key} is readable once put"
                );
            }
        })
        .collect();
    let mut answered = 0;
    while at_once.next().await.is_some() {
        answered += 1;
    }
    assert_eq!(answered, 204);
    assert_eq!(common::rows_in(&a, "samod_kv").await, 200);

    let inserting = statements(&a, "INSERT").await;
    assert!(
        (1..=20).contains(&inserting),
        "204 puts made at once took {inserting} statements"
    );
    heard_each(&mut listener, &docs).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while listener.try_next().is_some() {}

    // Then a compaction's deletes of every change, four of chunks never stored, and a
    // snapshot of each document put beside them: every statement both puts and deletes (a
    // trigger for each fires at each statement).
    let statements_before = statements(&a, "DELETE").await;
    let deletes = docs.iter().flat_map(|doc| {
        (0..51).map(move |n| (key(doc, "incremental", &format!("change{n}")), None))
    });
    let snapshots = docs.iter().map(|doc| {
        (
            key(doc, "snapshot", "s"),
            Some(doc.to_string().into_bytes()),
        )
    });
    let mut at_once: FuturesUnordered<_> = deletes
        .chain(snapshots)
        .map(|(key, put)| {
            let (storage, b) = (storage.clone(), b.clone());
            async move {
                match put {
                    Some(bytes) => {
                        storage.put(key.clone(), bytes.clone()).await;
                        assert_eq!(stored(&b, &key).await, Some(bytes), "{key} is put");
                    }
                    None => {
                        storage.delete(key.clone()).await;
                        assert_eq!(stored(&b, &key).await, None, "{key} is gone once deleted");
                    }
                }
            }
        })
        .collect();
    while at_once.next().await.is_some() {}
    assert_eq!(common::rows_in(&a, "samod_kv").await, 4);
    let writing = statements(&a, "DELETE").await - statements_before;
    assert!(
        (1..=20).contains(&writing),
        "204 deletes and 4 puts made at once took {writing} statements"
    );
    heard_each(&mut listener, &docs).await;
}
