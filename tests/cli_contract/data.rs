//! The till's data: where it lives by default, an older database brought up to date, a
//! projection behind its ledger repaired, `verify`, and the catalog's search.

use super::*;

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
    // The database as the build before migration step 7 left it: without the columns (nor
    // step 8's table, nor step 9's index of PLUs by value).
    till.db()
        .execute_batch(
            "DROP TABLE kiosk_left;
             DROP INDEX products_plu_value;
             ALTER TABLE voids DROP COLUMN sale_device;
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
    assert_eq!(version, 9);
    let indexed: bool = db
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'products_plu_value')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(indexed, "PLUs indexed by value by step 9");
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

/// A sale saved whose reader of standard output is gone (a pipe closed, a wrapper timed out)
/// is told on standard error and ends with success: before, writing its number panicked
/// (exit 101) after the sale was saved, and a script trying again sold it twice.
#[test]
fn a_sale_whose_standard_output_is_closed_is_saved_and_succeeds() {
    let till = morning();
    let before = till.sales().len();
    let mut selling = till
        .command()
        .args(["sell", "--seller", "V003", "LS-MH-1", "--pay", "wechat"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the till has opened its database.
    drop(selling.stdout.take());
    let out = selling.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {said}", out.status);
    assert!(said.contains("standard output took none of it"), "{said}");
    assert_eq!(till.sales().len(), before + 1);
}

/// A database a newer build brought further is refused by name, not written on in a schema
/// this build does not know (a till rolled back to an older build).
#[test]
fn a_till_database_newer_than_the_build_is_refused() {
    let till = morning();
    till.db().execute_batch("PRAGMA user_version = 99").unwrap();
    till.fails(&["sales", "--json"], 1, "newer than this build's");
}

/// So is a headquarters' (SQLite; the PostgreSQL migrations' own test covers theirs), and
/// the file is left as it was.
#[test]
fn a_headquarters_database_newer_than_the_build_is_refused() {
    let hq = common::hq::Hq::demo();
    let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
    db.execute_batch("PRAGMA user_version = 99").unwrap();
    let out = hq.run(&["hq", "report", "--by", "stall", "--format", "json"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("the headquarters database is of schema 99, newer than this build's"),
        "{said}"
    );
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

/// The till's database holds its sync token and signing key: unreadable by others than its
/// owner and group, made so (and its write-ahead log) at each opening, whatever the umask
/// left.
#[test]
fn the_till_database_is_unreadable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let till = morning();
    let mode = |name: &str| {
        let meta = std::fs::metadata(till.data().join(name)).unwrap();
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode("till.db") & 0o007, 0);
    let readable = std::fs::Permissions::from_mode(0o664);
    std::fs::set_permissions(till.data().join("till.db"), readable).unwrap();
    till.ok(&["sales", "--json"]);
    assert_eq!(mode("till.db"), 0o660, "the group keeps its access");
}

/// A name with a terminal's escape (from a catalog file or a till's product) is listed with
/// it written out, not run on the operator's terminal.
#[test]
fn the_catalog_is_listed_with_escapes_written_out() {
    let till = Till::demo();
    let name = "茶\u{1b}[2J";
    let add = [
        "catalog",
        "add",
        "--sku",
        "X-1",
        "--name-zh",
        name,
        "--unit",
        "盒",
        "--price",
        "1",
    ];
    till.ok(&add);
    for listing in [&["catalog", "list"][..], &["catalog", "search", "X-1"]] {
        let out = till.ok(listing);
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("茶\\u{1b}[2J"), "{out}");
    }
}
