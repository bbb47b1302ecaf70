//! The audit log, against the real `fairpos` binary and `hq serve` on a loopback port: the
//! commands run to change headquarters, as `sudo` runs them from an SSH session, are written
//! down with the system user, who ran sudo (or logged in), and the session's address, a
//! refused one with why; a till enrolling through the API, and an enrolment refused; logins
//! through the API, refused or not, with the account (never a name that is none) and the
//! client's address; commands that only read add nothing; no password, token or enrolment
//! code is ever in it; organizers see it at `/audit`, newest first, what a person typed
//! escaped. On PostgreSQL the log is the database's: what one data directory and its server
//! did, another lists.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::api::Api;
use common::hq::{Hq, PASSWORD};
use common::{Till, BIN};
use serde_json::Value;

const LEAD_PASSWORD: &str = "lead1-secret-pw";

/// An SSH session's variables: alice's, from 203.0.113.9, as `sudo` keeps them when told
/// to (`env_keep`).
const ALICE_OVER_SSH: [(&str, &str); 2] = [
    ("SUDO_USER", "alice"),
    ("SSH_CONNECTION", "203.0.113.9 52044 10.0.0.1 22"),
];

/// `fairpos --data DIR args…` with only `env` of the variables sudo and SSH set, `input`
/// on its standard input.
fn run_with(data: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("SUDO_USER")
        .env_remove("SSH_CONNECTION")
        .envs(env.iter().copied())
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

fn ok_with(data: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> String {
    let out = run_with(data, args, input, env);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {said}");
    assert!(!said.contains("audit log"), "{args:?}: {said}");
    String::from_utf8(out.stdout).unwrap()
}

/// The demo headquarters set up outside sudo and SSH, on `database` if given.
fn demo(database: Option<&str>) -> Hq {
    let hq = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    let mut init = vec!["hq", "init", "--demo", "--organizer-password", PASSWORD];
    init.extend(
        database
            .map(|url| ["--database", url])
            .into_iter()
            .flatten(),
    );
    ok_with(hq.data(), &init, "", &[]);
    hq
}

/// `id ARGS…`'s answer.
fn id(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The name the system gives user `uid` (`id -u` for this one), else `uid N`.
fn name_of(uid: &str) -> String {
    match id(&["-un", uid]) {
        name if name.is_empty() => format!("uid {uid}"),
        name => name,
    }
}

/// The login user the kernel records for this session, when it records one that is not
/// this user (then every command is written down by it, and from `unknown` without SSH).
fn login_user() -> Option<String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let login = read("/proc/self/loginuid").trim().to_string();
    let overflow = read("/proc/sys/kernel/overflowuid").trim().to_string();
    let me = id(&["-u"]);
    let unset = ["", "4294967295", overflow.as_str(), me.as_str()];
    (!unset.contains(&login.as_str())).then(|| name_of(&login))
}

/// Who this test's commands are written down as, outside sudo and under sudo for alice,
/// and from where when not over SSH.
fn actors(me: &str) -> (String, String, &'static str) {
    match login_user() {
        Some(login) => {
            let actor = format!("{me} (logged in as {login})");
            (actor.clone(), actor, "unknown")
        }
        None if me == "alice" => (me.to_string(), me.to_string(), "local"),
        None => (me.to_string(), format!("{me} (sudo by alice)"), "local"),
    }
}

/// The day `days` ago at the demo fair (+08:00), as `/audit?since=` takes it.
fn days_ago_at_the_fair(days: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let at = chrono::Utc::now() - chrono::Duration::days(days);
    at.with_timezone(&beijing).date_naive().to_string()
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
    who_did_what(demo(None), None);
}

#[test]
fn who_did_what_is_written_down_on_postgres() {
    let Some(url) = common::postgres::fresh_database("audit") else {
        return;
    };
    // The test server takes its user without a password: one in the address is there to
    // be masked.
    let url = url.replacen("://postgres@", "://postgres:pw-in-the-url@", 1);
    let hq = demo(Some(&url));
    let joined = demo(Some(&url));
    who_did_what(hq, Some(joined));
}

/// Changes made through `hq` (and, on PostgreSQL, through `joined`, a second data directory
/// of the same database), then listed through `joined` (else `hq`).
fn who_did_what(hq: Hq, joined: Option<Hq>) {
    let (me, by_sudo, here) = actors(&name_of(&id(&["-u"])));
    let from_ssh = "203.0.113.9";
    let data = hq.data();
    let other = joined.as_ref().map_or(data, |j| j.data());
    let init = match &joined {
        // Both data directories' `hq init`, the database's password masked.
        Some(j) => {
            let url = j.database_url().unwrap().replace("pw-in-the-url", "***");
            vec![format!("the demo fair on {url}"); 2]
        }
        None => vec!["the demo fair".to_string()],
    };
    // Commands run to change headquarters, the second data directory's too.
    let add = ["hq", "user", "add", "lead1", "--role", "stall-lead"];
    let add = [&add[..], &["--stall", "S01", "--password-stdin"]].concat();
    let lead_line = format!("{LEAD_PASSWORD}\n");
    ok_with(data, &add, &lead_line, &ALICE_OVER_SSH);
    let device = ["hq", "add-device", "--device", "T01", "--stall", "S01"];
    let added = ok_with(other, &device, "", &ALICE_OVER_SSH);
    let code = added.trim().rsplit(": ").next().unwrap().split(' ').next();
    let code = code.unwrap().to_string();
    ok_with(data, &["hq", "revoke-device", "T01"], "", &ALICE_OVER_SSH);
    let label = ["hq", "screen-link", "--label", "<b>hall A</b>", "--json"];
    let link: Value = serde_json::from_str(&ok_with(data, &label, "", &ALICE_OVER_SSH)).unwrap();
    let url = link["url"].as_str().unwrap();
    let screen_token = url.split("token=").nth(1).unwrap().trim().to_string();
    let link_id = link["id"].as_str().unwrap().to_string();
    // sudo without being told to keep SSH_CONNECTION: where from is not known.
    ok_with(other, &["hq", "end-sessions"], "", &ALICE_OVER_SSH[..1]);
    let t02 = ok_with(
        data,
        &["hq", "add-device", "--device", "T02", "--stall", "S02"],
        "",
        &[],
    );
    let t02_code = t02.trim().rsplit(": ").next().unwrap().split(' ').next();
    let t02_code = t02_code.unwrap().to_string();
    // Commands that only read add nothing; one refused is written with why.
    for read in [
        &["hq", "devices"][..],
        &["hq", "user", "list"],
        &["hq", "screen-link", "--list"],
        &["hq", "events"],
        &["hq", "audit"],
    ] {
        ok_with(data, read, "", &ALICE_OVER_SSH);
    }
    let again = run_with(data, &add, "other-pw-123\n", &ALICE_OVER_SSH);
    assert_eq!(again.status.code(), Some(2));

    let server = hq.serve();
    // A till enrols through the API; then another device tries its code.
    Till::enrolled(&server.url, &t02_code);
    let api = Api::new(&server.url);
    let other_actor = serde_json::json!({ "code": t02_code, "actor": "0123456789abcdef" });
    let (status, answer) = api.post("/api/v1/enroll", None, &other_actor);
    assert_eq!(status, 403, "{answer}");
    // Logins through the API: one that opens a session, three refused, two of them for
    // names that are no account's (one a password typed in the wrong field).
    let organizer = api.token_of("organizer", PASSWORD).unwrap();
    assert!(api.token_of("lead1", "not-the-password").is_none());
    assert!(api.token_of(LEAD_PASSWORD, "lead1").is_none());
    assert!(api.token_of("x\ny", "not-the-password").is_none());
    // The organizers' page: the latest first, what a person typed escaped.
    let (status, _, page) = api.fetch("/audit", Some(&organizer), false);
    assert_eq!(status, 200, "{page}");
    let rows: Vec<&str> = page.split("<tr data-action=").skip(1).collect();
    assert_eq!(rows.len(), init.len() + 13, "{page}");
    assert!(rows[0].starts_with("\"login refused\""), "{}", rows[0]);
    assert!(rows.last().unwrap().starts_with("\"init\""), "{page}");
    let label = format!("<td>&#60;b&#62;hall A&#60;/b&#62;, link {link_id}</td>");
    assert!(rows.iter().any(|r| r.contains(&label)), "{page}");
    assert!(!page.contains("<b>hall"), "{page}");
    assert_eq!(api.fetch("/audit", None, false).0, 401);
    // Found by action (and by today, at the fair), what was asked shown back escaped.
    let (yesterday, today) = (days_ago_at_the_fair(1), days_ago_at_the_fair(0));
    let path = format!("/audit?action=login+refused&since={yesterday}&until={today}&actor=");
    let (status, _, found) = api.fetch(&path, Some(&organizer), false);
    assert_eq!(status, 200, "{found}");
    let rows: Vec<&str> = found.split("<tr data-action=").skip(1).collect();
    assert_eq!(rows.len(), 3, "{found}");
    assert!(
        rows.iter().all(|r| r.starts_with("\"login refused\"")),
        "{found}"
    );
    assert!(found.contains("format=csv"), "{found}");
    let (status, _, csv) = api.fetch(&format!("{path}&format=csv"), Some(&organizer), false);
    assert_eq!(status, 200, "{csv}");
    let csv_lines: Vec<&str> = csv.lines().collect();
    assert_eq!(csv_lines.len(), 4, "{csv}");
    assert!(
        csv_lines[1..].iter().all(|l| l.contains(",login refused,")),
        "{csv}"
    );
    let (_, _, asked) = api.fetch("/audit?actor=%3Cb%3E", Some(&organizer), false);
    assert!(asked.contains("value=\"&#60;b&#62;\""), "{asked}");
    assert!(asked.contains(">无 none<"), "{asked}");
    let (status, _, refused) = api.fetch("/audit?since=yesterday", Some(&organizer), false);
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("not a day"), "{refused}");
    let (status, _, refused) = api.fetch("/audit?format=xlsx", Some(&organizer), false);
    assert_eq!(status, 400, "{refused}");
    server.stop();

    let listed = entries(joined.as_ref().unwrap_or(&hq));
    let entry = |action: &str, actor: &str, address: &str, detail: &str| {
        let s = str::to_string;
        (s(action), s(actor), s(address), s(detail))
    };
    let mut expected: Vec<_> = init
        .iter()
        .map(|detail| entry("init", &me, here, detail))
        .collect();
    let lead = "lead1, stall-lead of stall S01";
    let refused = "api: wrong name or password";
    let no_one = "(no such account)";
    let local = "127.0.0.1";
    expected.extend([
        entry("user add", &by_sudo, from_ssh, lead),
        entry("add-device", &by_sudo, from_ssh, "T01, a till of stall S01"),
        entry("revoke-device", &by_sudo, from_ssh, "T01"),
        entry(
            "screen-link",
            &by_sudo,
            from_ssh,
            &format!("<b>hall A</b>, link {link_id}"),
        ),
        entry("end-sessions", &by_sudo, "unknown", "0 sessions ended"),
        entry("add-device", &me, here, "T02, a till of stall S02"),
        entry(
            "user add",
            &by_sudo,
            from_ssh,
            &format!("{lead} — failed: there is an account lead1 already"),
        ),
        entry("enroll", "T02", local, "a till of stall S02"),
        entry(
            "enroll refused",
            "(a device)",
            local,
            "this enrolment code has been used",
        ),
        entry("login", "organizer", local, "api"),
        entry("login refused", "lead1", local, refused),
        entry("login refused", no_one, local, refused),
        entry("login refused", no_one, local, refused),
    ]);
    assert_eq!(listed, expected);

    // As text: a line for each, and no password, token or code anywhere.
    let text = hq.ok(&["hq", "audit"]);
    assert_eq!(text.lines().count(), expected.len(), "{text}");
    let line = format!("user add by {by_sudo} from {from_ssh}: {lead}");
    assert!(text.lines().any(|l| l.ends_with(&line)), "{text}");
    let secrets = [
        LEAD_PASSWORD,
        PASSWORD,
        "other-pw-123",
        "not-the-password",
        "pw-in-the-url",
        &code,
        &t02_code,
        &screen_token,
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
        assert!(!page.contains(secret), "{secret} in {page}");
    }
}

#[test]
fn a_download_of_more_than_it_gives_is_refused_not_cut_short() {
    let hq = demo(None);
    // A province's year: 100 000 logins, 400 days ago, into the real database.
    let at = (chrono::Utc::now() - chrono::Duration::days(400))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    let tx = db.transaction().unwrap();
    for n in 0..100_000 {
        tx.execute(
            "INSERT INTO audit_log(at, actor, address, action, detail)
             VALUES (?1, 'lead1', '10.0.0.9', 'login', ?2)",
            [&at, &format!("login {n}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(db);
    let server = hq.serve();
    let api = Api::new(&server.url);
    let organizer = api.token_of("organizer", PASSWORD).unwrap();
    let (status, _, refused) = api.fetch("/audit?format=csv", Some(&organizer), false);
    assert_eq!(status, 400, "{}", &refused[..refused.len().min(300)]);
    assert!(
        refused.contains("more than 100000 entries match"),
        "{refused}"
    );
    // Today's alone: the file, whole.
    let today = days_ago_at_the_fair(0);
    let path = format!("/audit?since={today}&format=csv");
    let (status, _, csv) = api.fetch(&path, Some(&organizer), false);
    assert_eq!(status, 200, "{csv}");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(rows.iter().any(|r| r.contains(",init,")), "{csv}");
    assert!(rows.iter().all(|r| !r.contains("10.0.0.9")), "{csv}");
    server.stop();
}

#[test]
fn the_chain_is_checked_from_the_dashboard_on_sqlite() {
    the_chain_is_checked_from_the_dashboard(demo(None));
}

#[test]
fn the_chain_is_checked_from_the_dashboard_on_postgres() {
    let Some(url) = common::postgres::fresh_database("audit_check") else {
        return;
    };
    the_chain_is_checked_from_the_dashboard(demo(Some(&url)));
}

/// A `psql` session holding a lock on a PostgreSQL database, until dropped.
struct Holding(std::process::Child);

impl Drop for Holding {
    fn drop(&mut self) {
        // Its input closed, psql ends, and its session's locks with it.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// A `psql` session on the database at `url` that has run `sql`, kept open: returned once
/// `held` (whether what `sql` took is in `pg_locks`) says 1.
fn holding(url: &str, sql: &str, held: &str) -> Holding {
    let mut psql = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = psql.stdin.as_mut().unwrap();
    writeln!(stdin, "{sql}").unwrap();
    stdin.flush().unwrap();
    let holding = Holding(psql);
    if says_one(url, held) {
        return holding;
    }
    panic!("psql never took what it was asked: {sql}");
}

/// Whether `query` says 1 within 5 s.
fn says_one(url: &str, query: &str) -> bool {
    (0..200).any(|_| {
        let out = Command::new("psql")
            .args([url, "-tA", "-c", query])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).trim() == "1";
        if !said {
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        said
    })
}

/// The lock of a dashboard's walk of the audit log (`fairpos_postgres::audit::WALK_LOCK`),
/// held as another process walking it would.
fn walking_elsewhere(url: &str) -> Holding {
    let key = fairpos_postgres::audit::WALK_LOCK;
    // Listed by the server once held (a bigint key: its low 32 bits as objid, objsubid 1).
    let listed = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
         AND classid = {} AND objid = {} AND objsubid = 1",
        key >> 32,
        key & 0xffff_ffff
    );
    holding(url, &format!("SELECT pg_advisory_lock({key});"), &listed)
}

/// The audit log locked whole (as a `VACUUM FULL` would), so that a walk waits to read it.
fn log_locked(url: &str) -> Holding {
    let sql = "BEGIN; LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE;";
    holding(url, sql, &lock_on_the_log("AccessExclusiveLock", "granted"))
}

/// Whether a lock of `mode` on the audit log is `state` (`granted`, `NOT granted`): 1 or 0.
/// (A read waits for `AccessShareLock`; a write, such as a sweep of ended sessions, for
/// another mode.)
fn lock_on_the_log(mode: &str, state: &str) -> String {
    format!(
        "SELECT least(count(*), 1) FROM pg_locks
         WHERE relation = 'audit_log'::regclass AND mode = '{mode}' AND {state}"
    )
}

/// The status `GET path` as `token` is answered with within `wait`, or `None` once the
/// client gives up (the connection closed, as on a reload or a client's timeout).
fn answered_within(
    server: &common::hq::Server,
    path: &str,
    token: &str,
    wait: std::time::Duration,
) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: hq\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut head = [0; 12];
    std::io::Read::read_exact(&mut stream, &mut head).ok()?;
    // "HTTP/1.1 503"
    String::from_utf8_lossy(&head[9..]).parse().ok()
}

/// `/audit/verify` as an organizer: whole (200), then broken where an entry was changed in
/// the real database (409); not for anyone logged out; on PostgreSQL, 503 while another
/// process walks it.
fn the_chain_is_checked_from_the_dashboard(hq: Hq) {
    let psql = |url: &str, sql: &str| {
        let out = Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    // On PostgreSQL, entries past a few of the batches its rows are hashed in (linked by
    // the trigger as they are written): #2 to #3001.
    let bulk = "INSERT INTO audit_log(at, actor, address, action, detail)
                SELECT now(), 'lead1', '10.0.0.9', 'login refused', 'try ' || i
                FROM generate_series(1, 3000) AS i";
    let added = hq.database_url().map_or(0, |url| {
        psql(&url, bulk);
        3000
    });
    let server = hq.serve();
    let api = Api::new(&server.url);
    let organizer = api.token_of("organizer", PASSWORD).unwrap();
    let (_, _, page) = api.fetch("/audit", Some(&organizer), false);
    assert!(page.contains("href=\"/audit/verify\""), "{page}");
    let (status, _, said) = api.fetch("/audit/verify", Some(&organizer), false);
    assert_eq!(status, 200, "{said}");
    // The init, those written above and the login just now.
    let whole = format!("The audit log is whole: {} entries", 2 + added);
    assert!(said.contains(&whole), "{said}");
    assert_eq!(api.fetch("/audit/verify", None, false).0, 401);
    if let Some(url) = hq.database_url() {
        // What the check answers once no walk holds it up (5 s at most).
        let answered_once_free = || {
            (0..100).find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let (status, _, _) = api.fetch("/audit/verify", Some(&organizer), false);
                (status != 503).then_some(status)
            })
        };
        // A walk of another process on the database, as its lock: this one waits its turn.
        let other = walking_elsewhere(&url);
        let (status, _, said) = api.fetch("/audit/verify", Some(&organizer), false);
        assert_eq!(status, 503, "{said}");
        assert!(said.contains("A check of the chain is running"), "{said}");
        drop(other);
        assert_eq!(answered_once_free(), Some(200));
        // This process's walk under way (waiting to read the log), its request given up:
        // the walk goes on, and the next request is refused until it ends, then answered.
        let locked = log_locked(&url);
        let ask = |wait_ms| {
            let wait = std::time::Duration::from_millis(wait_ms);
            answered_within(&server, "/audit/verify", &organizer, wait)
        };
        assert_eq!(ask(500), None);
        assert!(says_one(
            &url,
            &lock_on_the_log("AccessShareLock", "NOT granted")
        ));
        assert_eq!(ask(10_000), Some(503));
        assert_eq!(ask(10_000), Some(503));
        drop(locked);
        assert_eq!(answered_once_free(), Some(200));
    }
    // On PostgreSQL one in a later batch, on SQLite the first.
    let changed = |id: u32| format!("UPDATE audit_log SET detail = 'another fair' WHERE id = {id}");
    let id = match hq.database_url() {
        Some(url) => {
            psql(&url, &changed(2500));
            2500
        }
        None => {
            let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
            db.execute(&changed(1), []).unwrap();
            1
        }
    };
    let (status, _, said) = api.fetch("/audit/verify", Some(&organizer), false);
    assert_eq!(status, 409, "{said}");
    let broken = format!("The audit log is broken: entry #{id} no longer matches its digest");
    assert!(said.contains(&broken), "{said}");
    server.stop();
}
