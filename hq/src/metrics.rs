//! What a monitoring system (Prometheus, or anything that reads its text format) scrapes from
//! a headquarters process: its requests, its tills' sync connections, its projection, its
//! database pools and its disk. `hq serve --metrics-listen ADDR` serves them at `/metrics`
//! on a listener of their own ([`crate::server::scrape`]), for the province's monitoring
//! network rather than the internet the tills come from.
//!
//! Every figure is this process's own since it started (counters) or as it is now (gauges):
//! a monitoring system sums the counters over a headquarters' processes. The database's size
//! and the projection's backlog (one PostgreSQL database for them all) and the disk (shared
//! by processes on one host) are not to be summed. Counters are kept with
//! `prometheus-client` (the Prometheus project's Rust client); the gauges read at a scrape
//! (the disk, the database, the backlog, the pools, the screens) are set by the scrape just
//! before it encodes. A request's duration is the time to its response's head: for a sync
//! socket (101) or an event stream, not how long it stays open.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// A request counted: its method, the route it matched (not the path asked, so a scan of
/// made-up paths adds one series, `unmatched`) and the status answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: String,
}

/// One of the PostgreSQL pools of a process ([`crate::state::AppState`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolName {
    pool: &'static str,
}

/// Why headquarters closed a sync connection ([`Metrics::SYNC_CUT_OFF`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CutOffWhy {
    why: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolConnections {
    pool: &'static str,
    state: &'static str,
}

/// A series without labels that may be absent (a [`Family`] of one).
type Unlabelled = [(&'static str, &'static str); 0];

/// The label a request's route gets when it matched none.
pub const UNMATCHED: &str = "unmatched";

/// A pool's figures at a scrape, as deadpool gives them.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStatus {
    pub max: usize,
    pub open: usize,
    pub idle: usize,
    pub waiting: usize,
}

/// What the scrape reads from the running server just before it encodes.
#[derive(Clone, Debug, Default)]
pub struct Now {
    /// Free bytes on the data directory's disk when last read; `None`: not read yet, or the
    /// last read failed.
    pub disk_free: Option<u64>,
    pub disk_min_free: u64,
    pub disk_low: bool,
    /// Big screens following the figures.
    pub screens: usize,
    /// Each PostgreSQL pool by name; none on SQLite.
    pub pools: Vec<(&'static str, PoolStatus)>,
    /// The database's size; `None`: it could not be read.
    pub database_bytes: Option<u64>,
    /// The projection's backlog (ledgers stored since their projection); `None`: it could
    /// not be read.
    pub backlog: Option<u64>,
    /// When the TLS certificate served expires, in seconds since 1970; `None`: no TLS, or
    /// a date that did not read.
    pub tls_expires: Option<u64>,
}

/// What one pass of the projection did, as the maintenance loops tell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Projected {
    /// Ledger documents in which this process projected new records (not those found
    /// projected already).
    pub ledgers: usize,
    /// Records new to the projection in them.
    pub records: usize,
    /// Ledger documents loaded whole from storage to project them: the others' new changes
    /// were read on their own.
    pub documents_loaded: usize,
    /// Documents whose projection failed, to be tried again.
    pub failed: usize,
    /// Documents refused (forged, not their till's, over the size limit).
    pub refused: usize,
    /// How long the pass took.
    pub took: std::time::Duration,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    answered: Family<Answered, Counter>,
    durations: Family<Route, Histogram>,
    sync_open: Gauge,
    sync_connections: Counter,
    sync_received: Counter,
    sync_sent: Counter,
    sync_cut_off: Family<CutOffWhy, Counter>,
    passes: Counter,
    ledgers: Counter,
    records: Counter,
    documents_loaded: Counter,
    failed: Counter,
    refused: Counter,
    pass_durations: Histogram,
    /// No series until the disk has been read.
    disk_free: Family<Unlabelled, Gauge<u64, AtomicU64>>,
    /// No series while the size cannot be read.
    database_bytes: Family<Unlabelled, Gauge<u64, AtomicU64>>,
    /// No series while the backlog cannot be read.
    backlog: Family<Unlabelled, Gauge<u64, AtomicU64>>,
    /// No series without TLS, or when the certificate's date does not read.
    tls_expires: Family<Unlabelled, Gauge<u64, AtomicU64>>,
    disk_min_free: Gauge<u64, AtomicU64>,
    disk_low: Gauge,
    screens: Gauge,
    scrapes_refused: Counter,
    connections_refused: Counter,
    pool_connections: Family<PoolConnections, Gauge>,
    pool_max: Family<PoolName, Gauge>,
    pool_waiting: Family<PoolName, Gauge>,
}

