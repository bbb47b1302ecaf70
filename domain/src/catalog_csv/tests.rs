use std::collections::HashSet;

use super::*;
use crate::catalog::Stall;
use crate::demo;
use crate::sale::{Seller, Unit};

#[test]
fn the_demo_fair_reads_whole() {
    let rows = parse_catalog("catalog.csv", demo::CATALOG_CSV).unwrap();
    assert_eq!(rows.len(), 35);
    let kiwi = rows.iter().find(|r| r.product.sku == "HY-MHT-LB").unwrap();
    assert_eq!(kiwi.stock, 300 * 500);
    assert_eq!(kiwi.product.price, Fen(780));
    let duck = rows.iter().find(|r| r.product.sku == "ZJ-Y-1").unwrap();
    assert_eq!(duck.product.name_en, "Zhijiang Duck (whole, vacuum)");
    assert_eq!(parse_stalls("s", demo::STALLS_CSV).unwrap().len(), 6);
    assert_eq!(parse_sellers("s", demo::SELLERS_CSV).unwrap().len(), 8);
    assert_eq!(parse_units("u", demo::UNITS_CSV).unwrap().len(), 6);
}

#[test]
fn a_file_of_a_few_columns_changes_those_and_keeps_the_rest() {
    let held: HashMap<String, CatalogRow> = parse_catalog("c", demo::CATALOG_CSV)
        .unwrap()
        .into_iter()
        .map(|r| (r.product.sku.clone(), r))
        .collect();
    let prices = "sku,name_zh,unit,price_yuan\nHY-MHT-LB,猕猴桃,斤,8.80\nNEW-1,新品,个,2.00\n";
    let rows = parse_catalog_over("prices.csv", prices, &held).unwrap();
    let (kiwi, was) = (&rows[0], &held["HY-MHT-LB"]);
    assert_eq!(kiwi.product.price, Fen(880));
    assert_eq!(kiwi.product.name_zh, "猕猴桃");
    // Weighed, its stock in grams, its barcode rule's PLU, county, stall: as held.
    assert!(kiwi.product.weighed);
    assert_eq!(kiwi.stock, was.stock);
    let kept = |p: &Product| {
        let p = p.clone();
        (
            p.plu,
            p.barcode,
            p.county_code,
            p.supplier,
            p.cert_no,
            p.stall,
            p.name_en,
        )
    };
    assert_eq!(kept(&kiwi.product), kept(&was.product));
    // A product not held takes what empty columns mean.
    let new = &rows[1].product;
    assert_eq!(
        (new.weighed, rows[1].stock, new.stall.as_str()),
        (false, 0, "")
    );
    // A column the file has, even empty, is taken as given.
    let cleared = "sku,name_zh,unit,price_yuan,stall\nHY-MHT-LB,猕猴桃,斤,8.80,\n";
    let rows = parse_catalog_over("c.csv", cleared, &held).unwrap();
    assert_eq!(rows[0].product.stall, "");
    assert!(!header_has(prices, "stock") && header_has(cleared, "STALL"));
    // Weighed changed with its stock kept would read grams as pieces: refused.
    let unweighed = "sku,name_zh,unit,price_yuan,weighed\nHY-MHT-LB,猕猴桃,斤,8.80,false\n";
    let e = parse_catalog_over("w.csv", unweighed, &held).unwrap_err();
    assert!(e.to_string().contains("give the stock column too"), "{e}");

    let sellers: HashMap<String, Seller> = parse_sellers("s", demo::SELLERS_CSV)
        .unwrap()
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let renamed = parse_sellers_over("s.csv", "id,name\nV004,刘洋\n", &sellers).unwrap();
    let was = &sellers["V004"];
    assert_eq!(
        (&renamed[0].team, &renamed[0].stall),
        (&was.team, &was.stall)
    );
    assert!(!was.team.is_empty());
    let stalls: HashMap<String, Stall> = parse_stalls("s", demo::STALLS_CSV)
        .unwrap()
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let renamed = parse_stalls_over("s.csv", "id,name\nS01,茶馆\n", &stalls).unwrap();
    assert_eq!(renamed[0].team, stalls["S01"].team);
    let units: HashMap<String, Unit> = parse_units("u", demo::UNITS_CSV)
        .unwrap()
        .into_iter()
        .map(|u| (u.tax_id.clone(), u))
        .collect();
    let (code, unit) = units.iter().find(|(_, u)| u.kind != "other").unwrap();
    let text = format!("tax_id,name\n{code},改名\n");
    let renamed = parse_units_over("u.csv", &text, &units).unwrap();
    assert_eq!(renamed[0].kind, unit.kind);
}

