//! `fairpos hq serve`: one HTTP + WebSocket server (axum and samod) in front of the
//! headquarters database.
//!
//! - `GET /sync?token=…` upgrades to a samod (automerge-repo) connection, bound to the peer
//!   id its credentials name, so the share policy below decides with an authenticated id.
//! - `POST /api/v1/enroll`, `/api/v1/login`, `/api/v1/sync/announce`, `GET
//!   /api/v1/sync/confirm`, `/api/v1/docs`, `/api/v1/hub/registry`, `/api/v1/health`.
//!
//! A maintenance thread projects documents as samod stores them, merges catalog edits made
//! from the command line into the document served, and turns revocations into share
//! decisions. A hub also keeps a link upstream: it relays every ledger it holds to
//! headquarters and takes the catalog and the device registry from there.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use fairpos_sync::catalog::CatalogDoc;
use fairpos_sync::ids::document_id;
use fairpos_sync::net::WsDialer;
use fairpos_sync::samod::{
    BackoffConfig, DocHandle, DocumentId, PeerId, Repo, ShareConfig, SharePolicy, Transport,
};
use fairpos_sync::samod_storage::{load_document, SqliteStorage};
use futures::stream::{self, StreamExt};
use rusqlite::Connection;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::api::*;
use super::devices::{self, Peer};
use super::project::{self, Outcome};
use super::{catalog, connect, meta, Hq, Role};
use crate::domain::fair::Fair;
use crate::error::{Error, Result};
use crate::shared_catalog;

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Mutex<Connection>>,
    pub fair: Fair,
    role: Role,
    catalog_key: String,
    catalog: Option<DocHandle>,
    acceptor: fairpos_sync::samod::AcceptorHandle,
    /// Documents peers send messages about, for the maintenance thread to check.
    seen: mpsc::UnboundedSender<(Peer, String)>,
    announced: Arc<watch::Sender<u64>>,
}

/// Who may sync which document.
#[derive(Clone)]
struct Policy {
    db: Arc<Mutex<Connection>>,
    catalog: DocumentId,
    hub: bool,
    revoked: watch::Receiver<HashSet<String>>,
    /// Bumped whenever a ledger is announced.
    announced: watch::Receiver<u64>,
}

impl Policy {
    /// Whether headquarters has the document announced.
    fn is_known(&self, doc: &DocumentId) -> bool {
        self.db
            .lock()
            .ok()
            .and_then(|db| project::announced(&db, doc).ok().flatten())
            .is_some()
    }

    fn decide(&self, doc: &DocumentId, peer: &str) -> ShareConfig {
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
        let Ok(db) = self.db.lock() else {
            return ShareConfig::none();
        };
        let owner = project::announced(&db, doc)
            .ok()
            .flatten()
            .and_then(|(_, d)| d);
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

/// Where a peer's decision for one document stands.
enum Watch {
    /// The first decision is to be made.
    Start,
    /// Refused for now: the document is not announced yet.
    Unannounced(watch::Receiver<u64>),
    /// Granted to a device: watching for it to be revoked.
    Granted(String, watch::Receiver<HashSet<String>>),
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
                    (Some(dev), false) => Watch::Granted(dev.clone(), policy.revoked.clone()),
                    _ => Watch::Done,
                };
                match state {
                    Watch::Start => {
                        let d = policy.decide(&doc_id, &peer);
                        let next = if d == ShareConfig::none()
                            && device.is_some()
                            && !policy.is_known(&doc_id)
                        {
                            Watch::Unannounced(policy.announced.clone())
                        } else {
                            after(d)
                        };
                        Some((d, next))
                    }
                    Watch::Unannounced(mut announced) => loop {
                        announced.changed().await.ok()?;
                        if policy.is_known(&doc_id) {
                            let d = policy.decide(&doc_id, &peer);
                            return Some((d, after(d)));
                        }
                    },
                    Watch::Granted(dev, mut revoked) => loop {
                        if revoked.borrow_and_update().contains(&dev) {
                            return Some((ShareConfig::none(), Watch::Done));
                        }
                        revoked.changed().await.ok()?;
                    },
                    Watch::Done => None,
                }
            }
        })
    }
}

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error: message.into(),
        }),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| query.get("token").cloned())
}

