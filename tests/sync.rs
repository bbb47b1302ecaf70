//! Sync to headquarters, narrated: real `fairpos` processes, a real HQ server on 127.0.0.1,
//! real SQLite files. Each test says what happens, step by step.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::hq::{pause, Api, Hq, Server};
use common::{expected, sell_some, sorted, Till};
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

    // Step 3: the till then syncs online too: still once.
    let server = hq.serve();
    till.synced_with(&server.url);
    assert_eq!(hq.sales().len(), 5);

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

#[test]
fn wrong_secrets_and_revoked_tills_are_refused_on_sqlite() {
    wrong_secrets_and_revoked_tills_are_refused(Hq::demo());
}

#[test]
fn wrong_secrets_and_revoked_tills_are_refused_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("refused") {
        wrong_secrets_and_revoked_tills_are_refused(hq);
    }
}

fn wrong_secrets_and_revoked_tills_are_refused(hq: Hq) {
    let server = hq.serve();
    // A till of a stall the fair does not have is refused a code.
    let out = hq.run(&["hq", "add-device", "--device", "T09", "--stall", "S99"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("no stall S99 in this fair"), "{said}");
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let other_code = hq.add_device("T02", "S02");
    let other = Till::enrolled(&server.url, &other_code);
    sell_some(&till, "V003", 2);

    // A code works once.
    let code = hq.add_device("T03", "S03");
    Till::enrolled(&server.url, &code);
    let again = Till::empty();
    again.fails(
        &[
            "enroll",
            "--hq",
            &server.url,
            "--code",
            &code,
            "--lead-pin",
            "1357",
        ],
        1,
        "has been used",
    );

    // A till whose secret is wrong is refused, in one line, and headquarters logs it.
    till.db()
        .execute(
            "UPDATE meta SET value = 'f00d' WHERE key = 'device_secret'",
            [],
        )
        .unwrap();
    let out = till.sync(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("headquarters refused"), "{err}");
    assert!(hq.events().contains("authentication failed"));
    assert!(hq.sales().is_empty());
    // Anyone may send any token: a refusal is logged once a minute for each device named,
    // and a token naming none by a device code's shape as "(no device)", whatever it says.
    let api = Api::new(&server.url);
    let refusals = |who: &str| {
        let events = hq.events();
        let of = format!(" {who} ");
        events
            .lines()
            .filter(|l| l.contains(&of) && l.contains("authentication failed"))
            .count()
    };
    let before = refusals("T01");
    assert!(before >= 1);
    for _ in 0..5 {
        assert_eq!(api.get("/api/v1/docs?token=T01.f00d", None).0, 401);
    }
    for forged in ["%0Aforged%20line.x", "x%1B%5B2J.y"] {
        let path = format!("/api/v1/docs?token={forged}");
        assert_eq!(api.get(&path, None).0, 401);
    }
    // Device codes made up, one after another: one event for them all, naming the first.
    for made_up in ["T77", "T78", "Z9"] {
        let path = format!("/api/v1/docs?token={made_up}.f00d");
        assert_eq!(api.get(&path, None).0, 401);
    }
    assert_eq!(refusals("T01"), before, "{}", hq.events());
    assert_eq!(refusals("(no device)"), 1, "{}", hq.events());
    assert_eq!(refusals("T77"), 1, "{}", hq.events());
    let unknown = hq.events().matches("no device headquarters knows").count();
    assert_eq!(unknown, 1, "{}", hq.events());
    assert!(!hq.events().contains("forged"), "{}", hq.events());

    // A revoked till is shut out.
    sell_some(&other, "V004", 1);
    other.synced();
    let actor: String = other
        .db()
        .query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let enrol_with_old_code = || {
        let body = serde_json::json!({"code": other_code, "actor": actor});
        api.post("/api/v1/enroll", None, &body)
    };
    // Until then its code may be tried again by its actor (a first answer lost), which
    // gives it another secret: the till enrols again with it to take one, and syncs.
    assert_eq!(enrol_with_old_code().0, 200);
    assert!(!other.sync(&[]).status.success(), "its secret was replaced");
    other.ok(&[
        "enroll",
        "--again",
        "--hq",
        &server.url,
        "--code",
        &other_code,
        "--lead-pin",
        common::PIN,
    ]);
    other.synced();
    hq.ok(&["hq", "revoke-device", "T02"]);
    let out = other.sync(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
    // Its old code, tried again by its actor, does not undo the revocation.
    let (status, answer) = enrol_with_old_code();
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "unknown enrolment code");
    assert!(!other.sync(&[]).status.success(), "T02 is still revoked");
    // A new code for T02. A new till may not take it: T02's ledgers are held, and its
    // numbers would start again at 1 (its records refused as T02's, and T02 found
    // complete). The till that wrote them takes it with `enroll --again`, and syncs on;
    // its old code takes nothing from it.
    let new_code = hq.add_device("T02", "S02");
    let enrol = ["enroll", "--hq", &server.url, "--code", &new_code];
    let pin = ["--lead-pin", common::PIN];
    Till::empty().fails(
        &[&enrol[..], &pin].concat(),
        1,
        "T02 has ledgers at headquarters already",
    );
    other.ok(&[&enrol[..1], &["--again"], &enrol[1..], &pin].concat());
    common::sell_more(&other, "V004", 1);
    other.synced();
    assert_eq!(enrol_with_old_code().0, 403);
    other.synced();
}

#[test]
fn catalog_changes_flow_down_and_products_added_at_a_till_flow_up_on_sqlite() {
    catalog_changes_flow_down_and_products_added_at_a_till_flow_up(Hq::demo());
}

#[test]
fn catalog_changes_flow_down_and_products_added_at_a_till_flow_up_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("catalog") {
        catalog_changes_flow_down_and_products_added_at_a_till_flow_up(hq);
    }
}

