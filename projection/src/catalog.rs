//! The catalog tables of a till and of headquarters: products with stock, stalls, sellers,
//! purchasing units.

use rusqlite::{params, Connection, OptionalExtension, Row};

use fairpos_domain::catalog::{plu_value, Catalog, Product, Stall};
use fairpos_domain::catalog_csv::CatalogRow;
use fairpos_domain::money::Fen;
use fairpos_domain::sale::{Seller, Unit};
use fairpos_sync::catalog::CatalogContents;

use crate::{Error, Result};

const PRODUCT_COLUMNS: &str = "p.sku, p.barcode, p.plu, p.name_zh, p.name_en, p.category, p.unit,
    p.price_fen, p.weighed, p.county_code, p.county_name, p.supplier, p.cert_no, p.stall,
    p.stock_base - COALESCE(o.qty, 0)";

fn product_row(r: &Row) -> rusqlite::Result<CatalogRow> {
    Ok(CatalogRow {
        product: Product {
            sku: r.get(0)?,
            barcode: r.get(1)?,
            plu: r.get(2)?,
            name_zh: r.get(3)?,
            name_en: r.get(4)?,
            category: r.get(5)?,
            unit: r.get(6)?,
            price: Fen(r.get(7)?),
            weighed: r.get(8)?,
            county_code: r.get(9)?,
            county_name: r.get(10)?,
            supplier: r.get(11)?,
            cert_no: r.get(12)?,
            stall: r.get(13)?,
        },
        stock: r.get(14)?,
    })
}

/// Every product with its stock on hand, in catalog order.
pub fn rows(conn: &Connection) -> Result<Vec<CatalogRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p LEFT JOIN stock_out o ON o.sku = p.sku
         ORDER BY p.position"
    ))?;
    let rows = stmt.query_map([], product_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The catalog, indexed for scanning.
pub fn catalog(conn: &Connection) -> Result<Catalog> {
    let products = rows(conn)?.into_iter().map(|r| r.product).collect();
    Ok(Catalog::new(products)?)
}

/// Creates or updates products by SKU. The stock column states the stock on hand now.
pub fn import(conn: &Connection, rows: &[CatalogRow]) -> Result<(usize, usize)> {
    upsert(conn, rows, false)
}

/// Creates or updates products by SKU, but products already here keep their stock on hand
/// (it moves with sales); new ones start with the row's stock. What a catalog document
/// brings to a till.
pub fn import_keeping_stock(conn: &Connection, rows: &[CatalogRow]) -> Result<(usize, usize)> {
    upsert(conn, rows, true)
}

fn upsert(conn: &Connection, rows: &[CatalogRow], keep_stock: bool) -> Result<(usize, usize)> {
    let mut added = 0;
    let mut updated = 0;
    let mut next_position: i64 = conn.query_row(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM products",
        [],
        |r| r.get(0),
    )?;
    for CatalogRow { product: p, stock } in rows {
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM products WHERE sku = ?1)",
            [&p.sku],
            |r| r.get(0),
        )?;
        if exists {
            updated += 1;
        } else {
            added += 1;
        }
        // A product kept with its stock takes nothing of the row's (the statement keeps its
        // own); else the row's stock on hand and what is sold of it make the stock before
        // sales.
        let stock_base = if keep_stock && exists {
            *stock
        } else {
            let out: i64 = conn
                .query_row("SELECT qty FROM stock_out WHERE sku = ?1", [&p.sku], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(0);
            stock.checked_add(out).ok_or_else(|| {
                Error::input(format!(
                    "{}: stock {stock} and {out} sold add up beyond what can be counted",
                    p.sku
                ))
            })?
        };
        // Barcodes and PLUs may move between SKUs in one import: free them first.
        conn.execute(
            "UPDATE products SET barcode = NULL WHERE barcode = ?1 AND sku <> ?2",
            params![p.barcode, p.sku],
        )?;
        conn.prepare_cached(
            "UPDATE products SET plu = NULL WHERE ltrim(plu, '0') = ?1 AND sku <> ?2",
        )?
        .execute(params![p.plu.as_deref().map(plu_value), p.sku])?;
        conn.execute(
            "INSERT INTO products(sku, barcode, plu, name_zh, name_en, category, unit, price_fen,
                                  weighed, county_code, county_name, supplier, cert_no, stall,
                                  stock_base, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT(sku) DO UPDATE SET barcode = excluded.barcode, plu = excluded.plu,
                 name_zh = excluded.name_zh, name_en = excluded.name_en,
                 category = excluded.category, unit = excluded.unit,
                 price_fen = excluded.price_fen, weighed = excluded.weighed,
                 county_code = excluded.county_code, county_name = excluded.county_name,
                 supplier = excluded.supplier, cert_no = excluded.cert_no,
                 stall = excluded.stall,
                 stock_base = CASE WHEN ?17 THEN stock_base ELSE excluded.stock_base END",
            params![
                p.sku,
                p.barcode,
                p.plu,
                p.name_zh,
                p.name_en,
                p.category,
                p.unit,
                p.price.0,
                p.weighed,
                p.county_code,
                p.county_name,
                p.supplier,
                p.cert_no,
                p.stall,
                stock_base,
                next_position,
                keep_stock
            ],
        )?;
        if !exists {
            next_position += 1;
        }
    }
    Ok((added, updated))
}

