//! Wire format of ledger records: what a till writes into its ledger documents and what
//! headquarters reads back. These types are frozen once tills are in the field, so the app
//! converts its domain values into them by hand; add fields only as `Option` or with
//! `#[serde(default)]`.
//!
//! Every record carries the writing `device`, a per-device `seq` (contiguous over all kinds)
//! and a client-made `id` (UUID), so a re-sent record is recognised and never counted twice.

use serde::{Deserialize, Serialize};

/// One entry of a till's ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    ShiftOpen(ShiftOpenRecord),
    CashMove(CashMoveRecord),
    Sale(SaleRecord),
    Void(VoidRecord),
    Refund(RefundRecord),
    ShiftClose(ShiftCloseRecord),
    /// A product the till added while offline; headquarters folds it into the catalog.
    ProductAdd(ProductAddRecord),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductAddRecord {
    #[serde(flatten)]
    pub header: Header,
    pub product: crate::catalog::CatalogProduct,
}

/// The fields every record has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// UUID made by the till.
    pub id: String,
    /// Device code of the till that wrote it (`T01`).
    pub device: String,
    /// Position in the device's sequence of records, from 1, without gaps.
    pub seq: u64,
    /// RFC 3339 time with the fair's UTC offset, from the till's clock.
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftOpenRecord {
    #[serde(flatten)]
    pub header: Header,
    pub shift: String,
    pub seller: String,
    pub float_fen: i64,
}

/// Cash put into (`amount_fen` > 0) or taken out of (< 0) the drawer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashMoveRecord {
    #[serde(flatten)]
    pub header: Header,
    pub shift: String,
    pub amount_fen: i64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    #[serde(flatten)]
    pub header: Header,
    /// Receipt number, `T01-000157`.
    pub number: String,
    /// Position in the device's sequence of sales, from 1, without gaps.
    pub sale_seq: u64,
    pub shift: String,
    /// The stall the till sells for.
    pub stall: String,
    pub seller: String,
    pub seller_name: String,
    pub team: String,
    /// A purchasing unit; `None` for an individual.
    pub unit: Option<UnitRef>,
    pub lines: Vec<LineRecord>,
    pub payments: Vec<PaymentRecord>,
    pub total_fen: i64,
    pub change_fen: i64,
    /// SKUs whose stock this sale took below zero.
    #[serde(default)]
    pub oversold: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// 18-character unified social credit code.
    pub tax_id: String,
    pub name: String,
}

/// One line of a sale, copied from the catalog at the moment of sale so that reports never
/// depend on a catalog that changed later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRecord {
    /// From 1, as printed on the receipt.
    pub line: u32,
    pub sku: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    /// Sales unit (盒, 斤, kg, ...).
    pub unit: String,
    pub weighed: bool,
    /// Pieces, or grams when `weighed`.
    pub qty: i64,
    /// Price per piece, or per `unit` (斤, kg) when `weighed`.
    pub unit_price_fen: i64,
    pub amount_fen: i64,
    pub county_code: String,
    pub county_name: String,
    /// The stall the product belongs to in the catalog.
    pub product_stall: String,
    pub supplier: String,
    pub cert_no: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// `cash`, `wechat`, `alipay`, `unionpay`, `voucher`, `union_card`, `on_account`.
    pub method: String,
    /// What the payment settles of the total (cash: tendered minus change).
    pub amount_fen: i64,
    /// What was handed over; differs from `amount_fen` only for cash.
    pub tendered_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidRecord {
    #[serde(flatten)]
    pub header: Header,
    /// The `id` of the voided sale.
    pub sale: String,
    pub number: String,
    /// The shift during which the money went back.
    pub shift: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    #[serde(flatten)]
    pub header: Header,
    /// Refund number, `T01-R000003`.
    pub number: String,
    /// The `id` and number of the sale the goods came from.
    pub sale: String,
    pub sale_number: String,
    pub shift: String,
    pub method: String,
    pub amount_fen: i64,
    pub lines: Vec<RefundLineRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLineRecord {
    /// The sale's line number.
    pub line: u32,
    pub sku: String,
    /// Pieces, or grams for weighed lines.
    pub qty: i64,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftCloseRecord {
    #[serde(flatten)]
    pub header: Header,
    pub shift: String,
    pub expected_fen: i64,
    pub counted_fen: i64,
    pub variance_fen: i64,
    /// The till's last sale number when the shift closed; HQ proves completeness with it.
    pub last_sale: Option<String>,
    pub last_sale_seq: u64,
}

impl Record {
    pub fn header(&self) -> &Header {
        match self {
            Record::ShiftOpen(r) => &r.header,
            Record::CashMove(r) => &r.header,
            Record::Sale(r) => &r.header,
            Record::Void(r) => &r.header,
            Record::Refund(r) => &r.header,
            Record::ShiftClose(r) => &r.header,
            Record::ProductAdd(r) => &r.header,
        }
    }

    /// The `kind` tag as written on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::ShiftOpen(_) => "shift_open",
            Record::CashMove(_) => "cash_move",
            Record::Sale(_) => "sale",
            Record::Void(_) => "void",
            Record::Refund(_) => "refund",
            Record::ShiftClose(_) => "shift_close",
            Record::ProductAdd(_) => "product_add",
        }
    }

    pub fn to_json(&self) -> crate::Result<String> {
        serde_json::to_string(self).map_err(crate::Error::Encode)
    }

    /// A record from its JSON, as `to_json` wrote it.
    pub fn from_json(json: &str) -> Result<Record, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_a_kind_tag_and_flat_header() {
        let record = Record::CashMove(CashMoveRecord {
            header: Header {
                id: "9b1c".into(),
                device: "T01".into(),
                seq: 4,
                at: "2026-11-22T10:00:00+08:00".into(),
            },
            shift: "s1".into(),
            amount_fen: -5000,
            reason: "找零备用金".into(),
        });
        let json = record.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"kind":"cash_move","id":"9b1c","device":"T01","seq":4,"at":"2026-11-22T10:00:00+08:00","shift":"s1","amount_fen":-5000,"reason":"找零备用金"}"#
        );
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }
}
