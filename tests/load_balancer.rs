//! Headquarters behind a real TCP load balancer: HAProxy (Debian's `haproxy`) in TCP mode in
//! front of `hq serve --proxy-protocol`, sending the PROXY protocol header (version 2, then
//! version 1 with TLS passed through to headquarters).
//!
//! Clients play different hosts by connecting from different loopback addresses (127.0.0.2,
//! 127.0.0.3, …); HAProxy itself reaches headquarters from 127.0.0.1. So without the header
//! every client would be 127.0.0.1 to headquarters, and a guesser's five wrong passwords
//! would lock every organizer out; with it:
//! - a till enrols and syncs through the balancer (HTTP and the WebSocket);
//! - a guesser's wrong passwords are answered 429 to the guesser alone, and logged under
//!   its address, while an organizer at another address logs in;
//! - HAProxy's health checks (`check-send-proxy`, asking `/api/v1/ready`) pass;
//! - a connection straight to headquarters, without a header, is closed unanswered and
//!   logged, and one from an address `--proxy-protocol` does not name is closed too;
//! - with two processes on one PostgreSQL database behind it, taking connections in turn,
//!   the guesser's failures are counted together: refused after five, by either process.

mod common;

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::api::Api;
use common::hq::{answer_to_raw, Hq, Server, PASSWORD};
use common::proxy::{from, login, Proxy};
use common::{sell_some, Till};

/// HAProxy on a free loopback port, passing every connection (TCP mode) to one of
/// `backends` in turn, with the server options `server` (`send-proxy-v2`, health checks);
/// `check` is the backend's health check option line, if any.
fn haproxy(dir: &Path, backends: &[SocketAddr], server: &str, check: &str) -> Proxy {
    let at = Proxy::free_address();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, at)| format!("  server hq{i} {at} {server}\n"))
        .collect();
    let config = format!(
        "global\n  maxconn 256\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  \
         timeout server 60s\n  timeout check 2s\n\
         frontend fair\n  bind {at}\n  default_backend hq\n\
         backend hq\n  balance roundrobin\n  {check}\n{servers}"
    );
    Proxy::haproxy(dir, at, &config)
}

/// Five wrong passwords from `guesser`, then the right one: 401 five times, then 429; and
/// the right one from `organizer` (another address) is taken.
fn a_guesser_locks_out_only_itself(guesser: &Api, organizer: &Api) {
    for i in 0..5 {
        assert_eq!(login(guesser, &format!("guess-{i}")), 401, "guess {i}");
    }
    assert_eq!(
        login(guesser, PASSWORD),
        429,
        "the guesser's address is throttled"
    );
    assert_eq!(login(organizer, PASSWORD), 200, "another address is not");
}

#[test]
fn behind_haproxy_each_client_is_known_by_its_own_address() {
    let hq = Hq::demo();
    let code = hq.add_device("T01", "S01");
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(
        hq.data(),
        &["--proxy-protocol", "127.0.0.1"],
        &[],
        File::create(&log).unwrap(),
    );
    let balancer = haproxy(
        hq.data(),
        &[server.address()],
        "send-proxy-v2 check check-send-proxy inter 200ms fall 3 rise 1",
        "option httpchk GET /api/v1/ready",
    );
    let url = balancer.url("http");

    // A till enrols and syncs through the balancer, its sales reaching headquarters.
    let till = Till::enrolled(&url, &code);
    sell_some(&till, "V003", 3);
    till.synced();
    assert_eq!(hq.sales().len(), 3);

    a_guesser_locks_out_only_itself(
        &Api::from(&url, from("127.0.0.2"), None),
        &Api::from(&url, from("127.0.0.3"), None),
    );

    // Straight to headquarters, with no header: closed unanswered.
    // Three times: logged once (a line a minute for one address and reason).
    for _ in 0..3 {
        let answer = answer_to_raw(
            server.address(),
            b"GET /api/v1/health HTTP/1.1\r\nHost: hq\r\n\r\n",
        );
        assert_eq!(answer, b"");
    }
    // Health checks went on meanwhile (five a second): had three in a row failed, HAProxy
    // would have taken the server down and closed this request unanswered.
    std::thread::sleep(Duration::from_millis(800));
    let api = Api::new(&url);
    assert_eq!(api.get("/api/v1/ready", None).0, 200);
    server.stop();

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("login from 127.0.0.2 refused: too many failures"),
        "the guesser by its own address:\n{log}"
    );
    // HAProxy may pass on the probe that waited for it to listen, closed before HAProxy
    // sent a header: that one is logged as ended early, and is not counted.
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" closed: ") && !l.contains("ended before its PROXY header did"))
        .collect();
    assert_eq!(
        closed.len(),
        1,
        "only the first connection without a header:\n{log}"
    );
    assert!(
        closed[0].starts_with("connection from 127.0.0.1:")
            && closed[0].contains("does not begin with a PROXY protocol header"),
        "{}",
        closed[0]
    );
}

