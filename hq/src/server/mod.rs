//! `fairpos hq serve`: one HTTP + WebSocket server (axum and samod) in front of the
//! headquarters database.
//!
//! - `GET /sync?token=…` upgrades to a samod (automerge-repo) connection, bound to the peer
//!   id its credentials name, so the share [`policy`] decides with an authenticated id.
//! - The device routes of [`fairpos_sync::protocol::route`] ([`api`]), and the organizers'
//!   dashboard and JSON API ([`crate::web`]).
//!
//! A [`maintenance`] thread projects documents as samod stores them, merges catalog edits
//! made from the command line into the document served, and turns revocations into share
//! decisions. A hub also keeps a link upstream ([`crate::hub::relay`]). The HTTP side and
//! samod run on two runtimes of their own ([`serve`]).

pub mod accept;
pub mod api;
pub mod backend;
pub mod forwarded;
pub mod hangup;
mod headers;
pub mod http;
mod kept_products;
pub mod last_read;
pub mod maintenance;
pub mod mirror;
pub mod per_address;
pub mod policy;
pub mod postgres;
pub mod priority;
pub mod proxy;
pub mod scrape;
mod served_catalog;
mod service_manager;
pub mod sync_slots;
pub mod sync_socket;
pub mod tally;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::routing::{get, post};
use axum::Router;
use fairpos_sync::protocol::{device_token, route};
use fairpos_sync::samod::{PeerId, Repo};
use fairpos_sync::samod_storage::SqliteStorage;
use fairpos_sync::tls::Trust;
use tokio::sync::{mpsc, watch};

use self::policy::Policy;
use self::postgres::SamodStorage;
use crate::checkpoints::{self, Checkpointer};
use crate::known_browser::BrowserKey;
use crate::state::AppState;
use crate::{catalog, connect, devices, hub, meta, Error, Hq, Result, Role};

/// Options of `hq serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// A hub's headquarters; a hub uses the one it enrolled with when not given.
    pub upstream: Option<String>,
    /// How long dashboard sessions live.
    pub sessions: crate::sessions::SessionLimits,
    /// How long a client may take over a request's head, and to take its answer ([`http`]).
    pub client_limits: http::ClientLimits,
    /// How long a request may take once its head is in: then it is answered 408.
    pub request_timeout: std::time::Duration,
    /// HTTPS and WSS with this certificate chain and key (PEM files); plain HTTP without.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The largest sync message taken, in bytes.
    pub max_sync_message: usize,
    /// A sync socket over which nothing is heard for this long is closed ([`sync_socket`]).
    pub sync_idle: std::time::Duration,
    /// The most sync sockets one peer may hold open to this process ([`sync_slots`]).
    pub max_sync_sockets: usize,
    /// The most connections one address may hold open to this process; 0: no cap
    /// ([`per_address`]).
    pub max_connections_per_address: usize,
    /// How many steps nicer than the server its background work runs: the sync's threads,
    /// and on SQLite the projection's ([`priority`]).
    pub background_nice: u8,
    /// How many ledger documents a till may have, and how large each.
    pub documents: crate::limits::DocumentLimits,
    /// A PostgreSQL database every stored ledger chunk is copied to (`mirror`).
    pub postgres_mirror: Option<String>,
    /// The PostgreSQL database headquarters runs on, shared by every process naming it
    /// ([`postgres`]); SQLite in the data directory without.
    pub database: Option<String>,
    /// Below this many bytes free on the data directory's disk, it is logged and
    /// `/api/v1/health` says so ([`crate::disk`]).
    pub min_free_disk: u64,
    /// Serve `/metrics` for a monitoring system on this address too ([`scrape`]).
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token `/metrics` asks for, if any (read again on SIGHUP).
    pub metrics_token: Option<Arc<scrape::Token>>,
    /// Every connection comes through these load balancers and begins with a PROXY
    /// protocol header naming the client ([`proxy`]).
    pub proxy_protocol: Option<Arc<proxy::Trusted>>,
    /// An HTTP reverse proxy's addresses, whose requests name the client and its scheme
    /// ([`forwarded`]).
    pub forwarded_for: Option<proxy::Trusted>,
}

