//! Dashboard sessions that end (unused for `--session-idle`, or over `--session-max`) are
//! swept out of the database by the real `fairpos hq serve`, each written in the audit log
//! once, with why: on SQLite, and on PostgreSQL with two processes (through two data
//! directories) sweeping the same sessions at once. Their tokens are refused meanwhile and
//! after, and the audit log stays one hash chain. A session's use is written after its
//! request is answered, never waited for.

mod common;

use std::time::{Duration, Instant};

use common::api::Api;
use common::hq::{Hq, Server, PASSWORD};
use serde_json::Value;

/// Short lives: swept every 3 s. (Long enough that a session used every quarter of a
/// second stays live on two loaded cores.)
const LIMITS: [&str; 4] = ["--session-idle", "6s", "--session-max", "1h"];

#[test]
fn ended_sessions_are_swept_and_written_down_once_on_sqlite() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &LIMITS);
    ended_sessions_are_swept_and_written_down_once(&hq, vec![server]);
}

#[test]
fn ended_sessions_are_swept_and_written_down_once_by_two_processes_on_postgres() {
    let Some(url) = common::postgres::fresh_database("sessions_ended") else {
        return;
    };
    let (hq, joined) = (Hq::demo_on(&url), Hq::demo_on(&url));
    let first = Server::start(hq.data(), &LIMITS);
    let second = Server::start(joined.data(), &LIMITS);
    ended_sessions_are_swept_and_written_down_once(&hq, vec![first, second]);
}

/// The audit log's entries for ended sessions: `(actor, address, detail)` each.
fn ended(hq: &Hq) -> Vec<(String, String, String)> {
    let listed = hq.json(&["hq", "audit", "--json", "--action", "session ended"]);
    let field = |e: &Value, k: &str| e[k].as_str().unwrap().to_string();
    let entries = listed.as_array().unwrap().iter();
    entries
        .map(|e| (field(e, "actor"), field(e, "address"), field(e, "detail")))
        .collect()
}

/// Three organizer sessions opened through each of `servers`, used once and then left:
/// each is refused once unused for 6 s, and written down as ended, once, whichever process
/// swept it; a session in use meanwhile is kept.
fn ended_sessions_are_swept_and_written_down_once(hq: &Hq, servers: Vec<Server>) {
    let apis: Vec<Api> = servers.iter().map(|s| Api::new(&s.url)).collect();
    let tokens: Vec<(usize, String)> = (0..3)
        .flat_map(|_| apis.iter().enumerate())
        .map(|(i, api)| (i, api.token_of("organizer", PASSWORD).unwrap()))
        .collect();
    for (i, token) in &tokens {
        assert_eq!(apis[*i].fetch("/", Some(token), false).0, 200);
    }
    // One session kept in use meanwhile, as an organizer at work.
    let kept = apis[0].token_of("organizer", PASSWORD).unwrap();
    let in_use = |until: Instant| {
        while Instant::now() < until {
            assert_eq!(apis[0].fetch("/", Some(&kept), false).0, 200, "in use");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    // Each swept once unused for 6 s (and up to a sweep's 3 s more).
    let n = tokens.len();
    let until = Instant::now() + Duration::from_secs(30);
    while ended(hq).len() < n && Instant::now() < until {
        in_use(Instant::now() + Duration::from_millis(500));
    }
    // Two more sweeps of each process: nothing more is written.
    in_use(Instant::now() + Duration::from_secs(6));
    let written = ended(hq);
    let said = (
        "organizer".into(),
        "local".into(),
        "dashboard: unused for 6s".into(),
    );
    assert_eq!(written, vec![said; n]);
    for (i, token) in &tokens {
        for api in &apis {
            assert_eq!(api.fetch("/", Some(token), false).0, 401, "from server {i}");
        }
    }
    assert_eq!(apis[0].fetch("/", Some(&kept), false).0, 200);
    // Still one chain, the entries written by both processes.
    let verified = hq.json(&["hq", "audit", "verify", "--json"]);
    assert_eq!(verified["broken"], Value::Null, "{verified}");
    for server in servers {
        server.stop();
    }
}

/// An organizer's request is answered while the database's write lock is held elsewhere (as
/// the tills' syncs hold it in a storm), though its session's use is due to be written (at
/// most once a minute): the use is written after the answer, once the lock is let go.
#[test]
fn a_sessions_use_is_written_after_its_answer_never_waited_for() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &[]);
    let api = Api::new(&server.url);
    let token = api.token_of("organizer", PASSWORD).unwrap();
    let mut db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let last_seen = |db: &rusqlite::Connection| -> String {
        db.query_row("SELECT last_seen FROM sessions", [], |r| r.get(0))
            .unwrap()
    };
    // Last used ten minutes ago, as the server writes times.
    db.execute(
        "UPDATE sessions SET last_seen = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes')",
        [],
    )
    .unwrap();
    let planted = last_seen(&db);
    let writing = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let (status, report) = api.get("/api/v1/report?by=stall", Some(&token));
    assert_eq!(status, 200, "{report}");
    writing.rollback().unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while last_seen(&db) == planted && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(last_seen(&db) > planted, "the use was not written");
    server.stop();
}

