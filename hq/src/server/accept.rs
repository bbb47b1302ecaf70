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
//! logged at most once a minute for each address and reason ([`crate::quiet_log`]), so a
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

use super::tally::Tally;
use crate::metrics::Metrics;
use crate::quiet_log::QuietLog;

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
                        let full = Failed::steps_full(peer, &peer.to_string(), step);
                        failures.write(full.kind(), full.line);
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
                        Ok(Err(failed)) => failures.write(failed.kind(), failed.line),
                        Err(_) => {
                            let slow =
                                Failed::new(peer, format!("{step} with {peer} took too long"));
                            failures.write(slow.kind(), slow.line)
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

/// Why a connection's step failed: the line to log, and the address it names (the peer's,
/// or the client's its PROXY header gave), by which like lines are held back.
pub struct Failed {
    about: SocketAddr,
    line: String,
    /// What like lines are held back by, when not the line with the port left out.
    kind: Option<String>,
}

impl Failed {
    pub fn new(about: SocketAddr, line: String) -> Failed {
        Failed {
            about,
            line,
            kind: None,
        }
    }

    /// A connection from `client` (named `who` in the line) closed because its address has
    /// [`STEPS_PER_ADDRESS`] connections in their `step` already: held back by the address
    /// as counted, so that an IPv6 client's /64 is logged a line a minute at most too.
    pub fn steps_full(client: SocketAddr, who: &str, step: &str) -> Failed {
        let address = crate::throttle::address_key(client.ip());
        Failed {
            about: client,
            line: format!(
                "connection from {who} closed: its address has {STEPS_PER_ADDRESS} connections \
                 in their {step} already"
            ),
            kind: Some(format!("{step}s full for {address}")),
        }
    }

    /// What the line is held back by: [`Failed::steps_full`]'s address, else the line with
    /// the port of the address it names left out, so that one address's connections count
    /// as one.
    fn kind(&self) -> String {
        match &self.kind {
            Some(kind) => kind.clone(),
            None => self
                .line
                .replace(&self.about.to_string(), &self.about.ip().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failures_line_is_held_back_by_its_line_without_the_port_or_by_the_address_counted() {
        let peer: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let failed = Failed::new(
            peer,
            "connection from 192.0.2.1:5000 closed: no header".into(),
        );
        assert_eq!(failed.kind(), "connection from 192.0.2.1 closed: no header");
        let six: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let failed = Failed::new(six, "TLS handshake with [2001:db8::1]:443 failed".into());
        assert_eq!(failed.kind(), "TLS handshake with 2001:db8::1 failed");
        // Clients of one /64 are one address, whatever the balancer named in the line.
        let kinds: Vec<String> = ["[2001:db8:7::1]:40000", "[2001:db8:7::2]:40001"]
            .into_iter()
            .map(|client| {
                let client: SocketAddr = client.parse().unwrap();
                let who = format!("{client} through the balancer 127.0.0.1");
                Failed::steps_full(client, &who, "TLS handshake").kind()
            })
            .collect();
        assert_eq!(kinds[0], kinds[1]);
        let line = Failed::steps_full(six, "[2001:db8::1]:443", "TLS handshake").line;
        assert_eq!(
            line,
            "connection from [2001:db8::1]:443 closed: its address has 32 connections in their \
             TLS handshake already"
        );
    }
}
