//! samod's storage in SQLite: batches, ranges, and a storage that fails.

use super::*;

fn doc(n: u8) -> DocumentId {
    DocumentId::try_from(vec![n; 16]).unwrap()
}

#[test]
fn every_stored_document_is_found_once() {
    let conn = Connection::open_in_memory().unwrap();
    migrate(&conn).unwrap();
    let put = |key: String| {
        conn.execute("INSERT INTO samod_kv(key, bytes) VALUES (?1, x'00')", [key])
            .unwrap();
    };
    assert!(stored_documents(&conn).unwrap().is_empty());
    for n in [3u8, 1, 2] {
        put(format!("{}/snapshot/a", doc(n)));
        put(format!("{}/incremental/b", doc(n)));
        put(format!("{}/incremental/c", doc(n)));
    }
    // Keys that name no document.
    put("0-not-a-document".into());
    put(format!("{}", doc(1)).replace(|c: char| c.is_alphanumeric(), "z"));
    put("storage-adapter-id".into());
    let mut expected = vec![doc(1), doc(2), doc(3)];
    expected.sort_by_key(|d| d.to_string());
    assert_eq!(stored_documents(&conn).unwrap(), expected);
}

/// Puts made at once are taken together, and each is answered only once it is committed:
/// another connection (headquarters' projection reads on one) sees every row it was told
/// of, and the listener hears of each document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_taken_together_are_answered_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hq.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .unwrap();
    migrate(&conn).unwrap();
    let (changed_tx, changed_rx) = std::sync::mpsc::channel();
    let storage = SqliteStorage::new(conn, Some(changed_tx)).unwrap();
    let docs: Vec<DocumentId> = (0u64..200)
        .map(|n| {
            let mut bytes = [7u8; 16];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            DocumentId::try_from(bytes.to_vec()).unwrap()
        })
        .collect();
    let tasks: Vec<_> = docs
        .iter()
        .map(|doc| {
            let storage = storage.clone();
            let key =
                StorageKey::from_parts([doc.to_string(), "snapshot".into(), "x".into()]).unwrap();
            let path = path.clone();
            tokio::spawn(async move {
                storage.put(key.clone(), b"bytes".to_vec()).await;
                let reader = Connection::open(&path).unwrap();
                let seen: Option<Vec<u8>> = reader
                    .query_row(
                        "SELECT bytes FROM samod_kv WHERE key = ?1",
                        [key_text(&key)],
                        |r| r.get(0),
                    )
                    .optional()
                    .unwrap();
                seen
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().as_deref(), Some(&b"bytes"[..]));
    }
    let heard: std::collections::HashSet<DocumentId> = changed_rx.try_iter().collect();
    assert_eq!(heard.len(), docs.len());
    // A delete is heard of too (a compaction's, after its snapshot); deleting nothing is not.
    let chunk = |doc: &DocumentId, name: &str| {
        StorageKey::from_parts([doc.to_string(), "snapshot".into(), name.into()]).unwrap()
    };
    storage.delete(chunk(&docs[2], "none such")).await;
    storage.delete(chunk(&docs[1], "x")).await;
    assert_eq!(
        changed_rx.try_iter().collect::<Vec<_>>(),
        vec![docs[1].clone()]
    );
    assert!(storage.load(chunk(&docs[1], "x")).await.is_none());
    // Loads go through the same thread and see what was put.
    let first = StorageKey::from_parts([docs[0].to_string()]).unwrap();
    assert_eq!(storage.load_range(first).await.len(), 1);
}

/// How the storage is broken in [`a_storage_that_fails_stops_the_process`]'s child.
const BREAK: &str = "FAIRPOS_TEST_BREAK_SAMOD_STORAGE";

/// Run only as a child of the test below, which names the way to break the storage: a
/// put the database refuses for a second (`put-for-a-while`: stored when tried again),
/// three puts taken together whose last rolls the transaction back for a while
/// (`batch`: the first two stored when run again alone, the last when tried again), a
/// put refused for good (`put`), or the storage's thread stopped by a panic. The last
/// two stop the process before the put or the load is answered.
#[tokio::test]
#[ignore = "run by a_storage_that_fails_stops_the_process, in a process of its own"]
async fn broken_storage_child() {
    let Ok(how) = std::env::var(BREAK) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hq.db");
    let conn = Connection::open(&path).unwrap();
    migrate(&conn).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE refusing(since TEXT);
         INSERT INTO refusing VALUES ('now');
         CREATE TRIGGER refused BEFORE INSERT ON samod_kv
         WHEN NEW.key LIKE '%/refused' AND EXISTS (SELECT 1 FROM refusing)
         BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;
         CREATE TRIGGER rolled_back BEFORE INSERT ON samod_kv
         WHEN NEW.key LIKE '%/rolled-back' AND EXISTS (SELECT 1 FROM refusing)
         BEGIN SELECT RAISE(ROLLBACK, 'the whole transaction is gone'); END;",
    )
    .unwrap();
    let storage = SqliteStorage::new(conn, None).unwrap();
    let key = |last: &str| {
        StorageKey::from_parts([doc(1).to_string(), "incremental".into(), last.into()]).unwrap()
    };
    storage.put(key("kept"), b"kept".to_vec()).await;
    match how.as_str() {
        "put" => storage.put(key("refused"), b"lost".to_vec()).await,
        "put-for-a-while" => {
            let clearing = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(1500));
                let other = Connection::open(&path).unwrap();
                other.execute_batch("DELETE FROM refusing").unwrap();
            });
            storage.put(key("refused"), b"kept too".to_vec()).await;
            clearing.join().unwrap();
            let first = StorageKey::from_parts([doc(1).to_string()]).unwrap();
            println!("stored: {}", storage.load_range(first).await.len());
        }
        "batch" => {
            // A second storage on the same file whose thread starts only once the three puts
            // are queued, so that it takes them together: the third rolls the transaction
            // back, and with it what the first two wrote.
            let (jobs, queue) = std::sync::mpsc::channel();
            let deferred = SqliteStorage {
                jobs,
                changed: None,
            };
            let mut puts = Vec::new();
            for last in ["first", "second", "rolled-back"] {
                let (storage, key) = (deferred.clone(), key(last));
                puts.push(tokio::spawn(async move {
                    storage.put(key, b"taken together".to_vec()).await
                }));
                // The put runs until it waits for its answer: its job is queued.
                tokio::task::yield_now().await;
            }
            let conn = Connection::open(&path).unwrap();
            std::thread::spawn(move || serve(&conn, &queue));
            let rolled_back = puts.pop().unwrap();
            for put in puts {
                put.await.unwrap();
            }
            // The first two are stored (run again alone); the third, refused again alone, is
            // tried again a second after its answer, and stored then.
            Connection::open(&path)
                .unwrap()
                .execute_batch("DELETE FROM refusing")
                .unwrap();
            rolled_back.await.unwrap();
            let first = StorageKey::from_parts([doc(1).to_string()]).unwrap();
            println!("stored: {}", storage.load_range(first).await.len());
        }
        "panic" => {
            let _: Option<()> = storage
                .with(false, |_| -> rusqlite::Result<()> {
                    panic!("a bug in an operation")
                })
                .await;
        }
        other => panic!("unknown way to break the storage: {other}"),
    }
    println!("answered after the storage broke");
}

