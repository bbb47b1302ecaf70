//! A till's link to headquarters: enrolment, sync, and bundles for when no network opens.
//!
//! One sync pass: announce the till's ledger keys (HTTP, authenticated), then run a short
//! samod session over WebSocket in which the ledgers go up (headquarters ignores anything
//! but its own catalog coming back) and the catalog comes down, then wait until headquarters
//! confirms, from its projection, that it holds every local change. Only then is the pass a
//! success. The till's SQLite database stays the only store of truth: samod gets a copy of
//! the documents for the session.

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use fairpos_sync::bundle::{Bundle, BundleDoc, FORMAT};
use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::ids::{catalog_key, document_id};
use fairpos_sync::ledger::heads_text;
use fairpos_sync::net::{Refused, WsDialer};
use fairpos_sync::samod::storage::{InMemoryStorage, Storage, StorageKey};
use fairpos_sync::samod::{
    BackoffConfig, ConnectionId, DialerHandle, DocumentId, PeerId, Repo, ShareConfig,
};
use fairpos_sync::{storage, LedgerDoc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hq::api::{AnnounceRequest, ConfirmResponse, EnrollRequest, EnrollResponse};
use crate::hq::now_text;
use crate::shared_catalog;
use crate::store::{meta_value, InitOptions, DB_FILE};
use crate::till::Till;

const META_HQ: &str = "hq_url";
const META_SECRET: &str = "device_secret";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("headquarters unreachable at {url}: {e}"))
}

/// Reads a JSON answer, turning an error answer into one line naming it.
async fn answer<T: serde::de::DeserializeOwned>(url: &str, r: reqwest::Response) -> Result<T> {
    let status = r.status();
    if status.is_success() {
        return r
            .json::<T>()
            .await
            .map_err(|e| Error::Other(format!("{url}: unexpected answer: {e}")));
    }
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let why = body["error"]
        .as_str()
        .unwrap_or("no reason given")
        .to_string();
    match status.as_u16() {
        401 | 403 => Err(Error::Other(format!("headquarters refused: {why}"))),
        _ => Err(Error::Other(format!(
            "headquarters answered {status}: {why}"
        ))),
    }
}

/// Redeems a one-time enrolment code at headquarters `base`, for a device writing as `actor`.
fn redeem(
    rt: &tokio::runtime::Runtime,
    base: &str,
    code: &str,
    actor: &ActorId,
) -> Result<EnrollResponse> {
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/enroll"))
            .json(&EnrollRequest {
                code: code.to_string(),
                actor: actor.to_hex_string(),
            })
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| unreachable(base, e))?;
        answer(base, r).await
    })
}

/// Turns an empty data directory into a till enrolled with headquarters at `hq`.
pub fn enroll(dir: &Path, hq: &str, code: &str, lead_pin: &str) -> Result<Till> {
    if dir.join(DB_FILE).exists() || dir.join(crate::hq::HQ_DB).exists() {
        return Err(Error::input(format!(
            "{} already holds a till or headquarters: enrol into an empty --data directory",
            dir.display()
        )));
    }
    let actor = ActorId::random();
    let base = hq.trim_end_matches('/').to_string();
    let response = redeem(&runtime()?, &base, code, &actor)?;
    if response.role != "till" {
        return Err(Error::input(
            "this code enrols a hub: use `fairpos --data DIR hq enroll --hq URL --code CODE`",
        ));
    }
    let mut till = Till::init(
        dir,
        &InitOptions {
            fair_toml: &response.fair_toml,
            device: &response.device,
            stall: &response.stall,
            lead_pin,
            actor: Some(actor),
        },
    )?;
    till.store_mut().set_meta(META_HQ, &base)?;
    till.store_mut().set_meta(META_SECRET, &response.secret)?;
    let bytes = response.catalog_bytes()?;
    store_catalog(&mut till, &response.catalog_key, &bytes)?;
    Ok(till)
}

