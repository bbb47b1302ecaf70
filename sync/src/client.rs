//! The HTTP side of the protocol, as a till or a hub calls it: enrolment, announcing the
//! ledgers about to sync, asking what headquarters has projected, and a hub's copy of the
//! device registry. Every call has a time limit; every refusal becomes one line.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use url::Url;

use crate::answer;
use crate::protocol::{
    route, AnnounceRequest, AnnounceResponse, ConfirmRequest, ConfirmResponse, ConfirmedDoc,
    DeviceEntry, EnrollRequest, EnrollResponse, WantedDoc,
};
use crate::tls::Trust;
use crate::{Error, Result};

/// Headquarters (or a hub) at a base URL such as `https://hq.example:7700`.
#[derive(Clone, Debug)]
pub struct HqClient {
    base: String,
    url: Url,
    trust: Trust,
    http: reqwest::Client,
}

/// How long an idle connection is kept for the next request: under headquarters' 30 s.
const IDLE_CONNECTION: Duration = Duration::from_secs(20);

/// Redirects followed within one scheme, up to ten as reqwest's default; a redirect to
/// another scheme (a reverse proxy sending `http://` on to `https://`) is refused, naming
/// the address to give instead: the sync socket follows no redirect, and a client of an
/// `http://` address carries no roots to verify a certificate with.
fn same_scheme_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous().last().map(|u| u.scheme().to_string());
        if from.as_deref() != Some(attempt.url().scheme()) {
            let to = attempt.url().clone();
            return attempt.error(format!(
                "headquarters redirects to {to}: give its address as {}://…",
                to.scheme()
            ));
        }
        if attempt.previous().len() > 10 {
            return attempt.error("too many redirects");
        }
        attempt.follow()
    })
}

impl HqClient {
    /// A client of `base` that trusts what `trust` trusts under `https://`.
    pub fn new(base: &str, trust: &Trust) -> Result<HqClient> {
        let base = base.trim_end_matches('/').to_string();
        let url = Url::parse(&base).map_err(|e| Error::BadUrl {
            url: base.clone(),
            why: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BadUrl {
                url: base,
                why: "use http:// or https://".into(),
            });
        }
        let http = reqwest::Client::builder()
            // Let go of an idle connection before headquarters does (it closes those idle
            // for its --request-head-timeout, 30 s by default), so that a request is never
            // sent on one it is closing.
            .pool_idle_timeout(IDLE_CONNECTION)
            .tls_backend_preconfigured(trust.client_config_for(&url).as_ref().clone())
            .redirect(same_scheme_redirects())
            .build()
            .map_err(|e| Error::Codec(format!("HTTP client: {e}")))?;
        Ok(HqClient {
            base,
            url,
            trust: trust.clone(),
            http,
        })
    }

    /// Whom this client trusts under `https://`, for the sync socket to trust the same.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// A request that failed on its way: a TLS failure, or headquarters unreachable.
    fn failed(&self, e: reqwest::Error) -> Error {
        Error::network(&self.base, &e)
    }

    /// Reads a JSON answer, turning an error answer into one line naming it.
    async fn answer<T: DeserializeOwned>(&self, r: reqwest::Response) -> Result<T> {
        let status = r.status();
        let unexpected = |why: String| Error::Unexpected {
            url: self.base.clone(),
            why,
        };
        if status.is_success() {
            let body = match answer::body_at_most(r, answer::LARGEST_ANSWER).await {
                Ok(Some(body)) => body,
                Ok(None) => {
                    let most = answer::LARGEST_ANSWER >> 20;
                    return Err(unexpected(format!("an answer over {most} MiB")));
                }
                Err(e) => return Err(self.failed(e)),
            };
            return serde_json::from_slice(&body).map_err(|e| unexpected(e.to_string()));
        }
        let retry_after = answer::retry_after(r.headers(), SystemTime::now());
        // An error's reason is a line: what is past its first bytes is not read.
        let body = answer::body_at_most(r, answer::LARGEST_REASON).await;
        let why = answer::reason(&body.ok().flatten().unwrap_or_default());
        match status.as_u16() {
            401 | 403 => Err(Error::Refused(why)),
            _ => Err(Error::Answered {
                status: status.to_string(),
                why,
                retry_after,
            }),
        }
    }

