//! Headquarters behind a real HTTP reverse proxy that ends TLS itself, serving HTTPS with a
//! certificate made by `openssl` and passing requests and the sync WebSocket to `hq serve
//! --forwarded-for 127.0.0.1` over plain HTTP: nginx (Debian's `nginx`) with `X-Forwarded-For
//! $proxy_add_x_forwarded_for` and `X-Forwarded-Proto $scheme`, and HAProxy (Debian's
//! `haproxy`) in `mode http` with `option forwardfor` and `X-Forwarded-Proto` set from
//! `ssl_fc`, as the README gives them.
//!
//! Clients play different hosts by connecting from different loopback addresses; the proxy
//! reaches headquarters from 127.0.0.1. So without the headers every client would be
//! 127.0.0.1 to headquarters, and its cookies would lack `Secure` (it serves plain HTTP);
//! with them:
//! - a till trusting the fair's CA enrols and syncs through the proxy (HTTPS and WSS);
//! - a guesser's wrong passwords are answered 429 to the guesser alone, and logged under
//!   its address, while an organizer at another address logs in, though the guesser wrote
//!   the organizer's address in an `X-Forwarded-For` of its own;
//! - the login form's cookie is `Secure` and the page carries `Strict-Transport-Security`,
//!   though the client wrote `X-Forwarded-Proto: http` itself;
//! - a client straight to headquarters is known by its own address, whatever
//!   `X-Forwarded-For` it writes, and gets neither `Secure` nor HSTS for its
//!   `X-Forwarded-Proto: https`;
//! - a request from the proxy whose `X-Forwarded-For` names no address is answered 400 and
//!   logged;
//! - `--max-connections-per-address` counts a direct client's connections, not the proxy's.
//!
//! And nginx's read timeout does not cut a quiet sync socket that headquarters pings more
//! often than it.

mod common;

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::api::Api;
use common::hq::{answer_to_raw, Hq, Server, PASSWORD};
use common::proxy::{from, login, Proxy};
use common::raw::{connect_from, served_from};
use common::tls::path;
use common::{sell_some, within_10_s, Till, PIN};
use serde_json::json;

/// nginx on a free loopback port, serving HTTPS with `cert` and `key` and passing every
/// request to `backend` as the README's example does.
fn nginx(dir: &Path, backend: SocketAddr, cert: &Path, key: &Path) -> Proxy {
    nginx_reading_for(dir, backend, cert, key, "300s")
}

/// As [`nginx`], with `read_timeout` as its `proxy_read_timeout`: a proxied connection
/// over which headquarters sends nothing for that long is closed.
fn nginx_reading_for(
    dir: &Path,
    backend: SocketAddr,
    cert: &Path,
    key: &Path,
    read_timeout: &str,
) -> Proxy {
    let at = Proxy::free_address();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let config = prefix.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "worker_processes 1;\n\
             pid {prefix}/nginx.pid;\n\
             error_log {prefix}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log off;\n\
             client_body_temp_path {prefix}/body;\n\
             proxy_temp_path {prefix}/proxy;\n\
             fastcgi_temp_path {prefix}/fastcgi;\n\
             uwsgi_temp_path {prefix}/uwsgi;\n\
             scgi_temp_path {prefix}/scgi;\n\
             map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             server {{\n\
             listen {at} ssl;\n\
             ssl_certificate {cert};\n\
             ssl_certificate_key {key};\n\
             location / {{\n\
             proxy_pass http://{backend};\n\
             proxy_http_version 1.1;\n\
             proxy_buffering off;\n\
             proxy_request_buffering off;\n\
             proxy_read_timeout {read_timeout};\n\
             proxy_set_header Host $host;\n\
             proxy_set_header Upgrade $http_upgrade;\n\
             proxy_set_header Connection $connection_upgrade;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             proxy_set_header X-Forwarded-Proto $scheme;\n\
             }}\n}}\n}}\n",
            prefix = path(&prefix),
            cert = path(cert),
            key = path(key),
        ),
    )
    .unwrap();
    // In the foreground, this process its child, so that dropping the proxy stops it. As
    // root its workers would run as `nobody`, which cannot read this directory. One `-g`:
    // nginx takes the last one given, and a second would leave it a daemon, never stopped.
    let mut directives = String::from("daemon off;");
    if unsafe { libc::geteuid() } == 0 {
        directives.push_str(" user root;");
    }
    let mut command = Command::new(Proxy::program("nginx"));
    command
        .args(["-p", path(&prefix), "-e", "stderr", "-c", path(&config)])
        .args(["-g", &directives]);
    Proxy::start(command, at, &prefix.join("stderr.log"))
}