/// Keeps the catalog document as received and brings the catalog tables to it.
fn store_catalog(till: &mut Till, key: &str, bytes: &[u8]) -> Result<()> {
    let fair = till.store().identity().fair.id.clone();
    let doc = CatalogDoc::load(key, &fair, bytes)?;
    let contents = doc.contents()?;
    till.store_mut().write(|w| {
        w.conn().execute(
            "INSERT INTO catalog_doc(key, bytes) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes",
            params![key, bytes],
        )?;
        shared_catalog::apply(w.conn(), &contents)?;
        w.reload_state_after();
        Ok(())
    })
}

fn stored_catalog(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT bytes FROM catalog_doc WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The till's credentials: headquarters URL and token.
fn credentials(
    conn: &Connection,
    device: &str,
    hq_override: Option<&str>,
) -> Result<(String, String)> {
    let secret = meta_value(conn, META_SECRET)?.ok_or_else(|| {
        Error::input(
            "this till is not enrolled with headquarters (it was set up with `init`); enrol a till with `fairpos enroll`",
        )
    })?;
    let hq = match hq_override {
        Some(h) => h.trim_end_matches('/').to_string(),
        None => meta_value(conn, META_HQ)?
            .ok_or_else(|| Error::input("no headquarters URL: give --hq URL"))?,
    };
    let token = crate::hq::devices::token(device, &secret);
    Ok((hq, token))
}

/// Every ledger document of the till, loaded.
fn ledger_docs(conn: &Connection) -> Result<Vec<LedgerDoc>> {
    let mut out = Vec::new();
    for stored in storage::stored_docs(conn)? {
        if let Some(doc) = storage::load(conn, &stored.id)? {
            out.push(doc);
        }
    }
    Ok(out)
}

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
    let device = till.store().identity().device.clone();
    let fair = till.store().identity().fair.id.clone();
    let job = SyncJob::read(till.reader()?, &fair, &device, options)?;
    till.store_mut()
        .set_meta("last_sync_attempt", &now_text())?;
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
    fair: String,
    device: String,
    docs: Vec<LedgerDoc>,
    local_catalog: Option<Vec<u8>>,
    limit: Duration,
}

/// What a pass brought back, for [`apply`] to write.
pub struct SyncDone {
    report: SyncReport,
    /// The catalog document, when it changed.
    catalog: Option<(String, Vec<u8>)>,
    /// Per ledger key, the heads headquarters confirmed and the sales they hold (counted
    /// from the documents the pass sent, not from the database, which may have moved on).
    confirmed: Vec<(String, String, i64)>,
}

