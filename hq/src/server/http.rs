//! Serving HTTP/1.1 on a listener, as `axum::serve` does, but with a limit on how long a
//! client may take to send a request's head (`hq serve --request-head-timeout`). hyper
//! has the limit; `axum::serve` gives it no timer, so without this a client that sends a
//! request line and then nothing (or keeps a connection idle between requests) holds its
//! connection, and a file descriptor, for as long as it likes: a few thousand such clients
//! would leave no descriptor for the tills. An upgraded connection (a till's sync
//! WebSocket) is handed to its handler, and the limit no longer applies to it.
//!
//! Each connection is served on a task of its own; its handlers get the client's address
//! as axum's `ConnectInfo<SocketAddr>`. When `stop` ends, no connection is accepted any
//! more, those open finish the request under way (graceful shutdown), and this returns once
//! they have, or after [`SHUTDOWN_WAIT`] at most (a client that sends a body slowly, or
//! never reads its answer, would otherwise hold the stop up for good), saying how many
//! were left.
//!
//! How long a request may take once its head is in is `--request-timeout`, a layer of the
//! router (`mod.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// How long a stop waits for the connections open to finish.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` ends, giving each request's head `head_timeout`
/// (idle time before it on a kept-alive connection included).
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    head_timeout: Duration,
    stop: impl Future<Output = ()>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
    // Told to the connections when it is time to stop; each holds a receiver, so that the
    // sender sees when the last has finished.
    let (stopping, stopping_rx) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (io, client) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        let service = app
            .clone()
            .map_request(move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(client));
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                // A failed connection (a client gone, a head too slow) is the client's.
                _ = connection.as_mut() => return,
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