/// HAProxy in `mode http` on a free loopback port, ending TLS with `cert` and `key` and
/// passing every request to `backend` with the README's lines: `option forwardfor`, the
/// scheme set in `X-Forwarded-Proto`, and `timeout tunnel` for the sync's WebSocket.
fn haproxy_http(dir: &Path, backend: SocketAddr, cert: &Path, key: &Path) -> Proxy {
    let at = Proxy::free_address();
    // HAProxy takes the certificate and its key in one file.
    let identity = dir.join("haproxy.pem");
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    std::fs::write(&identity, pem).unwrap();
    let config = format!(
        "global\n  maxconn 256\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  \
         timeout server 60s\n  timeout tunnel 300s\n\
         frontend fair\n  bind {at} ssl crt {identity}\n  option forwardfor\n  \
         http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n  \
         http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}\n  \
         default_backend hq\n\
         backend hq\n  server hq0 {backend}\n",
        identity = path(&identity),
    );
    Proxy::haproxy(dir, at, &config)
}

/// The answer's status, `Set-Cookie` and `Strict-Transport-Security` headers (empty when
/// missing) to `GET /login` at `base`, from the loopback address `local`, trusting `ca`,
/// with the extra request headers `headers`.
fn login_form(
    base: &str,
    local: &str,
    ca: Option<&Path>,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    fairpos_sync::tls::install_crypto_provider();
    let mut client = reqwest::Client::builder().local_address(from(local));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    let client = client.build().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut request = client.get(format!("{base}/login"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().await.unwrap();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let found = (header("set-cookie"), header("strict-transport-security"));
        (answer.status().as_u16(), found.0, found.1)
    })
}

/// `POST /api/v1/login` with a wrong password, straight to `at` from 127.0.0.9, naming
/// `claimed` in `X-Forwarded-For`: the status (asked again while 503, [`not_503`]).
fn wrong_password_claiming(at: SocketAddr, claimed: &str) -> u16 {
    let status = not_503(|| {
        let api = Api::from(&format!("http://{at}"), from("127.0.0.9"), None);
        let guess = json!({ "password": "guess" });
        let status = api
            .post_with("/api/v1/login", &[("x-forwarded-for", claimed)], &guess)
            .0;
        (status, status)
    });
    status.unwrap_or(503)
}

/// What `ask` answers (its status, and what to keep), asked again while the status is 503
/// (for 10 s at most): a client straight to the test's server, whose address may hold four
/// connections, while the connections of its asks before may not have given their places
/// back yet.
fn not_503<T>(mut ask: impl FnMut() -> (u16, T)) -> Option<T> {
    within_10_s(|| {
        let (status, kept) = ask();
        (status != 503).then_some(kept)
    })
}

#[test]
fn behind_nginx_ending_tls_each_client_is_known_by_its_own_address_and_scheme() {
    each_client_is_known_by_its_own_address_and_scheme(nginx);
}

#[test]
fn behind_haproxy_in_http_mode_ending_tls_each_client_is_known_by_its_own_address_and_scheme() {
    each_client_is_known_by_its_own_address_and_scheme(haproxy_http);
}