/// On PostgreSQL, T01 syncs through a second process: what the first took in reaches it.
fn catalog_changes_flow_down_and_products_added_at_a_till_flow_up(hq: Hq) {
    let server = hq.serve();
    let second = hq.on_postgres().then(|| hq.serve());
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));

    // Headquarters changes a price while serving.
    let csv = hq.data().join("price.csv");
    std::fs::write(
        &csv,
        "sku,name_zh,unit,price_yuan,stock\nBJ-HJC-250,保靖黄金茶 250g,盒,118.00,40\n",
    )
    .unwrap();
    hq.ok(&["hq", "catalog", "import", csv.to_str().unwrap()]);
    // A seller at a stall the fair lacks is taken, and told.
    let sellers = hq.data().join("sellers.csv");
    std::fs::write(&sellers, "id,name,stall\nV099,新人,S99\n").unwrap();
    let out = hq.run(&["hq", "sellers", "import", sellers.to_str().unwrap()]);
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{warned}");
    let told = "warning: stall S99 is not among the fair's stalls (sellers V099)";
    assert!(warned.contains(told), "{warned}");
    pause(1500);

    // T02 adds a product offline; it goes up with T02's sync.
    t2.ok(&[
        "catalog",
        "add",
        "--sku",
        "LOCAL-1",
        "--name-zh",
        "本地蜂蜜 𠮷",
        "--unit",
        "瓶",
        "--price",
        "35",
        "--stock",
        "12",
    ]);
    t2.synced();
    pause(1000);
    // T01's next sync brings both the new price and T02's product, and says so; the one
    // after it brings nothing new, and says nothing of the catalog.
    let through: Vec<&str> = match &second {
        Some(other) => vec!["--hq", other.url.as_str()],
        None => vec![],
    };
    for (pass, updated) in [(1, true), (2, false)] {
        let out = t1.sync(&through);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "sync {pass} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            said.contains("catalog updated"),
            updated,
            "sync {pass}: {said}"
        );
    }
    let list = t1.json(&["catalog", "list", "--json"]);
    let price = |sku: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == sku)
            .map(|p| p["price_fen"].as_i64().unwrap())
    };
    assert_eq!(price("BJ-HJC-250"), Some(11800));
    assert_eq!(price("LOCAL-1"), Some(3500));
    // The price file had no barcode, stall or county column: the product kept them.
    let tea = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "BJ-HJC-250");
    let tea = tea.unwrap();
    let kept = ["barcode", "stall", "origin_county_name"].map(|k| tea[k].as_str().unwrap_or(""));
    assert_eq!(kept, ["6935780100128", "S01", "保靖县"], "{tea}");
    let local = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "LOCAL-1")
        .unwrap();
    assert_eq!(local["name_zh"], "本地蜂蜜 𠮷");
    // And T01 can sell it.
    t1.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let sale = t1.sell(&["--seller", "V003", "LOCAL-1", "--pay", "cash:35"]);
    assert_eq!(sale["total_fen"], 3500);
}

