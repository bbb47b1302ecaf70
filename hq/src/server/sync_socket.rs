//! `GET /sync`: the WebSocket a till, a hub or an organizer's client syncs over, handed to
//! samod once its credentials hold. What comes in is watched (a message about another till's
//! ledger is checked by the maintenance thread; one over the size limit is logged as the
//! peer's sync event). What goes out may wait in memory only so long as the peer reads: at
//! most [`SYNC_WRITE_BUFFER`] bytes (a peer that sends pings and reads none of the pongs
//! would otherwise have them kept without bound), and for at most `--send-timeout`, after
//! which the socket is closed and that is logged once; a message too large for the buffer
//! closes it too, logged. A peer gone without closing (a till whose network dropped) is
//! found out: headquarters pings every third of `--sync-idle`, which a live client
//! answers, and closes the socket once nothing at all has been heard for that long.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use fairpos_sync::samod::{PeerId, Transport};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;

use super::api::{authenticate, bearer};
use super::http::write_timed_out;
use super::last_read::LastRead;
use super::sync_slots::{SyncSlot, SyncSlots};
use crate::devices::Peer;
use crate::state::AppState;

/// The most a sync socket's outgoing messages may take in memory while the peer has not
/// read them: 64 MiB, and a little. Tills and hubs take no message over 16 MiB (tungstenite's
/// default frame limit; a message goes as one frame); an organizer's automerge-repo client
/// takes more, but a message samod sends is one document's changes, and a day's ledger of
/// 2 000 sales is well under 1 MiB. A pong answering a ping beyond it is not queued: the
/// latest one waits. A larger message closes the socket, logged.
pub const SYNC_WRITE_BUFFER: usize = (64 << 20) + (1 << 20);

/// What the sync route holds beside the state: each peer's sockets, and the runtime
/// samod's connections run on, where each socket's writer runs too (not on the requests').
#[derive(Clone)]
pub struct SyncSockets {
    pub slots: Arc<SyncSlots>,
    pub runtime: tokio::runtime::Handle,
}

pub async fn sync_socket(
    State(state): State<AppState>,
    Extension(sockets): Extension<SyncSockets>,
    Extension(last_read): Extension<LastRead>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let peer = match authenticate(&state, &headers, &query).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // An organizer's session may end while its socket is open, and a device's token stop
    // holding (revoked, added again and enrolled again between two readings of the
    // revocations, which then never named it): looked at again.
    let recheck = match &peer {
        Peer::Person { .. } => SESSION_RECHECK,
        _ => TOKEN_RECHECK,
    };
    let session = bearer(&headers, &query).map(|token| (token, recheck));
    let acceptor = state.acceptor.clone();
    let max = state.max_sync_message;
    ws.max_message_size(max)
        .max_frame_size(max)
        .max_write_buffer_size(SYNC_WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            let slot = sockets.slots.take(&peer.peer_id(), peer.name());
            let link = Link {
                slot,
                last_read,
                runtime: sockets.runtime,
                session,
            };
            let transport = watched_transport(socket, peer.clone(), link, state)
                .with_expected_peer_id(PeerId::from(peer.peer_id()));
            if let Err(e) = acceptor.accept(transport) {
                eprintln!("sync connection of {}: {e}", peer.name());
            }
        })
}

/// What the route gives a sync socket beside its peer and the state.
struct Link {
    /// Its place among its peer's sockets, and what tells it to go for a newer one.
    slot: (SyncSlot, oneshot::Receiver<()>),
    /// When its connection last read a byte.
    last_read: LastRead,
    /// Where its writer runs.
    runtime: tokio::runtime::Handle,
    /// The token the socket was opened with, whose no longer holding closes it, and how
    /// often it is looked at again ([`watch_session`]).
    session: Option<(String, Duration)>,
}

/// How often the session an organizer's sync socket was opened with is looked at again:
/// once it ended (logged out, expired, the account removed or its password changed), the
/// socket is closed within this.
const SESSION_RECHECK: Duration = Duration::from_secs(10);

/// How often a device's token is looked at again. Its revocation ends its grants within a
/// second already (the share policy); this closes the socket of a device whose token
/// stopped holding unseen by that (revoked and enrolled again in between), and is asked of
/// hundreds of tills' sockets at closing time.
const TOKEN_RECHECK: Duration = Duration::from_secs(30);

