//! How many connections one address may hold open (`--max-connections-per-address`),
//! against the real `fairpos hq serve` on a loopback port: a till's sync WebSocket and two
//! kept-alive connections from 127.0.0.1 hold its three places; a fourth connection from
//! there is answered 503 with `Retry-After` and closed unserved, logged once a minute and
//! counted, while 127.0.0.2 is served; the till's own `fairpos sync` is refused, saying why,
//! and syncing on (`--watch`) it waits the 30 s asked for before trying again; once the till's socket closes, 127.0.0.1 is served again. Behind a balancer sending PROXY
//! headers, each client its header names is counted alone. Over TLS, a refused client reads
//! its 503, `Retry-After` and reason; one address, or one client behind a balancer, has at
//! most 32 connections in their TLS handshake; a hub heeds `Retry-After`.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::hq::{Hq, Server};
use common::raw::{ask, closed, connect_from, served_from};
use common::{within_10_s, Till};

/// How many connections `server` has refused (`fairpos_hq_connections_refused_total`), as
/// its plain `/metrics` listener tells 127.0.0.2, and the whole scrape.
fn refused_so_far(server: &Server) -> (Option<f64>, String) {
    let metrics: SocketAddr = server.metrics.as_deref().unwrap()["http://".len()..]
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    let scraped = ask(&mut connect_from("127.0.0.2", metrics), "/metrics").body;
    let refused = fairpos_hq::metrics::sample(&scraped, "fairpos_hq_connections_refused_total");
    (refused, scraped)
}

#[test]
fn an_address_holding_its_most_connections_is_answered_503_until_one_closes() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let options = [
        "--max-connections-per-address",
        "3",
        "--sync-idle",
        "1h",
        "--request-head-timeout",
        "1h",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let server = Server::start_logging(hq.data(), &options, &[], File::create(&log).unwrap());
    let at = server.address();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));

    // The till's sync socket (an upgraded connection) and two kept alive: three places.
    // (Each is tried again for a moment while the enrolment's connection, closed, may not
    // have given its place back yet.)
    let url = format!("ws://{at}/sync?token=T01.{}", till.secret());
    let socket = within_10_s(|| {
        tokio_tungstenite::tungstenite::client(url.as_str(), connect_from("127.0.0.1", at)).ok()
    })
    .expect("the till's sync socket opens")
    .0;
    let mut kept: Vec<TcpStream> = (0..2).map(|_| served_from("127.0.0.1", at)).collect();
    // Counted from here: a connection tried again above may have been refused.
    let before = refused_so_far(&server).0.unwrap();

    // A fourth, twice: answered 503 unserved, and closed.
    for _ in 0..2 {
        let mut fourth = connect_from("127.0.0.1", at);
        let refused = ask(&mut fourth, "/api/v1/health");
        assert_eq!(refused.status, "HTTP/1.1 503 Service Unavailable");
        assert!(refused.head.contains(&"retry-after: 30".to_string()));
        assert!(
            refused.body.contains("too many connections"),
            "{}",
            refused.body
        );
        assert!(closed(&mut fourth), "a refused connection is closed");
    }
    // Those open are served on; another address is not held by 127.0.0.1's.
    assert_eq!(
        ask(&mut kept[0], "/api/v1/health").status,
        "HTTP/1.1 200 OK"
    );
    let mut other = connect_from("127.0.0.2", at);
    assert_eq!(ask(&mut other, "/api/v1/health").status, "HTTP/1.1 200 OK");
    let (refused, scraped) = refused_so_far(&server);
    assert_eq!(refused, Some(before + 2.0), "{scraped}");
    let metrics: SocketAddr = server.metrics.as_deref().unwrap()["http://".len()..]
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    // /metrics' listener counts 127.0.0.1's connections with the server's: refused there too.
    let refused = ask(&mut connect_from("127.0.0.1", metrics), "/metrics");
    assert_eq!(refused.status, "HTTP/1.1 503 Service Unavailable");

    // The till's own sync, from the full address: refused, and it says why and how long to
    // wait (too long for a one-shot sync to wait out).
    let synced = till.sync(&[]);
    let said = String::from_utf8_lossy(&synced.stderr);
    let why = "headquarters answered 503 Service Unavailable: too many connections from your \
               address: try again later; headquarters asked to be left alone for 30 s: sync \
               again after that";
    assert!(!synced.status.success() && said.contains(why), "{said}");
    assert!(
        !said.contains("trying again"),
        "a 30 s wait is not waited out: {said}"
    );
    // Syncing on (`--watch`, a pass a second): it waits the 30 s headquarters asked for, not
    // its own backoff of 1 s, then 2 s, …: a few seconds on, one more refusal is counted.
    let watched = hq.data().join("watch.log");
    let mut watch = till
        .command()
        .args(["sync", "--watch", "--interval", "1", "--timeout", "5"])
        .stderr(File::create(&watched).unwrap())
        .spawn()
        .unwrap();
    let said = common::text_with_line(&watched, "next try in", Duration::from_secs(30));
    let waits = "too many connections from your address: try again later; next try in 30 s \
                 (headquarters asked for 30 s)";
    assert!(said.contains(waits), "{said}");
    std::thread::sleep(Duration::from_secs(4));
    let (refused, scraped) = refused_so_far(&server);
    // 2 asked here, /metrics', the till's sync and the first pass of its watch.
    assert_eq!(refused, Some(before + 5.0), "{scraped}");
    let _ = watch.kill();
    let _ = watch.wait();
    // The till's socket closes: its place is 127.0.0.1's again.
    drop(socket);
    let served = within_10_s(|| {
        let answer = ask(&mut connect_from("127.0.0.1", at), "/api/v1/health");
        (answer.status == "HTTP/1.1 200 OK").then_some(())
    });
    assert!(served.is_some(), "the socket's place given back");
    drop(kept);
    server.stop();

    let text = std::fs::read_to_string(&log).unwrap();
    let line = "connection from 127.0.0.1 refused: it holds 3 open, the most one address may \
                (--max-connections-per-address)";
    // A line a minute at most for each address: the others are held back.
    assert_eq!(text.matches(line).count(), 1, "{text}");
    assert!(
        !text.contains("connection from 127.0.0.2 refused"),
        "{text}"
    );
}

