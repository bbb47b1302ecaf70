//! A fair hub: headquarters at the venue. It is enrolled with headquarters like a till
//! ([`enroll`]), serves the venue's tills as headquarters does, and keeps a link upstream
//! ([`relay`]) that takes the device registry from headquarters and relays every ledger held
//! here there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::client::HqClient;
use fairpos_sync::enrolling::{self, Offer};
use fairpos_sync::ids::catalog_key;
use fairpos_sync::net::{Refused, WsDialer};
use fairpos_sync::protocol::{device_token, ConfirmedDoc, EnrollRequest, EnrolledAs, ROLE_HUB};
use fairpos_sync::samod::{BackoffConfig, DialerEvent, DialerFailed, DocHandle, DocumentId, Repo};
use fairpos_sync::tls::Trust;
use rusqlite::Connection;

use crate::{catalog, registry, set_meta, Error, Founding, Hq, Result, Role};

/// How long a hub waits for headquarters' answer at enrolment.
const ENROL_LIMIT: Duration = Duration::from_secs(20);

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))
}

/// Where a hub keeps the fair's CA it was enrolled with (PEM), for the relay.
pub const META_UPSTREAM_CA: &str = "upstream_ca";

/// Refuses an `--upstream` the relay could never dial (no `http://` or `https://`, not an
/// address): the hub served its tills and confirmed their ledgers from its own projection
/// while nothing reached headquarters, said in one line of its log.
pub(crate) fn check_upstream(upstream: &str) -> Result<()> {
    let trust = Trust::with_ca(None)?;
    HqClient::new(upstream, &trust)
        .map(drop)
        .map_err(|e| Error::input(format!("--upstream {upstream}: {e}")))
}

/// Why `hq serve --upstream` is refused on headquarters: the option is a hub's.
pub(crate) fn upstream_on_hq() -> Error {
    Error::input(
        "--upstream is a hub's (the headquarters it relays to); this data directory holds \
         headquarters",
    )
}

/// Turns an empty data directory into a hub enrolled with headquarters at `hq`: the fair, the
/// catalog, a copy of the device registry, and the hub's own secret. `trust` is kept for
/// the relay.
pub fn enroll(dir: &Path, hq: &str, code: &str, trust: &Trust) -> Result<Hq> {
    // The code works once: the directory is checked (and made) before it is used.
    crate::instance::check_unused(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let client = HqClient::new(hq, trust)?;
    let offer = Offer::kept_or_new(dir, code).map_err(offer_io(dir))?;
    let rt = runtime()?;
    let request = EnrollRequest {
        code: code.to_string(),
        actor: offer.actor.to_hex_string(),
        again: None,
        // A hub's bundles are checked with the key its secret derives: only headquarters,
        // which made that secret, sees it (no one relays a hub's sync).
        signing_key: None,
        role: Some(ROLE_HUB.to_string()),
    };
    let response = rt.block_on(client.enroll(&request, ENROL_LIMIT))?;
    if response.role != ROLE_HUB {
        return Err(Error::input(
            "this code enrols a till: use `fairpos enroll`",
        ));
    }
    if !response.secret_and_device_are_ones() {
        return Err(Error::Other(
            "headquarters' answer to the enrolment is not one it gives (a secret or device \
             code of another form): nothing was kept"
                .into(),
        ));
    }
    // All that is kept is read and checked first: a directory set up and then left half
    // made would refuse the enrolment's retry (it holds a database).
    let fair = fairpos_domain::fair::Fair::from_toml(&response.fair_toml)?;
    let catalog = response.catalog_bytes()?;
    CatalogDoc::load(&catalog_key(&fair.id), &fair.id, &catalog)?;
    let token = device_token(&response.device, &response.secret);
    let entries = rt.block_on(client.registry(&token, ENROL_LIMIT))?;
    let hub = Hq::init(
        dir,
        &response.fair_toml,
        Founding::Hub {
            device: &response.device,
            upstream: client.base(),
        },
    )?;
    set_meta(&hub.conn, "secret", &response.secret)?;
    if let Some(ca) = trust.ca_pem() {
        set_meta(&hub.conn, META_UPSTREAM_CA, ca)?;
    }
    catalog::store_whole(&hub, &catalog)?;
    registry::apply(&hub.conn, &entries, None)?;
    Offer::forget_or_warn(dir);
    Ok(hub)
}

/// How failing to keep or read the enrolment's offer in `dir` is told.
fn offer_io(dir: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: dir.join(enrolling::FILE),
        source,
    }
}

