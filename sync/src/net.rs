//! The till's (and a hub's) way to headquarters: a samod [`Dialer`](samod::Dialer) over a
//! WebSocket, the credentials in the URL's `token` query parameter, as automerge-repo's own
//! clients can send them; a session's repo seeded with copies of the documents; and a peek
//! at a message's kind and document, for headquarters to see who sends what.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use samod::storage::{InMemoryStorage, Storage, StorageKey};
use samod::{
    BackoffConfig, ConnectionId, DialError, Dialer, DialerEvent, DialerFailed, DialerHandle,
    DocumentId, PeerId, Repo, ShareConfig, Transport,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{connect_async_tls_with_config, Connector};
use url::Url;

use crate::answer;
use crate::client::HqClient;
use crate::protocol::route;
use crate::LedgerDoc;
use crate::{Error, Result};

/// Why a dial will not succeed however often it is tried in this pass.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not for this till however long it waits: its credentials were turned down, or
    /// headquarters' certificate does not verify.
    #[error("{0}")]
    Never(String),
    /// Headquarters is too busy for it now (429 or 503 with `Retry-After`): a later pass,
    /// after that wait, may be served. Redialling at once would only add to the load.
    #[error("headquarters answered {status}: {why}")]
    NotNow {
        status: String,
        why: String,
        /// What `Retry-After` asked for (an answer without it is not this refusal).
        retry_after: Duration,
    },
}

impl Refused {
    /// How long headquarters asked to be left alone before the next dial (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refused::NotNow { retry_after, .. } => Some(*retry_after),
            Refused::Never(_) => None,
        }
    }
}

pub struct WsDialer {
    url: Url,
    tls: Arc<rustls::ClientConfig>,
}

impl WsDialer {
    /// Dials headquarters at `base` (`http://host:port`; `https` becomes `wss`, verified as
    /// `tls` says) at its sync route with `token`.
    pub fn new(base: &Url, token: &str, tls: Arc<rustls::ClientConfig>) -> WsDialer {
        let mut url = base.clone();
        let scheme = if base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        // Only special schemes switch among themselves; http(s) to ws(s) always does.
        let _ = url.set_scheme(scheme);
        // Under headquarters' own path, as the HTTP routes are: behind a proxy that serves
        // it at `https://host/fairpos`, the socket went to `/sync` and met a 404.
        let path = format!("{}{}", base.path().trim_end_matches('/'), route::SYNC);
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("token", token);
        WsDialer { url, tls }
    }

    /// The sync socket of headquarters `hq`, dialled with `token`, trusting what `hq` trusts.
    pub fn to(hq: &HqClient, token: &str) -> WsDialer {
        WsDialer::new(hq.url(), token, hq.trust().client_config_for(hq.url()))
    }
}

/// A ledger as a session's seed for [`seeded_repo`]: its document id and the document saved
/// uncompressed (the copy lives in memory for one session only; deflating it cost CPU for
/// nothing).
pub fn seed(doc: &LedgerDoc) -> (DocumentId, Vec<u8>) {
    (
        crate::ids::document_id(&doc.id().key()),
        doc.automerge().save_nocompress(),
    )
}

/// A samod repo for one session, holding copies of `docs`, speaking as `peer`, sharing as
/// `decide(document, remote peer)` says.
pub async fn seeded_repo(
    docs: &[(DocumentId, Vec<u8>)],
    peer: &str,
    decide: impl Fn(&DocumentId, &str) -> ShareConfig + Clone + Send + 'static,
) -> Result<Repo> {
    let store = InMemoryStorage::new();
    for (id, bytes) in docs {
        let key = StorageKey::from_parts([id.to_string().as_str(), "snapshot", "local"])
            .map_err(|_| Error::Samod("bad storage key".into()))?;
        store.put(key, bytes.clone()).await;
    }
    Ok(Repo::build_tokio()
        .with_storage(store)
        .with_peer_id(PeerId::from(peer))
        .with_share_policy(move |doc: DocumentId, remote: PeerId| {
            futures::stream::iter([decide(&doc, &remote.to_string())])
        })
        .load()
        .await)
}

/// Runs `f`, or says which step headquarters did not finish within `limit`.
pub async fn within<T>(
    what: &str,
    limit: Duration,
    f: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_string(),
            secs: limit.as_secs(),
        })
}

