//! The CLI contract of the till, driven through the real binary on real SQLite files: every
//! form of issue #3, each bad input, and the reports checked to the fen.

mod common;

use common::{demo_file, Till, PIN};
use serde_json::Value;

/// A morning at the demo till. Worked out by hand:
///
/// | sale | time  | seller | what                                   | total  | paid                    |
/// |------|-------|--------|----------------------------------------|--------|-------------------------|
/// | 1    | 10:15 | V003   | 2 × 保靖黄金茶 250g 128.00, 古丈毛尖 96.00 | 352.00 | cash 400, change 48     |
/// | 2    | 10:40 | V004   | kiwi label 750 g @ 7.80/斤 = 11.70, cured pork label 24.00 | 35.70 | wechat |
/// | 3    | 11:05 | V004   | 2 × 溆浦山茶油 5L 398.00 for 中南大学      | 796.00 | on_account              |
/// | 4    | 11:30 | V005   | 3 × 凤凰姜糖 25.00                        | 75.00  | voucher 50, cash 30 (change 5) |
/// | 5    | 11:45 | V003   | 花垣湘西辣酱 18.80                        | 18.80  | alipay; then voided     |
///
/// Then one 保靖黄金茶 of sale 1 comes back for 128.00 cash; 100.00 goes into the drawer and
/// 50.00 out. Net 352 + 35.70 + 796 + 75 - 128 = 1130.70.
fn morning() -> Till {
    let mut till = Till::demo();
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
    assert_eq!(s1["sale"], "T01-000001");
    assert_eq!(s1["total_fen"], 35200);
    assert_eq!(s1["change_fen"], 4800);
    assert_eq!(s1["lines"].as_array().unwrap().len(), 2);
    assert!(
        s1["id"].as_str().unwrap().len() == 36,
        "a UUID: {}",
        s1["id"]
    );

    till.at("10:40");
    // Scale labels: 21 + PLU 10021 + 00750 g; 22 + PLU 10025 + 02400 fen (check digits right).
    let s2 = till.sell(&[
        "--seller",
        "V004",
        "2110021007501",
        "2210025024006",
        "--pay",
        "wechat",
    ]);
    assert_eq!(s2["sale"], "T01-000002");
    assert_eq!(s2["total_fen"], 3570);
    let lines = s2["lines"].as_array().unwrap();
    assert_eq!(
        (lines[0]["qty"].as_i64(), lines[0]["amount_fen"].as_i64()),
        (Some(750), Some(1170))
    );
    assert_eq!(
        (lines[1]["qty"].as_i64(), lines[1]["amount_fen"].as_i64()),
        (Some(250), Some(2400))
    );

    till.at("11:05");
    let s3 = till.sell(&[
        "--seller",
        "V004",
        "XP-CZY-5L*2",
        "--unit",
        "12430000444883027E",
        "--pay",
        "on_account",
    ]);
    assert_eq!(s3["total_fen"], 79600);
    assert_eq!(s3["unit"], "12430000444883027E");

    till.at("11:30");
    let s4 = till.sell(&[
        "--seller",
        "V005",
        "FH-JT-300*3",
        "--pay",
        "voucher:50",
        "cash:30",
    ]);
    assert_eq!(
        (s4["total_fen"].as_i64(), s4["change_fen"].as_i64()),
        (Some(7500), Some(500))
    );

    till.at("11:45");
    till.sell(&["--seller", "V003", "HY-LJ-250", "--pay", "alipay:18.80"]);
    till.at("11:50");
    assert_eq!(
        till.ok(&["void", "T01-000005", "--reason", "扫错了", "--pin", PIN])
            .trim(),
        "voided T01-000005"
    );
    till.at("12:00");
    let refund = till.json(&[
        "refund",
        "T01-000001",
        "--line",
        "1:1",
        "--pay",
        "cash",
        "--json",
    ]);
    assert_eq!(refund["amount_fen"], 12800);
    assert_eq!(refund["refund"], "T01-R000001");
    till.ok(&["shift", "cash-in", "100", "--reason", "备用金"]);
    till.ok(&["shift", "cash-out", "50.00", "--reason", "买袋子"]);
    till
}