/// Enrols the hub in `dir` again, with a new code headquarters at `hq` gave for the same
/// device: after headquarters was restored from a backup older than the hub's enrolment, or
/// the hub was revoked and added again. It keeps every ledger it holds and takes the new
/// secret, relaying to `hq` from then on, trusting the CA `ca` (PEM) under `https://`, else
/// the one it was enrolled with. Headquarters refuses, the code unused, a code for another
/// device or a headquarters of another fair.
pub fn enroll_again(dir: &Path, hq: &str, code: &str, ca: Option<&str>) -> Result<Hq> {
    // A serving hub would go on relaying with the secret it read when it started.
    if dir.join(crate::HQ_DB).exists() {
        let conn = Connection::open(dir.join(crate::HQ_DB))?;
        conn.busy_timeout(Duration::from_secs(1))?;
        crate::backup::check_stopped(dir, &conn)?;
    }
    let hub = Hq::open(dir)?;
    let Role::Hub { device, .. } = &hub.role else {
        return Err(Error::input(format!(
            "{} holds headquarters, not a hub: --again enrols a hub again",
            dir.display()
        )));
    };
    let stored_ca = crate::meta(&hub.conn, META_UPSTREAM_CA)?;
    let trust = Trust::with_ca(ca.or(stored_ca.as_deref()))?;
    let client = HqClient::new(hq, &trust)?;
    let again = EnrolledAs {
        fair: hub.fair.id.clone(),
        device: device.clone(),
    };
    let offer = Offer::kept_or_new(dir, code).map_err(offer_io(dir))?;
    let request = EnrollRequest {
        code: code.to_string(),
        actor: offer.actor.to_hex_string(),
        again: Some(again.clone()),
        signing_key: None,
        role: Some(ROLE_HUB.to_string()),
    };
    let response = runtime()?.block_on(client.enroll(&request, ENROL_LIMIT))?;
    if response.role != ROLE_HUB {
        return Err(Error::input(
            "this code enrols a till: a hub enrols again with a code from `hq add-device --hub`",
        ));
    }
    if !response.grants(&again)? {
        return Err(Error::input(format!(
            "headquarters enrolled that code as {}, and this hub is {device} of fair {}: \
             nothing was changed here; ask for {} to be revoked and for a code for {device}",
            response.device, hub.fair.id, response.device
        )));
    }
    if !response.secret_and_device_are_ones() {
        return Err(Error::Other(
            "headquarters' answer to the enrolment is not one it gives (a secret of another \
             form): nothing was changed here"
                .into(),
        ));
    }
    set_meta(&hub.conn, "secret", &response.secret)?;
    set_meta(&hub.conn, "upstream", client.base())?;
    if let Some(ca) = ca {
        set_meta(&hub.conn, META_UPSTREAM_CA, ca)?;
    }
    drop(hub);
    Offer::forget_or_warn(dir);
    Hq::open(dir)
}

/// How long the hub waits to dial headquarters again once its link gave up, unless
/// headquarters asked for longer.
const RELINK: Duration = Duration::from_secs(30);

/// Until when headquarters asked the hub to leave it alone (`Retry-After` in an answer to
/// one of its calls): nothing more is asked of it before then.
#[derive(Default)]
struct Quiet(Option<Instant>);

impl Quiet {
    fn now(&self) -> bool {
        self.0.is_some_and(|until| until > Instant::now())
    }

    /// Keeps quiet for as long as the answer `e` asked, if it did (said once); whether it
    /// did.
    fn asked(&mut self, e: &fairpos_sync::Error, upstream: &str) -> bool {
        // No wait (`Retry-After: 0`, a date gone by) asks for none.
        let Some(wait) = e.retry_after().filter(|w| !w.is_zero()) else {
            return false;
        };
        eprintln!(
            "hub: headquarters at {upstream} asked to be left alone for {} s ({e})",
            wait.as_secs()
        );
        self.0 = Some(Instant::now() + wait);
        true
    }
}

/// How long the device registry may take to come from headquarters: a province's (about
/// 1.3 MB for 5 000 tills) over a venue's congested uplink. In the 5 s each other request
/// has, it never came below some 2 Mbit/s, and was asked for whole again every few seconds.
const REGISTRY_LIMIT: Duration = Duration::from_secs(30);