#[test]
fn codes_taken_from_other_products_are_told() {
    let held: HashMap<String, CatalogRow> = parse_catalog("c", demo::CATALOG_CSV)
        .unwrap()
        .into_iter()
        .map(|r| (r.product.sku.clone(), r))
        .collect();
    // A PLU by value: a scale's label carries `10021` as `0010021`.
    let file = "sku,name_zh,unit,price_yuan,barcode,plu\n\
                X3,乙,个,12.0,6935780100128,\nX4,丙,斤,3.0,,0010021\n";
    let rows = parse_catalog_over("c.csv", file, &held).unwrap();
    assert_eq!(
        codes_taken(&rows, &held),
        [
            "barcode 6935780100128 moves from BJ-HJC-250 to X3, which leaves BJ-HJC-250 \
             without one",
            "PLU 0010021 moves from HY-MHT-LB to X4, which leaves HY-MHT-LB without one"
        ]
    );
    // Swapped within the file, or kept by their own product: nothing to tell.
    let swap = "sku,name_zh,unit,price_yuan,plu\nHY-MHT-LB,猕猴桃,斤,7.80,10099\n\
                X4,丙,斤,3.0,010021\n";
    let rows = parse_catalog_over("c.csv", swap, &held).unwrap();
    assert!(codes_taken(&rows, &held).is_empty());
    let same = parse_catalog_over("c.csv", demo::CATALOG_CSV, &held).unwrap();
    assert!(codes_taken(&same, &held).is_empty());
}

#[test]
fn columns_are_found_by_name_and_text_kept_intact() {
    let text = "price_yuan,name_zh,sku,unit,supplier\n\
                12.00,\"𠮷野家, 𪚥 \"\"特制\"\"\",X-1,个,\"a,b\"\n";
    let rows = parse_catalog("c.csv", text).unwrap();
    assert_eq!(rows[0].product.name_zh, "𠮷野家, 𪚥 \"特制\"");
    assert_eq!(rows[0].product.supplier, "a,b");
    let back = String::from_utf8(write_catalog(&rows).unwrap()).unwrap();
    let again = parse_catalog("c.csv", &back).unwrap();
    assert_eq!(again, rows);
}

#[test]
fn a_bad_row_is_named_by_its_file_line() {
    let text = "sku,name_zh,unit,price_yuan\nA,甲,个,1.00\nB,乙,个,1.005\n";
    let err = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert!(err.starts_with("c.csv line 3: price_yuan"), "{err}");
    let text = "sku,name_zh,unit,price_yuan,barcode\nA,甲,个,1.00,6935780100129\n";
    let err = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("check digit"),
        "{err}"
    );
    let text = "sku,name_zh,unit\nA,甲,个\n";
    let err = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert_eq!(err, "c.csv: no column named price_yuan in the header");
    let text = "sku,name_zh,unit,price_yuan\nA,甲,个,1\nA,乙,个,2\n";
    let err = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert!(
        err.contains("line 3: sku A is already used on line 2"),
        "{err}"
    );
    let text = "name,tax_id,kind\n中南大学,12430000444883027X,school\n";
    let err = parse_units("u.csv", text).unwrap_err().to_string();
    assert!(err.starts_with("u.csv line 2: bad credit code"), "{err}");
}

