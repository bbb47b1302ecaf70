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

use crate::project;
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
                        if revoked.borrow_and_update().contains(&dev)
                            || oversized.borrow_and_update().contains(&doc_id)
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
    use super::*;

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
