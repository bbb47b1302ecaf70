//! Sync to headquarters, narrated: real `fairpos` processes, a real HQ server on 127.0.0.1,
//! real SQLite files. Each test says what happens, step by step.

mod catalog;
#[path = "../common/mod.rs"]
mod common;
mod connections;
mod enrolment;
mod hub;
mod pings;
mod refusals;
mod revocation;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::api::Api;
use common::hq::{pause, Hq, Server};
use common::{expected, sell_more, sell_some, sorted, Till};
use fairpos_sync::ledger::heads_text;
use rand::{Rng, SeedableRng};

#[test]
fn two_tills_sell_offline_then_hq_comes_up_and_holds_every_sale_once_on_sqlite() {
    two_tills_sell_offline_then_hq_comes_up_and_holds_every_sale_once(Hq::demo());
}

#[test]
fn two_tills_sell_offline_then_hq_comes_up_and_holds_every_sale_once_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("offline") {
        two_tills_sell_offline_then_hq_comes_up_and_holds_every_sale_once(hq);
    }
}

fn two_tills_sell_offline_then_hq_comes_up_and_holds_every_sale_once(hq: Hq) {
    // Step 0: headquarters enrols two tills, then goes away (the venue has no internet).
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let url = server.url.clone();
    server.stop();

    // Step 1: both sell offline; a sync fails with one clear line, and the sales stand.
    sell_some(&t1, "V003", 6);
    sell_some(&t2, "V004", 4);
    let out = t1.sync(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("headquarters unreachable"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let status = t1.json(&["sync", "status", "--json"]);
    assert_eq!(status["unconfirmed_sales"], 6);
    assert!(status["last_error"]
        .as_str()
        .unwrap()
        .contains("unreachable"));

    // Step 2: headquarters comes up again at the same address; both tills sync.
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    assert_eq!(server.url, url);
    t1.synced();
    t2.synced();

    // Step 3: headquarters holds every sale once; syncing again adds nothing.
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &t1), ("T02", &t2)]));
    t1.synced();
    t2.synced();
    assert_eq!(hq.sales().len(), 10);
    assert_eq!(
        t1.json(&["sync", "status", "--json"])["unconfirmed_sales"],
        0
    );
    let report = hq.json(&["hq", "report", "--by", "stall", "--format", "json"]);
    let till_total = |t: &Till| t.report("stall")["net_fen"].as_i64().unwrap();
    assert_eq!(
        report["net_fen"].as_i64().unwrap(),
        till_total(&t1) + till_total(&t2)
    );
}

#[test]
fn hq_killed_mid_sync_again_and_again_loses_and_doubles_nothing_on_sqlite() {
    hq_killed_mid_sync_again_and_again_loses_and_doubles_nothing(Hq::demo());
}

#[test]
fn hq_killed_mid_sync_again_and_again_loses_and_doubles_nothing_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("killed") {
        hq_killed_mid_sync_again_and_again_loses_and_doubles_nothing(hq);
    }
}

fn hq_killed_mid_sync_again_and_again_loses_and_doubles_nothing(hq: Hq) {
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let url = server.url.clone();
    let listen = url.trim_start_matches("http://").to_string();
    server.kill();
    // A busy morning: 300 sales to push.
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let batch: String = (0..300)
        .map(|i| {
            format!(
                "{{\"seller\":\"V003\",\"items\":[\"{}\"],\"pay\":[\"wechat\"]}}\n",
                ["LS-MH-1", "FH-JT-300", "6935780100128"][i % 3]
            )
        })
        .collect();
    let batch_file = till.data().join("batch.jsonl");
    std::fs::write(&batch_file, batch).unwrap();
    till.ok(&["sell-batch", batch_file.to_str().unwrap()]);

    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
    let mut kills = 0;
    while kills < 12 {
        // Step: headquarters up, a sync starts, headquarters dies with SIGKILL at a random
        // instant of it.
        let server = Server::start(hq.data(), &["--listen", &listen]);
        let sync = till
            .command()
            .args(["sync", "--timeout", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(5..400)));
        server.kill();
        kills += 1;
        // The sync notices: it ends with one line saying what happened, not by running out
        // a step's time limit (120 s) on a connection that is gone.
        let out = sync.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(
                !said.contains("within 120 s"),
                "the sync waited out its limit: {said}"
            );
            assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");
        }
    }
    // Finally headquarters stays up and the till syncs to the end.
    let _server = Server::start(hq.data(), &["--listen", &listen]);
    till.synced();
    let held = hq.sales();
    assert_eq!(held.len(), 300, "every sale, once");
    assert_eq!(sorted(held), expected(&[("T01", &till)]));
}