    /// Redeems a one-time enrolment code for a device writing as `actor` (hex).
    pub async fn enroll(&self, request: &EnrollRequest, limit: Duration) -> Result<EnrollResponse> {
        self.post(route::ENROLL, None, request, limit).await
    }

    /// Registers the ledgers `docs` (keys) as about to sync.
    pub async fn announce(
        &self,
        token: &str,
        docs: Vec<String>,
        limit: Duration,
    ) -> Result<AnnounceResponse> {
        let request = AnnounceRequest { docs };
        self.post(route::ANNOUNCE, Some(token), &request, limit)
            .await
    }

    /// The heads headquarters has projected of each ledger of the caller.
    pub async fn confirm(&self, token: &str, limit: Duration) -> Result<ConfirmResponse> {
        self.get(route::CONFIRM, token, limit).await
    }

    /// The ledgers headquarters refuses of those the caller may ask about (a hub: every
    /// till's), with why: `GET` of the confirmations `?only=refused`. A headquarters before
    /// it answers every ledger (those it refuses not, with no `refused`).
    pub async fn refused(&self, token: &str, limit: Duration) -> Result<Vec<ConfirmedDoc>> {
        let path = format!("{}?only=refused", route::CONFIRM);
        let answer: ConfirmResponse = self.get(&path, token, limit).await?;
        Ok(answer.docs)
    }