/// Closes the sync socket of `peer` (its writer stopped, which ends its reading) once the
/// session or device token `token` no longer holds, looked at every `every`; ends by itself
/// once the socket is gone.
async fn watch_session(
    state: AppState,
    peer: Peer,
    (token, every): (String, Duration),
    halves: Weak<Halves>,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(halves) = halves.upgrade() else {
            return;
        };
        // A database that cannot say now is asked again later.
        if let Ok(false) = state.still_holds(token.clone()).await {
            eprintln!(
                "{}: sync connection closed: its credentials no longer hold",
                peer.name()
            );
            halves.stop.notify_one();
            return;
        }
    }
}

/// What the reading half tells the writing half, and the other way round.
#[derive(Default)]
struct Halves {
    /// The writer is writing one of samod's messages (the send limit watches it: the peer
    /// taking it is the peer still there).
    writing: AtomicBool,
    /// Nothing was heard for `--sync-idle`: the writer is to stop at once.
    stop: tokio::sync::Notify,
}

/// A samod transport over an axum WebSocket whose inbound messages are reported, with the
/// authenticated peer, to the maintenance thread: that is where a till sending changes to
/// another till's ledger is seen and logged (the share policy refuses them silently). A
/// connection that fails (a message over the size limit, above all) is logged as a sync
/// event of its peer; one the peer read nothing of for `--send-timeout` is logged once,
/// whether a write of samod's or an answer to its pings waited, and so is one whose message
/// did not fit [`SYNC_WRITE_BUFFER`] and one over which nothing was heard for `--sync-idle`.
///
/// samod's messages go to the socket through a task of their own ([`write_and_ping`]),
/// which pings the peer between them. When it ends (the socket failed, or the peer's slot
/// is wanted for a newer socket of its own), what samod reads ends, and samod lets the
/// connection go.
fn watched_transport(socket: WebSocket, peer: Peer, link: Link, state: AppState) -> Transport {
    let (sink, stream) = socket.split();
    let (slot, let_go) = link.slot;
    // Counted open, and holding its place, for as long as samod keeps the stream.
    let open = (state.metrics.sync_opened(), slot);
    let sent = state.metrics.clone();
    let cut_off = CutOff::new(&peer, &state);
    let halves = Arc::new(Halves::default());
    let (outbox, inbox) = futures::channel::mpsc::channel(0);
    let (writing, written) = oneshot::channel();
    let writer = Writer {
        sink,
        inbox,
        every: state.sync_idle / 3,
        cut_off: cut_off.clone(),
        halves: halves.clone(),
        let_go,
        writing,
    };
    link.runtime.spawn(write_and_ping(writer));
    if let Some(token) = link.session {
        let watched = Arc::downgrade(&halves);
        let session = watch_session(state.clone(), peer.clone(), token, watched);
        link.runtime.spawn(session);
    }
    // The documents this connection's messages named: each is checked for an intrusion once
    // (who owns a document never changes), not once a message. The fair's catalog, which every
    // till reads, is no intrusion to check: taken as checked from the start.
    let checked: Arc<Mutex<HashSet<String>>> =
        Arc::new(Mutex::new(HashSet::from([fairpos_sync::ids::document_id(
            &state.catalog_key,
        )
        .to_string()])));
    let heard = Heard {
        idle: state.sync_idle,
        last_read: link.last_read,
        halves,
        cut_off: cut_off.clone(),
    };
    let stream = heard_within(stream, written, heard)
        .filter_map(move |m| {
            let _open = &open;
            let peer = peer.clone();
            let state = state.clone();
            let cut_off = cut_off.clone();
            let checked = checked.clone();
            async move {
                match m {
                    Ok(Message::Binary(bytes)) => {
                        state.metrics.sync_received(bytes.len());
                        if let Some((kind, Some(doc))) = fairpos_sync::net::peek(&bytes) {
                            if (kind == "sync" || kind == "request")
                                && first_named(&checked, &doc)
                                && state.seen.try_send((peer, doc)).is_err()
                            {
                                unchecked();
                            }
                        }
                        Some(Ok(bytes.to_vec()))
                    }
                    Ok(_) => None,
                    Err(e) if write_timed_out(&e) => {
                        cut_off.tell(Cut::TimedOut);
                        Some(Err(e))
                    }
                    Err(e) => {
                        // A message over the limit is the peer's doing: a sync event. A
                        // connection reset (a till switched off) is only printed.
                        let why = format!("sync connection dropped: {e}");
                        if why.contains("too long") {
                            state.log_event(peer.name(), "dropped", &why).await;
                        } else {
                            eprintln!("{}: {why}", peer.name());
                        }
                        Some(Err(e))
                    }
                }
            }
        })
        .boxed();
    let outbox = outbox.with(move |bytes: Vec<u8>| {
        sent.sync_sent(bytes.len());
        futures::future::ready(Ok::<_, futures::channel::mpsc::SendError>(bytes))
    });
    Transport::new(stream, Box::pin(outbox))
}

