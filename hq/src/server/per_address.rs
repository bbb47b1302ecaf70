//! `hq serve --max-connections-per-address N`: how many connections one address may hold
//! open to a process. Each connection takes a place for its client's address (an IPv4
//! address, or an IPv6 address's /64, as the login throttle counts them) once the address is
//! known (after the TLS handshake and the PROXY header, if any), and holds it until the
//! connection closes: the place goes with the connection's stream, so an upgraded sync
//! WebSocket holds it for as long as it is open. One connection more from a full address is
//! answered `503 Service Unavailable` with `Retry-After` (once its request's head is in) and
//! closed, without being served; that is logged, a line a minute at most for each address,
//! and counted (`fairpos_hq_connections_refused_total`).
//!
//! Without a cap, one address could open connections until the process has no file
//! descriptor left for the tills. The default (1024) leaves room for a fair whose tills and
//! organizers all come through one NAT address. The connections of a reverse proxy named by
//! `--forwarded-for` are not counted: they are its clients', whose addresses are known only
//! from each request's header, and the proxy keeps its own limits. Behind a plain TCP
//! balancer that sends no PROXY header every client comes from the balancer's address: give
//! 0 there (no cap), or a cap for all of them.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;

use super::proxy::Trusted;
use super::tally::{Tallied, Tally};
use crate::metrics::Metrics;
use crate::quiet_log::QuietLog;

/// The default of `--max-connections-per-address`.
pub const DEFAULT_MOST: u32 = 1024;

/// How long a refused client is given to take its answer, and then to close.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);
/// Refused connections being answered at once; past that, one is closed unanswered, so
/// that refusals hold no more than these file descriptors, however fast they come.
const REFUSALS_AT_ONCE: usize = 64;

/// The places each address holds.
pub struct AddressCap {
    /// The connections each address holds open, up to the cap (0: no cap).
    open: Arc<Tally>,
    /// Proxies whose connections are not counted.
    exempt: Option<Trusted>,
    refusals: Arc<QuietLog>,
    answering: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AddressCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressCap")
            .field("most", &self.open.most())
            .field("exempt", &self.exempt)
            .finish_non_exhaustive()
    }
}

/// A connection's place: given back when dropped.
pub type Place = Tallied;

impl AddressCap {
    /// On a runtime: the log of refusals tells what it held back from a task of its own.
    pub fn new(most: usize, exempt: Option<Trusted>, metrics: Arc<Metrics>) -> Arc<AddressCap> {
        Arc::new(AddressCap {
            open: Tally::new(most),
            exempt,
            refusals: QuietLog::told_when_due(),
            answering: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            metrics,
        })
    }

    /// Where refusals are counted.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// A place for a connection from `client`: `Ok(None)` when it is not counted (no cap,
    /// or a proxy's), `Err` when its address holds every place it may. The refusal is
    /// logged and counted.
    pub fn admit(self: &Arc<Self>, client: SocketAddr) -> Result<Option<Place>, Full> {
        let counted = self.open.most() > 0
            && !self
                .exempt
                .as_ref()
                .is_some_and(|proxies| proxies.admits(client.ip()));
        if !counted {
            return Ok(None);
        }
        if let Some(place) = self.open.take(client.ip()) {
            return Ok(Some(place));
        }
        self.metrics.connection_refused();
        let address = crate::throttle::address_key(client.ip());
        let line = format!(
            "connection from {address} refused: it holds {} open, the most one address may \
             (--max-connections-per-address)",
            self.open.most()
        );
        self.refusals.write(address, line);
        Err(Full)
    }

    /// Answers a refused connection `503` with `Retry-After` once its request's head is in,
    /// and closes it, on a task of its own ([`answer_refused`]). With [`REFUSALS_AT_ONCE`]
    /// being answered, it is closed at once.
    pub fn refuse<Io>(&self, io: Io)
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if let Ok(answering) = self.answering.clone().try_acquire_owned() {
            tokio::spawn(async move {
                answer_refused(io).await;
                drop(answering);
            });
        }
    }
}

/// An address that holds every place it may.
#[derive(Debug)]
pub struct Full;