impl SyncJob {
    pub fn read(
        conn: &Connection,
        fair: &str,
        device: &str,
        options: &SyncOptions,
    ) -> Result<SyncJob> {
        let (hq, token) = credentials(conn, device, options.hq.as_deref())?;
        let docs = ledger_docs(conn)?;
        let local_catalog = stored_catalog(conn, &catalog_key(fair))?;
        Ok(SyncJob {
            hq,
            token,
            fair: fair.to_string(),
            device: device.to_string(),
            docs,
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
            fair,
            device,
            docs,
            local_catalog,
            limit,
        } = self;
        let keys: Vec<String> = docs.iter().map(|d| d.id().key()).collect();
        let http = reqwest::Client::new();

        // 1. Announce: headquarters registers these ledgers as this till's.
        let r = http
            .post(format!("{hq}/api/v1/sync/announce"))
            .bearer_auth(&token)
            .json(&AnnounceRequest { docs: keys.clone() })
            .timeout(limit)
            .send()
            .await
            .map_err(|e| unreachable(&hq, e))?;
        let announced: crate::hq::api::AnnounceResponse = answer(&hq, r).await?;
        let catalog_key = announced.catalog_key;
        debug_assert_eq!(catalog_key, fairpos_sync::ids::catalog_key(&fair));

        // 2. A samod session with a copy of the documents.
        let catalog_id = document_id(&catalog_key);
        let mut seeds: Vec<(DocumentId, Vec<u8>)> = docs
            .iter()
            .map(|d| (document_id(&d.id().key()), d.automerge().save()))
            .collect();
        if let Some(bytes) = &local_catalog {
            seeds.push((catalog_id.clone(), bytes.clone()));
        }
        let policy_catalog = catalog_id.clone();
        let own: std::collections::HashSet<DocumentId> =
            keys.iter().map(|k| document_id(k)).collect();
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
        let session = Session {
            hq: &hq,
            token: &token,
            docs: &docs,
            catalog_key: &catalog_key,
            catalog_id: &catalog_id,
            local_catalog: local_catalog.as_deref(),
            limit,
        };
        let result = session.run(&repo).await;
        repo.stop().await;
        result
    }
}

/// Writes what a pass brought back (or why it failed) into the till: the catalog when it
/// changed, what headquarters confirmed, the time of the attempt's outcome.
pub fn apply(till: &mut Till, done: Result<SyncDone>) -> Result<SyncReport> {
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            till.store_mut()
                .set_meta("last_sync_error", &e.to_string())?;
            return Err(e);
        }
    };
    if let Some((key, bytes)) = &done.catalog {
        store_catalog(till, key, bytes)?;
    }
    till.store_mut().write(|w| {
        for (key, heads, sales) in &done.confirmed {
            w.conn().execute(
                "INSERT INTO sync_docs(doc_key, confirmed_heads, confirmed_sales, confirmed_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(doc_key) DO UPDATE SET confirmed_heads = excluded.confirmed_heads,
                     confirmed_sales = excluded.confirmed_sales,
                     confirmed_at = excluded.confirmed_at",
                params![key, heads, sales, now_text()],
            )?;
        }
        Ok(())
    })?;
    till.store_mut().set_meta("last_sync_ok", &now_text())?;
    till.store_mut().set_meta("last_sync_error", "")?;
    Ok(done.report)
}

async fn with_timeout<T>(
    what: &str,
    limit: Duration,
    f: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(limit, f).await.map_err(|_| {
        Error::Other(format!(
            "headquarters did not {what} within {} s",
            limit.as_secs()
        ))
    })
}

