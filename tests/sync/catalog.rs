//! The catalog both ways: headquarters' changes down to the tills, products a till added up.

use super::*;

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

    // A PLU another product holds by value (10021, the loose kiwi) is refused: a scale's
    // label `010021` was sold as the kiwi.
    let taken = [
        "catalog",
        "add",
        "--sku",
        "LOCAL-0",
        "--name-zh",
        "散装枣",
        "--unit",
        "斤",
        "--price",
        "5",
        "--weighed",
        "--plu",
        "010021",
    ];
    t2.fails(&taken, 2, "plu 010021 is HY-MHT-LB's (10021)");
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
fn a_product_a_till_added_reaches_the_catalog_by_usb_stick_and_after_a_stop_on_sqlite() {
    a_product_a_till_added_reaches_the_catalog_by_usb_stick_and_after_a_stop(Hq::demo());
}

#[test]
fn a_product_a_till_added_reaches_the_catalog_by_usb_stick_and_after_a_stop_on_postgres() {
    if let Some(hq) = Hq::demo_postgres("added") {
        a_product_a_till_added_reaches_the_catalog_by_usb_stick_and_after_a_stop(hq);
    }
}

/// A product a till adds offline reaches the catalog whatever brings its ledger: here a USB
/// stick (`hq bundle import` projects the ledger, so no later sync finds its record new: the
/// product reached no catalog before). And a product kept for the catalog whose fold was
/// left undone (a process stopped between the projection and the fold, `hq postgres
/// project`) reaches it, while headquarters serves and when it starts.
fn a_product_a_till_added_reaches_the_catalog_by_usb_stick_and_after_a_stop(hq: Hq) {
    let server = hq.serve();
    let t1 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t2 = Till::enrolled(&server.url, &hq.add_device("T02", "S02"));
    // Imported with no server running: on PostgreSQL a serving process would hear of the
    // stored ledger and might project it first, folding the product the old way.
    server.stop();
    let add = [
        "catalog",
        "add",
        "--unit",
        "瓶",
        "--stock",
        "5",
        "--name-zh",
    ];
    t2.ok(&[&add[..], &["山茶油", "--sku", "USB-1", "--price", "88"]].concat());
    let stick = hq.data().join("t02.json");
    let stick = stick.to_str().unwrap();
    t2.ok(&["bundle", "export", stick]);
    let said = hq.ok(&["hq", "bundle", "import", stick]);
    let folded = "1 products tills added folded into the fair's catalog";
    assert!(said.contains(folded), "{said}");
    assert_eq!(
        kept_for_the_catalog(&hq),
        "0",
        "forgotten once the catalog holds it"
    );
    // Imported again, the product is in the catalog already: nothing more is folded.
    let again = hq.ok(&["hq", "bundle", "import", stick]);
    assert!(!again.contains("folded"), "{again}");
    let server = hq.serve();
    t1.synced_with(&server.url);
    assert_eq!(t1.listed_price("USB-1"), Some(8800));

    // A product kept and not folded, as a process that stopped after the projection and
    // before the fold leaves it: written by hand, as no kill lands in that window on
    // purpose. While headquarters serves, it is folded within a second or two, and
    // forgotten once the catalog as stored holds it.
    keep_by_hand(&hq, "left-1", "LEFT-1", 4200);
    synced_until_held(&t1, &server.url, "LEFT-1");
    assert_eq!(t1.listed_price("LEFT-1"), Some(4200));
    until_none_kept(&hq);
    // One kept while headquarters is stopped is folded as it starts.
    server.stop();
    keep_by_hand(&hq, "left-2", "LEFT-2", 3100);
    let server = hq.serve();
    synced_until_held(&t1, &server.url, "LEFT-2");
    assert_eq!(t1.listed_price("LEFT-2"), Some(3100));
    assert_eq!(t1.listed_price("USB-1"), Some(8800));
    until_none_kept(&hq);
    drop(server);
}

/// Keeps a product for the catalog as a projection keeps one a till added.
fn keep_by_hand(hq: &Hq, record: &str, sku: &str, price_fen: i64) {
    let product = format!(
        r#"{{"sku":"{sku}","name_zh":"剩下的茶","unit":"盒","price_fen":{price_fen},"stall":"S02","stock":3}}"#
    );
    run_sql(
        hq,
        &format!(
            "INSERT INTO till_added_products(record_id, sku, product) \
             VALUES ('{record}', '{sku}', '{product}')"
        ),
    );
}

/// Waits until headquarters keeps no product for its catalog (20 s at most).
fn until_none_kept(hq: &Hq) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept_for_the_catalog(hq) != "0" {
        assert!(Instant::now() < deadline, "products are still kept");
        pause(200);
    }
}

/// Syncs `till` with the headquarters at `url` until its catalog holds `sku` (20 s at most):
/// a fold runs beside the server's requests, so a sync may come before it.
fn synced_until_held(till: &Till, url: &str, sku: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        till.synced_with(url);
        if till.listed_price(sku).is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "{sku} never reached the till");
        pause(300);
    }
}

/// How many products tills added headquarters keeps for its catalog.
fn kept_for_the_catalog(hq: &Hq) -> String {
    run_sql(hq, "SELECT COUNT(*) FROM till_added_products")
}

/// Runs `sql` on headquarters' database, whichever it is: its answer as `psql -tA` gives it.
fn run_sql(hq: &Hq, sql: &str) -> String {
    match hq.database_url() {
        Some(url) => common::postgres::psql_answer(&url, sql),
        None => {
            let db = rusqlite::Connection::open(hq.data().join("hq.db")).unwrap();
            let mut stmt = db.prepare(sql).unwrap();
            if stmt.column_count() == 0 {
                stmt.execute([]).unwrap();
                return String::new();
            }
            stmt.query_row([], |r| r.get::<_, i64>(0))
                .unwrap()
                .to_string()
        }
    }
}