/// Dials the sync route of headquarters `hq` with `token` and waits for the connection.
pub async fn dial(
    repo: &Repo,
    hq: &HqClient,
    token: &str,
    limit: Duration,
) -> Result<(DialerHandle<Refused>, ConnectionId)> {
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_retries: Some(3),
    };
    let shown = hq.base().to_string();
    let dialer = repo
        .dial(backoff, Arc::new(WsDialer::to(hq, token)))
        .map_err(|e| Error::Samod(e.to_string()))?;
    match within("answer", limit, dialer.established()).await? {
        Ok(_) => {}
        // Busy: said as an API call's answer is, with its wait.
        Err(DialerFailed::PermanentFailure(refused)) => {
            if let Refused::NotNow {
                status,
                why,
                retry_after,
            } = &*refused
            {
                return Err(Error::Answered {
                    status: status.clone(),
                    why: why.clone(),
                    retry_after: Some(*retry_after),
                });
            }
            return Err(Error::unreachable(&shown, refused));
        }
        Err(e) => return Err(Error::unreachable(&shown, e)),
    }
    let conn = dialer
        .connection_id()
        .ok_or_else(|| Error::unreachable(&shown, "the connection closed"))?;
    Ok((dialer, conn))
}

/// A step of a session that waits on headquarters over the dialer's connection.
pub type Lost = std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>;

/// Resolves, with the reason, when the dialer's connection `conn` is lost or the dialer
/// gives up. A wait tied to a connection would otherwise run to its time limit: samod
/// redials, but the new connection is not the one the wait watches.
pub fn connection_lost(dialer: &DialerHandle<Refused>, conn: ConnectionId) -> Lost {
    let dialer = dialer.clone();
    Box::pin(async move {
        let mut events = dialer.events();
        // Lost (and perhaps redialled) before this watch began: the events told no one.
        if dialer.connection_id() != Some(conn) {
            return "the connection closed".into();
        }
        while let Some(event) = events.next().await {
            match event {
                DialerEvent::Disconnected { reason } => return reason,
                DialerEvent::MaxRetriesReached | DialerEvent::PermanentFailure => {
                    return "the connection could not be made again".into()
                }
                _ => {}
            }
        }
        std::future::pending().await
    })
}

/// Runs `f`, or says which step headquarters did not finish within `limit`, or that the
/// connection to `hq` was lost first (`lost`, from [`connection_lost`]).
pub async fn while_connected<T>(
    what: &str,
    limit: Duration,
    hq: &str,
    lost: &mut Lost,
    f: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::select! {
        done = within(what, limit, f) => done,
        why = lost => Err(Error::unreachable(
            hq,
            format!("the connection closed before headquarters could {what} ({why}); sync again"),
        )),
    }
}

/// samod's messages as binary WebSocket frames over a connected socket.
pub fn transport<S>(socket: S) -> Transport
where
    S: futures::Stream<Item = Result<Message, tungstenite::Error>>
        + futures::Sink<Message, Error = tungstenite::Error>
        + Send
        + 'static,
{
    let (sink, stream) = socket.split();
    let stream = stream
        .filter_map(|m| async move {
            match m {
                Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        })
        .boxed();
    let sink = Box::pin(WrittenOutFirst(sink).with(|bytes: Vec<u8>| async move {
        Ok::<_, tungstenite::Error>(Message::Binary(bytes.into()))
    }));
    Transport::new(stream, sink)
}

/// A socket's sink that writes out what it holds before it takes the next message. The
/// socket's write buffer may be full of pongs a peer left unread ([`WRITE_BUFFER`]): a
/// message given then failed at once (`WriteBufferFull`), and the sync with it, where it
/// should wait for the peer to read. What it holds is nearly always written out already, so
/// this costs nothing else.
struct WrittenOutFirst<S>(S);

impl<S> futures::Sink<Message> for WrittenOutFirst<S>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    type Error = tungstenite::Error;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        futures::ready!(self.0.poll_flush_unpin(cx))?;
        self.0.poll_ready_unpin(cx)
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        message: Message,
    ) -> std::result::Result<(), Self::Error> {
        self.0.start_send_unpin(message)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.0.poll_flush_unpin(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.0.poll_close_unpin(cx)
    }
}

impl Dialer for WsDialer {
    type Error = Refused;

