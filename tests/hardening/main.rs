//! Headquarters on the open internet, the part built so far: every response carries a
//! Content-Security-Policy without inline script and `frame-ancestors 'none'`, `nosniff` and
//! a referrer policy; guessing the organizer password or enrolment codes from one address is
//! answered 429 after a few failures; an oversized request body is answered 413 and the
//! server goes on; organizer sessions end when idle, when their absolute lifetime is over
//! (the cookie's `Max-Age`), and all at once on the operator's word. Against the real
//! `fairpos hq serve` on a loopback port.

#[path = "../common/mod.rs"]
mod common;
mod limits;
mod tls;

use std::path::Path;
use std::time::Duration;

use common::api::csrf_field;
use common::hq::{pause, Hq, Server, PASSWORD};
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
fn a_till_retrying_its_own_enrolment_does_not_clear_the_addresss_failed_codes() {
    let hq = Hq::demo();
    let code = hq.add_device("T01", "S01");
    let server = Server::start(hq.data(), &[]);
    let http = Http::new(&server.url);
    // The till's own signing key, which its retry sends again.
    let key = fairpos_sync::keys::public_key(&fairpos_sync::keys::new_secret());
    let enrol = |code: &str| {
        let actor = "0123456789abcdef0123456789abcdef";
        let body = serde_json::json!({ "code": code, "actor": actor, "signing_key": key });
        let body = body.to_string();
        http.post("/api/v1/enroll", "application/json", body.into_bytes())
            .0
    };
    assert_eq!(enrol(&code), 200, "the till enrols");
    for i in 0..9 {
        assert_eq!(enrol(&format!("WRONG-CODE-{i:02}")), 403, "code {i}");
    }
    // The till's own code again, as a till that never heard the answer sends it: granted,
    // and the nine failures stand, so the tenth is the last one checked.
    assert_eq!(enrol(&code), 200, "the retry");
    assert_eq!(enrol("WRONG-CODE-09"), 403);
    assert_eq!(enrol("WRONG-CODE-10"), 429);
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

/// Headquarters' database holds its login cookies' key (a hub's, its secret upstream):
/// unreadable by others than its owner and group, made so at each opening whatever the
/// umask left (it was 0644 by hand).
#[test]
fn the_headquarters_database_is_unreadable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let hq = Hq::demo();
    let db = hq.dir.path().join("hq.db");
    let mode = || std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode() & 0o007, 0, "{:o}", mode());
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
    hq.ok(&["hq", "devices", "--json"]);
    assert_eq!(mode(), 0o660, "the group keeps its access");
}
