//! A till's link to headquarters: enrolment, sync, and bundles for when no network opens.
//! It speaks the protocol of [`fairpos_sync::protocol`] through its client; it knows nothing
//! of the server.
//!
//! One sync pass: load the till's ledgers into a session's samod copy and check them, announce
//! their keys (HTTP, authenticated), then run a short
//! samod session over WebSocket in which the ledgers go up (headquarters ignores anything
//! but its own catalog coming back) and the catalog comes down, then wait until headquarters
//! confirms, from its projection, that it holds every local change. Only then is the pass a
//! success. The till's SQLite database stays the only store of truth: samod gets a copy of
//! the documents for the session.

mod enrol;
mod pass;

use std::path::Path;
use std::time::Duration;

use fairpos_projection::catalog::apply_document;
use fairpos_sync::bundle::{Bundle, BundleDoc, FORMAT};
use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::protocol::device_token;
use fairpos_sync::tls::Trust;
use fairpos_sync::{storage, LedgerDoc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub use self::enrol::{enroll, enroll_again};
pub use self::pass::{note_attempt, sync_once, SyncDone, SyncJob, SyncOptions, SyncReport};
use crate::clock::utc_text as now_text;
use crate::error::{Error, Result};
use crate::store::{meta_value, signing_secret, DEVICE_SECRET};
use crate::till::Till;

const META_HQ: &str = "hq_url";
/// The fair's own certificate authority (PEM), when one was given at enrolment.
const META_HQ_CA: &str = "hq_ca";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))
}

/// Keeps the catalog document as received and brings the catalog tables to it.
pub(crate) fn store_catalog(till: &mut Till, key: &str, bytes: &[u8]) -> Result<()> {
    let fair = till.store().identity().fair.id.clone();
    let mut doc = CatalogDoc::load(key, &fair, bytes)?;
    // Merged into what is stored, not written over it: two passes at once (the command
    // line's no longer take turns on the till while they talk to headquarters) could store
    // the older catalog last. A stored copy that does not load is replaced.
    let stored = stored_catalog(till.reader()?, key)?;
    if let Some(Ok(mut held)) = stored.map(|b| CatalogDoc::load(key, &fair, &b)) {
        doc.automerge_mut()
            .merge(held.automerge_mut())
            .map_err(|e| Error::Integrity(format!("the stored catalog does not merge: {e}")))?;
    }
    let merged = doc.save();
    let bytes = merged.as_slice();
    let contents = doc.contents_for_a_till()?;
    till.store_mut().write(|w| {
        w.conn().execute(
            "INSERT INTO catalog_doc(key, bytes) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET bytes = excluded.bytes",
            params![key, bytes],
        )?;
        apply_document(w.conn(), &contents)?;
        w.reload_state_after();
        Ok(())
    })
}