#[test]
fn a_morning_of_sales_closes_to_the_fen() {
    let mut till = morning();
    till.at("12:30");
    // Expected cash: float 200 + cash kept (352 + 25) - refund 128 + 100 - 50 = 499.00.
    let close = till.json(&["shift", "close", "--counted", "498.50", "--json"]);
    assert_eq!(close["expected_fen"], 49900);
    assert_eq!(close["counted_fen"], 49850);
    assert_eq!(close["variance_fen"], -50);
    assert_eq!(close["last_sale"], "T01-000005");

    let sales = till.sales();
    let status: Vec<(&str, &str)> = sales
        .iter()
        .map(|s| (s["sale"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        vec![
            ("T01-000001", "partly_refunded"),
            ("T01-000002", "completed"),
            ("T01-000003", "completed"),
            ("T01-000004", "completed"),
            ("T01-000005", "voided"),
        ]
    );
    assert_eq!(sales[0]["total_fen"], 35200);
    assert_eq!(sales[0]["refunded_fen"], 12800);

    let out = till.ok(&["ledger", "verify"]);
    assert!(
        out.contains("5 sales") && out.contains("without gaps"),
        "{out}"
    );
}

#[test]
fn reports_add_up_to_the_fen_by_every_dimension() {
    let till = morning();
    let s = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    assert_eq!(
        till.report_nets("county"),
        s(&[
            ("431224", 79600),
            ("433125", 12800),
            ("433126", 9600),
            ("433123", 7500),
            ("433127", 2400),
            ("433124", 1170),
        ])
    );
    assert_eq!(
        till.report_nets("payment"),
        s(&[
            ("on_account", 79600),
            ("cash", 24900),
            ("voucher", 5000),
            ("wechat", 3570)
        ])
    );
    assert_eq!(
        till.report_nets("unit"),
        s(&[("12430000444883027E", 79600), ("individual", 33470)])
    );
    assert_eq!(
        till.report_nets("team"),
        s(&[("湘韵队", 105570), ("芙蓉队", 7500)])
    );
    assert_eq!(
        till.report_nets("seller"),
        s(&[("V004", 83170), ("V003", 22400), ("V005", 7500)])
    );
    assert_eq!(
        till.report_nets("hour"),
        s(&[("2026-11-22T10", 25970), ("2026-11-22T11", 87100)])
    );
    assert_eq!(till.report_nets("stall"), s(&[("S01", 113070)]));
    assert_eq!(
        till.report_nets("product"),
        s(&[
            ("XP-CZY-5L", 79600),
            ("BJ-HJC-250", 12800),
            ("GZ-MJ-200", 9600),
            ("FH-JT-300", 7500),
            ("YS-LR-LB", 2400),
            ("HY-MHT-LB", 1170),
        ])
    );

    let county = till.report("county");
    assert_eq!(county["by"], "county");
    assert_eq!(county["net_fen"], 113070);
    let baojing = &county["rows"][1];
    assert_eq!(
        (baojing["label"].as_str(), baojing["refunds_fen"].as_i64()),
        (Some("保靖县"), Some(12800))
    );
    let unit = till.report("unit");
    assert_eq!(unit["rows"][0]["label"], "中南大学");
    let product = till.report("product");
    let kiwi = product["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "HY-MHT-LB")
        .unwrap();
    assert_eq!(
        (kiwi["qty"].as_i64(), kiwi["qty_unit"].as_str()),
        (Some(750), Some("g"))
    );
    for by in [
        "product", "county", "unit", "team", "seller", "payment", "hour", "stall",
    ] {
        assert_eq!(till.report(by)["net_fen"], 113070, "total by {by}");
    }
}

#[test]
fn reports_come_as_table_csv_and_xlsx_too() {
    let till = morning();
    let table = till.ok(&["report", "--by", "county", "--format", "table"]);
    let baojing = table
        .lines()
        .find(|l| l.contains("保靖县"))
        .expect("a 保靖县 row");
    let total = table
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .expect("a total row");
    assert!(
        baojing.ends_with("128.00") && total.ends_with("1130.70"),
        "{table}"
    );
    // Amounts right-aligned by display width: every data line is as wide as the header.
    let width = |l: &str| unicode_width_of(l);
    let header = table.lines().nth(1).unwrap();
    assert_eq!(width(baojing), width(header), "{table}");

    let csv = till.ok(&["report", "--by", "payment", "--format", "csv"]);
    assert_eq!(
        csv.lines().next(),
        Some("key,label,count,sales_yuan,refunds_yuan,net_yuan")
    );
    assert!(csv.contains("cash,现金,2,377.00,128.00,249.00"), "{csv}");

    let out = till.data().join("county.xlsx");
    let out_s = out.to_str().unwrap();
    till.ok(&[
        "report", "--by", "county", "--format", "xlsx", "--out", out_s,
    ]);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX is a zip file");
    till.fails(
        &["report", "--by", "county", "--format", "xlsx"],
        2,
        "--out FILE",
    );
    till.fails(
        &["report", "--by", "weather", "--format", "json"],
        2,
        "unknown report dimension",
    );

    let json_out = till.data().join("r.json");
    till.ok(&[
        "report",
        "--by",
        "team",
        "--format",
        "json",
        "--out",
        json_out.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&std::fs::read(json_out).unwrap()).unwrap();
    assert_eq!(v["net_fen"], 113070);
    // `--out` naming the till's own database by mistake is refused, and the till goes on.
    let db = till.data().join("till.db");
    let asked = ["report", "--by", "team", "--format", "csv", "--out"];
    till.fails(
        &[&asked[..], &[db.to_str().unwrap()]].concat(),
        2,
        "is a database",
    );
    assert!(till.ok(&["report", "--by", "team"]).contains("湘韵队"));
}

/// Display width with CJK characters counted as two columns.
fn unicode_width_of(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if (c as u32) >= 0x1100 && !c.is_ascii() {
                2
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn stock_moves_with_sales_voids_and_refunds() {
    let till = morning();
    let list = till.json(&["catalog", "list", "--json"]);
    let stock = |sku: &str| -> (Value, i64) {
        let p = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == sku)
            .unwrap();
        (p["stock"].clone(), p["stock_base"].as_i64().unwrap())
    };
    assert_eq!(stock("BJ-HJC-250").1, 39); // 40 - 2 + 1 refunded
    assert_eq!(stock("HY-LJ-250").1, 150); // sold, then voided
    assert_eq!(stock("XP-CZY-5L").1, 18);
    assert_eq!(stock("HY-MHT-LB"), (serde_json::json!(298.5), 149_250)); // 300 斤 - 750 g
    assert_eq!(stock("YS-LR-LB").1, 74_750); // 150 斤 - 250 g
    let first = &list[0];
    for key in ["sku", "name_zh", "price_fen", "stock"] {
        assert!(!first[key].is_null(), "catalog list has {key}");
    }
    assert_eq!(first["price_fen"], 12800);
}

#[test]
fn an_oversold_sale_goes_through_and_is_flagged() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V001", "--float", "0"]);
    // 溆浦山茶油 5L has 20 in stock.
    let out = till.run(&[
        "sell",
        "--seller",
        "V001",
        "XP-CZY-5L*21",
        "--pay",
        "wechat",
        "--json",
    ]);
    assert!(out.status.success());
    let sale: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sale["oversold"], serde_json::json!(["XP-CZY-5L"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oversold"));
    assert_eq!(till.sales()[0]["oversold"], true);
}

#[test]
fn each_bad_input_is_refused_with_one_line_and_nothing_written() {
    let till = Till::demo();
    let sell = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["sell".to_string(), "--seller".into(), "V003".into()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        till.fails(&a, 2, needle);
    };
    // Selling needs an open shift.
    run(sell(&["BJ-HJC-250", "--pay", "cash:200"]), "no open shift");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "200"]);
    till.fails(
        &["shift", "open", "--seller", "V003", "--float", "200"],
        2,
        "already open",
    );

    run(
        sell(&["6935780100129", "--pay", "cash:200"]),
        "bad check digit",
    );
    run(
        sell(&["6901234567892", "--pay", "cash:200"]),
        "unknown code",
    );
    run(sell(&["BJ-HJC-250", "--pay", "cash:100"]), "underpaid");
    // A product at a till's highest price: two of them would make a sale past ten billion.
    till.ok(&[
        "catalog",
        "add",
        "--sku",
        "GOLD-1",
        "--name-zh",
        "金",
        "--unit",
        "件",
        "--price",
        "9999999999",
        "--stock",
        "5",
    ]);
    run(
        sell(&["GOLD-1*2", "--pay", "wechat"]),
        "the sale would come to more than 10000000000 yuan",
    );
    run(
        sell(&["BJ-HJC-250", "--pay", "wechat:200"]),
        "non-cash overpaid",
    );
    run(
        sell(&[
            "BJ-HJC-250",
            "--unit",
            "12430000444883027X",
            "--pay",
            "on_account",
        ]),
        "bad credit code",
    );
    run(
        sell(&[
            "BJ-HJC-250",
            "--unit",
            "91350100M000100Y43",
            "--pay",
            "on_account",
        ]),
        "unknown unit",
    );
    run(
        sell(&["BJ-HJC-250", "--pay", "on_account"]),
        "needs a purchasing unit",
    );
    run(
        sell(&["BJ-HJC-250*0", "--pay", "cash:200"]),
        "zero quantity",
    );
    run(
        sell(&["BJ-HJC-250", "--pay", "cash:200.005"]),
        "more than two decimals",
    );
    run(
        sell(&["BJ-HJC-250", "--pay", "bitcoin:1"]),
        "unknown method",
    );
    run(sell(&["HY-MHT-LB", "--pay", "cash:10"]), "sold by weight");
    till.fails(
        &[
            "sell",
            "--seller",
            "V999",
            "BJ-HJC-250",
            "--pay",
            "cash:200",
        ],
        2,
        "unknown seller V999",
    );
    till.fails(
        &["shift", "cash-in", "1.234", "--reason", "x"],
        2,
        "more than two decimals",
    );

    till.sell(&["--seller", "V003", "BJ-HJC-250", "--pay", "cash:200"]);
    till.fails(
        &["void", "T01-000001", "--reason", "x", "--pin", "0000"],
        2,
        "wrong PIN",
    );
    till.fails(
        &["void", "T01-000009", "--reason", "x", "--pin", PIN],
        2,
        "no sale T01-000009",
    );
    till.fails(
        &["refund", "T01-000001", "--line", "2", "--pay", "cash"],
        2,
        "has no line 2",
    );
    till.fails(
        &["refund", "T01-000001", "--line", "1:2", "--pay", "cash"],
        2,
        "1 left to refund",
    );
    till.fails(
        &["refund", "T01-000001", "--line", "1", "--pay", "gold"],
        2,
        "unknown method",
    );

    // Nothing of the refusals was written: one sale, one open shift, the product added, a
    // verified ledger (the product's record applied to the catalog's tables in verifying).
    assert_eq!(till.sales().len(), 1);
    till.ok(&["ledger", "verify"]);
    let records: i64 = till
        .db()
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 3, "shift open, the product added and one sale");
}

#[test]
fn a_till_is_set_up_once_and_commands_need_one() {
    let empty = Till::empty();
    empty.fails(&["sales", "--json"], 2, "no till in");
    let till = Till::demo();
    till.fails(
        &["init", "--demo", "--lead-pin", PIN],
        2,
        "already holds till T01",
    );
    let other = Till::empty();
    other.fails(
        &["init", "--demo", "--lead-pin", "12"],
        2,
        "PIN is 4 to 12 digits",
    );
    // A database file that is not one is named.
    std::fs::write(other.data().join("till.db"), [0x5a; 8192]).unwrap();
    let named = other.fails(&["sales", "--json"], 1, "is not a SQLite database");
    assert!(named.contains("till.db is not"), "{named}");
}

#[test]
fn init_from_a_fair_file_then_imports() {
    let till = Till::empty();
    let fair = demo_file("fair.toml");
    till.ok(&[
        "init",
        "--fair",
        fair.to_str().unwrap(),
        "--device",
        "T02",
        "--stall",
        "S02",
        "--lead-pin",
        "1357",
    ]);
    // The catalog as a spreadsheet in Chinese Windows saves "CSV": in GBK. In UTF-16 it is
    // refused, saying how to save it.
    let catalog = std::fs::read_to_string(demo_file("catalog.csv")).unwrap();
    let in_gbk = till.data().join("catalog-gbk.csv");
    std::fs::write(&in_gbk, encoding_rs::GBK.encode(&catalog).0).unwrap();
    let in_utf16 = till.data().join("catalog-utf16.csv");
    let utf16: Vec<u8> = catalog.encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(&in_utf16, [&[0xff, 0xfe][..], &utf16].concat()).unwrap();
    let refused = ["catalog", "import", in_utf16.to_str().unwrap()];
    till.fails(&refused, 2, "save it as \"CSV UTF-8\"");
    for (what, file) in [
        ("catalog", in_gbk),
        ("stalls", demo_file("stalls.csv")),
        ("sellers", demo_file("sellers.csv")),
        ("units", demo_file("units.csv")),
    ] {
        till.ok(&[what, "import", file.to_str().unwrap()]);
    }
    till.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    let sale = till.sell(&["--seller", "V004", "HY-MHT-5", "--pay", "cash:100"]);
    assert_eq!(sale["sale"], "T02-000001");
    assert_eq!(sale["lines"][0]["name_zh"], "十八洞猕猴桃 5斤装");
    assert_eq!(sale["change_fen"], 3010);
    assert_eq!(till.report_nets("stall"), vec![("S02".to_string(), 6990)]);
    let bad_fair = till.data().join("bad.toml");
    std::fs::write(&bad_fair, "name = \"x\"\npoints_per_yuan = 0.1\n").unwrap();
    let other = Till::empty();
    other.fails(
        &[
            "init",
            "--fair",
            bad_fair.to_str().unwrap(),
            "--device",
            "T03",
            "--stall",
            "S01",
            "--lead-pin",
            "1357",
        ],
        2,
        "such as \"0.1\", not 0.1",
    );
    other.fails(
        &[
            "init",
            "--fair",
            fair.to_str().unwrap(),
            "--device",
            "t3",
            "--stall",
            "S01",
            "--lead-pin",
            "1357",
        ],
        2,
        "bad device code",
    );
}

#[test]
fn csv_import_is_all_or_nothing_by_header_name_and_keeps_text_intact() {
    let till = Till::demo();
    let dir = till.data();
    // Columns in another order, quotes, commas, characters outside the BMP.
    let good = dir.join("new.csv");
    std::fs::write(
        &good,
        "stock,price_yuan,name_zh,sku,unit,supplier,weighed,barcode\n\
         5,12.50,\"𠮷祥 \"\"礼盒\"\", 大号\",GIFT-1,盒,\"𪚥记, 长沙\",false,\n\
         7,3.00,小袋,GIFT-2,袋,,false,\n",
    )
    .unwrap();
    assert!(till
        .ok(&["catalog", "import", good.to_str().unwrap()])
        .contains("2 products added"));
    let export = dir.join("export.csv");
    till.ok(&["catalog", "export", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let gift = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[col("sku")] == "GIFT-1")
        .expect("GIFT-1 exported");
    assert_eq!(&gift[col("name_zh")], "𠮷祥 \"礼盒\", 大号");
    assert_eq!(&gift[col("supplier")], "𪚥记, 长沙");
    assert_eq!(&gift[col("price_yuan")], "12.50");
    assert_eq!(&gift[col("stock")], "5");

    // A file of prices alone changes prices: the loose kiwifruit stays weighed, its stock
    // and PLU kept. A barcode taken from another product is told.
    let before = till.json(&["catalog", "list", "--json"]);
    let kiwi = |list: &Value| {
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == "HY-MHT-LB");
        let p = found.unwrap().clone();
        [&p["weighed"], &p["stock_base"], &p["plu"], &p["stall"]].map(|v| v.to_string())
    };
    let prices = dir.join("prices.csv");
    std::fs::write(
        &prices,
        "sku,name_zh,unit,price_yuan,barcode
         HY-MHT-LB,十八洞猕猴桃（散装）,斤,8.80,
GIFT-2,小袋,袋,3.00,6935780100128
",
    )
    .unwrap();
    let out = till.run(&["catalog", "import", prices.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let warned = String::from_utf8_lossy(&out.stderr);
    let moved = "barcode 6935780100128 moves from BJ-HJC-250 to GIFT-2, which leaves BJ-HJC-250";
    assert!(warned.contains(moved), "{warned}");
    let after = till.json(&["catalog", "list", "--json"]);
    assert_eq!(kiwi(&after), kiwi(&before));
    assert_eq!(kiwi(&after)[0], "true");

    // A file without end (or past 256 MiB) is refused, read no further.
    till.fails(&["catalog", "import", "/dev/zero"], 2, "over 256 MiB");

    // A product or a seller at a stall the fair lacks is taken, and told.
    let odd = dir.join("odd-stall.csv");
    for (what, text, told) in [
        (
            "catalog",
            "sku,name_zh,unit,price_yuan,stall\nGIFT-3,小盒,盒,5.00,S99\n",
            "stall S99 is not among the fair's stalls (products GIFT-3)",
        ),
        (
            "sellers",
            "id,name,stall\nV099,新人,S98\n",
            "stall S98 is not among the fair's stalls (sellers V099)",
        ),
    ] {
        std::fs::write(&odd, text).unwrap();
        let out = till.run(&[what, "import", odd.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let warned = String::from_utf8_lossy(&out.stderr);
        assert!(warned.contains(told), "{warned}");
    }

    // A bad row on file line 3: nothing of the file is taken.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "sku,name_zh,unit,price_yuan\nGOOD-1,好,个,1.00\nBAD-1,坏,个,1.005\n",
    )
    .unwrap();
    let err = till.fails(&["catalog", "import", bad.to_str().unwrap()], 2, "line 3");
    assert!(
        err.contains("bad.csv line 3") && err.contains("price_yuan"),
        "{err}"
    );
    let list = till.json(&["catalog", "list", "--json"]);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["sku"] != "GOOD-1"));

    let units = dir.join("units.csv");
    std::fs::write(
        &units,
        "kind,tax_id,name\nschool,12430000444883027E,中南大学\nunion,81430100MB1A2C3D0X,坏码工会\n",
    )
    .unwrap();
    till.fails(
        &["units", "import", units.to_str().unwrap()],
        2,
        "units.csv line 3: bad credit code",
    );
    let missing = dir.join("nope.csv");
    till.fails(
        &["stalls", "import", missing.to_str().unwrap()],
        2,
        "cannot read",
    );
}

#[test]
fn the_data_directory_defaults_to_the_platform_one() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::BIN)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("share"))
            .env_remove("FAIRPOS_DATA")
            .output()
            .unwrap()
    };
    assert!(run(&["init", "--demo", "--lead-pin", PIN]).status.success());
    assert!(home.path().join("share/fairpos/till.db").exists());
    assert!(run(&["sales", "--json"]).status.success());
}

