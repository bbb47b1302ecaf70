//! Reconciliation at headquarters, narrated: three tills sell a morning of the demo fair
//! (voids, refunds, split payments, unit purchases, an oversold bracelet), sync for real to a
//! real `fairpos hq serve`, and headquarters accounts for every fen. One till's first day
//! reaches headquarters late: until it does, the reconciliation names the missing sales.

mod common;

use std::collections::BTreeMap;

use common::hq::{pause, Hq, Server};
use common::{Till, PIN};
use serde_json::Value;

/// T01 at stall S01 (湘西茶香馆), float 200.00. Net 352 + 35.70 + 796 + 75 − 128 = 1130.70.
///
/// | sale | seller | goods                                   | total  | paid                     |
/// |------|--------|-----------------------------------------|--------|--------------------------|
/// | 1    | V003   | 2 × 保靖黄金茶 128 + 古丈毛尖 96         | 352.00 | cash 400 (change 48)     |
/// | 2    | V004   | 蜜桔 750 g (7.80/斤) + 腊肉 label 24.00  | 35.70  | wechat                   |
/// | 3    | V004   | 2 × 溆浦山茶油 5L 398 for 湖南大学工会   | 796.00 | on_account               |
/// | 4    | V005   | 3 × 凤凰姜糖 25                          | 75.00  | voucher 50 + cash 30 (5) |
/// | 5    | V003   | 花垣湘西辣酱 18.80                       | 18.80  | alipay, then voided      |
///
/// One 保靖黄金茶 of sale 1 comes back for 128.00 cash; 100.00 goes into the drawer, 50.00 out.
/// Cash expected 200 + 352 + 25 − 128 + 100 − 50 = 499.00; counted 498.50.
fn t01_morning(till: &mut Till) {
    till.at("10:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "200.00"]);
    till.at("10:15");
    let s1 = till.sell(&[
        "--seller",
        "V003",
        "6935780100128*2",
        "GZ-MJ-200",
        "--pay",
        "cash:400",
    ]);
    assert_eq!(s1["total_fen"], 35200);
    till.at("10:40");
    let s2 = till.sell(&[
        "--seller",
        "V004",
        "2110021007501",
        "2210025024006",
        "--pay",
        "wechat",
    ]);
    assert_eq!(s2["total_fen"], 3570);
    till.at("11:05");
    till.sell(&[
        "--seller",
        "V004",
        "XP-CZY-5L*2",
        "--unit",
        "81430100MB1A2C3D0T",
        "--pay",
        "on_account",
    ]);
    till.at("11:30");
    till.sell(&[
        "--seller",
        "V005",
        "FH-JT-300*3",
        "--pay",
        "voucher:50",
        "cash:30",
    ]);
    till.at("11:45");
    till.sell(&["--seller", "V003", "HY-LJ-250", "--pay", "alipay"]);
    till.at("11:50");
    till.ok(&["void", "T01-000005", "--reason", "扫错了", "--pin", PIN]);
    till.at("12:00");
    till.ok(&["refund", "T01-000001", "--line", "1:1", "--pay", "cash"]);
    till.ok(&["shift", "cash-in", "100", "--reason", "备用金"]);
    till.ok(&["shift", "cash-out", "50.00", "--reason", "买袋子"]);
    till.at("12:30");
    till.ok(&["shift", "close", "--counted", "498.50"]);
}

/// T02 at stall S02 (鲜果直供站), float 100.00. Net 187.90 + 354 + 18 + 2528 − 118 = 2969.90.
///
/// | sale | seller | goods                                  | total   | paid                   |
/// |------|--------|----------------------------------------|---------|------------------------|
/// | 1    | V004   | 猕猴桃 box 69.90 + 黄桃 box 118          | 187.90  | cash 100 + wechat 87.90 |
/// | 2    | V004   | 3 × 黄桃 box 118 for 湖南省商务厅        | 354.00  | unionpay               |
/// | 3    | V006   | 1.5 kg 麻阳冰糖橙 12.00/kg               | 18.00   | cash 20 (change 2)     |
/// | 4    | V004   | 16 × 凤凰苗银手链 158 (stock 15)         | 2528.00 | wechat                 |
///
/// One 黄桃 box of sale 2 goes back to the unit by unionpay (118.00). Cash expected
/// 100 + 100 + 18 = 218.00, counted 218.00.
fn t02_morning(till: &mut Till) {
    till.at("10:05");
    till.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    till.at("10:20");
    till.sell(&[
        "--seller",
        "V004",
        "HY-MHT-5",
        "YL-HT-10",
        "--pay",
        "cash:100",
        "wechat:87.90",
    ]);
    till.at("10:50");
    till.sell(&[
        "--seller",
        "V004",
        "YL-HT-10*3",
        "--unit",
        "114300000061841387",
        "--pay",
        "unionpay",
    ]);
    till.at("11:10");
    let s3 = till.sell(&["--seller", "V006", "MY-BTC-LB*1.5", "--pay", "cash:20"]);
    assert_eq!(
        (s3["total_fen"].as_i64(), s3["change_fen"].as_i64()),
        (Some(1800), Some(200))
    );
    till.at("11:20");
    till.sell(&["--seller", "V004", "FH-YS-1*16", "--pay", "wechat"]);
    till.at("11:30");
    till.ok(&["refund", "T02-000002", "--line", "1:1", "--pay", "unionpay"]);
    till.at("12:00");
    till.ok(&["shift", "close", "--counted", "218"]);
}

/// T03 at stall S03 (山珍干货铺), two days, float 50.00 each.
///
/// Day 1 (21 Nov): 1 = 凤凰姜糖 25.00 cash; 2 = 龙山百合 59.00 wechat; counted 75.00.
/// Day 2 (22 Nov): 3 = 2 × 金银花 36 = 72.00 cash 100 (change 28); 4 = 桃江竹笋 32.80 alipay;
/// expected 50 + 72 = 122.00, counted 120.00 (2.00 short).
fn t03_two_days(till: &mut Till) {
    till.now = "2026-11-21T15:00:00+08:00".into();
    till.ok(&["shift", "open", "--seller", "V005", "--float", "50"]);
    till.sell(&["--seller", "V005", "FH-JT-300", "--pay", "cash:25"]);
    till.sell(&["--seller", "V005", "LS-BH-500", "--pay", "wechat"]);
    till.now = "2026-11-21T18:00:00+08:00".into();
    till.ok(&["shift", "close", "--counted", "75"]);
    till.at("10:10");
    till.ok(&["shift", "open", "--seller", "V005", "--float", "50"]);
    till.sell(&["--seller", "V005", "LH-JYH-100*2", "--pay", "cash:100"]);
    till.sell(&["--seller", "V005", "TJ-ZS-250", "--pay", "alipay"]);
    till.at("12:10");
    till.ok(&["shift", "close", "--counted", "120"]);
}

/// T03's ledger as a signed bundle that carries only its second day: a USB stick written
/// before the first day's document was copied onto it.
fn bundle_without_first_day(till: &Till) -> std::path::PathBuf {
    let file = till.data().join("full.bundle");
    till.ok(&["bundle", "export", file.to_str().unwrap()]);
    let mut bundle: fairpos_sync::bundle::Bundle =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let before = bundle.docs.len();
    bundle.docs.retain(|d| !d.key.ends_with("/2026-11-21"));
    assert_eq!(bundle.docs.len(), before - 1, "one document per day");
    bundle.sign(&till.secret());
    let partial = till.data().join("day2.bundle");
    std::fs::write(&partial, serde_json::to_vec(&bundle).unwrap()).unwrap();
    partial
}

fn device<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == name)
        .unwrap_or_else(|| panic!("no {name} in {rec}"))
}

