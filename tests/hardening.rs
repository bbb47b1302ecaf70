//! Headquarters on the open internet, the part built so far: every response carries a
//! Content-Security-Policy without inline script and `frame-ancestors 'none'`, `nosniff` and
//! a referrer policy; guessing the organizer password or enrolment codes from one address is
//! answered 429 after a few failures; an oversized request body is answered 413 and the
//! server goes on; organizer sessions end when idle, when their absolute lifetime is over
//! (the cookie's `Max-Age`), and all at once on the operator's word. Against the real
//! `fairpos hq serve` on a loopback port.

mod common;

use std::path::Path;
use std::time::Duration;

use common::hq::{csrf_field, pause, Hq, Server, PASSWORD};
use common::tls::{certificates, path};
use common::Till;
use reqwest::header::HeaderMap;

struct Http {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Http {
    fn new(base: &str) -> Http {
        Http::trusting(base, None)
    }

    /// A client that trusts the system's roots and the CA in `ca_pem`, as a till does.
    fn trusting(base: &str, ca_pem: Option<&str>) -> Http {
        let trust = fairpos_sync::tls::Trust::with_ca(ca_pem).unwrap();
        Http {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(trust.client_config().as_ref().clone())
                .build()
                .unwrap(),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn get(&self, path: &str) -> (u16, HeaderMap) {
        self.runtime.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().clone())
        })
    }

    fn get_with_cookie(&self, path: &str, cookie: &str) -> u16 {
        self.runtime.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        })
    }

    /// Logs in with the form; returns the session cookie (`name=value`) and its attributes.
    fn session(&self) -> (String, String) {
        let (status, h) = self.login_form(PASSWORD);
        assert_eq!(status, 303);
        let set = header(&h, "set-cookie").to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        (cookie, set)
    }

    fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, HeaderMap) {
        self.runtime.block_on(async {
            let r = self
                .client
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().clone())
        })
    }

    /// The login page's anti-forgery token, as its cookie and its hidden field.
    fn login_page(&self) -> (String, String) {
        self.runtime.block_on(async {
            let r = self
                .client
                .get(format!("{}/login", self.base))
                .send()
                .await
                .unwrap();
            let set = header(r.headers(), "set-cookie").to_string();
            let cookie = set.split(';').next().unwrap().to_string();
            (cookie, csrf_field(&r.text().await.unwrap()))
        })
    }

    /// Posts the login form as a browser would: with the page's token in cookie and field.
    fn login_form(&self, password: &str) -> (u16, HeaderMap) {
        let (cookie, csrf) = self.login_page();
        self.post_form(&cookie, &format!("csrf={csrf}&password={password}"))
    }

    fn post_form(&self, cookie: &str, body: &str) -> (u16, HeaderMap) {
        self.runtime.block_on(async {
            let r = self
                .client
                .post(format!("{}/login", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().clone())
        })
    }
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} in {h:?}"))
        .to_str()
        .unwrap()
}

/// The sources a policy allows scripts from: its `script-src`, else its `default-src`.
fn script_sources(policy: &str) -> String {
    let directive = |name: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).map(str::to_string))
    };
    directive("script-src")
        .or_else(|| directive("default-src"))
        .unwrap_or_default()
}