pub fn import_stalls(conn: &Connection, stalls: &[Stall]) -> Result<()> {
    for s in stalls {
        conn.execute(
            "INSERT INTO stalls(id, name, team) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, team = excluded.team",
            params![s.id, s.name, s.team],
        )?;
    }
    Ok(())
}

pub fn import_sellers(conn: &Connection, sellers: &[Seller]) -> Result<()> {
    for s in sellers {
        conn.execute(
            "INSERT INTO sellers(id, name, team, stall) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, team = excluded.team,
                 stall = excluded.stall",
            params![s.id, s.name, s.team, s.stall],
        )?;
    }
    Ok(())
}

pub fn import_units(conn: &Connection, units: &[Unit]) -> Result<()> {
    for u in units {
        conn.execute(
            "INSERT INTO units(tax_id, name, kind) VALUES (?1, ?2, ?3)
             ON CONFLICT(tax_id) DO UPDATE SET name = excluded.name, kind = excluded.kind",
            params![u.tax_id, u.name, u.kind],
        )?;
    }
    Ok(())
}

/// Whether the fair's stalls hold `id`.
pub fn has_stall(conn: &Connection, id: &str) -> Result<bool> {
    let sql = "SELECT EXISTS(SELECT 1 FROM stalls WHERE id = ?1)";
    Ok(conn.prepare_cached(sql)?.query_row([id], |r| r.get(0))?)
}