/// A session the database cannot look up now (a busy pool, a failover: here its table
/// gone a moment) is headquarters' failure, not a logout: the page and the API answer 500
/// with JSON for the API, never 401 "please log in", which sent people to log in again and
/// scripts to throw a good token away; the same session holds once the database answers.
#[test]
fn a_session_the_database_cannot_look_up_now_is_no_logout() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &[]);
    let api = Api::new(&server.url);
    let token = api.token_of("organizer", PASSWORD).unwrap();
    let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("ALTER TABLE sessions RENAME TO sessions_away")
        .unwrap();
    let (status, said) = api.get("/api/v1/report?by=stall", Some(&token));
    assert_eq!(status, 500, "{said}");
    assert!(said["error"].is_string(), "{said}");
    let (status, _, page) = api.fetch("/", Some(&token), false);
    assert_eq!(status, 500, "{page}");
    assert!(!page.contains("Please log in"), "{page}");
    db.execute_batch("ALTER TABLE sessions_away RENAME TO sessions")
        .unwrap();
    let (status, report) = api.get("/api/v1/report?by=stall", Some(&token));
    assert_eq!(status, 200, "{report}");
    server.stop();
}

/// An organizer's sync socket (an automerge-repo client reads every document through it)
/// is closed once its session ends, here by a change of the account's password: the token
/// is checked again while the socket is open, not only when it opens.
#[test]
fn an_organizers_sync_socket_is_closed_once_its_session_ends() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &[]);
    let (runtime, mut socket) = organizer_socket(&server);
    hq.ok(&[
        "hq",
        "user",
        "passwd",
        "organizer",
        "--password",
        "another-organizer-password-42",
    ]);
    let started = Instant::now();
    let closed = closed_within(&runtime, &mut socket, 40);
    assert!(closed, "the socket outlived its session by 40 s");
    // Closed by the check (every 10 s), not by its idle limit (a minute at least).
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// A till's sync socket is closed once its token stops holding, also when its revocation
/// was never seen by the share policy's reading of revocations (revoked and added again
/// between two readings, which then named nothing): the token is checked again while the
/// socket is open.
#[test]
fn a_tills_sync_socket_is_closed_once_its_token_stops_holding() {
    let hq = Hq::demo();
    let code = hq.add_device("T01", "S01");
    let server = Server::start(hq.data(), &[]);
    let api = Api::new(&server.url);
    let enrolling = serde_json::json!({
        "code": code,
        "actor": "0123456789abcdef0123456789abcdef",
    });
    let (status, grant) = api.post("/api/v1/enroll", None, &enrolling);
    assert_eq!(status, 200, "{grant}");
    let token = format!("T01.{}", grant["secret"].as_str().unwrap());
    let (runtime, mut socket) = socket_with(&server, &token);
    // Revoked and added again at once: the device holds no secret, and is revoked no more.
    hq.ok(&["hq", "revoke-device", "T01"]);
    hq.add_device("T01", "S01");
    let closed = closed_within(&runtime, &mut socket, 60);
    assert!(closed, "the socket outlived its token by 60 s");
}

/// The socket's checks do not count as the session's use: a session unused for its idle
/// time (15 s here, set as a service's environment file sets it) ends with its socket open,
/// and the socket is closed.
#[test]
fn an_organizers_open_sync_socket_does_not_keep_an_idle_session_alive() {
    let hq = Hq::demo();
    let idle = [("FAIRPOS_HQ_SESSION_IDLE", "15s")];
    let server = Server::start_logging(hq.data(), &[], &idle, std::process::Stdio::inherit());
    let (runtime, mut socket) = organizer_socket(&server);
    let closed = closed_within(&runtime, &mut socket, 45);
    assert!(closed, "the idle session's socket stayed open");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A sync socket opened with an organizer's login at `server`, checked open (it answers a
/// ping), with the runtime it runs on.
fn organizer_socket(server: &Server) -> (tokio::runtime::Runtime, Socket) {
    let token = Api::new(&server.url)
        .token_of("organizer", PASSWORD)
        .unwrap();
    socket_with(server, &token)
}

/// A sync socket opened with `token` at `server`, checked open (it answers a ping), with
/// the runtime it runs on.
fn socket_with(server: &Server, token: &str) -> (tokio::runtime::Runtime, Socket) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!(
        "{}/sync?token={token}",
        server.url.replace("http://", "ws://")
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut socket, _) = runtime
        .block_on(tokio_tungstenite::connect_async(url.as_str()))
        .unwrap();
    let answered = runtime.block_on(async {
        socket
            .send(Message::Ping(b"there".to_vec().into()))
            .await
            .unwrap();
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(until, socket.next()).await {
                Ok(Some(Ok(Message::Pong(p)))) if &p[..] == b"there" => return true,
                Ok(Some(Ok(_))) => continue,
                _ => return false,
            }
        }
    });
    assert!(answered, "the sync socket is open");
    (runtime, socket)
}

/// Whether headquarters closes `socket` within `seconds` (read on, its pings answered).
fn closed_within(runtime: &tokio::runtime::Runtime, socket: &mut Socket, seconds: u64) -> bool {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    runtime.block_on(async {
        let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            match tokio::time::timeout_at(until, socket.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    })
}
