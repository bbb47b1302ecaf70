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