#[test]
fn responses_carry_security_headers_and_guessing_is_answered_429() {
    let hq = Hq::demo();
    let server = hq.serve();
    let http = Http::new(&server.url);

    for path in ["/login", "/", "/statements", "/api/v1/health", "/screen"] {
        let (_, h) = http.get(path);
        let policy = header(&h, "content-security-policy");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        let scripts = script_sources(policy);
        assert!(
            scripts.contains("'self'") && !scripts.contains("unsafe-inline"),
            "{path}: {policy}"
        );
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&h, "cache-control"), "no-store", "{path}");
    }

    // A login form posted without the page's token, or with another one, is refused.
    let (cookie, csrf) = http.login_page();
    assert_eq!(
        http.post_form("", &format!("csrf={csrf}&password={PASSWORD}"))
            .0,
        403
    );
    assert_eq!(
        http.post_form(&cookie, &format!("password={PASSWORD}")).0,
        403
    );
    let (_, other) = http.login_page();
    assert_ne!(other, csrf);
    assert_eq!(
        http.post_form(&cookie, &format!("csrf={other}&password={PASSWORD}"))
            .0,
        403
    );

    // The right password works; of twelve wrong ones sent at once from this address, five
    // are checked (401) and seven refused unchecked (429); then 429 with Retry-After, even for
    // the right password, on the form and the API alike.
    assert_eq!(http.login_form(PASSWORD).0, 303);
    let mut burst: Vec<u16> = http.runtime.block_on(async {
        let guesses: Vec<_> = (0..12)
            .map(|i| {
                let request = http
                    .client
                    .post(format!("{}/api/v1/login", http.base))
                    .json(&serde_json::json!({ "password": format!("guess-{i}") }));
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for g in guesses {
            statuses.push(g.await.unwrap());
        }
        statuses
    });
    burst.sort();
    assert_eq!(burst, [[401; 5].as_slice(), &[429; 7]].concat());
    let (status, h) = http.login_form("guess");
    assert_eq!(status, 429);
    let wait: u64 = header(&h, "retry-after").parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(http.login_form(PASSWORD).0, 429);
    let api_login = serde_json::json!({ "password": PASSWORD }).to_string();
    let (status, _) = http.post("/api/v1/login", "application/json", api_login.into());
    assert_eq!(status, 429);

    // Ten wrong enrolment codes, then 429.
    let enrol = |code: &str| {
        let body = serde_json::json!({ "code": code, "actor": "00" }).to_string();
        http.post("/api/v1/enroll", "application/json", body.into_bytes())
            .0
    };
    for i in 0..10 {
        assert_eq!(enrol(&format!("WRONG-CODE-{i:02}")), 403, "code {i}");
    }
    assert_eq!(enrol("WRONG-CODE-10"), 429);

    // A body over the limit is refused before it is read (at once, by its Content-Length):
    // answered 413, or closed while the client still sends it; the server goes on.
    let huge = vec![b' '; 3 << 20];
    let sent = http.runtime.block_on(async {
        let url = format!("{}/api/v1/enroll", http.base);
        let request = http
            .client
            .post(url)
            .header("content-type", "application/json");
        request.body(huge).send().await.map(|r| r.status().as_u16())
    });
    match sent {
        Ok(status) => assert_eq!(status, 413),
        Err(e) => assert!(e.is_request(), "closed while sending: {e:?}"),
    }
    // On a new connection: the refused one may be closing, which says nothing of the server.
    assert_eq!(Http::new(&server.url).get("/api/v1/health").0, 200);
}

#[test]
fn organizer_sessions_end_when_idle_when_their_lifetime_is_over_and_everywhere_at_once() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &["--session-idle", "3s", "--session-max", "8s"]);
    let http = Http::new(&server.url);
    let sleep = |ms: u64| std::thread::sleep(Duration::from_millis(ms));

    // Idle: a session left alone for longer than 3 s is over.
    let (cookie, set) = http.session();
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age=8"),
        "{set}"
    );
    assert_eq!(http.get_with_cookie("/", &cookie), 200);
    sleep(3_500);
    assert_eq!(http.get_with_cookie("/", &cookie), 401, "idle for 3.5 s");

    // Absolute: used every second it stays, until 8 s after login.
    let (cookie, _) = http.session();
    for second in 1..=6 {
        sleep(1_000);
        assert_eq!(http.get_with_cookie("/", &cookie), 200, "at {second} s");
    }
    // Idle for 2.5 s only, but 8.5 s after login.
    sleep(2_500);
    assert_eq!(http.get_with_cookie("/", &cookie), 401, "8.5 s after login");

    // Everywhere at once: the operator ends every session.
    let (cookie, _) = http.session();
    assert_eq!(http.get_with_cookie("/stalls", &cookie), 200);
    let said = hq.ok(&["hq", "end-sessions"]);
    assert!(said.starts_with("sessions ended: 1;"), "{said}");
    assert_eq!(http.get_with_cookie("/stalls", &cookie), 401);

    // A span that is not one is refused before the server starts.
    let (code, stderr) = hq.serve_refused(&["--session-idle", "soon"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--session-idle soon"), "{stderr}");
    // Nor does headquarters take a hub's --upstream in silence.
    let (code, stderr) = hq.serve_refused(&["--upstream", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--upstream is a hub's"), "{stderr}");
}

#[test]
fn a_product_named_with_markup_shows_as_text_and_nothing_of_it_runs() {
    use common::Till;
    const UNIT: &str = "114300000061841387";
    const NAME: &str = "<script>alert('x')</script><img src=x onerror=\"alert('y')\">腊肉";
    let hq = Hq::demo();
    let server = hq.serve();
    let mut till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    till.ok(&[
        "catalog",
        "add",
        "--sku",
        "XSS-1",
        "--name-zh",
        NAME,
        "--unit",
        "包",
        "--price",
        "35",
    ]);
    till.at("10:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    till.ok(&[
        "sell",
        "--seller",
        "V003",
        "XSS-1",
        "--unit",
        UNIT,
        "--pay",
        "on_account",
    ]);
    till.synced();

    let seen = common::browser::walk("markup.mjs", &[&server.url, PASSWORD, UNIT], false);
    assert_eq!(
        seen["dialogs"],
        serde_json::json!([]),
        "no script ran: {seen}"
    );
    let unit_page = &seen["pages"][format!("/units/{UNIT}")];
    assert_eq!(unit_page["status"], 200);
    assert!(
        unit_page["text"].as_str().unwrap().contains(NAME),
        "the name shows as text: {unit_page}"
    );
    for (path, page) in seen["pages"].as_object().unwrap() {
        assert_eq!(
            page["injected"], 0,
            "{path}: no script or img element of the name"
        );
    }
    let requests: Vec<&str> = seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(!requests.iter().any(|p| p.ends_with("/x")), "{requests:?}");
}

#[test]
fn tills_and_hubs_speak_tls_to_headquarters_trusting_the_fairs_ca() {
    // Step 0: the fair's CA and headquarters' certificate, and a stranger's CA.
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path(), "fair");
    let (stranger_ca, stranger_cert, stranger_key) = certificates(certs.path(), "stranger");
    let hq = Hq::demo();
    let tls_args = |cert: &Path, key: &Path| -> Vec<String> {
        vec![
            "--tls-cert".into(),
            path(cert).into(),
            "--tls-key".into(),
            path(key).into(),
        ]
    };
    let args = tls_args(&cert, &key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(hq.data(), &args);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // Step 1: without the fair's CA, or with another one, enrolment is refused in one line
    // that says what to do; a CA file that holds no certificate is bad input.
    let code = hq.add_device("T01", "S01");
    let till = Till::empty();
    let enroll = |extra: &[&str]| {
        let mut args = vec!["enroll", "--hq", &server.url, "--code", &code, "--lead-pin"];
        args.push(common::PIN);
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let refused = |extra: &[&str]| {
        let args = enroll(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        till.fails(&args, 1, "certificate does not verify")
    };
    assert!(refused(&[]).contains("--ca FILE"));
    refused(&["--ca", path(&stranger_ca)]);
    let not_a_ca = certs.path().join("notes.txt");
    std::fs::write(&not_a_ca, "the CA is on the USB stick").unwrap();
    let args = enroll(&["--ca", path(&not_a_ca)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    till.fails(&args, 2, "no certificate in it");

    // Step 2: with it, the till enrols, sells, and syncs over wss.
    let args = enroll(&["--ca", path(&ca)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    till.ok(&args);
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    for item in ["LS-MH-1", "FH-JT-300*2"] {
        till.sell(&["--seller", "V003", item, "--pay", "wechat"]);
    }
    till.synced();
    let mut held: Vec<(String, i64)> = hq.sales().into_iter().map(|(_, s, t)| (s, t)).collect();
    held.sort();
    assert_eq!(
        held,
        till.sale_totals(),
        "headquarters holds the till's sales"
    );

    // Step 3: cookies are Secure under TLS and browsers are told to stay on HTTPS.
    let http = Http::trusting(&server.url, Some(&std::fs::read_to_string(&ca).unwrap()));
    let (cookie, set_cookie) = http.session();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    // A __Host- cookie, which no other host (a sibling subdomain) can set; the same cookie
    // without the prefix, as such a host could plant it, is not read.
    assert!(
        set_cookie.starts_with("__Host-fairpos_session="),
        "{set_cookie}"
    );
    assert_eq!(http.get_with_cookie("/", &cookie), 200);
    let planted = cookie.trim_start_matches("__Host-");
    assert_eq!(http.get_with_cookie("/", planted), 401);
    let (status, h) = http.get("/");
    assert_eq!(status, 401);
    assert_eq!(header(&h, "strict-transport-security"), "max-age=31536000");

    // Step 4: a hub enrolled with the fair's CA relays to headquarters over TLS.
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    let enrol_hub = ["hq", "enroll", "--hq", &server.url, "--code", &hub_code];
    let out = hub.run(&enrol_hub);
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate does not verify"));
    let mut with_ca = enrol_hub.to_vec();
    with_ca.extend(["--ca", path(&ca)]);
    // Into a directory that holds a database already (headquarters' own), it is refused
    // before the one-time code is used: the hub then enrols with it.
    let out = hq.run(&with_ca);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds"),
        "{out:?}"
    );
    // A till is refused the hub's code, and the hub a till's, each code still unused.
    let refused = |out: std::process::Output, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(stderr.contains("the code is still unused"), "{stderr}");
    };
    let (new_till, ca_text) = (Till::empty(), path(&ca));
    let till_enrol = |code: &str| {
        let args = [
            "enroll",
            "--hq",
            &server.url,
            "--code",
            code,
            "--ca",
            ca_text,
        ];
        let mut args = args.to_vec();
        args.extend(["--lead-pin", common::PIN]);
        new_till.run(&args)
    };
    refused(till_enrol(&hub_code), "this code enrols a hub");
    let till_code = hq.add_device("T02", "S02");
    let mut hub_with_till_code = with_ca.clone();
    hub_with_till_code[5] = &till_code;
    refused(hub.run(&hub_with_till_code), "this code enrols a till");
    assert!(
        !hub.data().join("hq.db").exists(),
        "nothing made of the hub"
    );
    assert!(till_enrol(&till_code).status.success());
    hub.ok(&with_ca);
    let hub_server = Server::start(hub.data(), &[]);
    till.sell(&["--seller", "V003", "HY-MHT-LB*1.5", "--pay", "cash"]);
    till.synced_with(&hub_server.url);
    let start = std::time::Instant::now();
    while hq.sales().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the hub never relayed"
        );
        pause(200);
    }

    // Step 5: headquarters comes back on its address with a certificate of another CA: the
    // enrolled till's sync is refused in one line that names the certificate (not a step
    // that ran out of time).
    let address = server.url.trim_start_matches("https://").to_string();
    server.stop();
    let args = tls_args(&stranger_cert, &stranger_key);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--listen", &address]);
    let _server = Server::start(hq.data(), &args);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.fails(&["sync"], 1, "certificate does not verify");
}

#[test]
fn a_client_closing_its_connection_before_the_answers_ends_that_connection_alone() {
    use std::io::Write;
    let hq = Hq::demo();
    let mut server = Server::start(hq.data(), &[]);
    let address = server.url.trim_start_matches("http://").to_string();
    // Three requests at once, the connection closed unread: the server's next write meets a
    // reset socket. With SIGPIPE at its default this killed the whole process (exit 141).
    let three = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
    for _ in 0..10 {
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket.write_all(&three).unwrap();
        drop(socket);
    }
    pause(500);
    assert_eq!(server.ended(), None, "hq serve is still running");
    assert_eq!(Http::new(&server.url).get("/api/v1/health").0, 200);

    // A body its length says is too big is answered 413 at once, not waited for.
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 99999999999999\r\n\r\n{}";
    socket.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    std::io::Read::read_exact(&mut socket, &mut answer).expect("an answer within 5 s");
    assert_eq!(&answer, b"HTTP/1.1 413");
}

#[test]
fn a_command_that_only_prints_ends_quietly_when_its_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let hq = Hq::demo();
    // As `fairpos hq audit | head -0`: the reader is gone before the first line is written.
    for args in [&["hq", "audit"][..], &["hq", "user", "list"]] {
        let mut child = Command::new(common::BIN)
            .arg("--data")
            .arg(hq.data())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(13), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
}

#[test]
fn an_oversized_sync_message_is_dropped_and_logged_and_service_goes_on() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &["--max-sync-message", "1"]);
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));

    // A till's credentials, a message of 2 MiB on the sync socket: the connection ends.
    let token = format!("T01.{}", till.secret());
    let url = format!(
        "{}/sync?token={token}",
        server.url.replace("http://", "ws://")
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let huge = vec![0xa5u8; 2 << 20];
        let _ = socket.send(Message::Binary(huge.into())).await;
        tokio::time::timeout(Duration::from_secs(20), socket.next()).await
    });
    let ended = match answer {
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => true,
        Ok(Some(Ok(other))) => panic!("the server answered {other:?}"),
        Err(_) => false,
    };
    assert!(ended, "the connection stayed open");

    // Logged as the till's, and the server goes on: the same till syncs normally.
    let events = hq.events();
    assert!(
        events.contains("T01") && events.contains("too long"),
        "no event of the dropped message:\n{events}"
    );
    assert_eq!(Http::new(&server.url).get("/api/v1/health").0, 200);
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.synced();
    assert_eq!(hq.sales().len(), 1);
}

