//! samod's document store in PostgreSQL (`samod_kv`, as SQLite's), shared by every process
//! of a headquarters: a chunk one process stores, every other can load. Each put (and each
//! delete that deletes a chunk) is announced on the channel `fairpos_documents` in the
//! statement that makes it (payload: the document's id, then the [`Origin`] of a process
//! that projects what it stores), so a
//! process's [`Listener`] hears of documents that changed through any process, and which of
//! them another process is projecting already; each projection of a ledger is announced on
//! `fairpos_projected` when it commits.
//!
//! samod writes content-addressed chunks (a change's hash, a snapshot's heads) and compacts by
//! writing a snapshot before deleting only the chunks it folded in, so two processes writing
//! and compacting the same document at once lose nothing (the tests prove it for writes).
//! The puts and deletes made while others are being written are written together
//! ([`writes`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use fairpos_sync::samod::storage::{Storage, StorageKey};
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::{document_bounds, document_of, in_range, range_bounds};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::{Pool, Result};

mod writes;

/// The channel puts and deletes are announced on.
pub(crate) const CHANNEL: &str = "fairpos_documents";

/// The channel a ledger's projection is announced on when it commits (payload: its id).
pub(crate) const PROJECTED: &str = "fairpos_projected";

/// A process of a headquarters that projects the ledgers it stores itself, as its puts name
/// it on the channel: chosen at random when the process starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn new() -> Origin {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Origin(id[..16].to_string())
    }
}

impl Default for Origin {
    fn default() -> Origin {
        Origin::new()
    }
}

/// samod's storage on a pool. Errors are logged (samod's storage interface has no way to
/// return them); a load that fails reads as "not stored", a put that keeps failing stops
/// the process ([`PgStorage`]'s `put`), and a delete that keeps failing is given up.
#[derive(Clone)]
pub struct PgStorage {
    pool: Pool,
    /// What each put's or delete's announcement says after the document's id: empty, or
    /// the origin of [`PgStorage::announcing_as`].
    origin: String,
    /// Puts and deletes waiting to be written together (shared by the storage's clones).
    writes: writes::Writes,
}

impl PgStorage {
    /// Storage whose puts any process that hears of them projects.
    pub fn new(pool: Pool) -> PgStorage {
        PgStorage {
            writes: writes::Writes::new(pool.clone()),
            pool,
            origin: String::new(),
        }
    }

    /// The same storage, its puts announced as `origin`'s: the process that follows the
    /// store as `origin` projects them, so the others leave them to it for a while
    /// ([`Heard::LeftToAnother`]).
    pub fn announcing_as(self, origin: &Origin) -> PgStorage {
        PgStorage {
            origin: origin.0.clone(),
            ..self
        }
    }

    /// What a put or delete of `key` announces: its document's id, then the origin if any.
    fn announced(&self, key: &str) -> String {
        match self.origin.as_str() {
            "" => document_of(key).to_string(),
            origin => format!("{} {origin}", document_of(key)),
        }
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Option<Vec<tokio_postgres::Row>> {
        let outcome = async {
            let client = self.pool.get().await?;
            let statement = client.prepare_cached(sql).await?;
            Ok::<_, crate::Error>(client.query(&statement, params).await?)
        };
        match outcome.await {
            Ok(rows) => Some(rows),
            Err(e) => {
                eprintln!("samod storage (PostgreSQL): {e}");
                None
            }
        }
    }
}

impl Storage for PgStorage {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        let key = key.to_string();
        let rows = self
            .rows("SELECT bytes FROM samod_kv WHERE key = $1", &[&key])
            .await?;
        rows.first().map(|r| r.get(0))
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        let (from, to) = range_bounds(&prefix);
        let rows = self
            .rows(
                "SELECT key, bytes FROM samod_kv WHERE key >= $1 AND key < $2",
                &[&from, &to],
            )
            .await
            .unwrap_or_default();
        in_range(&prefix, rows.iter().map(|r| (r.get(0), r.get(1))))
    }

    /// Stored with the writes made meanwhile, in one statement ([`writes`]); answered once
    /// committed. A batch the database does not take is tried again for a few seconds (a
    /// server restarting, a connection lost); then the process stops
    /// ([`fairpos_sync::samod_storage::lost`]), as SQLite's storage does after its tries:
    /// samod would otherwise hold in memory changes no database holds, and never ask the
    /// tills for them again.
    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        let key = key.to_string();
        let announced = self.announced(&key);
        self.writes.put(key, data, announced).await;
    }

    /// A delete is announced as a put is: samod compacts by storing a snapshot and then
    /// deleting the chunks it supersedes, and a projection that read the document's keys in
    /// between (recording which chunks it read) reads them again. Made with the writes made
    /// meanwhile, as a put is (a compaction's deletes come all at once).
    async fn delete(&self, key: StorageKey) {
        let key = key.to_string();
        let announced = self.announced(&key);
        self.writes.delete(key, announced).await;
    }
}