/// How the reading half knows the peer is still there.
struct Heard {
    idle: Duration,
    last_read: LastRead,
    halves: Arc<Halves>,
    cut_off: CutOff,
}

/// The frames `stream` brings for as long as the connection reads something (a byte of a
/// message under way, a ping's answer) within `idle` of the last, or the writer is writing
/// one of samod's messages, and until `written` ends (the writer stopped). Nothing heard for
/// `idle` ends them, told once, and stops the writer.
fn heard_within(
    stream: SplitStream<WebSocket>,
    written: oneshot::Receiver<()>,
    heard: Heard,
) -> impl Stream<Item = Result<Message, axum::Error>> {
    let heard = Arc::new(heard);
    futures::stream::unfold((stream, written), move |(mut stream, mut written)| {
        let heard = heard.clone();
        async move {
            let frame = {
                let next = stream.next();
                tokio::pin!(next);
                // While the writer writes, look again a third of the limit on.
                let mut not_before = Instant::now();
                loop {
                    let quiet_until = (heard.last_read.at() + heard.idle).max(not_before);
                    tokio::select! {
                        frame = &mut next => break frame,
                        _ = &mut written => return None,
                        _ = tokio::time::sleep_until(quiet_until) => {
                            if heard.last_read.at() + heard.idle > Instant::now() {
                                continue;
                            }
                            if heard.halves.writing.load(Ordering::Relaxed) {
                                not_before = Instant::now() + heard.idle / 3;
                                continue;
                            }
                            heard.cut_off.tell(Cut::Idle);
                            heard.halves.stop.notify_one();
                            return None;
                        }
                    }
                }
            };
            Some((frame?, (stream, written)))
        }
    })
    .fuse()
}

/// The writing half of a sync socket.
struct Writer {
    sink: SplitSink<WebSocket, Message>,
    /// What samod sends.
    inbox: futures::channel::mpsc::Receiver<Vec<u8>>,
    /// How often the peer is pinged.
    every: Duration,
    cut_off: CutOff,
    halves: Arc<Halves>,
    /// Resolves once the socket's slot is wanted for a newer one.
    let_go: oneshot::Receiver<()>,
    /// Dropped as the writer ends.
    writing: oneshot::Sender<()>,
}

/// Writes what samod sends to the socket, and a ping whenever `every` has passed, so that a
/// peer still there is heard from (WebSocket clients answer pings on their own). A ping
/// that does not fit the write buffer (a peer that sends and reads nothing) is left out.
/// Ends when samod closes the connection (the socket then closed too), when a write fails
/// (told), or at once, the socket let go, when its slot is wanted or nothing was heard.
async fn write_and_ping(writer: Writer) {
    let Writer {
        mut sink,
        mut inbox,
        every,
        cut_off,
        halves,
        let_go,
        writing: _writing,
    } = writer;
    // Done once the socket is to go at once: its slot wanted (told), or nothing heard.
    let go = async {
        tokio::select! {
            Ok(()) = let_go => cut_off.tell(Cut::Replaced),
            _ = halves.stop.notified() => {}
        }
    };
    tokio::pin!(go);
    let mut pings = tokio::time::interval_at(Instant::now() + every, every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            next = inbox.next() => match next {
                Some(bytes) => Message::Binary(bytes.into()),
                None => break,
            },
            _ = pings.tick() => Message::Ping(Default::default()),
            _ = &mut go => return,
        };
        let ping = matches!(message, Message::Ping(_));
        halves.writing.store(!ping, Ordering::Relaxed);
        let sent = tokio::select! {
            sent = sink.send(message) => sent,
            _ = &mut go => return,
        };
        halves.writing.store(false, Ordering::Relaxed);
        match sent {
            Ok(()) => {}
            Err(e) if ping && too_large(&e).is_some() => {}
            Err(e) => return cut_off.write_failed(&e),
        }
    }
    tokio::select! {
        _ = sink.close() => {}
        _ = &mut go => {}
    }
}

