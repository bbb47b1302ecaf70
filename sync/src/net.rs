//! The till's (and a hub's) way to headquarters: a samod [`Dialer`](samod::Dialer) over a
//! plain WebSocket (`ws://`), the credentials in the URL's `token` query parameter, as
//! automerge-repo's own clients can send them. TLS (`wss://`) is not built in: put
//! headquarters behind a TLS-terminating proxy and tunnel, or sync over the LAN or a bundle.

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use samod::{DialError, Dialer, Transport};
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

/// Why a dial will not succeed however often it is tried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub struct WsDialer {
    url: Url,
}

impl WsDialer {
    /// Dials `base` (`ws://host:port`) at `/sync` with `token`.
    pub fn new(base: &Url, token: &str) -> WsDialer {
        let mut url = base.clone();
        url.set_path("/sync");
        url.query_pairs_mut().clear().append_pair("token", token);
        WsDialer { url }
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
    let sink = Box::pin(sink.with(|bytes: Vec<u8>| async move {
        Ok::<_, tungstenite::Error>(Message::Binary(bytes.into()))
    }));
    Transport::new(stream, sink)
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
        Box::pin(async move {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((socket, _)) => Ok(transport(socket)),
                Err(tungstenite::Error::Http(response))
                    if matches!(response.status().as_u16(), 401 | 403) =>
                {
                    let body = response
                        .body()
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).trim().to_string())
                        .unwrap_or_default();
                    Err(DialError::PermanentFailure(Refused(format!(
                        "headquarters refused this till ({}): {body}",
                        response.status()
                    ))))
                }
                Err(e) => Err(DialError::transient(e)),
            }
        })
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
