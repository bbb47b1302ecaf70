//! `hq serve`'s options: where it serves, the limits it holds clients to, TLS, monitoring.

use std::path::PathBuf;

use clap::Args;

/// `hq serve`'s options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address and port to serve on (`0.0.0.0:7700` for every interface).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: std::net::SocketAddr,
    /// For a hub: the headquarters to relay to (default: the one it enrolled with).
    #[arg(long)]
    pub upstream: Option<String>,
    /// An organizer session ends after this long without use (90s, 30m, 12h).
    #[arg(
        long,
        default_value = "1h",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_SESSION_IDLE"
    )]
    pub session_idle: String,
    /// An organizer session ends this long after login, however busy.
    #[arg(
        long,
        default_value = "12h",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_SESSION_MAX"
    )]
    pub session_max: String,
    /// A client that takes longer than this to send a request's head (or keeps a
    /// connection idle this long between requests) is disconnected (90s, 2m).
    #[arg(
        long,
        default_value = "30s",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_REQUEST_HEAD_TIMEOUT"
    )]
    pub request_head_timeout: String,
    /// A client that takes none of its answer for this long (it reads nothing) is
    /// disconnected; one that takes some of it now and then is served to the end.
    #[arg(
        long,
        default_value = "60s",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_SEND_TIMEOUT"
    )]
    pub send_timeout: String,
    /// A request whose body and answer take longer than this, once its head is in, is
    /// answered 408 (a sync socket, once open, and the big screen's stream are not).
    #[arg(
        long,
        default_value = "60s",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_REQUEST_TIMEOUT"
    )]
    pub request_timeout: String,
    /// A sync connection over which nothing is heard for this long (a till whose network
    /// dropped without closing it) is closed; headquarters pings it every third of that,
    /// which a live WebSocket client answers on its own.
    #[arg(
        long,
        default_value = "90s",
        value_name = "SPAN",
        env = "FAIRPOS_HQ_SYNC_IDLE"
    )]
    pub sync_idle: String,
    /// The most sync connections one till, hub or dashboard session may hold open to this
    /// process; one more lets its oldest go (one its network dropped, most likely).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        value_parser = clap::value_parser!(u16).range(1..),
        env = "FAIRPOS_HQ_MAX_SYNC_SOCKETS"
    )]
    pub max_sync_sockets: u16,
    /// The most connections one client address (an IPv6 address by its /64) may hold open
    /// to this process; one more is answered 503 and closed. A reverse proxy named by
    /// --forwarded-for is not counted. 0: no cap (behind a TCP balancer that sends no PROXY
    /// header, where every client has the balancer's address).
    #[arg(
        long,
        value_name = "N",
        default_value_t = crate::server::per_address::DEFAULT_MOST,
        env = "FAIRPOS_HQ_MAX_CONNECTIONS_PER_ADDRESS"
    )]
    pub max_connections_per_address: u32,
    /// How many steps nicer (as `nice` counts) the tills' sync and, on SQLite, the
    /// projection run than the server: in a storm of tills, organizers' pages and the API
    /// take the cores' time first. 0: the same.
    #[arg(
        long,
        value_name = "STEPS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u8).range(0..=19),
        env = "FAIRPOS_HQ_BACKGROUND_NICE"
    )]
    pub background_nice: u8,
    /// Serve HTTPS and WSS with this certificate chain (PEM, the server's first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The largest sync message taken from a till or hub, in MiB; a larger one ends
    /// its connection and is logged.
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_sync_message: u32,
    /// The most one ledger document may take in storage (64KiB, 256MiB); a larger one
    /// is refused, logged, and no more of it is taken.
    #[arg(long, value_name = "SIZE", default_value = crate::limits::DEFAULT_MAX_DOCUMENT)]
    pub max_document: String,
    /// The most ledger documents one till may have (one per day it sells).
    #[arg(long, value_name = "N", default_value_t = crate::limits::DEFAULT_MAX_DOCUMENTS_PER_DEVICE)]
    pub max_documents_per_device: u64,
    /// Copy every ledger chunk stored to this PostgreSQL database too (what it lacks
    /// first), for `hq postgres project` and `report` there.
    #[arg(
        long,
        value_name = "URL",
        env = "FAIRPOS_HQ_POSTGRES_MIRROR",
        conflicts_with = "database"
    )]
    pub postgres_mirror: Option<String>,
    /// Serve from this PostgreSQL database, with any number of other processes (default:
    /// the one `hq init --database` named, else SQLite in the data directory).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Below this much free space on the data directory's disk (512MiB, 2GiB; 0: never),
    /// it is logged, /api/v1/health says "disk": "low" and the overview shows it.
    #[arg(long, value_name = "SIZE", env = "FAIRPOS_HQ_MIN_FREE_DISK",
          default_value = crate::disk::DEFAULT_MIN_FREE)]
    pub min_free_disk: String,
    /// Serve /metrics for Prometheus on this address too: a monitoring network's, not
    /// the one the tills come from (HTTPS with --tls-cert, else plain HTTP).
    #[arg(long, value_name = "ADDR", env = "FAIRPOS_HQ_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// /metrics asks for the bearer token in this file (one word, 16 characters or
    /// more: openssl rand -hex 32), as Prometheus' credentials_file sends it; or any of
    /// several, one per line, while it is changed.
    #[arg(
        long,
        value_name = "FILE",
        env = "FAIRPOS_HQ_METRICS_TOKEN_FILE",
        requires = "metrics_listen"
    )]
    pub metrics_token_file: Option<PathBuf>,
    /// Every connection comes through a TCP load balancer at one of these addresses or
    /// networks (10.0.0.2,10.0.1.0/24) and begins with its PROXY protocol header (v1 or
    /// v2: HAProxy's send-proxy, nginx's proxy_protocol), whose client address logins
    /// are throttled by and the log names; any other connection is closed.
    #[arg(long, value_name = "FROM", env = "FAIRPOS_HQ_PROXY_PROTOCOL")]
    pub proxy_protocol: Option<String>,
    /// Requests come through an HTTP reverse proxy at one of these addresses or networks
    /// (nginx's proxy_pass, HAProxy's mode http), which names the client in
    /// X-Forwarded-For and its scheme in X-Forwarded-Proto: logins are throttled by that
    /// client, and cookies are Secure when it came over HTTPS. Others' headers are ignored.
    #[arg(long, value_name = "FROM", env = "FAIRPOS_HQ_FORWARDED_FOR")]
    pub forwarded_for: Option<String>,
}
