//! Headquarters restored from a backup taken before its tills' last syncs, narrated against
//! the real `fairpos hq serve` on SQLite (`hq backup`, `hq restore`) and on PostgreSQL
//! (`pg_dump`, `pg_restore`, as a province's IT department runs them). Nothing synced after
//! the backup is lost: each till still holds every sale, and its next sync gives the
//! restored headquarters back what the backup lacked, counted once. A till enrolled after
//! the backup is unknown to it, and is enrolled again (`fairpos enroll --again`), keeping
//! its sales. A dashboard session ended after the backup stays ended (`sessions.rs`).

mod catalog_lost;
#[path = "../common/mod.rs"]
mod common;
mod hubs;
mod ledgers;
mod sessions;

use std::path::Path;
use std::process::Command;

use common::hq::{Hq, Server, PASSWORD};
use common::{expected, sell_more, sell_some, sorted, Till, PIN};

/// How a backend's headquarters is backed up and restored.
struct Copies {
    /// Backs up the headquarters (serving) to the new file given.
    backup: fn(&Hq, &Path),
    /// Restores the headquarters (stopped) from that file.
    restore: fn(&Hq, &Path),
}

#[test]
fn a_restored_sqlite_headquarters_gets_back_from_its_tills_what_its_backup_lacked() {
    let copies = Copies {
        backup: |hq, file| {
            let said = hq.ok(&["hq", "backup", file.to_str().unwrap()]);
            assert!(
                said.starts_with("backed up the headquarters of fair "),
                "{said}"
            );
            assert!(said.contains(": 1 ledgers, 3 sales, "), "{said}");
        },
        restore: |hq, file| {
            let said = hq.ok(&["hq", "restore", file.to_str().unwrap()]);
            assert!(said.contains(": 1 ledgers, 3 sales, "), "{said}");
            assert!(said.contains("enroll --again"), "{said}");
            // The afternoon's price change, which the replaced database holds, is kept.
            assert!(
                said.contains("catalog changes made since the backup"),
                "{said}"
            );
            // What it replaced is kept, every sale of it.
            let kept = said
                .lines()
                .find_map(|l| l.strip_prefix("the database it replaced is kept as "))
                .expect("where the replaced database is kept");
            let sales: i64 = rusqlite::Connection::open(kept)
                .unwrap()
                .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
                .unwrap();
            assert_eq!(sales, 7);
        },
    };
    restored_headquarters_gets_back_what_its_backup_lacked(Hq::demo(), &copies);
}

#[test]
fn a_restored_postgresql_headquarters_gets_back_from_its_tills_what_its_backup_lacked() {
    let Some(hq) = Hq::demo_postgres("restore") else {
        return;
    };
    let copies = Copies {
        backup: |hq, file| {
            // `hq backup` sends it to PostgreSQL's tools, naming no URL (it may hold a
            // password).
            let out = hq.run(&["hq", "backup", file.to_str().unwrap()]);
            let said = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{said}");
            assert!(
                said.contains("pg_dump") && !said.contains("127.0.0.1"),
                "{said}"
            );
            assert_eq!(said.trim().lines().count(), 1, "{said}");
            let url = hq.database_url().unwrap();
            run(
                "pg_dump",
                &["--format=custom", "--file", file.to_str().unwrap(), &url],
            );
        },
        restore: |hq, file| {
            let url = hq.database_url().unwrap();
            let dbname = format!("--dbname={url}");
            let args = [
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--no-owner",
            ];
            let mut all = args.to_vec();
            all.extend([dbname.as_str(), file.to_str().unwrap()]);
            run("pg_restore", &all);
        },
    };
    restored_headquarters_gets_back_what_its_backup_lacked(hq, &copies);
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sets `sku`'s price in headquarters' catalog (`hq catalog import`, one row).
fn set_price(hq: &Hq, sku: &str, yuan: &str) {
    let csv = std::fs::read_to_string(common::demo_file("catalog.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{sku},")))
        .unwrap();
    let mut fields: Vec<&str> = row.split(',').collect();
    let at = header.split(',').position(|h| h == "price_yuan").unwrap();
    fields[at] = yuan;
    let file = hq.data().join(format!("price-{sku}.csv"));
    std::fs::write(&file, format!("{header}\n{}\n", fields.join(","))).unwrap();
    hq.ok(&["hq", "catalog", "import", file.to_str().unwrap()]);
}

