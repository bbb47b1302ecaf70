//! samod's key-value storage in SQLite (`samod_kv`), for headquarters and hubs: documents
//! survive restarts, and a put or a delete tells whoever listens which document changed. One
//! thread of its own owns the connection and takes the operations queued meanwhile together:
//! their writes go in one transaction (group commit), one fsync for many tills' puts, each put
//! answered only once that transaction is committed.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;

use rusqlite::{params, Connection, OptionalExtension};
use samod::storage::{Storage, StorageKey};
use samod::DocumentId;
use std::sync::mpsc::Sender;

/// Creates the table if missing.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS samod_kv(
             key   TEXT PRIMARY KEY,
             bytes BLOB NOT NULL
         ) STRICT, WITHOUT ROWID;",
    )
}

fn key_text(key: &StorageKey) -> String {
    key.to_string()
}

/// The keys (as text, compared byte by byte) from the first to the last that may start with
/// `prefix`: what a storage reads for samod's `load_range`, then narrows with [`in_range`].
pub fn range_bounds(prefix: &StorageKey) -> (String, String) {
    let p = key_text(prefix);
    let end = format!("{p}\u{10FFFF}");
    (p, end)
}

/// The rows read between [`range_bounds`] whose keys are under `prefix`, as samod wants them.
pub fn in_range(
    prefix: &StorageKey,
    rows: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> HashMap<StorageKey, Vec<u8>> {
    rows.into_iter()
        .filter_map(|(k, v)| {
            let key = StorageKey::from_parts(k.split('/')).ok()?;
            prefix.is_prefix_of(&key).then_some((key, v))
        })
        .collect()
}

/// The document a stored key (as text) belongs to: its first part.
pub fn document_of(key: &str) -> &str {
    key.split('/').next().unwrap_or_default()
}

/// The keys (as text) just below and just above every chunk of the document `doc`.
pub fn document_bounds(doc: &DocumentId) -> (String, String) {
    (format!("{doc}/"), format!("{doc}0"))
}

/// A digest of a document's chunk keys (in key order). samod names each chunk by what it
/// holds (a change's hash, a snapshot's heads), so the same keys are the same content: a
/// ledger whose digest equals the one stored when it was last projected holds nothing new.
pub fn chunks_digest<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for key in keys {
        hash.update(key.as_bytes());
        hash.update(b"\n");
    }
    crate::keys::hex(&hash.finalize())
}

#[derive(Clone)]
pub struct SqliteStorage {
    jobs: Sender<Job>,
    changed: Option<Sender<DocumentId>>,
}

/// One operation for the storage's thread.
struct Job {
    writes: bool,
    /// Does the operation on the connection (a failure is logged and answered as none; a
    /// put's is tried again, then stops the process: [`lost`]). Runs again, alone, when its
    /// batch's transaction did not commit.
    run: Box<dyn FnMut(&Connection) + Send>,
    /// Hands the last run's result over, once its batch is committed.
    answer: Box<dyn FnOnce() + Send>,
}

/// The most operations taken together.
const BATCH: usize = 64;

/// How many times a put is tried before the process stops.
const PUT_TRIES: usize = 3;

/// How often a commit refused because the database is busy is tried again (each try waits
/// out the connection's busy timeout first).
const COMMIT_TRIES: usize = 3;

impl SqliteStorage {
    /// Storage on `conn`, served by a thread of its own; `changed` hears of every document
    /// written to.
    pub fn new(
        conn: Connection,
        changed: Option<Sender<DocumentId>>,
    ) -> std::io::Result<SqliteStorage> {
        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("samod-storage".into())
            .spawn(move || serve(&conn, &queue))?;
        Ok(SqliteStorage { jobs, changed })
    }

    /// Runs `f` on the storage's thread (each commit is an fsync: the sync sockets' async
    /// workers must not wait on it) and waits for its batch to be committed. `f` may run
    /// twice: it must do the same thing again (an upsert, a delete, a read).
    async fn with<T: Send + 'static>(
        &self,
        writes: bool,
        f: impl Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let filled = slot.clone();
        let run = Box::new(move |conn: &Connection| {
            let result = f(conn).map_err(|e| eprintln!("samod storage: {e}")).ok();
            if let Ok(mut slot) = filled.lock() {
                *slot = result;
            }
        });
        let answer = Box::new(move || {
            let result = slot.lock().ok().and_then(|mut slot| slot.take());
            let _ = tx.send(result);
        });
        let job = Job {
            writes,
            run,
            answer,
        };
        if self.jobs.send(job).is_err() {
            lost("its thread has stopped");
        }
        match rx.await {
            Ok(result) => result,
            // The thread dropped the answer: it panicked.
            Err(_) => lost("its thread stopped on an operation"),
        }
    }
}