pub fn stalls(conn: &Connection) -> Result<Vec<Stall>> {
    let mut stmt = conn.prepare("SELECT id, name, team FROM stalls ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Stall {
            id: r.get(0)?,
            name: r.get(1)?,
            team: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn sellers(conn: &Connection) -> Result<Vec<Seller>> {
    let mut stmt = conn.prepare("SELECT id, name, team, stall FROM sellers ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Seller {
            id: r.get(0)?,
            name: r.get(1)?,
            team: r.get(2)?,
            stall: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn units(conn: &Connection) -> Result<Vec<Unit>> {
    let mut stmt = conn.prepare("SELECT tax_id, name, kind FROM units ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(Unit {
            tax_id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a product whose SKU is not in the tables yet; returns whether it did.
pub fn insert_new_product(conn: &Connection, row: CatalogRow) -> Result<bool> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM products WHERE sku = ?1)",
        [&row.product.sku],
        |r| r.get(0),
    )?;
    if !exists {
        import(conn, &[row])?;
    }
    Ok(!exists)
}

/// Brings the catalog tables to what the fair's catalog document says. Products already
/// here keep their stock on hand (it moves with sales); new ones start with the document's.
pub fn apply_document(conn: &Connection, contents: &CatalogContents) -> Result<()> {
    let rows: Vec<CatalogRow> = contents.products.iter().cloned().map(Into::into).collect();
    import_keeping_stock(conn, &rows)?;
    let stalls: Vec<Stall> = contents.stalls.iter().cloned().map(Into::into).collect();
    import_stalls(conn, &stalls)?;
    let sellers: Vec<Seller> = contents.sellers.iter().cloned().map(Into::into).collect();
    import_sellers(conn, &sellers)?;
    let units: Vec<Unit> = contents.units.iter().cloned().map(Into::into).collect();
    import_units(conn, &units)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stock that, with what is sold of it, cannot be counted in 64 bits is refused by
    /// name, not wrapped into a negative stock that no later read of the catalog survives.
    #[test]
    fn stock_and_sold_beyond_counting_are_refused() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::create_projection(&conn).unwrap();
        conn.execute_batch(crate::schema::CATALOG).unwrap();
        let csv = fairpos_domain::demo::CATALOG_CSV;
        let mut rows = fairpos_domain::catalog_csv::parse_catalog("catalog.csv", csv).unwrap();
        rows.truncate(1);
        let sku = rows[0].product.sku.clone();
        conn.execute(
            "INSERT INTO stock_out(sku, qty) VALUES (?1, ?2)",
            params![sku, i64::MAX - 1],
        )
        .unwrap();
        rows[0].stock = 5;
        let e = import(&conn, &rows).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains("beyond what can be counted"), "{e}");
        rows[0].stock = -5;
        assert_eq!(import(&conn, &rows).unwrap(), (1, 0));
        // Kept with its stock (a catalog document's copy at a till), a product takes nothing
        // of the row's: nothing is added, and nothing refused.
        rows[0].stock = i64::MAX;
        assert_eq!(import_keeping_stock(&conn, &rows).unwrap(), (0, 1));
    }

    /// A PLU moves by value (`010021` is `10021`, which a label carries as `0010021`), and
    /// is taken only from a product still holding it: one given another PLU earlier in the
    /// same import keeps its new one.
    #[test]
    fn a_plu_moves_by_value_and_only_from_its_holder() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::create_projection(&conn).unwrap();
        conn.execute_batch(crate::schema::CATALOG).unwrap();
        let csv = fairpos_domain::demo::CATALOG_CSV;
        let rows = fairpos_domain::catalog_csv::parse_catalog("catalog.csv", csv).unwrap();
        import(&conn, &rows).unwrap();
        let row = |sku: &str, plu: &str| {
            let mut row = rows
                .iter()
                .find(|r| r.product.plu.is_some())
                .unwrap()
                .clone();
            row.product.sku = sku.into();
            row.product.plu = Some(plu.into());
            row
        };
        let plus = || -> Vec<(String, String)> {
            let mut stmt = conn
                .prepare("SELECT sku, plu FROM products WHERE sku IN ('HY-MHT-LB', 'X1', 'X2') AND plu IS NOT NULL ORDER BY sku")
                .unwrap();
            let held = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            held.collect::<rusqlite::Result<_>>().unwrap()
        };
        let held = |plus: &[(&str, &str)]| -> Vec<(String, String)> {
            plus.iter()
                .map(|(sku, plu)| (sku.to_string(), plu.to_string()))
                .collect()
        };
        assert_eq!(plus(), held(&[("HY-MHT-LB", "10021")]));
        import(&conn, &[row("X1", "010021")]).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN UPDATE products SET plu = NULL
                 WHERE ltrim(plu, '0') = '1' AND sku <> 'X'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("products_plu_value"), "by the index: {plan}");
        assert_eq!(plus(), held(&[("X1", "010021")]));
        // X1 given 10099, then X2 given X1's old PLU: X1 keeps 10099.
        import(&conn, &[row("X1", "10099"), row("X2", "10021")]).unwrap();
        assert_eq!(plus(), held(&[("X1", "10099"), ("X2", "10021")]));
        // A database from before held one value twice (`10099`, `0010099`): both freed.
        conn.execute(
            "UPDATE products SET plu = '0010099' WHERE sku = 'HY-MHT-LB'",
            [],
        )
        .unwrap();
        import(&conn, &[row("X2", "10099")]).unwrap();
        assert_eq!(plus(), held(&[("X2", "10099")]));
    }
}
