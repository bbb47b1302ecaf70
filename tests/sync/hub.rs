//! The fair hub between tills and headquarters, and the registry it takes.

use super::*;

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
    // An upstream the relay could never dial is refused before the hub serves (it served,
    // confirming to its tills, while nothing reached headquarters).
    let (code, said) = hub.serve_refused(&["--upstream", "hq.example.org:7700"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("--upstream hq.example.org:7700"), "{said}");
    let hub_server = Server::start(hub.data(), &["--upstream", &server.url]);

    // Step 1: both sell; T01 syncs with headquarters, T02 only with the hub on the LAN.
    sell_some(&direct, "V003", 5);
    sell_some(&relayed, "V004", 7);
    // T02 adds a product offline too: it reaches headquarters' catalog through the hub.
    relayed.ok(&[
        "catalog",
        "add",
        "--sku",
        "HUB-1",
        "--name-zh",
        "会场蜂蜜",
        "--unit",
        "瓶",
        "--price",
        "45",
        "--stock",
        "6",
    ]);
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
    // T02's product reached headquarters' catalog, and T01 with it; the hub, which folds
    // nothing into a catalog, kept none of it for one.
    let start = Instant::now();
    while direct.listed_price("HUB-1").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "HUB-1 never reached T01"
        );
        pause(300);
        direct.synced();
    }
    assert_eq!(direct.listed_price("HUB-1"), Some(4500));
    let hub_db = rusqlite::Connection::open(hub.data().join("hq.db")).unwrap();
    let kept: i64 = hub_db
        .query_row("SELECT COUNT(*) FROM till_added_products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0, "a hub keeps no product for a catalog");

    // A hub's USB bundle is signed by the hub, verified, and adds nothing twice.
    let bundle = hub.data().join("hub.bundle");
    hub.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    let out = hq.ok(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(
        out.contains("from H1") && out.contains("0 new records"),
        "{out}"
    );
    assert_eq!(hq.sales().len(), 12);

    // T02 stolen and revoked at headquarters while the hub's uplink is down: the hub never
    // hears of it, and takes the thief's sale. Its bundle brings none of T02's ledgers in
    // (before, it brought the sale), named as refused.
    hub_server.stop();
    let hub_server = Server::start(hub.data(), &["--upstream", "http://127.0.0.1:9"]);
    hq.ok(&["hq", "revoke-device", "T02"]);
    sell_more(&relayed, "V004", 1);
    relayed.synced_with(&hub_server.url);
    assert_eq!(hub.sales().len(), 8, "the hub took it");
    std::fs::remove_file(&bundle).unwrap();
    hub.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    let out = hq.run(&["hq", "bundle", "import", bundle.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("T02 is revoked"), "{said}");
    assert_eq!(hq.sales().len(), 12, "none of the thief's sales");
    hub_server.stop();
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
    // So is an import of the catalog (it reached the venue's tills, never headquarters).
    let csv = hub.data().join("catalog.csv");
    std::fs::write(
        &csv,
        "sku,name_zh,unit,price_yuan\nHUB-1,枢纽自改,袋,1.00\n",
    )
    .unwrap();
    let out = hub.run(&["hq", "catalog", "import", csv.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("import the catalog at headquarters"),
        "{said}"
    );
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

/// A ledger headquarters refuses (over its size limit, which the hub's is not) is told to
/// the till syncing at the hub, as headquarters tells its own: before, the hub confirmed
/// it from its own projection, and the till was told it had synced.
#[test]
fn a_till_at_the_hub_is_told_what_headquarters_refuses() {
    let hq = Hq::demo();
    let server = Server::start(hq.data(), &["--max-document", "8KiB"]);
    let relayed = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &server.url, "--code", &hub_code]);
    let hub_server = Server::start(hub.data(), &["--upstream", &server.url]);
    // About 14 KiB of ledger: the hub takes it, headquarters refuses it.
    relayed.ok(&["shift", "open", "--seller", "V004", "--float", "0"]);
    let batch: String = (0..300)
        .map(|_| "{\"seller\":\"V004\",\"items\":[\"LS-MH-1\"],\"pay\":[\"wechat\"]}\n")
        .collect();
    let batch_file = relayed.data().join("batch.jsonl");
    std::fs::write(&batch_file, batch).unwrap();
    relayed.ok(&["sell-batch", batch_file.to_str().unwrap()]);
    relayed.synced_with(&hub_server.url);
    let start = Instant::now();
    while !hq.events().contains("over the size limit") {
        assert!(start.elapsed() < Duration::from_secs(30), "never relayed");
        pause(200);
    }
    // Learnt by the hub within its next asking (every 15 s), then told at each sync.
    let start = Instant::now();
    loop {
        let out = relayed.sync(&["--hq", &hub_server.url]);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        if said.contains("headquarters refuses it: over the size limit") {
            assert!(!out.status.success(), "{said}");
            break;
        }
        assert!(out.status.success(), "{said}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never told: {said}"
        );
        pause(1000);
    }
}

/// A hub whose uplink was down when a till was revoked announces the till's ledger of since:
/// refused, and said (in the events, and in what headquarters tells the hub it refuses, which
/// the hub passes on to the till), on both backends.
#[test]
fn a_revoked_tills_ledger_a_hub_relays_is_refused_and_said_on_sqlite() {
    a_revoked_tills_ledger_a_hub_relays_is_refused_and_said(Hq::demo());
}

#[test]
fn a_revoked_tills_ledger_a_hub_relays_is_refused_and_said_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("hub_revoked") {
        a_revoked_tills_ledger_a_hub_relays_is_refused_and_said(hq);
    }
}

fn a_revoked_tills_ledger_a_hub_relays_is_refused_and_said(hq: Hq) {
    let server = hq.serve();
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &server.url, "--code", &hub_code]);
    hq.add_device("T07", "S01");
    hq.ok(&["hq", "revoke-device", "T07"]);
    // The hub's own credentials, as its relay announces with them.
    let secret: String = rusqlite::Connection::open(hub.data().join("hq.db"))
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let token = format!("H1.{secret}");
    let fair = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML)
        .unwrap()
        .id;
    let key = format!("ledger/{fair}/T07/2026-12-07");
    let api = Api::new(&server.url);
    let body = serde_json::json!({ "docs": [key] });
    let (status, said) = api.post("/api/v1/sync/announce", Some(&token), &body);
    assert_eq!(status, 200, "{said}");
    let why = "T07 was revoked before this ledger reached headquarters (through H1)";
    let (status, refused) = api.get("/api/v1/sync/confirm?only=refused", Some(&token));
    assert_eq!(status, 200, "{refused}");
    assert!(refused.to_string().contains(why), "{refused}");
    assert!(hq.events().contains(why), "{}", hq.events());
    server.stop();
}