#[test]
fn every_refused_row_is_named_at_once_and_nothing_is_taken() {
    let text = "sku,name_zh,unit,price_yuan\n\
                A,甲,个,1.00\n\
                B,乙,个,1.005\n\
                C,丙,个\n\
                A,丁,个,2.00\n\
                D,,个,2.00\n\
                A,戊,个,3.00\n";
    let err = parse_catalog("c.csv", text).unwrap_err();
    let DomainError::BadCsvRows { file, rows } = &err else {
        panic!("several rows refused at once: {err:?}");
    };
    let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
    assert_eq!((file.as_str(), lines), ("c.csv", vec![3, 4, 5, 6, 7]));
    assert_eq!(rows[1].1, "3 fields, the header has 4");
    assert_eq!(rows[2].1, "sku A is already used on line 2");
    assert_eq!(rows[3].1, "name_zh is empty");
    assert_eq!(rows[4].1, "sku A is already used on line 2");
    let said = err.to_string();
    assert!(
        said.starts_with("c.csv: 5 rows refused, so nothing of it is imported: line 3: price_yuan"),
        "{said}"
    );
    assert!(said.contains("; line 4: 3 fields"), "{said}");
    let words = err.words(crate::Lang::Zh);
    assert!(words.starts_with("c.csv 有 5 行有误"), "{words}");
    assert!(words.contains("第 6 行：name_zh is empty"), "{words}");

    // A row refused for a code another row uses takes none of its codes: its SKU given
    // again on a later line is that line's own.
    let text = "sku,name_zh,unit,price_yuan,barcode\nA,甲,个,1,6935780100128\n\
                B,乙,个,1,6935780100128\nB,丙,个,1,\n";
    let said = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert_eq!(
        said,
        "c.csv line 3: barcode 6935780100128 is already used on line 2"
    );

    // Two PLUs of one value: a label carrying `00012` would always sell the first.
    let text = "sku,name_zh,unit,price_yuan,weighed,plu\nA,甲,斤,1,true,0012\n\
                B,乙,斤,1,true,12\n";
    let said = parse_catalog("c.csv", text).unwrap_err().to_string();
    assert_eq!(said, "c.csv line 3: plu 12 is already used on line 2");

    // A field longer than a till takes (a till refuses such a catalog).
    let long = "长".repeat(301);
    let text = format!("sku,name_zh,unit,price_yuan\nA,{long},个,1\nB,乙,个,1,{long}\n");
    let said = parse_catalog("c.csv", &text).unwrap_err().to_string();
    assert!(
        said.ends_with(
            "line 2: name_zh is 301 characters; at most 300; line 3: 5 fields, the header has 4"
        ),
        "{said}"
    );
    let said = parse_stalls("s.csv", &format!("id,name,team\nS1,甲,{long}\n"))
        .unwrap_err()
        .to_string();
    assert_eq!(said, "s.csv line 2: team is 301 characters; at most 300");
    // A column no table reads is not kept, however long.
    let notes = format!("id,name,notes\nS1,甲,{long}\n");
    assert_eq!(parse_stalls("s.csv", &notes).unwrap().len(), 1);

    // Many: the first ten listed, the rest counted.
    let mut many = String::from("id,name\n");
    for n in 0..14 {
        many += &format!("S{n},\n");
    }
    let said = parse_stalls("stalls.csv", &many).unwrap_err().to_string();
    assert!(said.starts_with("stalls.csv: 14 rows refused"), "{said}");
    assert!(said.contains("line 11: name is empty"), "{said}");
    assert!(!said.contains("line 12:"), "{said}");
    assert!(said.ends_with("name is empty (and 4 more)"), "{said}");

    // Each table of the fair the same way.
    let sellers = "id,name\nV1,\nV2,王\nV2,李\n";
    let said = parse_sellers("s.csv", sellers).unwrap_err().to_string();
    assert!(
        said.ends_with("line 2: name is empty; line 4: V2 is already used on line 3"),
        "{said}"
    );
    let units = "name,tax_id,kind\n甲,81430100MB1A2C3D0T,guild\n,81430100MB0K7P2Q0P,\n";
    let said = parse_units("u.csv", units).unwrap_err().to_string();
    assert!(
        said.contains("line 2: kind \"guild\" is not one of")
            && said.contains("line 3: name is empty"),
        "{said}"
    );
}

#[test]
fn stalls_the_fair_lacks_are_told_once_each_with_a_few_rows() {
    let held = HashSet::from(["S01".to_string()]);
    let rows = [
        ("S01", "A"),
        ("S99", "B"),
        ("", "C"),
        ("S98", "D"),
        ("S99", "E"),
        ("S99", "F"),
        ("S99", "G"),
        ("S99", "H"),
    ];
    let said = unknown_stalls(rows.into_iter(), &held, "products");
    assert_eq!(
        said,
        [
            "stall S98 is not among the fair's stalls (products D): import the stall, or \
             correct the code",
            "stall S99 is not among the fair's stalls (products B, E, F and 2 more): import \
             the stall, or correct the code",
        ]
    );
    assert!(unknown_stalls(rows[..1].iter().copied(), &held, "sellers").is_empty());
    let none_yet = unknown_stalls(rows.into_iter(), &HashSet::new(), "sellers");
    assert!(none_yet.is_empty(), "the stalls not imported yet");
}

#[test]
fn columns_the_catalog_does_not_read_are_named() {
    let text = "\u{feff}sku,条码,name_zh,Unit,price_yuan, 备注 ,\nA,6935780100128,甲,个,1,,\n";
    let said = unread_columns(text);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].starts_with("column 条码 is not one the catalog reads"),
        "{said:?}"
    );
    assert!(said[1].starts_with("column 备注 is not"), "{said:?}");
    assert!(said[0].ends_with("(the columns are sku, barcode, plu, name_zh, name_en, category, unit, price_yuan, weighed, origin_county_code, origin_county_name, supplier, cert_no, stall, stock)"));
    assert!(unread_columns(demo::CATALOG_CSV).is_empty());
}