    fn url(&self) -> Url {
        let mut shown = self.url.clone();
        shown.set_query(None);
        shown
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Refused>>> {
        let url = self.url.clone();
        let tls = Connector::Rustls(self.tls.clone());
        Box::pin(async move {
            let config = WebSocketConfig::default().max_write_buffer_size(WRITE_BUFFER);
            let connecting =
                connect_async_tls_with_config(url.as_str(), Some(config), false, Some(tls));
            // A handshake that stalls (an uplink gone after the TCP connection, a captive
            // portal holding it) is given up and dialled again: unbounded, a hub's link to
            // headquarters waited on it until the hub restarted.
            let Ok(connected) = tokio::time::timeout(DIAL_WITHIN, connecting).await else {
                let stalled = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", DIAL_WITHIN.as_secs()),
                );
                return Err(DialError::transient(tungstenite::Error::Io(stalled)));
            };
            match connected {
                Ok((socket, _)) => Ok(transport(socket)),
                Err(tungstenite::Error::Http(response)) => match refused(&response) {
                    Some(refused) => Err(DialError::PermanentFailure(refused)),
                    None => Err(DialError::transient(tungstenite::Error::Http(response))),
                },
                // A certificate that does not verify will not verify on the next try.
                Err(e) => match crate::tls::failure(&e) {
                    // Whoever reports it names headquarters' address.
                    Some(why) => Err(DialError::PermanentFailure(Refused::Never(why))),
                    None => Err(DialError::transient(e)),
                },
            }
        })
    }
}

/// The longest a sync socket's connection (TCP, TLS and the upgrade) may take.
const DIAL_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The most the till's outgoing sync messages may take in memory while headquarters has not
/// read them, as headquarters' own (`SYNC_WRITE_BUFFER`): a peer that sends pings and reads
/// none of the pongs otherwise grew the till's queue without end (4.9 GB in 30 s). A pong
/// beyond it is not queued; the latest one waits.
const WRITE_BUFFER: usize = (64 << 20) + (1 << 20);

/// Why an answer to the sync socket's upgrade ends the dial, if it does: 401 and 403 always;
/// 429 and 503 when they ask for a wait (`Retry-After`). Other answers (a proxy's 502 or
/// 503 while headquarters restarts) are redialled with samod's backoff.
fn refused(response: &tungstenite::http::Response<Option<Vec<u8>>>) -> Option<Refused> {
    let status = response.status();
    let why = || answer::reason(response.body().as_deref().unwrap_or_default());
    match status.as_u16() {
        401 | 403 => Some(Refused::Never(format!(
            "headquarters refused this till ({status}): {}",
            why()
        ))),
        429 | 503 => {
            let retry_after = answer::retry_after(response.headers(), SystemTime::now())?;
            Some(Refused::NotNow {
                status: status.to_string(),
                why: why(),
                retry_after,
            })
        }
        _ => None,
    }
}