#[test]
fn sync_needs_an_enrolled_till() {
    let till = Till::demo();
    till.fails(&["sync"], 2, "not enrolled");
    let start = Instant::now();
    let hq = Hq::demo();
    let out = hq.run(&["hq", "add-device", "--device", "t1", "--stall", "S01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_ledger_missing_a_stored_change_is_refused_by_the_pass_and_nothing_of_it_is_counted() {
    // Step 0: a till sells three sales; one of its stored ledger changes (a sale's) then goes
    // missing, so the ledger's later changes depend on one that is not there. The stored
    // record count is left as it was, so that the till still opens (its tables agree with
    // it) and it is the sync pass that meets the damage.
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    let conn = till.db();
    let removed = conn
        .execute(
            "DELETE FROM ledger_changes WHERE rowid =
                 (SELECT rowid FROM ledger_changes ORDER BY rowid LIMIT 1 OFFSET 2)",
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    conn.execute("UPDATE ledger_docs SET records = records + 1", [])
        .unwrap();
    drop(conn);

    // Step 1: the sync ends with one line naming the ledger and why, the pass records it
    // as the last error, and headquarters counts none of the sales that ledger holds.
    let out = till.sync(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let why = "1 change(s) it depends on are not stored";
    assert!(err.contains(why), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let status = till.json(&["sync", "status", "--json"]);
    assert!(
        status["last_error"].as_str().unwrap().contains(why),
        "{status}"
    );
    assert!(hq.sales().is_empty());
}

/// The first ledger document of a till, loaded from its database.
fn first_ledger(till: &Till) -> fairpos_sync::LedgerDoc {
    let conn = till.db();
    let stored = fairpos_sync::storage::stored_docs(&conn).unwrap();
    fairpos_sync::storage::load(&conn, &stored[0].id)
        .unwrap()
        .unwrap()
}

/// `doc` with one more change, made by an actor that is not its till's: a forged sale.
fn forge(doc: &fairpos_sync::LedgerDoc, device: &str) -> automerge::Automerge {
    let mut forged =
        fairpos_sync::LedgerDoc::open(doc.id().clone(), doc.automerge().fork()).unwrap();
    let mut record = match doc
        .records()
        .unwrap()
        .into_iter()
        .find(|r| r.kind() == "sale")
    {
        Some(fairpos_sync::Record::Sale(s)) => s,
        _ => panic!("no sale to copy"),
    };
    record.header.id = "00000000-0000-4000-8000-000000000000".into();
    record.header.device = device.into();
    record.header.seq = 999;
    record.sale_seq = 999;
    record.number = format!("{device}-000999");
    record.total_fen = 1;
    forged
        .append(&fairpos_sync::Record::Sale(record), 0)
        .unwrap();
    forged.automerge().clone()
}

#[test]
fn a_till_writing_into_another_tills_ledger_is_refused_and_logged_on_sqlite() {
    a_till_writing_into_another_tills_ledger_is_refused_and_logged(Hq::demo());
}

#[test]
fn a_till_writing_into_another_tills_ledger_is_refused_and_logged_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("intrusion") {
        a_till_writing_into_another_tills_ledger_is_refused_and_logged(hq);
    }
}

/// Sends the document `bytes` as the ledger `key` to headquarters at `url` over samod, as
/// `device` (whose secret is `secret`), skipping the announcement a till's sync makes; waits
/// two seconds for it to get there.
fn push_over_samod(url: &str, device: &str, secret: &str, key: &str, bytes: Vec<u8>) {
    use fairpos_sync::samod::storage::{InMemoryStorage, Storage, StorageKey};
    use fairpos_sync::samod::{BackoffConfig, PeerId, Repo};

    let token = format!("{device}.{secret}");
    let trust = fairpos_sync::tls::Trust::system().unwrap();
    let hq_client = fairpos_sync::client::HqClient::new(url, &trust).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = InMemoryStorage::new();
        let id = fairpos_sync::ids::document_id(key);
        let k = StorageKey::from_parts([id.to_string().as_str(), "snapshot", "x"]).unwrap();
        store.put(k, bytes).await;
        let repo = Repo::build_tokio()
            .with_storage(store)
            .with_peer_id(PeerId::from(format!("device:{device}")))
            .load()
            .await;
        let dialer = repo
            .dial(
                BackoffConfig::default(),
                std::sync::Arc::new(fairpos_sync::net::WsDialer::to(&hq_client, &token)),
            )
            .unwrap();
        dialer.established().await.unwrap();
        let _handle = repo.find(id).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        repo.stop().await;
    });
}

#[test]
fn a_ledger_refused_before_a_restart_is_not_refused_again_when_headquarters_starts() {
    // Step 0: two tills sell and sync.
    let hq = Hq::demo();
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    sell_some(&t1, "V003", 2);
    t1.synced();
    let before = sorted(hq.sales());

    // Step 1: T01's own ledger comes with a change by an actor that is not T01's: stored by
    // samod, refused by the projection, logged once.
    let ledger = first_ledger(&t1);
    let forged = forge(&ledger, "T01");
    push_over_samod(
        &server.url,
        "T01",
        &t1.secret(),
        &ledger.id().key(),
        forged.save(),
    );
    let refusals = || hq.events().matches("forged ledger change").count();
    let waited = Instant::now();
    while refusals() == 0 && waited.elapsed() < Duration::from_secs(20) {
        pause(200);
    }
    assert_eq!(refusals(), 1, "{}", hq.events());

    // Step 2: headquarters restarts. Its first passes take the documents stored before, but
    // not the refused ledger: T02's sync, confirmed once a pass has projected it, comes after
    // them, and the refusal is still logged once; the sales are as they were.
    let listen = server.url.trim_start_matches("http://").to_string();
    server.stop();
    let _server = Server::start(hq.data(), &["--listen", &listen]);
    sell_some(&t2, "V004", 1);
    t2.synced();
    assert_eq!(refusals(), 1, "{}", hq.events());
    let mut expected_now = before;
    expected_now.extend(expected(&[("T02", &t2)]));
    assert_eq!(sorted(hq.sales()), sorted(expected_now));
}

fn a_till_writing_into_another_tills_ledger_is_refused_and_logged(hq: Hq) {
    // Step 0: T01 sells and syncs; headquarters knows its ledger as T01's.
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    sell_some(&t1, "V003", 3);
    t1.synced();
    let before = sorted(hq.sales());

    // Step 1: with T02's credentials, someone pushes a forged version of T01's ledger over
    // samod, skipping the announcement.
    let ledger = first_ledger(&t1);
    let key = ledger.id().key();
    let forged = forge(&ledger, "T01");
    push_over_samod(&server.url, "T02", &t2.secret(), &key, forged.save());

    // Step 2: headquarters holds T01's sales as they were, and says who tried what.
    pause(500);
    assert_eq!(sorted(hq.sales()), before);
    let events = hq.events();
    assert!(
        events.contains(&format!(
            "T02 sent sync messages for {key}, the ledger of T01"
        )),
        "{events}"
    );

    // Step 3: the same forgery on a USB stick, signed with T02's key, is refused.
    let mut bundle = fairpos_sync::bundle::Bundle {
        format: fairpos_sync::bundle::FORMAT.into(),
        fair: ledger.id().fair.clone(),
        source: "T02".into(),
        created_at: "2026-11-22T12:00:00Z".into(),
        docs: vec![fairpos_sync::bundle::BundleDoc::new(
            key.clone(),
            &forged.save(),
        )],
        signature: String::new(),
    };
    bundle.sign(&t2.signing_secret());
    let file = t2.data().join("forged.bundle");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = hq.run(&["hq", "bundle", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carries the ledger of T01"), "{err}");

    // And T02's own ledger with a change by another actor: a forged ledger change.
    sell_some(&t2, "V004", 1);
    let own = first_ledger(&t2);
    let forged_own = forge(&own, "T02");
    bundle.docs = vec![fairpos_sync::bundle::BundleDoc::new(
        own.id().key(),
        &forged_own.save(),
    )];
    bundle.sign(&t2.signing_secret());
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = hq.run(&["hq", "bundle", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forged ledger change"), "{err}");
    assert_eq!(sorted(hq.sales()), before);
}

/// A TCP proxy in front of `target`: answers flow back untouched; what each client sends
/// (the `n`th connection) goes through `forward(n, client, server)` on a thread of its own.
fn proxy(
    target: std::net::SocketAddr,
    forward: impl Fn(usize, std::net::TcpStream, std::net::TcpStream) + Clone + Send + 'static,
) -> std::net::SocketAddr {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let (Ok(client), Ok(server)) = (client, TcpStream::connect(target)) else {
                continue;
            };
            let (mut s_read, mut c_write) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Both);
            });
            let forward = forward.clone();
            std::thread::spawn(move || forward(n, client, server));
        }
    });
    addr
}

