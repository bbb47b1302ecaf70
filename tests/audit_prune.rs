//! `hq audit prune`, against the real `fairpos` binary, on both backends (on PostgreSQL
//! through two data directories of one database): entries older than the day named go to a
//! new archive file, whose SHA-256 the log's own entry of the prune holds; nothing of the
//! last six months ever goes (refused, and the refusal written down); a dry run changes
//! nothing; an archive is never written over, and a prune that cannot keep its archive
//! removes nothing; two prunes at once archive each entry once. And the log's entries found
//! by day (at the fair), action and actor; and `deploy/fairpos-hq-audit-prune.service`'s
//! command, as its monthly timer runs it.

mod common;

use std::path::Path;
use std::process::Command;

use chrono::{Duration, FixedOffset, Utc};
use common::hq::Hq;
use serde_json::Value;

#[test]
fn old_entries_are_archived_and_removed_on_sqlite() {
    let hq = Hq::demo();
    old_entries_are_archived_and_removed(&hq, &hq);
}

#[test]
fn old_entries_are_archived_and_removed_on_postgres() {
    let Some(hq) = Hq::demo_postgres("audit_prune") else {
        return;
    };
    let joined = Hq::demo_on(&hq.database_url().unwrap());
    old_entries_are_archived_and_removed(&hq, &joined);
}

/// Writes an entry of `action` and `detail` into the log of `hq` as if written `days_ago`.
fn written_long_ago(hq: &Hq, days_ago: i64, action: &str, detail: &str) {
    many_written_long_ago(hq, days_ago, action, &[detail.to_string()]);
}

