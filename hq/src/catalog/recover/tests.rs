//! A headquarters restored onto a new machine from a backup taken before a price change,
//! and a till's copy of the catalog that holds the change: real SQLite files, real bundles
//! signed with a device's key.

use std::path::Path;

use fairpos_sync::bundle::{BundleDoc, FORMAT};
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::keys;

use super::*;
use crate::catalog::{load, merge_in};
use crate::{backup, bundles::source_of, Founding};

const SKU: &str = "BJ-HJC-100";

fn demo_hq(dir: &Path) -> Hq {
    Hq::init(
        dir,
        fairpos_domain::demo::FAIR_TOML,
        Founding::Hq {
            organizer_password: "organizer-pw",
        },
    )
    .unwrap()
}

/// Enrols `device` with the public key of `secret`, as `enroll` leaves it.
fn enrol(hq: &Hq, device: &str, secret: &str) {
    hq.conn
        .execute(
            "INSERT INTO devices(device, stall, role, public_key) VALUES (?1, 'S01', 'till', ?2)",
            [device, &keys::public_key(secret)],
        )
        .unwrap();
}

/// Sets the product's price in `hq`'s catalog, as `hq catalog import` does.
fn set_price(hq: &Hq, yuan: &str) {
    crate::catalog::set_demo_price(hq, SKU, yuan);
}

fn price_at(hq: &Hq) -> (i64, i64) {
    let in_sql = hq
        .conn
        .query_row(
            "SELECT price_fen FROM products WHERE sku = ?1",
            [SKU],
            |r| r.get(0),
        )
        .unwrap();
    let products: Vec<CatalogProduct> = load(hq).unwrap().entries().unwrap();
    let in_doc = products.iter().find(|p| p.sku == SKU).unwrap().price_fen;
    (in_sql, in_doc)
}

/// What `hq catalog recover` does: the copy examined against headquarters' catalog, and
/// taken unless `dry_run`.
fn recover(hq: &Hq, bundle: &Bundle, dry_run: bool) -> Result<Recovery> {
    let held = load(hq)?;
    let (mut recovery, copy) = examine(hq, &held, bundle, source_of(hq, bundle))?;
    if !dry_run && recovery.changes > 0 {
        merge_in(hq, copy)?;
        recovery.taken = true;
    }
    Ok(recovery)
}

/// A till's catalog bundle, signed with `secret`.
fn catalog_bundle(hq: &Hq, device: &str, secret: &str, bytes: &[u8]) -> Bundle {
    let mut bundle = Bundle {
        format: FORMAT.into(),
        fair: hq.fair.id.clone(),
        source: device.into(),
        created_at: "2026-11-22T18:00:00+08:00".into(),
        docs: vec![BundleDoc::new(key(hq), bytes)],
        signature: String::new(),
    };
    bundle.sign(secret);
    bundle
}

/// Noon: ¥10.00, backed up. Afternoon: ¥11.00, which T01 syncs (its copy). Evening: the disk
/// is lost, and noon's backup restored onto a new machine. Returns it and T01's copy.
fn restored_without_the_afternoon(dir: &Path, secret: &str) -> (Hq, Vec<u8>) {
    let first = demo_hq(&dir.join("hq"));
    enrol(&first, "T01", secret);
    set_price(&first, "10.00");
    let noon = dir.join("noon.db");
    backup::backup(&first.dir, &noon, |_| {}).unwrap();
    set_price(&first, "11.00");
    let till_copy = load(&first).unwrap().save();
    drop(first);
    std::fs::remove_dir_all(dir.join("hq")).unwrap();
    backup::restore(&dir.join("new-machine"), &noon, |_| {}).unwrap();
    (Hq::open(&dir.join("new-machine")).unwrap(), till_copy)
}