/// A TCP proxy that cuts each of its first `cuts` connections after a random number of bytes
/// from the client, mid-message, and passes the rest through.
fn cutting_proxy(target: std::net::SocketAddr, cuts: usize, seed: u64) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    let limits: Vec<usize> = {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..cuts).map(|_| rng.random_range(40..3000usize)).collect()
    };
    proxy(target, move |n, mut client, mut server| {
        let limit = limits.get(n).copied();
        let mut sent = 0;
        let mut buf = [0u8; 512];
        while let Ok(k) = client.read(&mut buf) {
            if k == 0 {
                break;
            }
            let take = limit.map_or(k, |l| k.min(l.saturating_sub(sent)));
            if server.write_all(&buf[..take]).is_err() {
                break;
            }
            sent += take;
            if limit.is_some_and(|l| sent >= l) {
                break;
            }
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    })
}

#[test]
fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected_on_sqlite() {
    a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(Hq::demo());
}

#[test]
fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("held") {
        a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(hq);
    }
}

fn a_till_asking_for_its_confirmation_is_held_until_headquarters_has_projected(hq: Hq) {
    // Step 0: a till sells and syncs; headquarters has projected its ledger.
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    till.synced();
    let api = Api::new(&server.url);
    let token = format!("T01.{}", till.secret());
    let ledger = first_ledger(&till);
    let key = ledger.id().key();
    let heads = heads_text(&ledger.heads());
    let ask = |heads: &str, wait_ms: u64| {
        let body =
            serde_json::json!({ "docs": [{ "key": key, "heads": heads }], "wait_ms": wait_ms });
        api.post("/api/v1/sync/confirm", Some(&token), &body)
    };

    // Step 1: asked to confirm what it holds, headquarters answers at once, as to a GET.
    let (status, held) = ask(&heads, 10_000);
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["docs"][0]["heads"], heads.as_str());
    assert_eq!(held, api.get("/api/v1/sync/confirm", Some(&token)).1);

    // Step 2: asked for heads it will never have, it answers with what it holds once the
    // wait is over; a question it cannot read is refused, not failed.
    let (status, answer) = ask("00", 200);
    assert_eq!(status, 200);
    assert_eq!(answer["docs"][0]["heads"], heads.as_str());
    let bad = serde_json::json!({ "wait_ms": "soon" });
    let (status, answer) = api.post("/api/v1/sync/confirm", Some(&token), &bad);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("the question"),
        "{answer}"
    );
    assert_eq!(api.post("/api/v1/sync/confirm", None, &bad).0, 401);

    // Step 3: the till sells on; a question for its new heads, asked before it syncs, is
    // held, and answered when the sync is projected, not when its ten seconds are over.
    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "cash"]);
    let new_heads = heads_text(&first_ledger(&till).heads());
    assert_ne!(new_heads, heads);
    let (answer, waited) = std::thread::scope(|scope| {
        let held = scope.spawn(|| {
            let asked = Instant::now();
            (ask(&new_heads, 10_000), asked.elapsed())
        });
        pause(200);
        assert!(!held.is_finished(), "answered before the till synced");
        till.synced();
        held.join().unwrap()
    });
    assert_eq!(answer.0, 200);
    assert_eq!(answer.1["docs"][0]["heads"], new_heads.as_str());
    assert!(
        waited < Duration::from_secs(10),
        "answered at the wait's end"
    );
}