pub(crate) fn stored_catalog(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT bytes FROM catalog_doc WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Why a till set up with `init` has no credentials.
fn not_enrolled() -> Error {
    Error::input(
        "this till is not enrolled with headquarters (it was set up with `init`); enrol a till with `fairpos enroll`",
    )
}

/// The till's credentials: headquarters URL and token.
pub(crate) fn credentials(
    conn: &Connection,
    device: &str,
    hq_override: Option<&str>,
) -> Result<(String, String)> {
    let secret = meta_value(conn, DEVICE_SECRET)?.ok_or_else(not_enrolled)?;
    let hq = match hq_override {
        Some(h) => h.trim_end_matches('/').to_string(),
        None => meta_value(conn, META_HQ)?
            .ok_or_else(|| Error::input("no headquarters URL: give --hq URL"))?,
    };
    let token = device_token(device, &secret);
    Ok((hq, token))
}

/// Whom the till trusts under `https://`: the system's roots and the CA given at enrolment.
pub(crate) fn trust(conn: &Connection) -> Result<Trust> {
    Ok(Trust::with_ca(meta_value(conn, META_HQ_CA)?.as_deref())?)
}

/// Every ledger document of the till, loaded.
pub(crate) fn ledger_docs(conn: &Connection) -> Result<Vec<LedgerDoc>> {
    let mut out = Vec::new();
    for stored in storage::stored_docs(conn)? {
        if let Some(doc) = storage::load(conn, &stored.id)? {
            out.push(doc);
        }
    }
    Ok(out)
}

/// Every stored ledger and its stored chunks, not loaded (see [`storage::stored_bytes`]).
pub(crate) fn stored_ledgers(conn: &Connection) -> Result<Vec<(storage::StoredDoc, Vec<u8>)>> {
    let mut out = Vec::new();
    for stored in storage::stored_docs(conn)? {
        if let Some(bytes) = storage::stored_bytes(conn, &stored.id)? {
            out.push((stored, bytes));
        }
    }
    Ok(out)
}

/// Writes what a pass brought back (or why it failed) into the till: the catalog when it
/// changed, what headquarters confirmed, the time of the attempt's outcome. A pass that
/// fails here (a catalog the till cannot read) is recorded as the last error, as one that
/// failed on the way is.
pub fn apply(till: &mut Till, done: Result<SyncDone>) -> Result<SyncReport> {
    let outcome = done.and_then(|done| keep(till, done));
    if let Err(e) = &outcome {
        // The pass's own error is what the caller is told; a database that cannot record it
        // will say so again on the next write.
        let _ = till.store_mut().set_meta("last_sync_error", &e.to_string());
    }
    outcome
}

/// The part of [`apply`] after a pass that succeeded.
fn keep(till: &mut Till, done: SyncDone) -> Result<SyncReport> {
    if let Some((key, bytes)) = &done.catalog {
        store_catalog(till, key, bytes).map_err(|e| {
            // What the catalog holds may be quoted in the error: it is told as headquarters'
            // words are, cut and with control characters written out.
            Error::Other(format!(
                "the catalog headquarters sent was not taken: {}",
                fairpos_sync::answer::told(&e.to_string())
            ))
        })?;
    }
    till.store_mut().write(|w| {
        for (key, heads, sales) in &done.confirmed {
            w.conn().execute(
                "INSERT INTO sync_docs(doc_key, confirmed_heads, confirmed_sales, confirmed_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(doc_key) DO UPDATE SET confirmed_heads = excluded.confirmed_heads,
                     confirmed_sales = excluded.confirmed_sales,
                     confirmed_at = excluded.confirmed_at
                 -- Two passes overlapping: the earlier, finishing last, confirms no less.
                 WHERE excluded.confirmed_sales >= sync_docs.confirmed_sales",
                params![key, heads, sales, now_text()],
            )?;
        }
        Ok(())
    })?;
    // The others are confirmed (above), the catalog kept; the pass did not sync everything,
    // which the caller is told in the report and the till's last error says.
    if let Some(refusal) = done.report.refusal() {
        till.store_mut().set_meta("last_sync_error", &refusal)?;
        return Ok(done.report);
    }
    till.store_mut().set_meta("last_sync_ok", &now_text())?;
    till.store_mut().set_meta("last_sync_error", "")?;
    Ok(done.report)
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
    let enrolled = store.meta(DEVICE_SECRET)?.is_some();
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

/// One sync pass, the till's data directory taken only to read what the pass sends and to
/// write what came of it, not while it talks to headquarters (as the touchscreen's passes
/// do): a `fairpos sell` during a pass that waited on a slow headquarters, up to its step
/// timeout at each step, found the till in use and failed.
fn pass(dir: &Path, options: &SyncOptions) -> Result<SyncReport> {
    let job = SyncJob::begin(&mut Till::open(dir)?, options)?;
    let done = job.run();
    // A till that cannot be opened again (its window opened meanwhile) says so, unless the
    // pass failed: its own error (and any wait headquarters asked for) is the one told.
    let mut till = match Till::open(dir) {
        Ok(till) => till,
        Err(e) => return Err(done.err().unwrap_or(e)),
    };
    let report = apply(&mut till, done)?;
    match report.refusal() {
        Some(refusal) => Err(Error::Other(refusal)),
        None => Ok(report),
    }
}

/// Syncs again and again: every `interval` after a success, with doubling waits up to a
/// minute after failures, and no sooner than headquarters asked in its answer
/// (`Retry-After`, up to [`fairpos_sync::answer::LONGEST_WAIT_ASKED`]). Each pass takes
/// the data directory only while it runs, so the till can sell in between. Returns only on
/// an error that retrying cannot mend.
pub fn watch(dir: &Path, options: &SyncOptions, interval: Duration) -> Result<()> {
    // The first wait after a failure: the interval, a minute at most (with `--interval 600`
    // a failure was tried again ten minutes later).
    let first_backoff = interval.min(Duration::from_secs(60));
    let mut backoff = first_backoff;
    loop {
        let outcome = pass(dir, options);
        let wait = match outcome {
            Ok(r) => {
                eprintln!(
                    "{} synced with {}: {} documents, {} records held there",
                    now_text(),
                    r.hq,
                    r.documents,
                    r.records
                );
                backoff = first_backoff;
                interval
            }
            Err(e) if e.is_bad_input() => return Err(e),
            Err(e) => {
                let (wait, asked) = wait_after_failure(backoff, e.retry_after());
                let asked = asked
                    .map(|a| format!(" (headquarters asked for {} s)", a.as_secs()))
                    .unwrap_or_default();
                eprintln!(
                    "{} sync failed: {e}; next try in {} s{asked}",
                    now_text(),
                    wait.as_secs()
                );
                backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                wait
            }
        };
        std::thread::sleep(wait);
    }
}

/// The longest wait a one-shot sync takes when headquarters asks for one: its database busy
/// asks for 2 s; a full address's 30 s is told, not waited.
pub const ONE_SHOT_WAITS_UP_TO: Duration = Duration::from_secs(10);

/// How many passes a one-shot sync makes at most, each after a wait headquarters asked for.
pub const ONE_SHOT_PASSES: u32 = 3;

/// One sync, as `fairpos sync` runs it: a pass that headquarters answers busy asking for a
/// wait of [`ONE_SHOT_WAITS_UP_TO`] at most is made again once that wait is over,
/// [`ONE_SHOT_PASSES`] in all, each wait told first through `told`. Any other failure, or
/// a longer wait asked, ends it with the error. Each pass takes the data directory only
/// while it runs.
pub fn sync_heeding_short_waits(
    dir: &Path,
    options: &SyncOptions,
    mut told: impl FnMut(&Error, Duration),
) -> Result<SyncReport> {
    let mut passes = 1;
    loop {
        let outcome = pass(dir, options);
        let wait = match &outcome {
            Err(e) if passes < ONE_SHOT_PASSES => e.retry_after(),
            _ => None,
        };
        match (outcome, wait) {
            (Err(e), Some(wait)) if wait <= ONE_SHOT_WAITS_UP_TO => {
                told(&e, wait);
                std::thread::sleep(wait);
                passes += 1;
            }
            (outcome, _) => return outcome,
        }
    }
}

/// Whether a failed pass is one no later pass mends, a person must: headquarters refused
/// the till's credentials (revoked), the input was wrong, or the till's ledgers contradict
/// what headquarters holds (its data restored from an older copy).
pub fn no_pass_mends(e: &Error) -> bool {
    e.is_bad_input()
        || matches!(
            e,
            Error::Integrity(_) | Error::Ledger(fairpos_sync::Error::Refused(_))
        )
}

/// How long to wait after a failed pass, the backoff at `backoff` and headquarters having
/// asked for `asked`: the longer of the two. Returns the wait, and what was asked when that
/// is what it waits for.
pub(crate) fn wait_after_failure(
    backoff: Duration,
    asked: Option<Duration>,
) -> (Duration, Option<Duration>) {
    match asked {
        Some(asked) if asked > backoff => (asked, Some(asked)),
        _ => (backoff, None),
    }
}

/// Every ledger document of the till, signed, for a USB stick.
pub fn export_bundle(till: &mut Till) -> Result<Bundle> {
    let docs = ledger_docs(till.reader()?)?
        .iter()
        .map(|d| BundleDoc::new(d.id().key(), &d.automerge().save()))
        .collect();
    signed_bundle(till, docs)
}

/// The till's copy of headquarters' catalog document, signed, for a USB stick: what `hq
/// catalog recover` takes back catalog edits from when headquarters lost them.
pub fn export_catalog_bundle(till: &mut Till) -> Result<Bundle> {
    let key = fairpos_sync::ids::catalog_key(&till.store().identity().fair.id);
    let bytes = stored_catalog(till.reader()?, &key)?.ok_or_else(|| {
        Error::input("this till holds no catalog from headquarters: it has never synced")
    })?;
    signed_bundle(till, vec![BundleDoc::new(key, &bytes)])
}

/// A bundle of `docs` from this till, signed with its signing key ([`signing_secret`]).
fn signed_bundle(till: &mut Till, docs: Vec<BundleDoc>) -> Result<Bundle> {
    let identity = till.store().identity().clone();
    // Refused, saying so, when the till never enrolled.
    let secret = signing_secret(till.reader()?)?.ok_or_else(not_enrolled)?;
    let mut bundle = Bundle {
        format: FORMAT.into(),
        fair: identity.fair.id,
        source: identity.device.to_string(),
        created_at: now_text(),
        docs,
        signature: String::new(),
    };
    bundle.sign(&secret);
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use fairpos_sync::ActorId;

    use super::*;

    /// What a pass that brought a catalog reports.
    fn pass_report() -> SyncReport {
        SyncReport {
            hq: "https://hq.example".into(),
            documents: 1,
            records: 3,
            catalog_changed: true,
            push_ms: 0.0,
            catalog_ms: 0.0,
            confirm_ms: 0.0,
            refused: Vec::new(),
        }
    }

    #[test]
    fn a_ledger_headquarters_refuses_fails_the_pass_and_the_others_are_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let mut till = Till::init_demo(dir.path(), "1234").unwrap();
        let mut report = pass_report();
        report.refused = vec![("ledger:T01:2026-12-05".into(), "over the size limit".into())];
        let done = SyncDone {
            report,
            catalog: None,
            confirmed: vec![("ledger:T01:2026-12-06".into(), "heads".into(), 4)],
        };
        let err = apply(&mut till, Ok(done)).unwrap().refusal().unwrap();
        assert!(
            err.contains("refuses ledger:T01:2026-12-05: over the size limit"),
            "{err}"
        );
        let confirmed: i64 = till
            .reader()
            .unwrap()
            .query_row("SELECT confirmed_sales FROM sync_docs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(confirmed, 4);
        let status = status(&mut till).unwrap();
        assert_eq!(status.last_error.as_deref(), Some(err.as_str()));
    }

    #[test]
    fn a_catalog_the_till_cannot_read_is_the_last_error_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut till = Till::init_demo(dir.path(), "1234").unwrap();
        // Bytes that are no Automerge document, as a broken or hostile headquarters may send.
        let done = SyncDone {
            report: pass_report(),
            catalog: Some(("catalog:demo".into(), b"not \x1b[2J automerge".to_vec())),
            confirmed: vec![("ledger:T01:2026-12-05".into(), "heads".into(), 3)],
        };
        let err = apply(&mut till, Ok(done)).unwrap_err().to_string();
        assert!(
            err.starts_with("the catalog headquarters sent was not taken: "),
            "{err}"
        );
        let status = status(&mut till).unwrap();
        assert_eq!(status.last_error.as_deref(), Some(err.as_str()));
        assert_eq!(status.last_success, None);
        // A catalog of the fair whose product has an escape and a long text in its id (as
        // long as a till takes) and bytes for a price: refused, told with the escape written
        // out and cut.
        let fair = till.store().identity().fair.id.clone();
        let mut catalog = CatalogDoc::create("catalog:demo", &fair, ActorId::random()).unwrap();
        let sku = format!("A\x1b[2J{}", "x".repeat(290));
        let product = fairpos_sync::catalog::CatalogProduct {
            sku: sku.clone(),
            ..Default::default()
        };
        catalog.put(&[product], 0).unwrap();
        {
            use automerge::transaction::Transactable;
            use automerge::ReadDoc;
            let mut tx = catalog.automerge_mut().transaction();
            let (_, products) = tx.get(automerge::ROOT, "products").unwrap().unwrap();
            let (_, entry) = tx.get(&products, sku.as_str()).unwrap().unwrap();
            tx.put(&entry, "price_fen", automerge::ScalarValue::Bytes(vec![1]))
                .unwrap();
            tx.commit();
        }
        let done = SyncDone {
            report: pass_report(),
            catalog: Some(("catalog:demo".into(), catalog.save())),
            confirmed: Vec::new(),
        };
        let err = apply(&mut till, Ok(done)).unwrap_err().to_string();
        assert!(err.contains("entry `A\\u{1b}[2Jxxx"), "{err}");
        assert!(!err.contains('\x1b') && err.chars().count() < 1000, "{err}");
        // What headquarters confirmed in that pass is not kept without its catalog.
        let confirmed: i64 = till
            .reader()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM sync_docs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(confirmed, 0);
    }

    #[test]
    fn a_failed_pass_waits_its_backoff_or_what_headquarters_asked_if_longer() {
        let s = Duration::from_secs;
        assert_eq!(wait_after_failure(s(4), None), (s(4), None));
        assert_eq!(wait_after_failure(s(4), Some(s(2))), (s(4), None));
        assert_eq!(wait_after_failure(s(4), Some(s(30))), (s(30), Some(s(30))));
    }
}
