//! One sync pass, in three steps so that a touchscreen can run the network part on a thread
//! of its own: read what it needs from the till, run the session, apply what came back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fairpos_sync::client::HqClient;
use fairpos_sync::ids::{catalog_key, document_id};
use fairpos_sync::ledger::heads_text;
use fairpos_sync::net::{connection_lost, dial, seeded_repo, while_connected};
use fairpos_sync::protocol::WantedDoc;
use fairpos_sync::samod::{DocumentId, Repo, ShareConfig};
use fairpos_sync::storage::{self, StoredDoc};
use fairpos_sync::tls::Trust;
use fairpos_sync::{LedgerDoc, LedgerId};
use rusqlite::Connection;
use serde::Serialize;

use super::{apply, credentials, runtime, stored_catalog, stored_ledgers, trust};
use crate::clock::utc_text as now_text;
use crate::error::{Error, Result};
use crate::till::Till;

/// What a sync pass did.
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    pub hq: String,
    pub documents: usize,
    pub records: usize,
    pub catalog_changed: bool,
    /// Milliseconds spent pushing the ledgers, on the catalog, and waiting for headquarters
    /// to confirm.
    pub push_ms: f64,
    pub catalog_ms: f64,
    pub confirm_ms: f64,
    /// The ledgers headquarters refuses (key, why), left out of the pass: it synced the
    /// others, not everything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<(String, String)>,
}

impl SyncReport {
    /// Why the pass did not sync everything, if it did not: the ledgers headquarters
    /// refuses.
    pub fn refusal(&self) -> Option<String> {
        let (key, why) = self.refused.first()?;
        let more = match self.refused.len() {
            1 => String::new(),
            n => format!(" (and {} more ledgers)", n - 1),
        };
        Some(format!(
            "headquarters holds this till's other ledgers, but refuses {key}{more}: {why}"
        ))
    }
}

/// Options of a sync pass.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    pub hq: Option<String>,
    /// How long to wait for headquarters at each step.
    pub timeout: Duration,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            hq: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// One sync pass. Succeeds only when headquarters holds every local change.
pub fn sync_once(till: &mut Till, options: &SyncOptions) -> Result<SyncReport> {
    let job = SyncJob::begin(till, options)?;
    let done = job.run();
    apply(till, done)
}

/// A sync pass in three steps, so that a touchscreen can run the network part on a thread of
/// its own: [`SyncJob::read`] takes what the pass needs from the till's database (any
/// connection, read-only), [`SyncJob::run`] talks to headquarters and touches no database,
/// and [`apply`] writes what came of it (on the till's own thread).
pub struct SyncJob {
    hq: String,
    token: String,
    trust: Trust,
    fair: String,
    device: String,
    /// Each ledger as stored (its chunks, not loaded: the session's copy is the one load).
    ledgers: Vec<(StoredDoc, Vec<u8>)>,
    local_catalog: Option<Vec<u8>>,
    limit: Duration,
}

/// What a pass brought back, for [`apply`] to write.
pub struct SyncDone {
    pub(super) report: SyncReport,
    /// The catalog document, when it changed.
    pub(super) catalog: Option<(String, Vec<u8>)>,
    /// Per ledger key, the heads headquarters confirmed and the sales they hold (counted
    /// from the documents the pass sent, not from the database, which may have moved on).
    pub(super) confirmed: Vec<(String, String, i64)>,
}

/// Notes in the till that a pass begins now (`fairpos sync status`'s last attempt): by a
/// one-shot sync, and by the touchscreen's and the kiosk's passes (which read on a
/// connection of their own, and said nothing of theirs).
pub fn note_attempt(till: &mut Till) -> Result<()> {
    till.store_mut().set_meta("last_sync_attempt", &now_text())
}

impl SyncJob {
    /// What a pass of `till` sends ([`SyncJob::read`]), the attempt noted in the till.
    pub fn begin(till: &mut Till, options: &SyncOptions) -> Result<SyncJob> {
        let identity = till.store().identity().clone();
        let (fair, device) = (&identity.fair.id, &identity.device);
        let job = SyncJob::read(till.reader()?, fair, device, options)?;
        note_attempt(till)?;
        Ok(job)
    }