/// Serves until SIGINT or SIGTERM.
pub fn serve(dir: &Path, options: ServeOptions) -> Result<()> {
    let runtime = |name: &str, nice: Option<i32>| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .on_thread_start(move || priority::set_thread_nice(nice))
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))
    };
    let background = priority::background_nice(options.background_nice);
    let http = runtime("hq-http", None)?;
    // The documents' sync (samod's connections and document actors) on workers of its own:
    // an organizer's request is then never queued behind hundreds of tills' sync work on the
    // same two workers, and the system schedules the two kinds of work side by side, the
    // sync's threads (its workers and blocking threads) a few steps nicer,
    // so that a storm of tills takes the cores' time before organizers' requests only when
    // they leave it.
    let sync = runtime("hq-sync", background)?;
    let served = http.block_on(run(dir, options, sync.handle().clone()));
    sync.shutdown_timeout(SYNC_STOP);
    served
}

/// How long the sync runtime's last tasks get once the server has stopped samod.
const SYNC_STOP: std::time::Duration = std::time::Duration::from_secs(5);

async fn run(dir: &Path, options: ServeOptions, sync: tokio::runtime::Handle) -> Result<()> {
    let identity = match &options.tls {
        Some((cert, key)) => Some(tls::Identity::load(cert, key)?),
        None => None,
    };
    if let Some(identity) = &identity {
        identity.tell_expiry(SystemTime::now());
        tokio::spawn(tls::watch_expiry(identity.clone()));
    }
    tokio::spawn(hangup::on_hangup(
        identity.clone(),
        options.metrics_token.clone(),
    )?);
    let tls = match identity.clone() {
        Some(identity) => Some(tls::server_config(identity)?),
        None => None,
    };
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let hq = Hq::open(dir)?;
    if matches!(hq.role, Role::Hq) {
        catalog::warn_if_tills_refuse(&hq);
    }
    let disk = Arc::new(crate::disk::DiskWatch::new(dir, options.min_free_disk));
    tokio::spawn(disk.clone().keep_watching());
    let fair = hq.fair.clone();
    let role = match (&hq.role, &options.upstream) {
        (Role::Hub { device, .. }, Some(up)) => {
            crate::hub::check_upstream(up)?;
            Role::Hub {
                device: device.clone(),
                upstream: up.clone(),
            }
        }
        (Role::Hq, Some(_)) => return Err(crate::hub::upstream_on_hq()),
        (r, _) => r.clone(),
    };
    let catalog_key = catalog::key(&hq);
    let catalog_id = catalog::doc_id(&hq);
    let peer_id = hq.peer_id();
    let pg = match &options.database {
        Some(_) if matches!(role, Role::Hub { .. }) => {
            return Err(Error::input(
                "a hub keeps its data in its own directory: serve it without --database",
            ))
        }
        Some(url) => {
            let pool = postgres::connect_for(url, &fair.id).await?;
            let organizers =
                fairpos_postgres::connect_waiting(url, ORGANIZERS_CONNECTIONS, ORGANIZERS_WAIT)?;
            // Readiness's own connection: busy syncs or organizers never make it look down.
            let ready = fairpos_postgres::connect_waiting(url, 1, api::READY_WAIT)?;
            Some((pool, (organizers, ready)))
        }
        None => None,
    };
    let (pg, pg_organizers) = pg.unzip();
    let (pg_organizers, pg_ready) = pg_organizers.unzip();
    // This process's name among those of the headquarters, on the channel of stored
    // documents: the others leave what it stores to its projection.
    let origin = fairpos_postgres::documents::Origin::new();
    let revoked_now = match &pg {
        Some(pool) => fairpos_postgres::registry::revoked(pool).await?,
        None => devices::revoked(&hq.conn)?,
    };
    let (revoked_tx, revoked_rx) = watch::channel(revoked_now.into_iter().collect());
    let oversized_now = match &pg {
        Some(pool) => postgres::oversized_at_start(pool, &options.documents).await?,
        None => crate::limits::oversized(&hq.conn, &options.documents)?,
    };
    let (oversized_tx, oversized_rx) = watch::channel(oversized_now);
    // On SQLite, the log is copied into the database by a thread of its own, not inside the
    // commits of the projection, of samod's storage and of organizers' requests; it runs
    // until the server and the maintenance loop have both stopped.
    let checkpoints = match &pg {
        Some(_) => None,
        None => {
            let checkpointer = Arc::new(Checkpointer::start(dir)?);
            checkpoints::hand_over(&hq.conn)?;
            Some(checkpointer)
        }
    };
    let db = Arc::new(Mutex::new(hq.conn));
    let (changed_tx, changed_rx) = std::sync::mpsc::channel();
    let storage = match &pg {
        // The catalog document (and the stalls' names) from the data directory, where
        // `hq init` and the catalog commands write them, to the shared store.
        Some(pool) => {
            mirror::copy_all(&db, pool, |_, _| {}).await?;
            SamodStorage::Postgres(
                fairpos_postgres::documents::PgStorage::new(pool.clone()).announcing_as(&origin),
            )
        }
        None => {
            let mirror = match &options.postgres_mirror {
                Some(url) => {
                    // Claimed: two SQLite headquarters mirroring into one database counted
                    // both fairs' sales in one set of reports.
                    let pool = postgres::connect_for(url, &fair.id).await?;
                    let (copied, _) = mirror::copy_all(&db, &pool, |_, _| {}).await?;
                    if copied > 0 {
                        eprintln!("copied {copied} stored chunks to the PostgreSQL mirror");
                    }
                    Some(fairpos_postgres::documents::PgStorage::new(pool))
                }
                None => None,
            };
            let conn = connect(dir)?;
            if checkpoints.is_some() {
                checkpoints::hand_over(&conn)?;
            }
            SamodStorage::Sqlite(mirror::Mirrored {
                primary: SqliteStorage::new(conn, Some(changed_tx))
                    .map_err(|e| Error::Other(format!("samod storage thread: {e}")))?,
                mirror,
            })
        }
    };
    let (announced_tx, announced_rx) = watch::channel(0u64);
    let announced_tx = Arc::new(announced_tx);
    let policy = Policy {
        db: db.clone(),
        pg: pg.clone(),
        catalog: catalog_id.clone(),
        hub: matches!(role, Role::Hub { .. }),
        revoked: revoked_rx,
        oversized: oversized_rx,
        announced: announced_rx,
        owners: Default::default(),
    };
    let sync_runtime = sync.clone();
    let repo = Repo::builder(sync)
        .with_storage(storage)
        .with_peer_id(PeerId::from(peer_id))
        .with_share_policy(policy)
        .load()
        .await;
    repo.set_offer_filter(policy::offered_unasked(catalog_id.clone()));
    let catalog = served_catalog::find(&repo, &catalog_id, matches!(role, Role::Hq)).await?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Io {
            path: PathBuf::from(options.listen.to_string()),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?;
    let metrics_listener = match options.metrics_listen {
        Some(at) => Some(scrape::bind(at).await?),
        None => None,
    };
    let acceptor = repo
        .make_acceptor(
            url::Url::parse(&format!("{ws}://{addr}/sync"))
                .map_err(|e| Error::Other(e.to_string()))?,
        )
        .map_err(|e| Error::Other(format!("samod: {e}")))?;
    let (seen_tx, seen_rx) = mpsc::channel(crate::state::SEEN_QUEUED);
    let (screen_tx, screen_rx) = watch::channel(None);
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (projected_tx, projected_rx) = watch::channel(0u64);
    let metrics = Arc::new(crate::metrics::Metrics::new(
        role.as_str(),
        if pg.is_some() { "postgres" } else { "sqlite" },
    ));
    let (settled_tx, settled_rx) = watch::channel(crate::state::Settled::default());
    let browsers = match &pg {
        Some(pool) => BrowserKey::of_postgres(pool).await?,
        None => BrowserKey::of_sqlite(&*crate::state::lock(&db)?)?,
    };
    let state = AppState {
        db: db.clone(),
        readers: Arc::new(crate::readers::Readers::new(dir.to_path_buf())),
        pg: pg.clone(),
        pg_organizers: pg_organizers.clone(),
        pg_ready,
        fair: fair.clone(),
        role: role.clone(),
        catalog_key: catalog_key.clone(),
        catalog: catalog.clone(),
        acceptor,
        seen: seen_tx,
        announced: announced_tx,
        screen: screen_rx,
        screen_watchers: Arc::default(),
        screen_page: Arc::default(),
        stopping: stopping_rx,
        settled: settled_rx,
        // On PostgreSQL, logins and enrolment codes counted by every process together, on
        // organizers' connections (a storm of syncs does not hold them up).
        throttle: Arc::new(match &pg_organizers {
            Some(pool) => crate::throttle::Throttle::shared_in(pool.clone()),
            None => crate::throttle::Throttle::default(),
        }),
        browsers: Arc::new(browsers),
        sessions: options.sessions,
        uses_being_recorded: Arc::default(),
        max_sync_message: options.max_sync_message,
        send_timeout: options.client_limits.send,
        sync_idle: options.sync_idle,
        documents: options.documents,
        disk,
        metrics: metrics.clone(),
        registry: Arc::default(),
        // Without a task of its own: what it held back is counted in its next event (the
        // task would print the bare line, without the device, and never to the events).
        refusals: Arc::default(),
    };
    crate::throttle::Throttle::keep_swept(state.throttle.clone());
    state.keep_sessions_swept();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let maintenance =
        match (&pg, &options.database) {
            (Some(pool), Some(url)) => {
                tokio::spawn(crate::screen::publish(
                    state.clone(),
                    projected_rx,
                    screen_tx,
                ));
                tokio::spawn(postgres::watch_intrusions(pool.clone(), seen_rx));
                tokio::spawn(postgres::maintain(
                    url.clone(),
                    pool.clone(),
                    postgres::Channels {
                        origin,
                        settled: settled_tx,
                        revoked: revoked_tx,
                        announced: state.announced.clone(),
                        oversized: oversized_tx,
                        projected: projected_tx,
                        catalog: catalog.clone().map(|handle| postgres::Catalog {
                            handle,
                            id: catalog_id.clone(),
                            key: catalog_key.clone(),
                            fair: fair.id.clone(),
                            dir: dir.to_path_buf(),
                        }),
                        limits: options.documents,
                        metrics,
                    },
                ));
                None
            }
            _ => {
                tokio::spawn(crate::screen::publish(
                    state.clone(),
                    projected_rx,
                    screen_tx,
                ));
                let dir = dir.to_path_buf();
                let catalog = catalog.clone();
                let fair = fair.clone();
                let role = role.clone();
                let stop = stop.clone();
                let nice = priority::background_nice(options.background_nice);
                let projection = std::thread::Builder::new().name("hq-projection".into());
                let projection = projection.spawn(move || {
                    priority::set_thread_nice(nice);
                    maintenance::maintain(
                        &dir,
                        &fair,
                        &role,
                        maintenance::Channels {
                            changed: changed_rx,
                            seen: seen_rx,
                            revoked: revoked_tx,
                            oversized: oversized_tx,
                            projected: projected_tx,
                            settled: settled_tx,
                            limits: options.documents,
                            checkpoints: checkpoints.clone(),
                            metrics,
                        },
                        catalog,
                        stop,
                    )
                });
                Some(projection.map_err(|e| {
                    Error::Other(format!("cannot start the projection's thread: {e}"))
                })?)
            }
        };
    if let Role::Hub { device, upstream } = &role {
        let (secret, ca) = {
            let conn = db.lock().map_err(|_| Error::Other("database".into()))?;
            let secret = meta(&conn, "secret")?
                .ok_or_else(|| Error::Integrity("the hub's secret is missing".into()))?;
            (secret, meta(&conn, hub::META_UPSTREAM_CA)?)
        };
        tokio::spawn(hub::relay(
            repo.clone(),
            db.clone(),
            upstream.clone(),
            Trust::with_ca(ca.as_deref())?,
            device_token(device, &secret),
        ));
    }

    // One address's connections to either listener count together.
    let cap = per_address::AddressCap::new(
        options.max_connections_per_address,
        options.forwarded_for.clone(),
        state.metrics.clone(),
    );
    // Printed before the line that says the server serves, which comes last.
    if let Some(listener) = metrics_listener {
        let access = scrape::MetricsAccess {
            tls: tls.clone(),
            identity: identity.clone(),
            token: options.metrics_token.clone(),
            limits: options.client_limits,
            cap: cap.clone(),
        };
        let on_loopback = options
            .metrics_listen
            .is_some_and(|at| at.ip().is_loopback());
        let asks_token = access.token.is_some();
        if asks_token && access.tls.is_none() && !on_loopback {
            eprintln!(
                "--metrics-token-file without --tls-cert: the token crosses the network in the \
                 clear; serve TLS, or keep /metrics on a network only the monitoring system is on"
            );
        }
        let at = scrape::serve(listener, state.clone(), dir, access)?;
        let token = if asks_token {
            " (with its bearer token)"
        } else {
            ""
        };
        println!("metrics for monitoring on {at}{token}");
    }
    let device_routes = Router::new()
        .route(
            route::SYNC,
            get(sync_socket::sync_socket).layer(axum::Extension(sync_socket::SyncSockets {
                slots: sync_slots::SyncSlots::new(options.max_sync_sockets),
                runtime: sync_runtime,
            })),
        )
        .route(route::ENROLL, post(api::enroll))
        .route(route::LOGIN, post(api::login))
        .route(route::ANNOUNCE, post(api::announce))
        .route(route::CONFIRM, get(api::confirm).post(api::confirm_waiting))
        .route(route::DOCS, get(api::list_docs))
        .route(route::REGISTRY, get(api::registry))
        .route(route::HEALTH, get(api::health))
        .route(READY, get(api::ready));
    let app = device_routes
        .merge(crate::web::routes())
        .merge(crate::screen::routes())
        .fallback(crate::web::not_found);
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        options.request_timeout,
    );
    let app = app
        .layer(timeout)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        // A body its Content-Length says is too big is answered 413 at once, unread.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::map_response(headers::security_headers));
    // Requests are counted only for a monitoring system that scrapes them; around the time
    // limit and the body's: inside them, a request that ran out of time (408) or was too
    // big (413) was never counted.
    let app = match options.metrics_listen {
        Some(_) => app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            scrape::count_requests,
        )),
        None => app,
    };
    let forwarding = forwarded::Forwarding::new(options.forwarded_for.clone(), tls.is_some());
    let app = app
        .layer(axum::middleware::from_fn_with_state(
            forwarding,
            forwarded::client,
        ))
        .with_state(state);
    let kind = match role {
        Role::Hq => "headquarters",
        Role::Hub { .. } => "hub",
    };
    let on = if pg.is_some() { ", on PostgreSQL," } else { "" };
    if let Some(trusted) = &options.proxy_protocol {
        println!("clients' addresses from the PROXY headers of {trusted}");
    }
    if let Some(proxies) = &options.forwarded_for {
        println!(
            "clients' addresses and schemes from the X-Forwarded-For and X-Forwarded-Proto \
             of {proxies}"
        );
    }
    println!(
        "fairpos {kind} of {}{on} serving on {http}://{addr}",
        fair.id
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    service_manager::ready(&format!("serving on {http}://{addr}"));
    let server_error = |e: std::io::Error| Error::Other(format!("server: {e}"));
    let (stopped, limits) = (shutdown(stopping_tx), options.client_limits);
    let metrics = cap.metrics();
    match (tls, options.proxy_protocol) {
        (Some(config), proxy) => {
            let listener = tls::listener(listener, config, proxy, metrics).map_err(server_error)?;
            http::serve(listener, app, limits, cap, stopped).await
        }
        (None, Some(trusted)) => {
            let listener = proxy::listener(listener, trusted, metrics).map_err(server_error)?;
            http::serve(listener, app, limits, cap, stopped).await
        }
        (None, None) => http::serve(listener, app, limits, cap, stopped).await,
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    repo.stop().await;
    if let Some(thread) = maintenance {
        let _ = thread.join();
    }
    Ok(())
}

/// Whether this process can serve now ([`api::ready`]), for load balancers.
pub const READY: &str = "/api/v1/ready";

/// The largest request body taken (a login, an enrolment, an announcement of documents);
/// larger ones are answered 413 before they are read whole.
pub const MAX_BODY: usize = 2 << 20;

/// Connections to PostgreSQL kept for organizers ([`AppState::pg_organizers`]), beside the
/// pool the tills' syncs, samod's storage and the projection share.
const ORGANIZERS_CONNECTIONS: usize = 4;

/// How long an organizer's request waits for one of those connections before it is answered
/// 503 (the database is busy; try again) instead of waiting on.
const ORGANIZERS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for SIGINT or SIGTERM, then tells the open event streams to end.
async fn shutdown(stopping: watch::Sender<bool>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    service_manager::stopping();
    let _ = stopping.send(true);
}
