//! The share policy: who may sync which document. A till syncs its own announced ledgers
//! read-write and reads the catalog; a hub relays every announced ledger of a till not
//! revoked; headquarters, seen from a hub, sends the catalog and takes the ledgers;
//! organizers read. A decision is a stream: a ledger not announced yet is granted once it
//! is, a device's grants end once its revocation (or, a hub's, the ledger's till's) is taken
//! from the database (within a second), a ledger's the moment it is refused for its size.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use fairpos_sync::samod::{DocumentId, PeerId, ShareConfig, SharePolicy};
use futures::stream;
use rusqlite::Connection;
use tokio::sync::watch;

use crate::{devices, project};
use fairpos_postgres::registry;

/// The devices revoked, each with which revocation it was (when, and of which enrolment, as
/// `devices::revoked` reads it): taken from the database every second (PostgreSQL) or at
/// most every second by the maintenance loop (SQLite), so a revocation made again after the
/// device was enrolled again is a change, however soon.
pub type Revocations = HashMap<String, String>;

/// Who may sync which document.
#[derive(Clone)]
pub struct Policy {
    pub db: Arc<Mutex<Connection>>,
    /// Where documents are announced when headquarters runs on PostgreSQL.
    pub pg: Option<fairpos_postgres::Pool>,
    pub catalog: DocumentId,
    pub hub: bool,
    pub revoked: watch::Receiver<Revocations>,
    /// Ledgers refused for their size: shared with no one any more.
    pub oversized: watch::Receiver<HashSet<DocumentId>>,
    /// Bumped whenever a ledger is announced.
    pub announced: watch::Receiver<u64>,
    /// Announced documents and the device each belongs to (`None`: no device's), as read
    /// from `hq_docs`: an announced document never changes hands, so each is read from the
    /// database once, not once for every peer that might sync it (hundreds of tills at
    /// closing time, each asked about every document).
    pub owners: Arc<RwLock<HashMap<DocumentId, Option<String>>>>,
}

impl Policy {
    /// Whether headquarters has the document announced.
    async fn is_known(&self, doc: &DocumentId) -> bool {
        self.announced_owner(doc).await.is_some()
    }

    /// Whether `device`'s grants must end, as the database says now ([`devices::shut_out`]),
    /// asked once of a grant made while the revocations named the device: they are a
    /// snapshot, and a device revoked, added again and enrolled again since the last one is
    /// still named when its new connection is granted (a till's sync then waited out its
    /// step timeout). A database that cannot answer ends them.
    async fn shut_out(&self, device: &str) -> bool {
        match &self.pg {
            Some(pool) => match registry::credentials(pool, device).await {
                Ok(Some(held)) => held.shut_out(),
                Ok(None) | Err(_) => true,
            },
            None => match self.db.lock() {
                Ok(db) => devices::shut_out(&db, device).unwrap_or(true),
                Err(_) => true,
            },
        }
    }

    /// Whether `device` is revoked now: named by the revocations taken, and shut out as the
    /// database says (not enrolled again since).
    async fn is_revoked(&self, device: &str) -> bool {
        let named = self.revoked.borrow().contains_key(device);
        named && self.shut_out(device).await
    }

    /// `Some(device)` for an announced document (`Some(None)` when no device owns it),
    /// `None` when it is not announced (or the database cannot say).
    async fn announced_owner(&self, doc: &DocumentId) -> Option<Option<String>> {
        if let Some(owner) = self.owners.read().ok().and_then(|o| o.get(doc).cloned()) {
            return Some(owner);
        }
        let owner = match &self.pg {
            Some(pool) => {
                registry::announced(pool, &doc.to_string())
                    .await
                    .ok()
                    .flatten()?
                    .1
            }
            None => {
                let db = self.db.lock().ok()?;
                project::announced(&db, doc).ok().flatten()?.1
            }
        };
        if let Ok(mut owners) = self.owners.write() {
            owners.insert(doc.clone(), owner.clone());
        }
        Some(owner)
    }

