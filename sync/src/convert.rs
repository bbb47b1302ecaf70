//! Domain values written as wire types, and wire types read back as domain values. The wire
//! types freeze once tills are in the field; the domain's are free to change. Every field of
//! a product, stall, seller, unit and sale crosses here, in one place.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use fairpos_domain::catalog::Stall;
use fairpos_domain::catalog_csv::CatalogRow;
use fairpos_domain::refund::RefundLine;
use fairpos_domain::sale::{Buyer, Sale, Seller, Unit};
use fairpos_domain::Fen;

use crate::catalog::{CatalogProduct, CatalogSeller, CatalogStall, CatalogUnit};
use crate::record::{Header, LineRecord, PaymentRecord, RefundLineRecord, SaleRecord, UnitRef};

impl From<&CatalogRow> for CatalogProduct {
    fn from(row: &CatalogRow) -> CatalogProduct {
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
}

impl From<CatalogProduct> for CatalogRow {
    fn from(p: CatalogProduct) -> CatalogRow {
        CatalogRow {
            product: fairpos_domain::catalog::Product {
                sku: p.sku,
                barcode: p.barcode,
                plu: p.plu,
                name_zh: p.name_zh,
                name_en: p.name_en,
                category: p.category,
                unit: p.unit,
                price: Fen(p.price_fen),
                weighed: p.weighed,
                county_code: p.county_code,
                county_name: p.county_name,
                supplier: p.supplier,
                cert_no: p.cert_no,
                stall: p.stall,
            },
            stock: p.stock,
        }
    }
}

impl From<&Stall> for CatalogStall {
    fn from(s: &Stall) -> CatalogStall {
        CatalogStall {
            id: s.id.clone(),
            name: s.name.clone(),
            team: s.team.clone(),
        }
    }
}

impl From<CatalogStall> for Stall {
    fn from(s: CatalogStall) -> Stall {
        Stall {
            id: s.id,
            name: s.name,
            team: s.team,
        }
    }
}

impl From<&Seller> for CatalogSeller {
    fn from(s: &Seller) -> CatalogSeller {
        CatalogSeller {
            id: s.id.clone(),
            name: s.name.clone(),
            team: s.team.clone(),
            stall: s.stall.clone(),
        }
    }
}

impl From<CatalogSeller> for Seller {
    fn from(s: CatalogSeller) -> Seller {
        Seller {
            id: s.id,
            name: s.name,
            team: s.team,
            stall: s.stall,
        }
    }
}

impl From<&Unit> for CatalogUnit {
    fn from(u: &Unit) -> CatalogUnit {
        CatalogUnit {
            tax_id: u.tax_id.clone(),
            name: u.name.clone(),
            kind: u.kind.clone(),
        }
    }
}

impl From<CatalogUnit> for Unit {
    fn from(u: CatalogUnit) -> Unit {
        Unit {
            tax_id: u.tax_id,
            name: u.name,
            kind: u.kind,
        }
    }
}

/// A record time as written: RFC 3339 at the fair's offset, whole seconds.
pub fn time_text(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub fn header(id: String, device: &str, seq: u64, at: &DateTime<FixedOffset>) -> Header {
    Header {
        id,
        device: device.to_string(),
        seq,
        at: time_text(at),
    }
}

/// A completed sale as its ledger record, the till's `record_seq`th record.
pub fn sale_record(sale: &Sale, record_seq: u64) -> SaleRecord {
    let c = &sale.context;
    SaleRecord {
        header: header(c.id.clone(), &c.device, record_seq, &c.at),
        number: sale.number.to_string(),
        sale_seq: c.seq,
        shift: c.shift.clone(),
        stall: c.stall.clone(),
        seller: c.seller.id.clone(),
        seller_name: c.seller.name.clone(),
        team: c.seller.team.clone(),
        unit: match &c.buyer {
            Buyer::Individual => None,
            Buyer::Unit(u) => Some(UnitRef {
                tax_id: u.tax_id.clone(),
                name: u.name.clone(),
            }),
        },
        lines: sale
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let p = &l.product;
                LineRecord {
                    line: i as u32 + 1,
                    sku: p.sku.clone(),
                    name_zh: p.name_zh.clone(),
                    name_en: p.name_en.clone(),
                    category: p.category.clone(),
                    unit: p.unit.clone(),
                    weighed: p.weighed,
                    qty: l.qty,
                    unit_price_fen: p.price.0,
                    amount_fen: l.amount.0,
                    county_code: p.county_code.clone(),
                    county_name: p.county_name.clone(),
                    product_stall: p.stall.clone(),
                    supplier: p.supplier.clone(),
                    cert_no: p.cert_no.clone(),
                }
            })
            .collect(),
        payments: sale
            .payments
            .iter()
            .map(|p| PaymentRecord {
                method: p.method.as_str().to_string(),
                amount_fen: p.amount.0,
                tendered_fen: p.tendered.0,
            })
            .collect(),
        total_fen: sale.total.0,
        change_fen: sale.change.0,
        oversold: sale.oversold.clone(),
    }
}

pub fn refund_lines(lines: &[RefundLine]) -> Vec<RefundLineRecord> {
    lines
        .iter()
        .map(|l| RefundLineRecord {
            line: l.line,
            sku: l.sku.clone(),
            qty: l.qty,
            amount_fen: l.amount.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_crosses_to_the_wire_and_back_unchanged() {
        let rows = fairpos_domain::catalog_csv::parse_catalog(
            "catalog.csv",
            fairpos_domain::demo::CATALOG_CSV,
        )
        .unwrap();
        for row in rows {
            let wire = CatalogProduct::from(&row);
            assert_eq!(CatalogRow::from(wire), row);
        }
    }
}