/// `(float, cash sales, voided, cash refunds, moves, expected, counted, variance)` per shift.
fn cash_ups(d: &Value) -> Vec<[i64; 8]> {
    d["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            [
                "float_fen",
                "cash_sales_fen",
                "cash_voided_fen",
                "cash_refunds_fen",
                "cash_moves_fen",
                "expected_fen",
                "counted_fen",
                "variance_fen",
            ]
            .map(|k| s[k].as_i64().unwrap_or(i64::MIN))
        })
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// `key -> (net, sales, refunds, count, qty)` of a JSON report.
type Figures = BTreeMap<String, [i64; 5]>;

fn figures(report: &Value) -> Figures {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                ["net_fen", "sales_fen", "refunds_fen", "count", "qty"]
                    .map(|k| r[k].as_i64().unwrap_or(0)),
            )
        })
        .collect()
}

/// The tills' own reports, added up key by key: what headquarters must show.
fn added_up(tills: &[&Till], by: &str) -> Figures {
    let mut out = Figures::new();
    for till in tills {
        for (key, f) in figures(&till.report(by)) {
            let sum = out.entry(key).or_insert([0; 5]);
            for i in 0..5 {
                sum[i] += f[i];
            }
        }
    }
    out
}

fn net_of(hq: &Hq, by: &str) -> BTreeMap<String, i64> {
    figures(&hq.json(&["hq", "report", "--by", by, "--format", "json"]))
        .into_iter()
        .map(|(k, f)| (k, f[0]))
        .collect()
}

fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn headquarters_accounts_for_every_fen_of_three_tills_and_names_a_missing_day() {
    // Step 0: headquarters enrols three tills; they sell their mornings.
    let hq = Hq::demo();
    let server = hq.serve();
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let mut t3 = Till::enrolled(&server.url, &hq.add_device("T03", "S03"));
    t01_morning(&mut t1);
    t02_morning(&mut t2);
    t03_two_days(&mut t3);

    // Step 1: T01 and T02 sync over the network; T03's second day arrives on a USB stick.
    t1.synced();
    t2.synced();
    let stick = bundle_without_first_day(&t3);
    hq.ok(&["hq", "bundle", "import", stick.to_str().unwrap()]);

    // Step 2: the reconciliation names T03's first day as missing; T01 and T02 are whole.
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let d1 = device(&rec, "T01");
    assert_eq!(d1["stall"], "S01");
    assert_eq!(d1["sales_held"], 5);
    assert_eq!(d1["stated_last_sale"], "T01-000005");
    assert_eq!(d1["complete"], true);
    assert!(d1["missing"].as_array().unwrap().is_empty());
    assert!(d1["last_seen"].is_string());
    assert_eq!(
        cash_ups(d1),
        vec![[20000, 37700, 0, 12800, 5000, 49900, 49850, -50]]
    );
    let d2 = device(&rec, "T02");
    assert_eq!(
        (d2["sales_held"].as_i64(), &d2["complete"]),
        (Some(4), &Value::Bool(true))
    );
    assert_eq!(cash_ups(d2), vec![[10000, 11800, 0, 0, 0, 21800, 21800, 0]]);
    let d3 = device(&rec, "T03");
    assert_eq!(d3["sales_held"], 2);
    assert_eq!(d3["stated_last_sale"], "T03-000004");
    assert_eq!(strings(&d3["missing"]), ["T03-000001", "T03-000002"]);
    assert_eq!(d3["missing_count"], 2);
    assert_eq!(d3["complete"], false);
    // Only the second day's shift is held, 2.00 short.
    assert_eq!(
        cash_ups(d3),
        vec![[5000, 7200, 0, 0, 0, 12200, 12000, -200]]
    );
    // The CLI's plain-text reconciliation says the same.
    let text = hq.ok(&["hq", "reconcile"]);
    assert!(text.contains("T03 (S03): 2 sales held"), "{text}");
    assert!(text.contains("INCOMPLETE"), "{text}");
    assert!(text.contains("missing 2: T03-000001, T03-000002"), "{text}");

    // Oversold stock, and voids and refunds per seller.
    let oversold: Vec<(&str, &str)> = rec["oversold"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["sale"].as_str().unwrap(), o["sku"].as_str().unwrap()))
        .collect();
    assert_eq!(oversold, [("T02-000004", "FH-YS-1")]);
    let sellers: Vec<(&str, i64, i64, i64, i64)> = rec["sellers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["seller"].as_str().unwrap(),
                s["voids"].as_i64().unwrap(),
                s["voided_fen"].as_i64().unwrap(),
                s["refunds"].as_i64().unwrap(),
                s["refunded_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sellers,
        [("V003", 1, 1880, 1, 12800), ("V004", 0, 0, 1, 11800)]
    );

    // Step 3: the first day arrives (T03 syncs); now every stated number is held.
    t3.synced();
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let d3 = device(&rec, "T03");
    assert_eq!(d3["sales_held"], 4);
    assert_eq!(d3["complete"], true);
    assert_eq!(d3["missing_count"], 0);
    let closes: Vec<&str> = d3["closes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["last_sale"].as_str().unwrap())
        .collect();
    assert_eq!(closes, ["T03-000002", "T03-000004"]);
    assert_eq!(
        cash_ups(d3),
        vec![
            [5000, 2500, 0, 0, 0, 7500, 7500, 0],
            [5000, 7200, 0, 0, 0, 12200, 12000, -200]
        ]
    );

    // Step 4: every report over all tills is the tills' own reports added up, to the fen.
    let tills = [&t1, &t2, &t3];
    for by in [
        "product", "county", "unit", "team", "seller", "payment", "hour", "stall",
    ] {
        let at_hq = figures(&hq.json(&["hq", "report", "--by", by, "--format", "json"]));
        assert_eq!(at_hq, added_up(&tills, by), "report by {by}");
    }
    // And, worked out by hand from the tables above:
    // T03 = 25 + 59 + 72 + 32.80 = 188.80; the fair 1130.70 + 2969.90 + 188.80 = 4289.40.
    assert_eq!(
        net_of(&hq, "stall"),
        map(&[("S01", 113070), ("S02", 296990), ("S03", 18880)])
    );
    let units = net_of(&hq, "unit");
    assert_eq!(units["81430100MB1A2C3D0T"], 79600);
    assert_eq!(units["114300000061841387"], 23600);
    assert_eq!(units["individual"], 428940 - 79600 - 23600);
    // 湘韵队 (V003, V004): 224 + 35.70 + 796 + 187.90 + 236 + 2528 = 4007.60;
    // 芙蓉队 (V005, V006): 75 + 18 + 188.80 = 281.80.
    assert_eq!(
        net_of(&hq, "team"),
        map(&[("湘韵队", 400760), ("芙蓉队", 28180)])
    );
    let json = hq.json(&["hq", "report", "--by", "stall", "--format", "json"]);
    assert_eq!(json["by"], "stall");
    assert_eq!(json["net_fen"], 428940);

    // The competition: 0.1 point per yuan.
    let board = hq.json(&["hq", "leaderboard", "--json"]);
    assert_eq!(board["points_per_yuan"], "0.1");
    let teams: Vec<(&str, &str)> = board["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["points"].as_str().unwrap()))
        .collect();
    assert_eq!(teams, [("湘韵队", "400.76"), ("芙蓉队", "28.18")]);

    // A unit's itemised list for its reimbursement: the refunded box is gone from it.
    let items = hq.json(&["hq", "unit", "114300000061841387", "--format", "json"]);
    assert_eq!(items["name"], "湖南省商务厅");
    assert_eq!(items["total_fen"], 23600);
    let lines = items["items"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["sale"], "T02-000002");
    assert_eq!(lines[0]["stall"], "鲜果直供站");
    assert_eq!(lines[0]["unit_price_fen"], 11800);
    assert_eq!(lines[0]["quantity"], "2");
    assert_eq!(lines[0]["amount_fen"], 23600);
    assert_eq!(lines[0]["date"], "2026-11-22");
    let csv = hq.ok(&["hq", "unit", "114300000061841387", "--format", "csv"]);
    assert!(csv.contains("T02-000002,鲜果直供站,"), "{csv}");
    assert!(csv.trim_end().ends_with(",236.00"), "{csv}");
    let xlsx = hq.data().join("unit.xlsx");
    hq.ok(&[
        "hq",
        "unit",
        "114300000061841387",
        "--format",
        "xlsx",
        "--out",
        xlsx.to_str().unwrap(),
    ]);
    assert_eq!(&std::fs::read(&xlsx).unwrap()[..2], b"PK");
    let out = hq.run(&["hq", "unit", "91350100M000100Y43"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no purchasing unit"));

    // Step 5: the organizers' HTTP API gives the same reconciliation, to organizers only.
    let api = Api::new(&server.url);
    assert_eq!(api.get("/api/v1/reconciliation", None).0, 401);
    let token = api.login();
    let (status, over_http) = api.get("/api/v1/reconciliation", Some(&token));
    assert_eq!(status, 200);
    assert_eq!(
        strip_seen(over_http),
        strip_seen(hq.json(&["hq", "reconcile", "--json"]))
    );
    let (_, report) = api.get("/api/v1/report?by=team", Some(&token));
    assert_eq!(report["net_fen"], 428940);
    assert_eq!(api.get("/api/v1/report?by=weather", Some(&token)).0, 400);
    let (_, unit) = api.get("/api/v1/units/114300000061841387", Some(&token));
    assert_eq!(unit, items);
    drop(server);
}

/// The organizers' HTTP API on a running headquarters.
struct Api {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            client: reqwest::Client::new(),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// Status and JSON body of `GET path`, with a bearer token or none.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self.client.get(format!("{}{path}", self.base));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or(Value::Null))
        })
    }

    /// An organizer's token from `POST /api/v1/login`.
    fn login(&self) -> String {
        self.runtime.block_on(async {
            let answer: Value = self
                .client
                .post(format!("{}/api/v1/login", self.base))
                .json(&serde_json::json!({ "password": common::hq::PASSWORD }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["token"]
                .as_str()
                .unwrap_or_else(|| panic!("no token in {answer}"))
                .to_string()
        })
    }
}

/// The reconciliation without `last_seen`, which the HTTP answer and the CLI share anyway
/// but which a test need not compare.
fn strip_seen(mut rec: Value) -> Value {
    for d in rec["devices"].as_array_mut().unwrap() {
        d.as_object_mut().unwrap().remove("last_seen");
    }
    rec
}

#[test]
fn a_restarted_headquarters_projects_only_what_is_new() {
    // Headquarters projects T01's morning, is killed, comes back, and takes in more sales
    // without counting anything twice.
    let hq = Hq::demo();
    let server = hq.serve();
    let url = server.url.clone();
    let mut t1 = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    t01_morning(&mut t1);
    t1.synced();
    server.kill();
    let server = Server::start(hq.data(), &["--listen", url.trim_start_matches("http://")]);
    t1.at("13:00");
    t1.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    t1.sell(&["--seller", "V003", "BJ-SZ-300", "--pay", "cash:36"]);
    t1.synced();
    pause(200);
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let d1 = device(&rec, "T01");
    assert_eq!(d1["sales_held"], 6);
    assert_eq!(d1["last_held"], "T01-000006");
    assert_eq!(d1["complete"], true);
    assert_eq!(
        figures(&hq.json(&["hq", "report", "--by", "product", "--format", "json"])),
        added_up(&[&t1], "product")
    );
    drop(server);
}