    pub fn read(
        conn: &Connection,
        fair: &str,
        device: &str,
        options: &SyncOptions,
    ) -> Result<SyncJob> {
        // One read transaction, so the ledgers' counts, snapshots and changes come from one
        // state of the database: the touchscreen reads on a connection of its own while the
        // till writes, and a compaction committed between two reads made a whole ledger
        // look damaged to that pass.
        let read;
        let conn = if conn.is_autocommit() {
            read = conn.unchecked_transaction()?;
            &*read
        } else {
            conn
        };
        let (hq, token) = credentials(conn, device, options.hq.as_deref())?;
        let trust = trust(conn)?;
        let ledgers = stored_ledgers(conn)?;
        let local_catalog = stored_catalog(conn, &catalog_key(fair))?;
        Ok(SyncJob {
            hq,
            token,
            trust,
            fair: fair.to_string(),
            device: device.to_string(),
            ledgers,
            local_catalog,
            limit: options.timeout,
        })
    }

    /// Headquarters this pass talks to.
    pub fn hq(&self) -> &str {
        &self.hq
    }

    pub fn run(self) -> Result<SyncDone> {
        runtime()?.block_on(self.pass())
    }

    async fn pass(self) -> Result<SyncDone> {
        let SyncJob {
            hq,
            token,
            trust,
            fair,
            device,
            ledgers,
            local_catalog,
            limit,
        } = self;
        let (stored, chunks): (Vec<StoredDoc>, Vec<Vec<u8>>) = ledgers.into_iter().unzip();
        let keys: Vec<String> = stored.iter().map(|s| s.id.key()).collect();

        // 1. A samod session with a copy of the documents, each checked before anything is
        //    sent: a damaged ledger fails here, whether or not headquarters can be reached.
        let catalog_key = catalog_key(&fair);
        let catalog_id = document_id(&catalog_key);
        let mut seeds: Vec<(DocumentId, Vec<u8>)> =
            keys.iter().map(|k| document_id(k)).zip(chunks).collect();
        if let Some(bytes) = &local_catalog {
            seeds.push((catalog_id.clone(), bytes.clone()));
        }
        let policy_catalog = catalog_id.clone();
        let own: HashSet<DocumentId> = keys.iter().map(|k| document_id(k)).collect();
        let repo = seeded_repo(&seeds, &format!("device:{device}"), move |doc, peer| {
            let upstream = peer.starts_with("hq:") || peer.starts_with("hub:");
            if !upstream {
                ShareConfig::none()
            } else if *doc == policy_catalog {
                ShareConfig::read_write()
            } else if own.contains(doc) {
                // Our ledgers: we send, and take nothing back.
                ShareConfig::read_only()
            } else {
                ShareConfig::none()
            }
        })
        .await?;
        let result = async {
            let docs = session_ledgers(&repo, &stored).await?;
            let client = HqClient::new(&hq, &trust)?;

            // 2. Announce: headquarters registers these ledgers as this till's.
            let announced = client.announce(&token, keys, limit).await?;
            // Another fair's catalog: a headquarters of another fair at the address kept.
            if announced.catalog_key != catalog_key {
                return Err(Error::Integrity(format!(
                    "headquarters at {hq} keeps the catalog {}, not this fair's {catalog_key}: \
                     is it this fair's headquarters?",
                    fairpos_sync::answer::told(&announced.catalog_key)
                )));
            }
            let refused = not_behind(&client, &token, &docs, &device, limit).await?;
            // A ledger headquarters refuses is left out of what the pass waits for (its push
            // waited out the step's timeout, and the pass failed as a timeout every time),
            // while the till's other ledgers are sent and confirmed. It stays in the session
            // (samod offers it; headquarters' share policy takes none of an oversized one).
            let sending: Vec<LedgerDoc> = docs
                .into_iter()
                .filter(|d| !refused.iter().any(|(key, _)| *key == d.id().key()))
                .collect();
            let session = Session {
                client: &client,
                token: &token,
                docs: &sending,
                catalog_key: &catalog_key,
                catalog_id: &catalog_id,
                local_catalog: local_catalog.as_deref(),
                limit,
            };
            let mut done = session.run(&repo).await?;
            done.report.refused = refused;
            Ok(done)
        }
        .await;
        repo.stop().await;
        result
    }
}