#[test]
fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing_on_sqlite() {
    a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(Hq::demo());
}

#[test]
fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("proxy") {
        a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(hq);
    }
}

fn a_proxy_that_cuts_connections_mid_message_loses_and_doubles_nothing(hq: Hq) {
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 40);
    let target = server.address();
    let proxy = cutting_proxy(target, 12, rand::random());
    let via = format!("http://{proxy}");
    // The till tries again and again through the bad link until a pass goes through whole.
    let mut failures = 0;
    loop {
        let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
        if out.status.success() {
            break;
        }
        failures += 1;
        assert!(failures < 30, "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(failures > 0, "the proxy cut nothing");
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    till.synced_with(&via);
    assert_eq!(hq.sales().len(), 40);
}

/// A proxy whose first `busy` connections are answered `503` asking for a wait of one
/// second (as headquarters answers when its database is busy), the rest passed through.
fn busy_proxy(target: std::net::SocketAddr, busy: usize) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    proxy(target, move |n, mut client, mut server| {
        if n < busy {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|k| k == 1) {
                head.push(byte[0]);
            }
            let why = r#"{"error":"the database is busy: try again"}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{why}",
                why.len()
            );
            let _ = client.write_all(answer.as_bytes());
        } else {
            let _ = std::io::copy(&mut client, &mut server);
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    })
}

