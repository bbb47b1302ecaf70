//! The CLI contract of the till, driven through the real binary on real SQLite files: every
//! form of issue #3, each bad input, and the reports checked to the fen.

#[path = "../common/mod.rs"]
mod common;
mod data;
mod inputs;

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
        "--pin",
        PIN,
        "T01-000001",
        "--line",
        "1:1",
        "--pay",
        "cash",
        "--json",
    ]);
    assert_eq!(refund["amount_fen"], 12800);
    assert_eq!(refund["refund"], "T01-R000001");
    till.ok(&[
        "shift",
        "cash-in",
        "--pin",
        PIN,
        "100",
        "--reason",
        "备用金",
    ]);
    till.ok(&[
        "shift",
        "cash-out",
        "--pin",
        PIN,
        "50.00",
        "--reason",
        "买袋子",
    ]);
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
fn a_sale_with_a_refund_of_nothing_is_not_voided_and_stock_comes_back_once() {
    let till = Till::demo();
    // A free bag, given with the tea.
    till.ok(&[
        "catalog",
        "add",
        "--sku",
        "BAG-1",
        "--name-zh",
        "帆布袋",
        "--unit",
        "个",
        "--price",
        "0",
        "--stock",
        "10",
    ]);
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.sell(&[
        "--seller",
        "V003",
        "BAG-1",
        "BJ-HJC-250",
        "--pay",
        "cash:200",
    ]);
    let refund = till.json(&[
        "refund",
        "--pin",
        PIN,
        "T01-000001",
        "--line",
        "1",
        "--pay",
        "cash",
        "--json",
    ]);
    assert_eq!(refund["amount_fen"], 0);
    // The bag came back: the sale has a refund, of nothing, and is not voided (before, the
    // void went through and the bag's stock came back twice).
    till.fails(
        &["void", "T01-000001", "--reason", "扫错了", "--pin", PIN],
        2,
        "has refunds",
    );
    let list = till.json(&["catalog", "list", "--json"]);
    let bag = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "BAG-1")
        .unwrap();
    assert_eq!(bag["stock_base"], 10);
}

/// What a sale took on account or by voucher goes back only as itself: refunded in cash, a
/// unit was still invoiced for goods it returned, and a voucher became cash. Money (cash,
/// WeChat Pay, Alipay, UnionPay) goes back by any of them, up to what the sale took in money.
#[test]
fn a_refund_gives_back_no_more_by_a_method_than_the_sale_took_by_it() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    till.sell(&[
        "--seller",
        "V004",
        "XP-CZY-5L",
        "--unit",
        "12430000444883027E",
        "--pay",
        "on_account",
    ]);
    till.fails(
        &[
            "refund",
            "--pin",
            PIN,
            "T01-000001",
            "--line",
            "1",
            "--pay",
            "cash",
        ],
        2,
        "has ￥0.00 paid in money (cash, WeChat Pay, Alipay, UnionPay) left to refund",
    );
    let back = till.json(&[
        "refund",
        "--pin",
        PIN,
        "T01-000001",
        "--line",
        "1",
        "--pay",
        "on_account",
        "--json",
    ]);
    assert_eq!(back["method"], "on_account");
    // Two pieces at 128.00, voucher 50 and cash for the rest (206.00 in money): one piece
    // back by WeChat Pay (money: cash and WeChat count together). The other is more than
    // either has left, money 78.00 and voucher 50.00; a refund is one method, so it goes by
    // the one with the most left, money, not by voucher.
    till.sell(&[
        "--seller",
        "V004",
        "BJ-HJC-250*2",
        "--pay",
        "voucher:50",
        "--pay",
        "cash:300",
    ]);
    till.ok(&[
        "refund",
        "--pin",
        PIN,
        "T01-000002",
        "--line",
        "1:1",
        "--pay",
        "wechat",
    ]);
    till.fails(
        &[
            "refund",
            "--pin",
            PIN,
            "T01-000002",
            "--line",
            "1:1",
            "--pay",
            "voucher",
        ],
        2,
        "has ￥50.00 paid voucher left to refund, not ￥128.00",
    );
    till.ok(&[
        "refund",
        "--pin",
        PIN,
        "T01-000002",
        "--line",
        "1:1",
        "--pay",
        "cash",
    ]);
}
