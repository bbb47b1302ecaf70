//! Money after the fair, through the real binary: three stalls take WeChat and Alipay at
//! their tills and sync to a real `fairpos hq serve`; the providers' statements (generated in
//! the providers' published layouts: a WeChat merchant bill, a WeChat app export with a BOM
//! and CRLF, Alipay's GBK account statement) are imported and matched one to one. One
//! recorded payment never reached the stall's account ("paid on paper only"), one statement
//! line has no sale, a refund at the till meets its refund in the statement, a file with a
//! bad row is refused whole, and importing a file again changes nothing. The statements page
//! shows the same in headless Chromium.
//!
//! And the shift slip: a till closes its shift with its last sales unsynced; the slip it
//! prints (ESC/POS to a file printer) is decoded, its QR code drawn to a PNG as a phone photo
//! of the paper would be, read back by `hq slip verify --image`, and headquarters names the
//! missing sales from the slip alone. A slip with one digit changed is refused.

mod common;

use std::path::Path;

use common::browser::walk;
use common::hq::{Hq, PASSWORD};
use common::statements::{alipay, pay, refund, wechat_app, wechat_bill};
use common::{Till, PIN};
use fairpos_hardware::config::TextEncoding;
use fairpos_hardware::receipt::decode::{decode, Event};
use serde_json::Value;

/// Runs `fairpos hq …` expecting failure with `code` and one line containing `needle`.
fn hq_fails(hq: &Hq, args: &[&str], code: i32, needle: &str) {
    let out = hq.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
}

