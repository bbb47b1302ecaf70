use super::*;
use crate::instance::Founding;

/// The demo fair's catalog imported, and `n` rows more made from its first with new SKUs.
fn demo_and_new_rows(hq: &Hq, n: usize) -> (usize, Vec<CatalogRow>) {
    import_demo(hq).unwrap();
    let rows = parse_catalog("catalog.csv", demo::CATALOG_CSV).unwrap();
    let new = (0..n)
        .map(|i| {
            let mut row = rows[0].clone();
            row.product.sku = format!("NEW-{i}");
            row
        })
        .collect();
    (rows.len(), new)
}

fn skus(hq: &Hq) -> Vec<String> {
    let products = load(hq).unwrap().contents().unwrap().products;
    products.into_iter().map(|p| p.sku).collect()
}

#[test]
fn an_import_that_would_make_a_catalog_tills_refuse_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), demo::FAIR_TOML, founding).unwrap();
    let (held, new) = demo_and_new_rows(&hq, 2);
    let before = skus(&hq);
    let version = meta(&hq.conn, "catalog_version").unwrap();

    // Two more products than a till takes one more of: refused whole.
    let err = import_products_within(&hq, &new, false, held + 1).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    let why = format!(
        "the catalog would hold {} products, and a till takes at most {}: nothing was \
         imported",
        held + 2,
        held + 1
    );
    assert_eq!(err.to_string(), why);
    assert_eq!(skus(&hq), before, "the catalog document is as it was");
    assert_eq!(meta(&hq.conn, "catalog_version").unwrap(), version);
    let in_tables: i64 = hq
        .conn
        .query_row(
            "SELECT COUNT(*) FROM products WHERE sku LIKE 'NEW-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_tables, 0, "nor are the tables");

    // One fits.
    import_products_within(&hq, &new[..1], false, held + 1).unwrap();
    assert_eq!(skus(&hq).len(), held + 1);

    // Past the bound already (a lower bound here): edited, not taken further.
    let mut mended = new[0].clone();
    mended.product.name_zh = "新名".into();
    import_products_within(&hq, &[mended], false, held).unwrap();
    let err = import_products_within(&hq, &new[1..], false, held).unwrap_err();
    assert!(err.to_string().contains("would hold"), "{err}");
    assert_eq!(skus(&hq).len(), held + 1);
}

#[test]
fn a_catalog_tills_refuse_is_told_and_an_import_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), demo::FAIR_TOML, founding).unwrap();
    let (_, mut new) = demo_and_new_rows(&hq, 1);
    assert_eq!(why_tills_refuse(&hq).unwrap(), None);
    // A name longer than tills take, as a catalog made before the bounds may hold.
    let mut long: CatalogProduct = (&new[0]).into();
    long.name_zh = "长".repeat(fairpos_domain::catalog::LONGEST_FIELD + 1);
    edit(&hq, |doc, at| {
        doc.put(&[long], at)?;
        Ok(())
    })
    .unwrap();
    let why = why_tills_refuse(&hq).unwrap().unwrap();
    assert!(
        why.contains("products entry `NEW-0`: `name_zh` is 301 characters"),
        "{why}"
    );
    new[0].product.name_zh = "新茶".into();
    import_products(&hq, &new, false).unwrap();
    assert_eq!(why_tills_refuse(&hq).unwrap(), None);
}

#[test]
fn a_catalog_adopted_replaces_the_one_made_here_even_when_its_genesis_was_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let hq = Hq::init(
        dir.path(),
        demo::FAIR_TOML,
        Founding::Hq {
            organizer_password: "organizer-pw",
        },
    )
    .unwrap();
    // A catalog begun by a build whose genesis was each headquarters' own.
    let mut elsewhere =
        CatalogDoc::create_by(&key(&hq), &hq.fair.id, ActorId::random(), ActorId::random())
            .unwrap();
    let product = CatalogProduct {
        sku: "ELSEWHERE-1".into(),
        name_zh: "别处的茶".into(),
        unit: "盒".into(),
        price_fen: 2500,
        stock: 5,
        ..Default::default()
    };
    elsewhere.put(&[product], 1).unwrap();
    adopt(&hq, elsewhere.automerge().clone()).unwrap();

    let held = load(&hq).unwrap();
    assert_eq!(
        held.automerge().get_heads(),
        elsewhere.automerge().get_heads(),
        "only the adopted catalog's history is held"
    );
    assert_eq!(skus(&hq), ["ELSEWHERE-1"]);
    let in_tables: String = hq
        .conn
        .query_row(
            "SELECT name_zh FROM products WHERE sku = 'ELSEWHERE-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_tables, "别处的茶");
}

