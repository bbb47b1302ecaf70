//! Voids and refunds no till writes, sent by tills whose databases were changed by hand,
//! listed as doubtful.

use super::*;

/// Puts `record` in the ledger journal of `till`'s database, as someone changing the
/// database by hand would: the till takes it into its ledger, signed as its own, when it
/// next opens. `record` is given the till's next header (on the day of its last record) and
/// its last shift.
fn slip_in(till: &Till, record: impl FnOnce(Header, String) -> Record) {
    let db = till.db();
    let (device, seq, at, doc_key): (String, i64, String, String) = db
        .query_row(
            "SELECT device, seq, at, doc_key FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let shift: String = db
        .query_row(
            "SELECT id FROM shifts ORDER BY opened_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let waiting: i64 = db
        .query_row("SELECT COUNT(*) FROM ledger_journal", [], |r| r.get(0))
        .unwrap();
    let seq = (seq + waiting) as u64 + 1;
    let header = Header {
        id: format!("00000000-0000-4000-8000-{device}{seq:09}"),
        device,
        seq,
        at,
    };
    let json = record(header, shift).to_json().unwrap();
    db.execute(
        "INSERT INTO ledger_journal(doc_key, record) VALUES (?1, ?2)",
        [doc_key, json],
    )
    .unwrap();
}

/// Refund `number` of `sale` (as `fairpos sell --json` gave it) by `header`'s till in
/// `shift`: line 1 as `(product, pieces, fen)`, the refund itself stating `amount_fen`.
fn refund(
    (header, shift): (Header, String),
    number: u32,
    sale: &Value,
    line: (&str, i64, i64),
    amount_fen: i64,
) -> Record {
    let number = format!("{}-R{number:06}", header.device);
    Record::Refund(RefundRecord {
        header,
        number,
        sale: sale["id"].as_str().unwrap().to_string(),
        sale_number: sale["sale"].as_str().unwrap().to_string(),
        shift,
        method: "cash".into(),
        amount_fen,
        lines: vec![RefundLineRecord {
            line: 1,
            sku: line.0.into(),
            qty: line.1,
            amount_fen: line.2,
        }],
    })
}

#[test]
fn voids_and_refunds_no_till_writes_are_listed_as_doubtful_on_sqlite() {
    voids_and_refunds_no_till_writes_are_listed_as_doubtful(Hq::demo());
}

#[test]
fn voids_and_refunds_no_till_writes_are_listed_as_doubtful_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("doubtful") {
        voids_and_refunds_no_till_writes_are_listed_as_doubtful(hq);
    }
}

fn voids_and_refunds_no_till_writes_are_listed_as_doubtful(hq: Hq) {
    // Step 0: T01 sells two 保靖黄金茶 and a 古丈毛尖, and takes one 黄金茶 back (honest);
    // it sells a 古丈毛尖 again and voids that sale, then a 凤凰姜糖. T02 sells a 古丈毛尖.
    let server = hq.serve();
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    t1.at("10:00");
    t1.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    let s1 = t1.sell(&[
        "--seller",
        "V003",
        "6935780100128*2",
        "GZ-MJ-200",
        "--pay",
        "cash:400",
    ]);
    let s2 = t1.sell(&["--seller", "V003", "GZ-MJ-200", "--pay", "wechat"]);
    let s3 = t1.sell(&["--seller", "V003", "FH-JT-300", "--pay", "cash:25"]);
    t1.at("10:30");
    t1.ok(&[
        "refund",
        "--pin",
        PIN,
        "T01-000001",
        "--line",
        "1:1",
        "--pay",
        "cash",
    ]);
    t1.ok(&["void", "T01-000002", "--reason", "扫错了", "--pin", PIN]);
    t2.at("10:05");
    t2.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    t2.sell(&["--seller", "V004", "GZ-MJ-200", "--pay", "wechat"]);

    // Step 1: someone changes the tills' databases. T02 refunds both 黄金茶 of T01's sale
    // (one was refunded already, and T02 did not sell it) and voids T01's 凤凰姜糖 sale; T01
    // refunds the 古丈毛尖 of the voided sale, stating 90.00 where its line says 96.00. T02
    // syncs first: its void arrives before the sale it names, so it is not refused.
    slip_in(&t2, |h, shift| {
        refund((h, shift), 1, &s1, ("BJ-HJC-250", 2, 25600), 25600)
    });
    slip_in(&t2, |header, shift| {
        Record::Void(VoidRecord {
            header,
            sale: s3["id"].as_str().unwrap().into(),
            number: s3["sale"].as_str().unwrap().into(),
            shift,
            reason: "改过的".into(),
        })
    });
    slip_in(&t1, |h, shift| {
        refund((h, shift), 2, &s2, ("GZ-MJ-200", 1, 9600), 9000)
    });
    t2.synced();
    t1.synced();

    // Step 2: headquarters took them, and lists each for the organizers with what is wrong,
    // by the sale's till and number.
    let doubtful = hq.json(&["hq", "reconcile", "--doubtful", "--json"]);
    let refunds = doubtful["refunds"].as_array().unwrap();
    let doubts: Vec<[&str; 4]> = refunds
        .iter()
        .map(|d| ["device", "sale", "refund", "doubt"].map(|k| d[k].as_str().unwrap()))
        .collect();
    assert_eq!(
        doubts,
        [
            ["T01", "T01-000001", "T02-R000001", "refunded_elsewhere"],
            ["T01", "T01-000001", "T02-R000001", "beyond_sold"],
            ["T01", "T01-000002", "T01-R000002", "voided"],
            ["T01", "T01-000002", "T01-R000002", "unlike_its_lines"],
        ],
        "{doubtful}"
    );
    let details: Vec<&str> = refunds
        .iter()
        .map(|d| d["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "refunded at T02, sold at T01",
            "line 1: 3 of 2 refunded, 38400 fen of 25600",
            "the sale is voided",
            "refund 9000 fen, its lines 9600 fen",
        ]
    );
    assert_eq!(
        doubtful["voids"],
        serde_json::json!([{ "device": "T01", "sale": "T01-000003", "voided_at": "T02" }])
    );
    // T01's ledger was taken whole, the sale T02 voided counting for nothing.
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let d1 = device(&rec, "T01");
    assert_eq!(
        (&d1["sales_held"], &d1["complete"]),
        (&3.into(), &true.into())
    );
    let text = hq.ok(&["hq", "reconcile", "--doubtful"]);
    for line in [
        "doubtful void: T01-000003 voided at T02, sold at T01",
        "doubtful refund: T02-R000001 of T01-000001 (他机退款 refunded at another till): \
         refunded at T02, sold at T01",
    ] {
        assert!(text.contains(line), "{text}");
    }
    // The dashboard lists them on a page the anomalies page links to, and the API. A stall
    // lead sees those of the sales made at the stall: S01's all five, S02's none.
    let api = Api::new(&server.url);
    let (token, _) = api.login();
    let (status, _, html) = api.fetch("/anomalies", Some(&token), false);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("href=\"/anomalies/doubtful\""), "{html}");
    let (status, _, html) = api.fetch("/anomalies/doubtful", Some(&token), false);
    assert_eq!(status, 200, "{html}");
    for listed in [
        "T01-R000002 → T01-000002: 已作废又退款 voided and refunded (the sale is voided)",
        "T01-000003: 他机作废 voided at T02",
    ] {
        assert!(html.contains(listed), "{html}");
    }
    assert_eq!(
        api.get("/api/v1/doubtful", Some(&token)),
        (200, doubtful.clone())
    );
    for (lead, stall, seen) in [("lead1", "S01", 5), ("lead2", "S02", 0)] {
        let pw = "lead-pw-2026";
        let add = ["hq", "user", "add", lead, "--password", pw];
        hq.ok(&[&add[..], &["--role", "stall-lead", "--stall", stall]].concat());
        let token = api.token_of(lead, pw).unwrap();
        let (status, served) = api.get("/api/v1/doubtful", Some(&token));
        assert_eq!(status, 200, "{served}");
        let doubts = ["refunds", "voids"].map(|list| served[list].as_array().unwrap().len());
        assert_eq!(doubts.iter().sum::<usize>(), seen, "{lead}: {served}");
    }
    // An account that would look like one held is refused.
    let like = [
        "hq",
        "user",
        "add",
        "ＬＥＡＤ1",
        "--password",
        "lead-pw-2026",
    ];
    let out = hq.run(&[&like[..], &["--role", "organizer"]].concat());
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("looks like the account lead1"), "{said}");

    if !hq.on_postgres() {
        // A headquarters from before the corrections kept their sale's till and lines: the
        // columns are added and filled at the next open, which says so, and the lists are
        // the same.
        server.stop();
        let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
        db.execute_batch(
            "ALTER TABLE voids DROP COLUMN sale_device;
             ALTER TABLE refunds DROP COLUMN sale_device;
             ALTER TABLE refund_lines DROP COLUMN sold_sku;
             ALTER TABLE refund_lines DROP COLUMN sold_qty;
             ALTER TABLE refund_lines DROP COLUMN sold_fen;",
        )
        .unwrap();
        drop(db);
        let out = hq.run(&["hq", "reconcile", "--doubtful", "--json"]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("voids and refunds their sale's till and lines (once"),
            "{said}"
        );
        let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(again, doubtful);
    }
}
