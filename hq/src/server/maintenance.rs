//! The maintenance loop beside the server: projection as samod stores documents, intrusions
//! into other tills' ledgers, catalog edits made from the command line, revocations.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_domain::fair::Fair;
use fairpos_projection::catalog::apply_document;
use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::ids::document_id;
use fairpos_sync::samod::{DocHandle, DocumentId};
use fairpos_sync::samod_storage::load_document;
use tokio::sync::{mpsc, watch};

use super::kept_products;
use super::policy::Revocations;
use crate::checkpoints::Checkpointer;
use crate::devices::{self, Peer};
use crate::project::{self, Outcome};
use crate::{connect, meta, Hq, Role};

/// What the maintenance loop hears from the server and tells it.
pub struct Channels {
    /// Documents samod stored: each wakes the loop.
    pub changed: std::sync::mpsc::Receiver<DocumentId>,
    /// Documents peers sent messages about.
    pub seen: mpsc::Receiver<(Peer, String)>,
    /// The devices revoked, for the share policy.
    pub revoked: watch::Sender<Revocations>,
    /// Ledgers refused for their size, for the share policy.
    pub oversized: watch::Sender<HashSet<DocumentId>>,
    /// Counts the passes that projected new records (the big screen follows it).
    pub projected: watch::Sender<u64>,
    /// Each pass over stored documents, whatever came of it: its number and the documents
    /// it took (held confirmations wait on it).
    pub settled: watch::Sender<crate::state::Settled>,
    /// How large a ledger may grow.
    pub limits: crate::limits::DocumentLimits,
    /// The thread the loop's commits leave WAL checkpoints to, if any.
    pub checkpoints: Option<Arc<Checkpointer>>,
    /// What each pass did, counted for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What is logged when a till sends sync messages for another till's ledger.
pub fn intrusion(device: &str, key: &str, owner: &str) -> String {
    format!("{device} sent sync messages for {key}, the ledger of {owner}: ignored")
}

/// The maintenance loop: projection as samod stores documents, intrusions into other
/// tills' ledgers, catalog edits from the command line, revocations.
pub fn maintain(
    dir: &Path,
    fair: &Fair,
    role: &Role,
    channels: Channels,
    catalog: Option<DocHandle>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let Channels {
        changed,
        mut seen,
        revoked,
        oversized,
        projected,
        settled,
        limits,
        checkpoints,
        metrics,
    } = channels;
    let Ok(conn) = connect(dir) else {
        eprintln!("maintenance: cannot open the database");
        return;
    };
    if checkpoints.is_some() {
        if let Err(e) = crate::checkpoints::hand_over(&conn) {
            eprintln!("maintenance: its commits go on copying the WAL themselves: {e}");
        }
    }
    let catalog_key = fairpos_sync::ids::catalog_key(&fair.id);
    let mut catalog_version = meta(&conn, "catalog_version").ok().flatten();
    let mut last_checks = Instant::now();
    let mut intrusions: HashSet<(String, String)> = HashSet::new();
    let mut projector = project::Projector::new();
    // Documents whose projection failed (a busy database, a record that does not decode):
    // attempts so far and the time of the next, waits doubling up to a minute.
    let mut retry: HashMap<DocumentId, (u32, Instant)> = HashMap::new();
    // A document stored while the loop waited, which woke it.
    let mut woken: Option<DocumentId> = None;
    // The first passes take every document stored since its projection, as PostgreSQL's
    // catch-up does: a process killed after samod stored a ledger and before its projection
    // committed left it stored and not projected, and the till, which headquarters now
    // tells it holds everything, may never send the change that would wake the loop for it.
    // A ledger whose stored chunks are those its projection was read from is not loaded (it
    // is when it next changes). A few at a time, back to back: a pass is one write
    // transaction, which samod's storage waits for. Ledgers refused already wait for more
    // of them, as before: taken again, each would only be refused (and logged) once more at
    // every start.
    let mut at_start = match project::stored_since_projected(&conn) {
        Ok(docs) => docs,
        Err(e) => {
            eprintln!("projection: the stored documents: {e}");
            Vec::new()
        }
    };
    // The products tills added that are kept for the catalog, looked at as the loop starts
    // and every second after.
    let mut kept = kept_products::Watch::default();
    if let (Role::Hq, Some(h)) = (role, &catalog) {
        kept_products::look_here(&conn, h, &catalog_key, &fair.id, &mut kept);
    }
    // When the last pass that had documents to project started.
    let mut last_pass: Option<Instant> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // At most a queue's worth a pass, so that a peer keeping the queue full cannot keep
        // the loop from projecting.
        for _ in 0..crate::state::SEEN_QUEUED {
            let Ok((peer, doc)) = seen.try_recv() else {
                break;
            };
            let Peer::Till(device) = &peer else { continue };
            let Ok(id) = doc.parse::<DocumentId>() else {
                continue;
            };
            if let Ok(Some((key, Some(owner)))) = project::announced(&conn, &id) {
                if &owner != device && intrusions.insert((device.clone(), doc.clone())) {
                    Hq::log_event(&conn, device, "refused", &intrusion(device, &key, &owner));
                }
            }
        }
        let now = Instant::now();
        let mut dirty: HashSet<DocumentId> = retry
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(doc, _)| doc.clone())
            .collect();
        dirty.extend(woken.take());
        let first_of_the_rest = at_start.len().saturating_sub(AT_START_PER_PASS);
        dirty.extend(at_start.drain(first_of_the_rest..));
        while let Ok(doc) = changed.try_recv() {
            dirty.insert(doc);
        }
        // What this pass takes, refused ledgers too: their waiting tills hear the refusal.
        let taken = (!dirty.is_empty()).then(|| Arc::new(dirty.clone()));
        if taken.is_some() {
            last_pass = Some(now);
        }
        // A ledger grown past its limit is refused before anything of it is projected.
        let mut counted = crate::metrics::Projected {
            refused: check_sizes(&conn, &dirty, &limits, &oversized),
            ..Default::default()
        };
        let dirty: Vec<DocumentId> = {
            let refused = oversized.borrow();
            // One refused for its size is retried no more: left waiting to be retried, it
            // made a pass every 50 ms for ever, projecting nothing.
            retry.retain(|doc, _| !refused.contains(doc));
            dirty.into_iter().filter(|d| !refused.contains(d)).collect()
        };
        let outcomes = if dirty.is_empty() {
            Vec::new()
        } else {
            match projector.project_all(&conn, &dirty) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("projection: {e}");
                    for doc in &dirty {
                        retry_later(&mut retry, doc);
                    }
                    counted.failed = dirty.len();
                    Vec::new()
                }
            }
        };
        if outcomes
            .iter()
            .any(|o| matches!(o, Ok(Outcome::Projected { .. })))
        {
            projected.send_modify(|passes| *passes += 1);
        }
        for (doc, outcome) in dirty.iter().zip(outcomes) {
            if outcome.is_err() {
                retry_later(&mut retry, doc);
            } else {
                retry.remove(doc);
            }
            count(&mut counted, &outcome);
            match outcome {
                Ok(Outcome::Projected { product_adds, .. }) if !product_adds.is_empty() => {
                    if *role == Role::Hq {
                        if let Some(h) = &catalog {
                            kept_products::add_new_products(
                                h,
                                &catalog_key,
                                &fair.id,
                                &product_adds,
                            );
                        }
                    }
                }
                Ok(Outcome::Catalog) => {
                    if let Some(h) = &catalog {
                        let contents = h.with_document(|d| {
                            CatalogDoc::open(&catalog_key, &fair.id, d.clone())
                                .and_then(|c| c.contents())
                        });
                        match contents.map(|c| apply_document(&conn, &c)) {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => eprintln!("catalog: {e}"),
                            Err(e) => eprintln!("catalog not read: {e}"),
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("projection of {doc}: {e}"),
            }
        }
        if let Some(taken) = taken {
            counted.took = now.elapsed();
            metrics.projected(counted);
            settled.send_modify(|last| {
                last.passes = last.passes.wrapping_add(1);
                last.docs = taken;
            });
        }
        if last_checks.elapsed() >= CHECKS_EVERY {
            last_checks = Instant::now();
            // Catalog edits made by `fairpos hq catalog import` while serving.
            let version = meta(&conn, "catalog_version").ok().flatten();
            if version != catalog_version {
                catalog_version = version;
                if let (Some(h), Ok(Some(mut stored))) =
                    (&catalog, load_document(&conn, &document_id(&catalog_key)))
                {
                    h.with_document(|d| {
                        if let Err(e) = d.merge(&mut stored) {
                            eprintln!("catalog merge: {e}");
                        }
                    });
                }
            }
            if let (Role::Hq, Some(h)) = (role, &catalog) {
                kept_products::look_here(&conn, h, &catalog_key, &fair.id, &mut kept);
            }
            if let Ok(set) = devices::revoked(&conn) {
                let set: Revocations = set.into_iter().collect();
                revoked.send_if_modified(|current| {
                    let changed = *current != set;
                    *current = set;
                    changed
                });
            }
        }
        // Until samod stores something, or the next look at retries and the stop flag (at
        // once while stored documents wait for their first pass).
        let wait = if at_start.is_empty() {
            TICK
        } else {
            Duration::ZERO
        };
        match changed.recv_timeout(wait) {
            Ok(doc) => {
                woken = Some(doc);
                // Passes start TICK apart at least: under a storm of tills each pass takes
                // what piled up meanwhile (one commit, one fsync), as before the loop woke
                // on changes; a change after a quiet spell is projected at once.
                if let Some(since) = last_pass.map(|at| at.elapsed()) {
                    std::thread::sleep(TICK.saturating_sub(since));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
        }
    }
}

/// The longest the loop sleeps with nothing stored (how soon it sees retries due and stop),
/// and the shortest time between the starts of two passes.
const TICK: Duration = Duration::from_millis(50);

/// How many of the documents stored before the start a pass takes.
const AT_START_PER_PASS: usize = 64;

/// How often catalog edits from the command line and revocations are looked for.
const CHECKS_EVERY: Duration = Duration::from_secs(1);

/// Schedules another try of a document whose projection failed, waiting twice as long as
/// the time before: 100 ms, then 200 ms, up to 51 s.
fn retry_later(retry: &mut HashMap<DocumentId, (u32, Instant)>, doc: &DocumentId) {
    let attempts = retry.get(doc).map_or(0, |(n, _)| *n).saturating_add(1);
    let wait = TICK * (1u32 << attempts.min(10));
    retry.insert(doc.clone(), (attempts, Instant::now() + wait));
}

/// Refuses the ledgers among `docs` that grew past `limits`, and tells the share policy.
fn check_sizes(
    conn: &rusqlite::Connection,
    docs: &HashSet<DocumentId>,
    limits: &crate::limits::DocumentLimits,
    oversized: &watch::Sender<HashSet<DocumentId>>,
) -> usize {
    let mut refused = 0;
    for doc in docs {
        if oversized.borrow().contains(doc) {
            continue;
        }
        let Ok(Some((_, Some(device)))) = project::announced(conn, doc) else {
            continue;
        };
        match crate::limits::oversize(conn, doc, &device, limits) {
            Ok(Some(why)) => {
                if let Err(e) = project::refuse(conn, doc, &device, why) {
                    eprintln!("refusing {doc}: {e}");
                }
                oversized.send_modify(|set| {
                    set.insert(doc.clone());
                });
                refused += 1;
            }
            Ok(None) => {}
            Err(e) => eprintln!("size of {doc}: {e}"),
        }
    }
    refused
}

/// Adds what projecting one document came to.
fn count(counted: &mut crate::metrics::Projected, outcome: &crate::Result<Outcome>) {
    match outcome {
        Ok(Outcome::Projected {
            new_records,
            document_loaded,
            ..
        }) => {
            counted.ledgers += usize::from(*new_records > 0);
            counted.records += new_records;
            counted.documents_loaded += usize::from(*document_loaded);
        }
        Ok(Outcome::Refused(_)) => counted.refused += 1,
        Ok(Outcome::Unknown | Outcome::Catalog) => {}
        Err(_) => counted.failed += 1,
    }
}
