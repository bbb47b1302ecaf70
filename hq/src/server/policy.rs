//! The share policy: who may sync which document. A till syncs its own announced ledgers
//! read-write and reads the catalog; a hub relays every announced ledger; headquarters, seen
//! from a hub, sends the catalog and takes the ledgers; organizers read. A decision is a
//! stream: a ledger not announced yet is granted once it is, and a device's grants end the
//! moment it is revoked, a ledger's the moment it is refused for its size.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use fairpos_sync::samod::{DocumentId, PeerId, ShareConfig, SharePolicy};
use futures::stream;
use rusqlite::Connection;
use tokio::sync::watch;

use crate::{devices, project};
use fairpos_postgres::registry;

/// Who may sync which document.
#[derive(Clone)]
pub struct Policy {
    pub db: Arc<Mutex<Connection>>,
    /// Where documents are announced when headquarters runs on PostgreSQL.
    pub pg: Option<fairpos_postgres::Pool>,
    pub catalog: DocumentId,
    pub hub: bool,
    pub revoked: watch::Receiver<HashSet<String>>,
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
    /// asked when the revoked set names it: that set is a snapshot, taken every second
    /// (PostgreSQL) or every maintenance pass (SQLite), and a device revoked, added again and
    /// enrolled again within one may still be in it when its new connection is granted (a
    /// till's sync then waited out its step timeout). A database that cannot answer ends them.
    async fn shut_out(&self, device: &str) -> bool {
        match &self.pg {
            Some(pool) => match registry::credentials(pool, device).await {
                Ok(Some(held)) => held.revoked || held.secret_hash.is_none(),
                Ok(None) | Err(_) => true,
            },
            None => match self.db.lock() {
                Ok(db) => devices::shut_out(&db, device).unwrap_or(true),
                Err(_) => true,
            },
        }
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
    Granted(
        String,
        watch::Receiver<HashSet<String>>,
        watch::Receiver<HashSet<DocumentId>>,
    ),
    Done,
}

impl SharePolicy for Policy {
    /// The first decision; then, for a ledger not announced yet, the decision once it is; and
    /// for a device, `none` the moment it is revoked.
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
                let after = |d: ShareConfig| match (&device, d == ShareConfig::none()) {
                    (Some(dev), false) => Watch::Granted(
                        dev.clone(),
                        policy.revoked.clone(),
                        policy.oversized.clone(),
                    ),
                    _ => Watch::Done,
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
                            after(d)
                        };
                        Some((d, next))
                    }
                    Watch::Unannounced(mut announced) => loop {
                        announced.changed().await.ok()?;
                        if policy.is_known(&doc_id).await {
                            let d = policy.decide(&doc_id, &peer).await;
                            return Some((d, after(d)));
                        }
                    },
                    Watch::Granted(dev, mut revoked, mut oversized) => loop {
                        let listed = revoked.borrow_and_update().contains(&dev);
                        if oversized.borrow_and_update().contains(&doc_id)
                            || (listed && policy.shut_out(&dev).await)
                        {
                            return Some((ShareConfig::none(), Watch::Done));
                        }
                        tokio::select! {
                            changed = revoked.changed() => changed.ok()?,
                            changed = oversized.changed() => changed.ok()?,
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

    #[tokio::test]
    async fn a_device_revoked_and_enrolled_again_keeps_its_grants_while_the_revoked_set_lags() {
        let dir = tempfile::tempdir().unwrap();
        let hq = crate::Hq::init(
            dir.path(),
            fairpos_domain::demo::FAIR_TOML,
            crate::Founding::Hq {
                organizer_password: "organizer-pw",
            },
        )
        .unwrap();
        // T02 was revoked, added again and enrolled again: the database holds it enrolled.
        hq.conn
            .execute(
                "INSERT INTO devices(device, stall, role, secret_hash, enrolled_at)
                 VALUES ('T02', 'S02', 'till', 'hash', '2026-12-05T10:00:00Z')",
                [],
            )
            .unwrap();
        let ledger = DocumentId::new(&mut rand::rng());
        // The revoked set as the last poll left it, before the enrolment.
        let (revoked_tx, revoked) = watch::channel(HashSet::from(["T02".to_string()]));
        // Held to the end: a closed channel ends the stream of decisions.
        let (_oversized_tx, oversized) = watch::channel(HashSet::new());
        let (_announced_tx, announced) = watch::channel(0);
        let policy = Policy {
            db: Arc::new(Mutex::new(hq.conn)),
            pg: None,
            catalog: DocumentId::new(&mut rand::rng()),
            hub: false,
            revoked,
            oversized,
            announced,
            owners: Arc::new(RwLock::new(HashMap::from([(
                ledger.clone(),
                Some("T02".to_string()),
            )]))),
        };
        let shares = policy.share(ledger, PeerId::from("device:T02"));
        let mut shares = Box::pin(shares);
        assert!(shares.next().await == Some(ShareConfig::read_write()));
        // The grant stands: nothing more is decided until the set changes.
        assert!(shares.next().now_or_never().is_none());
        // Revoked again, and the next poll names it: the grant ends.
        policy
            .db
            .lock()
            .unwrap()
            .execute(
                "UPDATE devices SET revoked_at = 'now' WHERE device = 'T02'",
                [],
            )
            .unwrap();
        revoked_tx.send_modify(|_| {});
        assert!(shares.next().await == Some(ShareConfig::none()));
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