/// `hq statements import FILE --provider PROVIDER --stall STALL`.
fn importing<'a>(file: &'a str, provider: &'a str, stall: &'a str) -> [&'a str; 8] {
    [
        "hq",
        "statements",
        "import",
        file,
        "--provider",
        provider,
        "--stall",
        stall,
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

fn keys(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn statements_meet_the_tills_qr_payments_one_to_one_and_name_what_is_paid_on_paper_only_on_sqlite()
{
    statements_meet_the_tills_qr_payments_one_to_one_and_name_what_is_paid_on_paper_only(Hq::demo());
}

#[test]
fn statements_meet_the_tills_qr_payments_one_to_one_and_name_what_is_paid_on_paper_only_on_postgres(
) {
    if let Some(hq) = Hq::demo_postgres("statements") {
        statements_meet_the_tills_qr_payments_one_to_one_and_name_what_is_paid_on_paper_only(hq);
    }
}

fn statements_meet_the_tills_qr_payments_one_to_one_and_name_what_is_paid_on_paper_only(hq: Hq) {
    let server = hq.serve();
    let mut t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let mut t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    let mut t3 = Till::enrolled(&server.url, &hq.add_device("T03", "S03"));
    let total = |v: Value| v["total_fen"].as_i64().unwrap();

    // S01: two WeChat sales and one Alipay; the 128.00 tea comes back by WeChat.
    t1.at("10:00");
    t1.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    t1.at("10:15");
    let a = total(t1.sell(&["--seller", "V003", "GZ-MJ-200", "--pay", "wechat"]));
    t1.at("10:30");
    let b = total(t1.sell(&["--seller", "V003", "FH-JT-300*2", "--pay", "alipay"]));
    t1.at("10:45");
    let c = total(t1.sell(&["--seller", "V003", "6935780100128", "--pay", "wechat"]));
    t1.at("11:00");
    let back = t1.json(&[
        "refund",
        "--pin",
        PIN,
        "T01-000003",
        "--line",
        "1:1",
        "--pay",
        "wechat",
        "--json",
    ]);
    let refund_no = back["refund"].as_str().unwrap_or_default().to_string();
    // S02: two WeChat sales; the second never reached the stall's account.
    t2.at("10:05");
    t2.ok(&["shift", "open", "--seller", "V004", "--float", "100"]);
    t2.at("10:20");
    let d = total(t2.sell(&["--seller", "V004", "HY-MHT-5", "--pay", "wechat"]));
    t2.at("10:50");
    let e = total(t2.sell(&["--seller", "V004", "YL-HT-10", "--pay", "wechat"]));
    // S03: one Alipay sale, one WeChat sale no statement covers.
    t3.at("10:10");
    t3.ok(&["shift", "open", "--seller", "V005", "--float", "50"]);
    let f = total(t3.sell(&["--seller", "V005", "TJ-ZS-250", "--pay", "alipay"]));
    t3.at("10:40");
    let g = total(t3.sell(&["--seller", "V005", "LS-BH-500", "--pay", "wechat"]));
    for t in [&t1, &t2, &t3] {
        t.synced();
    }

    // The statements the stalls downloaded (a few seconds after the till, as in life).
    let dir = hq.data();
    let s01_wechat = write(
        dir,
        "s01-wechat.csv",
        &wechat_bill(&[
            pay("10:15:31", a, "4200001234202611220000000101"),
            pay("10:45:08", c, "4200001234202611220000000102"),
            refund("11:00:40", c, "50300001234202611220000000103"),
        ]),
    );
    let s01_alipay = write(
        dir,
        "s01-alipay.csv",
        &alipay(&[pay("10:30:12", b, "20261122110070001506780000000201")]),
    );
    let s02_app = write(
        dir,
        "s02-wechat-app.csv",
        &wechat_app(&[
            pay("10:20:44", d, "10000500012026112200000000000301"),
            pay("11:30:00", 4500, "10000500012026112200000000000302"),
        ]),
    );
    let good_s03 = alipay(&[pay("10:10:20", f, "20261122110070001506780000000401")]);
    // The same file with its amount mistyped: refused whole, naming the line (the sixth).
    let bad_s03 = encoding_rs::GBK.decode(&good_s03).0.into_owned().replacen(
        &format!("+{}.{:02}", f / 100, f % 100),
        "+3X.80",
        1,
    );
    let bad_s03 = write(dir, "s03-bad.csv", &encoding_rs::GBK.encode(&bad_s03).0);
    let s03 = write(dir, "s03-alipay.csv", &good_s03);

    let import = |file: &str, provider: &str, stall: &str| {
        hq.json(&[&importing(file, provider, stall)[..], &["--json"]].concat())
    };
    let done = import(&s01_wechat, "wechat", "S01");
    assert_eq!(
        (
            done["new"].as_i64(),
            done["layout"].as_str(),
            done["encoding"].as_str()
        ),
        (Some(3), Some("wechat_bill"), Some("utf-8"))
    );
    let done = import(&s01_alipay, "alipay", "S01");
    assert_eq!(
        (done["new"].as_i64(), done["encoding"].as_str()),
        (Some(1), Some("gbk"))
    );
    assert_eq!(
        done["skipped"], 1,
        "the service-fee row is neither payment nor refund"
    );
    // S02's file imported under S01 by a typo: under S02 it is then refused, pointing to the
    // removal; taken back (by the file, then once more, by its SHA-256: nothing left), it is
    // S02's.
    assert_eq!(import(&s02_app, "wechat", "S01")["new"], 2);
    let wrong_stall = importing(&s02_app, "wechat", "S02");
    hq_fails(&hq, &wrong_stall, 2, "`hq statements remove FILE`");
    let removed = hq.json(&["hq", "statements", "remove", &s02_app, "--json"]);
    assert_eq!(
        (removed["stall"].as_str(), removed["lines"].as_i64()),
        (Some("S01"), Some(2))
    );
    let sha = {
        use sha2::Digest;
        fairpos_sync::keys::hex(&sha2::Sha256::digest(std::fs::read(&s02_app).unwrap()))
    };
    hq_fails(
        &hq,
        &["hq", "statements", "remove", &sha],
        2,
        "was imported: nothing removed",
    );
    // A quiet day's export (no payment, no refund) under S01, then under S02: refused, as
    // no line held could say (before, kept under S01, "0 new" said).
    // Its one row, a red packet, is named as money in left out (not a shopper's payment).
    let red_packet = "2026-11-22 12:00:00,微信红包,朋友,/,收入,¥8.88,/,已存入零钱,\
                      10000500012026112200000000000999\t,/,/\r\n";
    let quiet = String::from_utf8(wechat_app(&[])).unwrap() + red_packet;
    let quiet = write(dir, "quiet-app.csv", quiet.as_bytes());
    let done = import(&quiet, "wechat", "S01");
    assert_eq!(
        (done["new"].as_i64(), done["skipped"].as_i64()),
        (Some(0), Some(1))
    );
    let left_out = serde_json::json!([{"kind": "微信红包", "rows": 1, "amount_fen": 888}]);
    assert_eq!(done["others_money_in"], left_out);
    hq_fails(
        &hq,
        &importing(&quiet, "wechat", "S02"),
        2,
        "was imported before under stall S01",
    );
    assert_eq!(import(&quiet, "wechat", "S01")["new"], 0, "again: nothing");
    let text = hq.ok(&importing(&quiet, "wechat", "S01"));
    assert!(text.contains("1 row of 微信红包 (￥8.88)"), "{text}");
    hq.ok(&["hq", "statements", "remove", &quiet]);
    let done = import(&s02_app, "wechat", "S02");
    assert_eq!(
        (done["new"].as_i64(), done["layout"].as_str()),
        (Some(2), Some("wechat_app"))
    );
    // A file that held a line of another imported before it: removing the earlier one
    // takes that line too, and names the later file to import again.
    let part = write(
        dir,
        "s01-wechat-again.csv",
        &wechat_bill(&[pay("10:15:31", a, "4200001234202611220000000101")]),
    );
    assert_eq!(import(&part, "wechat", "S01")["already"], 1);
    let removed = hq.json(&["hq", "statements", "remove", &s01_wechat, "--json"]);
    assert_eq!(removed["lines"], 3);
    assert_eq!(
        removed["import_again"],
        serde_json::json!(["s01-wechat-again.csv"])
    );
    assert_eq!(import(&s01_wechat, "wechat", "S01")["new"], 3);
    hq_fails(&hq, &importing(&bad_s03, "alipay", "S03"), 2, "line 6");
    hq_fails(&hq, &importing(&s03, "wechat", "S03"), 2, "alipay");
    assert_eq!(import(&s03, "alipay", "S03")["new"], 1);
    // Importing a file again changes nothing.
    let again = import(&s01_wechat, "wechat", "S01");
    assert_eq!(
        (again["new"].as_i64(), again["already"].as_i64()),
        (Some(0), Some(3))
    );
    let text = hq.ok(&importing(&s02_app, "wechat", "S02"));
    assert!(text.contains("0 new lines, 2 held already"), "{text}");

    // The match: one to one, the alarm by seller and shift.
    let m = hq.json(&["hq", "statements", "match", "--json"]);
    let matched = m["matched"].as_array().unwrap();
    let mut amounts: Vec<(String, String, i64)> = matched
        .iter()
        .map(|x| {
            (
                x["sale"].as_str().unwrap().to_string(),
                x["flow"].as_str().unwrap().to_string(),
                x["amount_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    amounts.sort();
    let expected_matches = vec![
        ("T01-000001".to_string(), "payment".to_string(), a),
        ("T01-000002".into(), "payment".into(), b),
        ("T01-000003".into(), "payment".into(), c),
        ("T01-000003".into(), "refund".into(), c),
        ("T02-000001".into(), "payment".into(), d),
        ("T03-000001".into(), "payment".into(), f),
    ];
    assert_eq!(amounts, expected_matches, "{m}");
    let the_refund = matched.iter().find(|x| x["flow"] == "refund").unwrap();
    assert_eq!(the_refund["txn"], "50300001234202611220000000103");
    assert!(refund_no.starts_with("T01-"), "{back}");
    assert_eq!(the_refund["record"], refund_no.as_str());
    let paper = m["recorded_not_in_statement"].as_array().unwrap();
    assert_eq!(paper.len(), 1, "{m}");
    assert_eq!(
        (
            &paper[0]["sale"],
            &paper[0]["seller"],
            paper[0]["amount_fen"].as_i64()
        ),
        (&Value::from("T02-000002"), &Value::from("V004"), Some(e))
    );
    assert!(paper[0]["shift"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        paper[0]["at"].as_str().map(|s| &s[..16]),
        Some("2026-11-22 10:50")
    );
    let only = m["in_statement_not_recorded"].as_array().unwrap();
    assert_eq!(
        keys(&m["in_statement_not_recorded"], "txn"),
        ["10000500012026112200000000000302"]
    );
    assert_eq!(
        (only[0]["stall"].as_str(), only[0]["amount_fen"].as_i64()),
        (Some("S02"), Some(4500))
    );
    let uncovered = m["not_covered"].as_array().unwrap();
    assert_eq!(uncovered.len(), 1, "{m}");
    assert_eq!(
        (
            &uncovered[0]["stall"],
            &uncovered[0]["method"],
            uncovered[0]["amount_fen"].as_i64()
        ),
        (&Value::from("S03"), &Value::from("wechat"), Some(g))
    );
    let words = hq.ok(&["hq", "statements", "match"]);
    assert!(
        words.starts_with("6 matched; 1 recorded but not in a statement"),
        "{words}"
    );
    assert!(words.contains("T02-000002"), "{words}");

    // The export: one row per movement.
    let csv_file = dir.join("match.csv");
    hq.ok(&[
        "hq",
        "statements",
        "match",
        "--format",
        "csv",
        "--out",
        csv_file.to_str().unwrap(),
    ]);
    let mut reader = csv::Reader::from_path(&csv_file).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8, "6 matched, 1 paper only, 1 statement only");
    assert!(rows.iter().any(|r| r.iter().any(|f| f == "T02-000002")));
    let xlsx_file = dir.join("match.xlsx");
    hq.ok(&[
        "hq",
        "statements",
        "match",
        "--format",
        "xlsx",
        "--out",
        xlsx_file.to_str().unwrap(),
    ]);
    let xlsx = std::fs::read(&xlsx_file).unwrap();
    let has = |needle: &[u8]| xlsx.windows(needle.len()).any(|w| w == needle);
    assert!(
        xlsx.starts_with(b"PK") && has(b"xl/worksheets/sheet1.xml"),
        "an XLSX package"
    );

    // The page in a real browser says the same, with nothing fetched from elsewhere.
    let page = walk("statements.mjs", &[&server.url, PASSWORD], true);
    assert_eq!(page["anonymous_status"], 401, "{page}");
    assert_eq!(page["status"], 200, "{page}");
    assert_eq!(
        (
            page["matched"].as_i64(),
            page["paper_only"].as_i64(),
            page["statement_only"].as_i64()
        ),
        (Some(6), Some(1), Some(1)),
        "{page}"
    );
    assert_eq!(page["paper_only_rows"][0]["key"], "T02-000002");
    assert_eq!(page["paper_only_rows"][0]["fen"].as_i64(), Some(e));
    assert!(page["paper_only_rows"][0]["text"]
        .as_str()
        .unwrap()
        .contains("V004"));
    assert_eq!(page["statement_only_rows"][0]["fen"], 4500);
    assert_eq!(page["matched_rows"].as_array().unwrap().len(), 6);
    assert_eq!(page["not_covered"].as_array().unwrap().len(), 1);
    assert_eq!(page["files"], 5, "with s01-wechat-again.csv");
    assert_eq!(page["csv_status"], 200);
    assert_eq!(page["csv_lines"], 9);
    assert_eq!(page["foreign_requests"], Value::Array(vec![]));

    // S03's WeChat statement of the day arrives, with no money in it at all: the day is
    // accounted for by the period the file states, so the 59.00 the till recorded is now
    // paid on paper only.
    let s03_wechat = write(dir, "s03-wechat-app.csv", &wechat_app(&[]));
    assert_eq!(import(&s03_wechat, "wechat", "S03")["new"], 0);
    let m = hq.json(&["hq", "statements", "match", "--json"]);
    assert_eq!(
        keys(&m["recorded_not_in_statement"], "sale"),
        ["T02-000002", "T03-000002"]
    );
    assert_eq!(m["not_covered"], Value::Array(vec![]));
    assert_eq!(m["matched"].as_array().unwrap().len(), 6);
}

/// A QR code drawn as a phone photo of paper would show it: grey paper, dark ink, several
/// pixels a module, a margin.
fn qr_photo(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let width = code.width();
    let colors = code.to_colors();
    let (scale, margin) = (5u32, 30u32);
    let side = width as u32 * scale + 2 * margin;
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let inside = |v: u32| (v >= margin && v < side - margin).then(|| (v - margin) / scale);
        let dark = match (inside(x), inside(y)) {
            (Some(cx), Some(cy)) => {
                colors[cy as usize * width + cx as usize] == qrcode::Color::Dark
            }
            _ => false,
        };
        // A little unevenness, as light on paper has.
        let shade = ((x * 7 + y * 13) % 11) as u8;
        image::Luma([if dark { 40 + shade } else { 215 + shade }])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn a_printed_shift_slip_names_the_sales_headquarters_never_received_on_sqlite() {
    a_printed_shift_slip_names_the_sales_headquarters_never_received(Hq::demo());
}

#[test]
fn a_printed_shift_slip_names_the_sales_headquarters_never_received_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("slip") {
        a_printed_shift_slip_names_the_sales_headquarters_never_received(hq);
    }
}

fn a_printed_shift_slip_names_the_sales_headquarters_never_received(hq: Hq) {
    let server = hq.serve();
    let mut till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let printed = till.data().join("printer.bin");
    std::fs::write(
        till.data().join("fairpos.toml"),
        format!(
            "[printer]\nkind = \"file\"\npath = \"{}\"\nencoding = \"gbk\"\n",
            printed.display()
        ),
    )
    .unwrap();
    till.at("10:00");
    till.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    till.ok(&["sell", "--seller", "V003", "FH-JT-300", "--pay", "cash:25"]);
    till.synced();
    // Two more sales; then the network is gone for the rest of the day.
    till.at("10:30");
    till.ok(&["sell", "--seller", "V003", "GZ-MJ-200", "--pay", "wechat"]);
    till.ok(&[
        "sell",
        "--seller",
        "V003",
        "FH-JT-300*2",
        "--pay",
        "cash:50",
    ]);
    server.kill();
    std::fs::write(&printed, b"").unwrap();
    till.at("12:00");
    let closed = till.json(&["shift", "close", "--counted", "174", "--json"]);
    let text = closed["slip"].as_str().unwrap().to_string();
    assert!(text.starts_with("FPS1;"), "{text}");
    assert!(
        text.contains(";first=T01-000001;last=T01-000003;upto=T01-000003;sales=3;"),
        "{text}"
    );
    assert!(
        text.contains("cash:7500") && text.contains("wechat:9600"),
        "{text}"
    );
    assert!(
        text.contains(";expected=17500;counted=17400;variance=-100;"),
        "{text}"
    );
    assert_eq!(till.ok(&["shift", "slip"]).trim(), text);

    // The paper: the figures in words, and the QR code carrying the signed text.
    let events = decode(&std::fs::read(&printed).unwrap(), TextEncoding::Gbk);
    let qr = events
        .iter()
        .find_map(|e| match e {
            Event::Qr(t) => Some(t.clone()),
            _ => None,
        })
        .expect("the slip carries a QR code");
    assert_eq!(qr, text);
    let words = fairpos_hardware::receipt::decode::text_lines(&events).join("\n");
    assert!(
        words.contains("交班单") && words.contains("T01-000003"),
        "{words}"
    );

    // Headquarters holds one sale and believes the till complete...
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    let t01 = &rec["devices"][0];
    assert_eq!(
        (t01["sales_held"].as_i64(), t01["missing_count"].as_i64()),
        (Some(1), Some(0))
    );
    // ...until the slip is read from a photo of the paper.
    let photo = hq.data().join("slip.png");
    std::fs::write(&photo, qr_photo(&qr)).unwrap();
    let verified = hq.json(&[
        "hq",
        "slip",
        "verify",
        "--image",
        photo.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(verified["slip"]["last_sale"], "T01-000003");
    assert_eq!(
        verified["missing"],
        serde_json::json!(["T01-000002", "T01-000003"])
    );
    let rec = hq.json(&["hq", "reconcile", "--json"]);
    assert_eq!(rec["devices"][0]["complete"], false);
    assert_eq!(rec["devices"][0]["stated_last_sale"], "T01-000003");
    // The same slip again is recorded once.
    let again = hq.ok(&["hq", "slip", "verify", &text]);
    assert!(
        again.contains("recorded before") && again.contains("T01-000002, T01-000003"),
        "{again}"
    );

    // One digit changed (counted 174.00 → 175.00 with the variance to match) is refused.
    let forged = text.replace("counted=17400;variance=-100", "counted=17500;variance=0");
    assert_ne!(forged, text);
    hq_fails(
        &hq,
        &["hq", "slip", "verify", &forged],
        2,
        "signature does not verify",
    );
    let forged = text.replace(";sales=3;", ";sales=2;");
    hq_fails(&hq, &["hq", "slip", "verify", &forged], 2, "slip");
    // The slip signed again with the key the till's sync secret derives, as a fair hub
    // relaying its sync could (it sees that secret), is refused: the till signs with a key
    // of its own, whose secret never left it.
    let (body, _) = text.rsplit_once(";sig=").unwrap();
    let other = body.replace("counted=17400;variance=-100", "counted=17500;variance=0");
    let sign = |secret: &str| fairpos_sync::keys::sign(secret, other.as_bytes());
    let by_a_hub = format!("{other};sig={}", sign(&till.secret()));
    hq_fails(
        &hq,
        &["hq", "slip", "verify", &by_a_hub],
        2,
        "signature does not verify",
    );
    // A second slip of the same shift, signed with the till's own key, is refused too: the
    // first one stays.
    let resigned = format!("{other};sig={}", sign(&till.signing_secret()));
    hq_fails(
        &hq,
        &["hq", "slip", "verify", &resigned],
        2,
        "signed a different slip",
    );
    // In the audit log: the till, the shift and its last sale, the photo's file; the
    // second reading as recorded before; the four refused with why.
    let photo_name = photo.display().to_string();
    let audit = hq.json(&["hq", "audit", "--json"]);
    let slips: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "slip verify")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    let shift = verified["slip"]["shift"].as_str().unwrap();
    assert_eq!(slips.len(), 6, "{slips:?}");
    assert_eq!(
        slips[0],
        format!("image {photo_name}: T01 shift {shift}, last sale T01-000003, recorded")
    );
    assert_eq!(
        slips[1],
        format!("its text: T01 shift {shift}, last sale T01-000003, recorded before")
    );
    assert!(slips[2].starts_with("its text — failed: "), "{}", slips[2]);
    // A photo of something else is refused too.
    let junk = hq.data().join("junk.png");
    std::fs::write(&junk, qr_photo("https://example.com/")).unwrap();
    hq_fails(
        &hq,
        &["hq", "slip", "verify", "--image", junk.to_str().unwrap()],
        2,
        "slip",
    );
}
