//! What the till takes in: every bad input refused in one line with nothing written, a till
//! set up once, a fair file and its tables imported, a file without end.

use super::*;

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
    // Two cash amounts each within bounds, together past them: the change of such a sale
    // went past what headquarters takes, which then refused the till's whole day.
    let most = "cash:9999999999.99";
    run(
        sell(&["BJ-HJC-250", "--pay", most, "--pay", most]),
        "may come to 10000000000 yuan at most",
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
        &["shift", "cash-in", "--pin", PIN, "1.234", "--reason", "x"],
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
    // Money going back takes the lead PIN here too, as on the touchscreen: a refund and
    // the drawer's cash moves with a wrong one are refused, nothing written.
    let wrong = ["--pin", "0000"];
    let refund = ["refund", "T01-000001", "--line", "1", "--pay", "cash"];
    till.fails(&[&refund[..], &wrong].concat(), 2, "wrong PIN");
    for moving in ["cash-in", "cash-out"] {
        let args = ["shift", moving, "10", "--reason", "x"];
        till.fails(&[&args[..], &wrong].concat(), 2, "wrong PIN");
        // Nothing moved is no move (it stayed in the ledger for good).
        let nothing = ["shift", moving, "0.00", "--reason", "x", "--pin", PIN];
        till.fails(&nothing, 2, "must be more than zero");
    }
    let moves = "SELECT (SELECT COUNT(*) FROM refunds) + (SELECT COUNT(*) FROM cash_moves)";
    let written: i64 = till.db().query_row(moves, [], |r| r.get(0)).unwrap();
    assert_eq!(written, 0);
    till.fails(
        &[
            "refund",
            "--pin",
            PIN,
            "T01-000001",
            "--line",
            "2",
            "--pay",
            "cash",
        ],
        2,
        "has no line 2",
    );
    till.fails(
        &[
            "refund",
            "--pin",
            PIN,
            "T01-000001",
            "--line",
            "1:2",
            "--pay",
            "cash",
        ],
        2,
        "1 left to refund",
    );
    till.fails(
        &[
            "refund",
            "--pin",
            PIN,
            "T01-000001",
            "--line",
            "1",
            "--pay",
            "gold",
        ],
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
    let fair_file = demo_file("fair.toml");
    let fair = fair_file.to_str().unwrap();
    // A stall every sale would file under and the fair does not know: refused, nothing made.
    for stall in ["S02 ", "", "S\u{1b}[2J"] {
        let args = ["init", "--fair", fair, "--device", "T02", "--stall", stall];
        till.fails(&[&args[..], &["--lead-pin", "1357"]].concat(), 2, "--stall");
        assert!(!till.data().join("till.db").exists(), "{stall:?}");
    }
    till.ok(&[
        "init",
        "--fair",
        fair,
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
            fair,
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

    // Bad rows on file lines 3 and 4: both are named, and nothing of the file is taken.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "sku,name_zh,unit,price_yuan\nGOOD-1,好,个,1.00\nBAD-1,坏,个,1.005\nBAD-2,,个,1\n",
    )
    .unwrap();
    let err = till.fails(&["catalog", "import", bad.to_str().unwrap()], 2, "line 3");
    assert!(
        err.contains("bad.csv: 2 rows refused")
            && err.contains("line 3: price_yuan")
            && err.contains("; line 4: name_zh is empty"),
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

#[test]
fn a_wait_of_more_than_a_day_is_refused_where_it_ended_in_a_panic() {
    let till = Till::demo();
    let forever = "9300000000000000000";
    for args in [
        vec![
            "hardware",
            "scan",
            "--port",
            "/dev/null",
            "--timeout",
            forever,
        ],
        vec!["hardware", "weigh", "--timeout", forever],
        vec!["sync", "--watch", "--interval", forever],
        vec!["sync", "--timeout", forever],
    ] {
        let out = till.run(&args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "fairpos {args:?}: {said}");
        assert!(
            said.contains("not in 1..=86400"),
            "fairpos {args:?}: {said}"
        );
    }
}

#[test]
fn a_record_headquarters_would_refuse_is_not_written() {
    let till = Till::demo();
    till.ok(&["shift", "open", "--seller", "V003", "--float", "0"]);
    let most = "9999999999.99";
    for _ in 0..11 {
        till.ok(&["shift", "cash-in", "--pin", PIN, most, "--reason", "bank"]);
    }
    // The drawer is to hold more than a till takes in one record: the shift's close, which
    // headquarters would refuse with the day's ledger, is not written.
    let said = till.fails(
        &["shift", "close", "--counted", "0"],
        2,
        "headquarters would refuse this shift_close",
    );
    assert!(said.contains("beyond what a till takes"), "{said}");
    // Cash taken out brings it back within what a till takes, and the shift closes.
    for _ in 0..2 {
        till.ok(&["shift", "cash-out", "--pin", PIN, most, "--reason", "bank"]);
    }
    till.ok(&["shift", "close", "--counted", "0"]);
    till.ok(&["ledger", "verify"]);
}
