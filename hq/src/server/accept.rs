//! Connections that need a step of their own before they are served: a TLS handshake
//! ([`super::tls`]), a load balancer's PROXY protocol header ([`super::proxy`]), or both.
//!
//! [`Prepared`] is an axum [`Listener`]: one task accepts TCP connections and runs each
//! connection's step on a task of its own, with a time limit and a bound on how many run at
//! once, so a slow or silent client holds up no one; connections whose step is done are
//! handed to the server with the client's address the step found. Steps that fail are
//! logged at most once a minute for each address and reason ([`FailureLog`]), so a port
//! scan or a misconfigured balancer does not write a line per connection.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::serve::{Listener, ListenerExt, TapIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// How long a client may take over its step (a handshake, a header).
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// Steps under way at once; further connections wait to be accepted.
const STEPS_AT_ONCE: usize = 256;
/// A failed step's line is not written again for the same address and reason within this.
const QUIET: Duration = Duration::from_secs(60);
/// Beyond this many addresses and reasons remembered, those quiet again are forgotten.
const REMEMBERED: usize = 10_000;

/// Connections accepted and prepared, with their clients' addresses, for axum to serve.
pub struct Prepared<Io> {
    ready: mpsc::Receiver<(Io, SocketAddr)>,
    local: SocketAddr,
}

impl<Io: Send + 'static> Prepared<Io> {
    /// Accepts on `tcp` and runs `prepare` on each connection (with the address it came
    /// from), on tasks of the current runtime. `prepare` answers the connection to serve and
    /// the client's address, or why it is dropped, which is logged; `step` names it for a
    /// client that takes too long.
    pub fn new<F, Fut>(tcp: TcpListener, step: &'static str, prepare: F) -> std::io::Result<Self>
    where
        F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(Io, SocketAddr), String>> + Send + 'static,
    {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(STEPS_AT_ONCE);
        let slots = Arc::new(Semaphore::new(STEPS_AT_ONCE));
        let failures = Arc::new(FailureLog::default());
        tokio::spawn(async move {
            loop {
                // Once the server stops taking connections (the listener dropped), stop
                // accepting: the port is let go.
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => slot,
                    _ = tx.closed() => return,
                };
                let Ok(slot) = slot else {
                    return;
                };
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    _ = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum does.
                        eprintln!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let prepared = prepare(stream, peer);
                let hand_over = tx.clone();
                let failures = failures.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(STEP_LIMIT, prepared).await {
                        Ok(Ok(connection)) => {
                            drop(slot);
                            let _ = hand_over.send(connection).await;
                        }
                        Ok(Err(why)) => failures.write(why, peer),
                        Err(_) => failures.write(format!("{step} with {peer} took too long"), peer),
                    }
                });
            }
        });
        Ok(Prepared { ready, local })
    }
}

impl<Io> Prepared<Io>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The listener to give `axum::serve`: axum gives the handlers of a tapped listener's
    /// connections their client's address (`ConnectInfo<SocketAddr>`), as it does a
    /// `TcpListener`'s, and has no other way for a listener of ours.
    pub fn tapped(self) -> TapIo<Self, fn(&mut Io)> {
        self.tap_io(|_| {})
    }
}

impl<Io> Listener for Prepared<Io>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Io = Io;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (the runtime is stopping): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Lines of failed steps, written at most once in [`QUIET`] for each address and reason
/// (the line with the peer's port left out); the next one written says how many were held
/// back since.
#[derive(Default)]
struct FailureLog {
    /// For each address and reason: when its line was last written, and how many since.
    written: Mutex<HashMap<String, (Instant, u64)>>,
}

impl FailureLog {
    fn write(&self, line: String, peer: SocketAddr) {
        if let Some(line) = self.line(line, peer, Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// The line to write for `line` about `peer` at `now`, if any.
    fn line(&self, line: String, peer: SocketAddr, now: Instant) -> Option<String> {
        let reason = line.replace(&peer.to_string(), &peer.ip().to_string());
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() > REMEMBERED {
            written.retain(|_, (at, _)| now.duration_since(*at) < QUIET);
        }
        let Some((at, held)) = written.get_mut(&reason) else {
            written.insert(reason, (now, 0));
            return Some(line);
        };
        if now.duration_since(*at) < QUIET {
            *held += 1;
            return None;
        }
        let since = std::mem::take(held);
        *at = now;
        Some(match since {
            0 => line,
            n => format!("{line} (and {n} more like it held back since the last such line)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_written_once_a_minute_for_each_address_and_reason() {
        let log = FailureLog::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let (a1, a2): (SocketAddr, SocketAddr) = (
            "192.0.2.1:5000".parse().unwrap(),
            "192.0.2.1:5001".parse().unwrap(),
        );
        let b: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        let closed = |peer: SocketAddr| format!("connection from {peer} closed: no header");
        assert_eq!(log.line(closed(a1), a1, at(0)), Some(closed(a1)));
        // The same address from another port, and again: held back.
        assert_eq!(log.line(closed(a2), a2, at(1)), None);
        assert_eq!(log.line(closed(a1), a1, at(59)), None);
        // Another address, or another reason: written.
        assert_eq!(log.line(closed(b), b, at(2)), Some(closed(b)));
        let other = format!("TLS handshake with {a1} failed: eof");
        assert_eq!(log.line(other.clone(), a1, at(3)), Some(other));
        // A minute on: written, saying how many were held back.
        assert_eq!(
            log.line(closed(a2), a2, at(61)),
            Some(format!(
                "{} (and 2 more like it held back since the last such line)",
                closed(a2)
            ))
        );
        assert_eq!(log.line(closed(a1), a1, at(122)), Some(closed(a1)));
    }
}