/// A put the database refuses for a second is stored when tried again; puts taken
/// together whose transaction is rolled back are each run again alone; one it keeps
/// refusing, or a storage thread gone, stops the process (SIGABRT) with one line saying
/// why, instead of answering samod as if the chunk were stored.
#[test]
fn a_storage_that_fails_stops_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let child = |how: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "samod_storage::tests::broken_storage_child",
                "--ignored",
                "--nocapture",
            ])
            .env(BREAK, how)
            .output()
            .unwrap()
    };
    // A child that ends well, `stored` chunks stored; what it logged.
    let passes = |how: &str, stored: usize| -> String {
        let run = child(how);
        let out = String::from_utf8_lossy(&run.stdout);
        let err = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "{how}: {out}\n{err}");
        assert!(
            out.contains(&format!("stored: {stored}")),
            "{how}: {out}\n{err}"
        );
        err
    };
    let err = passes("put-for-a-while", 2);
    assert!(
        err.contains("the disk is full"),
        "the refusal is logged: {err}"
    );
    // A batch rolled back whole: each put again alone, none answered unstored.
    let err = passes("batch", 4);
    assert!(
        err.contains("3 operations taken together did not commit; each again alone"),
        "{err}"
    );
    for (how, why) in [
        ("put", "storing "),
        ("panic", "its thread stopped on an operation"),
    ] {
        let child = child(how);
        let (out, err) = (
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr),
        );
        assert_eq!(child.status.signal(), Some(6), "{how}: {out}\n{err}");
        assert!(!out.contains("answered after"), "{how}: {out}");
        assert!(
            err.contains(&format!("samod storage: {why}")),
            "{how}: {err}"
        );
        assert!(err.contains("stopping headquarters"), "{how}: {err}");
        if how == "put" {
            assert!(err.contains("failed 3 times"), "tried three times: {err}");
            assert_eq!(err.matches("the disk is full").count(), 3, "{err}");
        }
    }
}

/// A document loaded from its chunks holds every change in them, but one that came before
/// the change it follows (automerge keeps it waiting) or a chunk that is not one change.
#[test]
fn chunks_held_are_those_whose_changes_do_not_wait() {
    use automerge::transaction::Transactable;
    let mut am = automerge::Automerge::new();
    let mut changes = Vec::new();
    for n in 0..3i64 {
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, "n", n).unwrap();
        tx.commit();
        changes.push(am.get_last_local_change().unwrap().clone());
    }
    let chunk = |name: &str, bytes: &[u8]| (format!("d/{name}"), bytes.to_vec());
    let snapshot = chunk("snapshot/s", &am.save());
    let incremental =
        |c: &automerge::Change| chunk(&format!("incremental/{}", c.hash()), c.raw_bytes());
    let all = vec![snapshot.clone(), incremental(&changes[2])];
    let loaded = load_chunks("d", &all).unwrap().unwrap();
    let keys = |chunks: &[(String, Vec<u8>)]| -> Vec<String> {
        chunks.iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(chunks_held(&loaded, &all), keys(&all));
    // The last change without the one before it: loaded, it waits.
    let gap = vec![incremental(&changes[0]), incremental(&changes[2])];
    let loaded = load_chunks("d", &gap).unwrap().unwrap();
    assert_eq!(chunks_held(&loaded, &gap), keys(&gap[..1]));
    // Two changes in one chunk: not one change, so not known to be held.
    let mut both = changes[0].raw_bytes().to_vec();
    both.extend_from_slice(changes[1].raw_bytes());
    let two = vec![chunk("incremental/two", &both)];
    let loaded = load_chunks("d", &two).unwrap().unwrap();
    assert!(chunks_held(&loaded, &two).is_empty());
}