#[test]
fn a_price_change_the_restore_lost_is_taken_back_from_a_tills_copy() {
    let dir = tempfile::tempdir().unwrap();
    let secret = keys::new_secret();
    let (hq, till_copy) = restored_without_the_afternoon(dir.path(), &secret);
    assert_eq!(price_at(&hq), (1000, 1000), "noon's price");
    let bundle = catalog_bundle(&hq, "T01", &secret, &till_copy);

    let shown = recover(&hq, &bundle, true).unwrap();
    assert_eq!((shown.changes, shown.taken), (1, false));
    assert_eq!(
        shown.changed,
        [Changed {
            section: "products".into(),
            id: SKU.into(),
            fields: vec![("price_fen".into(), 1000.into(), 1100.into())],
        }]
    );
    assert_eq!(price_at(&hq), (1000, 1000), "a dry run takes nothing");

    let taken = recover(&hq, &bundle, false).unwrap();
    assert_eq!((taken.changes, taken.taken), (1, true));
    assert_eq!(price_at(&hq), (1100, 1100));
    // Headquarters now holds the change: a price set after it wins at every till, and the
    // same copy brings nothing more.
    set_price(&hq, "12.00");
    assert_eq!(price_at(&hq), (1200, 1200));
    let again = recover(&hq, &bundle, false).unwrap_err();
    assert!(
        again
            .to_string()
            .contains("lacks 1 of headquarters' latest"),
        "{again}"
    );
}

#[test]
fn a_copy_synced_since_the_restore_brings_the_lost_change_beside_the_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let secret = keys::new_secret();
    let (hq, till_copy) = restored_without_the_afternoon(dir.path(), &secret);
    // The evening: headquarters sets another product's stall; T01 syncs and merges it in.
    let mut rows = fairpos_domain::catalog_csv::parse_catalog(
        "catalog.csv",
        fairpos_domain::demo::CATALOG_CSV,
    )
    .unwrap();
    rows.retain(|r| r.product.sku != SKU);
    rows.truncate(1);
    crate::catalog::import_products(&hq, &rows, false).unwrap();
    let stale = catalog_bundle(&hq, "T01", &secret, &till_copy);
    let refused = recover(&hq, &stale, true).unwrap_err();
    assert!(refused.is_bad_input(), "{refused}");
    assert!(
        refused.to_string().contains("sync it with headquarters"),
        "{refused}"
    );

    let mut synced = automerge::Automerge::load(&till_copy).unwrap();
    synced
        .merge(&mut load(&hq).unwrap().automerge().clone())
        .unwrap();
    let bundle = catalog_bundle(&hq, "T01", &secret, &synced.save());
    let taken = recover(&hq, &bundle, false).unwrap();
    assert_eq!(taken.changes, 1);
    assert_eq!(taken.changed.len(), 1, "{:?}", taken.changed);
    assert_eq!(price_at(&hq), (1100, 1100));
}

#[test]
fn only_an_enrolled_devices_signed_catalog_of_this_fair_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let secret = keys::new_secret();
    let (hq, till_copy) = restored_without_the_afternoon(dir.path(), &secret);
    let refused = |bundle: &Bundle, why: &str| {
        let e = recover(&hq, bundle, true).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    };
    // Signed by another key, or by a device headquarters does not know.
    refused(
        &catalog_bundle(&hq, "T01", &keys::new_secret(), &till_copy),
        "signature does not verify",
    );
    refused(
        &catalog_bundle(&hq, "T09", &secret, &till_copy),
        "not an enrolled device",
    );
    // A ledger bundle, or a catalog with its signature intact but an edit after it.
    let mut ledger = catalog_bundle(&hq, "T01", &secret, &till_copy);
    ledger.docs[0].key = format!("ledger/{}/T01/2026-11-22", hq.fair.id);
    ledger.sign(&secret);
    refused(&ledger, "is not a copy of the catalog");
    let mut edited = catalog_bundle(&hq, "T01", &secret, &till_copy);
    edited.docs[0] = BundleDoc::new(key(&hq), b"not a catalog");
    refused(&edited, "signature does not verify");
    let mut garbage = edited.clone();
    garbage.sign(&secret);
    refused(&garbage, "T01's catalog");
    // A revoked till.
    hq.conn
        .execute(
            "UPDATE devices SET revoked_at = 'now' WHERE device = 'T01'",
            [],
        )
        .unwrap();
    refused(
        &catalog_bundle(&hq, "T01", &secret, &till_copy),
        "not an enrolled device",
    );
    assert_eq!(price_at(&hq), (1000, 1000), "nothing taken");
}

