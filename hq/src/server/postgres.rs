//! `hq serve` on PostgreSQL: what each of any number of processes naming one database runs
//! besides the routes. samod keeps its documents in the shared store
//! ([`fairpos_postgres::documents`]), so a chunk one process stores, every other loads; the
//! maintenance loop ([`maintain`]) projects every ledger any process stores, as it hears of
//! it, and follows revocations made by any process or by `hq revoke-device`.
//!
//! Each process projects the ledgers it stores as it hears of them, and those another process
//! stored a few seconds later unless that process projected them meanwhile
//! ([`fairpos_postgres::follow::follow`]): records count once whoever projects them
//! (`fairpos-postgres`), a ledger whose stored chunks were projected already is not decoded
//! again, and a process killed mid-projection leaves its transaction rolled back for the
//! others. Each process's passes wake the confirmations its tills wait for and its big
//! screens.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fairpos_postgres::accounts::Stored as StoredAccount;
use fairpos_postgres::documents::{Listener, Origin, PgStorage};
use fairpos_postgres::follow::{catch_up, follow, Pass};
use fairpos_postgres::{registry, Pool};
use fairpos_sync::samod::storage::{Storage, StorageKey};
use fairpos_sync::samod::{DocHandle, DocumentId};
use fairpos_sync::samod_storage::SqliteStorage;
use tokio::sync::watch;

use super::mirror::Mirrored;
use super::policy::Revocations;
use crate::progress::{self, Pace};
use crate::state::Settled;

/// How often a process looks for revocations and announcements made through another.
const POLL: Duration = Duration::from_secs(1);

/// How a catch-up of the stored ledgers at the start is logged: every ten seconds once it
/// has taken ten.
const CATCH_UP_LOGGED: Pace = Pace {
    after: Duration::from_secs(10),
    every: Duration::from_secs(10),
};

/// samod's storage: the data directory's SQLite (mirrored or not), or PostgreSQL.
#[derive(Clone)]
pub enum SamodStorage {
    Sqlite(Mirrored<SqliteStorage>),
    Postgres(PgStorage),
}

impl Storage for SamodStorage {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        match self {
            SamodStorage::Sqlite(s) => s.load(key).await,
            SamodStorage::Postgres(s) => s.load(key).await,
        }
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        match self {
            SamodStorage::Sqlite(s) => s.load_range(prefix).await,
            SamodStorage::Postgres(s) => s.load_range(prefix).await,
        }
    }

    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        match self {
            SamodStorage::Sqlite(s) => s.put(key, data).await,
            SamodStorage::Postgres(s) => s.put(key, data).await,
        }
    }

    async fn delete(&self, key: StorageKey) {
        match self {
            SamodStorage::Sqlite(s) => s.delete(key).await,
            SamodStorage::Postgres(s) => s.delete(key).await,
        }
    }
}

/// A pool on the database at `url`, checked to be `fair`'s headquarters or to be free (before
/// it is changed: a wrong address, another fair's database or another application's, was
/// migrated first and refused after), brought to the latest schema and claimed for `fair`.
pub async fn connect_for(url: &str, fair: &str) -> crate::Result<Pool> {
    let pool = connect_checked(url, Some(fair)).await?;
    claim_fair(&pool, url, fair).await?;
    Ok(pool)
}

/// A pool on the database at `url`, brought to the latest schema unless it holds tables
/// fairpos did not make (another application's) or, when `fair` is given, is another fair's
/// headquarters: then refused, unchanged.
pub async fn connect_checked(url: &str, fair: Option<&str>) -> crate::Result<Pool> {
    let pool = fairpos_postgres::connect_reached(url).await?;
    check_before_migrating(&pool, url, fair).await?;
    fairpos_postgres::migrate(&pool).await?;
    Ok(pool)
}

