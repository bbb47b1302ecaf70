//! Products tills added offline, kept from the projection of their record until the catalog
//! holds them. The catalog is a document apart from the projection's tables, so a product's
//! fold into it cannot share the projection's transaction: a process stopped between the two
//! (a SIGKILL, a power cut) left the record projected, never to be new again, and the
//! product out of the catalog for good; so did a projection that folds nothing (`hq bundle
//! import`, `hq postgres project`). Each product is now written here in the transaction
//! that projects its record, and folded by whoever can: the process that projected it (at
//! once, from its pass), `hq bundle import` (into the catalog as stored, `catalog::added`),
//! and `hq serve` as it starts and while it serves (`server::kept_products`). A product is
//! forgotten here once a look finds the catalog as stored holding its SKU. One the catalog
//! cannot take (a till would refuse it) stays: each serving process says why once, and each
//! start and `hq bundle import` again. PostgreSQL keeps them in the same table
//! (`fairpos_postgres::till_added`).

use std::collections::HashSet;

use fairpos_sync::catalog::{foldable, CatalogDoc, CatalogProduct};
use fairpos_sync::record::ProductAddRecord;
use rusqlite::{params, Connection};

use crate::{Error, Result};

/// The table, in a SQLite headquarters' database (a hub's holds none).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS till_added_products (
    record_id TEXT PRIMARY KEY,         -- the product_add record that brought it
    sku       TEXT NOT NULL,
    product   TEXT NOT NULL             -- the product as the record holds it, as JSON
);
";

/// Keeps the product of `record`, a product_add record projected now in `conn`'s transaction,
/// at a headquarters: a hub keeps none, as it folds nothing.
pub(crate) fn keep(conn: &Connection, record: &ProductAddRecord) -> Result<()> {
    let product = serde_json::to_string(&record.product)
        .map_err(|e| Error::Other(format!("a product a till added: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO till_added_products(record_id, sku, product)
         SELECT ?1, ?2, ?3
         WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'role' AND value = 'hub')
         ON CONFLICT(record_id) DO NOTHING",
    )?
    .execute(params![record.header.id, record.product.sku, product])?;
    Ok(())
}

/// The products kept, in the order they were projected: each one's record id and the
/// product as JSON ([`read_all`] reads them).
pub(crate) fn kept(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT record_id, product FROM till_added_products ORDER BY rowid")?;
    let kept = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(kept)
}

/// The records of `kept` ([`kept`]), in its order.
pub fn records(kept: &[(String, String)]) -> Vec<String> {
    kept.iter().map(|(record, _)| record.clone()).collect()
}

/// Forgets the products whose SKU is among `held` (the catalog as stored holds them).
pub(crate) fn forget(conn: &Connection, held: &HashSet<String>) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM till_added_products WHERE sku = ?1")?;
    for sku in held {
        stmt.execute([sku])?;
    }
    Ok(())
}

/// The products of `kept` (from either backend, [`kept`]) read back, in its order.
pub fn read_all(kept: &[(String, String)]) -> Vec<CatalogProduct> {
    kept.iter().filter_map(|(_, json)| read(json)).collect()
}

/// A kept product's JSON read back; one that does not read (written by hand) is logged and
/// left.
fn read(text: &str) -> Option<CatalogProduct> {
    match serde_json::from_str(text) {
        Ok(product) => Some(product),
        Err(e) => {
            eprintln!("catalog: a product a till added does not read ({e}): left out");
            None
        }
    }
}

/// The SKUs of `products` among `skus`.
fn skus_among<'a>(
    products: &[CatalogProduct],
    skus: impl IntoIterator<Item = &'a str>,
) -> HashSet<String> {
    let skus: HashSet<&str> = skus.into_iter().collect();
    products
        .iter()
        .filter(|p| skus.contains(p.sku.as_str()))
        .map(|p| p.sku.clone())
        .collect()
}

/// What folding `products` into a catalog whose products are `held` comes to.
#[derive(Debug)]
pub struct Fold {
    /// The products to put: those a till would take that the catalog lacks by SKU
    /// ([`foldable`]).
    pub new: Vec<CatalogProduct>,
    /// The SKUs of `products` the catalog holds once `new` is put.
    pub held: HashSet<String>,
    /// Why each other new one is left out, in words for the log.
    pub not: Vec<String>,
}

/// The fold of `products` into a catalog whose products are `held`; every fold of products
/// tills added, into the catalog as stored or as served, is reckoned here.
pub fn fold(products: &[CatalogProduct], held: &[CatalogProduct]) -> Fold {
    let (new, not) = foldable(products, held);
    let skus = held.iter().chain(&new).map(|p| p.sku.as_str());
    let held = skus_among(products, skus);
    Fold { new, held, not }
}

/// Of `waiting`, the SKUs the catalog as stored (`stored`, the document of the fair `fair`
/// under `key`; none yet: nothing) holds, to be forgotten, and the products left to fold.
pub fn left_to_fold(
    waiting: Vec<CatalogProduct>,
    stored: Option<automerge::Automerge>,
    key: &str,
    fair: &str,
) -> Result<(HashSet<String>, Vec<CatalogProduct>)> {
    let products = match stored {
        Some(doc) => CatalogDoc::open(key, fair, doc)?.contents()?.products,
        None => Vec::new(),
    };
    let held = skus_among(&waiting, products.iter().map(|p| p.sku.as_str()));
    let rest = waiting
        .into_iter()
        .filter(|p| !held.contains(&p.sku))
        .collect();
    Ok((held, rest))
}