/// A one-shot `fairpos sync` answered busy with a short `Retry-After` waits it and tries
/// again, saying so, up to three passes in all; answered so more often, it ends saying how
/// long headquarters asked for.
#[test]
fn a_one_shot_sync_answered_busy_waits_as_asked_and_tries_again() {
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    let via = format!("http://{}", busy_proxy(server.address(), 2));
    let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let told = "the database is busy: try again; trying again in 1 s, as asked";
    assert_eq!(said.matches(told).count(), 2, "{said}");
    assert_eq!(hq.sales().len(), 3);

    till.sell(&["--seller", "V003", "LS-MH-1", "--pay", "wechat"]);
    let via = format!("http://{}", busy_proxy(server.address(), 3));
    let out = till.run(&["sync", "--hq", &via, "--timeout", "5"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_eq!(said.matches(told).count(), 2, "{said}");
    let ended = "headquarters asked to be left alone for 1 s: sync again after that";
    assert!(said.contains(ended), "{said}");
    assert_eq!(hq.sales().len(), 3);
}

/// A headquarters older than the held confirmation, played by a proxy in front of the real
/// one: `POST /api/v1/sync/confirm` is answered 405 (as a route with `GET` alone answers),
/// everything else passes, the sync socket too. Returns its address and how many confirmation
/// questions it refused.
fn headquarters_without_held_confirmation(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::Shutdown;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = refused.clone();
    // Request by request (clients send the next only after the last answer): the head, then
    // as many bytes of body as it says; after an upgrade, bytes as they come.
    let addr = proxy(target, move |_, client, mut to_server| {
        let mut to_client = client.try_clone().unwrap();
        let mut from_client = BufReader::new(client);
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                match from_client.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => head.push_str(&line),
                }
                if line == "\r\n" {
                    break;
                }
            }
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse::<u64>().unwrap());
            let mut body = Vec::new();
            let _ = (&mut from_client).take(length).read_to_end(&mut body);
            if head.starts_with("POST /api/v1/sync/confirm") {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = to_client
                    .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
                continue;
            }
            if to_server.write_all(head.as_bytes()).is_err() || to_server.write_all(&body).is_err()
            {
                return;
            }
            if lower.contains("upgrade: websocket") {
                let _ = std::io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(Shutdown::Both);
                return;
            }
        }
    });
    (addr, refused)
}