/// The session's copies of the till's ledgers, as samod loaded them from the seeds, each
/// checked as a stored ledger (see [`storage::session_ledger`]).
async fn session_ledgers(repo: &Repo, stored: &[StoredDoc]) -> Result<Vec<LedgerDoc>> {
    let mut docs = Vec::with_capacity(stored.len());
    for ledger in stored {
        let key = ledger.id.key();
        let handle = repo
            .find(document_id(&key))
            .await
            .map_err(|e| fairpos_sync::Error::Samod(e.to_string()))?
            .ok_or_else(|| {
                Error::Integrity(format!(
                    "the stored ledger {key} does not load as a document"
                ))
            })?;
        let doc = handle.with_document(|d| d.clone());
        docs.push(storage::session_ledger(ledger, doc)?);
    }
    Ok(docs)
}

/// Refuses a pass of a till that holds less of one of its own ledgers than headquarters has
/// projected, or none of one headquarters holds records of: its data directory is older
/// than what it synced (restored from a copy). Such a pass waited out every step
/// (headquarters' heads never become the till's), and a sale it made would take a number
/// headquarters holds already. Returns the ledgers of `docs` headquarters refuses, each with
/// why.
async fn not_behind(
    client: &HqClient,
    token: &str,
    docs: &[LedgerDoc],
    device: &str,
    limit: Duration,
) -> Result<Vec<(String, String)>> {
    let held = client.confirm(token, limit).await?;
    let older = |key: &str, there: i64, here: usize| {
        Error::Integrity(format!(
            "headquarters holds {there} records of {key}, this till {here}: this data directory \
             is older than what {device} synced (restored from a copy?), and a sale made here \
             would take a number headquarters holds. Sell at the till that synced them, or \
             have {device} revoked and this till enrolled as another device"
        ))
    };
    // A later day's ledger the copy was made before.
    let here: HashSet<String> = docs.iter().map(|doc| doc.id().key()).collect();
    for there in &held.docs {
        let own = LedgerId::from_key(&there.key).is_some_and(|id| id.device == device);
        if own && there.records > 0 && !here.contains(&there.key) {
            return Err(older(&there.key, there.records, 0));
        }
    }
    let mut refused = Vec::new();
    for doc in docs {
        let key = doc.id().key();
        let Some(there) = held.docs.iter().find(|d| d.key == key) else {
            continue;
        };
        if let Some(why) = &there.refused {
            refused.push((key, fairpos_sync::answer::told(why)));
            continue;
        }
        if there.records > doc.len() as i64 {
            return Err(older(&key, there.records, doc.len()));
        }
    }
    Ok(refused)
}

/// One samod session of a pass.
struct Session<'a> {
    client: &'a HqClient,
    token: &'a str,
    docs: &'a [LedgerDoc],
    catalog_key: &'a str,
    catalog_id: &'a DocumentId,
    local_catalog: Option<&'a [u8]>,
    limit: Duration,
}

