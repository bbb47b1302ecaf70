//! What every request handler of the server shares: the devices' routes, the dashboard
//! and its API.

use std::sync::{Arc, Mutex};

use fairpos_domain::fair::Fair;
use fairpos_sync::samod::{AcceptorHandle, DocHandle};
use rusqlite::Connection;
use tokio::sync::{mpsc, watch};

use crate::devices::Peer;
use crate::Role;

#[derive(Clone)]
pub struct AppState {
    /// The connection the sync path writes through (and short reads beside it).
    pub db: Arc<Mutex<Connection>>,
    /// Read-only connections for reports and pages, used on blocking threads.
    pub readers: Arc<crate::readers::Readers>,
    pub fair: Fair,
    pub role: Role,
    pub catalog_key: String,
    pub catalog: Option<DocHandle>,
    pub acceptor: AcceptorHandle,
    /// Documents peers send messages about, for the maintenance thread to check.
    pub seen: mpsc::UnboundedSender<(Peer, String)>,
    pub announced: Arc<watch::Sender<u64>>,
    /// The big screen's latest figures ([`crate::screen::publish`]).
    pub screen: watch::Receiver<Option<Arc<Published>>>,
    /// Set when the server begins to stop: open event streams end.
    pub stopping: watch::Receiver<bool>,
    /// Counts the maintenance loop's passes over stored documents, whatever came of them:
    /// tills waiting for their ledgers' confirmation follow it.
    pub settled: watch::Receiver<u64>,
    /// Failed logins and enrolment codes, per address and account.
    pub throttle: Arc<crate::throttle::Throttle>,
    /// How long dashboard sessions live.
    pub sessions: crate::sessions::SessionLimits,
    /// Served over TLS: cookies go only over HTTPS.
    pub tls: bool,
    /// The largest sync message taken, in bytes; a larger one ends its connection, logged.
    pub max_sync_message: usize,
    /// How many ledger documents a till may have, and how large each.
    pub documents: crate::limits::DocumentLimits,
}

impl AppState {
    /// Runs `f` on the writer's connection on a blocking thread, so that the async workers
    /// carrying every till's sync socket never wait for the lock, the disk or a password
    /// hash.
    pub async fn on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    ) -> crate::Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&*lock(&db)?))
            .await
            .map_err(|e| crate::Error::Other(format!("database task: {e}")))?
    }

    /// What every cookie set carries besides its own attributes: `; Secure` under TLS.
    pub fn cookie_security(&self) -> &'static str {
        if self.tls {
            "; Secure"
        } else {
            ""
        }
    }
}

/// The writer's connection, locked (on a blocking thread: it may wait for a sync's write).
pub fn lock(db: &Mutex<Connection>) -> crate::Result<std::sync::MutexGuard<'_, Connection>> {
    db.lock()
        .map_err(|_| crate::Error::Other("the database lock is poisoned".into()))
}

/// The big screen's figures as its event stream carries them: the JSON one event sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub json: String,
}