/// The size of the message that did not fit the socket's write buffer, if that is why
/// `error` happened.
fn too_large(error: &axum::Error) -> Option<usize> {
    match tungstenite_error(error)? {
        WsError::WriteBufferFull(message) => Some(message.len()),
        _ => None,
    }
}

/// The WebSocket's own error under `error`, if any.
fn tungstenite_error(error: &axum::Error) -> Option<&WsError> {
    fairpos_sync::tls::chain(error).find_map(|e| e.downcast_ref::<WsError>())
}

/// Why headquarters closed a sync connection.
enum Cut {
    /// The peer read nothing of what was sent for `--send-timeout`.
    TimedOut,
    /// A message of this many bytes did not fit the write buffer.
    TooLarge(usize),
    /// Nothing was heard from the peer for `--sync-idle`.
    Idle,
    /// A newer socket of the same peer took its place ([`SyncSlots`], which logs it).
    Replaced,
}

/// Why a connection was cut off, counted and said once for it.
#[derive(Clone)]
struct CutOff {
    peer: Arc<String>,
    limits: (Duration, Duration),
    metrics: Arc<crate::metrics::Metrics>,
    told: Arc<AtomicBool>,
}

impl CutOff {
    fn new(peer: &Peer, state: &AppState) -> CutOff {
        CutOff {
            peer: Arc::new(peer.name().to_string()),
            limits: (state.send_timeout, state.sync_idle),
            metrics: state.metrics.clone(),
            told: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A write to the socket failed with `error`: said, and counted if it was a limit.
    fn write_failed(&self, error: &axum::Error) {
        if write_timed_out(error) {
            self.tell(Cut::TimedOut);
        } else if let Some(bytes) = too_large(error) {
            self.tell(Cut::TooLarge(bytes));
        } else {
            // A socket closed already is one that ended as it should.
            let closed = matches!(
                tungstenite_error(error),
                Some(WsError::ConnectionClosed | WsError::AlreadyClosed)
            );
            if !closed {
                eprintln!("{}: sync connection dropped: {error}", self.peer);
            }
        }
    }

    /// The connection was closed for `cut`: counted and said unless it was already.
    fn tell(&self, cut: Cut) {
        if self.told.swap(true, Ordering::Relaxed) {
            return;
        }
        let (send_timeout, sync_idle) = self.limits;
        let (label, why) = match cut {
            Cut::TimedOut => (
                "send_timeout",
                format!(
                    "it took none of what was sent for {} s",
                    send_timeout.as_secs_f64()
                ),
            ),
            Cut::TooLarge(bytes) => (
                "too_large",
                format!(
                    "a message of {bytes} bytes does not fit its send buffer ({} MiB)",
                    SYNC_WRITE_BUFFER >> 20
                ),
            ),
            Cut::Idle => (
                "idle",
                format!("nothing heard for {} s", sync_idle.as_secs_f64()),
            ),
            Cut::Replaced => ("replaced", String::new()),
        };
        self.metrics.sync_cut_off(label);
        if !why.is_empty() {
            eprintln!("{}: sync connection closed: {why}", self.peer);
        }
    }
}

/// Says, at most once a minute with how many since, that a sync message went unchecked for
/// intrusions: the queue of those to check was full ([`crate::state::SEEN_QUEUED`]).
fn unchecked() {
    use crate::quiet_log::QuietLog;
    static LOG: std::sync::OnceLock<std::sync::Arc<QuietLog>> = std::sync::OnceLock::new();
    LOG.get_or_init(QuietLog::told_when_due_if_running).write(
        "unchecked".into(),
        format!(
            "sync messages come faster than they are checked for intrusions: past {} waiting, \
             they go unchecked (the share policy still refuses them)",
            crate::state::SEEN_QUEUED
        ),
    );
}

/// Whether `doc` is named for the first time on a connection that has named those in
/// `checked`. Past [`crate::state::SEEN_QUEUED`] documents (made-up ids) the set grows no
/// more and each is taken as new: the queue's bound applies to them.
fn first_named(checked: &Mutex<HashSet<String>>, doc: &str) -> bool {
    let mut checked = checked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if checked.len() >= crate::state::SEEN_QUEUED {
        return !checked.contains(doc);
    }
    checked.insert(doc.to_string())
}