/// A barcode, and a PLU by value, that an import gives to new products are taken from the
/// products the file leaves out, in the document the tills take as in the tables: left on
/// both, every till kept the barcode on whichever product sorted last (the old one here)
/// and sold it at its old price, while headquarters counted the new one.
#[test]
fn codes_an_import_moves_are_moved_in_the_document_tills_take() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), demo::FAIR_TOML, founding).unwrap();
    import_demo(&hq).unwrap();
    let header = demo::CATALOG_CSV.lines().next().unwrap();
    let file = format!(
        "{header}\n\
         AA-GIFT,6935780100128,,礼盒,Gift box,茶叶,盒,30.00,false,433125,保靖县,合作社,,S01,5\n\
         AA-LOOSE,,0010021,散装,Loose,水果,斤,5.00,true,433124,花垣县,合作社,,S02,100\n"
    );
    let rows = parse_catalog("gift.csv", &file).unwrap();
    import_products(&hq, &rows, false).unwrap();

    let products = load(&hq).unwrap().contents().unwrap().products;
    let holding = |code: &dyn Fn(&CatalogProduct) -> bool| -> Vec<String> {
        let held = products.iter().filter(|p| code(p));
        held.map(|p| p.sku.clone()).collect()
    };
    let barcode = |p: &CatalogProduct| p.barcode.as_deref() == Some("6935780100128");
    let plu = |p: &CatalogProduct| p.plu.as_deref().map(plu_value) == Some("10021");
    assert_eq!(holding(&barcode), ["AA-GIFT"]);
    assert_eq!(holding(&plu), ["AA-LOOSE"]);
    let freed = products.iter().find(|p| p.sku == "BJ-HJC-250").unwrap();
    assert_eq!(
        freed.name_zh, "保靖黄金茶 250g",
        "only its barcode is taken"
    );
    let in_tables = |column: &str, value: &str| -> Vec<String> {
        let sql = format!("SELECT sku FROM products WHERE ltrim({column}, '0') = ?1");
        let mut stmt = hq.conn.prepare(&sql).unwrap();
        let skus = stmt.query_map([value], |r| r.get(0)).unwrap();
        skus.collect::<rusqlite::Result<_>>().unwrap()
    };
    assert_eq!(in_tables("barcode", "6935780100128"), ["AA-GIFT"]);
    assert_eq!(in_tables("plu", "10021"), ["AA-LOOSE"]);
}

/// The stock an import states is written with its edit of the document, in one transaction:
/// a row refused there (stock beyond what can be counted with what is sold) left the new
/// price served to every till, and the command said it failed.
#[test]
fn an_import_refused_at_its_stock_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), demo::FAIR_TOML, founding).unwrap();
    import_demo(&hq).unwrap();
    let version = meta(&hq.conn, "catalog_version").unwrap();
    let price = || {
        let products = load(&hq).unwrap().contents().unwrap().products;
        let held = products.into_iter().find(|p| p.sku == "BJ-HJC-250");
        held.unwrap().price_fen
    };
    assert_eq!(price(), 12_800);
    let sold = "INSERT INTO stock_out(sku, qty) VALUES ('BJ-HJC-250', 5)";
    hq.conn.execute(sold, []).unwrap();
    let mut rows = parse_catalog("catalog.csv", demo::CATALOG_CSV).unwrap();
    rows.retain(|r| r.product.sku == "BJ-HJC-250");
    rows[0].product.price = fairpos_domain::Fen(100);
    rows[0].stock = i64::MAX;

    let err = import_products(&hq, &rows, false).unwrap_err();
    assert!(
        err.to_string().contains("beyond what can be counted"),
        "{err}"
    );
    assert_eq!(price(), 12_800, "the document tills take is as it was");
    assert_eq!(meta(&hq.conn, "catalog_version").unwrap(), version);
    let in_tables: i64 = hq
        .conn
        .query_row(
            "SELECT price_fen FROM products WHERE sku = 'BJ-HJC-250'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_tables, 12_800);
}

/// A catalog from before the index of PLUs by value gets it when headquarters opens, not at
/// its next import.
#[test]
fn a_catalog_from_before_the_plu_index_gets_it_at_opening() {
    let dir = tempfile::tempdir().unwrap();
    let founding = Founding::Hq {
        organizer_password: "organizer-pw",
    };
    let hq = Hq::init(dir.path(), demo::FAIR_TOML, founding).unwrap();
    let indexed = |hq: &Hq| -> bool {
        let sql = "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'products_plu_value')";
        hq.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert!(indexed(&hq), "made with the catalog's tables");
    hq.conn
        .execute_batch("DROP INDEX products_plu_value")
        .unwrap();
    drop(hq);
    assert!(indexed(&Hq::open(dir.path()).unwrap()));
}