#[test]
fn a_till_database_from_before_the_corrections_sale_columns_is_brought_up_to_date() {
    let till = morning();
    let filled = |db: &rusqlite::Connection| -> Vec<String> {
        let sql = "SELECT v.sale_device FROM voids v
                   UNION ALL SELECT r.sale_device FROM refunds r
                   UNION ALL SELECT l.sold_sku || ' ' || l.sold_qty || ' ' || l.sold_fen
                       FROM refund_lines l";
        let mut stmt = db.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap();
        rows.map(|r| r.unwrap().unwrap_or_default()).collect()
    };
    let now = filled(&till.db());
    assert_eq!(now.len(), 3, "a void, a refund and its line: {now:?}");
    assert!(now.iter().all(|v| !v.is_empty()), "{now:?}");
    // The database as the build before migration step 7 left it: without the columns.
    till.db()
        .execute_batch(
            "ALTER TABLE voids DROP COLUMN sale_device;
             ALTER TABLE refunds DROP COLUMN sale_device;
             ALTER TABLE refund_lines DROP COLUMN sold_sku;
             ALTER TABLE refund_lines DROP COLUMN sold_qty;
             ALTER TABLE refund_lines DROP COLUMN sold_fen;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    till.ok(&["sales", "--json"]);
    let db = till.db();
    assert_eq!(filled(&db), now, "the columns added and filled by step 7");
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 7);
    till.ok(&["ledger", "verify"]);
}