#[test]
fn a_ledger_stored_but_not_projected_when_headquarters_died_is_projected_when_it_starts() {
    // Step 1: headquarters cannot project sales (a trigger refuses them, as a crash between
    // samod's store and the projection's commit would leave it), but samod stores what a
    // till sends. The till sells and syncs: its ledger is stored, its confirmation never
    // comes.
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 4);
    let db = || rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    db().execute_batch(
        "CREATE TRIGGER no_sales BEFORE INSERT ON sales BEGIN SELECT RAISE(ABORT, 'no'); END;",
    )
    .unwrap();
    let out = till.run(&["sync", "--timeout", "3"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("did not confirm"), "{said}");
    let ledger_chunks: i64 = db()
        .query_row(
            "SELECT count(*) FROM samod_kv, hq_docs WHERE hq_docs.device = 'T01'
               AND samod_kv.key > hq_docs.doc_id || '/' AND samod_kv.key < hq_docs.doc_id || '0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ledger_chunks > 0, "the till's ledger is stored");
    assert!(hq.sales().is_empty());

    // Step 2: headquarters dies with what it stored unprojected, and comes up again able to
    // project. The till has nothing more to send; the next pass is confirmed all the same,
    // and headquarters holds every sale once.
    let listen = server.url.trim_start_matches("http://").to_string();
    server.kill();
    db().execute_batch("DROP TRIGGER no_sales;").unwrap();
    let _server = Server::start(hq.data(), &["--listen", &listen]);
    till.synced();
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
}

#[test]
fn a_bundle_travels_on_a_usb_stick_and_imports_once_on_sqlite() {
    a_bundle_travels_on_a_usb_stick_and_imports_once(Hq::demo());
}

#[test]
fn a_bundle_travels_on_a_usb_stick_and_imports_once_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("bundle") {
        a_bundle_travels_on_a_usb_stick_and_imports_once(hq);
    }
}

