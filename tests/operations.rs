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

mod common;

use std::fs::File;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::hq::{Api, Hq, Server};
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

/// Runs `sql` on headquarters' database (PostgreSQL's through `psql`, or SQLite's file):
/// the first column of its first row as text, empty if it gives none.
fn on_database(hq: &Hq, sql: &str) -> String {
    let local = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    if let Some(url) = hq.database_url() {
        let psql = std::process::Command::new("psql")
            .args([&url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .unwrap();
        assert!(psql.status.success(), "{psql:?}");
        return String::from_utf8(psql.stdout).unwrap().trim().to_string();
    }
    let mut statement = local.prepare(sql).unwrap();
    let mut rows = statement.query([]).unwrap();
    let Some(row) = rows.next().unwrap() else {
        return String::new();
    };
    match row.get_ref(0).unwrap() {
        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
        rusqlite::types::ValueRef::Text(text) => String::from_utf8(text.to_vec()).unwrap(),
        other => panic!("{sql} gave {other:?}"),
    }
}

/// The projection's backlog, read from headquarters' database as `/metrics` reads it, once it
/// is 0 or 10 s have passed.
fn backlog_settled(hq: &Hq) -> usize {
    let since = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pool = hq
        .database_url()
        .map(|url| fairpos_postgres::connect(&url).unwrap());
    loop {
        let waiting = match &pool {
            Some(pool) => runtime
                .block_on(fairpos_postgres::ledgers::backlog(
                    pool,
                    Duration::from_secs(10),
                ))
                .unwrap(),
            None => {
                let conn = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
                fairpos_hq::project::backlog(&conn).unwrap()
            }
        };
        if waiting == 0 || since.elapsed() > Duration::from_secs(10) {
            return waiting;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records headquarters' projection holds, counted in its database.
fn records_held(hq: &Hq) -> f64 {
    on_database(hq, "SELECT count(*) FROM records")
        .parse()
        .unwrap()
}

/// Stores a chunk that is not Automerge in T01's ledger, as a torn write would leave it
/// (headquarters stopped), first in the order its chunks load: the ledger can no longer be
/// projected. (After a whole snapshot, Automerge would pass it over.)
fn tear_t01s_ledger(hq: &Hq) {
    let doc = on_database(
        hq,
        "SELECT doc_id FROM hq_docs WHERE device = 'T01' LIMIT 1",
    );
    assert!(!doc.is_empty(), "T01 announced its ledger");
    let torn = "856f4a83206e6f74206120646f63756d656e74";
    let bytes = if hq.on_postgres() {
        format!("decode('{torn}', 'hex')")
    } else {
        format!("X'{torn}'")
    };
    on_database(
        hq,
        &format!("INSERT INTO samod_kv(key, bytes) VALUES ('{doc}/snapshot/!torn', {bytes})"),
    );
}

/// A till enrols and syncs a morning's sales, an organizer's tool asks for health three
/// times and for a page that is not there; the scrape says so, in both formats.
fn metrics_follow_what_the_server_does(hq: &Hq, backend: &str) {
    let server = Server::start(hq.data(), &["--metrics-listen", "127.0.0.1:0"]);
    let scraped_at = server
        .metrics
        .clone()
        .expect("a line saying where metrics are");
    let monitor = Api::new(scraped_at.strip_suffix("/metrics").unwrap());
    let api = Api::new(&server.url);
    let scrape = || monitor.get_accepting("/metrics", "text/plain").2;
    let value = |text: &str, series: &str| {
        fairpos_hq::metrics::sample(text, &format!("fairpos_hq_{series}"))
    };

    // Metrics only there, and nothing but metrics there.
    assert_eq!(api.get_text("/metrics").0, 404);
    assert_eq!(monitor.get_text("/").0, 404);
    let before = scrape();
    assert_eq!(
        value(&before, "sync_connections_total"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(value(&before, "projection_records_total"), Some(0.0));

    let mut till = common::Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    common::morning::t01_morning(&mut till);
    till.synced();
    // An afternoon synced sale by sale: headquarters' samod compacts the ledger's chunks (a
    // snapshot, then the chunks it holds deleted), which leaves it out of the backlog.
    till.at("13:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    for _ in 0..12 {
        till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
        till.synced();
    }
    let ledger = on_database(
        hq,
        "SELECT doc_id FROM hq_docs WHERE device = 'T01' LIMIT 1",
    );
    let chunks: usize = on_database(
        hq,
        &format!("SELECT count(*) FROM samod_kv WHERE key LIKE '{ledger}/%'"),
    )
    .parse()
    .unwrap();
    assert!(chunks < 12, "compacted: {chunks} chunks");
    // Read while this process runs (a new one would take the ledger at its start again).
    assert_eq!(
        backlog_settled(hq),
        0,
        "the compacted ledger is not left waiting"
    );
    for _ in 0..3 {
        assert_eq!(api.get("/api/v1/health", None).0, 200);
    }
    let (status, page) = api.get_text("/no/such/page");
    assert_eq!(status, 404);
    assert!(page.contains("Not found"), "a page saying so: {page}");

    // The till's connection closes, and this process counts what it projected, once the
    // sync has ended.
    let held = records_held(hq);
    assert!(held > 0.0);
    let since = Instant::now();
    let text = loop {
        let text = scrape();
        let settled = value(&text, "sync_connections_open") == Some(0.0)
            && value(&text, "projection_records_total") == Some(held);
        if settled || since.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(value(&text, "sync_connections_open"), Some(0.0), "{text}");
    assert_eq!(
        value(&text, "projection_records_total"),
        Some(held),
        "{text}"
    );
    // Every pass that took documents was timed.
    assert_eq!(
        value(&text, "projection_pass_duration_seconds_count"),
        value(&text, "projection_passes_total"),
        "{text}"
    );
    let at_least_one = [
        "sync_connections_total",
        "sync_received_bytes_total",
        "sync_sent_bytes_total",
        "projection_passes_total",
        "projection_ledgers_total",
        r#"http_requests_total{method="POST",route="/api/v1/enroll",status="200"}"#,
        r#"http_requests_total{method="GET",route="/sync",status="101"}"#,
        "disk_free_bytes",
        "database_size_bytes",
    ];
    for series in at_least_one {
        assert!(value(&text, series) >= Some(1.0), "{series}:\n{text}");
    }
    for (series, want) in [
        ("projection_failures_total", 0.0),
        ("projection_refused_total", 0.0),
        (
            r#"http_requests_total{method="GET",route="/api/v1/health",status="200"}"#,
            3.0,
        ),
        (
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
            2.0,
        ),
        ("disk_min_free_bytes", (2u64 << 30) as f64),
        ("disk_low", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}:\n{text}");
    }
    let build = format!(
        r#"build_info{{version="{}",role="hq",backend="{backend}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build), Some(1.0), "{text}");
    let pools = [
        ("sync", None),
        ("organizers", Some(4.0)),
        ("ready", Some(1.0)),
    ];
    for (pool, max) in pools {
        let series = format!(r#"db_connections_max{{pool="{pool}"}}"#);
        match (backend, max) {
            ("postgres", Some(max)) => assert_eq!(value(&text, &series), Some(max), "{text}"),
            ("postgres", None) => assert!(value(&text, &series) >= Some(1.0), "{text}"),
            _ => assert_eq!(value(&text, &series), None, "no pools on SQLite:\n{text}"),
        }
    }

    // As Prometheus asks by default, and as OpenMetrics when asked for it.
    let (status, kind, _) = monitor.get_accepting("/metrics", "text/plain");
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
    let (status, kind, openmetrics) = monitor.get_accepting("/metrics", accept);
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    server.stop();

    // The backlog, as a new process first reads it: none once every ledger is projected;
    // one once a ledger can no longer be projected.
    let backlog_at_start = || {
        let server = Server::start(hq.data(), &["--metrics-listen", "127.0.0.1:0"]);
        let at = server.metrics.clone().unwrap();
        let monitor = Api::new(at.strip_suffix("/metrics").unwrap());
        // Read beside the scrapes, as soon as the process starts: there within 10 s.
        let since = Instant::now();
        let backlog = loop {
            let text = monitor.get_accepting("/metrics", "text/plain").2;
            let backlog = value(&text, "projection_backlog_ledgers");
            if backlog.is_some() || since.elapsed() > Duration::from_secs(10) {
                break backlog;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        server.stop();
        backlog
    };
    assert_eq!(backlog_at_start(), Some(0.0));
    tear_t01s_ledger(hq);
    assert_eq!(backlog_at_start(), Some(1.0));
    assert_eq!(records_held(hq), held, "nothing of it is lost");

    // Off unless asked for.
    let server = Server::start(hq.data(), &[]);
    assert_eq!(server.metrics, None);
    server.stop();
}

#[test]
fn metrics_for_monitoring_follow_a_sqlite_headquarters() {
    metrics_follow_what_the_server_does(&Hq::demo(), "sqlite");
}

#[test]
fn metrics_for_monitoring_follow_a_postgresql_headquarters() {
    let Some(hq) = Hq::demo_postgres("metrics") else {
        return;
    };
    metrics_follow_what_the_server_does(&hq, "postgres");
}

/// The issuer of the certificate served at `addr`, as `openssl s_client` receives it.
fn served_issuer(addr: SocketAddr) -> String {
    let openssl = |args: &[&str], input: &[u8]| {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let connect = addr.to_string();
    let shown = openssl(&["s_client", "-connect", &connect], b"");
    String::from_utf8(openssl(&["x509", "-noout", "-issuer"], &shown)).unwrap()
}

/// Where `server` serves `/metrics` (host and port).
fn metrics_address(server: &Server) -> SocketAddr {
    let url = server
        .metrics
        .as_deref()
        .expect("a line saying where metrics are");
    let (_, at) = url.split_once("://").unwrap();
    at.strip_suffix("/metrics").unwrap().parse().unwrap()
}

/// `GET path` from `at` over TLS, trusting only the certificate authority `ca` (and checking
/// the certificate is for 127.0.0.1), with `authorization` if given, by `openssl s_client`:
/// the whole HTTP answer, empty if the certificate does not verify.
fn https_get(at: SocketAddr, ca: &std::path::Path, path: &str, authorization: &str) -> String {
    use std::io::Write;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n");
    if !authorization.is_empty() {
        request.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    let connect = at.to_string();
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &connect])
        .args(["-CAfile", common::tls::path(ca), "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `/metrics` over TLS asks for `--metrics-token-file`'s token: a scraper without it, or with
/// another, is answered 401 and sees no figure; plain HTTP gets no answer there. SIGHUP reads
/// the file again: a new token is asked for (the old one too while the file holds both), a
/// file without one is logged and changes nothing.
/// A token file that does not hold a token stops `hq serve` in one line, and a token without
/// `--metrics-listen` is refused.
#[test]
fn metrics_over_tls_are_served_only_with_the_token() {
    use common::tls::{certificates, path};
    let hq = Hq::demo();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path(), "monitoring");
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let token_file = certs.path().join("metrics.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let tls = ["--tls-cert", path(&cert), "--tls-key", path(&key)];
    let metrics = ["--metrics-listen", "127.0.0.1:0"];
    let mut args = [&tls[..], &metrics[..]].concat();
    args.extend(["--metrics-token-file", path(&token_file)]);
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    let url = server.metrics.clone().unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let at = metrics_address(&server);

    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {token}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let build = r#"fairpos_hq_build_info{version="#;
    assert!(answer.contains(build), "{answer}");
    let wrong = format!("Bearer {}0", &token[..token.len() - 1]);
    for authorization in ["", wrong.as_str(), token] {
        let answer = https_get(at, &ca, "/metrics", authorization);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{authorization}: {answer}"
        );
        let asks = "www-authenticate: Bearer realm=\"fairpos metrics\"";
        assert!(
            answer.to_lowercase().contains(&asks.to_lowercase()),
            "{answer}"
        );
        assert!(!answer.contains("fairpos_hq_"), "{answer}");
    }
    // Plain HTTP is not answered there.
    let answered = common::hq::answer_to_raw(
        at,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(!answered.starts_with(b"HTTP/"), "{answered:?}");

    // A new token, read on SIGHUP: asked for from the next scrape on. While it is changed
    // the file holds both, and either is taken (no scrape refused while the scrapers move
    // to the new one); then the new one alone, and the old one is refused.
    let renewed = "60303ae22b998861bce3b28f33eec1be";
    std::fs::write(&token_file, format!("{token}\n{renewed}\n")).unwrap();
    server.hang_up();
    let reloaded = "/metrics asks for any of the 2 tokens in";
    let logged = text_with(&log, reloaded);
    assert!(logged.contains(reloaded), "{logged}");
    assert!(logged.contains(path(&token_file)), "{logged}");
    let status = |token: &str| {
        let answer = https_get(at, &ca, "/metrics", &format!("Bearer {token}"));
        answer.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(status(token), "HTTP/1.1 200 OK");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    std::fs::write(&token_file, renewed).unwrap();
    server.hang_up();
    let reloaded = "/metrics asks for the token in";
    let logged = text_with(&log, reloaded);
    assert!(logged.contains(reloaded), "{logged}");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    assert_eq!(status(token), "HTTP/1.1 401 Unauthorized");
    // Every refusal counted: the three before SIGHUP, and the old token's after it.
    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {renewed}"));
    let refused = fairpos_hq::metrics::sample(&answer, "fairpos_hq_metrics_scrapes_refused_total");
    assert_eq!(refused, Some(4.0), "{answer}");
    // A file that holds no token then: logged, and the renewed token still asked for.
    std::fs::write(&token_file, "short").unwrap();
    server.hang_up();
    let logged = text_with(&log, "/metrics still asks for the token before");
    assert!(logged.contains("5 characters"), "{logged}");
    assert_eq!(status(renewed), "HTTP/1.1 200 OK");
    // Guessing: the right token forgot this address's wrong ones; 20 more wrong ones in
    // the window, and every scrape from here is refused (429, Retry-After), the right
    // token's too, and counted.
    for guess in 0..20 {
        assert_eq!(status(&format!("{guess:032}")), "HTTP/1.1 401 Unauthorized");
    }
    let answer = https_get(at, &ca, "/metrics", &format!("Bearer {renewed}"));
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    let refused = "scrapes from 127.0.0.1 refused: too many wrong tokens";
    let logged = text_with(&log, refused);
    assert!(logged.contains(refused), "{logged}");
    server.stop();

    let serve_refused = |token_file: &str| {
        let mut args = metrics.to_vec();
        args.extend(["--metrics-token-file", token_file]);
        hq.serve_refused(&args).1
    };
    std::fs::write(&token_file, "secret\n").unwrap();
    let missing = certs.path().join("no-such-file");
    for (file, why) in [
        (
            path(&token_file),
            "line 1: 6 characters; a token needs at least 16",
        ),
        (path(&missing), "cannot read it"),
    ] {
        let stderr = serve_refused(file);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("--metrics-token-file {file}: {why}")),
            "{stderr}"
        );
    }
    let out = hq.run(&["hq", "serve", "--metrics-token-file", path(&token_file)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--metrics-listen"), "{stderr}");
}

/// `path`'s text once a whole line of it holds `needle`, for up to 10 s.
fn text_with(path: &std::path::Path, needle: &str) -> String {
    common::text_with_line(path, needle, Duration::from_secs(10))
}

#[test]
fn a_renewed_certificate_is_served_after_sighup_and_files_that_do_not_match_are_not() {
    use common::tls::{certificates, path};
    let certs = tempfile::tempdir().unwrap();
    let (_, first_cert, first_key) = certificates(certs.path(), "first");
    let (second_ca, second_cert, second_key) = certificates(certs.path(), "second");
    // The files the server is started with, replaced in place as a renewal does.
    let (cert, key) = (certs.path().join("hq.pem"), certs.path().join("hq.key"));
    let install = |from_cert: &std::path::Path, from_key: &std::path::Path| {
        std::fs::copy(from_cert, &cert).unwrap();
        std::fs::copy(from_key, &key).unwrap();
    };
    install(&first_cert, &first_key);
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(
        hq.data(),
        &[
            "--tls-cert",
            path(&cert),
            "--tls-key",
            path(&key),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
        File::create(&log).unwrap(),
    );
    // `/metrics` is served over TLS too, with the same certificate.
    let scraped_at = metrics_address(&server);
    for at in [server.address(), scraped_at] {
        let issuer = served_issuer(at);
        assert!(issuer.contains("first certificate authority"), "{issuer:?}");
    }
    // A till given the second certificate's authority cannot enrol yet.
    let till = common::Till::empty();
    let code = hq.add_device("T01", "S01");
    let enroll = [
        "enroll",
        "--hq",
        server.url.as_str(),
        "--code",
        code.as_str(),
        "--lead-pin",
        common::PIN,
        "--ca",
        path(&second_ca),
    ];
    till.fails(&enroll, 1, "certificate does not verify");

    // Renewed: the new files are served from the next handshake on, without a restart.
    install(&second_cert, &second_key);
    server.hang_up();
    let logged = text_with(&log, "serving the TLS certificate in");
    assert!(
        logged.contains(&format!(
            "serving the TLS certificate in {} now",
            path(&cert)
        )),
        "{logged}"
    );
    for at in [server.address(), scraped_at] {
        let issuer = served_issuer(at);
        assert!(
            issuer.contains("second certificate authority"),
            "{issuer:?}"
        );
    }
    till.ok(&enroll);

    // A key that is not the certificate's: logged, and the renewed identity still served.
    std::fs::copy(&first_key, &key).unwrap();
    server.hang_up();
    let logged = text_with(&log, "still serving the certificate before");
    assert!(logged.contains("do not make a TLS identity"), "{logged}");
    let issuer = served_issuer(server.address());
    assert!(
        issuer.contains("second certificate authority"),
        "{issuer:?}"
    );
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
    till.synced();
    assert_eq!(hq.sales().len(), 1);
    server.stop();
}

#[test]
fn sighup_without_tls_is_logged_and_a_metrics_address_in_use_is_refused_at_start() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), &[], &[], File::create(&log).unwrap());
    server.hang_up();
    let logged = text_with(&log, "SIGHUP");
    assert!(
        logged.contains(
            "SIGHUP: serving without --tls-cert or --metrics-token-file, there is no file to read"
        ),
        "{logged}"
    );
    assert_eq!(Api::new(&server.url).get("/api/v1/health", None).0, 200);
    server.stop();

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let (_, stderr) = hq.serve_refused(&["--metrics-listen", &at]);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics-listen {at}: ")),
        "{stderr}"
    );
}
