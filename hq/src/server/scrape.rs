//! `hq serve --metrics-listen ADDR`: `GET /metrics` on a listener of its own, for the
//! province's monitoring network ([`crate::metrics`]): over TLS with the server's own
//! certificate when it has one (renewed with it on SIGHUP), else plain HTTP; asking for a
//! bearer token when `--metrics-token-file` gives one (wrong ones counted per address, and
//! refused past a limit, as logins are). And the middleware that counts every
//! request the main listener answers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::metrics::{Now, PoolStatus, UNMATCHED};
use crate::quiet_log::QuietLog;
use crate::state::AppState;
use crate::throttle::Attempt;
use crate::{Error, Result};

/// Where a monitoring system scrapes.
pub const METRICS: &str = "/metrics";

/// Counts `request` by the route it matched once it is answered, with how long it took.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_string();
    let response = next.run(request).await;
    state.metrics.answered(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// What a scrape reads: the server's state, and the database's figures as last read.
#[derive(Clone)]
struct Scraped {
    state: AppState,
    identity: Option<Arc<super::tls::Identity>>,
    database: Arc<RwLock<DatabaseRead>>,
    token: Option<Arc<Token>>,
    /// Refused scrapes' lines, at most one a minute.
    refusals: Arc<QuietLog>,
}

/// The bearer token a scraper must send (`Authorization: Bearer …`), as
/// `--metrics-token-file` holds it, read again by [`Token::reload`]. The file may hold
/// several, one per line, any of which is taken: a token is changed without a refused scrape
/// by adding the new one, moving the scrapers to it, then removing the old one. Its `Debug`
/// does not show them.
pub struct Token {
    /// The file, as named to `--metrics-token-file`.
    pub file: PathBuf,
    asked: RwLock<Vec<String>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(in {})", self.file.display())
    }
}

/// The fewest characters a token may have.
const SHORTEST_TOKEN: usize = 16;

impl Token {
    /// The tokens in `file`, one per line, the whitespace around each trimmed (as Prometheus
    /// reads its `credentials_file`, which holds one): each one word of at least
    /// [`SHORTEST_TOKEN`] visible ASCII characters.
    pub fn read(file: &Path) -> Result<Token> {
        Ok(Token {
            file: file.to_path_buf(),
            asked: RwLock::new(tokens_in(file)?),
        })
    }

    /// Reads the file again and asks for what it holds from the next scrape on; how many
    /// tokens it holds. On an error the tokens asked for stay.
    pub fn reload(&self) -> Result<usize> {
        let read = tokens_in(&self.file)?;
        let count = read.len();
        // A poisoned lock still holds whole tokens: each write replaces them in one step.
        *self.asked.write().unwrap_or_else(|e| e.into_inner()) = read;
        Ok(count)
    }

    /// Whether `headers` carry one of these tokens, as `Authorization: Bearer TOKEN` (the
    /// scheme's case aside, RFC 9110), each compared in time that says nothing of where a
    /// wrong one differs, and every one compared.
    fn is_in(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, sent)) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        let asked = self.asked.read().unwrap_or_else(|e| e.into_inner());
        let sent = sent.trim_start();
        let matched = asked.iter().fold(false, |found, token| {
            fairpos_sync::keys::same_secret(sent, token) | found
        });
        scheme.eq_ignore_ascii_case("Bearer") && matched
    }
}

/// The most a token file may hold, in bytes: more is not a token file.
const LARGEST_TOKEN_FILE: u64 = 4096;

/// The tokens `file` holds ([`Token::read`]).
fn tokens_in(file: &Path) -> Result<Vec<String>> {
    let bad = |why: String| Error::input(format!("--metrics-token-file {}: {why}", file.display()));
    let bytes = crate::untrusted::read_at_most(file, LARGEST_TOKEN_FILE)
        .map_err(|e| bad(format!("cannot read it: {e}")))?
        .ok_or_else(|| bad(format!("over {LARGEST_TOKEN_FILE} bytes: not a token file")))?;
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut tokens = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() {
            continue;
        }
        let at = |why: String| bad(format!("line {}: {why}", number + 1));
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(at(
                "a token is one word of visible ASCII characters, one per line (openssl rand \
                 -hex 32)"
                    .into(),
            ));
        }
        if token.len() < SHORTEST_TOKEN {
            return Err(at(format!(
                "{} characters; a token needs at least {SHORTEST_TOKEN} (openssl rand -hex 32)",
                token.len()
            )));
        }
        tokens.push(token.to_string());
    }
    if tokens.is_empty() {
        return Err(bad("it holds no token (openssl rand -hex 32 > FILE)".into()));
    }
    Ok(tokens)
}

