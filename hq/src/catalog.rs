//! The fair's catalog at headquarters: one Automerge document in samod's storage (so the
//! server serves it to tills), and the SQL catalog tables reports read. Edits made from the
//! command line are appended as change chunks and bump `catalog_version`, which a running
//! server watches and merges into the document it serves.

use std::collections::HashSet;

use fairpos_domain::catalog::{plu_value, MOST_ENTRIES};
use fairpos_domain::catalog_csv::{parse_catalog, parse_sellers, parse_stalls, parse_units};
use fairpos_domain::demo;
use fairpos_sync::catalog::{
    CatalogDoc, CatalogProduct, CatalogSeller, CatalogStall, CatalogUnit, Entry,
};
use fairpos_sync::ids::{catalog_key, document_id};
use fairpos_sync::ledger::heads_text;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::{load_document, put_chunk};
use fairpos_sync::ActorId;
use rusqlite::{params, Connection};

use crate::{meta, now_text, set_meta, Hq};
use crate::{Error, Result};
use fairpos_domain::catalog_csv::CatalogRow;

pub mod added;
mod recover;
pub(crate) use recover::examine;
pub use recover::{export_hub_copy, largest_copy, Changed, Recovery};

pub fn key(hq: &Hq) -> String {
    catalog_key(&hq.fair.id)
}