/// A fair hub whose address holds every place it may at headquarters (a cap of 1, held by
/// another client of 127.0.0.1): the 503's `Retry-After` is heeded by its link and by its
/// calls, so that it asks nothing more of headquarters for 30 s, where it asked for the
/// registry every second and redialled its link within a second before.
#[test]
fn a_hub_refused_for_its_address_leaves_headquarters_alone_as_long_as_asked() {
    let hq = Hq::demo();
    let options = [
        "--max-connections-per-address",
        "1",
        "--request-head-timeout",
        "1h",
        "--metrics-listen",
        "127.0.0.2:0",
    ];
    let server = Server::start(hq.data(), &options);
    let code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &server.url, "--code", &code]);
    let at = server.address();
    let _held = served_from("127.0.0.1", at);
    // Counted from here: a connection tried again above may have been refused.
    let before = refused_so_far(&server).0.unwrap();
    let log = hub.data().join("serve.log");
    let upstream = ["--upstream", server.url.as_str()];
    let hub_server = Server::start_logging(hub.data(), &upstream, &[], File::create(&log).unwrap());
    let asked = format!(
        "hub: headquarters at {} asked to be left alone for 30 s (headquarters answered 503 \
         Service Unavailable: too many connections from your address: try again later)",
        server.url
    );
    let said = common::text_with_line(&log, &asked, Duration::from_secs(30));
    let linked = "failed: dialer permanently failed: headquarters answered 503 Service \
                  Unavailable: too many connections from your address: try again later";
    let said = common::text_with_line(&log, linked, Duration::from_secs(30)) + &said;
    assert!(said.contains(&asked) && said.contains(linked), "{said}");
    // Four seconds on, the link's refusal and the registry's are all there is.
    std::thread::sleep(Duration::from_secs(4));
    let (refused, scraped) = refused_so_far(&server);
    assert_eq!(refused, Some(before + 2.0), "{scraped}");
    hub_server.stop();
    server.stop();
}

/// Behind a TCP load balancer that sends PROXY headers, each connection counts for the
/// client its header names, not for the balancer it comes from.
#[test]
fn behind_a_balancer_each_client_named_by_its_proxy_header_is_counted_alone() {
    let hq = Hq::demo();
    let options = [
        "--max-connections-per-address",
        "2",
        "--proxy-protocol",
        "127.0.0.1",
        "--request-head-timeout",
        "1h",
    ];
    let server = Server::start(hq.data(), &options);
    let at = server.address();
    // A connection from the balancer (127.0.0.1) for `client`.
    let through_balancer = |client: &str| {
        let mut stream = connect_from("127.0.0.1", at);
        write!(
            stream,
            "PROXY TCP4 {client} 127.0.0.1 40000 {}\r\n",
            at.port()
        )
        .unwrap();
        stream
    };
    // Two of 203.0.113.7's, kept alive: its places.
    let mut kept: Vec<TcpStream> = (0..2).map(|_| through_balancer("203.0.113.7")).collect();
    for stream in &mut kept {
        assert_eq!(ask(stream, "/api/v1/health").status, "HTTP/1.1 200 OK");
    }
    let mut third = through_balancer("203.0.113.7");
    let refused = ask(&mut third, "/api/v1/health");
    assert_eq!(refused.status, "HTTP/1.1 503 Service Unavailable");
    // Another client through the same balancer is not held by 203.0.113.7's.
    for client in ["203.0.113.8", "198.51.100.1"] {
        let answer = ask(&mut through_balancer(client), "/api/v1/health");
        assert_eq!(answer.status, "HTTP/1.1 200 OK", "{client}");
    }
    drop(kept);
    server.stop();
}