    /// The heads headquarters has projected of each ledger of the caller, once they are
    /// those of `wanted` or `wait` has passed (see [`ConfirmRequest`]).
    pub async fn confirm_waiting(
        &self,
        token: &str,
        wanted: &[WantedDoc],
        wait: Duration,
        limit: Duration,
    ) -> Result<ConfirmResponse> {
        let request = ConfirmRequest {
            docs: wanted.to_vec(),
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        let limit = wait.saturating_add(limit);
        self.post(route::CONFIRM, Some(token), &request, limit)
            .await
    }

    /// Every device headquarters knows, for a hub to authenticate tills with.
    pub async fn registry(&self, token: &str, limit: Duration) -> Result<Vec<DeviceEntry>> {
        self.get(route::REGISTRY, token, limit).await
    }

    /// [`HqClient::registry`] unless it is still the one tagged `held` (its `ETag`, which
    /// headquarters then answers `304 Not Modified`): the registry and its tag, or None
    /// when the one held is still headquarters'. A headquarters that tags nothing sends it
    /// whole each time.
    pub async fn registry_if_changed(
        &self,
        token: &str,
        held: Option<&str>,
        limit: Duration,
    ) -> Result<Option<(Vec<DeviceEntry>, Option<String>)>> {
        use reqwest::header::{ETAG, IF_NONE_MATCH};
        let mut request = self.authorized_get(route::REGISTRY, token);
        if let Some(tag) = held {
            request = request.header(IF_NONE_MATCH, tag);
        }
        let r = self.respond(request, limit).await?;
        if r.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let tag = r
            .headers()
            .get(ETAG)
            .and_then(|t| t.to_str().ok())
            .map(str::to_string);
        Ok(Some((self.answer(r).await?, tag)))
    }

    /// `POST`s the JSON `body` to `path`, with a device's or session's token when given.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl serde::Serialize,
        limit: Duration,
    ) -> Result<T> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request.json(body), limit).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        limit: Duration,
    ) -> Result<T> {
        self.send(self.authorized_get(path, token), limit).await
    }

    /// A `GET` of `path` with a device's token.
    fn authorized_get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Sends `request`, given `limit` to answer, and reads the answer.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        limit: Duration,
    ) -> Result<T> {
        let r = self.respond(request, limit).await?;
        self.answer(r).await
    }

    /// Sends `request`, given `limit` to answer: the answer, whatever its status.
    async fn respond(
        &self,
        request: reqwest::RequestBuilder,
        limit: Duration,
    ) -> Result<reqwest::Response> {
        request
            .timeout(limit)
            .send()
            .await
            .map_err(|e| self.failed(e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A server on 127.0.0.1 answering each of the first four connections' request with
    /// `answer`: its address, and how many connections it took.
    pub(crate) fn answering(answer: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let taken = Arc::new(AtomicUsize::new(0));
        let counted = taken.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (format!("http://{addr}"), taken)
    }

    /// A server on 127.0.0.1 answering its first connection with `head` and then a chunked
    /// body of `x` that goes on while the client reads (1 GiB at most; a write that waits 2 s
    /// ends it): its address, and how many bytes of body it wrote, sent once it stopped.
    fn answering_without_end(head: &'static str) -> (String, std::sync::mpsc::Receiver<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (done, written) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            let mut sent = 0;
            if stream.write_all(head.as_bytes()).is_ok() {
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                while sent < 1 << 30 && stream.write_all(chunk.as_bytes()).is_ok() {
                    sent += 0x10000;
                }
            }
            let _ = done.send(sent);
        });
        (format!("http://{addr}"), written)
    }

    #[tokio::test]
    async fn an_error_answer_without_end_is_read_no_further_than_a_reason_needs() {
        let (base, written) = answering_without_end(
            "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let client = HqClient::new(&base, &Trust::system().unwrap()).unwrap();
        let err = client
            .announce("T01.secret", vec![], Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "headquarters answered 500 Internal Server Error: no reason given"
        );
        // Nothing was read after the first 64 KiB: what the server wrote beyond them is what
        // the sockets' buffers held, not the gigabyte it had to send.
        let sent = written.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(sent < 64 << 20, "{sent} bytes sent");
    }

    /// An answer that goes on past 256 MiB (a broken or hostile headquarters) is refused,
    /// read no further: the server wrote what the client read and the sockets' buffers held.
    #[tokio::test]
    async fn an_answer_without_end_is_read_no_further_than_the_largest_answer() {
        let (base, written) =
            answering_without_end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let client = HqClient::new(&base, &Trust::system().unwrap()).unwrap();
        let err = client
            .announce("T01.secret", vec![], Duration::from_secs(120))
            .await
            .unwrap_err();
        assert!(err.to_string().ends_with("an answer over 256 MiB"), "{err}");
        let sent = written.recv_timeout(Duration::from_secs(120)).unwrap();
        let most = answer::LARGEST_ANSWER + (64 << 20);
        assert!(sent < most, "{sent} bytes sent");
    }

    /// Headquarters' answer to a client it holds too many connections of.
    pub(crate) const BUSY: &str = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\
        Content-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n\
        {\"error\":\"too busy\"}";

    #[tokio::test]
    async fn an_error_answer_is_told_with_its_reason_and_the_wait_it_asks_for() {
        let (base, _) = answering(BUSY);
        let client = HqClient::new(&base, &Trust::system().unwrap()).unwrap();
        let err = client
            .announce("T01.secret", vec![], Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            err.to_string(),
            "headquarters answered 503 Service Unavailable: too busy"
        );
    }

    #[tokio::test]
    async fn a_redirect_from_http_to_https_is_refused_naming_the_address_to_give() {
        let (base, _) = answering(
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://hq.example/api/v1/enroll\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let client = HqClient::new(&base, &Trust::system().unwrap()).unwrap();
        let err = client
            .enroll(
                &EnrollRequest {
                    code: "CODE".into(),
                    actor: "actor".into(),
                    again: None,
                    signing_key: None,
                    role: None,
                },
                Duration::from_secs(10),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("redirects to https://hq.example/api/v1/enroll")
                && err.contains("give its address as https://"),
            "{err}"
        );
    }
}