pub fn doc_id(hq: &Hq) -> DocumentId {
    document_id(&key(hq))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The actor an edit of the catalog is written with: a new one each time. Automerge numbers
/// an actor's changes one after another, and refuses a second change under a number it
/// holds already. An actor kept for the data directory would, once its database was
/// restored from a backup (`hq restore`, `pg_restore`), number its next edit as one the
/// tills hold from before the restore, and the catalog would reach them no more.
fn edit_actor() -> ActorId {
    ActorId::random()
}

/// The genesis of the catalog document, made once at `hq init`.
pub fn create(hq: &Hq) -> Result<()> {
    let key = key(hq);
    let id = doc_id(hq);
    let doc = CatalogDoc::create(&key, &hq.fair.id, edit_actor())?;
    put_chunk(&hq.conn, &id, "snapshot", "genesis", &doc.save())?;
    register(&hq.conn, &id, &key, &doc)?;
    Ok(())
}

fn register(conn: &Connection, id: &DocumentId, key: &str, doc: &CatalogDoc) -> Result<()> {
    conn.execute(
        "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
         VALUES (?1, ?2, NULL, ?3, 0, ?4)
         ON CONFLICT(doc_id) DO UPDATE SET heads = excluded.heads, updated_at = excluded.updated_at",
        params![
            id.to_string(),
            key,
            heads_text(&doc.automerge().get_heads()),
            now_text()
        ],
    )?;
    Ok(())
}

/// The catalog document as stored.
pub fn load(hq: &Hq) -> Result<CatalogDoc> {
    let id = doc_id(hq);
    let doc = load_document(&hq.conn, &id)?
        .ok_or_else(|| Error::Integrity("the catalog document is missing".into()))?;
    Ok(CatalogDoc::open(&key(hq), &hq.fair.id, doc)?)
}

/// Stores a catalog document received whole (a hub at enrolment).
pub fn store_whole(hq: &Hq, bytes: &[u8]) -> Result<()> {
    let doc = CatalogDoc::load(&key(hq), &hq.fair.id, bytes)?;
    store_snapshot(&hq.conn, hq, "enrolment", &doc, bytes)
}

/// Stores `doc` (saved: `bytes`) as a snapshot chunk named `name`, registers it, and brings
/// the SQL tables to it.
fn store_snapshot(
    conn: &Connection,
    hq: &Hq,
    name: &str,
    doc: &CatalogDoc,
    bytes: &[u8],
) -> Result<()> {
    put_chunk(conn, &doc_id(hq), "snapshot", name, bytes)?;
    register(conn, &doc_id(hq), &key(hq), doc)?;
    fairpos_projection::catalog::apply_document(conn, &doc.contents()?)?;
    Ok(())
}

/// Edits the catalog document as headquarters, stores the new changes, and brings the SQL
/// tables along.
pub fn edit(hq: &Hq, f: impl FnOnce(&mut CatalogDoc, i64) -> Result<()>) -> Result<()> {
    edit_then(hq, f, |_| Ok(()))
}

/// As [`edit`], and `then` writes the tables further in the same transaction: the edit is
/// stored, served to tills and counted in the tables together with it, or not at all.
fn edit_then(
    hq: &Hq,
    f: impl FnOnce(&mut CatalogDoc, i64) -> Result<()>,
    then: impl FnOnce(&Connection) -> Result<()>,
) -> Result<()> {
    let mut doc = load(hq)?;
    doc.set_actor(edit_actor());
    let before = doc.automerge().get_heads();
    f(&mut doc, now_ms())?;
    let id = doc_id(hq);
    let tx =
        rusqlite::Transaction::new_unchecked(&hq.conn, rusqlite::TransactionBehavior::Immediate)?;
    for change in doc.automerge().get_changes(&before) {
        put_chunk(
            &tx,
            &id,
            "incremental",
            &change.hash().to_string(),
            change.raw_bytes(),
        )?;
    }
    register(&tx, &id, &key(hq), &doc)?;
    fairpos_projection::catalog::apply_document(&tx, &doc.contents()?)?;
    then(&tx)?;
    let version: i64 = meta(&tx, "catalog_version")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    set_meta(&tx, "catalog_version", &(version + 1).to_string())?;
    tx.commit()?;
    Ok(())
}

/// As [`edit`], refused (nothing changed) when it would take a section of the catalog past
/// `most` entries (`MOST_ENTRIES` but in tests), or one past it already further: every till
/// would refuse the catalog, keep the one it has, and take no price or product headquarters
/// changes afterwards. What an entry holds is bounded where it is read (`Product::validate`,
/// the CSV imports); the sections are counted, not walked, so that an import of a few rows
/// into a province's catalog costs no more than it did.
fn edit_for_tills(
    hq: &Hq,
    most: usize,
    f: impl FnOnce(&mut CatalogDoc, i64) -> Result<()>,
) -> Result<()> {
    edit_for_tills_then(hq, most, f, |_| Ok(()))
}

/// [`edit_for_tills`] with [`edit_then`]'s `then`.
fn edit_for_tills_then(
    hq: &Hq,
    most: usize,
    f: impl FnOnce(&mut CatalogDoc, i64) -> Result<()>,
    then: impl FnOnce(&Connection) -> Result<()>,
) -> Result<()> {
    let within = |doc: &mut CatalogDoc, at| {
        let before = doc.entries_by_section()?;
        f(doc, at)?;
        for ((section, was), (_, now)) in before.into_iter().zip(doc.entries_by_section()?) {
            if now > most && now > was {
                return Err(Error::input(format!(
                    "the catalog would hold {now} {section}, and a till takes at most {most}: \
                     nothing was imported"
                )));
            }
        }
        Ok(())
    };
    edit_then(hq, within, then)
}

pub fn import_products(hq: &Hq, rows: &[CatalogRow], keep_stock: bool) -> Result<()> {
    import_products_within(hq, rows, keep_stock, MOST_ENTRIES)
}

fn import_products_within(
    hq: &Hq,
    rows: &[CatalogRow],
    keep_stock: bool,
    most: usize,
) -> Result<()> {
    let products: Vec<CatalogProduct> = rows.iter().map(Into::into).collect();
    let put = |doc: &mut CatalogDoc, at| {
        let mut edited = codes_freed(doc.entries()?, &products);
        edited.extend(products.iter().cloned());
        doc.put(&edited, at)?;
        Ok(())
    };
    // The stock column states stock on hand, as at a till; without it (`keep_stock`), the
    // products held keep theirs as the tables count it at the write.
    let stock = |conn: &Connection| {
        if keep_stock {
            fairpos_projection::catalog::import_keeping_stock(conn, rows)?;
        } else {
            fairpos_projection::catalog::import(conn, rows)?;
        }
        Ok(())
    };
    edit_for_tills_then(hq, most, put, stock)
}

/// The products `held` that `file` leaves out and whose barcode or PLU (by value) a product
/// of `file` takes, without that code: an import moves a code ([`codes_taken`] says so).
/// Left on both in the document, every till kept it on whichever sorted last, and scanning
/// it sold the old product at its old price.
///
/// [`codes_taken`]: fairpos_domain::catalog_csv::codes_taken
fn codes_freed(held: Vec<CatalogProduct>, file: &[CatalogProduct]) -> Vec<CatalogProduct> {
    let in_file: HashSet<&str> = file.iter().map(|p| p.sku.as_str()).collect();
    let barcodes: HashSet<&str> = file.iter().filter_map(|p| p.barcode.as_deref()).collect();
    let plus: HashSet<&str> = file
        .iter()
        .filter_map(|p| p.plu.as_deref().map(plu_value))
        .collect();
    let mut freed = Vec::new();
    for mut product in held {
        if in_file.contains(product.sku.as_str()) {
            continue;
        }
        let barcode = product.barcode.take_if(|b| barcodes.contains(b.as_str()));
        let plu = product.plu.take_if(|p| plus.contains(plu_value(p)));
        if barcode.is_some() || plu.is_some() {
            freed.push(product);
        }
    }
    freed
}

/// Makes `stored`, the catalog as the database this data directory joins holds it, the data
/// directory's: its own catalog (the genesis `hq init` just made) is dropped, not merged. A
/// database made by a build whose genesis was not the fair's ([`CatalogDoc::create`]) would
/// otherwise hold two geneses, whose section maps hide each other's.
pub fn adopt(hq: &Hq, stored: automerge::Automerge) -> Result<()> {
    let (id, key) = (doc_id(hq), key(hq));
    let doc = CatalogDoc::open(&key, &hq.fair.id, stored)?;
    let (from, to) = fairpos_sync::samod_storage::document_bounds(&id);
    let tx =
        rusqlite::Transaction::new_unchecked(&hq.conn, rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM samod_kv WHERE key > ?1 AND key < ?2",
        params![from, to],
    )?;
    store_snapshot(&tx, hq, "adopted", &doc, &doc.save())?;
    tx.commit()?;
    Ok(())
}

/// Merges `stored`, the catalog as another copy holds it (the database several data
/// directories share), into the data directory's, changes new to it stored as edits are: what
/// is edited here afterwards follows every edit made there, instead of racing it.
pub fn merge_in(hq: &Hq, mut stored: automerge::Automerge) -> Result<()> {
    edit(hq, |doc, _| {
        doc.automerge_mut()
            .merge(&mut stored)
            .map_err(|e| Error::Integrity(format!("merging the stored catalog: {e}")))?;
        Ok(())
    })
}

/// Why tills refuse the fair's catalog as this data directory holds it (one kept from before
/// the bounds, or made by hand), or `None`: `hq serve` says so as it starts.
pub fn why_tills_refuse(hq: &Hq) -> Result<Option<String>> {
    Ok(load(hq)?.why_a_till_refuses()?)
}

/// Says on stderr why tills refuse the fair's catalog, if they do, as `hq serve` starts: a
/// warning whatever it finds (a catalog that cannot be read included), since serving does
/// not depend on it.
pub fn warn_if_tills_refuse(hq: &Hq) {
    match why_tills_refuse(hq) {
        Ok(None) => {}
        Ok(Some(why)) => eprintln!(
            "warning: tills refuse the fair's catalog ({why}) and keep the one they have; \
             mend it with `hq catalog import`"
        ),
        Err(e) => eprintln!("warning: the fair's catalog could not be checked: {e}"),
    }
}

/// Creates or updates stalls, sellers or units in the catalog document (refused as
/// [`edit_for_tills`] is).
pub fn import<E: Entry>(hq: &Hq, entries: &[E]) -> Result<()> {
    edit_for_tills(hq, MOST_ENTRIES, |doc, at| {
        doc.put(entries, at)?;
        Ok(())
    })
}

/// The demo fair's catalog, stalls, sellers and units (`fairpos hq init --demo`), in one
/// edit.
pub fn import_demo(hq: &Hq) -> Result<()> {
    let rows = parse_catalog("catalog.csv", demo::CATALOG_CSV)?;
    let products: Vec<CatalogProduct> = rows.iter().map(Into::into).collect();
    let stalls = wire::<_, CatalogStall>(&parse_stalls("stalls.csv", demo::STALLS_CSV)?);
    let sellers = wire::<_, CatalogSeller>(&parse_sellers("sellers.csv", demo::SELLERS_CSV)?);
    let units = wire::<_, CatalogUnit>(&parse_units("units.csv", demo::UNITS_CSV)?);
    edit(hq, |doc, at| {
        doc.put(&products, at)?;
        doc.put(&stalls, at)?;
        doc.put(&sellers, at)?;
        doc.put(&units, at)?;
        Ok(())
    })?;
    fairpos_projection::catalog::import(&hq.conn, &rows)?;
    Ok(())
}

/// Domain values as the catalog document's entries.
pub fn wire<'a, T: 'a, E>(rows: &'a [T]) -> Vec<E>
where
    &'a T: Into<E>,
{
    rows.iter().map(Into::into).collect()
}

/// Sets `sku`'s price in `hq`'s catalog to `yuan`, as `hq catalog import` of the demo
/// catalog's row with that price does (for tests).
#[cfg(test)]
pub(crate) fn set_demo_price(hq: &Hq, sku: &str, yuan: &str) {
    let mut rows = parse_catalog("catalog.csv", demo::CATALOG_CSV).unwrap();
    rows.retain(|r| r.product.sku == sku);
    rows[0].product.price = fairpos_domain::Fen::parse_yuan(yuan).unwrap();
    import_products(hq, &rows, false).unwrap();
}

#[cfg(test)]
mod tests;