/// A hub's link to headquarters: the registry from there, every ledger held here relayed
/// there, nothing asked while headquarters asked to be left alone. Runs until the server
/// stops.
pub async fn relay(
    repo: Repo,
    db: Arc<Mutex<Connection>>,
    upstream: String,
    trust: Trust,
    token: String,
) {
    let client = match HqClient::new(&upstream, &trust) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hub: {e}");
            return;
        }
    };
    // How many times the link to headquarters was made: each new link (headquarters
    // restarted, perhaps restored from a backup that lacks announcements made since)
    // announces every ledger held here again.
    let links = Arc::new(AtomicU64::new(0));
    let dialling = keep_dialling(repo.clone(), client.clone(), token.clone(), links.clone());
    tokio::spawn(dialling);
    let mut links_announced = 0;
    let limit = Duration::from_secs(5);
    let mut announced: HashSet<String> = HashSet::new();
    let mut handles: HashMap<String, DocHandle> = HashMap::new();
    let mut refused_until: HashMap<String, Instant> = HashMap::new();
    let mut quiet = Quiet::default();
    // A failure to take the registry, said once a minute at most.
    let registry_failures = crate::quiet_log::QuietLog::default();
    let mut refusals_asked: Option<Instant> = None;
    let mut refusals_every = REFUSALS_EVERY;
    loop {
        if quiet.now() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // The registry, so that tills enrolled at headquarters can sync here: taken and
        // applied only when it changed. Its tag is the one headquarters gave with the
        // registry applied last, kept with it (a hub restarted is not sent the registry it
        // holds), and read at each turn: once a device here changed otherwise (by hand),
        // there is none, and the registry is taken whole again.
        let registry_tag = match db.lock() {
            Ok(db) => registry::applied_tag(&db).unwrap_or_else(|e| {
                eprintln!("hub registry: {e}");
                None
            }),
            Err(_) => None,
        };
        let asked = client.registry_if_changed(&token, registry_tag.as_deref(), REGISTRY_LIMIT);
        match asked.await {
            Ok(Some((entries, tag))) => {
                // Thousands of upserts: off the async workers.
                let db = db.clone();
                let applied = tokio::task::spawn_blocking(move || {
                    registry::apply(&*crate::state::lock(&db)?, &entries, tag.as_deref())
                });
                match applied.await.map_err(|e| Error::Other(e.to_string())) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) | Err(e) => eprintln!("hub registry: {e}"),
                }
            }
            Ok(None) => {}
            Err(e) => {
                if quiet.asked(&e, client.base()) {
                    continue;
                }
                // Said, not swallowed: a hub that never gets the registry refuses the tills
                // enrolled since, and lets in those revoked since.
                registry_failures.write(
                    "hub registry".into(),
                    format!("hub registry: {e} (tried again each turn; said once a minute)"),
                );
            }
        }
        let made = links.load(Ordering::Relaxed);
        if made != links_announced {
            announced.clear();
            links_announced = made;
        }
        let docs = db.lock().ok().and_then(|db| held_ledgers(&db).ok());
        let docs = docs.unwrap_or_default();
        let fresh: Vec<String> = docs
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !announced.contains(k))
            .collect();
        // Per till, so that one till headquarters turns down (too many ledgers, say) holds
        // up no other; a refused till is asked for again a minute later.
        let mut by_till: HashMap<String, Vec<String>> = HashMap::new();
        for key in fresh {
            let till = fairpos_sync::LedgerId::from_key(&key).map(|id| id.device);
            by_till
                .entry(till.unwrap_or_default())
                .or_default()
                .push(key);
        }
        for (till, keys) in by_till {
            if refused_until
                .get(&till)
                .is_some_and(|t| *t > Instant::now())
            {
                continue;
            }
            match client.announce(&token, keys.clone(), limit).await {
                Ok(_) => announced.extend(keys),
                Err(e) if quiet.asked(&e, client.base()) => break,
                Err(e) => {
                    eprintln!("hub: announcing {till}'s ledgers: {e}");
                    refused_until.insert(till, Instant::now() + Duration::from_secs(60));
                }
            }
        }
        // What headquarters refuses of the ledgers relayed, held here for the tills that
        // sync here to be told ([`crate::upstream_refusals`]).
        if refusals_asked.is_none_or(|at| at.elapsed() >= refusals_every) {
            refusals_asked = Some(Instant::now());
            match client.refused(&token, REGISTRY_LIMIT).await {
                Ok(answer) => {
                    // A headquarters before `?only=refused` answers every ledger of the
                    // province: asked far less often.
                    if answer.iter().any(|d| d.refused.is_none()) {
                        refusals_every = REFUSALS_EVERY_OF_AN_OLDER_HQ;
                    }
                    hold_refusals(&db, answer).await
                }
                Err(e) if quiet.asked(&e, client.base()) => continue,
                Err(e) => registry_failures.write(
                    "hub refusals".into(),
                    format!("hub: what headquarters refuses: {e} (said once a minute)"),
                ),
            }
        }
        for (key, id) in docs {
            if announced.contains(&key) && !handles.contains_key(&key) {
                if let Ok(id) = id.parse::<DocumentId>() {
                    if let Ok(Some(h)) = repo.find(id).await {
                        handles.insert(key, h);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How often a hub asks headquarters which ledgers it refuses.
const REFUSALS_EVERY: Duration = Duration::from_secs(15);

/// How often it asks a headquarters that answers every ledger (one before the question).
const REFUSALS_EVERY_OF_AN_OLDER_HQ: Duration = Duration::from_secs(300);

/// Holds what headquarters refuses of `answer` ([`crate::upstream_refusals::hold`]), each
/// ledger newly refused said.
async fn hold_refusals(db: &Arc<Mutex<Connection>>, answer: Vec<ConfirmedDoc>) {
    let refused: BTreeMap<String, String> = answer
        .into_iter()
        .filter_map(|d| Some((d.key, d.refused?)))
        .collect();
    let db = db.clone();
    let held = tokio::task::spawn_blocking(move || {
        let newly = crate::upstream_refusals::hold(&*crate::state::lock(&db)?, &refused)?;
        Ok::<_, Error>((newly, refused))
    });
    match held.await.map_err(|e| Error::Other(e.to_string())) {
        Ok(Ok((newly, refused))) => {
            for key in newly {
                let why = refused.get(&key).map_or("", String::as_str);
                eprintln!("hub: headquarters refuses {key}: {why}");
            }
        }
        Ok(Err(e)) | Err(e) => eprintln!("hub: what headquarters refuses: {e}"),
    }
}

/// Keeps the sync socket to headquarters open: samod redials a lost connection with
/// backoff; when it gives up (a certificate that does not verify, headquarters refusing the
/// hub or too busy for it), the reason is printed and it dials again [`RELINK`] later, or
/// as much later as headquarters asked. Counts in `links` each link made.
async fn keep_dialling(repo: Repo, client: HqClient, token: String, links: Arc<AtomicU64>) {
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
        max_retries: None,
    };
    loop {
        let failed = match repo.dial(backoff.clone(), Arc::new(WsDialer::to(&client, &token))) {
            Ok(dialer) => {
                // Followed from the start, so that no link is made unseen.
                let mut events = dialer.events();
                let failed = match dialer.established().await {
                    Err(e) => {
                        eprintln!("hub: the link to {} failed: {e}", client.base());
                        Some(e)
                    }
                    Ok(_) => {
                        // Connected (and again after each reconnection, each counted as its
                        // event comes); wait for the dialer to give up for good, then ask why.
                        while let Some(event) = events.next().await {
                            match event {
                                DialerEvent::Connected { .. } => {
                                    links.fetch_add(1, Ordering::Relaxed);
                                }
                                DialerEvent::MaxRetriesReached | DialerEvent::PermanentFailure => {
                                    break
                                }
                                _ => {}
                            }
                        }
                        let why = dialer.established().await.err();
                        let said = why.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
                        eprintln!("hub: the link to {} gave up{said}", client.base());
                        why
                    }
                };
                dialer.close();
                failed
            }
            Err(e) => {
                eprintln!("hub: {e}");
                None
            }
        };
        tokio::time::sleep(relink_after(failed.as_ref())).await;
    }
}

/// How long after its link gave up (`failed`, if it says) the hub dials again: as long as
/// headquarters asked (`Retry-After`; a second at least), else [`RELINK`].
fn relink_after(failed: Option<&DialerFailed<Refused>>) -> Duration {
    match failed {
        Some(DialerFailed::PermanentFailure(refused)) => refused
            .retry_after()
            .map_or(RELINK, |asked| asked.max(Duration::from_secs(1))),
        _ => RELINK,
    }
}

/// Every ledger this hub holds: `(key, document id)`.
fn held_ledgers(db: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = db.prepare("SELECT doc_key, doc_id FROM hq_docs WHERE device IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(retry_after: Duration) -> DialerFailed<Refused> {
        DialerFailed::PermanentFailure(Arc::new(Refused::NotNow {
            status: "503 Service Unavailable".into(),
            why: "busy".into(),
            retry_after,
        }))
    }

    #[test]
    fn a_link_refused_busy_is_dialled_again_when_asked_and_any_other_after_30_s() {
        let s = Duration::from_secs;
        assert_eq!(relink_after(Some(&refused(s(2)))), s(2));
        assert_eq!(relink_after(Some(&refused(s(600)))), s(600));
        assert_eq!(relink_after(Some(&refused(s(0)))), s(1));
        let never = DialerFailed::PermanentFailure(Arc::new(Refused::Never("bad".into())));
        assert_eq!(relink_after(Some(&never)), RELINK);
        assert_eq!(relink_after(Some(&DialerFailed::MaxRetriesReached)), RELINK);
        assert_eq!(relink_after(None), RELINK);
    }
}