#[test]
fn tls_passed_through_haproxy_and_headers_only_from_the_balancers_named() {
    let hq = Hq::demo();
    let (ca, cert, key) = common::tls::certificates(hq.data(), "fair");
    let tls = [
        "--tls-cert",
        common::tls::path(&cert),
        "--tls-key",
        common::tls::path(&key),
    ];
    let mut args = vec!["--proxy-protocol", "127.0.0.1,10.0.0.0/8"];
    args.extend(tls);
    let server = Server::start(hq.data(), &args);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    // Version 1 this time; HAProxy passes TLS through, headquarters' certificate served,
    // and its health checks speak HTTPS (as the README's example says to).
    let server_options = format!(
        "send-proxy check check-send-proxy check-ssl verify required ca-file {} \
         inter 200ms fall 3 rise 1",
        common::tls::path(&ca)
    );
    let balancer = haproxy(
        hq.data(),
        &[server.address()],
        &server_options,
        "option httpchk GET /api/v1/ready",
    );
    let url = balancer.url("https");
    let api = Api::from(&url, from("127.0.0.4"), Some(&ca));
    let (status, health) = api.get("/api/v1/health", None);
    assert_eq!(status, 200, "{health}");
    a_guesser_locks_out_only_itself(&api, &Api::from(&url, from("127.0.0.5"), Some(&ca)));
    // Had three checks in a row failed, the server would be down and this unanswered.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(api.get("/api/v1/ready", None).0, 200);
    server.stop();

    // Headers believed only from the balancers named: from 127.0.0.1 here, a connection
    // sending a good header to a server that trusts only 10.0.0.0/8 is closed.
    let log = hq.data().join("elsewhere.log");
    let mut args = vec!["--proxy-protocol", "10.0.0.0/8"];
    args.extend(tls);
    let server = Server::start_logging(hq.data(), &args, &[], File::create(&log).unwrap());
    let answer = answer_to_raw(
        server.address(),
        b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 7700\r\n",
    );
    assert_eq!(answer, b"", "closed unanswered");
    server.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("closed: not a load balancer --proxy-protocol names"),
        "{log}"
    );
}

#[test]
fn a_list_that_names_no_address_is_refused_at_start() {
    common::proxy::a_list_naming_no_address_is_refused("--proxy-protocol", "balancer.example");
}

#[test]
fn two_processes_on_postgresql_count_a_guessers_failures_together() {
    let Some(url) = common::postgres::fresh_database("load_balancer") else {
        return;
    };
    // Two processes of one headquarters, each with a data directory of its own.
    let (first, second) = (Hq::demo_on(&url), Hq::demo_on(&url));
    let logs = [first.data().join("a.log"), second.data().join("b.log")];
    let trusting = ["--proxy-protocol", "127.0.0.1"];
    let start = |hq: &Hq, log: &Path| {
        Server::start_logging(hq.data(), &trusting, &[], File::create(log).unwrap())
    };
    let servers = [start(&first, &logs[0]), start(&second, &logs[1])];
    let addresses: Vec<SocketAddr> = servers.iter().map(Server::address).collect();
    // Each connection to the next process in turn; each request on a connection of its own.
    let balancer = haproxy(first.data(), &addresses, "send-proxy-v2", "");
    let url = balancer.url("http");
    let guesser = Api::from(&url, from("127.0.0.6"), None);

    // Five wrong passwords spread over both processes: counted together, the sixth attempt
    // is refused; kept by each process, each would have seen three at most.
    a_guesser_locks_out_only_itself(&guesser, &Api::from(&url, from("127.0.0.7"), None));
    // Refused by either process.
    assert_eq!(login(&guesser, PASSWORD), 429);
    assert_eq!(login(&guesser, PASSWORD), 429);
    // An organizer who mistypes four times and then logs in starts afresh, whichever
    // process took the login: five more mistakes are each answered 401.
    let mistyper = Api::from(&url, from("127.0.0.8"), None);
    for i in 0..4 {
        assert_eq!(login(&mistyper, &format!("typo-{i}")), 401);
    }
    assert_eq!(login(&mistyper, PASSWORD), 200);
    for i in 4..9 {
        assert_eq!(login(&mistyper, &format!("typo-{i}")), 401, "typo {i}");
    }
    for server in servers {
        server.stop();
    }
    for log in &logs {
        let log = std::fs::read_to_string(log).unwrap();
        assert!(
            log.contains("login from 127.0.0.6 refused: too many failures"),
            "each process refused the guesser:\n{log}"
        );
        assert!(!log.contains("counted here"), "{log}");
    }
}

#[test]
fn a_till_syncs_through_two_processes_on_postgresql_taking_connections_in_turn() {
    let Some(url) = common::postgres::fresh_database("balanced_sync") else {
        return;
    };
    let (first, second) = (Hq::demo_on(&url), Hq::demo_on(&url));
    let trusting = ["--proxy-protocol", "127.0.0.1"];
    let servers = [
        Server::start(first.data(), &trusting),
        Server::start(second.data(), &trusting),
    ];
    let addresses: Vec<SocketAddr> = servers.iter().map(Server::address).collect();
    let balancer = haproxy(first.data(), &addresses, "send-proxy-v2", "");
    let till = Till::enrolled(&balancer.url("http"), &first.add_device("T01", "S01"));

    // Each connection goes to the next process: a sync's HTTP steps and its socket land on
    // both, one pass after another in other orders. Every pass ends confirmed, every sale
    // held once, whichever process stored, projected or was asked.
    sell_some(&till, "V003", 2);
    for pass in 1..=4 {
        common::sell_more(&till, "V003", 2);
        till.synced();
        let status = till.json(&["sync", "status", "--json"]);
        assert_eq!(status["unconfirmed_sales"], 0, "pass {pass}: {status}");
        assert_eq!(second.sales().len(), 2 + 2 * pass, "pass {pass}");
    }
    for server in servers {
        server.stop();
    }
}
