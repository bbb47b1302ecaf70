//! Products tills added offline, kept from the projection of their record until the catalog
//! holds them, as a SQLite headquarters keeps them (`fairpos_hq::till_added`, which
//! says why): written in the transaction that projects the record, read and forgotten by
//! whoever folds them into the catalog.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use fairpos_sync::record::ProductAddRecord;

use crate::{Error, Pool, Result};

/// Migration 15.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS till_added_products (
    n         BIGINT GENERATED ALWAYS AS IDENTITY,
    record_id TEXT COLLATE \"C\" PRIMARY KEY,
    sku       TEXT COLLATE \"C\" NOT NULL,
    product   TEXT NOT NULL
);
";

/// Keeps the product of `record`, a product_add record projected now in `tx`.
pub(crate) async fn keep(tx: &Transaction<'_>, record: &ProductAddRecord) -> Result<()> {
    let product = serde_json::to_string(&record.product)
        .map_err(|e| Error::Integrity(format!("a product a till added: {e}")))?;
    tx.execute(
        "INSERT INTO till_added_products(record_id, sku, product) VALUES ($1, $2, $3)
         ON CONFLICT (record_id) DO NOTHING",
        &[&record.header.id, &record.product.sku, &product],
    )
    .await?;
    Ok(())
}

/// The products kept, in the order they were projected: each one's record id and the
/// product as JSON (`fairpos_hq::till_added::read_all` reads them).
pub async fn kept(pool: &Pool) -> Result<Vec<(String, String)>> {
    let rows = pool
        .get()
        .await?
        .query(
            "SELECT record_id, product FROM till_added_products ORDER BY n",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Forgets the products whose SKU is among `held` (the catalog as stored holds them).
pub async fn forget(pool: &Pool, held: &HashSet<String>) -> Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let skus: Vec<&str> = held.iter().map(String::as_str).collect();
    pool.get()
        .await?
        .execute(
            "DELETE FROM till_added_products WHERE sku = ANY($1)",
            &[&skus],
        )
        .await?;
    Ok(())
}