    async fn decide(&self, doc: &DocumentId, peer: &str) -> ShareConfig {
        let is_catalog = *doc == self.catalog;
        // Headquarters, seen from a hub: it sends the catalog, and takes our ledgers.
        if self.hub && peer.starts_with("hq:") {
            return if is_catalog {
                ShareConfig::read_write()
            } else {
                ShareConfig::read_only()
            };
        }
        if peer.starts_with("organizer:") {
            return ShareConfig::read_only().with_announce(false);
        }
        let Some((kind, device)) = peer.split_once(':') else {
            return ShareConfig::none();
        };
        if is_catalog {
            return ShareConfig::read_only();
        }
        if self.oversized.borrow().contains(doc) {
            return ShareConfig::none();
        }
        let owner = self.announced_owner(doc).await.flatten();
        match (kind, owner) {
            ("device", Some(owner)) if owner == device => ShareConfig::read_write(),
            // Not a revoked till's ledger: a hub whose uplink was down when the till was
            // revoked took its sales since, and relayed them (the till itself is refused).
            ("hub", Some(owner)) if self.is_revoked(&owner).await => ShareConfig::none(),
            ("hub", Some(_)) => ShareConfig::read_write(),
            // Another till's ledger: samod asks this both for what the peer sends and for
            // what headquarters would offer it, so a refusal here is routine and not logged;
            // `Intrusions` logs what a peer actually sends.
            (_, Some(_)) => ShareConfig::none(),
            // Not announced: nothing is shared, nothing accepted.
            (_, None) => ShareConfig::none(),
        }
    }
}

/// What headquarters offers a peer unasked: a till only the catalog, anyone else every
/// document. A till asks for its own ledgers itself (it holds them) and gets any document
/// its share policy grants when it asks; offering it every other document as well made
/// work for every pair of document and connection (hundreds of each at closing time) that
/// the policy then refused.
pub fn offered_unasked(
    catalog: DocumentId,
) -> impl Fn(&PeerId, &DocumentId) -> bool + Send + Sync + 'static {
    move |peer, doc| !peer.as_str().starts_with("device:") || *doc == catalog
}

/// Where a peer's decision for one document stands.
enum Watch {
    /// The first decision is to be made.
    Start,
    /// Refused for now: the document is not announced yet.
    Unannounced(watch::Receiver<u64>),
    /// Granted to a device: watching for it to be revoked, or the document to grow too large.
    Granted(Grant),
    Done,
}

/// A grant to a device, watched: it ends when the device is revoked, or, a hub's, when the
/// till whose ledger it is is.
struct Grant {
    /// The device granted, and the ledger's till when that is another (a hub's grant).
    watched: Vec<Watched>,
    revoked: watch::Receiver<Revocations>,
    oversized: watch::Receiver<HashSet<DocumentId>>,
}

/// A device whose revocation ends a grant.
struct Watched {
    device: String,
    /// The device's revocation named when the grant was made, if any: one the database may
    /// show the device enrolled again since. Any other revocation named ends the grant.
    named_then: Option<String>,
    /// Whether the database showed the device enrolled again since `named_then`: asked at
    /// the first wake-up that finds it still named, not at each one after (a revocation made
    /// again is named with another time, and ends the grant).
    enrolled_since: bool,
}

impl Grant {
    fn new(policy: &Policy, devices: impl IntoIterator<Item = String>) -> Grant {
        let revocations = policy.revoked.borrow();
        let watched = devices
            .into_iter()
            .map(|device| Watched {
                named_then: revocations.get(&device).cloned(),
                device,
                enrolled_since: false,
            })
            .collect();
        Grant {
            watched,
            revoked: policy.revoked.clone(),
            oversized: policy.oversized.clone(),
        }
    }

    /// Whether the grant ends now.
    async fn ends(&mut self, policy: &Policy, doc: &DocumentId) -> bool {
        if self.oversized.borrow_and_update().contains(doc) {
            return true;
        }
        // The watched devices' revocations alone, not the whole map (a hub holds thousands
        // of grants, each woken at every change).
        let named: Vec<Option<String>> = {
            let revocations = self.revoked.borrow_and_update();
            let of = |w: &Watched| revocations.get(&w.device).cloned();
            self.watched.iter().map(of).collect()
        };
        for (watched, named) in self.watched.iter_mut().zip(named) {
            let ends = match named.as_ref() {
                None => false,
                Some(at) if Some(at) == watched.named_then.as_ref() => {
                    if !watched.enrolled_since {
                        watched.enrolled_since = !policy.shut_out(&watched.device).await;
                    }
                    !watched.enrolled_since
                }
                Some(_) => true,
            };
            if ends {
                return true;
            }
        }
        false
    }
}

