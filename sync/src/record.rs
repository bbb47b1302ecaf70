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

impl SaleRecord {
    /// The name of the first line selling `sku`, which an oversold SKU is listed by; `None`
    /// when no line sells it.
    pub fn oversold_name(&self, sku: &str) -> Option<&str> {
        self.lines
            .iter()
            .filter(|l| l.sku == sku)
            .min_by_key(|l| l.line)
            .map(|l| l.name_zh.as_str())
    }
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

    /// A record from its JSON, as `to_json` wrote it. The same as `Record`'s own
    /// `Deserialize` (which it falls back to), only quicker for a sale as `to_json` writes
    /// it: see [`FlatSale`].
    pub fn from_json(json: &str) -> Result<Record, serde_json::Error> {
        if json.starts_with(r#"{"kind":"sale","#) {
            if let Ok(sale) = serde_json::from_str::<FlatSale>(json) {
                let record = Record::Sale(sale.into());
                if writes_as(&record, json) {
                    return Ok(record);
                }
            }
        }
        serde_json::from_str(json)
    }
}

/// A sale's JSON read in one pass, its header's fields beside the others. `Record`'s derived
/// decoding (an internally tagged enum whose variants flatten their header) buffers every
/// field of a record into serde's generic content twice before it builds the record; most
/// of a ledger is sales, and headquarters reads every one of them to project it.
/// [`Record::from_json`] keeps what this reads only when the record writes back as exactly
/// the text it was read from (what `to_json` writes: no other key, no other order, no other
/// spelling of a value), which the derived decoding reads as the same record, since a record
/// reads back as it was written. Anything else (an older till's order of keys, an unknown
/// key, an array, a value the derived decoding refuses) goes through the derived decoding,
/// answers and refusals alike; a unit test and the `ledger_records` fuzz target compare the
/// two on every input.
#[derive(Deserialize)]
struct FlatSale {
    // `kind` is passed over: the text is kept only if it says "sale" (`writes_as`).
    id: String,
    device: String,
    seq: u64,
    at: String,
    number: String,
    sale_seq: u64,
    shift: String,
    stall: String,
    seller: String,
    seller_name: String,
    team: String,
    unit: Option<UnitRef>,
    lines: Vec<LineRecord>,
    payments: Vec<PaymentRecord>,
    total_fen: i64,
    change_fen: i64,
    #[serde(default)]
    oversold: Vec<String>,
}

/// Whether `record` writes (as `to_json` does) exactly `json`, compared as it is written,
/// without building the text.
fn writes_as(record: &Record, json: &str) -> bool {
    /// The part of the text not yet matched; refuses the first byte that differs.
    struct Matching<'a>(&'a [u8]);
    impl std::io::Write for Matching<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            match self.0.strip_prefix(bytes) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(bytes.len())
                }
                None => Err(std::io::ErrorKind::InvalidData.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut rest = Matching(json.as_bytes());
    serde_json::to_writer(&mut rest, record).is_ok() && rest.0.is_empty()
}