#[test]
fn a_till_syncs_with_a_headquarters_older_than_the_held_confirmation() {
    // Step 0: a till sells; its headquarters, reached through the stand-in, is one that
    // answers the held confirmation 405.
    let hq = Hq::demo();
    let server = hq.serve();
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 5);
    let target = server.address();
    let (older, refused) = headquarters_without_held_confirmation(target);

    // Step 1: the sync goes through whole: the till asked once, was refused, and asked the
    // old way until headquarters had projected every sale.
    till.synced_with(&format!("http://{older}"));
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(sorted(hq.sales()), expected(&[("T01", &till)]));
    let status = till.json(&["sync", "status", "--json"]);
    assert_eq!(status["unconfirmed_sales"], 0, "{status}");
}

/// Every projected row of `device`, table by table, as text.
fn projected_rows(conn: &rusqlite::Connection, device: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (table, filter) in [
        ("records", "device = ?1 ORDER BY seq"),
        ("sales", "device = ?1 ORDER BY seq"),
        (
            "sale_lines",
            "sale_id IN (SELECT id FROM sales WHERE device = ?1) ORDER BY sale_id, line",
        ),
        (
            "sale_payments",
            "sale_id IN (SELECT id FROM sales WHERE device = ?1) ORDER BY sale_id, idx",
        ),
        ("shifts", "device = ?1 ORDER BY id"),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} WHERE {filter}"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([device], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", cells.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(|r| r.unwrap()));
    }
    out
}

#[test]
fn a_till_through_the_fair_hub_ends_up_at_hq_as_if_it_synced_directly_on_sqlite() {
    a_till_through_the_fair_hub_ends_up_at_hq_as_if_it_synced_directly(Hq::demo());
}

#[test]
fn a_till_through_the_fair_hub_ends_up_at_hq_as_if_it_synced_directly_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("hub") {
        a_till_through_the_fair_hub_ends_up_at_hq_as_if_it_synced_directly(hq);
    }
}

fn a_till_through_the_fair_hub_ends_up_at_hq_as_if_it_synced_directly(hq: Hq) {
    // Step 0: headquarters enrols two tills and a hub for the venue.
    let server = hq.serve();
    let direct = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let relayed = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &server.url, "--code", &hub_code]);
    let hub_server = Server::start(hub.data(), &["--upstream", &server.url]);

    // Step 1: both sell; T01 syncs with headquarters, T02 only with the hub on the LAN.
    sell_some(&direct, "V003", 5);
    sell_some(&relayed, "V004", 7);
    direct.synced();
    relayed.synced_with(&hub_server.url);
    assert_eq!(hub.sales().len(), 7, "the hub holds T02's sales");
    // The venue's big screen, served by the hub, shows them.
    let link = hub.json(&["hq", "screen-link", "--base", &hub_server.url, "--json"]);
    let path = link["url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&hub_server.url);
    let net: i64 = relayed.sale_totals().iter().map(|(_, fen)| fen).sum();
    let (status, page) = Api::new(&hub_server.url).get_text(path);
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("id=\"net\" data-fen=\"{net}\"")),
        "the hub's screen does not show {net}"
    );

    // Step 2: the hub relays; headquarters ends up holding T02's ledger as T02 has it.
    let start = Instant::now();
    while hq.sales().len() < 12 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the hub never relayed"
        );
        pause(200);
    }
    pause(500);
    // Row for row, on SQLite (PostgreSQL's rows are compared with SQLite's in
    // `tests/reconciliation.rs` and `postgres/tests`).
    if !hq.on_postgres() {
        let hq_db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
        for (device, till) in [("T01", &direct), ("T02", &relayed)] {
            assert_eq!(
                projected_rows(&hq_db, device),
                projected_rows(&till.db(), device),
                "headquarters holds {device} exactly as the till does"
            );
        }
    }
    assert_eq!(
        sorted(hq.sales()),
        expected(&[("T01", &direct), ("T02", &relayed)])
    );
    // And T02's next direct sync finds nothing missing.
    relayed.synced();
    assert_eq!(hq.sales().len(), 12);

    // A hub's USB bundle is signed by the hub, verified, and adds nothing twice.
    let bundle = hub.data().join("hub.bundle");
    hub.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    let out = hq.ok(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(
        out.contains("from H1") && out.contains("0 new records"),
        "{out}"
    );
    assert_eq!(hq.sales().len(), 12);
}