impl Metrics {
    /// The metrics of a process serving as `role` (`hq`, `hub`) on `backend` (`sqlite`,
    /// `postgres`), all at zero.
    pub fn new(role: &'static str, backend: &'static str) -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("fairpos_hq"),
            answered: Family::default(),
            durations: Family::new_with_constructor(request_buckets),
            sync_open: Gauge::default(),
            sync_connections: Counter::default(),
            sync_received: Counter::default(),
            sync_sent: Counter::default(),
            sync_cut_off: Family::default(),
            passes: Counter::default(),
            ledgers: Counter::default(),
            records: Counter::default(),
            documents_loaded: Counter::default(),
            failed: Counter::default(),
            refused: Counter::default(),
            pass_durations: pass_buckets(),
            disk_free: Family::default(),
            database_bytes: Family::default(),
            backlog: Family::default(),
            tls_expires: Family::default(),
            disk_min_free: Gauge::default(),
            disk_low: Gauge::default(),
            screens: Gauge::default(),
            scrapes_refused: Counter::default(),
            connections_refused: Counter::default(),
            pool_connections: Family::default(),
            pool_max: Family::default(),
            pool_waiting: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "build",
            "This build's version, and how the process serves",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("role", role),
                ("backend", backend),
            ]),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            m.answered.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "How long requests took to answer, by method and route",
            Unit::Seconds,
            m.durations.clone(),
        );
        r.register(
            "sync_connections_open",
            "Sync connections (tills, hubs) open now",
            m.sync_open.clone(),
        );
        r.register(
            "sync_connections",
            "Sync connections accepted",
            m.sync_connections.clone(),
        );
        r.register(
            "sync_connections_cut_off",
            "Sync connections headquarters closed, by why: nothing heard for --sync-idle \
             (idle), a newer one of the same peer past --max-sync-sockets (replaced), the peer \
             read nothing for --send-timeout (send_timeout), a message larger than the send \
             buffer (too_large)",
            m.sync_cut_off.clone(),
        );
        // Every reason at zero from the start, so that a rate of each can be drawn.
        for why in Metrics::SYNC_CUT_OFF {
            let _ = m.sync_cut_off.get_or_create(&CutOffWhy { why });
        }
        r.register_with_unit(
            "sync_received",
            "Sync messages' bytes received",
            Unit::Bytes,
            m.sync_received.clone(),
        );
        r.register_with_unit(
            "sync_sent",
            "Sync messages' bytes sent",
            Unit::Bytes,
            m.sync_sent.clone(),
        );
        let projection = [
            (
                "passes",
                "Projection passes that took stored documents",
                &m.passes,
            ),
            (
                "ledgers",
                "Ledger documents in which new records were projected (by this process)",
                &m.ledgers,
            ),
            (
                "records",
                "Ledger records new to the projection",
                &m.records,
            ),
            (
                "documents_loaded",
                "Ledger documents loaded whole from storage and projected (a ledger projected \
                 before is otherwise taken further from the single changes stored since; a \
                 load that ends in a refusal or a failure is counted there instead)",
                &m.documents_loaded,
            ),
            (
                "failures",
                "Documents whose projection failed, each tried again",
                &m.failed,
            ),
            (
                "refused",
                "Documents refused (forged, not their till's, too large)",
                &m.refused,
            ),
        ];
        for (name, help, counter) in projection {
            r.register(format!("projection_{name}"), help, counter.clone());
        }
        r.register(
            "projection_backlog_ledgers",
            "Ledgers stored (through any process) and not projected yet, read with the \
             database's size: one that stays above 0 is a projection falling behind, or failing \
             (changes held back for an earlier one not received yet are not counted)",
            m.backlog.clone(),
        );
        r.register_with_unit(
            "projection_pass_duration",
            "How long projection passes took (a storm's passes take what piled up meanwhile)",
            Unit::Seconds,
            m.pass_durations.clone(),
        );
        r.register_with_unit(
            "disk_free",
            "Free space on the data directory's disk when last read (absent: not read yet, or \
             the last read failed)",
            Unit::Bytes,
            m.disk_free.clone(),
        );
        r.register_with_unit(
            "disk_min_free",
            "The free space under which the disk is low (--min-free-disk; 0: never)",
            Unit::Bytes,
            m.disk_min_free.clone(),
        );
        r.register(
            "disk_low",
            "1 while the disk is under its minimum",
            m.disk_low.clone(),
        );
        r.register_with_unit(
            "database_size",
            "Headquarters' database: SQLite's files in the data directory (with its log), or \
             PostgreSQL's pg_database_size, shared by every process on it",
            Unit::Bytes,
            m.database_bytes.clone(),
        );
        r.register_with_unit(
            "tls_certificate_expiry_timestamp",
            "When the TLS certificate served (--tls-cert) expires, in seconds since 1970 (absent \
             without TLS, or when its date does not read, which is logged): alert well before \
             it, and renew it, then send hq serve SIGHUP",
            Unit::Seconds,
            m.tls_expires.clone(),
        );
        r.register(
            "metrics_scrapes_refused",
            "Scrapes of /metrics refused for want of --metrics-token-file's token",
            m.scrapes_refused.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused unserved: their address held --max-connections-per-address, \
             or 32 connections in their TLS handshake or PROXY header",
            m.connections_refused.clone(),
        );
        r.register(
            "screens_open",
            "Big screens following the figures",
            m.screens.clone(),
        );
        r.register(
            "db_connections",
            "PostgreSQL connections of each pool, in use or idle",
            m.pool_connections.clone(),
        );
        r.register(
            "db_connections_max",
            "The most connections each PostgreSQL pool opens",
            m.pool_max.clone(),
        );
        r.register(
            "db_waiting",
            "Tasks waiting for a connection of each PostgreSQL pool",
            m.pool_waiting.clone(),
        );
        m
    }

    /// A request answered `status` after `seconds`.
    pub fn answered(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = known_method(method);
        self.answered
            .get_or_create(&Answered {
                method,
                route: route.to_string(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&Route {
                method,
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// A sync connection accepted: open until the guard is dropped.
    pub fn sync_opened(self: &std::sync::Arc<Self>) -> SyncOpen {
        self.sync_connections.inc();
        self.sync_open.inc();
        SyncOpen(self.clone())
    }

    /// Why headquarters may close a sync connection: the `why` label's values.
    pub const SYNC_CUT_OFF: [&'static str; 4] = ["idle", "replaced", "send_timeout", "too_large"];

    /// A sync connection closed by headquarters for `why`, one of [`Metrics::SYNC_CUT_OFF`].
    pub fn sync_cut_off(&self, why: &'static str) {
        debug_assert!(Metrics::SYNC_CUT_OFF.contains(&why), "{why}");
        self.sync_cut_off.get_or_create(&CutOffWhy { why }).inc();
    }

    /// A sync message of `bytes` received.
    pub fn sync_received(&self, bytes: usize) {
        self.sync_received.inc_by(bytes as u64);
    }

    /// A sync message of `bytes` sent.
    pub fn sync_sent(&self, bytes: usize) {
        self.sync_sent.inc_by(bytes as u64);
    }

    /// A scrape refused: it did not send the token asked for.
    pub fn scrape_refused(&self) {
        self.scrapes_refused.inc();
    }

    /// A connection refused: its address held as many open as it may.
    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// A pass of the projection that took stored documents.
    pub fn projected(&self, pass: Projected) {
        self.passes.inc();
        self.ledgers.inc_by(pass.ledgers as u64);
        self.records.inc_by(pass.records as u64);
        self.documents_loaded.inc_by(pass.documents_loaded as u64);
        self.failed.inc_by(pass.failed as u64);
        self.refused.inc_by(pass.refused as u64);
        self.pass_durations.observe(pass.took.as_secs_f64());
    }

    /// The text a scrape answers, with the gauges read from `now`: OpenMetrics
    /// (`application/openmetrics-text`), or Prometheus' text format 0.0.4.
    pub fn encode(&self, now: &Now, openmetrics: bool) -> Result<String, std::fmt::Error> {
        for (family, value) in [
            (&self.disk_free, now.disk_free),
            (&self.database_bytes, now.database_bytes),
            (&self.backlog, now.backlog),
            (&self.tls_expires, now.tls_expires),
        ] {
            match value {
                Some(value) => {
                    family.get_or_create(&[]).set(value);
                }
                None => family.clear(),
            }
        }
        self.disk_min_free.set(now.disk_min_free);
        self.disk_low.set(i64::from(now.disk_low));
        self.screens.set(gauge(now.screens));
        for (pool, status) in &now.pools {
            let connections = |state| PoolConnections { pool, state };
            let in_use = status.open.saturating_sub(status.idle);
            let connections_of = &self.pool_connections;
            connections_of
                .get_or_create(&connections("in_use"))
                .set(gauge(in_use));
            connections_of
                .get_or_create(&connections("idle"))
                .set(gauge(status.idle));
            self.pool_max
                .get_or_create(&PoolName { pool })
                .set(gauge(status.max));
            self.pool_waiting
                .get_or_create(&PoolName { pool })
                .set(gauge(status.waiting));
        }
        let mut text = String::new();
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        }
        Ok(text)
    }
}

/// The value of the series `series` (its name and labels, as encoded) in a scrape's text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
}

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub fn content_type(openmetrics: bool) -> &'static str {
    if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    }
}

/// An open sync connection, counted until dropped.
#[derive(Debug)]
pub struct SyncOpen(std::sync::Arc<Metrics>);

impl Drop for SyncOpen {
    fn drop(&mut self) {
        self.0.sync_open.dec();
    }
}

/// 5 ms to about 10 s, doubling: a page, a report, a confirmation waiting for its pass.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// 1 ms to about 33 s, doubling: a till's few sales, a storm's pile, a province's catch-up
/// passes at start.
fn pass_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// HTTP's methods by name; anything else (a client's own extension method) is `other`, so
/// that no request can add series of its choosing.
fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