fn a_bundle_travels_on_a_usb_stick_and_imports_once(hq: Hq) {
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    server.stop();
    sell_some(&till, "V003", 5);

    // Step 1: the till writes a bundle; headquarters (not even running) imports it. Held to
    // a sync's limits, it is refused whole first: a ledger over the size limit, a till past
    // its number of ledgers.
    let bundle = till.data().join("t01.bundle");
    till.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    // A second export to the same name (another till's bundle on the stick, or this one's)
    // is refused, and the bundle there is left as it was.
    let written = std::fs::read(&bundle).unwrap();
    till.fails(
        &["bundle", "export", bundle.to_str().unwrap()],
        2,
        "exists already: not written over",
    );
    assert_eq!(std::fs::read(&bundle).unwrap(), written);
    // Headquarters makes none.
    let hq_bundle = till.data().join("hq.bundle");
    let out = hq.run(&["bundle", "export", hq_bundle.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("headquarters does not export bundles"),
        "{said}"
    );
    assert!(!hq_bundle.exists());
    let import = |flags: &[&str]| {
        let args = [
            &["hq", "bundle", "import", bundle.to_str().unwrap()][..],
            flags,
        ]
        .concat();
        hq.run(&args)
    };
    for (flags, why) in [
        (
            ["--max-document", "1KiB"],
            "the limit is 1 KiB (--max-document)",
        ),
        (
            ["--max-documents-per-device", "0"],
            "T01 would hold 1 ledger documents; the limit is 0",
        ),
        (
            ["--max-bundle", "1KiB"],
            "over 1024 bytes, more than --max-bundle allows",
        ),
    ] {
        let out = import(&flags);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains(why), "{said}");
        assert!(
            hq.sales().is_empty(),
            "nothing of a refused bundle is imported"
        );
    }
    let out = hq.ok(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(out.contains("6 new records"), "{out}");
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    if !hq.on_postgres() {
        // Projected from what is stored, and recorded so: not left in the backlog.
        let conn = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
        assert_eq!(fairpos_hq::project::backlog(&conn).unwrap(), 0);
    }

    // Step 2: the same bundle again: nothing new, nothing doubled.
    let out = hq.ok(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(out.contains("0 new records"), "{out}");
    assert_eq!(hq.sales().len(), 5);

    // Step 2b: the till sells on and a later bundle comes: its new sales come in, and the
    // ledger is stored as one snapshot, not a whole one beside each earlier bundle's (each
    // counted against its size limit).
    sell_more(&till, "V003", 3);
    let later = till.data().join("t01-later.bundle");
    till.ok(&["bundle", "export", later.to_str().unwrap()]);
    let out = hq.ok(&["hq", "bundle", "import", later.to_str().unwrap()]);
    assert!(out.contains("3 new records"), "{out}");
    assert_eq!(hq.sales().len(), 8);
    let count = "SELECT COUNT(*) FROM samod_kv WHERE key LIKE '%/snapshot/bundle-%'";
    let snapshots: i64 = match hq.database_url() {
        Some(url) => common::postgres::psql_answer(&url, count).parse().unwrap(),
        None => rusqlite::Connection::open(hq.data().join("hq.db"))
            .unwrap()
            .query_row(count, [], |r| r.get(0))
            .unwrap(),
    };
    assert_eq!(snapshots, 1);
    let out = hq.ok(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(out.contains("0 new records"), "{out}");

    // Step 3: the till then syncs online too: still once.
    let server = hq.serve();
    till.synced_with(&server.url);
    assert_eq!(hq.sales().len(), 8);

    // Step 4: an edited bundle, and a bundle for another fair, are refused.
    let mut edited: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    edited["created_at"] = "2030-01-01T00:00:00Z".into();
    let forged = till.data().join("forged.bundle");
    std::fs::write(&forged, serde_json::to_vec(&edited).unwrap()).unwrap();
    let out = hq.run(&["hq", "bundle", "import", forged.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signature does not verify"));

    let other = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    let fair = till.data().join("other-fair.toml");
    std::fs::write(&fair, "id = \"other-fair\"\nname = \"另一个展销会\"\n").unwrap();
    other.ok(&[
        "hq",
        "init",
        "--fair",
        fair.to_str().unwrap(),
        "--organizer-password",
        "organizer-pw",
    ]);
    let out = other.run(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is for fair"));
}

#[test]
fn a_till_whose_clock_is_a_day_off_still_syncs_every_sale() {
    let hq = Hq::demo();
    let server = hq.serve();
    let mut fast = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let slow = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    // T01's clock runs a day ahead: its sales land in tomorrow's ledger document.
    fast.now = "2026-11-23T10:00:00+08:00".into();
    sell_some(&fast, "V003", 3);
    sell_some(&slow, "V004", 2);
    fast.synced();
    slow.synced();
    assert_eq!(
        sorted(hq.sales()),
        expected(&[("T01", &fast), ("T02", &slow)])
    );
    let hours = hq.json(&["hq", "report", "--by", "hour", "--format", "json"]);
    let keys: Vec<&str> = hours["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["2026-11-22T10", "2026-11-23T10"]);
}

/// The first ledger document of a till, loaded from its database.
fn first_ledger(till: &Till) -> fairpos_sync::LedgerDoc {
    let conn = till.db();
    let stored = fairpos_sync::storage::stored_docs(&conn).unwrap();
    fairpos_sync::storage::load(&conn, &stored[0].id)
        .unwrap()
        .unwrap()
}

#[test]
fn sync_watch_keeps_headquarters_current_while_the_till_sells_on_sqlite() {
    sync_watch_keeps_headquarters_current_while_the_till_sells(Hq::demo());
}

#[test]
fn sync_watch_keeps_headquarters_current_while_the_till_sells_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("watch") {
        sync_watch_keeps_headquarters_current_while_the_till_sells(hq);
    }
}

fn sync_watch_keeps_headquarters_current_while_the_till_sells(hq: Hq) {
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let mut watch = till
        .command()
        .args(["sync", "--watch", "--interval", "1", "--timeout", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The till sells between passes; each sale reaches headquarters without a manual sync.
    for n in 1..=3 {
        till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
        let start = Instant::now();
        while hq.sales().len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "sale {n} never reached HQ"
            );
            pause(200);
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
}

/// A till whose data directory is restored from a copy older than what it synced is told so
/// at once, in one line, not left to wait out every step of every pass; the till that
/// synced goes on syncing.
#[test]
fn a_till_restored_from_an_older_copy_is_told_at_once() {
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 1);
    till.synced();
    let older = Till::empty();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", till.data().display()))
        .arg(older.data())
        .status()
        .unwrap();
    assert!(copied.success());
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.synced();

    // Its own words, not a step that ran out of time.
    let said = older.fails(
        &["sync", "--timeout", "20"],
        1,
        "older than what T01 synced",
    );
    assert!(said.contains("records of ledger/"), "{said}");
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.synced();

    // A copy as up to date as headquarters in every ledger it holds, made before a later
    // day's: it was let through, and its next sale took a number headquarters held.
    let mut day_before = Till::empty();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", till.data().display()))
        .arg(day_before.data())
        .status()
        .unwrap();
    assert!(copied.success());
    let mut till = till;
    till.now = "2026-11-23T10:00:00+08:00".into();
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    till.synced();
    day_before.now = "2026-11-24T10:00:00+08:00".into();
    let said = day_before.fails(
        &["sync", "--timeout", "20"],
        1,
        "older than what T01 synced",
    );
    assert!(
        said.contains("records of ledger/") && said.contains("/T01/2026-11-23, this till 0"),
        "{said}"
    );
}