/// Over TLS, a refused connection is answered once its handshake and request's head are in:
/// a till's HTTPS client reads the 503, its `Retry-After` and its reason.
#[test]
fn over_tls_a_refused_client_reads_its_503_and_why() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::tls::certificates(certs.path(), "fair");
    let hq = Hq::demo();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let options = [
        "--max-connections-per-address",
        "1",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ];
    let server = Server::start(hq.data(), &options);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = std::fs::read_to_string(ca).unwrap();
    let trust = fairpos_sync::tls::Trust::with_ca(Some(&ca)).unwrap();
    // Each client its own pool: its connection is kept alive after the answer.
    let client = || {
        reqwest::Client::builder()
            .tls_backend_preconfigured(trust.client_config().as_ref().clone())
            .build()
            .unwrap()
    };
    let health = format!("{}/api/v1/health", server.url);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let first = client();
        let answer = first.get(&health).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        // The first client's connection holds the one place.
        let refused = client().get(&health).send().await.unwrap();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()["retry-after"], "30");
        let why: serde_json::Value = refused.json().await.unwrap();
        let why = why["error"].as_str().unwrap();
        assert_eq!(
            why,
            "too many connections from your address: try again later"
        );
        // Its connection closed, the place is another's.
        drop(first);
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        let served = loop {
            let status = client().get(&health).send().await.unwrap().status();
            if status == 200 || tokio::time::Instant::now() > until {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(served, 200, "the place given back");
    });
    server.stop();
}

/// Headquarters serving TLS with a certificate `openssl` makes (`/metrics` beside it, over
/// TLS too) and `extra`, its log in a file, and how its clients trust it.
struct TlsHq {
    _certs: tempfile::TempDir,
    _hq: Hq,
    server: Server,
    log: std::path::PathBuf,
    trust: fairpos_sync::tls::Trust,
    runtime: tokio::runtime::Runtime,
}

