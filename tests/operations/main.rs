//! What whoever runs headquarters watches and does, against the real `fairpos hq serve`.
//!
//! - The free space on its data directory's disk: below `--min-free-disk` (or
//!   `FAIRPOS_HQ_MIN_FREE_DISK`) it logs one line naming the directory and both sizes,
//!   `/api/v1/health` says `"disk": "low"` and the organizers' overview says so at its top;
//!   with room, `"ok"`, no banner and nothing logged. The disk is this machine's, read as the
//!   server reads it; "low" comes from asking for more room than any disk has.
//! - Whether a process can serve, for a load balancer: `/api/v1/ready` follows its
//!   database. On PostgreSQL, reached through a TCP gate the test closes (every connection
//!   cut, new ones refused) and opens again, it turns 503 and back to 200, while
//!   `/api/v1/health` answers throughout; on SQLite likewise while the table it reads is
//!   renamed away by another connection to the file, and back.
//! - SQLite's writer held by another process past headquarters' wait: a request that writes
//!   is answered 503 with `Retry-After`, and goes through once the writer is let go.
//! - What a monitoring system scrapes from `--metrics-listen`, on both backends, against
//!   what a till's sync and an organizer's requests did; and the projection's backlog once a
//!   ledger can no longer be projected (a chunk torn while headquarters was stopped). Beside
//!   TLS, `/metrics` is served over TLS and, with `--metrics-token-file`, only to a scraper
//!   sending its token.
//! - A renewed TLS certificate, served after SIGHUP without a restart (on `/metrics`' listener
//!   too); files that do not make an identity are logged and the one served stays.

#[path = "../common/mod.rs"]
mod common;
mod metrics;
mod tls;

use std::fs::File;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::Api;
use common::hq::{Hq, Server};
use serde_json::Value;

/// The health answer's `disk`, and whether an organizer's overview shows the banner.
fn disk_as_served(url: &str) -> (String, bool) {
    let api = Api::new(url);
    let (status, health) = api.get("/api/v1/health", None);
    assert_eq!(status, 200);
    assert_eq!(health["role"], "hq", "{health}");
    let (status, ready) = api.get("/api/v1/ready", None);
    assert_eq!(
        (status, &ready["ready"]),
        (200, &Value::Bool(true)),
        "{ready}"
    );
    let (token, _) = api.login();
    let (status, _, overview) = api.fetch("/", Some(&token), false);
    assert_eq!(status, 200);
    assert!(
        overview.contains("id=\"tills\""),
        "not the overview:\n{overview}"
    );
    let disk = health["disk"].as_str().unwrap_or_default().to_string();
    (disk, overview.contains("id=\"disk-low\""))
}

#[test]
fn a_disk_short_of_room_is_logged_once_and_health_and_the_overview_say_so() {
    let hq = Hq::demo();
    let log_path = hq.data().join("serve.log");

    let server = Server::start_logging(
        hq.data(),
        &[],
        &[("FAIRPOS_HQ_MIN_FREE_DISK", "1000000000GiB")],
        File::create(&log_path).unwrap(),
    );
    assert_eq!(disk_as_served(&server.url), ("low".to_string(), true));
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("MiB free")).collect();
    assert_eq!(lines.len(), 1, "one line of it:\n{log}");
    assert!(
        lines[0].contains(&format!("the disk under {} has ", hq.data().display()))
            && lines[0].contains("MiB free, under --min-free-disk 1024000000000 MiB"),
        "{}",
        lines[0]
    );

    // With room: nothing logged.
    let server = Server::start_logging(
        hq.data(),
        &["--min-free-disk", "1KiB"],
        &[],
        File::create(&log_path).unwrap(),
    );
    assert_eq!(disk_as_served(&server.url), ("ok".to_string(), false));
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("MiB free"), "{log}");
}

#[test]
fn a_minimum_that_is_not_a_size_is_refused_in_one_line() {
    let hq = Hq::demo();
    let (_, stderr) = hq.serve_refused(&["--min-free-disk", "2GB"]);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--min-free-disk 2GB: a whole number and KiB, MiB or GiB"),
        "{stderr}"
    );
}

