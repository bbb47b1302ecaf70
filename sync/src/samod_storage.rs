//! samod's key-value storage in SQLite (`samod_kv`), for headquarters and hubs: documents
//! survive restarts, and a put tells whoever listens which document changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

#[derive(Clone)]
pub struct SqliteStorage {
    conn: Arc<Mutex<Connection>>,
    changed: Option<Sender<DocumentId>>,
}

impl SqliteStorage {
    /// Storage on `conn`; `changed` hears of every document written to.
    pub fn new(conn: Connection, changed: Option<Sender<DocumentId>>) -> SqliteStorage {
        SqliteStorage {
            conn: Arc::new(Mutex::new(conn)),
            changed,
        }
    }

    /// Runs `f` on the connection: on a blocking thread when inside a tokio runtime (each
    /// write is an fsync; the sync sockets' async workers must not wait on it), else here.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Option<T> {
        let conn = self.conn.clone();
        let run = move || {
            let conn = conn.lock().ok()?;
            match f(&conn) {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("samod storage: {e}");
                    None
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(run).await.unwrap_or_else(|e| {
                eprintln!("samod storage: {e}");
                None
            }),
            Err(_) => run(),
        }
    }
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
        self.with(move |c| {
            c.prepare_cached("SELECT bytes FROM samod_kv WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })
        .await
        .flatten()
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        let (from, to) = range_bounds(&prefix);
        let rows = self
            .with(move |c| {
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

    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        let text = key_text(&key);
        let stored = text.clone();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO samod_kv(key, bytes) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes",
            )?
            .execute(params![stored, data])
        })
        .await;
        if let (Some(tx), Ok(doc)) = (&self.changed, document_of(&text).parse::<DocumentId>()) {
            let _ = tx.send(doc);
        }
    }

    async fn delete(&self, key: StorageKey) {
        let key = key_text(&key);
        self.with(move |c| {
            c.prepare_cached("DELETE FROM samod_kv WHERE key = ?1")?
                .execute([key])
        })
        .await;
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

/// The keys of a document's stored chunks, without their bytes.
pub fn document_chunk_keys(conn: &Connection, doc: &DocumentId) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT key FROM samod_kv WHERE key > ?1 AND key < ?2 ORDER BY key")?;
    let (from, to) = document_bounds(doc);
    let rows = stmt.query_map(params![from, to], |r| r.get(0))?;
    rows.collect()
}

/// One stored chunk by its full key.
pub fn chunk(conn: &Connection, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT bytes FROM samod_kv WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}