/// What the module's header says, through the proxy `start_proxy` starts (in a directory,
/// in front of a backend, ending TLS with a certificate and key) in front of `hq serve
/// --forwarded-for 127.0.0.1`.
fn each_client_is_known_by_its_own_address_and_scheme(
    start_proxy: fn(&Path, SocketAddr, &Path, &Path) -> Proxy,
) {
    let hq = Hq::demo();
    let (ca, cert, key) = common::tls::certificates(hq.data(), "fair");
    let log = hq.data().join("serve.log");
    // Four connections open per address: the proxy's are its clients', not counted.
    let options = [
        "--forwarded-for",
        "127.0.0.1",
        "--max-connections-per-address",
        "4",
    ];
    let server = Server::start_logging(hq.data(), &options, &[], File::create(&log).unwrap());
    let proxy = start_proxy(hq.data(), server.address(), &cert, &key);
    let (ca, log) = (ca.as_path(), log.as_path());
    assert!(server.url.starts_with("http://"), "{}", server.url);
    let url = proxy.url("https");
    let code = hq.add_device("T01", "S01");

    // A till trusting the fair's CA enrols and syncs through the proxy: HTTPS, and the
    // sync's WebSocket upgraded through it.
    let till = Till::empty();
    till.ok(&[
        "enroll",
        "--hq",
        &url,
        "--code",
        &code,
        "--lead-pin",
        PIN,
        "--ca",
        path(ca),
    ]);
    sell_some(&till, "V003", 3);
    till.synced();
    assert_eq!(hq.sales().len(), 3);

    // Five wrong passwords from 127.0.0.2 lock out 127.0.0.2 alone, though it names the
    // organizer's address in an X-Forwarded-For of its own (the proxy adds 127.0.0.2 after
    // it: nginx on the same line, HAProxy on a line of its own).
    let guesser = Api::from(&url, from("127.0.0.2"), Some(ca));
    let claim = [("x-forwarded-for", "127.0.0.3")];
    for i in 0..5 {
        let guess = json!({ "password": format!("guess-{i}") });
        let (status, _) = guesser.post_with("/api/v1/login", &claim, &guess);
        assert_eq!(status, 401, "guess {i}");
    }
    assert_eq!(login(&guesser, PASSWORD), 429, "the guesser is throttled");
    let organizer = Api::from(&url, from("127.0.0.3"), Some(ca));
    assert_eq!(login(&organizer, PASSWORD), 200, "another address is not");

    // The client came over HTTPS, to the proxy: the cookie is Secure, and HSTS is sent,
    // though the client wrote an X-Forwarded-Proto of its own (the proxy replaces it).
    let claim = [("x-forwarded-proto", "http")];
    let (status, cookie, hsts) = login_form(&url, "127.0.0.3", Some(ca), &claim);
    assert_eq!(status, 200);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(hsts, "max-age=31536000");
    // Straight to headquarters from 127.0.0.9, claiming to be the organizer at 127.0.0.3:
    // its five wrong passwords count against 127.0.0.9, and the organizer still logs in.
    for _ in 0..5 {
        assert_eq!(wrong_password_claiming(server.address(), "127.0.0.3"), 401);
    }
    assert_eq!(wrong_password_claiming(server.address(), "127.0.0.3"), 429);
    assert_eq!(
        login(&organizer, PASSWORD),
        200,
        "not locked out by a claim"
    );
    // Nor is its claim to HTTPS believed.
    let direct = format!("http://{}", server.address());
    let claim = [("x-forwarded-proto", "https")];
    let (status, cookie, hsts) = not_503(|| {
        let answer = login_form(&direct, "127.0.0.9", None, &claim);
        (answer.0, answer)
    })
    .expect("a login page served");
    assert_eq!(status, 200);
    assert!(!cookie.is_empty() && !cookie.contains("Secure"), "{cookie}");
    assert_eq!(hsts, "");

    // A direct client holding its four places has a fifth connection refused; the proxy,
    // holding five, has a sixth served, and so do its clients. (The four are each served
    // first, tried again while 127.0.0.9's connections above may not have given their
    // places back yet: otherwise one of the four could be refused and the fifth served.)
    let held: Vec<_> = (0..4)
        .map(|_| served_from("127.0.0.9", server.address()))
        .collect();
    let fifth = answer_to_raw_from("127.0.0.9", server.address());
    assert!(fifth.starts_with("HTTP/1.1 503"), "{fifth}");
    let proxys: Vec<_> = (0..5)
        .map(|_| connect_from("127.0.0.1", server.address()))
        .collect();
    let sixth = answer_to_raw_from("127.0.0.1", server.address());
    assert!(sixth.starts_with("HTTP/1.1 200"), "{sixth}");
    let through = Api::from(&url, from("127.0.0.2"), Some(ca));
    assert_eq!(through.get("/api/v1/health", None).0, 200);
    drop((held, proxys));

    // From the proxy's address, a header that names no address: 400, and logged.
    let answer = answer_to_raw(
        server.address(),
        b"GET /api/v1/health HTTP/1.1\r\nHost: hq\r\nX-Forwarded-For: unknown\r\n\
          Connection: close\r\n\r\n",
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // The proxy's own request (no header) is its own: health answers.
    assert_eq!(Api::new(&direct).get("/api/v1/health", None).0, 200);
    server.stop();

    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("login from 127.0.0.2 refused: too many failures"),
        "the guesser by its own address:\n{log}"
    );
    assert!(
        log.contains("login from 127.0.0.9 refused: too many failures"),
        "the direct client by its own address:\n{log}"
    );
    assert!(
        log.contains("request from the proxy 127.0.0.1:")
            && log.contains("X-Forwarded-For names \"unknown\", which is not an address"),
        "{log}"
    );
}