/// The kind and document of an automerge-repo protocol message, read without decoding the
/// rest: `("sync", Some(doc id))`, `("request", Some(..))`, `("join", None)`, ...
pub fn peek(message: &[u8]) -> Option<(String, Option<String>)> {
    let mut d = minicbor::Decoder::new(message);
    let len = d.map().ok()??;
    let mut kind = None;
    let mut doc = None;
    for _ in 0..len {
        let key = d.str().ok()?.to_string();
        match key.as_str() {
            "type" => kind = Some(d.str().ok()?.to_string()),
            "documentId" if d.probe().str().is_ok() => doc = Some(d.str().ok()?.to_string()),
            _ => d.skip().ok()?,
        }
    }
    Some((kind?, doc))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};

    use super::*;
    use crate::ids::document_id;

    #[test]
    fn the_sync_socket_is_under_headquarters_own_path() {
        let tls = crate::tls::Trust::with_ca(None).unwrap().client_config();
        let dial = |base: &str| {
            let base = url::Url::parse(base).unwrap();
            super::WsDialer::new(&base, "T01.s", tls.clone())
                .url
                .to_string()
        };
        assert_eq!(
            dial("http://127.0.0.1:7700"),
            "ws://127.0.0.1:7700/sync?token=T01.s"
        );
        assert_eq!(
            dial("https://gov.example/fairpos"),
            "wss://gov.example/fairpos/sync?token=T01.s"
        );
        assert_eq!(
            dial("https://gov.example/fairpos/"),
            "wss://gov.example/fairpos/sync?token=T01.s"
        );
    }

    /// An in-memory storage that records what is written to it: `put KEY`, `delete KEY`.
    #[derive(Clone, Default)]
    struct Recording {
        inner: InMemoryStorage,
        writes: Arc<Mutex<Vec<String>>>,
    }

    impl Storage for Recording {
        async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
            self.inner.load(key).await
        }
        async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
            self.inner.load_range(prefix).await
        }
        async fn put(&self, key: StorageKey, data: Vec<u8>) {
            self.writes.lock().unwrap().push(format!("put {key}"));
            self.inner.put(key, data).await
        }
        async fn delete(&self, key: StorageKey) {
            self.writes.lock().unwrap().push(format!("delete {key}"));
            self.inner.delete(key).await
        }
    }

    fn change(doc: &mut Automerge, n: i64) {
        let mut tx = doc.transaction();
        tx.put(ROOT, "n", n).unwrap();
        tx.commit();
    }

    /// What dialling a server that answers `answer` to every connection came to, after
    /// `settle` more (for samod's redials), and how many connections it took.
    async fn dial_answered(answer: &'static str, settle: Duration) -> (Result<()>, usize) {
        let (base, tries) = crate::client::tests::answering(answer);
        let hq = HqClient::new(&base, &crate::tls::Trust::system().unwrap()).unwrap();
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from("T01"))
            .load()
            .await;
        let dialled = dial(&repo, &hq, "T01.secret", Duration::from_secs(10)).await;
        tokio::time::sleep(settle).await;
        repo.stop().await;
        let tries = tries.load(std::sync::atomic::Ordering::SeqCst);
        (dialled.map(|_| ()), tries)
    }

    /// Headquarters too busy for the sync socket (503 with `Retry-After` to its upgrade):
    /// the pass is told so with the wait, after one try, not after samod's redials.
    #[tokio::test]
    async fn a_busy_answer_to_the_sync_socket_is_told_with_its_wait_after_one_try() {
        // samod's first redial would come 100 ms on.
        let settle = Duration::from_millis(500);
        let (failed, tries) = dial_answered(crate::client::tests::BUSY, settle).await;
        let Err(Error::Answered {
            status,
            why,
            retry_after,
        }) = failed
        else {
            panic!("{:?}", failed.err());
        };
        assert_eq!(
            (status.as_str(), why.as_str(), retry_after),
            (
                "503 Service Unavailable",
                "too busy",
                Some(Duration::from_secs(30))
            )
        );
        assert_eq!(tries, 1);
    }

    /// A 503 that asks for no wait (a proxy's, while headquarters restarts) is redialled
    /// with samod's backoff, as any failure of the way there.
    #[tokio::test]
    async fn a_503_without_a_wait_to_the_sync_socket_is_dialled_again() {
        let proxy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n";
        let (failed, tries) = dial_answered(proxy, Duration::ZERO).await;
        assert!(
            matches!(&failed, Err(Error::Unreachable { .. })),
            "{:?}",
            failed.err()
        );
        // The first dial and samod's three redials.
        assert_eq!(tries, 4);
    }

    /// samod saved a document it had just loaded again whole (compressed) and deleted what it
    /// had loaded it from; with the patch (vendor/FAIRPOS-PATCH.md, 9) only the changes made
    /// after the load are written.
    #[test]
    fn a_document_loaded_from_storage_is_not_written_back_only_its_later_changes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // A document whose snapshot weighs over 1 KiB, so that samod stores a change made
            // after the load on its own (a smaller one it compacts at each save, as
            // automerge-repo does: vendor/FAIRPOS-PATCH.md, 13). Its texts are pseudo-random,
            // so that compression keeps them long.
            let mut doc = Automerge::new();
            let mut seed = 7u64;
            for n in 0..20 {
                let text: String = (0..100)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        char::from(b'a' + (seed >> 59) as u8)
                    })
                    .collect();
                let mut tx = doc.transaction();
                tx.put(ROOT, format!("text {n}"), text).unwrap();
                tx.commit();
            }
            assert!(doc.save().len() > 1024, "{}", doc.save().len());
            let id = document_id("ledger/fair/T01/2026-12-02");
            let store = Recording::default();
            let key =
                StorageKey::from_parts([id.to_string().as_str(), "snapshot", "local"]).unwrap();
            store.inner.put(key.clone(), doc.save()).await;

            let repo = Repo::build_tokio()
                .with_storage(store.clone())
                .with_peer_id(PeerId::from("test"))
                .load()
                .await;
            let handle = repo.find(id.clone()).await.unwrap().unwrap();
            assert_eq!(handle.with_document(|d| d.get_heads()), doc.get_heads());
            handle.with_document(|d| change(d, 99));
            repo.stop().await;

            let prefix = format!("put {id}/");
            let writes = store.writes.lock().unwrap().clone();
            let of_doc: Vec<&String> = writes
                .iter()
                .filter(|w| w.contains(&id.to_string()))
                .collect();
            assert_eq!(of_doc.len(), 1, "{writes:?}");
            assert!(
                of_doc[0].starts_with(&format!("{prefix}incremental/")),
                "{writes:?}"
            );
            let stored = store
                .inner
                .load_range(StorageKey::from_parts([id.to_string().as_str()]).unwrap())
                .await;
            assert!(stored.contains_key(&key), "what it was loaded from is kept");
            let mut reloaded = Automerge::new();
            for bytes in stored.values() {
                reloaded.load_incremental(bytes).unwrap();
            }
            assert_eq!(reloaded.get_changes(&[]).len(), 21);
        });
    }
}
