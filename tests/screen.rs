//! The fair's big screen in a real browser: headless Chromium (driven by `interop/screen.mjs`
//! through playwright-core) opens `/screen` on a real `fairpos hq serve` with a screen token
//! from `fairpos hq screen-link`. A till syncs five more sales: the total on the page changes
//! within two seconds, with no reload. Headquarters restarts on the same port: the page
//! reconnects by itself and follows the next sale. The page loads nothing from another
//! origin. The token opens nothing else, and stops working once revoked.
//!
//! `FAIRPOS_SCREENSHOTS=DIR` keeps the screen at 1920×1080 and 1280×720.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::api::Api;
use common::hq::{Hq, Server};
use common::morning::{t01_morning, t02_morning};
use common::Till;
use serde_json::Value;

/// `/screen/events` opened with `token` over a plain connection, read up to its first
/// event (figures, or the comment that none are published yet).
fn open_events(url: &str, token: &str) -> BufReader<std::net::TcpStream> {
    let address = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(address).unwrap();
    write!(
        conn,
        "GET /screen/events?token={token} HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while !(line.starts_with("event:") || line.starts_with(':')) {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "no event came");
    }
    reader
}

/// What the chunked event stream on `reader` carried before it ended (its last, empty
/// chunk) within `seconds`, if it did; keep-alive comments and events may come before.
fn ends_within(reader: &mut BufReader<std::net::TcpStream>, seconds: u64) -> Option<String> {
    let limit = std::time::Duration::from_secs(seconds);
    let start = std::time::Instant::now();
    reader.get_ref().set_read_timeout(Some(limit)).unwrap();
    let (mut line, mut carried) = (String::new(), String::new());
    while start.elapsed() < limit {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Some(carried),
            Ok(_) if line == "0\r\n" => return Some(carried),
            Ok(_) => carried.push_str(&line),
            Err(_) => return None,
        }
    }
    None
}

/// Sells `n` tea boxes (128.00 each) on `till`, paid in cash.
fn sell_tea(till: &Till, n: usize) {
    for _ in 0..n {
        till.sell(&["--seller", "V003", "6935780100128", "--pay", "cash"]);
    }
}

/// The browser watching the screen: its JSON lines one at a time, told when to expect a
/// change.
struct Screen {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Screen {
    fn open(url: &str) -> Screen {
        let mut args = vec!["screen.mjs".to_string(), url.to_string()];
        if let Some(shots) = common::browser::screenshots_dir() {
            args.push(shots.to_string_lossy().into_owned());
        }
        let mut child = Command::new("node")
            .current_dir(common::browser::interop_dir())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Screen { child, lines }
    }