impl TlsHq {
    fn start(extra: &[&str]) -> TlsHq {
        let certs = tempfile::tempdir().unwrap();
        let (ca, cert, key) = common::tls::certificates(certs.path(), "fair");
        let hq = Hq::demo();
        let log = hq.data().join("serve.log");
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let mut options = vec!["--tls-cert", cert, "--tls-key", key];
        options.extend(["--metrics-listen", "127.0.0.1:0"]);
        options.extend(extra);
        let server = Server::start_logging(hq.data(), &options, &[], File::create(&log).unwrap());
        let ca = std::fs::read_to_string(ca).unwrap();
        TlsHq {
            _certs: certs,
            _hq: hq,
            server,
            log,
            trust: fairpos_sync::tls::Trust::with_ca(Some(&ca)).unwrap(),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// Stops the server: what it logged.
    fn stopped(self) -> String {
        self.server.stop();
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// What `url` answers a client from `from`: its status and body, or None.
    fn get_from(&self, from: &str, url: &str) -> Option<(u16, String)> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(self.trust.client_config().as_ref().clone())
            .local_address(from.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        self.runtime.block_on(async {
            let answer = client.get(url).send().await.ok()?;
            Some((answer.status().as_u16(), answer.text().await.ok()?))
        })
    }
}

/// How many of `streams` (non-blocking) the server has not closed.
fn still_open(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|s| {
            let mut stream: &TcpStream = s;
            let read = stream.read(&mut [0u8; 1]);
            read.is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count()
}

/// Behind a TCP balancer over TLS, each client its PROXY headers name has at most 32
/// handshakes under way: 40 of 203.0.113.7's that say nothing after their header leave 32
/// open, the other 8 closed, counted and logged, while 203.0.113.8's, through the same
/// balancer, are not held by them. 40 clients of one IPv6 /64 are one address: 32 open, 8
/// closed, and one line logged for them all.
#[test]
fn behind_a_balancer_each_client_has_its_own_share_of_tls_handshakes() {
    let tls = TlsHq::start(&["--proxy-protocol", "127.0.0.1"]);
    let server = &tls.server;
    let at = server.address();
    // `n` connections from the balancer, the `i`th for the client `header(i)` names, saying
    // nothing after the header.
    let silent = |n: u16, header: &dyn Fn(u16) -> String| -> Vec<TcpStream> {
        (1..=n)
            .map(|i| {
                let mut stream = connect_from("127.0.0.1", at);
                stream.write_all(header(i).as_bytes()).unwrap();
                stream.set_nonblocking(true).unwrap();
                stream
            })
            .collect()
    };
    let port = at.port();
    let four = |client: &'static str| {
        move |i: u16| format!("PROXY TCP4 {client} 127.0.0.1 {} {port}\r\n", 40000 + i)
    };
    let other = silent(5, &four("203.0.113.8"));
    let flood = silent(40, &four("203.0.113.7"));
    // 40 clients of one IPv6 /64, each at an address of its own: one address as counted.
    let six = |i: u16| format!("PROXY TCP6 2001:db8:7::{i:x} ::1 {} {port}\r\n", 41000 + i);
    let sixes = silent(40, &six);
    let settled =
        within_10_s(|| (still_open(&flood) == 32 && still_open(&sixes) == 32).then_some(()));
    let open = (still_open(&flood), still_open(&sixes));
    assert!(settled.is_some(), "{open:?} left open");
    assert_eq!(still_open(&other), 5, "203.0.113.8 not held by 203.0.113.7");
    // `/metrics` over TLS too.
    let (_, scraped) = tls
        .get_from("127.0.0.2", server.metrics.as_deref().unwrap())
        .unwrap();
    assert_eq!(
        fairpos_hq::metrics::sample(&scraped, "fairpos_hq_connections_refused_total"),
        Some(16.0),
        "{scraped}"
    );
    drop((flood, other, sixes));
    let text = tls.stopped();
    let line = "through the balancer 127.0.0.1 closed: its address has 32 connections in \
                their TLS handshake already";
    // A line for 203.0.113.7, and one for the /64, not one for each of its addresses.
    assert_eq!(text.matches(line).count(), 2, "{text}");
    assert!(text.contains("connection from 203.0.113.7:"), "{text}");
    assert_eq!(
        text.matches("connection from [2001:db8:7::").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("connection from 203.0.113.8"), "{text}");
}

/// Over TLS, one address's connections that say nothing hold at most 32 of the 256 places
/// of connections in their handshake: the rest from it are closed at once, counted and
/// logged, and another address is handshaken and served while the 32 are still held.
#[test]
fn one_address_silent_in_its_tls_handshakes_holds_only_its_share_of_them() {
    let tls = TlsHq::start(&[]);
    let server = &tls.server;
    let at = server.address();
    let get_from = |from: &str, url: &str| tls.get_from(from, url);
    let health = format!("{}/api/v1/health", server.url);

    // 300 connections from 127.0.0.1 that never begin their handshake.
    let opened = Instant::now();
    let silent: Vec<TcpStream> = (0..300)
        .map(|_| {
            let stream = connect_from("127.0.0.1", at);
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .collect();
    let open = still_open;
    let settled = within_10_s(|| (open(&silent) == 32).then_some(()));
    assert!(settled.is_some(), "{} left open", open(&silent));
    // Another address is handshaken and served meanwhile, the 32 still held.
    let answer = get_from("127.0.0.2", &health).expect("127.0.0.2 served");
    assert_eq!(answer.0, 200);
    // Still held, unless the machine was so slow that their handshakes' 10 s ran out.
    if opened.elapsed() < Duration::from_secs(8) {
        assert_eq!(open(&silent), 32, "held while 127.0.0.2 was served");
    }
    let metrics = server.metrics.as_deref().unwrap();
    let (_, scraped) = get_from("127.0.0.2", metrics).expect("scraped");
    assert_eq!(
        fairpos_hq::metrics::sample(&scraped, "fairpos_hq_connections_refused_total"),
        Some(268.0),
        "{scraped}"
    );
    // Let go, 127.0.0.1 is handshaken again.
    drop(silent);
    let served = within_10_s(|| get_from("127.0.0.1", &health).filter(|(s, _)| *s == 200));
    assert!(served.is_some(), "127.0.0.1 served again");
    let text = tls.stopped();
    let line = "closed: its address has 32 connections in their TLS handshake already";
    assert_eq!(text.matches(line).count(), 1, "{text}");
}