/// Writes an entry of `action` for each of `details` into the log of `hq`, in one
/// transaction, as if written `days_ago`, into the real database (by `psql` on PostgreSQL).
fn many_written_long_ago(hq: &Hq, days_ago: i64, action: &str, details: &[String]) {
    let at =
        (Utc::now() - Duration::days(days_ago)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match hq.database_url() {
        Some(url) => {
            // The details as one array of SQL text ('' for a quote).
            let quoted: Vec<String> = details
                .iter()
                .map(|d| format!("'{}'", d.replace('\'', "''")))
                .collect();
            let sql = format!(
                "INSERT INTO audit_log(at, actor, address, action, detail) \
                 SELECT '{at}', 'lead1', '10.0.0.9', '{action}', d \
                 FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS t(d, n) ORDER BY n",
                quoted.join(",")
            );
            let mut psql = Command::new("psql")
                .args([&url, "-q", "-v", "ON_ERROR_STOP=1"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(psql.stdin.as_mut().unwrap(), sql.as_bytes()).unwrap();
            drop(psql.stdin.take());
            assert!(
                psql.wait().unwrap().success(),
                "inserting {} entries",
                details.len()
            );
        }
        None => {
            let mut db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
            let tx = db.transaction().unwrap();
            for detail in details {
                tx.execute(
                    "INSERT INTO audit_log(at, actor, address, action, detail)
                     VALUES (?1, 'lead1', '10.0.0.9', ?2, ?3)",
                    [&at, action, detail],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
    }
}

/// `(action, detail)` of each entry, oldest first.
fn listed(hq: &Hq) -> Vec<(String, String)> {
    let listed = hq.json(&["hq", "audit", "--json"]);
    let field = |e: &Value, k: &str| e[k].as_str().unwrap().to_string();
    let entries = listed.as_array().unwrap().iter();
    entries
        .map(|e| (field(e, "action"), field(e, "detail")))
        .collect()
}

/// The details of the entries `hq` lists that are not prunes' own.
fn kept_details(hq: &Hq) -> Vec<String> {
    let entries = listed(hq).into_iter();
    entries
        .filter(|(action, _)| action != "audit prune")
        .map(|(_, detail)| detail)
        .collect()
}

/// The day `days_ago` at the demo fair (+08:00), as `--before` takes it.
fn fair_day(days_ago: i64) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let at = (Utc::now() - Duration::days(days_ago)).with_timezone(&beijing);
    at.date_naive().to_string()
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    out.split_whitespace().next().unwrap().to_string()
}

/// `hq audit prune --before BEFORE --archive ARCHIVE` through `hq`.
fn prune_into(hq: &Hq, before: &str, archive: &str) -> std::process::Output {
    hq.run(&[
        "hq",
        "audit",
        "prune",
        "--before",
        before,
        "--archive",
        archive,
    ])
}

/// As [`prune_into`], which must succeed: what it said.
fn pruned_into(hq: &Hq, before: &str, archive: &str) -> String {
    let out = prune_into(hq, before, archive);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    String::from_utf8(out.stdout).unwrap()
}

/// Entries 400, 200, 10 and 5 days old (the last one's detail a formula); then prunes through `hq`, listed through `lister`.
fn old_entries_are_archived_and_removed(hq: &Hq, lister: &Hq) {
    // What a client sent, as a spreadsheet would run it.
    written_long_ago(hq, 5, "enroll refused", "=HYPERLINK(1)");
    written_long_ago(hq, 400, "login", "old-400");
    written_long_ago(hq, 200, "user add", "old-200");
    written_long_ago(hq, 10, "login", "recent-10");
    let before = fair_day(190);
    let files = tempfile::tempdir().unwrap();
    let archive = files.path().join("audit-old.jsonl");
    let archive_arg = archive.to_str().unwrap();
    let everything = kept_details(lister);
    assert!(everything.ends_with(&["old-400", "old-200", "recent-10"].map(String::from)));

    // Found by the day they were written at the fair, by action, by actor.
    let found = |options: &[&str]| -> Vec<String> {
        let args = [&["hq", "audit", "--json"][..], options].concat();
        let listed = lister.json(&args);
        let entries = listed.as_array().unwrap().iter();
        entries
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect()
    };
    let day = fair_day(200);
    assert_eq!(found(&["--since", &day, "--until", &day]), ["old-200"]);
    assert_eq!(
        found(&["--actor", "lead", "--action", "login"]),
        ["old-400", "recent-10"]
    );
    assert_eq!(
        found(&["--since", &fair_day(201), "--actor", "lead1"]),
        ["=HYPERLINK(1)", "old-200", "recent-10"]
    );
    assert!(found(&["--until", &fair_day(401)]).is_empty());
    // As CSV: a header, then each entry; the formula made text.
    let csv = lister.ok(&["hq", "audit", "--csv", "--action", "enroll refused"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].ends_with(",'=HYPERLINK(1)"), "{csv}");

    // Three months back is within the six months kept: refused, and the refusal written.
    let recent = fair_day(91);
    let out = prune_into(hq, &recent, archive_arg);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("Cybersecurity Law") && said.contains("six months"),
        "{said}"
    );
    assert!(!archive.exists());
    assert_eq!(kept_details(lister), everything);
    let (action, detail) = listed(lister).pop().unwrap();
    assert_eq!(action, "audit prune");
    assert!(detail.starts_with(&format!(
        "before {recent} to {archive_arg} — failed: refused"
    )));

    // A dry run says what would go and changes nothing.
    let said = hq.ok(&["hq", "audit", "prune", "--before", &before, "--dry-run"]);
    assert!(
        said.starts_with(&format!(
            "2 entries written before {before} (+08:00), from "
        )),
        "{said}"
    );
    assert!(said.contains("would be archived and removed"), "{said}");
    assert_eq!(kept_details(lister), everything);
    assert!(!archive.exists());

    // An archive that cannot be kept (its folder is not there): nothing is removed.
    let nowhere = files.path().join("gone").join("a.jsonl");
    let out = prune_into(hq, &before, nowhere.to_str().unwrap());
    assert!(!out.status.success());
    assert_eq!(kept_details(lister), everything);

    // The prune: the two old entries to the archive, oldest first, and out of the log.
    let said = pruned_into(hq, &before, archive_arg);
    let digest = sha256sum(&archive);
    assert_eq!(
        said.trim(),
        format!(
            "2 entries written before {before} (+08:00) archived to {archive_arg} (sha256 \
             {digest}) and removed from the audit log"
        )
    );
    let text = std::fs::read_to_string(&archive).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let details: Vec<&str> = lines
        .iter()
        .map(|l| l["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details, ["old-400", "old-200"]);
    let id = |line: &Value| line["id"].as_i64().unwrap();
    assert!(id(&lines[0]) < id(&lines[1]));
    assert_eq!(lines[1]["action"], "user add");
    assert_eq!(lines[1]["address"], "10.0.0.9");
    let young: Vec<String> = everything
        .iter()
        .filter(|d| !d.starts_with("old-"))
        .cloned()
        .collect();
    assert_eq!(kept_details(lister), young);
    let (action, detail) = listed(lister).pop().unwrap();
    assert_eq!(action, "audit prune");
    let said = format!(
        "2 entries written before {before} (+08:00), archived to {archive_arg}, sha256 {digest}"
    );
    // Then, where entries written through the database (linked by PostgreSQL's trigger;
    // not on SQLite) were removed from among the kept, where the chain continues.
    let continues = detail
        .strip_prefix(&said)
        .unwrap_or_else(|| panic!("{detail}"));
    let named = continues.strip_prefix(fairpos_postgres::audit::chain::CONTINUES_FROM);
    match hq.database_url() {
        Some(_) => assert_eq!(named.map(str::len), Some(64), "{detail}"),
        None => assert_eq!(continues, "", "{detail}"),
    }

    // Nothing older left: nothing archived, no file, nothing written.
    let none = files.path().join("none.jsonl");
    let said = pruned_into(hq, &before, none.to_str().unwrap());
    assert!(said.starts_with("no entries written before"), "{said}");
    assert!(!none.exists());

    // An archive is never written over: refused, and the entry older stays.
    written_long_ago(hq, 300, "login", "old-300");
    let out = prune_into(hq, &before, archive_arg);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never written over"));
    assert_eq!(sha256sum(&archive), digest);
    assert!(kept_details(lister).contains(&"old-300".to_string()));
    // Only the archive is in the folder: no temporary file was left.
    let names: Vec<_> = std::fs::read_dir(files.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["audit-old.jsonl"]);
}

#[test]
fn the_monthly_timer_keeps_twelve_months_and_archives_the_rest_in_a_folder_of_its_own() {
    let hq = Hq::demo();
    written_long_ago(&hq, 400, "login", "old-400");
    written_long_ago(&hq, 200, "user add", "old-200");
    let files = tempfile::tempdir().unwrap();
    let folder = files.path().join("audit-archive");
    // As the timer runs it, the archive folder this test's own (and not there yet).
    let args = common::timer_command(
        "fairpos-hq-audit-prune.timer",
        &["OnCalendar=monthly", "Persistent=true"],
        "/var/lib/fairpos/audit-archive",
        &folder,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let said = hq.ok(&args);
    assert!(said.contains("1 entries written before"), "{said}");
    let archives: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let [archive] = archives.as_slice() else {
        panic!("{archives:?}");
    };
    let name = archive.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("audit-before-") && name.ends_with(".jsonl"),
        "{name}"
    );
    let text = std::fs::read_to_string(archive).unwrap();
    assert!(
        text.contains("old-400") && !text.contains("old-200"),
        "{text}"
    );
    let kept = kept_details(&hq);
    assert!(kept.contains(&"old-200".to_string()) && !kept.contains(&"old-400".to_string()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // The next month's run, with nothing older: nothing written.
    hq.ok(&args);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
}

#[test]
fn two_prunes_at_once_archive_each_entry_once_on_sqlite() {
    let hq = Hq::demo();
    two_prunes_at_once_archive_each_entry_once(&hq, &hq);
}

#[test]
fn two_prunes_at_once_archive_each_entry_once_on_postgres() {
    let Some(hq) = Hq::demo_postgres("audit_prunes") else {
        return;
    };
    let other = Hq::demo_on(&hq.database_url().unwrap());
    two_prunes_at_once_archive_each_entry_once(&hq, &other);
}

/// The lock prunes of a PostgreSQL log take turns on (`fairpos_postgres::audit`'s).
const PRUNE_LOCK: i64 = 0x61_7564_6974;

/// The prunes' advisory lock on a PostgreSQL headquarters, held by a `psql` of its own
/// (`PGAPPNAME=prune-holder`) until let go; nothing on SQLite, whose prune reads and writes
/// its archive before it takes the log for writing (and opening the data directory waits
/// for a writer).
struct Held {
    url: String,
    psql: std::process::Child,
}

impl Held {
    fn take(hq: &Hq) -> Option<Held> {
        let url = hq.database_url()?;
        let sql = format!("SELECT pg_advisory_lock({PRUNE_LOCK}); SELECT pg_sleep(120)");
        let psql = Command::new("psql")
            .env("PGAPPNAME", "prune-holder")
            .args([&url, "-qc", &sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let held = Held { url, psql };
        held.wait_for_locks(true, 1);
        Some(held)
    }

    /// Waits until `n` sessions hold (`granted`) or wait for the prunes' lock.
    fn wait_for_locks(&self, granted: bool, n: usize) {
        let sql = format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = {granted} \
             AND ((classid::bigint << 32) | objid::bigint) = {PRUNE_LOCK}"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = Command::new("psql")
                .args([&self.url, "-Atc", &sql])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == n.to_string() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{n} sessions at the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Lets go once two prunes wait for the lock.
    fn release_when_both_wait(mut self) {
        self.wait_for_locks(false, 2);
        let sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                   WHERE application_name = 'prune-holder'";
        let ended = Command::new("psql")
            .args([&self.url, "-qAtc", sql])
            .status();
        assert!(ended.unwrap().success());
        let _ = self.psql.wait();
    }
}

/// 20 000 old entries; a prune through `one` and one through `other` started at once (on
/// PostgreSQL while the prunes' lock is held, so that both wait before either begins).
fn two_prunes_at_once_archive_each_entry_once(one: &Hq, other: &Hq) {
    let n = 20_000;
    let bulk: Vec<String> = (1..=n).map(|i| format!("bulk-{i}")).collect();
    many_written_long_ago(one, 300, "login", &bulk);
    let before = fair_day(190);
    let files = tempfile::tempdir().unwrap();
    let archives = [files.path().join("a.jsonl"), files.path().join("b.jsonl")];
    let held = Held::take(one);
    let on_postgres = held.is_some();
    // Both started before either is waited for.
    let prunes: Vec<std::process::Child> = [one, other]
        .iter()
        .zip(&archives)
        .map(|(hq, archive)| {
            Command::new(common::BIN)
                .arg("--data")
                .arg(hq.data())
                .args(["hq", "audit", "prune", "--before", &before, "--archive"])
                .arg(archive)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    if let Some(held) = held {
        held.release_when_both_wait();
    }
    let prunes: Vec<_> = prunes.into_iter().map(|p| p.wait_with_output()).collect();
    // One archived them. The other waited for it and found nothing left (on PostgreSQL
    // always), or on SQLite had read them too and removed nothing ("another prune").
    let (mut archived, mut found_none, mut read_too) = (0, 0, 0);
    for out in prunes.into_iter().map(Result::unwrap) {
        let (said, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if out.status.success() && said.starts_with(&format!("{n} entries written before")) {
            archived += 1;
        } else if out.status.success() && said.starts_with("no entries written before") {
            found_none += 1;
        } else {
            assert!(!on_postgres && err.contains("another prune"), "{said}{err}");
            read_too += 1;
        }
    }
    assert_eq!((archived, found_none + read_too), (1, 1));
    eprintln!("the other prune: found none {found_none}, read them too {read_too}");
    let kept: Vec<&std::path::PathBuf> = archives.iter().filter(|a| a.exists()).collect();
    let [archive] = kept.as_slice() else {
        panic!("archives kept: {kept:?}");
    };
    let text = std::fs::read_to_string(archive).unwrap();
    let ids: std::collections::BTreeSet<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!((text.lines().count(), ids.len()), (n, n));
    assert!(!kept_details(other).iter().any(|d| d.starts_with("bulk-")));
    let done: Vec<String> = listed(one)
        .into_iter()
        .filter(|(action, detail)| action == "audit prune" && !detail.contains("failed"))
        .map(|(_, detail)| detail)
        .collect();
    let [done] = done.as_slice() else {
        panic!("{done:?}");
    };
    assert!(
        done.starts_with(&format!("{n} entries written before")),
        "{done}"
    );
    assert_eq!(std::fs::read_dir(files.path()).unwrap().count(), 1);
}