/// Who the request's credentials name; an error response when none or bad.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> std::result::Result<Peer, Box<Response>> {
    let token = bearer(headers, query)
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "credentials needed")))?;
    let db = state
        .db
        .lock()
        .map_err(|_| Box::new(api_error(StatusCode::INTERNAL_SERVER_ERROR, "database")))?;
    devices::authenticate(&db, &token).map_err(|e| {
        let who = token.split('.').next().unwrap_or("?").to_string();
        Hq::log_event(&db, &who, "refused", &format!("authentication failed: {e}"));
        Box::new(api_error(StatusCode::UNAUTHORIZED, e.to_string()))
    })
}

async fn sync_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let peer = match authenticate(&state, &headers, &query) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let acceptor = state.acceptor.clone();
    let seen = state.seen.clone();
    ws.max_message_size(256 << 20)
        .on_upgrade(move |socket| async move {
            let transport = watched_transport(socket, peer.clone(), seen)
                .with_expected_peer_id(PeerId::from(peer.peer_id()));
            if let Err(e) = acceptor.accept(transport) {
                eprintln!("sync connection of {}: {e}", peer.name());
            }
        })
}

/// A samod transport over an axum WebSocket whose inbound messages are reported, with the
/// authenticated peer, to the maintenance thread: that is where a till sending changes to
/// another till's ledger is seen and logged (the share policy refuses them silently).
fn watched_transport(
    socket: axum::extract::ws::WebSocket,
    peer: Peer,
    seen: mpsc::UnboundedSender<(Peer, String)>,
) -> Transport {
    use axum::extract::ws::Message;
    use futures::SinkExt;
    let (sink, stream) = socket.split();
    let stream = stream
        .filter_map(move |m| {
            let seen = seen.clone();
            let peer = peer.clone();
            async move {
                match m {
                    Ok(Message::Binary(bytes)) => {
                        if let Some((kind, Some(doc))) = fairpos_sync::net::peek(&bytes) {
                            if kind == "sync" || kind == "request" {
                                let _ = seen.send((peer, doc));
                            }
                        }
                        Some(Ok(bytes.to_vec()))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        })
        .boxed();
    let sink =
        Box::pin(sink.with(|bytes: Vec<u8>| async move {
            Ok::<_, axum::Error>(Message::Binary(bytes.into()))
        }));
    Transport::new(stream, sink)
}

async fn enroll(State(state): State<AppState>, Json(req): Json<EnrollRequest>) -> Response {
    let result = (|| -> Result<EnrollResponse> {
        let db = state
            .db
            .lock()
            .map_err(|_| Error::Other("database".into()))?;
        let grant = devices::enroll(&db, &req.code, &req.actor)?;
        let catalog = match &state.catalog {
            Some(h) => h.with_document(|d| d.save()),
            None => Vec::new(),
        };
        Ok(EnrollResponse {
            device: grant.device,
            stall: grant.stall,
            role: grant.role,
            secret: grant.secret,
            fair_toml: meta(&db, "fair_toml")?.unwrap_or_default(),
            catalog_key: state.catalog_key.clone(),
            catalog: base64::engine::general_purpose::STANDARD.encode(catalog),
        })
    })();
    match result {
        Ok(r) => Json(r).into_response(),
        Err(e @ (Error::Input(_) | Error::Domain(_))) => {
            api_error(StatusCode::FORBIDDEN, e.to_string())
        }
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn login(State(state): State<AppState>, Json(req): Json<LoginRequest>) -> Response {
    let Ok(db) = state.db.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "database");
    };
    match devices::login(&db, &req.password) {
        Ok((token, peer_id)) => Json(LoginResponse { token, peer_id }).into_response(),
        Err(e @ Error::Input(_)) => api_error(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn announce(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    Json(req): Json<AnnounceRequest>,
) -> Response {
    let peer = match authenticate(&state, &headers, &query) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(db) = state.db.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "database");
    };
    match project::announce(&db, &peer, &state.fair.id, &req.docs) {
        Ok(None) => {
            state.announced.send_modify(|n| *n += 1);
            Json(AnnounceResponse {
                catalog_key: state.catalog_key.clone(),
            })
            .into_response()
        }
        Ok(Some(why)) => api_error(StatusCode::FORBIDDEN, why),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn docs_of(db: &Connection, device: Option<&str>) -> Result<Vec<ConfirmedDoc>> {
    let mut stmt = db.prepare(
        "SELECT doc_key, heads, records, refused FROM hq_docs
         WHERE device IS NOT NULL AND (?1 IS NULL OR device = ?1) ORDER BY doc_key",
    )?;
    let rows = stmt.query_map([device], |r| {
        Ok(ConfirmedDoc {
            key: r.get(0)?,
            heads: r.get(1)?,
            records: r.get(2)?,
            refused: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let peer = match authenticate(&state, &headers, &query) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(db) = state.db.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "database");
    };
    let device = match &peer {
        Peer::Till(d) => Some(d.as_str()),
        _ => None,
    };
    match docs_of(&db, device) {
        Ok(docs) => Json(ConfirmResponse { docs }).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list_docs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match authenticate(&state, &headers, &query) {
        Ok(Peer::Organizer(_)) | Ok(Peer::Hub(_)) => {}
        Ok(_) => return api_error(StatusCode::FORBIDDEN, "organizers only"),
        Err(r) => return *r,
    }
    let Ok(db) = state.db.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "database");
    };
    let result = (|| -> Result<Vec<DocInfo>> {
        let mut stmt =
            db.prepare("SELECT doc_key, doc_id, device, records FROM hq_docs ORDER BY doc_key")?;
        let rows = stmt.query_map([], |r| {
            Ok(DocInfo {
                key: r.get(0)?,
                doc_id: r.get(1)?,
                device: r.get(2)?,
                records: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    })();
    match result {
        Ok(docs) => Json(docs).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn registry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match authenticate(&state, &headers, &query) {
        Ok(Peer::Hub(_)) => {}
        Ok(_) => return api_error(StatusCode::FORBIDDEN, "hubs only"),
        Err(r) => return *r,
    }
    let Ok(db) = state.db.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "database");
    };
    match devices::registry(&db) {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    Json(serde_json::json!({
        "fair": state.fair.id,
        "role": match state.role { Role::Hq => "hq", Role::Hub { .. } => "hub" },
    }))
    .into_response()
}

/// Options of `hq serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// A hub's headquarters; a hub uses the one it enrolled with when not given.
    pub upstream: Option<String>,
}

/// Serves until SIGINT or SIGTERM.
pub fn serve(dir: &Path, options: ServeOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run(dir, options))
}

async fn run(dir: &Path, options: ServeOptions) -> Result<()> {
    let hq = Hq::open(dir)?;
    let fair = hq.fair.clone();
    let role = match (&hq.role, &options.upstream) {
        (Role::Hub { device, .. }, Some(up)) => Role::Hub {
            device: device.clone(),
            upstream: up.clone(),
        },
        (r, _) => r.clone(),
    };
    let catalog_key = catalog::key(&hq);
    let catalog_id = catalog::doc_id(&hq);
    let peer_id = hq.peer_id();
    let (revoked_tx, revoked_rx) =
        watch::channel(devices::revoked(&hq.conn)?.into_iter().collect());
    let db = Arc::new(Mutex::new(hq.conn));
    let (changed_tx, changed_rx) = mpsc::unbounded_channel();
    let storage = SqliteStorage::new(connect(dir)?, Some(changed_tx));
    let (announced_tx, announced_rx) = watch::channel(0u64);
    let announced_tx = Arc::new(announced_tx);
    let policy = Policy {
        db: db.clone(),
        catalog: catalog_id.clone(),
        hub: matches!(role, Role::Hub { .. }),
        revoked: revoked_rx,
        announced: announced_rx,
    };
    let repo = Repo::build_tokio()
        .with_storage(storage)
        .with_peer_id(PeerId::from(peer_id))
        .with_share_policy(policy)
        .load()
        .await;
    let catalog = repo
        .find(catalog_id.clone())
        .await
        .map_err(|e| Error::Other(format!("samod: {e}")))?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Io {
            path: PathBuf::from(options.listen.to_string()),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?;
    let acceptor = repo
        .make_acceptor(
            url::Url::parse(&format!("ws://{addr}/sync"))
                .map_err(|e| Error::Other(e.to_string()))?,
        )
        .map_err(|e| Error::Other(format!("samod: {e}")))?;
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let state = AppState {
        db: db.clone(),
        fair: fair.clone(),
        role: role.clone(),
        catalog_key: catalog_key.clone(),
        catalog: catalog.clone(),
        acceptor,
        seen: seen_tx,
        announced: announced_tx,
    };

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let maintenance = {
        let dir = dir.to_path_buf();
        let catalog = catalog.clone();
        let fair = fair.clone();
        let role = role.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            maintain(
                &dir, &fair, &role, changed_rx, seen_rx, catalog, revoked_tx, stop,
            )
        })
    };
    if let Role::Hub { device, upstream } = &role {
        let secret = {
            let conn = db.lock().map_err(|_| Error::Other("database".into()))?;
            meta(&conn, "secret")?
                .ok_or_else(|| Error::Integrity("the hub's secret is missing".into()))?
        };
        tokio::spawn(uplink(
            repo.clone(),
            db.clone(),
            upstream.clone(),
            devices::token(device, &secret),
        ));
    }

    let app = Router::new()
        .route("/sync", get(sync_socket))
        .route("/api/v1/enroll", post(enroll))
        .route("/api/v1/login", post(login))
        .route("/api/v1/sync/announce", post(announce))
        .route("/api/v1/sync/confirm", get(confirm))
        .route("/api/v1/docs", get(list_docs))
        .route("/api/v1/hub/registry", get(registry))
        .route("/api/v1/health", get(health))
        .merge(super::web::routes())
        .with_state(state);
    let kind = match role {
        Role::Hq => "headquarters",
        Role::Hub { .. } => "hub",
    };
    println!("fairpos {kind} of {} serving on http://{addr}", fair.id);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| Error::Other(format!("server: {e}")))?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    repo.stop().await;
    let _ = maintenance.join();
    Ok(())
}

async fn shutdown() {
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
}

/// The maintenance loop: projection as samod stores documents, intrusions into other
/// tills' ledgers, catalog edits from the command line, revocations.
#[allow(clippy::too_many_arguments)]
fn maintain(
    dir: &Path,
    fair: &Fair,
    role: &Role,
    mut changed: mpsc::UnboundedReceiver<DocumentId>,
    mut seen: mpsc::UnboundedReceiver<(Peer, String)>,
    catalog: Option<DocHandle>,
    revoked: watch::Sender<HashSet<String>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(conn) = connect(dir) else {
        eprintln!("maintenance: cannot open the database");
        return;
    };
    let catalog_key = fairpos_sync::ids::catalog_key(&fair.id);
    let mut catalog_version = meta(&conn, "catalog_version").ok().flatten();
    let mut tick: u64 = 0;
    let mut intrusions: HashSet<(String, String)> = HashSet::new();
    let mut projector = project::Projector::new();
    // Documents whose projection failed (a busy database, a record that does not decode):
    // attempts so far and the tick of the next, waits doubling up to a minute.
    let mut retry: HashMap<DocumentId, (u32, u64)> = HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        while let Ok((peer, doc)) = seen.try_recv() {
            let Peer::Till(device) = &peer else { continue };
            let Ok(id) = doc.parse::<DocumentId>() else {
                continue;
            };
            if let Ok(Some((key, Some(owner)))) = project::announced(&conn, &id) {
                if &owner != device && intrusions.insert((device.clone(), doc.clone())) {
                    Hq::log_event(
                        &conn,
                        device,
                        "refused",
                        &format!(
                            "{device} sent sync messages for {key}, the ledger of {owner}: ignored"
                        ),
                    );
                }
            }
        }
        let mut dirty: HashSet<DocumentId> = retry
            .iter()
            .filter(|(_, (_, at))| *at <= tick)
            .map(|(doc, _)| doc.clone())
            .collect();
        while let Ok(doc) = changed.try_recv() {
            dirty.insert(doc);
        }
        let dirty: Vec<DocumentId> = dirty.into_iter().collect();
        let outcomes = if dirty.is_empty() {
            Vec::new()
        } else {
            match projector.project_all(&conn, &dirty) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("projection: {e}");
                    for doc in &dirty {
                        retry_later(&mut retry, doc, tick);
                    }
                    Vec::new()
                }
            }
        };
        for (doc, outcome) in dirty.iter().zip(outcomes) {
            if outcome.is_err() {
                retry_later(&mut retry, doc, tick);
            } else {
                retry.remove(doc);
            }
            match outcome {
                Ok(Outcome::Projected { product_adds, .. }) if !product_adds.is_empty() => {
                    if *role == Role::Hq {
                        if let Some(h) = &catalog {
                            add_products(h, &catalog_key, &fair.id, &product_adds);
                        }
                    }
                }
                Ok(Outcome::Catalog) => {
                    if let Some(h) = &catalog {
                        let contents = h.with_document(|d| {
                            CatalogDoc::open(&catalog_key, &fair.id, d.clone())
                                .and_then(|c| c.contents())
                        });
                        if let Ok(contents) = contents {
                            if let Err(e) = shared_catalog::apply(&conn, &contents) {
                                eprintln!("catalog: {e}");
                            }
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("projection of {doc}: {e}"),
            }
        }
        if tick.is_multiple_of(20) {
            // Catalog edits made by `fairpos hq catalog import` while serving.
            let version = meta(&conn, "catalog_version").ok().flatten();
            if version != catalog_version {
                catalog_version = version;
                if let (Some(h), Ok(Some(mut stored))) =
                    (&catalog, load_document(&conn, &document_id(&catalog_key)))
                {
                    h.with_document(|d| {
                        if let Err(e) = d.merge(&mut stored) {
                            eprintln!("catalog merge: {e}");
                        }
                    });
                }
            }
            if let Ok(set) = devices::revoked(&conn) {
                let set: HashSet<String> = set.into_iter().collect();
                revoked.send_if_modified(|current| {
                    let changed = *current != set;
                    *current = set;
                    changed
                });
            }
        }
        tick += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Schedules another try of a document whose projection failed, waiting twice as long as
/// the time before: 2 ticks of 50 ms, then 4, up to 1 024 (51 s).
fn retry_later(retry: &mut HashMap<DocumentId, (u32, u64)>, doc: &DocumentId, tick: u64) {
    let attempts = retry.get(doc).map_or(0, |(n, _)| *n).saturating_add(1);
    retry.insert(doc.clone(), (attempts, tick + (1u64 << attempts.min(10))));
}

/// Folds products tills added offline into the catalog served (headquarters only).
fn add_products(
    handle: &DocHandle,
    key: &str,
    fair: &str,
    products: &[fairpos_sync::catalog::CatalogProduct],
) {
    handle.with_document(|doc| {
        let fork = doc.fork();
        let Ok(mut catalog) = CatalogDoc::open(key, fair, fork) else {
            return;
        };
        let Ok(contents) = catalog.contents() else {
            return;
        };
        let new: Vec<_> = products
            .iter()
            .filter(|p| !contents.products.iter().any(|q| q.sku == p.sku))
            .cloned()
            .collect();
        if new.is_empty() {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if catalog.put_products(&new, now).is_ok() {
            if let Err(e) = doc.merge(catalog.automerge_mut()) {
                eprintln!("catalog: {e}");
            }
        }
    });
}

#[derive(Deserialize)]
struct Announced {
    #[allow(dead_code)]
    catalog_key: String,
}

/// A hub's link to headquarters: the registry from there, every ledger held here relayed
/// there.
async fn uplink(repo: Repo, db: Arc<Mutex<Connection>>, upstream: String, token: String) {
    let Ok(base) = url::Url::parse(&upstream) else {
        eprintln!("hub: bad upstream URL {upstream}");
        return;
    };
    let ws = {
        let mut u = base.clone();
        let scheme = if base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        let _ = u.set_scheme(scheme);
        u
    };
    let dialer = Arc::new(WsDialer::new(&ws, &token));
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
        max_retries: None,
    };
    let _dial = match repo.dial(backoff, dialer) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("hub: {e}");
            return;
        }
    };
    let http = reqwest::Client::new();
    let mut announced: HashSet<String> = HashSet::new();
    let mut handles: HashMap<String, DocHandle> = HashMap::new();
    loop {
        let api = |path: &str| format!("{}{path}", upstream.trim_end_matches('/'));
        // The registry, so that tills enrolled at headquarters can sync here.
        if let Ok(r) = http
            .get(api("/api/v1/hub/registry"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            if let Ok(entries) = r.json::<Vec<DeviceEntry>>().await {
                if let Ok(db) = db.lock() {
                    if let Err(e) = devices::apply_registry(&db, &entries) {
                        eprintln!("hub registry: {e}");
                    }
                }
            }
        }
        let docs: Vec<(String, String)> = db
            .lock()
            .ok()
            .and_then(|db| {
                let mut stmt = db
                    .prepare("SELECT doc_key, doc_id FROM hq_docs WHERE device IS NOT NULL")
                    .ok()?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .ok()?
                    .filter_map(|r| r.ok())
                    .collect();
                Some(rows)
            })
            .unwrap_or_default();
        let fresh: Vec<String> = docs
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !announced.contains(k))
            .collect();
        if !fresh.is_empty() {
            let sent = http
                .post(api("/api/v1/sync/announce"))
                .bearer_auth(&token)
                .json(&AnnounceRequest {
                    docs: fresh.clone(),
                })
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(r) = sent {
                if r.status().is_success() && r.json::<Announced>().await.is_ok() {
                    announced.extend(fresh);
                }
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