/// `sku`'s price in fen in the catalog tables of `db` (a till's, or headquarters' in its
/// data directory on either backend).
fn price_in(db: &rusqlite::Connection, sku: &str) -> i64 {
    db.query_row(
        "SELECT price_fen FROM products WHERE sku = ?1",
        [sku],
        |r| r.get(0),
    )
    .unwrap()
}

fn price_at(till: &Till, sku: &str) -> i64 {
    price_in(&till.db(), sku)
}

fn price_at_headquarters(hq: &Hq, sku: &str) -> i64 {
    price_in(
        &rusqlite::Connection::open(hq.data().join("hq.db")).unwrap(),
        sku,
    )
}

/// Syncs `till` until `sku` costs `fen` there (a running headquarters takes a catalog
/// import in within a second or so); every sync must succeed.
fn synced_until_price(till: &Till, sku: &str, fen: i64) {
    for _ in 0..20 {
        till.synced();
        if price_at(till, sku) == fen {
            return;
        }
        common::hq::pause(300);
    }
    panic!("{sku} never came to cost {fen} fen at the till");
}

fn restored_headquarters_gets_back_what_its_backup_lacked(hq: Hq, copies: &Copies) {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("monday-noon.backup");

    // Morning: T01 sells three and syncs; at noon headquarters is backed up, serving.
    let server = hq.serve();
    let url = server.url.clone();
    let t1 = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    sell_some(&t1, "V003", 3);
    t1.synced();
    (copies.backup)(&hq, &backup);

    // Afternoon: an organizer lowers a price; T01 sells two more; T02, enrolled after the
    // backup, sells two. Both sync.
    set_price(&hq, "BJ-HJC-100", "11.00");
    sell_more(&t1, "V003", 2);
    synced_until_price(&t1, "BJ-HJC-100", 1100);
    let t2 = Till::enrolled(&url, &hq.add_device("T02", "S02"));
    sell_some(&t2, "V004", 2);
    t2.synced();
    assert_eq!(hq.sales().len(), 7);

    // Evening: headquarters' disk is lost. A restore is refused while it serves; then it
    // is stopped, restored from noon's backup, and started again at its address.
    if !hq.on_postgres() {
        let out = hq.run(&["hq", "restore", backup.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains("stop `hq serve` first"), "{said}");
        assert_eq!(hq.sales().len(), 7, "nothing was moved");
        // Nor into a till's data directory, which would then be taken for headquarters.
        let out = t1.run(&["hq", "restore", backup.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains("holds a till"), "{said}");
        assert!(!t1.data().join("hq.db").exists());
    }
    server.stop();
    (copies.restore)(&hq, &backup);
    assert_eq!(hq.sales().len(), 3, "noon's headquarters");
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    assert_eq!(server.url, url);

    // T01 syncs, with nothing new sold: headquarters has its afternoon back.
    t1.synced();
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &t1)]));

    // The catalog goes on reaching the tills: an edit after the restore arrives (the edits
    // of a data directory written by one actor throughout would have been numbered as the
    // afternoon's, which T01 holds, and refused).
    set_price(&hq, "BJ-HJC-250", "99.00");
    synced_until_price(&t1, "BJ-HJC-250", 9900);
    // The afternoon's price is headquarters' too: merged back from the database the restore
    // replaced (SQLite), or stored again from the data directory's own copy (PostgreSQL).
    assert_eq!(price_at_headquarters(&hq, "BJ-HJC-100"), 1100);
    assert_eq!(price_at(&t1, "BJ-HJC-100"), 1100);

    // T02 is unknown to noon's headquarters: refused in one line, its sales standing.
    let out = t2.sync(&[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("credentials"), "{said}");
    assert_eq!(t2.sales().len(), 2);

    // Enrolling it again: a code for another device is refused and stays unused; so is a
    // wrong lead PIN; a plain enrolment says --again.
    let t3_code = hq.add_device("T03", "S03");
    let again = |code: &str, pin: &str| {
        t2.run(&[
            "enroll",
            "--again",
            "--hq",
            &url,
            "--code",
            code,
            "--lead-pin",
            pin,
        ])
    };
    t2.fails(
        &[
            "enroll",
            "--again",
            "--hq",
            &url,
            "--code",
            &t3_code,
            "--lead-pin",
            PIN,
        ],
        1,
        "this code is for T03, not T02",
    );
    let t3 = Till::enrolled(&url, &t3_code);
    assert_eq!(t3.json(&["sync", "status", "--json"])["enrolled"], true);
    let t2_code = hq.add_device("T02", "S02");
    let out = again(&t2_code, "0000");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("PIN"), "{said}");
    t2.fails(
        &[
            "enroll",
            "--hq",
            &url,
            "--code",
            &t2_code,
            "--lead-pin",
            PIN,
        ],
        2,
        "--again",
    );
    let out = again(&t2_code, PIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("T02 at stall S02"));

    // T02 sells one more and syncs: headquarters holds every sale of both tills, once.
    sell_more(&t2, "V004", 1);
    t2.synced();
    t1.synced();
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &t1), ("T02", &t2)]));
    assert_eq!(hq.sales().len(), 8);
    for till in [&t1, &t2] {
        let status = till.json(&["sync", "status", "--json"]);
        assert_eq!(status["unconfirmed_sales"], 0, "{status}");
    }
    let report = hq.json(&["hq", "report", "--by", "stall", "--format", "json"]);
    let net = |t: &Till| t.report("stall")["net_fen"].as_i64().unwrap();
    assert_eq!(report["net_fen"].as_i64().unwrap(), net(&t1) + net(&t2));
    // Organizers log in as at noon.
    let api = common::api::Api::new(&url);
    assert!(api.token_of("organizer", PASSWORD).is_some());
    server.stop();
}