/// samod's storage reports nothing to samod: a put it lost would leave samod holding in
/// memory changes no disk holds, which it would then never ask the tills for again, and a
/// read lost with the thread would read as a document not found. So the process stops at
/// once, as after a crash (every put it answered is committed); started again, it projects
/// what is stored and the tills send what it lacks. (A delete that fails leaves a chunk
/// samod compacted into another: nothing is lost, and it is only logged.) PostgreSQL's
/// storage stops the same way.
pub fn lost(why: &str) -> ! {
    eprintln!("samod storage: {why}; stopping headquarters rather than go on without it");
    std::process::abort()
}

/// The storage's thread: takes what has queued (up to [`BATCH`]), runs it, writes of more
/// than one operation in one transaction, and answers each once committed. A batch whose
/// transaction does not commit (rolled back by SQLite on an I/O error or a full disk, or
/// refused) is rolled back and run again one operation at a time, so that no operation is
/// answered for a write that is not on disk. It ends when every handle on the storage is
/// gone.
fn serve(conn: &Connection, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let together = batch.iter().filter(|j| j.writes).count() > 1 && begin(conn);
        for job in &mut batch {
            (job.run)(conn);
        }
        if together && !commit(conn) {
            eprintln!(
                "samod storage: {} operations taken together did not commit; each again alone",
                batch.len()
            );
            for job in &mut batch {
                (job.run)(conn);
            }
        }
        // Whatever happened, the next batch starts outside a transaction.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in batch {
            (job.answer)();
        }
    }
}

fn begin(conn: &Connection) -> bool {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| eprintln!("samod storage: BEGIN: {e}"))
        .is_ok()
}

/// Commits the open transaction; `false`, rolled back, when it cannot (SQLite may already
/// have rolled it back on an error inside it). A busy database is tried again.
fn commit(conn: &Connection) -> bool {
    for _ in 0..COMMIT_TRIES {
        if conn.is_autocommit() {
            // Rolled back by SQLite after an error inside it.
            return false;
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => return true,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
            Err(e) => {
                eprintln!("samod storage: COMMIT: {e}");
                break;
            }
        }
    }
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    false
}

