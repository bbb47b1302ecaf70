//! The catalog between its two forms: the SQL tables a till sells from, and the shared
//! catalog document headquarters writes (`fairpos_sync::catalog`).

use fairpos_sync::catalog::{
    CatalogContents, CatalogProduct, CatalogSeller, CatalogStall, CatalogUnit,
};
use rusqlite::Connection;

use crate::catalog_csv::CatalogRow;
use crate::domain::catalog::{Product, Stall};
use crate::domain::money::Fen;
use crate::domain::sale::{Seller, Unit};
use crate::error::Result;
use crate::store::catalog;

pub fn product_to_doc(row: &CatalogRow) -> CatalogProduct {
    let p = &row.product;
    CatalogProduct {
        sku: p.sku.clone(),
        barcode: p.barcode.clone(),
        plu: p.plu.clone(),
        name_zh: p.name_zh.clone(),
        name_en: p.name_en.clone(),
        category: p.category.clone(),
        unit: p.unit.clone(),
        price_fen: p.price.0,
        weighed: p.weighed,
        county_code: p.county_code.clone(),
        county_name: p.county_name.clone(),
        supplier: p.supplier.clone(),
        cert_no: p.cert_no.clone(),
        stall: p.stall.clone(),
        stock: row.stock,
    }
}

pub fn product_from_doc(p: &CatalogProduct) -> CatalogRow {
    CatalogRow {
        product: Product {
            sku: p.sku.clone(),
            barcode: p.barcode.clone(),
            plu: p.plu.clone(),
            name_zh: p.name_zh.clone(),
            name_en: p.name_en.clone(),
            category: p.category.clone(),
            unit: p.unit.clone(),
            price: Fen(p.price_fen),
            weighed: p.weighed,
            county_code: p.county_code.clone(),
            county_name: p.county_name.clone(),
            supplier: p.supplier.clone(),
            cert_no: p.cert_no.clone(),
            stall: p.stall.clone(),
        },
        stock: p.stock,
    }
}

pub fn stall_to_doc(s: &Stall) -> CatalogStall {
    CatalogStall {
        id: s.id.clone(),
        name: s.name.clone(),
        team: s.team.clone(),
    }
}

pub fn seller_to_doc(s: &Seller) -> CatalogSeller {
    CatalogSeller {
        id: s.id.clone(),
        name: s.name.clone(),
        team: s.team.clone(),
        stall: s.stall.clone(),
    }
}

pub fn unit_to_doc(u: &Unit) -> CatalogUnit {
    CatalogUnit {
        tax_id: u.tax_id.clone(),
        name: u.name.clone(),
        kind: u.kind.clone(),
    }
}

/// Inserts a product whose SKU is not in the tables yet; returns whether it did.
pub fn insert_new_product(conn: &Connection, p: &CatalogProduct) -> Result<bool> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM products WHERE sku = ?1)",
        [&p.sku],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(false);
    }
    catalog::import(conn, &[product_from_doc(p)])?;
    Ok(true)
}

/// Brings the SQL tables to what the catalog document says. Products already here keep their
/// stock on hand (it moves with sales); new ones start with the document's stock.
pub fn apply(conn: &Connection, contents: &CatalogContents) -> Result<()> {
    let rows: Vec<CatalogRow> = contents.products.iter().map(product_from_doc).collect();
    catalog::import_keeping_stock(conn, &rows)?;
    let stalls: Vec<Stall> = contents
        .stalls
        .iter()
        .map(|s| Stall {
            id: s.id.clone(),
            name: s.name.clone(),
            team: s.team.clone(),
        })
        .collect();
    catalog::import_stalls(conn, &stalls)?;
    let sellers: Vec<Seller> = contents
        .sellers
        .iter()
        .map(|s| Seller {
            id: s.id.clone(),
            name: s.name.clone(),
            team: s.team.clone(),
            stall: s.stall.clone(),
        })
        .collect();
    catalog::import_sellers(conn, &sellers)?;
    let units: Vec<Unit> = contents
        .units
        .iter()
        .map(|u| Unit {
            tax_id: u.tax_id.clone(),
            name: u.name.clone(),
            kind: u.kind.clone(),
        })
        .collect();
    catalog::import_units(conn, &units)?;
    Ok(())
}