/// `hq restore` holds the data directory's lock (`hq.lock`) alone, from its first look at
/// the database to the copy's rename, and every other command holds it shared while it runs:
/// a command started during a restore is refused in one line instead of opening the
/// database being replaced, and a restore is refused while a command (a cron `hq backup`,
/// say) runs. The test holds the lock as each of them would.
#[test]
fn no_command_starts_during_a_restore_and_no_restore_during_a_command() {
    let hq = Hq::demo();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("noon.db");
    let backup = backup.to_str().unwrap();
    hq.ok(&["hq", "backup", backup]);
    let lock_file = || {
        std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(hq.data().join("hq.lock"))
            .unwrap()
    };
    let refused = |args: &[&str], why: &str| {
        let out = ended_within_30_s(hq.data(), args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert_eq!(said.trim_end().lines().count(), 1, "{said}");
        assert!(said.contains(why), "{said}");
        assert!(out.stdout.is_empty(), "{args:?}");
    };

    let restoring = lock_file();
    restoring.try_lock().unwrap();
    let later = backups.path().join("later.db");
    for args in [
        &["hq", "serve", "--listen", "127.0.0.1:0"][..],
        &["hq", "backup", later.to_str().unwrap()],
        &["hq", "sales"],
        &["hq", "restore", backup],
    ] {
        let why = if args[1] == "restore" {
            "is in use by another fairpos process"
        } else {
            "`hq restore` is replacing the database"
        };
        refused(args, why);
    }
    assert!(!later.exists());
    drop(restoring);

    let backing_up = lock_file();
    backing_up.try_lock_shared().unwrap();
    refused(
        &["hq", "restore", backup],
        "is in use by another fairpos process: stop `hq serve` first",
    );
    drop(backing_up);
    let said = hq.ok(&["hq", "restore", backup]);
    assert!(
        said.contains("the database it replaced is kept as "),
        "{said}"
    );
}

/// `fairpos --data DATA ARGS` run to its end, killed (and the test failed) if it runs 30 s: a
/// refused `hq serve` ends at once, one that was let in would serve on.
fn ended_within_30_s(data: &Path, args: &[&str]) -> std::process::Output {
    use std::process::Stdio;
    let mut child = Command::new(common::BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let since = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if since.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fairpos {args:?} was not refused: it ran for 30 s");
        }
        common::hq::pause(50);
    }
    child.wait_with_output().unwrap()
}