/// A TCP gate in front of `target`: while open, connections pass through both ways; closed,
/// every connection through it is cut and new ones are dropped as they come.
struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Gate {
    fn new(target: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate = Gate {
            addr: listener.local_addr().unwrap(),
            open: Arc::new(AtomicBool::new(true)),
            live: Arc::default(),
        };
        let (open, live) = (gate.open.clone(), gate.live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                live.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        gate
    }

    fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn reopen(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `GET /api/v1/ready` until its status is `want`, for up to 30 s; its last answer.
fn ready_until(api: &Api, want: u16) -> (u16, Value) {
    let since = Instant::now();
    loop {
        let answer = api.get("/api/v1/ready", None);
        if answer.0 == want || since.elapsed() > Duration::from_secs(30) {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ready_follows_whether_postgresql_answers_and_health_answers_throughout() {
    let Some(hq) = Hq::demo_postgres("ready") else {
        return;
    };
    // The database `hq init --database` recorded, reached through the gate instead.
    let url = hq.database_url().unwrap();
    let target: SocketAddr = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let gate = Gate::new(target);
    let through_gate = url.replace(&target.to_string(), &gate.addr.to_string());
    let server = Server::start(hq.data(), &["--database", &through_gate]);
    let api = Api::new(&server.url);
    assert_eq!(ready_until(&api, 200).0, 200);

    gate.close();
    let (status, answer) = ready_until(&api, 503);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["ready"], false);
    let why = answer["why"].as_str().unwrap();
    assert!(
        why == "the database failed to answer" || why.starts_with("the database did not answer"),
        "{answer}"
    );
    let (status, health) = api.get("/api/v1/health", None);
    assert_eq!((status, health["role"].as_str()), (200, Some("hq")));

    gate.reopen();
    let (status, answer) = ready_until(&api, 200);
    assert_eq!(
        (status, &answer["ready"]),
        (200, &Value::Bool(true)),
        "{answer}"
    );
    // And it serves from the database again: an organizer logs in.
    let (token, _) = api.login();
    assert!(!token.is_empty());
    server.stop();
}

#[test]
fn ready_follows_whether_sqlite_answers_and_health_answers_throughout() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &[], &[], File::create(&log).unwrap());
    let api = Api::new(&server.url);
    assert_eq!(ready_until(&api, 200).0, 200);
    // The table readiness reads taken away from under the server by another connection
    // to its file, as a database that can no longer answer.
    let file = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    file.busy_timeout(Duration::from_secs(10)).unwrap();
    file.execute_batch("ALTER TABLE meta RENAME TO meta_away")
        .unwrap();
    let (status, answer) = ready_until(&api, 503);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["ready"], false);
    // In general words: the database's own error (which may name hosts, users and files)
    // goes to the log, not to whoever asks.
    assert_eq!(answer["why"], "the database failed to answer", "{answer}");
    let said = common::text_with_line(&log, "not ready: the database", Duration::from_secs(10));
    assert!(said.contains("no such table: meta"), "{said}");
    let (status, health) = api.get("/api/v1/health", None);
    assert_eq!((status, health["role"].as_str()), (200, Some("hq")));
    file.execute_batch("ALTER TABLE meta_away RENAME TO meta")
        .unwrap();
    let (status, answer) = ready_until(&api, 200);
    assert_eq!(
        (status, &answer["ready"]),
        (200, &Value::Bool(true)),
        "{answer}"
    );
    server.stop();
}

/// SQLite's writer held by another process longer than headquarters waits for it (10 s: a
/// backup's copy, `sqlite3` left at a prompt inside a transaction): a request that must
/// write is answered 503 with `Retry-After` and the database said busy, not 500 "database
/// is locked"; the code it tried to use is not spent, and once the writer is let go the
/// same request goes through.
#[test]
fn a_writer_held_by_another_process_is_answered_busy_and_the_request_then_goes_through() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &[], &[], File::create(&log).unwrap());
    let api = Api::new(&server.url);
    let code = hq.add_device("T01", "S01");
    let enrolment = serde_json::json!({
        "code": code,
        "actor": fairpos_sync::ActorId::random().to_hex_string(),
        "role": "till",
    });
    let holder = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, retry_after, answer) = api.post_retry_after("/api/v1/enroll", &enrolment);
    assert_eq!((status, retry_after.as_str()), (503, "2"), "{answer}");
    let said = answer["error"].as_str().unwrap();
    assert!(said.starts_with("the database is busy"), "{answer}");
    // Reads go on beside the held writer (WAL).
    assert_eq!(api.get("/api/v1/health", None).0, 200);
    holder.execute_batch("ROLLBACK").unwrap();
    let (status, _, answer) = api.post_retry_after("/api/v1/enroll", &enrolment);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["device"], "T01", "{answer}");
    server.stop();
}