#[test]
fn a_projection_behind_its_ledger_is_repaired_at_start() {
    let mut till = morning();
    till.at("12:10");
    // Lose a sale's rows from the tables, as a half-restored backup would.
    {
        let db = till.db();
        db.execute_batch(
            "DELETE FROM sale_lines WHERE sale_id = (SELECT id FROM sales WHERE seq = 3);
             DELETE FROM sale_payments WHERE sale_id = (SELECT id FROM sales WHERE seq = 3);
             DELETE FROM records WHERE seq = (SELECT record_seq FROM sales WHERE seq = 3);
             DELETE FROM sales WHERE seq = 3;",
        )
        .unwrap();
    }
    let out = till.run(&["sales", "--json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("repaired the tables from the ledger"));
    let sales: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sales.len(), 5);
    assert_eq!(sales[2]["total_fen"], 79600);
    till.ok(&["ledger", "verify"]);
    assert_eq!(till.report("county")["net_fen"], 113070);
}

#[test]
fn verify_names_tables_that_disagree_with_the_ledger() {
    let till = morning();
    till.db()
        .execute(
            "UPDATE sale_lines SET amount_fen = amount_fen + 1 WHERE line = 1",
            [],
        )
        .unwrap();
    let out = till.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sale_lines: tables have"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn catalog_search_finds_words_by_the_readings_people_use() {
    let till = Till::demo();
    // 重 reads zhòng first in the dictionary, chóng in 重庆; 长 cháng/zhǎng; 行 xíng/háng.
    for (sku, name) in [
        ("CQ-HG-500", "重庆火锅底料"),
        ("CS-CDF-1", "长沙臭豆腐"),
        ("YH-LB-1", "银行礼包"),
    ] {
        till.ok(&[
            "catalog",
            "add",
            "--sku",
            sku,
            "--name-zh",
            name,
            "--unit",
            "袋",
            "--price",
            "10",
        ]);
    }
    let first = |query: &str| -> Vec<String> {
        till.json(&["catalog", "search", query, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(first("cq")[0], "CQ-HG-500");
    assert_eq!(first("cqhgdl"), ["CQ-HG-500"]);
    assert_eq!(first("cscdf"), ["CS-CDF-1"]);
    assert_eq!(first("yhlb"), ["YH-LB-1"]);
    assert_eq!(first("bjhjc")[0], "BJ-HJC-250");
    // By name and by SKU too, as the touchscreen searches.
    assert_eq!(first("火锅"), ["CQ-HG-500"]);
    assert!(first("nothing-like-it").is_empty());
    let text = till.ok(&["catalog", "search", "cq"]);
    assert!(text.contains("重庆火锅底料"), "{text}");
}

/// Every file a command reads is read no further than 256 MiB, and so a file without end
/// (`/dev/zero`) is refused in one line: the fair of `init` and `hq init`, the certificate
/// authority of `enroll` and `hq enroll` (read before headquarters is asked), a batch of
/// sales from a file or standard input. Nothing is set up.
#[test]
fn a_file_without_end_is_refused_by_every_command_that_reads_one() {
    const ZERO: &str = "/dev/zero";
    const TOLD: &str = "/dev/zero: over 256 MiB";
    let empty = Till::empty();
    let till_init = ["init", "--fair", ZERO, "--device", "T02", "--stall", "S02"];
    empty.fails(&[&till_init[..], &["--lead-pin", PIN]].concat(), 2, TOLD);
    let hq_init = ["hq", "init", "--fair", ZERO, "--organizer-password-stdin"];
    empty.fails(&hq_init, 2, TOLD);
    let nowhere = "https://127.0.0.1:9";
    let enroll = [
        "enroll",
        "--hq",
        nowhere,
        "--code",
        "ABCD-EFGH",
        "--ca",
        ZERO,
    ];
    empty.fails(&[&enroll[..], &["--lead-pin", PIN]].concat(), 2, TOLD);
    let hq_enroll = [
        "hq",
        "enroll",
        "--hq",
        nowhere,
        "--code",
        "ABCD-EFGH",
        "--ca",
        ZERO,
    ];
    empty.fails(&hq_enroll, 2, TOLD);
    let left: Vec<_> = std::fs::read_dir(empty.data()).unwrap().collect();
    assert!(left.is_empty(), "nothing set up: {left:?}");

    let till = Till::demo();
    till.fails(&["sell-batch", ZERO], 2, TOLD);
    // Standard input too, where it was read to its end.
    let piped = till
        .command()
        .args(["sell-batch", "-"])
        .stdin(std::fs::File::open(ZERO).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("-: over 256 MiB"), "{stderr}");
}