impl SharePolicy for Policy {
    /// The first decision; then, for a ledger not announced yet, the decision once it is; and
    /// for a device, `none` once a revocation of it is taken from the database ([`Grant`]).
    fn share(
        &self,
        doc_id: DocumentId,
        peer_id: PeerId,
    ) -> impl futures::Stream<Item = ShareConfig> + Send + 'static {
        let policy = self.clone();
        let peer = peer_id.to_string();
        let device = peer
            .strip_prefix("device:")
            .or_else(|| peer.strip_prefix("hub:"))
            .map(str::to_string);
        stream::unfold(Watch::Start, move |state| {
            let policy = policy.clone();
            let peer = peer.clone();
            let device = device.clone();
            let doc_id = doc_id.clone();
            async move {
                // A grant watches the device granted and, a hub's, the ledger's till.
                let after = |d: ShareConfig, owner: Option<String>| match (
                    &device,
                    d == ShareConfig::none(),
                ) {
                    (Some(dev), false) => {
                        let others = owner.filter(|o| o != dev);
                        Watch::Granted(Grant::new(
                            &policy,
                            std::iter::once(dev.clone()).chain(others),
                        ))
                    }
                    _ => Watch::Done,
                };
                // Asked of a hub's grant only: another peer's grant watches no other till.
                let owner = || async {
                    if peer.starts_with("hub:") {
                        policy.announced_owner(&doc_id).await.flatten()
                    } else {
                        None
                    }
                };
                match state {
                    Watch::Start => {
                        let d = policy.decide(&doc_id, &peer).await;
                        let next = if d == ShareConfig::none()
                            && device.is_some()
                            && !policy.is_known(&doc_id).await
                        {
                            Watch::Unannounced(policy.announced.clone())
                        } else {
                            after(d, owner().await)
                        };
                        Some((d, next))
                    }
                    Watch::Unannounced(mut announced) => loop {
                        announced.changed().await.ok()?;
                        if policy.is_known(&doc_id).await {
                            let d = policy.decide(&doc_id, &peer).await;
                            return Some((d, after(d, owner().await)));
                        }
                    },
                    Watch::Granted(mut grant) => loop {
                        if grant.ends(&policy, &doc_id).await {
                            return Some((ShareConfig::none(), Watch::Done));
                        }
                        tokio::select! {
                            changed = grant.revoked.changed() => changed.ok()?,
                            changed = grant.oversized.changed() => changed.ok()?,
                        }
                    },
                    Watch::Done => None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt, StreamExt};

    use super::*;

    /// A policy over a headquarters whose database holds T02 enrolled (revoked before, added
    /// and enrolled again), with the revocations `revoked` says, and a ledger of T02's.
    fn policy_with_t02_enrolled(
        dir: &std::path::Path,
        revoked: watch::Receiver<Revocations>,
        oversized: watch::Receiver<HashSet<DocumentId>>,
        announced: watch::Receiver<u64>,
    ) -> (Policy, DocumentId) {
        let founding = crate::Founding::Hq {
            organizer_password: "organizer-pw",
        };
        let hq = crate::Hq::init(dir, fairpos_domain::demo::FAIR_TOML, founding).unwrap();
        hq.conn
            .execute(
                "INSERT INTO devices(device, stall, role, secret_hash, enrolled_at)
                 VALUES ('T02', 'S02', 'till', 'hash', '2026-12-05T10:00:02Z')",
                [],
            )
            .unwrap();
        let ledger = DocumentId::new(&mut rand::rng());
        let owners = HashMap::from([(ledger.clone(), Some("T02".to_string()))]);
        let policy = Policy {
            db: Arc::new(Mutex::new(hq.conn)),
            pg: None,
            catalog: DocumentId::new(&mut rand::rng()),
            hub: false,
            revoked,
            oversized,
            announced,
            owners: Arc::new(RwLock::new(owners)),
        };
        (policy, ledger)
    }

    /// Runs `statement` on the policy's database.
    fn sql(policy: &Policy, statement: &str) {
        policy.db.lock().unwrap().execute(statement, []).unwrap();
    }

    /// The next decision, failing rather than waiting without end.
    async fn next_of(shares: &mut (impl futures::Stream<Item = ShareConfig> + Unpin)) -> bool {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), shares.next());
        next.await.expect("a decision").expect("a stream going on") == ShareConfig::read_write()
    }

    #[tokio::test]
    async fn a_grant_ends_at_a_revocation_it_was_not_made_under_or_the_database_holds() {
        let revoked_once = || Revocations::from([("T02".into(), "2026-12-05T10:00:01Z".into())]);
        // The revocations as the last poll took them, before T02 was enrolled again.
        let (revoked_tx, revoked) = watch::channel(revoked_once());
        // Held to the end: a closed channel ends the stream of decisions.
        let (_oversized_tx, oversized) = watch::channel(HashSet::new());
        let (_announced_tx, announced) = watch::channel(0);
        let dir = tempfile::tempdir().unwrap();
        let (policy, ledger) = policy_with_t02_enrolled(dir.path(), revoked, oversized, announced);
        let mut new_connection = Box::pin(policy.share(ledger.clone(), PeerId::from("device:T02")));
        assert!(next_of(&mut new_connection).await, "granted");
        // The grant stands while the revocations still name T02, and after the next poll.
        assert!(new_connection.next().now_or_never().is_none());
        // The database was asked once: a wake-up naming the same revocation asks it no more
        // (here it would say T02 is shut out, which a real revocation names anew).
        let enrolled = "UPDATE devices SET secret_hash = ?1 WHERE device = 'T02'";
        let db = || policy.db.lock().unwrap();
        db().execute(enrolled, [None::<String>]).unwrap();
        revoked_tx.send_replace(revoked_once());
        assert!(new_connection.next().now_or_never().is_none());
        db().execute(enrolled, [Some("hash")]).unwrap();
        revoked_tx.send_replace(Revocations::new());
        assert!(new_connection.next().now_or_never().is_none());
        // A grant made with no revocation named (an old connection's, say) ends when one is,
        // whatever the database says by then.
        let mut old_connection = Box::pin(policy.share(ledger, PeerId::from("device:T02")));
        assert!(next_of(&mut old_connection).await, "granted");
        revoked_tx.send_replace(revoked_once());
        assert!(!next_of(&mut old_connection).await, "ended");
        assert!(new_connection.next().now_or_never().is_none());
        // Revoked again (another time): the new connection's grant ends too.
        let again = Revocations::from([("T02".into(), "2026-12-05T10:00:03Z".into())]);
        revoked_tx.send_replace(again);
        assert!(!next_of(&mut new_connection).await, "ended");
    }

    #[tokio::test]
    async fn a_grant_made_under_a_revocation_the_database_still_holds_ends_at_once() {
        let revoked = Revocations::from([("T02".into(), "2026-12-05T10:00:01Z".into())]);
        let (_revoked_tx, revoked) = watch::channel(revoked);
        let (_oversized_tx, oversized) = watch::channel(HashSet::new());
        let (_announced_tx, announced) = watch::channel(0);
        let dir = tempfile::tempdir().unwrap();
        let (policy, ledger) = policy_with_t02_enrolled(dir.path(), revoked, oversized, announced);
        sql(&policy, "UPDATE devices SET secret_hash = NULL");
        let mut shares = Box::pin(policy.share(ledger, PeerId::from("device:T02")));
        assert!(next_of(&mut shares).await, "granted");
        assert!(!next_of(&mut shares).await, "ended");
    }

    /// A hub relays a till's ledger only while the till is not revoked: one revoked while
    /// the hub's uplink was down had its sales since taken in through the hub.
    #[tokio::test]
    async fn a_hub_is_granted_a_tills_ledger_until_the_till_is_revoked() {
        let (revoked_tx, revoked) = watch::channel(Revocations::new());
        let (_oversized_tx, oversized) = watch::channel(HashSet::new());
        let (_announced_tx, announced) = watch::channel(0);
        let dir = tempfile::tempdir().unwrap();
        let (policy, ledger) = policy_with_t02_enrolled(dir.path(), revoked, oversized, announced);
        sql(
            &policy,
            "INSERT INTO devices(device, stall, role, secret_hash, enrolled_at)
                 VALUES ('H01', 'S01', 'hub', 'hub-hash', '2026-12-05T10:00:00Z')",
        );
        let hub = || Box::pin(policy.share(ledger.clone(), PeerId::from("hub:H01")));
        let mut relaying = hub();
        assert!(next_of(&mut relaying).await, "granted");
        assert!(relaying.next().now_or_never().is_none());
        // T02 is revoked: the hub's grant of its ledger ends, and a new one is not made.
        sql(
            &policy,
            "UPDATE devices SET revoked_at = '2026-12-05T11:00:00Z' WHERE device = 'T02'",
        );
        let named = Revocations::from([("T02".into(), "2026-12-05T11:00:00Z hash".into())]);
        revoked_tx.send_replace(named);
        assert!(!next_of(&mut relaying).await, "ended");
        assert!(!next_of(&mut hub()).await, "refused");
    }

    #[test]
    fn a_till_is_offered_only_the_catalog_unasked_anyone_else_everything() {
        let catalog = DocumentId::new(&mut rand::rng());
        let ledger = DocumentId::new(&mut rand::rng());
        let offered = offered_unasked(catalog.clone());
        let till = PeerId::from("device:T0001");
        assert!(offered(&till, &catalog));
        assert!(!offered(&till, &ledger));
        for peer in ["hub:H01", "hq:fair", "organizer:7"] {
            assert!(offered(&PeerId::from(peer), &ledger), "{peer}");
        }
    }
}