    fn next(&mut self) -> Value {
        let line = self.lines.next().expect("the browser ended early").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_big_screen_follows_sales_as_they_sync_and_its_token_opens_nothing_else_on_sqlite() {
    the_big_screen_follows_sales_as_they_sync_and_its_token_opens_nothing_else(Hq::demo());
}

#[test]
fn the_big_screen_follows_sales_as_they_sync_and_its_token_opens_nothing_else_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("screen") {
        the_big_screen_follows_sales_as_they_sync_and_its_token_opens_nothing_else(hq);
    }
}

fn the_big_screen_follows_sales_as_they_sync_and_its_token_opens_nothing_else(hq: Hq) {
    // Two tills' mornings at the demo fair (common/morning.rs) have reached headquarters.
    let server = hq.serve();
    let mut till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t02 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    t01_morning(&mut till);
    t02_morning(&mut t02);
    till.synced();
    t02.synced();
    let net = |hq: &Hq| {
        hq.json(&["hq", "report", "--by", "stall", "--format", "json"])["net_fen"]
            .as_i64()
            .unwrap()
    };
    let sales = |hq: &Hq| {
        let all = hq.json(&["hq", "sales", "--json"]);
        let live = all.as_array().unwrap().iter();
        live.filter(|s| s["status"] != "voided").count() as i64
    };
    let (net0, sales0) = (net(&hq), sales(&hq));
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    // An address with a query or fragment, where the link's path would be lost, is refused
    // before any token is issued.
    let odd = format!("{}/?a=b#frag", server.url);
    let out = hq.run(&["hq", "screen-link", "--base", &odd]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // So is a label of over 100 characters.
    let long = "大".repeat(101);
    let out = hq.run(&["hq", "screen-link", "--base", &server.url, "--label", &long]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let listed = hq.json(&["hq", "screen-link", "--list", "--json"]);
    assert_eq!(listed, serde_json::json!([]), "no token issued");

    let link = hq.json(&[
        "hq",
        "screen-link",
        "--base",
        &server.url,
        "--label",
        "hall A",
        "--json",
    ]);
    let url = link["url"].as_str().unwrap().to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();

    // The token opens the screen and nothing else: no page, no API, as a bearer or a query.
    let api = Api::new(&server.url);
    assert_eq!(api.get(&format!("/screen?token={token}"), None).0, 200);
    for path in ["/", "/stalls", "/leaderboard", "/api/v1/report?by=county"] {
        assert_eq!(api.get(path, Some(&token)).0, 401, "{path} with the token");
        let sep = if path.contains('?') { '&' } else { '?' };
        assert_eq!(
            api.get(&format!("{path}{sep}token={token}"), None).0,
            401,
            "{path}?token="
        );
    }
    assert_eq!(api.get("/screen", None).0, 401, "no token, no screen");
    assert_eq!(api.get("/screen?token=scr.forged", None).0, 401);

    // The screen shows what headquarters holds.
    let mut screen = Screen::open(&url);
    let ready = screen.next();
    assert_eq!(ready["step"], "ready", "{ready}");
    assert_eq!(ready["net_fen"], net0, "{ready}");
    assert_eq!(ready["sales"], sales0, "{ready}");

    // Five more sales reach headquarters: the total shows them within two seconds, no reload
    // (headquarters may project them in more than one pass, the screen following each).
    sell_tea(&till, 5);
    till.synced();
    screen.tell(&format!("expect 2000 {}", net0 + 5 * 12800));
    let moved = screen.next();
    assert_eq!(moved["step"], "changed", "{moved}");
    assert_eq!(moved["net_fen"], net0 + 5 * 12800, "{moved}");
    assert_eq!(moved["sales"], sales0 + 5);
    assert_eq!(moved["same_document"], true);

    // Headquarters restarts on the same address: the page reconnects and follows on.
    let listen = server.address().to_string();
    server.stop();
    let server = Server::start(hq.data(), &["--listen", &listen]);
    sell_tea(&till, 1);
    till.synced();
    screen.tell(&format!("expect 15000 {}", net0 + 6 * 12800));
    let after_restart = screen.next();
    assert_eq!(after_restart["step"], "changed", "{after_restart}");
    assert_eq!(
        after_restart["net_fen"],
        net0 + 6 * 12800,
        "{after_restart}"
    );
    assert_eq!(after_restart["net_fen"], net(&hq));

    screen.tell("done");
    let done = screen.next();
    assert_eq!(done["step"], "done", "{done}");
    assert_eq!(done["navigations"], 1, "the page reloaded: {done}");
    assert_eq!(done["same_document"], true, "{done}");
    assert_eq!(done["foreign"], serde_json::json!([]), "{done}");
    let yuan = net0 + 6 * 12800;
    assert_eq!(
        done["net_text"],
        format!("￥{}.{:02}", yuan / 100, yuan % 100),
        "{done}"
    );
    assert_eq!(done["charts"], 5, "{done}");

    // Revoked, the link shows nothing more, and a screen open on it stops: told so (its page
    // takes the figures down and asks no more), its stream ends.
    let mut open = open_events(&server.url, &token);
    let id = link["id"].as_str().unwrap();
    hq.ok(&["hq", "screen-link", "--revoke", id]);
    let carried = ends_within(&mut open, 20).expect("the revoked screen's stream went on");
    assert!(carried.contains("event: revoked"), "{carried}");
    assert_eq!(api.get(&format!("/screen?token={token}"), None).0, 401);
    assert_eq!(
        api.get(&format!("/screen/events?token={token}"), None).0,
        401
    );
    let listed = hq.json(&["hq", "screen-link", "--list", "--json"]);
    assert_eq!(listed[0]["label"], "hall A");
    assert_eq!(listed[0]["revoked"], true);
    // A label with a terminal's escape is listed with it written out, not run.
    let escape = [
        "hq",
        "screen-link",
        "--base",
        &server.url,
        "--label",
        "hall\u{1b}[2J B",
    ];
    hq.ok(&escape);
    let listed = hq.ok(&["hq", "screen-link", "--list"]);
    assert!(
        listed.contains("hall\\u{1b}[2J B") && !listed.contains('\u{1b}'),
        "{listed}"
    );
    drop(server);
}

/// A screen link the database cannot check now (the venue's power back before the database)
/// is answered 503 with a page that asks again by itself, not "revoked" on a page that never
/// reloaded; once the database answers, the link opens the screen.
#[test]
fn a_screen_link_headquarters_cannot_check_now_is_asked_again() {
    let hq = Hq::demo();
    let server = hq.serve();
    let link = hq.json(&["hq", "screen-link", "--base", &server.url, "--json"]);
    let url = link["url"].as_str().unwrap();
    let token = url.split("token=").nth(1).unwrap();
    let api = Api::new(&server.url);
    let db = rusqlite::Connection::open(hq.dir.path().join("hq.db")).unwrap();
    db.execute_batch("ALTER TABLE screen_tokens RENAME TO screen_tokens_away")
        .unwrap();
    let (status, page) = api.get_text(&format!("/screen?token={token}"));
    assert_eq!(status, 503, "{page}");
    assert!(page.contains(r#"http-equiv="refresh""#), "{page}");
    let events = api.get(&format!("/screen/events?token={token}"), None).0;
    assert_eq!(events, 503);
    db.execute_batch("ALTER TABLE screen_tokens_away RENAME TO screen_tokens")
        .unwrap();
    let (status, page) = api.get_text(&format!("/screen?token={token}"));
    assert_eq!(status, 200);
    // Its script by a relative address, beside the page wherever a proxy serves it
    // (`--base` with a path: the script was looked for at the root).
    assert!(page.contains(r#"src="screen/screen.js""#), "{page}");
}