/// Every key stored, as text.
pub async fn stored_keys(pool: &Pool) -> Result<std::collections::HashSet<String>> {
    let client = pool.get().await?;
    let rows = client.query("SELECT key FROM samod_kv", &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Stores `chunks` (`(key, bytes)`, keys as samod makes them; of a key given twice, the
/// last) in one statement, announcing each document once; unlike [`PgStorage`]'s `put`, a
/// failure is returned, and then nothing is stored.
pub async fn put_chunks(pool: &Pool, chunks: &[(String, Vec<u8>)]) -> Result<()> {
    let chunks: BTreeMap<&str, &[u8]> = chunks
        .iter()
        .map(|(k, b)| (k.as_str(), b.as_slice()))
        .collect();
    let documents: BTreeSet<&str> = chunks.keys().map(|k| document_of(k)).collect();
    writes::store(&pool.get().await?, chunks, documents, BTreeMap::new()).await
}

/// Stores `chunk` (`(key, bytes)`) and deletes the chunks of `superseded` (keys; the chunk's
/// key is not deleted if it is among them) in one statement, as samod compacts: `chunk`
/// must hold every change they hold. Announced as [`put_chunks`] announces.
pub async fn replace_chunks(
    pool: &Pool,
    chunk: (&str, &[u8]),
    superseded: &[String],
) -> Result<()> {
    let deletes: BTreeMap<&str, &str> = superseded
        .iter()
        .filter(|k| k.as_str() != chunk.0)
        .map(|k| (k.as_str(), document_of(k)))
        .collect();
    let puts = BTreeMap::from([chunk]);
    let documents = BTreeSet::from([document_of(chunk.0)]);
    writes::store(&pool.get().await?, puts, documents, deletes).await
}

/// Every stored chunk of one document, `(key, bytes)` in key order, as
/// [`fairpos_sync::samod_storage::load_chunks`] takes them.
pub async fn document_chunks(pool: &Pool, doc: &DocumentId) -> Result<Vec<(String, Vec<u8>)>> {
    chunks_in(&pool.get().await?, doc).await
}

/// [`document_chunks`], read through `client` (a transaction, say).
pub(crate) async fn chunks_in(
    client: &impl GenericClient,
    doc: &DocumentId,
) -> Result<Vec<(String, Vec<u8>)>> {
    let (from, to) = document_bounds(doc);
    let statement = client
        .prepare_cached("SELECT key, bytes FROM samod_kv WHERE key > $1 AND key < $2 ORDER BY key")
        .await?;
    let rows = client.query(&statement, &[&from, &to]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The stored chunks among `keys`, in key order: fewer where some were deleted since.
pub(crate) async fn chunks_named(
    client: &impl GenericClient,
    keys: &[&str],
) -> Result<Vec<(String, Vec<u8>)>> {
    let statement = client
        .prepare_cached("SELECT key, bytes FROM samod_kv WHERE key = ANY($1) ORDER BY key")
        .await?;
    let rows = client.query(&statement, &[&keys]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The keys of every stored chunk of one document, in key order.
pub async fn chunk_keys(pool: &Pool, doc: &DocumentId) -> Result<Vec<String>> {
    document_keys(&pool.get().await?, doc).await
}

/// [`chunk_keys`], read through `client` (a transaction, say).
pub(crate) async fn document_keys(
    client: &impl GenericClient,
    doc: &DocumentId,
) -> Result<Vec<String>> {
    let (from, to) = document_bounds(doc);
    let statement = client
        .prepare_cached("SELECT key FROM samod_kv WHERE key > $1 AND key < $2 ORDER BY key")
        .await?;
    let rows = client.query(&statement, &[&from, &to]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What a [`Listener`] hears of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Stored, for whoever hears it to project: by this process, or by one that does not
    /// project what it stores (a mirror, a copy).
    Stored(DocumentId),
    /// Stored by another process, which projects what it stores (its [`Origin`] is not the
    /// listener's): this one need not take it at once.
    LeftToAnother(DocumentId),
    /// A process committed a projection of it.
    Projected(DocumentId),
}

impl Heard {
    /// What a put's (or a delete's) announcement on [`CHANNEL`] says, heard by the process
    /// `own`, which takes `its_own` itself whoever stored them.
    fn stored(payload: &str, own: &Origin, its_own: &[DocumentId]) -> Option<Heard> {
        let (doc, origin) = payload.split_once(' ').unwrap_or((payload, ""));
        let doc: DocumentId = doc.parse().ok()?;
        Some(
            if !origin.is_empty() && origin != own.0 && !its_own.contains(&doc) {
                Heard::LeftToAnother(doc)
            } else {
                Heard::Stored(doc)
            },
        )
    }

    pub fn doc(&self) -> &DocumentId {
        match self {
            Heard::Stored(doc) | Heard::LeftToAnother(doc) | Heard::Projected(doc) => doc,
        }
    }
}

/// A connection of its own that hears which documents any process stored or projected.
pub struct Listener {
    documents: mpsc::UnboundedReceiver<Heard>,
    _client: Arc<tokio_postgres::Client>,
}

/// How a listener makes sure its connection is alive: a connection that only listens sends
/// nothing, and one left half open (a database failover behind a virtual address, a
/// firewall dropping an idle flow) heard nothing, with no error, until TCP's keepalive two
/// hours later; every store of every process went unprojected meanwhile.
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat {
    /// How often it asks the database something.
    pub every: Duration,
    /// How long the database may take to answer before the connection is taken for dead
    /// (the listener ends; `hq serve` listens again and catches up).
    pub within: Duration,
}

impl Heartbeat {
    pub const SERVING: Heartbeat = Heartbeat {
        every: Duration::from_secs(15),
        within: Duration::from_secs(10),
    };
}

impl Listener {
    /// Starts listening at `url` for the process `own`: every put stored (and every chunk
    /// deleted) after this returns is heard. Puts of `its_own` are never left to another
    /// process (the fair's catalog, which each process merges into its own copy).
    pub async fn start(url: &str, own: &Origin, its_own: &[DocumentId]) -> Result<Listener> {
        Listener::start_with(url, own, its_own, Heartbeat::SERVING).await
    }

    /// [`Listener::start`], its connection checked as `heartbeat` says: when the database
    /// does not answer in time, the listener ends ([`Listener::next`] says `None`).
    pub async fn start_with(
        url: &str,
        own: &Origin,
        its_own: &[DocumentId],
        heartbeat: Heartbeat,
    ) -> Result<Listener> {
        let (own, its_own) = (own.clone(), its_own.to_vec());
        let (mut config, tls) = crate::tls::address(url)?;
        // The kernel's own probes too, sooner than its two hours.
        config
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        let (client, mut connection) = config.connect(tls).await?;
        let client = Arc::new(client);
        let (heard, documents) = mpsc::unbounded_channel();
        let (dead, mut died) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(beat(Arc::downgrade(&client), heartbeat, dead));
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    // A ping went unanswered; or, sent nothing, the listener is gone.
                    unanswered = &mut died => {
                        if unanswered.is_ok() {
                            eprintln!(
                                "listening for stored documents: the database did not \
                                 answer within {} ms; listening again",
                                heartbeat.within.as_millis()
                            );
                        }
                        break;
                    }
                };
                let Some(message) = message else { break };
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        let news = match n.channel() {
                            PROJECTED => n.payload().parse().ok().map(Heard::Projected),
                            _ => Heard::stored(n.payload(), &own, &its_own),
                        };
                        if let Some(news) = news {
                            if heard.send(news).is_err() {
                                break;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("listening for stored documents: {e}");
                        break;
                    }
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {PROJECTED}"))
            .await?;
        Ok(Listener {
            documents,
            _client: client,
        })
    }

    /// What is heard next of a document stored or projected by any process; `None` when the
    /// connection is gone.
    pub async fn next(&mut self) -> Option<Heard> {
        self.documents.recv().await
    }

    /// What was heard since the last call, if anything was.
    pub fn try_next(&mut self) -> Option<Heard> {
        self.documents.try_recv().ok()
    }
}

/// Asks the database something every `heartbeat.every` on the listener's `client` for as
/// long as the listener lives, and says on `dead` when it does not answer in time.
async fn beat(
    client: std::sync::Weak<tokio_postgres::Client>,
    heartbeat: Heartbeat,
    dead: tokio::sync::oneshot::Sender<()>,
) {
    loop {
        tokio::time::sleep(heartbeat.every).await;
        let Some(client) = client.upgrade() else {
            return;
        };
        let answered = tokio::time::timeout(heartbeat.within, client.simple_query("SELECT 1"));
        if !matches!(answered.await, Ok(Ok(_))) {
            let _ = dead.send(());
            return;
        }
    }
}
