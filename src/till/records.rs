//! Domain values written as ledger records (the wire format of `fairpos_sync::record`).

use chrono::{DateTime, FixedOffset, SecondsFormat};
use fairpos_sync::record::{
    Header, LineRecord, PaymentRecord, RefundLineRecord, SaleRecord, UnitRef,
};

use crate::domain::refund::RefundLine;
use crate::domain::sale::{Buyer, Sale};

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

pub fn sale_record(sale: &Sale, record_seq: u64) -> SaleRecord {
    let c = &sale.context;
    SaleRecord {
        header: header(c.id.clone(), &c.device, record_seq, &c.at),
        number: sale.number.clone(),
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
