//! JSON shapes printed by `--json`. Amounts are integer fen.

use serde::Serialize;

use fairpos_domain::catalog::Product;
use fairpos_domain::catalog_csv::CatalogRow;
use fairpos_domain::sale::{Buyer, Sale};
use fairpos_projection::queries::SaleSummary;
use fairpos_sync::convert::time_text;

use crate::till::{Refunded, ShiftClosed, Till};

#[derive(Serialize)]
pub struct SaleView {
    pub sale: String,
    pub id: String,
    pub at: String,
    pub seller: String,
    pub team: String,
    pub unit: Option<String>,
    pub total_fen: i64,
    pub change_fen: i64,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentView>,
    pub oversold: Vec<String>,
}

#[derive(Serialize)]
pub struct LineView {
    pub line: usize,
    pub sku: String,
    pub name_zh: String,
    /// Pieces, or grams when weighed.
    pub qty: i64,
    pub weighed: bool,
    pub unit: String,
    pub unit_price_fen: i64,
    pub amount_fen: i64,
}

#[derive(Serialize)]
pub struct PaymentView {
    pub method: &'static str,
    pub amount_fen: i64,
    pub tendered_fen: i64,
}

impl SaleView {
    pub fn new(sale: &Sale) -> SaleView {
        SaleView {
            sale: sale.number.to_string(),
            id: sale.context.id.clone(),
            at: time_text(&sale.context.at),
            seller: sale.context.seller.id.clone(),
            team: sale.context.seller.team.clone(),
            unit: match &sale.context.buyer {
                Buyer::Individual => None,
                Buyer::Unit(u) => Some(u.tax_id.clone()),
            },
            total_fen: sale.total.0,
            change_fen: sale.change.0,
            lines: sale
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| LineView {
                    line: i + 1,
                    sku: l.product.sku.clone(),
                    name_zh: l.product.name_zh.clone(),
                    qty: l.qty,
                    weighed: l.product.weighed,
                    unit: l.product.unit.clone(),
                    unit_price_fen: l.product.price.0,
                    amount_fen: l.amount.0,
                })
                .collect(),
            payments: sale
                .payments
                .iter()
                .map(|p| PaymentView {
                    method: p.method.as_str(),
                    amount_fen: p.amount.0,
                    tendered_fen: p.tendered.0,
                })
                .collect(),
            oversold: sale.oversold.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct SaleListView {
    pub sale: String,
    pub id: String,
    pub at: String,
    pub seller: String,
    pub team: String,
    pub unit: Option<String>,
    pub total_fen: i64,
    pub change_fen: i64,
    pub refunded_fen: i64,
    pub status: &'static str,
    pub oversold: bool,
}

impl SaleListView {
    pub fn new(s: &SaleSummary) -> SaleListView {
        SaleListView {
            sale: s.number.clone(),
            id: s.id.clone(),
            at: s.at.clone(),
            seller: s.seller.clone(),
            team: s.team.clone(),
            unit: s.unit_tax_id.clone(),
            total_fen: s.total.0,
            change_fen: s.change.0,
            refunded_fen: s.refunded.0,
            status: s.status(),
            oversold: s.oversold,
        }
    }
}

/// A product with its stock on hand, for `catalog list --json`.
#[derive(Serialize)]
pub struct ProductView<'a> {
    #[serde(flatten)]
    pub product: &'a Product,
    /// Stock on hand in the product's unit (pieces; 斤 or kg with decimals when weighed).
    pub stock: serde_json::Number,
    /// Stock in pieces, or grams when weighed.
    pub stock_base: i64,
}

impl ProductView<'_> {
    pub fn new(row: &CatalogRow) -> ProductView<'_> {
        let p = &row.product;
        let stock_text = p.units_text(row.stock);
        let stock = stock_text
            .parse::<i64>()
            .map(serde_json::Number::from)
            .ok()
            .or_else(|| {
                stock_text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
            })
            .unwrap_or_else(|| serde_json::Number::from(0));
        ProductView {
            product: p,
            stock,
            stock_base: row.stock,
        }
    }
}

#[derive(Serialize)]
pub struct CloseView {
    pub expected_fen: i64,
    pub counted_fen: i64,
    pub variance_fen: i64,
    pub last_sale: Option<String>,
    /// The shift slip's signed text, as its QR code carries it.
    pub slip: String,
}

impl CloseView {
    pub fn new(c: &ShiftClosed) -> CloseView {
        CloseView {
            expected_fen: c.closing.expected.0,
            counted_fen: c.closing.counted.0,
            variance_fen: c.closing.variance.0,
            last_sale: c.last_sale.clone(),
            slip: c.slip_text.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct RefundView {
    pub refund: String,
    pub sale: String,
    pub method: &'static str,
    pub amount_fen: i64,
    pub lines: Vec<RefundLineView>,
}

#[derive(Serialize)]
pub struct RefundLineView {
    pub line: u32,
    pub sku: String,
    pub qty: i64,
    pub amount_fen: i64,
}

impl RefundView {
    pub fn new(r: &Refunded) -> RefundView {
        RefundView {
            refund: r.number.clone(),
            sale: r.sale_number.clone(),
            method: r.method.as_str(),
            amount_fen: r.amount.0,
            lines: r
                .lines
                .iter()
                .map(|l| RefundLineView {
                    line: l.line,
                    sku: l.sku.clone(),
                    qty: l.qty,
                    amount_fen: l.amount.0,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct StatusView {
    pub device: String,
    pub stall: String,
    pub fair: String,
    pub fair_id: String,
    pub shift: Option<ShiftView>,
    pub last_sale: Option<String>,
}

#[derive(Serialize)]
pub struct ShiftView {
    pub id: String,
    pub seller: String,
    pub opened_at: String,
    pub float_fen: i64,
}

impl StatusView {
    pub fn new(till: &Till) -> StatusView {
        let identity = till.store().identity();
        let state = till.store().state();
        StatusView {
            device: identity.device.to_string(),
            stall: identity.stall.clone(),
            fair: identity.fair.name.clone(),
            fair_id: identity.fair.id.clone(),
            shift: state.shift.as_ref().map(|s| ShiftView {
                id: s.id.clone(),
                seller: s.seller.clone(),
                opened_at: s.opened_at.clone(),
                float_fen: s.float.0,
            }),
            last_sale: state.last_sale_number.clone(),
        }
    }
}