#[test]
fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further_on_sqlite() {
    a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(Hq::demo());
}

#[test]
fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("limits") {
        a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(hq);
    }
}

fn a_ledger_too_large_or_one_too_many_is_refused_logged_and_taken_no_further(hq: Hq) {
    let limits = ["--max-document", "8KiB", "--max-documents-per-device", "2"];
    let server = Server::start(hq.data(), &limits);
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));

    // A busy morning: 300 sales, about 14 KiB of ledger, past 8 KiB. Headquarters refuses
    // the ledger and logs it; the till is never told it holds every change.
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let batch: String = (0..300)
        .map(|i| {
            let item = ["LS-MH-1", "FH-JT-300", "6935780100128"][i % 3];
            format!("{{\"seller\":\"V003\",\"items\":[\"{item}\"],\"pay\":[\"wechat\"]}}\n")
        })
        .collect();
    let batch_file = till.data().join("batch.jsonl");
    std::fs::write(&batch_file, batch).unwrap();
    till.ok(&["sell-batch", batch_file.to_str().unwrap()]);
    let sync = || till.run(&["sync", "--timeout", "4"]);
    assert!(!sync().status.success());
    let events = hq.events();
    assert!(
        events.contains("over the size limit") && events.contains("T01"),
        "no refusal logged:\n{events}"
    );

    // Nothing more of it is taken, before and after a restart.
    let held = hq.sales().len();
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    assert!(!sync().status.success());
    assert_eq!(hq.sales().len(), held);
    let address = server.address().to_string();
    server.stop();
    let mut args = limits.to_vec();
    args.extend(["--listen", &address]);
    let server = Server::start(hq.data(), &args);
    assert!(!sync().status.success());
    assert_eq!(hq.sales().len(), held);

    // Ledgers past the count per till are refused at announcement (403, logged): T01 holds
    // one, the limit is two, and two more are announced.
    let token = format!("T01.{}", till.secret());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    fairpos_sync::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let announce = |ledgers: &[&str]| {
        runtime.block_on(async {
            let health = client.get(format!("{}/api/v1/health", server.url)).send();
            let health: serde_json::Value = health.await.unwrap().json().await.unwrap();
            let fair = health["fair"].as_str().unwrap().to_string();
            let docs: Vec<String> = ledgers
                .iter()
                .map(|ledger| format!("ledger/{fair}/{ledger}"))
                .collect();
            let announce = client
                .post(format!("{}/api/v1/sync/announce", server.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "docs": docs }))
                .send();
            let answer = announce.await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        })
    };
    let (status, said) = announce(&["T01/2026-11-23", "T01/2026-11-24"]);
    assert_eq!(status, 403, "{said}");
    assert!(said.contains("the limit is 2"), "{said}");
    assert!(hq.events().contains("--max-documents-per-device"));
    // One more ledger named three times is one ledger, within the limit.
    let (status, said) = announce(&["T01/2026-11-23"; 3]);
    assert_eq!(status, 200, "{said}");
    // A key whose day is not a till's (kept and sent back with every confirmation), or of
    // another device, is refused, and told back cut short.
    let long_day = format!("T01/2026-11-25{}", "x".repeat(100_000));
    let long_device = format!("T{}/2026-11-25", "1".repeat(100_000));
    for ledger in [
        "T01/2026-13-45",
        "T01/=1+1",
        long_day.as_str(),
        long_device.as_str(),
    ] {
        let (status, said) = announce(&[ledger]);
        assert_eq!(status, 403, "{said}");
        assert!(said.len() < 400, "not echoed whole: {} bytes", said.len());
    }
}