/// One samod session of a pass.
struct Session<'a> {
    hq: &'a str,
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
            hq,
            token,
            docs,
            catalog_key,
            catalog_id,
            local_catalog,
            limit,
        } = *self;
        let (dialer, conn) = dial(repo, hq, token, limit).await?;

        // 3. The ledgers go up.
        let phase = Instant::now();
        for doc in docs {
            let id = document_id(&doc.id().key());
            let handle = repo
                .find(id)
                .await
                .map_err(|e| Error::Other(format!("samod: {e}")))?
                .ok_or_else(|| {
                    Error::Integrity(format!("{} is not in the session", doc.id().key()))
                })?;
            with_timeout(
                "take the ledgers",
                limit,
                handle.they_have_our_changes(conn),
            )
            .await?;
        }
        let push_ms = phase.elapsed().as_secs_f64() * 1e3;

        // 4. The catalog comes down.
        let phase = Instant::now();
        let mut catalog = None;
        if let Ok(Some(handle)) = repo.find(catalog_id.clone()).await {
            if local_catalog.is_some() {
                with_timeout(
                    "send the catalog",
                    limit,
                    handle.we_have_their_changes(conn),
                )
                .await?;
            }
            let bytes = handle.with_document(|d: &mut Automerge| d.save());
            if local_catalog != Some(&bytes[..]) {
                catalog = Some((catalog_key.to_string(), bytes));
            }
        }
        let catalog_ms = phase.elapsed().as_secs_f64() * 1e3;

        // 5. Headquarters confirms, from what it has projected, that it holds everything.
        let phase = Instant::now();
        let http = reqwest::Client::new();
        let wanted: Vec<(String, String)> = docs
            .iter()
            .map(|d| (d.id().key(), heads_text(&d.heads())))
            .collect();
        let start = Instant::now();
        loop {
            let r = http
                .get(format!("{hq}/api/v1/sync/confirm"))
                .bearer_auth(token)
                .timeout(limit)
                .send()
                .await
                .map_err(|e| unreachable(hq, e))?;
            let confirmed: ConfirmResponse = answer(hq, r).await?;
            let mut missing = Vec::new();
            for (key, heads) in &wanted {
                match confirmed.docs.iter().find(|d| &d.key == key) {
                    Some(d) if d.refused.is_some() => {
                        return Err(Error::Other(format!(
                            "headquarters refuses {key}: {}",
                            d.refused.as_deref().unwrap_or("")
                        )))
                    }
                    Some(d) if &d.heads == heads => {}
                    _ => missing.push(key.clone()),
                }
            }
            if missing.is_empty() {
                break;
            }
            if start.elapsed() > limit {
                return Err(Error::Other(format!(
                    "headquarters did not confirm {} within {} s",
                    missing.join(", "),
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        dialer.close();
        let confirm_ms = phase.elapsed().as_secs_f64() * 1e3;
        let mut confirmed = Vec::with_capacity(wanted.len());
        for ((key, heads), doc) in wanted.into_iter().zip(docs) {
            let sales = doc.sales()?;
            confirmed.push((key, heads, sales as i64));
        }

        Ok(SyncDone {
            report: SyncReport {
                hq: hq.to_string(),
                documents: docs.len(),
                records: docs.iter().map(|d| d.len()).sum(),
                catalog_changed: catalog.is_some(),
                push_ms,
                catalog_ms,
                confirm_ms,
            },
            catalog,
            confirmed,
        })
    }
}

/// A samod repo for one session, holding copies of `docs`, speaking as `peer`, sharing as
/// `decide(document, remote peer)` says.
pub async fn seeded_repo(
    docs: &[(DocumentId, Vec<u8>)],
    peer: &str,
    decide: impl Fn(&DocumentId, &str) -> ShareConfig + Clone + Send + 'static,
) -> Result<Repo> {
    let store = InMemoryStorage::new();
    for (id, bytes) in docs {
        let key = StorageKey::from_parts([id.to_string().as_str(), "snapshot", "local"])
            .map_err(|_| Error::Other("bad storage key".into()))?;
        store.put(key, bytes.clone()).await;
    }
    Ok(Repo::build_tokio()
        .with_storage(store)
        .with_peer_id(PeerId::from(peer))
        .with_share_policy(move |doc: DocumentId, remote: PeerId| {
            futures::stream::iter([decide(&doc, &remote.to_string())])
        })
        .load()
        .await)
}

/// Dials the sync endpoint of `hq` (an `http://` base) with `token` and waits for the
/// connection.
pub async fn dial(
    repo: &Repo,
    hq: &str,
    token: &str,
    limit: Duration,
) -> Result<(DialerHandle<Refused>, ConnectionId)> {
    let base =
        url::Url::parse(hq).map_err(|e| Error::input(format!("bad headquarters URL {hq}: {e}")))?;
    let mut ws = base.clone();
    let _ = ws.set_scheme(if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    });
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_retries: Some(3),
    };
    let dialer = repo
        .dial(backoff, std::sync::Arc::new(WsDialer::new(&ws, token)))
        .map_err(|e| Error::Other(format!("samod: {e}")))?;
    match with_timeout("answer", limit, dialer.established()).await? {
        Ok(_) => {}
        Err(e) => {
            return Err(Error::Other(format!(
                "headquarters unreachable at {hq}: {e}"
            )))
        }
    }
    let conn = dialer
        .connection_id()
        .ok_or_else(|| unreachable(hq, "the connection closed"))?;
    Ok((dialer, conn))
}

/// What `fairpos sync status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct SyncStatus {
    pub enrolled: bool,
    pub hq: Option<String>,
    pub last_success: Option<String>,
    pub last_attempt: Option<String>,
    pub last_error: Option<String>,
    /// Sales headquarters has not confirmed holding.
    pub unconfirmed_sales: i64,
}

