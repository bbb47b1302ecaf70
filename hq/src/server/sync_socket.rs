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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use fairpos_sync::samod::{PeerId, Transport};
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::oneshot;

use super::api::authenticate;
use super::http::write_timed_out;
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

pub async fn sync_socket(
    State(state): State<AppState>,
    Extension(slots): Extension<Arc<SyncSlots>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let peer = match authenticate(&state, &headers, &query).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let acceptor = state.acceptor.clone();
    let max = state.max_sync_message;
    ws.max_message_size(max)
        .max_frame_size(max)
        .max_write_buffer_size(SYNC_WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            let slot = slots.take(&peer.peer_id(), peer.name());
            let transport = watched_transport(socket, peer.clone(), slot, state)
                .with_expected_peer_id(PeerId::from(peer.peer_id()));
            if let Err(e) = acceptor.accept(transport) {
                eprintln!("sync connection of {}: {e}", peer.name());
            }
        })
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
/// which pings the peer between them. When it ends (the socket failed), or the peer's
/// `slot` is wanted for a newer socket of its own, what samod reads ends, and samod lets
/// the connection go.
fn watched_transport(
    socket: WebSocket,
    peer: Peer,
    (slot, let_go): (SyncSlot, oneshot::Receiver<()>),
    state: AppState,
) -> Transport {
    let (sink, stream) = socket.split();
    // Counted open, and holding its place, for as long as samod keeps the stream.
    let open = (state.metrics.sync_opened(), slot);
    let sent = state.metrics.clone();
    let cut_off = CutOff::new(&peer, &state);
    let (outbox, inbox) = futures::channel::mpsc::channel(0);
    let (writing, written) = oneshot::channel();
    let every = state.sync_idle / 3;
    tokio::spawn(write_and_ping(sink, inbox, every, cut_off.clone(), writing));
    let replaced = cut_off.clone();
    let ended = Box::pin(async move {
        tokio::select! {
            _ = written => {}
            Ok(()) = let_go => replaced.tell(Cut::Replaced),
        }
    });
    let stream = heard_within(stream, state.sync_idle, ended, cut_off.clone())
        .filter_map(move |m| {
            let _open = &open;
            let peer = peer.clone();
            let state = state.clone();
            let cut_off = cut_off.clone();
            async move {
                match m {
                    Ok(Message::Binary(bytes)) => {
                        state.metrics.sync_received(bytes.len());
                        if let Some((kind, Some(doc))) = fairpos_sync::net::peek(&bytes) {
                            if kind == "sync" || kind == "request" {
                                let _ = state.seen.send((peer, doc));
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

/// The frames `stream` brings for as long as one comes within `idle` of the last (a ping's
/// answer counts) and `ended` has not (the socket's writing failed, or it was let go).
/// Nothing heard for `idle` ends them, told once.
fn heard_within(
    stream: SplitStream<WebSocket>,
    idle: Duration,
    ended: BoxFuture<'static, ()>,
    cut_off: CutOff,
) -> impl Stream<Item = Result<Message, axum::Error>> {
    let inbound = (stream, ended);
    futures::stream::unfold(inbound, move |(mut stream, mut ended)| {
        let cut_off = cut_off.clone();
        async move {
            tokio::select! {
                frame = tokio::time::timeout(idle, stream.next()) => match frame {
                    Ok(Some(frame)) => Some((frame, (stream, ended))),
                    Ok(None) => None,
                    Err(_) => {
                        cut_off.tell(Cut::Idle);
                        None
                    }
                },
                _ = &mut ended => None,
            }
        }
    })
    .fuse()
}

/// Writes what samod sends (`inbox`) to `sink`, and a ping whenever `every` has passed, so
/// that a peer still there is heard from (WebSocket clients answer pings on their own). A
/// ping that does not fit the write buffer (a peer that sends and reads nothing) is left
/// out. Ends when samod closes the connection (the socket then closed too) or a write fails
/// (told); `writing` is dropped as it ends.
async fn write_and_ping(
    mut sink: SplitSink<WebSocket, Message>,
    mut inbox: futures::channel::mpsc::Receiver<Vec<u8>>,
    every: Duration,
    cut_off: CutOff,
    writing: oneshot::Sender<()>,
) {
    let _writing = writing;
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            next = inbox.next() => match next {
                Some(bytes) => Message::Binary(bytes.into()),
                None => break,
            },
            _ = pings.tick() => Message::Ping(Default::default()),
        };
        let ping = matches!(message, Message::Ping(_));
        match sink.send(message).await {
            Ok(()) => {}
            Err(e) if ping && too_large(&e).is_some() => {}
            Err(e) => {
                if write_timed_out(&e) {
                    cut_off.tell(Cut::TimedOut);
                } else if let Some(bytes) = too_large(&e) {
                    cut_off.tell(Cut::TooLarge(bytes));
                }
                return;
            }
        }
    }
    let _ = sink.close().await;
}

/// The size of the message that did not fit the socket's write buffer, if that is why
/// `error` happened.
fn too_large(error: &axum::Error) -> Option<usize> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let ws = fairpos_sync::tls::chain(error).find_map(|e| e.downcast_ref::<WsError>());
    match ws? {
        WsError::WriteBufferFull(message) => Some(message.len()),
        _ => None,
    }
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
