//! When a connection last read something from its client, byte by byte rather than message
//! by message: a sync socket's `--sync-idle` counts from it, so a till sending one large
//! message over a slow link for minutes is heard all along ([`super::sync_socket`]).
//! [`Reading`] wraps a connection's stream and marks each read that brought bytes;
//! [`super::http`] hands the mark to each request as an extension.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When its connection last read a byte (or was opened).
#[derive(Clone, Debug)]
pub struct LastRead(Arc<AtomicU64>);

/// What the marks count from: the first mark of the process.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl LastRead {
    /// Marked now.
    fn new() -> LastRead {
        let mark = LastRead(Arc::new(AtomicU64::new(0)));
        mark.mark();
        mark
    }

    /// Something was read now.
    fn mark(&self) {
        let since = epoch().elapsed().as_millis() as u64;
        self.0.fetch_max(since, Ordering::Relaxed);
    }

    /// When something was last read.
    pub fn at(&self) -> Instant {
        epoch() + Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

/// A connection's stream whose reads are marked in a [`LastRead`].
pub struct Reading<S> {
    inner: S,
    last: LastRead,
}

impl<S> Reading<S> {
    pub fn new(inner: S) -> (Reading<S>, LastRead) {
        let last = LastRead::new();
        let reading = Reading {
            inner,
            last: last.clone(),
        };
        (reading, last)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Reading<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last.mark();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Reading<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn reads_that_bring_bytes_are_marked_and_writes_are_not() {
        let (client, server) = tokio::io::duplex(64);
        let (mut reading, last) = Reading::new(server);
        let opened = last.at();
        tokio::time::advance(Duration::from_secs(5)).await;
        reading.write_all(b"pong").await.unwrap();
        assert_eq!(last.at(), opened, "a write is not a read");
        let mut client = client;
        client.write_all(b"ab").await.unwrap();
        let mut two = [0; 2];
        reading.read_exact(&mut two).await.unwrap();
        assert!(last.at() >= opened + Duration::from_secs(5), "marked");
        let marked = last.at();
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(client);
        let mut rest = Vec::new();
        reading.read_to_end(&mut rest).await.unwrap();
        assert_eq!(last.at(), marked, "the end brings no byte");
    }
}
