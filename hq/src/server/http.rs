//! Serving HTTP/1.1 on a listener, as `axum::serve` does, but with a limit on how long a
//! client may take to send a request's head (`hq serve --request-head-timeout`). hyper
//! has the limit; `axum::serve` gives it no timer, so without this a client that sends a
//! request line and then nothing (or keeps a connection idle between requests) holds its
//! connection, and a file descriptor, for as long as it likes: a few thousand such clients
//! would leave no descriptor for the tills. An upgraded connection (a till's sync
//! WebSocket) is handed to its handler, and the limit no longer applies to it.
//!
//! Each connection is served on a task of its own; its handlers get the client's address
//! as axum's `ConnectInfo<SocketAddr>`, and when the connection last read a byte
//! ([`super::last_read`]). When `stop` ends, no connection is accepted any
//! more, those open finish the request under way (graceful shutdown), and this returns once
//! they have, or after [`SHUTDOWN_WAIT`] at most (a client that sends a body slowly, or
//! never reads its answer, would otherwise hold the stop up for good), saying how many
//! were left.
//!
//! A client that takes none of its answer for `--send-timeout` (its receive window full:
//! it reads nothing) is disconnected too: otherwise a client that asks for answers and
//! never reads them holds its connection, and the answers' buffers, for good (a "slow
//! read"). The limit is on each write waiting, not on a whole answer: a slow link that
//! takes some of it every few seconds is served to the end. Such a client is logged (a line
//! a minute at most for each address). The limit applies to an upgraded sync WebSocket too:
//! a till that reads nothing for that long is gone, and its socket ends as one whose
//! connection dropped does, logged once (`sync_socket.rs`).
//!
//! How long a request may take once its head is in is `--request-timeout`, a layer of the
//! router (`mod.rs`). How many connections one address may hold open is
//! `--max-connections-per-address` ([`super::per_address`]): one more is answered 503 and
//! closed unserved.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt as _;

use super::last_read::Reading;
use super::per_address::{AddressCap, Placed};
use crate::quiet_log::QuietLog;

/// How long a stop waits for the connections open to finish.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// How long a client may keep the server waiting.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    /// For a request's head (idle time before it on a kept-alive connection included):
    /// `--request-head-timeout`.
    pub head: Duration,
    /// For a write of its answer to be taken: `--send-timeout`.
    pub send: Duration,
}

/// Serves `app` on `listener` until `stop` ends, holding each client to `limits` and each
/// address to `cap`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ClientLimits,
    cap: Arc<AddressCap>,
    stop: impl Future<Output = ()>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head);
    // Told to the connections when it is time to stop; each holds a receiver, so that the
    // sender sees when the last has finished.
    let (stopping, stopping_rx) = watch::channel(false);
    let cut_off = QuietLog::told_when_due();
    tokio::pin!(stop);
    loop {
        let (io, client) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        let Ok(place) = cap.admit(client) else {
            cap.refuse(io);
            continue;
        };
        // The place goes with the stream, into an upgraded WebSocket too.
        let io = Placed::new(io, place);
        // A write that waits longer than the limit fails, and with it the connection.
        let mut io = TimeoutStream::new(io);
        io.set_write_timeout(Some(limits.send));
        let (io, last_read) = Reading::new(Box::pin(io));
        let io = TokioIo::new(io);
        let service = app
            .clone()
            .map_request(move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(client));
                request.extensions_mut().insert(last_read.clone());
                request
            });
        let connection = builder
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping_rx.clone();
        let cut_off = Arc::clone(&cut_off);
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                // A failed connection (a client gone, a head too slow) is the client's; one
                // that read none of its answer in time is told.
                served = connection.as_mut() => {
                    if served.as_ref().is_err_and(|e| write_timed_out(e)) {
                        let line = format!(
                            "connection from {client} closed: it took none of its answer for {} s",
                            limits.send.as_secs_f64()
                        );
                        cut_off.write(client.ip().to_string(), line);
                    }
                    return;
                }
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    drop(stopping_rx);
    let _ = stopping.send(true);
    if tokio::time::timeout(SHUTDOWN_WAIT, stopping.closed())
        .await
        .is_err()
    {
        eprintln!(
            "stopping: {} connections still open after {} s are left",
            stopping.receiver_count(),
            SHUTDOWN_WAIT.as_secs()
        );
    }
}

/// Whether a connection failed because a write of its answer waited too long
/// ([`TimeoutStream`]'s error, under hyper's or the WebSocket's).
pub(super) fn write_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let io = fairpos_sync::tls::chain(error).find_map(|e| e.downcast_ref::<std::io::Error>());
    // The system's own ETIMEDOUT (a peer gone silent) carries its code; this does not.
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut && io.raw_os_error().is_none())
}