/// Whatever the copy's extra changes do is listed, not only the fields of entries a till
/// would show: an entry removed, a field headquarters never writes, a field of the document
/// itself. A hub's copy is listed as a till's.
#[test]
fn everything_a_copy_would_change_is_listed() {
    use automerge::transaction::Transactable;
    let dir = tempfile::tempdir().unwrap();
    let secret = keys::new_secret();
    let (hq, till_copy) = restored_without_the_afternoon(dir.path(), &secret);
    let mut doc = automerge::Automerge::load(&till_copy).unwrap();
    let mut tx = doc.transaction();
    let (_, products) = tx.get(automerge::ROOT, "products").unwrap().unwrap();
    let (_, entry) = tx.get(&products, SKU).unwrap().unwrap();
    tx.put(&entry, "note", "\u{1b}[2Kcheaper").unwrap();
    tx.put(automerge::ROOT, "extra", 1_i64).unwrap();
    tx.commit();
    let bundle = catalog_bundle(&hq, "T01", &secret, &doc.save());
    let shown = recover(&hq, &bundle, true).unwrap();
    assert_eq!(shown.changes, 2);
    let product = &shown.changed[0];
    assert_eq!(
        (product.section.as_str(), product.id.as_str()),
        ("products", SKU)
    );
    let fields: Vec<&str> = product.fields.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(fields, ["note", "price_fen"]);
    assert_eq!(shown.changed[1].section, "catalog");
    assert_eq!(shown.changed[1].fields[0].0, "extra");

    let mut tx = doc.transaction();
    tx.delete(&products, SKU).unwrap();
    tx.commit();
    let bundle = catalog_bundle(&hq, "T01", &secret, &doc.save());
    let shown = recover(&hq, &bundle, true).unwrap();
    let removed = shown.changed.iter().find(|c| c.id == SKU).unwrap();
    assert!(
        removed.fields.iter().all(|(_, _, after)| after.is_null()),
        "{removed:?}"
    );
    assert!(removed
        .fields
        .iter()
        .any(|(f, before, _)| f == "price_fen" && before == 1000));

    // A hub's copy is examined as a till's is.
    hq.conn
        .execute("UPDATE devices SET role = 'hub' WHERE device = 'T01'", [])
        .unwrap();
    let from_a_hub = recover(&hq, &bundle, true).unwrap();
    assert_eq!(from_a_hub.changed, shown.changed);
}

/// What JSON would show as the value before (a counter or a timestamp as a number, a text as
/// a string, a table as a map) but tills would read otherwise is refused: a till of an earlier
/// build reads a price written as a counter as no price.
#[test]
fn a_copy_that_writes_what_headquarters_never_writes_is_refused() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ScalarValue};
    let dir = tempfile::tempdir().unwrap();
    let secret = keys::new_secret();
    let (hq, till_copy) = restored_without_the_afternoon(dir.path(), &secret);
    let forged = |forge: &dyn Fn(&mut automerge::transaction::Transaction, &automerge::ObjId)| {
        let mut doc = automerge::Automerge::load(&till_copy).unwrap();
        let mut tx = doc.transaction();
        let (_, products) = tx.get(automerge::ROOT, "products").unwrap().unwrap();
        let (_, entry) = tx.get(&products, SKU).unwrap().unwrap();
        forge(&mut tx, &entry);
        tx.commit();
        catalog_bundle(&hq, "T01", &secret, &doc.save())
    };
    for (bundle, why) in [
        (
            forged(&|tx, entry| {
                tx.put(entry, "price_fen", ScalarValue::counter(1100))
                    .unwrap();
            }),
            "writes a counter into products BJ-HJC-100 price_fen",
        ),
        (
            forged(&|tx, entry| {
                let text = tx.put_object(entry, "name_zh", ObjType::Text).unwrap();
                tx.splice_text(&text, 0, 0, "保靖黄金茶").unwrap();
            }),
            "writes a text into products BJ-HJC-100 name_zh",
        ),
        (
            forged(&|tx, entry| {
                tx.put(entry, "price_fen", ScalarValue::Null).unwrap();
            }),
            "would leave the catalog unreadable",
        ),
        (
            forged(&|tx, entry| {
                tx.put(entry, "name_zh", "长".repeat(301)).unwrap();
            }),
            "`name_zh` is 301 characters; a till takes at most 300",
        ),
    ] {
        let e = recover(&hq, &bundle, true).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
    assert_eq!(price_at(&hq), (1000, 1000));
}
