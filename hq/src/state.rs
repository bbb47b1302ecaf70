//! What every request handler of the server shares: the devices' routes, the dashboard
//! and its API.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fairpos_domain::fair::Fair;
use fairpos_sync::samod::{AcceptorHandle, DocHandle, DocumentId};
use rusqlite::Connection;
use tokio::sync::{mpsc, watch};

use crate::devices::Peer;
use crate::Role;

/// A pass of the maintenance loop over stored documents: how many there have been, and the
/// documents this one took. A waiting confirmation asks the database again only when its
/// ledgers were among them, or when it may have missed a pass.
#[derive(Clone, Debug, Default)]
pub struct Settled {
    pub passes: u64,
    pub docs: Arc<HashSet<DocumentId>>,
}

impl Settled {
    /// Whether a waiter that last saw pass `seen` and waits for `wanted` should look again.
    pub fn concerns(&self, seen: u64, wanted: &HashSet<DocumentId>) -> bool {
        self.passes != seen.wrapping_add(1) || self.docs.iter().any(|d| wanted.contains(d))
    }
}

/// Messages waiting to be checked for intrusions into other tills' ledgers (a message for a
/// document names it; each is a look-up on PostgreSQL). A till sending messages for made-up
/// documents faster than they are looked up grew the queue without end; past this many, the
/// rest go unchecked (the share policy refuses them all the same: the check only logs).
pub const SEEN_QUEUED: usize = 4096;

#[derive(Clone)]
pub struct AppState {
    /// The connection the sync path writes through (and short reads beside it).
    pub db: Arc<Mutex<Connection>>,
    /// Read-only connections for reports and pages, used on blocking threads.
    pub readers: Arc<crate::readers::Readers>,
    /// Headquarters on PostgreSQL: devices, announced documents and sync events are kept
    /// there, shared by every process ([`crate::server::backend`]); `None` on SQLite.
    pub pg: Option<fairpos_postgres::Pool>,
    /// On PostgreSQL, organizers' own few connections (the dashboard's pages and API, their
    /// sessions), so that what they read never waits for a connection behind the tills'
    /// syncs, as on SQLite the read connections do not wait for the writer.
    pub pg_organizers: Option<fairpos_postgres::Pool>,
    /// On PostgreSQL, one connection of its own for `/api/v1/ready`.
    pub pg_ready: Option<fairpos_postgres::Pool>,
    pub fair: Fair,
    pub role: Role,
    pub catalog_key: String,
    pub catalog: Option<DocHandle>,
    pub acceptor: AcceptorHandle,
    /// Documents peers send messages about, for the maintenance thread to check (at most
    /// [`SEEN_QUEUED`] waiting: past that, messages go unchecked).
    pub seen: mpsc::Sender<(Peer, String)>,
    pub announced: Arc<watch::Sender<u64>>,
    /// The big screen's latest figures ([`crate::screen::publish`]).
    pub screen: watch::Receiver<Option<Arc<Published>>>,
    /// The screens open, whose figures are computed only while there is one.
    pub screen_watchers: Arc<Watchers>,
    /// The last `/screen` page drawn, served again within two seconds.
    pub screen_page: Arc<crate::recent::Recent<String>>,
    /// Set when the server begins to stop: open event streams end.
    pub stopping: watch::Receiver<bool>,
    /// The maintenance loop's last pass over stored documents, whatever came of it: tills
    /// waiting for their ledgers' confirmation follow it.
    pub settled: watch::Receiver<Settled>,
    /// Failed logins and enrolment codes, per address and account.
    pub throttle: Arc<crate::throttle::Throttle>,
    /// The key of the cookies that make a browser known to an account it logged in to.
    pub browsers: Arc<crate::known_browser::BrowserKey>,
    /// How long dashboard sessions live.
    pub sessions: crate::sessions::SessionLimits,
    /// On SQLite, the sessions whose use is being written (by their token's hash).
    pub uses_being_recorded: Arc<Mutex<HashSet<String>>>,
    /// The largest sync message taken, in bytes; a larger one ends its connection, logged.
    pub max_sync_message: usize,
    /// How long a write to a client may wait for it to read (`--send-timeout`).
    pub send_timeout: std::time::Duration,
    /// How long a sync socket may go with nothing heard over it (`--sync-idle`).
    pub sync_idle: std::time::Duration,
    /// How many ledger documents a till may have, and how large each.
    pub documents: crate::limits::DocumentLimits,
    /// The free space left on the data directory's disk.
    pub disk: Arc<crate::disk::DiskWatch>,
    /// What `/metrics` serves ([`crate::server::scrape`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The registry as hubs are answered it, made again only when its token changed.
    pub registry: Arc<crate::registry::answer::Made>,
    /// Refused tokens, logged as sync events once a minute for each device named; and the
    /// database errors `/api/v1/ready` meets, written to stderr once a minute.
    pub refusals: Arc<crate::quiet_log::QuietLog>,
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
}

/// Whether a request's client reached headquarters over HTTPS: to this server, or to a
/// reverse proxy named in `--forwarded-for` that says so (`crate::server::forwarded`, which
/// gives every request this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Https(pub bool);

impl Https {
    /// What every cookie set carries besides its own attributes: `; Secure` over HTTPS.
    pub fn cookie_attributes(self) -> &'static str {
        if self.0 {
            "; Secure"
        } else {
            ""
        }
    }

    /// The name the cookie `name` is set under: with the `__Host-` prefix over HTTPS, which
    /// a browser takes only with `Secure`, `Path=/` and no `Domain`, so that no other host (a
    /// sibling subdomain) can set it (`server::forwarded::host_only_cookies` reads it back).
    pub fn cookie_name(self, name: &str) -> String {
        if self.0 {
            format!("{HOST_PREFIX}{name}")
        } else {
            name.to_string()
        }
    }
}

/// The prefix of a cookie only its own host may set (RFC 6265bis).
pub const HOST_PREFIX: &str = "__Host-";

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

/// How many screens follow the figures (open event streams): the big screen's publisher
/// computes them only while there is one.
#[derive(Debug)]
pub struct Watchers(watch::Sender<usize>);

impl Default for Watchers {
    fn default() -> Watchers {
        Watchers(watch::Sender::new(0))
    }
}

impl Watchers {
    /// One more screen follows the figures, until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Watching {
        self.0.send_modify(|n| *n += 1);
        Watching(self.clone())
    }

    /// How many screens follow the figures, now and as it changes.
    pub fn count(&self) -> watch::Receiver<usize> {
        self.0.subscribe()
    }
}

/// An open screen's place among the [`Watchers`].
#[derive(Debug)]
pub struct Watching(Arc<Watchers>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0 .0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_sync::ids::document_id;

    #[test]
    fn a_waiter_looks_again_for_its_own_ledgers_or_when_it_may_have_missed_a_pass() {
        let (mine, other) = (document_id("ledger/f/T01/d"), document_id("ledger/f/T02/d"));
        let wanted = HashSet::from([mine.clone()]);
        let pass = |passes, doc: &DocumentId| Settled {
            passes,
            docs: Arc::new(HashSet::from([doc.clone()])),
        };
        assert!(!pass(4, &other).concerns(3, &wanted));
        assert!(pass(4, &mine).concerns(3, &wanted));
        assert!(pass(5, &other).concerns(3, &wanted), "pass 4 was missed");
        assert!(
            !pass(0, &other).concerns(u64::MAX, &HashSet::new()),
            "the count wraps"
        );
    }
}
