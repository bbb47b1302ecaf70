//! Connections that need a step of their own before they are served: a TLS handshake
//! ([`super::tls`]), a load balancer's PROXY protocol header ([`super::proxy`]), or both.
//!
//! [`Prepared`] is an axum [`Listener`]: one task accepts TCP connections and runs each
//! connection's step on a task of its own, with a time limit and a bound on how many run at
//! once, so a slow or silent client holds up no one; connections whose step is done are
//! handed to the server with the client's address the step found. One address has at most
//! [`STEPS_PER_ADDRESS`] steps under way (a load balancer named by `--proxy-protocol`
//! excepted, whose connections are its clients'): one more from it is closed at once, so
//! that a client opening connections and saying nothing cannot hold every step's place
//! while the tills of a fair wait for theirs. Steps that fail are
//! logged at most once a minute for each address and reason ([`super::quiet_log`]), so a
//! port scan or a misconfigured balancer does not write a line per connection (those held
//! back are counted in a line once the minute is over).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use super::quiet_log::QuietLog;
use super::tally::Tally;
use crate::metrics::Metrics;

/// How long a client may take over its step (a handshake, a header).
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// Steps under way at once; further connections wait to be accepted.
const STEPS_AT_ONCE: usize = 256;
/// Steps one address may have under way at once: an eighth of [`STEPS_AT_ONCE`]. A fair's
/// tills behind one NAT address are handshaken a few milliseconds each, well within it.
pub const STEPS_PER_ADDRESS: usize = STEPS_AT_ONCE / 8;

/// Connections accepted and prepared, with their clients' addresses, for axum to serve.
pub struct Prepared<Io> {
    ready: mpsc::Receiver<(Io, SocketAddr)>,
    local: SocketAddr,
}

impl<Io: Send + 'static> Prepared<Io> {
    /// Accepts on `tcp` and runs `prepare` on each connection (with the address it came
    /// from), on tasks of the current runtime. `prepare` answers the connection to serve and
    /// the client's address, or why it is dropped ([`Failed`]), which is logged; `step`
    /// names it for a client that takes too long. The connections of an address `balancer`
    /// says is a load balancer's are not counted per address; one closed because its
    /// address has [`STEPS_PER_ADDRESS`] under way is logged, and counted in `metrics` as
    /// refused.
    pub fn new<F, Fut>(
        tcp: TcpListener,
        step: &'static str,
        balancer: impl Fn(IpAddr) -> bool + Send + 'static,
        metrics: Arc<Metrics>,
        prepare: F,
    ) -> std::io::Result<Self>
    where
        F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(Io, SocketAddr), Failed>> + Send + 'static,
    {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(STEPS_AT_ONCE);
        let slots = Arc::new(Semaphore::new(STEPS_AT_ONCE));
        let failures = QuietLog::told_when_due();
        let under_way = Tally::new(STEPS_PER_ADDRESS);
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
                let mut place = None;
                if !balancer(peer.ip()) {
                    place = under_way.take(peer.ip());
                    if place.is_none() {
                        drop(stream);
                        metrics.connection_refused();
                        let why = steps_full(&peer.to_string(), step);
                        // Held back by its address as counted (an IPv6 client by its /64).
                        let address = crate::throttle::address_key(peer.ip());
                        failures.write(format!("{step}s full for {address}"), why);
                        continue;
                    }
                }
                let prepared = prepare(stream, peer);
                let hand_over = tx.clone();
                let failures = failures.clone();
                tokio::spawn(async move {
                    let stepped = tokio::time::timeout(STEP_LIMIT, prepared).await;
                    drop(place);
                    match stepped {
                        Ok(Ok(connection)) => {
                            drop(slot);
                            let _ = hand_over.send(connection).await;
                        }
                        Ok(Err(Failed { about, line })) => {
                            failures.write(reason(&line, about), line)
                        }
                        Err(_) => {
                            let why = format!("{step} with {peer} took too long");
                            failures.write(reason(&why, peer), why)
                        }
                    }
                });
            }
        });
        Ok(Prepared { ready, local })
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

/// The line logged for a connection from `who` closed because its address has
/// [`STEPS_PER_ADDRESS`] connections in their `step` already.
pub fn steps_full(who: &str, step: &str) -> String {
    format!(
        "connection from {who} closed: its address has {STEPS_PER_ADDRESS} connections in \
         their {step} already"
    )
}

/// Why a connection's step failed: the line to log, and the address it names (the peer's,
/// or the client's its PROXY header gave), by which like lines are held back.
pub struct Failed {
    pub about: SocketAddr,
    pub line: String,
}

/// What a failed step's line is held back by: the line with the port of the address it
/// names left out, so that one address's connections count as one.
fn reason(line: &str, about: SocketAddr) -> String {
    line.replace(&about.to_string(), &about.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failures_reason_is_its_line_without_the_peers_port() {
        let peer: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(
            reason("connection from 192.0.2.1:5000 closed: no header", peer),
            "connection from 192.0.2.1 closed: no header"
        );
        let six: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(
            reason("TLS handshake with [2001:db8::1]:443 failed", six),
            "TLS handshake with 2001:db8::1 failed"
        );
    }
}