pub fn status(till: &mut Till) -> Result<SyncStatus> {
    let store = till.store();
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let enrolled = store.meta(META_SECRET)?.is_some();
    let hq = store.meta(META_HQ)?;
    let last_success = nonempty(store.meta("last_sync_ok")?);
    let last_attempt = nonempty(store.meta("last_sync_attempt")?);
    let last_error = nonempty(store.meta("last_sync_error")?);
    let conn = till.reader()?;
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?;
    let confirmed: i64 = conn.query_row(
        "SELECT COALESCE(SUM(confirmed_sales), 0) FROM sync_docs",
        [],
        |r| r.get(0),
    )?;
    Ok(SyncStatus {
        enrolled,
        hq,
        last_success,
        last_attempt,
        last_error,
        unconfirmed_sales: total - confirmed,
    })
}

/// Syncs again and again: every `interval` after a success, with doubling waits up to a
/// minute after failures. Each pass takes the data directory only while it runs, so the
/// till can sell in between. Returns only on an error that retrying cannot mend.
pub fn watch(dir: &Path, options: &SyncOptions, interval: Duration) -> Result<()> {
    let mut wait = interval;
    loop {
        let outcome = Till::open(dir).and_then(|mut till| sync_once(&mut till, options));
        match outcome {
            Ok(r) => {
                eprintln!(
                    "{} synced with {}: {} documents, {} records held there",
                    now_text(),
                    r.hq,
                    r.documents,
                    r.records
                );
                wait = interval;
            }
            Err(e @ Error::Input(_)) => return Err(e),
            Err(e) => {
                eprintln!(
                    "{} sync failed: {e}; next try in {} s",
                    now_text(),
                    wait.as_secs()
                );
                wait = (wait * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
            }
        }
        std::thread::sleep(wait);
    }
}

/// Every ledger document of the till, signed, for a USB stick.
pub fn export_bundle(till: &mut Till) -> Result<Bundle> {
    let identity = till.store().identity().clone();
    let (_, token) = credentials(till.reader()?, &identity.device, Some("-"))?;
    let secret = token
        .split_once('.')
        .map(|(_, s)| s.to_string())
        .unwrap_or_default();
    let docs = ledger_docs(till.reader()?)?
        .iter()
        .map(|d| BundleDoc::new(d.id().key(), &d.automerge().save()))
        .collect();
    let mut bundle = Bundle {
        format: FORMAT.into(),
        fair: identity.fair.id,
        source: identity.device,
        created_at: now_text(),
        docs,
        signature: String::new(),
    };
    bundle.sign(&secret);
    Ok(bundle)
}

/// Turns an empty data directory into a hub enrolled with headquarters at `hq`: the fair, the
/// catalog, a copy of the device registry, and the hub's own secret.
pub fn enroll_hub(dir: &Path, hq: &str, code: &str) -> Result<crate::hq::Hq> {
    let actor = ActorId::random();
    let base = hq.trim_end_matches('/').to_string();
    let rt = runtime()?;
    let response = redeem(&rt, &base, code, &actor)?;
    if response.role != "hub" {
        return Err(Error::input(
            "this code enrols a till: use `fairpos enroll`",
        ));
    }
    let hub = crate::hq::Hq::init_hub(dir, &response.fair_toml, &response.device, &base)?;
    crate::hq::set_meta(&hub.conn, "secret", &response.secret)?;
    let bytes = response.catalog_bytes()?;
    crate::hq::catalog::store_whole(&hub, &bytes)?;
    let token = crate::hq::devices::token(&response.device, &response.secret);
    let registry: Vec<crate::hq::api::DeviceEntry> = rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("{base}/api/v1/hub/registry"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| unreachable(&base, e))?;
        answer(&base, r).await
    })?;
    crate::hq::devices::apply_registry(&hub.conn, &registry)?;
    Ok(hub)
}
