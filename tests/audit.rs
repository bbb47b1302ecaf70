//! The audit log, against the real `fairpos` binary and `hq serve` on a loopback port: the
//! commands that change headquarters, run as `sudo` does from an SSH session, are written
//! down with the system user, who ran sudo, and the session's address; logins through the
//! API, refused or not, with the account and the client's address; commands that only read,
//! and one refused, add nothing; no password or enrolment code is ever in it; organizers
//! see it at `/audit`, newest first. On PostgreSQL the log is the database's: what one data
//! directory and its server did, another lists.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::hq::{Api, Hq, PASSWORD};
use common::BIN;
use serde_json::Value;

const LEAD_PASSWORD: &str = "lead1-secret-pw";

/// `fairpos --data DIR args…` as `sudo` runs it for alice in her SSH session from
/// 203.0.113.9, `input` on its standard input.
fn run_as_alice(data: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .env("SUDO_USER", "alice")
        .env("SSH_CONNECTION", "203.0.113.9 52044 10.0.0.1 22")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn ok_as_alice(data: &Path, args: &[&str], input: &str) -> String {
    let out = run_as_alice(data, args, input);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {said}");
    assert!(!said.contains("audit log"), "{args:?}: {said}");
    String::from_utf8(out.stdout).unwrap()
}

/// The user this test runs as, by the system's name for it.
fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `(action, actor, address, detail)` of each entry, oldest first.
fn entries(hq: &Hq) -> Vec<(String, String, String, String)> {
    let listed = hq.json(&["hq", "audit", "--json"]);
    let field = |e: &Value, k: &str| e[k].as_str().unwrap().to_string();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(field(e, "at").ends_with('Z'), "{e}");
            let f = |k| field(e, k);
            (f("action"), f("actor"), f("address"), f("detail"))
        })
        .collect()
}

#[test]
fn who_did_what_is_written_down_on_sqlite() {
    who_did_what(Hq::demo(), None);
}

#[test]
fn who_did_what_is_written_down_on_postgres() {
    let Some(hq) = Hq::demo_postgres("audit") else {
        return;
    };
    let url = hq.database_url().unwrap();
    let joined = Hq::demo_on(&url);
    who_did_what(hq, Some((joined, url)));
}

/// Changes made through `hq` (and, on PostgreSQL, through `joined`, a second data directory
/// of the same database), then listed through `joined` (else `hq`).
fn who_did_what(hq: Hq, joined: Option<(Hq, String)>) {
    let me = me();
    let by_sudo = if me == "alice" {
        me.clone()
    } else {
        format!("{me} (sudo by alice)")
    };
    let from_ssh = "203.0.113.9";
    let init = match &joined {
        // Both data directories' `hq init`, the database's address shown as given.
        Some((_, url)) => vec![format!("the demo fair on {url}"); 2],
        None => vec!["the demo fair".to_string()],
    };
    let data = hq.data();
    let other = joined.as_ref().map_or(data, |(j, _)| j.data());
    // Commands that change headquarters, the second data directory's too.
    let add = ["hq", "user", "add", "lead1", "--role", "stall-lead"];
    let add = [&add[..], &["--stall", "S01", "--password-stdin"]].concat();
    ok_as_alice(data, &add, &format!("{LEAD_PASSWORD}\n"));
    let added = ok_as_alice(
        other,
        &["hq", "add-device", "--device", "T01", "--stall", "S01"],
        "",
    );
    let code = added
        .trim()
        .rsplit(": ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    ok_as_alice(data, &["hq", "revoke-device", "T01"], "");
    ok_as_alice(data, &["hq", "screen-link", "--label", "hall A"], "");
    ok_as_alice(other, &["hq", "end-sessions"], "");
    // Commands that only read, and one refused, add nothing.
    for read in [
        &["hq", "devices"][..],
        &["hq", "user", "list"],
        &["hq", "screen-link", "--list"],
        &["hq", "events"],
        &["hq", "audit"],
    ] {
        ok_as_alice(data, read, "");
    }
    let again = run_as_alice(data, &add, "other-pw-123\n");
    assert_eq!(again.status.code(), Some(2));

    // Logins through the API: one that opens a session, three refused.
    let server = hq.serve();
    let api = Api::new(&server.url);
    let organizer = api.token_of("organizer", PASSWORD).unwrap();
    assert!(api.token_of("lead1", "not-the-password").is_none());
    assert!(api.token_of("x\ny", "not-the-password").is_none());
    assert!(api.token_of("<b>x</b>", "not-the-password").is_none());
    // The organizers' page: the latest first, what a client gave escaped.
    let (status, _, page) = api.fetch("/audit", Some(&organizer), false);
    assert_eq!(status, 200, "{page}");
    let rows: Vec<&str> = page.split("<tr data-action=").skip(1).collect();
    assert_eq!(rows.len(), init.len() + 9, "{page}");
    assert!(rows[0].starts_with("\"login refused\""), "{}", rows[0]);
    assert!(
        rows[0].contains("<td>&#60;b&#62;x&#60;/b&#62;</td>"),
        "{}",
        rows[0]
    );
    assert!(rows.last().unwrap().starts_with("\"init\""), "{page}");
    assert!(!page.contains("<b>x"), "{page}");
    assert_eq!(api.fetch("/audit", None, false).0, 401);
    server.stop();

    let listed = entries(joined.as_ref().map_or(&hq, |(j, _)| j));
    let entry = |action: &str, actor: &str, address: &str, detail: &str| {
        let s = str::to_string;
        (s(action), s(actor), s(address), s(detail))
    };
    let mut expected = Vec::new();
    for detail in &init {
        expected.push(entry("init", &me, "local", detail));
    }
    let lead = "lead1, stall-lead of stall S01";
    expected.extend([
        entry("user add", &by_sudo, from_ssh, lead),
        entry("add-device", &by_sudo, from_ssh, "T01, a till of stall S01"),
        entry("revoke-device", &by_sudo, from_ssh, "T01"),
        entry("screen-link", &by_sudo, from_ssh, "hall A"),
        entry("end-sessions", &by_sudo, from_ssh, ""),
        entry("login", "organizer", "127.0.0.1", "api"),
        entry(
            "login refused",
            "lead1",
            "127.0.0.1",
            "api: wrong account or password",
        ),
        entry(
            "login refused",
            "x\\u{a}y",
            "127.0.0.1",
            "api: wrong account or password",
        ),
        entry(
            "login refused",
            "<b>x</b>",
            "127.0.0.1",
            "api: wrong account or password",
        ),
    ]);
    assert_eq!(listed, expected);

    // As text: a line for each, and no password or code anywhere.
    let text = hq.ok(&["hq", "audit"]);
    assert_eq!(text.lines().count(), expected.len(), "{text}");
    let line = format!("user add by {by_sudo} from {from_ssh}: {lead}");
    assert!(text.lines().any(|l| l.ends_with(&line)), "{text}");
    for secret in [
        LEAD_PASSWORD,
        PASSWORD,
        "other-pw-123",
        "not-the-password",
        code,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}