/// A fair hub asks headquarters for the device registry every second, and takes it again
/// only when it changed: headquarters answers its tag `304 Not Modified` meanwhile, and a
/// till added or revoked there (the registry's token drawn again) reaches the hub with the
/// next whole answer. A hub restarted keeps its tag, and is answered `304`. Devices are
/// revoked and added at headquarters, not at the hub; one changed there by hand is put
/// right by the next whole answer.
#[test]
fn a_hub_takes_the_registry_again_only_when_it_changed_on_sqlite() {
    a_hub_takes_the_registry_again_only_when_it_changed(Hq::demo());
}

#[test]
fn a_hub_takes_the_registry_again_only_when_it_changed_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("registry") {
        a_hub_takes_the_registry_again_only_when_it_changed(hq);
    }
}

fn a_hub_takes_the_registry_again_only_when_it_changed(hq: Hq) {
    let server = Server::start(hq.data(), &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = server.metrics.clone().unwrap();
    let base = metrics.trim_end_matches("/metrics").to_string();
    // How many registry requests were answered `status`.
    let answered = |status: &str| {
        let (_, text) = Api::new(&base).get_text("/metrics");
        let series = format!(
            "fairpos_hq_http_requests_total{{method=\"GET\",route=\"/api/v1/hub/registry\",\
             status=\"{status}\"}}"
        );
        fairpos_hq::metrics::sample(&text, &series).unwrap_or(0.0)
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(30), "{what}");
            pause(200);
        }
    };
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &server.url, "--code", &hub_code]);
    let hub_server = Server::start(hub.data(), &["--upstream", &server.url]);
    until("the hub's registry asked after again", &|| {
        answered("304") >= 2.0
    });
    // Whole once at enrolment, once by the relay.
    assert_eq!(answered("200"), 2.0);

    // A till added at headquarters: the registry changed, and is taken whole again.
    hq.add_device("T09", "S01");
    let known = || {
        let devices = hub.json(&["hq", "devices", "--json"]);
        devices.to_string().contains("\"T09\"")
    };
    until("T09 reaching the hub", &known);
    assert_eq!(answered("200"), 3.0);
    // Revoked at the hub, T09 would come back with the next copy: refused, naming where.
    let out = hub.run(&["hq", "revoke-device", "T09"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("revoke T09 at headquarters"), "{said}");
    let out = hub.run(&["hq", "add-device", "--device", "T10", "--stall", "S01"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("add T10 at headquarters"), "{said}");
    // Revoked at headquarters, the registry's token changes and the hub is sent it again.
    hq.ok(&["hq", "revoke-device", "T09"]);
    let revoked = || {
        let devices = hub.json(&["hq", "devices", "--json"]);
        let entries = devices.as_array().unwrap().clone();
        entries
            .iter()
            .any(|e| e["device"] == "T09" && e["revoked"] == true)
    };
    until("T09's revocation reaching the hub", &revoked);
    assert_eq!(answered("200"), 4.0);
    // A hub restarted asks with the tag it kept with the registry: answered 304.
    hub_server.stop();
    let not_modified = answered("304");
    let hub_server = Server::start(hub.data(), &["--upstream", &server.url]);
    // Two more: the stopped hub's last question may be counted after the look above.
    until("the restarted hub asking", &|| {
        answered("304") > not_modified + 1.0
    });
    assert_eq!(answered("200"), 4.0, "the registry it holds not sent again");
    // T09 taken back by hand in the running hub's database: its tag no longer says what
    // the hub holds, so the registry is taken whole again, and T09 is revoked once more.
    let hub_db = rusqlite::Connection::open(hub.data().join("hq.db")).unwrap();
    let changed = hub_db
        .execute(
            "UPDATE devices SET revoked_at = NULL WHERE device = 'T09'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    until("T09 revoked again at the hub", &revoked);
    assert_eq!(answered("200"), 5.0);
    hub_server.stop();
    server.stop();
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
}