/// Who may scrape `/metrics`, and how: over TLS (the main listener's configuration, so a
/// renewed certificate is served on both) or not, with a token or without.
#[derive(Clone, Debug)]
pub struct MetricsAccess {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The certificate served (`--tls-cert`), whose expiry a scrape reports.
    pub identity: Option<Arc<super::tls::Identity>>,
    pub token: Option<Arc<Token>>,
    /// `--request-head-timeout` and `--send-timeout`, as on the main listener.
    pub limits: super::http::ClientLimits,
    /// `--max-connections-per-address`, counted with the main listener's connections.
    pub cap: Arc<super::per_address::AddressCap>,
}

/// The database's figures as last read ([`read_database`]).
#[derive(Clone, Copy, Debug, Default)]
struct DatabaseRead {
    bytes: Option<u64>,
    backlog: Option<u64>,
    /// When the backlog was read.
    backlog_read: Option<Instant>,
}

impl DatabaseRead {
    /// The backlog, unless it was read longer than [`BACKLOG_STALE`] ago (the reading task
    /// stuck, or gone): an old figure would hide a projection falling behind.
    fn backlog(&self) -> Option<u64> {
        self.backlog_read
            .filter(|at| at.elapsed() < BACKLOG_STALE)
            .and(self.backlog)
    }
}

/// How long the database's size may take to read; the size read before stays meanwhile.
const SIZE_WAIT: Duration = Duration::from_secs(2);

/// How long PostgreSQL itself lets the backlog's statement run (over a season's 150 000
/// ledgers about a second here: `fairpos-bench backlog`): past it the server cancels it
/// (and the series goes), so the connection goes back to the pool free. The wait for the
/// connection is organizers' pool's own.
const BACKLOG_STATEMENT: Duration = Duration::from_secs(10);

/// How old a backlog a scrape still serves: a reading every [`DATABASE_EVERY`], each taking
/// at most the pool's wait and [`BACKLOG_STATEMENT`], with room to spare.
const BACKLOG_STALE: Duration = Duration::from_secs(60);

/// How often the database's figures are read, beside the scrapes (which never wait for
/// them): each reading reads every announced ledger's chunk keys (for the backlog) and, on
/// PostgreSQL, takes one of organizers' connections.
const DATABASE_EVERY: Duration = Duration::from_secs(15);

/// Binds `--metrics-listen`'s address, before the server starts its work.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::input(format!("--metrics-listen {addr}: {e}")))
}

/// Serves scrapes on `listener` of the server serving `dir`, as `access` says; the URL
/// scrapes are served at, for the line `hq serve` prints. It stops with the server.
pub fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    dir: &Path,
    access: MetricsAccess,
) -> Result<String> {
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?;
    let mut stopping = state.stopping.clone();
    let database: Arc<RwLock<DatabaseRead>> = Arc::default();
    let reading = read_database(state.clone(), dir.to_path_buf(), database.clone());
    let app = Router::new()
        .route(METRICS, get(scrape))
        .with_state(Scraped {
            state,
            identity: access.identity,
            database,
            token: access.token,
            refusals: QuietLog::told_when_due(),
        });
    let scheme = if access.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let listener = match access.tls {
        Some(config) => Either::Left(
            super::tls::listener(listener, config, None, access.cap.metrics())
                .map_err(|e| Error::Other(format!("metrics listener: {e}")))?,
        ),
        None => Either::Right(listener),
    };
    tokio::spawn(reading);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        let (limits, cap) = (access.limits, access.cap);
        match listener {
            Either::Left(tls) => super::http::serve(tls, app, limits, cap, stopped).await,
            Either::Right(plain) => super::http::serve(plain, app, limits, cap, stopped).await,
        }
    });
    Ok(format!("{scheme}://{bound}{METRICS}"))
}

/// Logs a scrape refused for its address's wrong tokens, at most once a minute (a refused
/// Prometheus comes back every few seconds; the refused scrapes are counted all the same).
fn tell_refused(refusals: &QuietLog, from: SocketAddr, seconds: u64) {
    let line = format!(
        "scrapes from {} refused: too many wrong tokens, {seconds} s to wait (logged at most \
         once a minute)",
        from.ip()
    );
    refusals.write("refused".into(), line);
}

/// One listener or the other.
enum Either<L, R> {
    Left(L),
    Right(R),
}