/// Refuses the database at `url` (`pool`) if it holds tables fairpos did not make or, when
/// `fair` is given, is another fair's headquarters; reads only.
pub async fn check_before_migrating(
    pool: &Pool,
    url: &str,
    fair: Option<&str>,
) -> crate::Result<()> {
    let shown = fairpos_postgres::shown_address(url);
    match (registry::before_migrating(pool).await?, fair) {
        ((Some(other), _), Some(fair)) if other != fair => Err(held_by(&shown, &other, fair)),
        ((None, others), _) if !others.is_empty() => Err(crate::Error::input(format!(
            "{shown} holds tables fairpos did not make ({}): give headquarters a database \
             of its own (CREATE DATABASE)",
            others.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Why a database that is `other`'s headquarters is not taken as `fair`'s.
pub(crate) fn held_by(shown: &str, other: &str, fair: &str) -> crate::Error {
    crate::Error::input(format!(
        "{shown} holds the headquarters of fair {other}, not of {fair}"
    ))
}

/// Makes the database at `url` (`pool`) the headquarters of `fair`, or says, in one line,
/// whose it is already.
pub async fn claim_fair(pool: &Pool, url: &str, fair: &str) -> crate::Result<()> {
    match registry::claim_fair(pool, fair).await? {
        None => Ok(()),
        Some(other) => Err(held_by(&fairpos_postgres::shown_address(url), &other, fair)),
    }
}

/// The accounts a data directory holds (the first organizer, after `hq init`), as
/// PostgreSQL keeps them: `(name, role, scope, password hash)`.
pub fn founding_accounts(hq: &crate::Hq) -> crate::Result<Vec<(String, StoredAccount)>> {
    let mut stmt = hq
        .conn
        .prepare("SELECT name, role, scope, password_hash FROM accounts ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let stored = StoredAccount {
            role: r.get(1)?,
            scope: r.get(2)?,
            password_hash: r.get(3)?,
        };
        Ok((r.get::<_, String>(0)?, stored))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Gives the database `accounts` it does not have by those names (a second data directory
/// naming the same database keeps the database's).
pub async fn give_accounts(pool: &Pool, accounts: &[(String, StoredAccount)]) -> crate::Result<()> {
    for (name, stored) in accounts {
        fairpos_postgres::accounts::add(pool, name, stored).await?;
    }
    Ok(())
}

/// Logs, once per till and document, a till sending sync messages for another till's
/// ledger (the share policy refuses them silently), as SQLite's maintenance loop does. The
/// catalog's messages never come here (the sync socket leaves them out).
pub async fn watch_intrusions(
    pool: Pool,
    mut seen: tokio::sync::mpsc::Receiver<(crate::devices::Peer, String)>,
) {
    let mut logged: HashSet<(String, String)> = HashSet::new();
    // Owners of announced documents never change: each is asked for once.
    let mut owners: HashMap<String, (String, Option<String>)> = HashMap::new();
    while let Some((peer, doc)) = seen.recv().await {
        let crate::devices::Peer::Till(device) = peer else {
            continue;
        };
        if !owners.contains_key(&doc) {
            match registry::announced(&pool, &doc).await {
                Ok(Some(announced)) => {
                    owners.insert(doc.clone(), announced);
                }
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("looking up {doc}: {e}");
                    continue;
                }
            }
        }
        let Some((key, Some(owner))) = owners.get(&doc) else {
            continue;
        };
        if *owner != device && logged.insert((device.clone(), doc.clone())) {
            let why = super::maintenance::intrusion(&device, key, owner);
            eprintln!("refused: {device}: {why}");
            if let Err(e) = registry::log_event(&pool, &device, "refused", &why).await {
                eprintln!("recording a sync event: {e}");
            }
        }
    }
}

pub use super::served_catalog::Catalog;

/// Merges the catalog as stored in the database (every process's changes) into `handle`.
async fn merge_stored_catalog(pool: Pool, handle: DocHandle, id: DocumentId) {
    let chunks = match fairpos_postgres::documents::document_chunks(&pool, &id).await {
        Ok(chunks) => chunks,
        Err(e) => return eprintln!("catalog: {e}"),
    };
    // Decoded and merged off the async workers: a province's catalog takes a while, and the
    // maintenance task (which holds the projection's lock across awaits) runs on them.
    let merged =
        tokio::task::spawn_blocking(move || {
            match fairpos_sync::samod_storage::load_chunks(&id.to_string(), &chunks) {
                Ok(Some(mut stored)) => handle.with_document(|d| {
                    if let Err(e) = d.merge(&mut stored) {
                        eprintln!("catalog merge: {e}");
                    }
                }),
                Ok(None) => {}
                Err(e) => eprintln!("catalog: {e}"),
            }
        });
    if let Err(e) = merged.await {
        eprintln!("catalog merge: {e}");
    }
}

/// Merges catalog edits `hq catalog import` wrote in the data directory into `catalog`, from
/// where samod stores them in the database and every other process merges them.
async fn follow_catalog_edits(catalog: Arc<Catalog>) {
    let mut seen: Option<String> = None;
    loop {
        let (dir, id) = (catalog.dir.clone(), catalog.id.clone());
        let handle = catalog.handle.clone();
        let last = seen.clone();
        // The version read first; the catalog decoded and merged only when it changed (it was
        // decoded every second, a province's 200 000 products keeping a core busy).
        let read = tokio::task::spawn_blocking(move || -> crate::Result<_> {
            let conn = crate::connect(&dir)?;
            // None (no edit ever) as the empty version: not "changed" at every turn.
            let version = crate::meta(&conn, "catalog_version")?.unwrap_or_default();
            if last.as_ref().is_some_and(|last| *last != version) {
                if let Some(mut stored) = fairpos_sync::samod_storage::load_document(&conn, &id)? {
                    handle.with_document(|d| {
                        if let Err(e) = d.merge(&mut stored) {
                            eprintln!("catalog merge: {e}");
                        }
                    });
                }
            }
            Ok(version)
        })
        .await;
        match read {
            Ok(Ok(version)) => seen = Some(version),
            Ok(Err(e)) => eprintln!("catalog edits: {e}"),
            Err(e) => eprintln!("catalog edits: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the maintenance loop tells the rest of the server.
pub struct Channels {
    /// This process's name on the channel of stored documents (its storage's).
    pub origin: Origin,
    pub settled: watch::Sender<Settled>,
    pub revoked: watch::Sender<Revocations>,
    pub announced: Arc<watch::Sender<u64>>,
    /// Ledgers over the size limit, which the share policy takes no more of.
    pub oversized: watch::Sender<HashSet<DocumentId>>,
    /// Counts the passes that took ledgers (the big screen follows it).
    pub projected: watch::Sender<u64>,
    /// The catalog, on a headquarters (a hub keeps its data in its own directory).
    pub catalog: Option<Catalog>,
    pub limits: crate::limits::DocumentLimits,
    /// What each pass did, counted for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The ledgers refused for their size that are still over `limits`, as the share policy
/// starts with; one within the limits now (it was raised) is refused no longer.
pub async fn oversized_at_start(
    pool: &Pool,
    limits: &crate::limits::DocumentLimits,
) -> crate::Result<HashSet<DocumentId>> {
    let refused = registry::refused_for(pool, crate::limits::OVERSIZED).await?;
    let mut still = HashSet::new();
    for (doc, _, bytes) in registry::stored_sizes(pool, &refused).await? {
        if bytes.max(0) as u64 > limits.max_bytes {
            if let Ok(id) = doc.parse() {
                still.insert(id);
            }
        } else {
            registry::unrefuse(pool, &doc).await?;
        }
    }
    Ok(still)
}

/// Projects every ledger stored (and then each one any process stores), and follows
/// revocations and announcements, until the process stops. A lost connection to the database
/// is retried every second; what was stored meanwhile is caught up with.
pub async fn maintain(url: String, pool: Pool, channels: Channels) {
    let Channels {
        origin,
        settled,
        revoked,
        announced,
        oversized,
        projected,
        catalog,
        limits,
        metrics,
    } = channels;
    let catalog = catalog.map(Arc::new);
    // The catalog another process stores is merged here at once: every process keeps a copy.
    let merged_here: Vec<DocumentId> = catalog.iter().map(|c| c.id.clone()).collect();
    if let Some(catalog) = &catalog {
        tokio::spawn(follow_catalog_edits(catalog.clone()));
        tokio::spawn(super::kept_products::follow_on_postgres(
            pool.clone(),
            catalog.clone(),
        ));
    }
    tokio::spawn(poll(pool.clone(), revoked, announced));

    let mut passes = 0u64;
    let mut publish = |pass: &Pass| {
        for (doc, why) in &pass.refused {
            eprintln!("refused {doc}: {why}");
        }
        for (doc, why) in &pass.failed {
            eprintln!("projecting {doc} failed (tried again): {why}");
        }
        if let Some(catalog) = &catalog {
            // Products tills added offline, new to the projection: this process projected
            // them first, so it folds them in (the others merge what it stores).
            if !pass.product_adds.is_empty() {
                super::kept_products::add_new_products(
                    &catalog.handle,
                    &catalog.key,
                    &catalog.fair,
                    &pass.product_adds,
                );
            }
            if pass.took.contains(&catalog.id) {
                tokio::spawn(merge_stored_catalog(
                    pool.clone(),
                    catalog.handle.clone(),
                    catalog.id.clone(),
                ));
            }
        }
        // A ledger refused for its size: the share policy takes no more of it.
        let over: Vec<&DocumentId> = pass
            .refused
            .iter()
            .filter(|(_, why)| why.starts_with(crate::limits::OVERSIZED))
            .map(|(doc, _)| doc)
            .collect();
        if !over.is_empty() {
            oversized.send_modify(|set| set.extend(over.into_iter().cloned()));
        }
        // Another process may have projected these ledgers first (this pass then finds
        // nothing new): the screen looks again all the same.
        if pass.documents > 0 {
            projected.send_modify(|n| *n = n.wrapping_add(1));
        }
        // Ledgers not yet readable (a till's first changes still on their way) are not
        // failures: they are taken again when more of them is stored.
        if !(pass.took.is_empty() && pass.failed.is_empty()) {
            metrics.projected(crate::metrics::Projected {
                ledgers: pass.with_new_records,
                records: pass.new_records,
                documents_loaded: pass.documents_loaded,
                failed: pass.failed.len(),
                refused: pass.refused.len(),
                took: pass.took_time,
            });
        }
        passes = passes.wrapping_add(1);
        settled.send_replace(Settled {
            passes,
            docs: Arc::new(pass.took.iter().cloned().collect()),
        });
    };
    loop {
        // Listening before catching up: a ledger stored in between is heard, not missed.
        let outcome = async {
            let mut listener = Listener::start(&url, &origin, &merged_here).await?;
            // A province's restart takes minutes to look at every ledger: logged as it goes,
            // a line every ten seconds.
            let logged = |done, of| eprintln!("projection: caught up {done} of {of} documents");
            let progress = progress::paced(CATCH_UP_LOGGED, logged);
            let caught_up = catch_up(&pool, Some(limits.max_bytes), progress).await?;
            publish(&caught_up);
            follow(
                &pool,
                &mut listener,
                Some(limits.max_bytes),
                &caught_up,
                &mut publish,
            )
            .await
        };
        match outcome.await {
            Ok(()) => eprintln!("projection: the connection that hears stored ledgers ended"),
            Err(e) => eprintln!("projection: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Revocations made anywhere, and a nudge for shares waiting for an announcement (which may
/// have come through another process), every [`POLL`].
async fn poll(pool: Pool, revoked: watch::Sender<Revocations>, announced: Arc<watch::Sender<u64>>) {
    loop {
        match registry::revoked(&pool).await {
            Ok(now) => {
                let now: Revocations = now.into_iter().collect();
                revoked.send_if_modified(|held| {
                    let changed = *held != now;
                    *held = now;
                    changed
                });
            }
            Err(e) => eprintln!("revocations: {e}"),
        }
        announced.send_modify(|n| *n = n.wrapping_add(1));
        tokio::time::sleep(POLL).await;
    }
}