/// Reads the request's head (a client answered before it has sent its request takes the
/// answer for a broken connection), writes the refusal, then reads and drops what more the
/// client sends, a moment for each.
async fn answer_refused<Io>(mut io: Io)
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    // As the API's errors are told, so that a till names the reason.
    const BODY: &str = r#"{"error":"too many connections from your address: try again later"}"#;
    /// The most of a request's head read before the answer.
    const HEAD_AT_MOST: usize = 16 << 10;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 30\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut sink = [0u8; 4096];
    let head = async {
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_AT_MOST {
            match io.read(&mut sink).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => head.extend_from_slice(&sink[..n]),
            }
        }
        Ok::<_, io::Error>(())
    };
    if !matches!(tokio::time::timeout(REFUSAL_WAIT, head).await, Ok(Ok(()))) {
        return;
    }
    let answered = async {
        io.write_all(answer.as_bytes()).await?;
        io.shutdown().await
    };
    if tokio::time::timeout(REFUSAL_WAIT, answered).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(REFUSAL_WAIT, async {
        while io.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
}

/// A connection's stream with its place (if it took one), given back when the stream is
/// dropped: after its last request, or when an upgraded WebSocket closes.
pub struct Placed<Io> {
    io: Io,
    _place: Option<Place>,
}

impl<Io> Placed<Io> {
    pub fn new(io: Io, place: Option<Place>) -> Placed<Io> {
        Placed { io, _place: place }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Placed<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Placed<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: &str) -> SocketAddr {
        address.parse().unwrap()
    }

    #[tokio::test]
    async fn an_address_holds_at_most_its_places_and_a_closed_connection_gives_its_back() {
        let metrics = Arc::new(Metrics::new("hq", "sqlite"));
        let cap = AddressCap::new(2, None, metrics.clone());
        let first = cap.admit(at("192.0.2.1:5000")).unwrap();
        let second = cap.admit(at("192.0.2.1:5001")).unwrap();
        assert!(first.is_some() && second.is_some());
        assert!(cap.admit(at("192.0.2.1:5002")).is_err(), "a third");
        // Another address is not held by the first's.
        let other = cap.admit(at("192.0.2.2:5000")).unwrap();
        assert!(other.is_some());
        drop(first);
        assert_eq!(cap.open.held(at("192.0.2.1:1").ip()), 1);
        let third = cap.admit(at("192.0.2.1:5003")).unwrap();
        assert!(third.is_some(), "the place given back is taken");
        drop((second, third, other));
        assert!(cap.open.is_empty(), "nothing left behind");
        let text = metrics.encode(&Default::default(), false).unwrap();
        let refused = crate::metrics::sample(&text, "fairpos_hq_connections_refused_total");
        assert_eq!(refused, Some(1.0));
    }

    #[tokio::test]
    async fn an_ipv6_client_is_held_by_its_64_and_a_named_proxy_and_no_cap_by_nothing() {
        let metrics = Arc::new(Metrics::new("hq", "sqlite"));
        let proxy = Trusted::parse("--forwarded-for", "10.0.0.2").unwrap();
        let cap = AddressCap::new(1, Some(proxy), metrics.clone());
        let _one = cap.admit(at("[2001:db8::1]:5000")).unwrap();
        assert!(cap.admit(at("[2001:db8::2]:5000")).is_err(), "same /64");
        assert!(matches!(
            cap.admit(at("[2001:db8:0:1::1]:5000")),
            Ok(Some(_))
        ));
        // An IPv4 client seen by a listener on [::] is its IPv4 address.
        let _v4 = cap.admit(at("192.0.2.7:5000")).unwrap();
        assert!(cap.admit(at("[::ffff:192.0.2.7]:5001")).is_err(), "mapped");
        let mapped_proxy = cap.admit(at("[::ffff:10.0.0.2]:5002"));
        assert!(matches!(mapped_proxy, Ok(None)), "the proxy, mapped");
        let proxied: Vec<_> = (0..3)
            .map(|port| cap.admit(SocketAddr::new("10.0.0.2".parse().unwrap(), port)))
            .collect();
        assert!(proxied.iter().all(|p| matches!(p, Ok(None))));
        let uncapped = AddressCap::new(0, None, metrics);
        let many: Vec<_> = (0..5)
            .map(|p| uncapped.admit(at(&format!("192.0.2.1:{p}"))))
            .collect();
        assert!(many.iter().all(|p| matches!(p, Ok(None))));
    }
}