/// The metrics, in OpenMetrics when the scraper asks for it (`Accept`), else in Prometheus'
/// text format.
async fn scrape(
    State(scraped): State<Scraped>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = &scraped.token {
        // Wrong tokens are counted per address, as logins are: past the limit, every scrape
        // from there is refused until the window moves on, the right token's too (or a
        // guesser would learn the right one by the answer).
        let attempt = match Attempt::scrape(&scraped.state.throttle, from.ip()).await {
            Ok(attempt) => attempt,
            Err(refused) => {
                scraped.state.metrics.scrape_refused();
                tell_refused(&scraped.refusals, from, refused.seconds);
                let wait = format!(
                    "too many scrapes with a wrong token: try again in {} s\n",
                    refused.seconds
                );
                return (StatusCode::TOO_MANY_REQUESTS, refused.retry_after(), wait)
                    .into_response();
            }
        };
        if !token.is_in(&headers) {
            attempt.failed();
            scraped.state.metrics.scrape_refused();
            let asks = [(header::WWW_AUTHENTICATE, "Bearer realm=\"fairpos metrics\"")];
            return (StatusCode::UNAUTHORIZED, asks, "a bearer token is needed\n").into_response();
        }
        attempt.succeeded().await;
    }
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let database = *scraped.database.read().unwrap_or_else(|e| e.into_inner());
    let state = scraped.state;
    let pools = [
        ("sync", &state.pg),
        ("organizers", &state.pg_organizers),
        ("ready", &state.pg_ready),
    ];
    let now = Now {
        disk_free: state.disk.free(),
        disk_min_free: state.disk.min_free(),
        disk_low: state.disk.is_low(),
        screens: *state.screen_watchers.count().borrow(),
        pools: pools
            .into_iter()
            .filter_map(|(name, pool)| {
                let status = pool.as_ref()?.status();
                Some((
                    name,
                    PoolStatus {
                        max: status.max_size,
                        open: status.size,
                        idle: status.available,
                        waiting: status.waiting,
                    },
                ))
            })
            .collect(),
        database_bytes: database.bytes,
        backlog: database.backlog(),
        tls_expires: scraped.identity.as_ref().and_then(|i| {
            let expires = i.expires()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(expires.as_secs())
        }),
    };
    match state.metrics.encode(&now, openmetrics) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                crate::metrics::content_type(openmetrics),
            )],
            text,
        )
            .into_response(),
        Err(e) => crate::web::failure(crate::Error::Other(format!("metrics: {e}"))),
    }
}