impl From<FlatSale> for SaleRecord {
    fn from(flat: FlatSale) -> SaleRecord {
        SaleRecord {
            header: Header {
                id: flat.id,
                device: flat.device,
                seq: flat.seq,
                at: flat.at,
            },
            number: flat.number,
            sale_seq: flat.sale_seq,
            shift: flat.shift,
            stall: flat.stall,
            seller: flat.seller,
            seller_name: flat.seller_name,
            team: flat.team,
            unit: flat.unit,
            lines: flat.lines,
            payments: flat.payments,
            total_fen: flat.total_fen,
            change_fen: flat.change_fen,
            oversold: flat.oversold,
        }
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

    fn sale() -> Record {
        let line = |line: u32, sku: &str, qty: i64| LineRecord {
            line,
            sku: sku.into(),
            name_zh: "高山绿茶".into(),
            name_en: "Mountain green tea".into(),
            category: "tea".into(),
            unit: "盒".into(),
            weighed: false,
            qty,
            unit_price_fen: 3800,
            amount_fen: 3800 * qty,
            county_code: "522633".into(),
            county_name: "从江县".into(),
            product_stall: "S01".into(),
            supplier: "从江县茶叶合作社".into(),
            cert_no: (line == 1).then(|| "GB/T 1".into()),
        };
        Record::Sale(SaleRecord {
            header: Header {
                id: "0193a1b2-7c3d".into(),
                device: "T01".into(),
                seq: 12,
                at: "2026-11-22T10:00:00+08:00".into(),
            },
            number: "T01-000011".into(),
            sale_seq: 11,
            shift: "s1".into(),
            stall: "S01".into(),
            seller: "V07".into(),
            seller_name: "李\"小\"红".into(),
            team: "team-a".into(),
            unit: Some(UnitRef {
                tax_id: "91110000100000000X".into(),
                name: "某某大学".into(),
            }),
            lines: vec![line(1, "TEA-01", 2), line(2, "TEA-02", 1)],
            payments: vec![PaymentRecord {
                method: "cash".into(),
                amount_fen: 11400,
                tendered_fen: 12000,
            }],
            total_fen: 11400,
            change_fen: 600,
            oversold: vec!["TEA-02".into()],
        })
    }

    #[test]
    fn a_sale_is_read_as_records_are_read_whatever_its_json_holds() {
        let json = sale().to_json().unwrap();
        let object = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
        let with = |key: &str, value: serde_json::Value| {
            let mut v = object(&json);
            v[key] = value;
            v.to_string()
        };
        let without = |key: &str| {
            let mut v = object(&json);
            v.as_object_mut().unwrap().remove(key);
            v.to_string()
        };
        let body = json.strip_prefix('{').unwrap();
        let cash_move = Record::CashMove(CashMoveRecord {
            header: match sale() {
                Record::Sale(s) => s.header,
                _ => unreachable!(),
            },
            shift: "s1".into(),
            amount_fen: 100,
            reason: "备用金".into(),
        })
        .to_json()
        .unwrap();
        let cases = [
            json.clone(),
            // The keys in another order (a JSON object's are sorted): `kind` is not first.
            object(&json).to_string(),
            without("oversold"),
            with("unit", serde_json::Value::Null),
            without("unit"),
            with("tip_fen", 3.into()),
            with("header", object(r#"{"id":"x"}"#)),
            format!("{{\"id\":\"other\",{body}"),
            format!("{{\"kind\":\"void\",{body}"),
            format!("{{\"sale_seq\":3,{body}"),
            json.replacen(r#""kind":"sale""#, r#""kind":"s\u0061le""#, 1),
            with("kind", 2.into()),
            with("kind", "void".into()),
            with("kind", "Sale".into()),
            with("seq", "12".into()),
            with("seq", (-1).into()),
            with("total_fen", 1.5.into()),
            without("lines"),
            without("kind"),
            with("lines", object(r#"[{"line":1}]"#)),
            cash_move,
            "[]".into(),
            "{}".into(),
            json[..json.len() - 1].to_string(),
            // What the derived decoding refuses and a struct's own visitor would not: an
            // array, and values it skips without reading them as the derived decoding does.
            r#"["sale","i","T01",1,"at","n",1,"s1","S01","V07","x","t",null,[],[],0,0]"#.into(),
            format!("{},\"x\":1e400}}", &json[..json.len() - 1]),
            format!("{},\"x\":\"\\ud800\"}}", &json[..json.len() - 1]),
            format!(
                "{},\"x\":{}{}}}",
                &json[..json.len() - 1],
                "[".repeat(200),
                "]".repeat(200)
            ),
            json.replacen(r#""line":1,"#, r#""line":1,"x":1e400,"#, 1),
        ];
        for case in &cases {
            let generic = serde_json::from_str::<Record>(case).map_err(|e| e.to_string());
            let read = Record::from_json(case).map_err(|e| e.to_string());
            assert_eq!(read, generic, "{case}");
        }
        assert_eq!(Record::from_json(&json).unwrap(), sale());
        // The quick reading is kept only for the text the record writes back.
        assert!(writes_as(&sale(), &json));
        assert!(!writes_as(&sale(), &object(&json).to_string()));
        assert!(!writes_as(&sale(), &format!("{json} ")));
        assert!(!writes_as(&sale(), &json[..json.len() - 1]));
        // The cases reach both ways of reading: sales read, and refusals.
        let read = cases.iter().filter(|c| Record::from_json(c).is_ok());
        assert!(read.count() >= 8);
    }
}
