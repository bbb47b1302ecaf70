//! `hq audit verify`, against the real `fairpos` binary, on both backends (on PostgreSQL
//! written through one data directory and checked through another): a log a year old, then
//! entries written by four commands at once, stays one hash chain; an entry changed in the
//! database is named; a prune's gap is named by its own entry, and its archive, given back,
//! is checked in its place (a changed archive is found); an entry removed behind
//! headquarters' back is named; a digest written down earlier is found, one never written
//! is not. And `deploy/fairpos-hq-audit-verify.service`'s command, as its daily timer runs
//! it: a log rewritten whole from one entry on, chained anew, which a walk alone finds
//! whole, fails at the digest it noted the day before.

mod common;

use std::process::{Command, Output, Stdio};

use chrono::{Duration, FixedOffset, Utc};
use common::hq::Hq;
use common::BIN;
use fairpos_postgres::audit::chain;

#[test]
fn the_chain_holds_and_tells_on_sqlite() {
    let hq = Hq::demo();
    the_chain_holds_and_tells(&hq, &hq);
}

#[test]
fn the_chain_holds_and_tells_on_postgres() {
    let Some(hq) = Hq::demo_postgres("audit_chain") else {
        return;
    };
    let checker = Hq::demo_on(&hq.database_url().unwrap());
    the_chain_holds_and_tells(&hq, &checker);
}

/// Runs `statement` on the database of `hq` (by `psql` on PostgreSQL): the first column of
/// each row it gives.
fn sql(hq: &Hq, statement: &str) -> Vec<String> {
    match hq.database_url() {
        Some(url) => {
            let out = Command::new("psql")
                .args([&url, "-At", "-v", "ON_ERROR_STOP=1", "-c", statement])
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{statement}: {said}");
            let rows = String::from_utf8(out.stdout).unwrap();
            rows.lines().map(str::to_string).collect()
        }
        None => {
            let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
            let mut stmt = db.prepare(statement).unwrap();
            let columns = stmt.column_count();
            let rows = stmt.query_map([], |r| {
                let text: Option<String> = if columns > 0 { r.get(0)? } else { None };
                Ok(text.unwrap_or_default())
            });
            rows.unwrap().collect::<Result<_, _>>().unwrap()
        }
    }
}