/// Reads the database's size and the projection's backlog into `database`, again
/// [`DATABASE_EVERY`] after each reading ends, until the server stops: a scrape never waits
/// for the database (over a season's ledgers the backlog takes a second to count). Until the
/// first reading, neither has a series. A failed read of the size leaves the size read
/// before; of the backlog, none.
async fn read_database(state: AppState, dir: PathBuf, database: Arc<RwLock<DatabaseRead>>) {
    let mut stopping = state.stopping.clone();
    loop {
        let (bytes, backlog) = tokio::join!(database_size(&state, &dir), backlog(&state));
        {
            let mut read = database.write().unwrap_or_else(|e| e.into_inner());
            read.bytes = bytes.or(read.bytes);
            // Not the backlog before: a read failing is when a projection may be falling
            // behind, and an old figure would hide it. Its series goes instead.
            read.backlog = backlog;
            read.backlog_read = Some(Instant::now());
        }
        tokio::select! {
            _ = tokio::time::sleep(DATABASE_EVERY) => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// The projection's backlog ([`crate::project::backlog`] on a read connection, or
/// PostgreSQL's [`fairpos_postgres::ledgers::backlog`] on organizers' pool, its statement
/// [`BACKLOG_STATEMENT`] at most); `None` when it cannot be read. Not cut short here: a read
/// dropped midway would go on (SQLite's on its blocking thread, PostgreSQL's statement on a
/// connection back in the pool).
async fn backlog(state: &AppState) -> Option<u64> {
    let waiting = match &state.pg_organizers {
        Some(pool) => fairpos_postgres::ledgers::backlog(pool, BACKLOG_STATEMENT)
            .await
            .map_err(|e| e.to_string()),
        None => state
            .readers
            .read(crate::project::backlog)
            .await
            .map_err(|e| e.to_string()),
    };
    match waiting {
        Ok(waiting) => u64::try_from(waiting).ok(),
        Err(e) => {
            eprintln!("metrics: the projection's backlog: {e}");
            None
        }
    }
}

/// The database's size: PostgreSQL's (asked on organizers' pool, [`SIZE_WAIT`] at most), or
/// SQLite's file and its log in `dir`; `None` when it cannot be read.
async fn database_size(state: &AppState, dir: &Path) -> Option<u64> {
    let Some(pool) = &state.pg_organizers else {
        let size = |name: String| std::fs::metadata(dir.join(name)).map(|m| m.len());
        // The log may be absent (checkpointed and removed); the database may not.
        let database = size(crate::HQ_DB.to_string()).ok()?;
        let log = size(format!("{}-wal", crate::HQ_DB)).unwrap_or(0);
        return Some(database + log);
    };
    let asked = async {
        let client = pool.get().await.ok()?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .ok()?;
        u64::try_from(row.get::<_, i64>(0)).ok()
    };
    tokio::time::timeout(SIZE_WAIT, asked).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(asked: &str) -> Token {
        Token {
            file: PathBuf::from("metrics.token"),
            asked: RwLock::new(asked.split(' ').map(str::to_string).collect()),
        }
    }

    fn authorized(token: &Token, authorization: &[u8]) -> bool {
        let mut headers = HeaderMap::new();
        let value = axum::http::HeaderValue::from_bytes(authorization).unwrap();
        headers.insert(header::AUTHORIZATION, value);
        token.is_in(&headers)
    }

    #[test]
    fn a_token_is_taken_as_a_bearer_credential_and_nothing_else() {
        let t = token("9f86d081884c7d659a2feaa0c55ad015");
        for sent in [
            "Bearer 9f86d081884c7d659a2feaa0c55ad015",
            "bearer 9f86d081884c7d659a2feaa0c55ad015",
            "BEARER  9f86d081884c7d659a2feaa0c55ad015 ",
        ] {
            assert!(authorized(&t, sent.as_bytes()), "{sent}");
        }
        for sent in [
            &b"Bearer 9f86d081884c7d659a2feaa0c55ad01"[..],
            b"Bearer 9f86d081884c7d659a2feaa0c55ad0150",
            b"Basic 9f86d081884c7d659a2feaa0c55ad015",
            b"9f86d081884c7d659a2feaa0c55ad015",
            b"Bearer",
            b"Bearer ",
            b"Bearer \xe9\x9a\x8f",
        ] {
            assert!(!authorized(&t, sent), "{}", String::from_utf8_lossy(sent));
        }
        assert!(!t.is_in(&HeaderMap::new()), "no header");
        assert!(!format!("{t:?}").contains("9f86"), "Debug shows no token");

        // Two while one is changed: either is taken, nothing else.
        let both = token("9f86d081884c7d659a2feaa0c55ad015 60303ae22b998861bce3b28f33eec1be");
        assert!(authorized(
            &both,
            b"Bearer 9f86d081884c7d659a2feaa0c55ad015"
        ));
        assert!(authorized(
            &both,
            b"Bearer 60303ae22b998861bce3b28f33eec1be"
        ));
        assert!(!authorized(
            &both,
            b"Bearer 60303ae22b998861bce3b28f33eec1b"
        ));
        assert!(!authorized(
            &both,
            b"Bearer 9f86d081884c7d659a2feaa0c55ad015 60303ae22b998861bce3b28f33eec1be"
        ));
    }

    #[test]
    fn a_backlog_read_too_long_ago_is_not_served() {
        let read_at = |ago: u64| DatabaseRead {
            bytes: Some(1),
            backlog: Some(3),
            backlog_read: Instant::now().checked_sub(Duration::from_secs(ago)),
        };
        assert_eq!(read_at(0).backlog(), Some(3));
        assert_eq!(read_at(59).backlog(), Some(3));
        assert_eq!(read_at(61).backlog(), None);
        assert_eq!(DatabaseRead::default().backlog(), None, "never read");
    }

    #[test]
    fn a_token_file_holds_one_word_of_sixteen_visible_characters_or_more() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metrics.token");
        let read = |text: &[u8]| {
            std::fs::write(&file, text).unwrap();
            Token::read(&file).map(|t| t.asked.into_inner().unwrap())
        };
        assert_eq!(
            read(b"  9f86d081884c7d659a2feaa0c55ad015\n").unwrap(),
            ["9f86d081884c7d659a2feaa0c55ad015"]
        );
        // While a token is changed: the old and the new, one per line.
        assert_eq!(
            read(b"9f86d081884c7d659a2feaa0c55ad015\r\n\n  60303ae22b998861bce3b28f33eec1be\n")
                .unwrap(),
            [
                "9f86d081884c7d659a2feaa0c55ad015",
                "60303ae22b998861bce3b28f33eec1be"
            ]
        );
        for (text, why) in [
            (
                &b"short\n"[..],
                "line 1: 5 characters; a token needs at least 16",
            ),
            (
                b"9f86d081884c7d659a2feaa0c55ad015\nshort\n",
                "line 2: 5 characters",
            ),
            (
                b"two words of a token\n",
                "one word of visible ASCII characters",
            ),
            (b"\n \n", "it holds no token"),
            (
                "随机的口令是十六个汉字以上的一个词".as_bytes(),
                "visible ASCII",
            ),
            (b"\xff\xfe not UTF-8 at all", "cannot read it"),
            (&[b'a'; 5000][..], "over 4096 bytes"),
        ] {
            let e = read(text).unwrap_err().to_string();
            assert!(e.starts_with("--metrics-token-file "), "{e}");
            assert!(e.contains(why), "{e}");
        }
    }
}