/// Every stored chunk of one document, by the key's last component.
pub fn document_chunks(
    conn: &Connection,
    doc: &DocumentId,
) -> rusqlite::Result<Vec<(String, Vec<u8>)>> {
    let (prefix, end) = document_bounds(doc);
    let mut stmt = conn.prepare_cached(
        "SELECT key, bytes FROM samod_kv WHERE key > ?1 AND key < ?2 ORDER BY key",
    )?;
    let rows = stmt.query_map(params![prefix, end], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Writes one chunk of a document (for imports and seeding), under `kind`
/// (`snapshot` or `incremental`) and `name`.
pub fn put_chunk(
    conn: &Connection,
    doc: &DocumentId,
    kind: &str,
    name: &str,
    bytes: &[u8],
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO samod_kv(key, bytes) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes",
        params![format!("{doc}/{kind}/{name}"), bytes],
    )?;
    Ok(())
}

impl Storage for SqliteStorage {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        let key = key_text(&key);
        self.with(false, move |c| {
            c.prepare_cached("SELECT bytes FROM samod_kv WHERE key = ?1")?
                .query_row([&key], |r| r.get(0))
                .optional()
        })
        .await
        .flatten()
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        let (from, to) = range_bounds(&prefix);
        let rows = self
            .with(false, move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT key, bytes FROM samod_kv WHERE key >= ?1 AND key < ?2",
                )?;
                let rows = stmt.query_map(params![from, to], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap_or_default();
        in_range(&prefix, rows)
    }

    /// A put that fails (each try waits out the connection's busy timeout first) is tried
    /// again [`PUT_TRIES`] times in all, a second apart, before the process stops ([`lost`]).
    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        let text = key_text(&key);
        let data = std::sync::Arc::new(data);
        for tried in 1.. {
            let (stored, data) = (text.clone(), data.clone());
            let written = self
                .with(true, move |c| {
                    c.prepare_cached(
                        "INSERT INTO samod_kv(key, bytes) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes",
                    )?
                    .execute(params![stored, &data[..]])
                })
                .await;
            if written.is_some() {
                break;
            }
            if tried >= PUT_TRIES {
                lost(&format!("storing {text} failed {tried} times"));
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        if let (Some(tx), Ok(doc)) = (&self.changed, document_of(&text).parse::<DocumentId>()) {
            let _ = tx.send(doc);
        }
    }

    /// A delete is heard of as a put is: samod compacts by storing a snapshot and then
    /// deleting the chunks it supersedes, and a listener that read the document's keys in
    /// between (headquarters' projection, recording which chunks it read) reads them again.
    async fn delete(&self, key: StorageKey) {
        let key = key_text(&key);
        let doc = document_of(&key).parse::<DocumentId>();
        let deleted = self
            .with(true, move |c| {
                c.prepare_cached("DELETE FROM samod_kv WHERE key = ?1")?
                    .execute([&key])
            })
            .await;
        // Deleting nothing (or failing to) changes nothing to hear of.
        if let (Some(tx), Ok(doc), Some(1..)) = (&self.changed, doc, deleted) {
            let _ = tx.send(doc);
        }
    }
}

/// Loads a document from its stored chunks; `None` when none are stored.
pub fn load_document(
    conn: &Connection,
    doc: &DocumentId,
) -> crate::Result<Option<automerge::Automerge>> {
    let chunks = document_chunks(conn, doc)?;
    load_chunks(&doc.to_string(), &chunks)
}

/// Loads a document from chunks read from storage (`(key, bytes)`); `None` for none.
/// Snapshots go first, then every change chunk in one batch: Automerge applies a batch in
/// one walk of the document, a chunk at a time would walk it once per chunk.
pub fn load_chunks(
    doc: &str,
    chunks: &[(String, Vec<u8>)],
) -> crate::Result<Option<automerge::Automerge>> {
    if chunks.is_empty() {
        return Ok(None);
    }
    let mut am = automerge::Automerge::new();
    for (k, bytes) in chunks.iter().filter(|(k, _)| k.contains("/snapshot/")) {
        am.load_incremental(bytes)
            .map_err(|e| crate::Error::automerge(&format!("{doc} ({k})"), e))?;
    }
    let changes: Vec<u8> = chunks
        .iter()
        .filter(|(k, _)| !k.contains("/snapshot/"))
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect();
    if !changes.is_empty() {
        am.load_incremental(&changes)
            .map_err(|e| crate::Error::automerge(&format!("{doc} (changes)"), e))?;
    }
    Ok(Some(am))
}

/// The keys of those of `chunks` whose every change `doc`, loaded from them
/// ([`load_chunks`]), holds: each snapshot (samod writes the document whole), and each chunk
/// of one change the document holds. A change stored before one it depends on waits in
/// automerge, unapplied; so may any change of a chunk of several.
pub fn chunks_held<'a>(
    doc: &automerge::Automerge,
    chunks: &'a [(String, Vec<u8>)],
) -> Vec<&'a str> {
    chunks
        .iter()
        .filter(|(key, bytes)| {
            key.contains("/snapshot/")
                || automerge::Change::try_from(bytes.as_slice())
                    .is_ok_and(|c| doc.get_change_meta_by_hash(&c.hash()).is_some())
        })
        .map(|(key, _)| key.as_str())
        .collect()
}

/// The keys of a document's stored chunks, without their bytes.
pub fn document_chunk_keys(conn: &Connection, doc: &DocumentId) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT key FROM samod_kv WHERE key > ?1 AND key < ?2 ORDER BY key")?;
    let (from, to) = document_bounds(doc);
    let rows = stmt.query_map(params![from, to], |r| r.get(0))?;
    rows.collect()
}

/// Every document with a chunk stored, in the order of their ids as text: one index seek
/// each, as a document's keys are `{document}/…` and `{document}0` is the first text after
/// all of them. Keys that do not start with a document id are passed over.
pub fn stored_documents(conn: &Connection) -> rusqlite::Result<Vec<DocumentId>> {
    let mut next =
        conn.prepare_cached("SELECT key FROM samod_kv WHERE key >= ?1 ORDER BY key LIMIT 1")?;
    let mut docs = Vec::new();
    let mut from = String::new();
    while let Some(key) = next
        .query_row([&from], |r| r.get::<_, String>(0))
        .optional()?
    {
        let doc = document_of(&key);
        if let Ok(id) = doc.parse::<DocumentId>() {
            docs.push(id);
        }
        // Past every key of this document (or past this key, which names none).
        from = format!("{doc}0");
    }
    Ok(docs)
}

/// One stored chunk by its full key.
pub fn chunk(conn: &Connection, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT bytes FROM samod_kv WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

#[cfg(test)]
mod tests;