/// `text` as an SQL string.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The log of `hq` replaced by one begun long ago: an entry for each of `(days_ago,
/// detail)`, linked as headquarters writes them.
fn log_begun_long_ago(hq: &Hq, entries: &[(i64, &str)]) {
    sql(hq, "DELETE FROM audit_log");
    let mut follows = chain::START.to_string();
    for (days_ago, detail) in entries {
        let at = (Utc::now() - Duration::days(*days_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let entry = (
            at,
            "alice".to_string(),
            "local".to_string(),
            "add-device".to_string(),
            detail.to_string(),
        );
        let digest = chain::digest(&follows, &entry);
        let values = [
            &entry.0, &entry.1, &entry.2, &entry.3, &entry.4, &follows, &digest,
        ];
        let values: Vec<String> = values.iter().map(|v| quoted(v)).collect();
        sql(
            hq,
            &format!(
                "INSERT INTO audit_log(at, actor, address, action, detail, follows, digest) \
                 VALUES ({})",
                values.join(", ")
            ),
        );
        follows = digest;
    }
}

/// The number of the entry whose detail is `detail`.
fn numbered(hq: &Hq, detail: &str) -> String {
    let found = sql(
        hq,
        &format!(
            "SELECT CAST(id AS TEXT) FROM audit_log WHERE detail = {}",
            quoted(detail)
        ),
    );
    assert_eq!(found.len(), 1, "{detail}: {found:?}");
    found[0].clone()
}

/// `hq audit verify` with `options` through `hq`.
fn verify(hq: &Hq, options: &[&str]) -> Output {
    hq.run(&[&["hq", "audit", "verify"][..], options].concat())
}

/// As [`verify`], which must find the log whole: what it said.
fn whole(hq: &Hq, options: &[&str]) -> String {
    let out = verify(hq, options);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{options:?}: {said}");
    String::from_utf8(out.stdout).unwrap()
}

/// As [`verify`], which must find the log broken (exit 1): why.
fn broken(hq: &Hq, options: &[&str]) -> String {
    let out = verify(hq, options);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{options:?}: {said}");
    said
}

/// The day `days_ago` at the demo fair (+08:00), as `--before` takes it.
fn fair_day(days_ago: i64) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let at = (Utc::now() - Duration::days(days_ago)).with_timezone(&beijing);
    at.date_naive().to_string()
}

fn the_chain_holds_and_tells(hq: &Hq, checker: &Hq) {
    log_begun_long_ago(
        hq,
        &[(400, "T90"), (400, "T91"), (400, "T92"), (200, "T93")],
    );
    // Four commands at once, through both data directories on PostgreSQL.
    let adding: Vec<_> = (1..=4)
        .map(|n| {
            let through = if n % 2 == 0 { checker } else { hq };
            Command::new(BIN)
                .arg("--data")
                .arg(through.data())
                .args([
                    "hq",
                    "add-device",
                    "--device",
                    &format!("T0{n}"),
                    "--stall",
                    "S01",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for added in adding {
        let added = added.wait_with_output().unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    let said = whole(checker, &[]);
    assert!(
        said.starts_with("the audit log is whole: 8 entries, each as written"),
        "{said}"
    );
    let found = checker.json(&["hq", "audit", "verify", "--json"]);
    assert_eq!(found["whole"], true, "{found}");
    let noted = found["newest_digest"].as_str().unwrap().to_string();
    assert!(said.contains(&format!("--holds {noted}")), "{said}");

    // An entry changed in the database: named; changed back, whole again.
    let t02 = numbered(hq, "T02, a till of stall S01");
    sql(
        hq,
        "UPDATE audit_log SET detail = 'T09' WHERE detail LIKE 'T02,%'",
    );
    let why = broken(checker, &[]);
    assert!(
        why.contains(&format!("entry #{t02} no longer matches its digest")),
        "{why}"
    );
    // As JSON, printed though broken (exit 1).
    let out = verify(checker, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["whole"], false, "{found}");
    let told = found["broken"].as_str().unwrap();
    assert!(told.starts_with(&format!("entry #{t02} ")), "{found}");
    sql(
        hq,
        "UPDATE audit_log SET detail = 'T02, a till of stall S01' WHERE detail = 'T09'",
    );
    whole(checker, &[]);

    // The three entries 400 days old pruned: the gap named by the prune's own entry.
    let files = tempfile::tempdir().unwrap();
    let archive = files.path().join("audit-old.jsonl");
    let archive_arg = archive.to_str().unwrap();
    hq.ok(&[
        "hq",
        "audit",
        "prune",
        "--before",
        &fair_day(300),
        "--archive",
        archive_arg,
    ]);
    let said = whole(checker, &[]);
    assert!(
        said.starts_with("the audit log is whole: 6 entries"),
        "{said}"
    );
    let (t93, prune) = (
        numbered(hq, "T93"),
        sql(hq, "SELECT CAST(max(id) AS TEXT) FROM audit_log"),
    );
    assert!(
        said.contains(&format!(
            "entries before #{t93} were removed by the prune of entry #{}, as it says",
            prune[0]
        )),
        "{said}"
    );
    // Taking no prune's word for it: its archive asked for.
    let why = broken(checker, &["--strict"]);
    assert!(
        why.contains(&format!("entries before #{t93} were removed")),
        "{why}"
    );
    assert!(why.contains("no archive given holds them"), "{why}");
    // With its archive, every entry is checked in its place.
    let said = whole(
        checker,
        &["--strict", "--archive", archive_arg, "--holds", &noted],
    );
    assert!(
        said.starts_with("the audit log is whole: 9 entries (3 of them from 1 archives)"),
        "{said}"
    );
    assert!(!said.contains("were removed by the prune"), "{said}");
    assert!(
        said.contains("each digest given is held by an entry"),
        "{said}"
    );
    let written_by = format!("is the archive the prune of entry #{} wrote", prune[0]);
    assert!(said.contains(&written_by), "{said}");

    // An archive cut short (its newest line gone): each entry left is as written, and the
    // prune's word covers the gap, but it is not the file its prune wrote.
    let text = std::fs::read_to_string(&archive).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = files.path().join("cut.jsonl");
    std::fs::write(&cut, format!("{}\n", lines[..2].join("\n"))).unwrap();
    let said = whole(checker, &["--archive", cut.to_str().unwrap()]);
    assert!(
        said.contains("cut.jsonl: no prune's entry holds its SHA-256"),
        "{said}"
    );
    let found = whole(checker, &["--archive", cut.to_str().unwrap(), "--json"]);
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(
        found["archives"][0]["written_by_prune"],
        serde_json::Value::Null
    );
    assert_eq!(found["whole"], true, "{found}");
    // Written out again with spaces: every entry there and as written, but --strict takes
    // only the very file its prune wrote.
    let spaced = files.path().join("spaced.jsonl");
    std::fs::write(&spaced, text.replace("\",\"", "\", \"")).unwrap();
    let why = broken(
        checker,
        &["--strict", "--archive", spaced.to_str().unwrap()],
    );
    assert!(
        why.contains("spaced.jsonl: no prune's entry holds its SHA-256"),
        "{why}"
    );

    // An archive changed afterwards: found.
    let text = std::fs::read_to_string(&archive).unwrap();
    let changed = files.path().join("changed.jsonl");
    std::fs::write(&changed, text.replace("\"T91\"", "\"T99\"")).unwrap();
    let why = broken(checker, &["--archive", changed.to_str().unwrap()]);
    assert!(why.contains("no longer matches its digest"), "{why}");

    // A mistyped digest: bad input (exit 2), not a log found changed.
    let out = verify(checker, &["--holds", "nothex"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("--holds nothex: not a digest"), "{said}");
    // A digest never written down: not found.
    let never = "ab".repeat(32);
    let why = broken(checker, &["--holds", &never]);
    assert!(
        why.contains(&format!(
            "no entry of the audit log holds the digest {never}"
        )),
        "{why}"
    );

    // The oldest entry left removed behind headquarters' back: the one after it is named.
    let t93 = numbered(hq, "T93");
    sql(hq, "DELETE FROM audit_log WHERE detail = 'T93'");
    let why = broken(checker, &[]);
    let next: i64 = t93.parse::<i64>().unwrap() + 1;
    assert!(
        why.contains(&format!(
            "entry #{next} follows an entry the log no longer holds"
        )),
        "{why}"
    );
}

/// Rewrites the entry of `hq` whose detail is `detail` to say `instead`, and every entry
/// after it, chained anew: as someone able to write to the database could.
fn rewritten_from(hq: &Hq, detail: &str, instead: &str) {
    let from: i64 = numbered(hq, detail).parse().unwrap();
    sql(
        hq,
        &format!(
            "UPDATE audit_log SET detail = {} WHERE id = {from}",
            quoted(instead)
        ),
    );
    let mut follows = sql(
        hq,
        &format!("SELECT follows FROM audit_log WHERE id = {from}"),
    )[0]
    .clone();
    let ids = sql(
        hq,
        &format!("SELECT CAST(id AS TEXT) FROM audit_log WHERE id >= {from} ORDER BY id"),
    );
    for id in ids {
        let fields = ["at", "actor", "address", "action", "detail"].map(|column| {
            sql(
                hq,
                &format!("SELECT {column} FROM audit_log WHERE id = {id}"),
            )[0]
            .clone()
        });
        let [at, actor, address, action, detail] = fields;
        let digest = chain::digest(&follows, &(at, actor, address, action, detail));
        sql(
            hq,
            &format!(
                "UPDATE audit_log SET follows = {}, digest = {} WHERE id = {id}",
                quoted(&follows),
                quoted(&digest)
            ),
        );
        follows = digest;
    }
}

#[test]
fn the_daily_timer_notes_the_newest_digest_and_finds_a_log_rewritten_whole() {
    let files = tempfile::tempdir().unwrap();
    let anchors = files.path().join("audit-anchors");
    // As the timer runs it, the anchors file this test's own.
    let args = common::timer_command(
        "fairpos-hq-audit-verify.timer",
        &["OnCalendar=daily", "Persistent=true"],
        "/var/lib/fairpos/audit-anchors",
        &anchors,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let hq = Hq::demo();
    hq.ok(&["hq", "add-device", "--device", "T01", "--stall", "S01"]);
    let said = hq.ok(&args);
    assert!(said.contains("noted in"), "{said}");
    let noted = || -> Vec<String> {
        let text = std::fs::read_to_string(&anchors).unwrap();
        text.lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    let newest = sql(&hq, "SELECT digest FROM audit_log ORDER BY id DESC LIMIT 1");
    assert_eq!(noted(), newest);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&anchors).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Nothing new: nothing noted twice. The next day's entry: noted after it.
    hq.ok(&args);
    assert_eq!(noted().len(), 1);
    hq.ok(&["hq", "add-device", "--device", "T02", "--stall", "S01"]);
    let said = hq.ok(&args);
    assert!(said.contains("each digest given is held"), "{said}");
    assert_eq!(noted().len(), 2);

    // Rewritten from T01's entry on, chained anew: whole to a walk alone, not to the timer.
    rewritten_from(&hq, "T01, a till of stall S01", "T07, a till of stall S01");
    whole(&hq, &[]);
    let out = hq.run(&args);
    let why = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{why}");
    let last = noted().pop().unwrap();
    assert!(
        why.contains(&format!(
            "no entry of the audit log holds the digest {last} noted last in"
        )),
        "{why}"
    );
    // A broken run notes nothing.
    assert_eq!(noted().len(), 2);
}