/// What `GET /api/v1/health` from `address` is answered at `at`, to the connection's end.
fn answer_to_raw_from(address: &str, at: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = connect_from(address, at);
    let ask = b"GET /api/v1/health HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n";
    stream.write_all(ask).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A wrong password as a TCP load balancer passes it on from 127.0.0.1: a PROXY header
/// naming `peer`, the connection it took, then a login whose `X-Forwarded-For` is
/// `forwarded`. The status.
fn wrong_password_relayed(at: SocketAddr, peer: &str, forwarded: &str) -> u16 {
    let body = r#"{"password":"guess"}"#;
    let request = format!(
        "PROXY TCP4 {peer} 127.0.0.1 40000 7700\r\n\
         POST /api/v1/login HTTP/1.1\r\nHost: hq\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Forwarded-For: {forwarded}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = answer_to_raw(at, request.as_bytes());
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.strip_prefix("HTTP/1.1 ").and_then(|a| a.get(..3));
    status
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{answer:?}"))
}

/// A reverse proxy behind a TCP load balancer (`--proxy-protocol` and `--forwarded-for`
/// together): the PROXY header names the connection's client, and only when that is one of
/// the proxies named is its `X-Forwarded-For` believed.
#[test]
fn behind_a_proxy_and_a_load_balancer_the_header_is_believed_only_from_the_proxy() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(
        hq.data(),
        &[
            "--proxy-protocol",
            "127.0.0.1",
            "--forwarded-for",
            "10.0.0.5",
        ],
        &[],
        File::create(&log).unwrap(),
    );
    let at = server.address();
    // Through the proxy at 10.0.0.5, a client at 203.0.113.7 that wrote another address
    // itself: five wrong passwords lock out 203.0.113.7 alone.
    let guessed = "203.0.113.9, 203.0.113.7";
    for i in 0..5 {
        assert_eq!(wrong_password_relayed(at, "10.0.0.5", guessed), 401, "{i}");
    }
    assert_eq!(wrong_password_relayed(at, "10.0.0.5", guessed), 429);
    assert_eq!(wrong_password_relayed(at, "10.0.0.5", "203.0.113.8"), 401);
    // A client the balancer took straight, not from the proxy: its own header is not
    // believed, and it locks out only itself.
    for i in 0..5 {
        let status = wrong_password_relayed(at, "198.51.100.4", "203.0.113.8");
        assert_eq!(status, 401, "{i}");
    }
    assert_eq!(
        wrong_password_relayed(at, "198.51.100.4", "203.0.113.8"),
        429
    );
    assert_eq!(wrong_password_relayed(at, "10.0.0.5", "203.0.113.8"), 401);
    server.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    for client in ["203.0.113.7", "198.51.100.4"] {
        let said = format!("login from {client} refused: too many failures");
        assert!(log.contains(&said), "{said}:\n{log}");
    }
    assert!(!log.contains("login from 203.0.113.8 refused"), "{log}");
}

#[test]
fn a_forwarded_for_list_that_names_no_address_is_refused_at_start() {
    common::proxy::a_list_naming_no_address_is_refused("--forwarded-for", "proxy.example");
}

/// Whether a sync socket of till T01 opened through `proxy_url` (trusting `ca`) is still
/// open after 5 s of quiet, reading what comes (pings, answered on their own): it answers
/// a ping then.
fn quiet_sync_socket_kept(proxy_url: &str, ca: &Path, till: &Till) -> bool {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ca = std::fs::read_to_string(ca).unwrap();
    let tls = fairpos_sync::tls::Trust::with_ca(Some(&ca))
        .unwrap()
        .client_config();
    let url = format!("{proxy_url}/sync?token=T01.{}", till.secret());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let connector = tokio_tungstenite::Connector::Rustls(tls);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector))
                .await
                .unwrap();
        let quiet_until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(quiet_until, socket.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => return false,
                Ok(Some(Ok(_))) => continue,
            }
        }
        let ping = Message::Ping(b"still there".to_vec().into());
        if socket.send(ping).await.is_err() {
            return false;
        }
        let answer_by = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(answer_by, socket.next()).await {
                Ok(Some(Ok(Message::Pong(p)))) if &p[..] == b"still there" => return true,
                Ok(Some(Ok(_))) => continue,
                _ => return false,
            }
        }
    })
}

/// nginx closes a proxied WebSocket that headquarters sends nothing over for its
/// `proxy_read_timeout` (2 s here). Headquarters' pings, a third of `--sync-idle` apart,
/// keep a quiet sync socket open through it when they come more often than that (1 s), and
/// do not when they come less often (10 s), as the README says.
#[test]
fn headquarters_pings_keep_a_quiet_sync_socket_open_through_nginx_only_when_more_often() {
    for (sync_idle, kept) in [("3s", true), ("30s", false)] {
        let hq = Hq::demo();
        let (ca, cert, key) = common::tls::certificates(hq.data(), "fair");
        let server = Server::start(hq.data(), &["--sync-idle", sync_idle]);
        let proxy = nginx_reading_for(hq.data(), server.address(), &cert, &key, "2s");
        let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
        assert_eq!(
            quiet_sync_socket_kept(&proxy.url("wss"), &ca, &till),
            kept,
            "--sync-idle {sync_idle} behind a read timeout of 2 s"
        );
        drop(proxy);
        server.stop();
    }
}