impl Session<'_> {
    async fn run(&self, repo: &Repo) -> Result<SyncDone> {
        let Session {
            client,
            token,
            docs,
            catalog_key,
            catalog_id,
            local_catalog,
            limit,
        } = *self;
        // The catalog as the till holds it and its heads, before headquarters can change it:
        // the pass stores the catalog again only when they moved (it used to save the
        // catalog whole, compressed, in every pass to compare the bytes).
        let held = match local_catalog {
            Some(_) => repo
                .find(catalog_id.clone())
                .await
                .ok()
                .flatten()
                .map(|handle| {
                    let heads = handle.with_document(|d| d.get_heads());
                    (handle, heads)
                }),
            None => None,
        };
        let (dialer, conn) = dial(repo, client, token, limit).await?;
        let mut lost = connection_lost(&dialer, conn);

        // 3. The ledgers go up.
        let phase = Instant::now();
        for doc in docs {
            let id = document_id(&doc.id().key());
            let handle = repo
                .find(id)
                .await
                .map_err(|e| fairpos_sync::Error::Samod(e.to_string()))?
                .ok_or_else(|| {
                    Error::Integrity(format!("{} is not in the session", doc.id().key()))
                })?;
            while_connected(
                "take the ledgers",
                limit,
                client.base(),
                &mut lost,
                handle.they_have_our_changes(conn),
            )
            .await?;
        }
        let push_ms = phase.elapsed().as_secs_f64() * 1e3;

        // 4. The catalog comes down.
        let phase = Instant::now();
        let mut catalog = None;
        // A till without a catalog finds headquarters' now, over the connection: within the
        // step's time (samod's find waits for an answer from every peer connected, and a
        // headquarters that never gives one held the pass, and the touchscreen's "syncing",
        // for good).
        let (handle, held_heads) = match held {
            Some((handle, heads)) => (Some(handle), Some(heads)),
            None => {
                let find = repo.find(catalog_id.clone());
                let found =
                    while_connected("send the catalog", limit, client.base(), &mut lost, find);
                (found.await?.ok().flatten(), None)
            }
        };
        if let Some(handle) = handle {
            if local_catalog.is_some() {
                while_connected(
                    "send the catalog",
                    limit,
                    client.base(),
                    &mut lost,
                    handle.we_have_their_changes(conn),
                )
                .await?;
            }
            let moved = held_heads.as_ref() != Some(&handle.with_document(|d| d.get_heads()));
            if moved {
                catalog = Some((catalog_key.to_string(), handle.with_document(|d| d.save())));
            }
        }
        let catalog_ms = phase.elapsed().as_secs_f64() * 1e3;

        // 5. Headquarters confirms, from what it has projected, that it holds everything.
        let phase = Instant::now();
        let wanted: Vec<WantedDoc> = docs
            .iter()
            .map(|d| WantedDoc {
                key: d.id().key(),
                heads: heads_text(&d.heads()),
                records: Some(d.len() as i64),
            })
            .collect();
        confirm(client, token, &wanted, limit).await?;
        dialer.close();
        let confirm_ms = phase.elapsed().as_secs_f64() * 1e3;
        let mut confirmed = Vec::with_capacity(wanted.len());
        for (WantedDoc { key, heads, .. }, doc) in wanted.into_iter().zip(docs) {
            let sales = doc.sales()?;
            confirmed.push((key, heads, sales as i64));
        }

        Ok(SyncDone {
            report: SyncReport {
                hq: client.base().to_string(),
                documents: docs.len(),
                records: docs.iter().map(|d| d.len()).sum(),
                catalog_changed: catalog.is_some(),
                push_ms,
                catalog_ms,
                confirm_ms,
                refused: Vec::new(),
            },
            catalog,
            confirmed,
        })
    }
}

/// Waits until headquarters confirms, from what it has projected, every ledger of `wanted`
/// at its heads: headquarters holds each question until then (up to two seconds a time);
/// one older than that is asked every 100 ms instead.
async fn confirm(
    client: &HqClient,
    token: &str,
    wanted: &[WantedDoc],
    limit: Duration,
) -> Result<()> {
    const WAIT: Duration = Duration::from_secs(2);
    let start = Instant::now();
    let mut waits = true;
    loop {
        let left = limit.saturating_sub(start.elapsed());
        let asked = Instant::now();
        let confirmed = if waits {
            match client
                .confirm_waiting(token, wanted, left.min(WAIT), limit)
                .await
            {
                Err(fairpos_sync::Error::Answered { status, .. }) if status.starts_with("405") => {
                    waits = false;
                    continue;
                }
                answer => answer?,
            }
        } else {
            client.confirm(token, limit).await?
        };
        let missing = confirmed
            .missing(wanted)
            .map_err(|(key, why)| Error::Other(format!("headquarters refuses {key}: {why}")))?;
        if missing.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(Error::Other(format!(
                "headquarters did not confirm {} within {} s",
                missing.join(", "),
                limit.as_secs()
            )));
        }
        // Polling an older headquarters, or answered before the wait asked for (one that is
        // stopping): a pause before asking again.
        if !waits || asked.elapsed() < left.min(WAIT) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
