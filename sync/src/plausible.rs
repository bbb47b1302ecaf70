//! The amounts, quantities and times a till can write. Headquarters refuses a ledger holding
//! a record beyond them, as it refuses one naming another till: no till writes such a
//! record, and headquarters adds every amount and quantity it projects into 64-bit sums (a
//! total of `i64::MAX` fen in one forged sale wrapped a stall's figures into negative
//! billions, then broke every report that read them). A bound on each record makes one
//! record harmless; a bound on what a ledger's records come to ([`Weight`]) makes a flood of
//! them harmless too (some 920 000 records at a record's bound overflowed a sum), as long as
//! the ledger only grows (`LedgerDoc::why_not_grown_since`): a till that removed records
//! headquarters has counted would hide them from the sum.

use crate::record::{LineRecord, PaymentRecord, RefundLineRecord};
use crate::Record;

/// The largest amount of money a record may name, either way: 100 billion yuan, ten times
/// the largest amount a till takes as input and the most one of its sales may come to
/// (`fairpos_domain::money::MAX_INPUT_FEN`: the cart refuses more), so no line or total a
/// till writes is beyond it.
pub const MAX_FEN: i64 = 10_000_000_000_000;

/// The largest quantity a line may name, either way: a trillion pieces or grams, ten
/// million times the most pieces a till's cart takes on a line (100 000) and a million times
/// its most weight (1 000 kg), a hundred times what 100 000 packs of a scale's label weigh.
pub const MAX_QTY: i64 = 1_000_000_000_000;

/// The largest stock a product a till adds may state, either way: the most a till's count of
/// stock reads (12 digits of kilograms, in grams).
pub const MAX_STOCK: i64 = 1_000_000_000_000_000;

/// The most the amounts of one ledger (one till's day) may come to, each counted as its size
/// whatever its sign: a trillion yuan. A sale of the most a till's cart takes
/// (`fairpos_domain::money::MAX_INPUT_FEN`, ten billion yuan) counts some five times over
/// (its total, a line's price and amount, a payment and its tender), so about twenty of them
/// fit in a day, where a real stall takes a few hundred thousand yuan. [`MAX_FEN`] bounds one
/// record; this bounds a flood of them: a device holds at most 400 ledgers by default
/// (`hq`'s `--max-documents-per-device`), so a 64-bit sum of what headquarters projects
/// overflows only past some 92 000 ledgers at this bound, where without it one ledger of
/// some 920 000 records at [`MAX_FEN`] did.
pub const MAX_LEDGER_FEN: u64 = 100_000_000_000_000;

/// The most the quantities of one ledger's lines may come to, each counted as its size: a
/// hundred times [`MAX_QTY`].
pub const MAX_LEDGER_QTY: u64 = 100_000_000_000_000;

/// Why `record` is not one a till writes, or `None` when its time is one (RFC 3339, starting
/// with a day and an hour: [`starts_with_day_and_hour`]) and each of its amounts and
/// quantities is within
/// [`MAX_FEN`] and [`MAX_QTY`].
pub fn implausible(record: &Record) -> Option<String> {
    let at = &record.header().at;
    if !starts_with_day_and_hour(at) {
        return Some(format!(
            "its time {at:?} does not start with a day and an hour"
        ));
    }
    // Whole, as a till writes it: a payment at `2026-11-28T10`, counted in the totals, was
    // left out of every list of the statements' match (it could not be placed in time), so a
    // forged ledger hid a payment on paper only there.
    if chrono::DateTime::parse_from_rfc3339(at).is_err() {
        return Some(format!(
            "its time {at:?} is not a time with its offset (RFC 3339)"
        ));
    }
    let mut why = None;
    each_number(record, |kind, name, value| {
        if why.is_some() {
            return;
        }
        let size = value.unsigned_abs();
        why = match kind {
            Number::Fen if size > MAX_FEN as u64 => Some(format!(
                "{name} {value} is beyond what a till takes ({MAX_FEN} fen)"
            )),
            Number::Qty if size > MAX_QTY as u64 => Some(format!(
                "a quantity of {value} is beyond what a till takes ({MAX_QTY})"
            )),
            Number::Stock if size > MAX_STOCK as u64 => {
                Some(format!("a stock of {value} is beyond what a till takes"))
            }
            Number::Line if value > i64::from(i32::MAX) => Some(format!(
                "a line numbered {value} is beyond what a till takes"
            )),
            _ => None,
        };
    });
    why
}

/// What the amounts and the quantities of some records come to, each counted as its size
/// (saturating, never wrapping): what [`MAX_LEDGER_FEN`] and [`MAX_LEDGER_QTY`] bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Weight {
    pub fen: u64,
    pub qty: u64,
}

impl Weight {
    /// What `records` come to.
    pub fn of(records: &[Record]) -> Weight {
        Weight::default().adding(records)
    }

    /// What these records and `records` come to together.
    pub fn adding(mut self, records: &[Record]) -> Weight {
        for record in records {
            each_number(record, |kind, _, value| match kind {
                Number::Fen => self.fen = self.fen.saturating_add(value.unsigned_abs()),
                Number::Qty => self.qty = self.qty.saturating_add(value.unsigned_abs()),
                Number::Stock | Number::Line => {}
            });
        }
        self
    }

    /// As headquarters stores it beside a ledger's heads (two 64-bit signed columns): `None`
    /// for a sum beyond them, which no ledger within a day's bound comes to, so that the
    /// ledger is read whole next time.
    pub fn stored(&self) -> (Option<i64>, Option<i64>) {
        (i64::try_from(self.fen).ok(), i64::try_from(self.qty).ok())
    }

    /// The weight stored as [`Weight::stored`] gives it, if both columns hold one (`NULL`
    /// where a build before stored none).
    pub fn from_stored(fen: Option<i64>, qty: Option<i64>) -> Option<Weight> {
        Some(Weight {
            fen: u64::try_from(fen?).ok()?,
            qty: u64::try_from(qty?).ok()?,
        })
    }

    /// Why a ledger whose records come to this is not one a till writes, or `None`.
    pub fn beyond_a_day(&self) -> Option<String> {
        if self.fen > MAX_LEDGER_FEN {
            let fen = self.fen;
            return Some(format!(
                "its amounts, each counted by its size, come to {fen} fen, beyond what a \
                 till takes in a day ({MAX_LEDGER_FEN} fen)"
            ));
        }
        if self.qty > MAX_LEDGER_QTY {
            let qty = self.qty;
            return Some(format!(
                "its quantities, each counted by its size, come to {qty}, beyond what a \
                 till sells in a day ({MAX_LEDGER_QTY})"
            ));
        }
        None
    }
}

/// What a number a record names is.
#[derive(Clone, Copy)]
enum Number {
    Fen,
    Qty,
    Stock,
    /// A line's number: PostgreSQL keeps it in a 32-bit column, SQLite in 64 bits, so one past
    /// `i32::MAX` (a forged ledger) was counted apart by the two.
    Line,
}

/// Calls `each` with every amount, quantity and stock `record` names, and the name of its
/// field.
fn each_number(record: &Record, mut each: impl FnMut(Number, &'static str, i64)) {
    match record {
        Record::ShiftOpen(r) => each(Number::Fen, "float_fen", r.float_fen),
        Record::CashMove(r) => each(Number::Fen, "amount_fen", r.amount_fen),
        Record::Sale(r) => {
            each(Number::Fen, "total_fen", r.total_fen);
            each(Number::Fen, "change_fen", r.change_fen);
            for LineRecord {
                line,
                qty,
                unit_price_fen,
                amount_fen,
                ..
            } in &r.lines
            {
                each(Number::Line, "line", i64::from(*line));
                each(Number::Fen, "a line's unit_price_fen", *unit_price_fen);
                each(Number::Fen, "a line's amount_fen", *amount_fen);
                each(Number::Qty, "qty", *qty);
            }
            for PaymentRecord {
                amount_fen,
                tendered_fen,
                ..
            } in &r.payments
            {
                each(Number::Fen, "a payment's amount_fen", *amount_fen);
                each(Number::Fen, "a payment's tendered_fen", *tendered_fen);
            }
        }
        Record::Void(_) => {}
        Record::Refund(r) => {
            each(Number::Fen, "amount_fen", r.amount_fen);
            for RefundLineRecord {
                line,
                qty,
                amount_fen,
                ..
            } in &r.lines
            {
                each(Number::Line, "line", i64::from(*line));
                each(Number::Fen, "a line's amount_fen", *amount_fen);
                each(Number::Qty, "qty", *qty);
            }
        }
        Record::ShiftClose(r) => {
            each(Number::Fen, "expected_fen", r.expected_fen);
            each(Number::Fen, "counted_fen", r.counted_fen);
            each(Number::Fen, "variance_fen", r.variance_fen);
        }
        Record::ProductAdd(r) => {
            each(Number::Fen, "price_fen", r.product.price_fen);
            each(Number::Stock, "stock", r.product.stock);
        }
    }
}

/// Whether `at` starts as a till writes a time, `2026-11-22T10` (a day, and an hour from 00
/// to 23): what reports key an hour by, and the hourly chart draws (a forged
/// `9T04294967295` made it draw four billion bars).
pub fn starts_with_day_and_hour(at: &str) -> bool {
    let Some(head) = at.as_bytes().get(..13) else {
        return false;
    };
    let shaped = head.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => *b == b'T',
        _ => b.is_ascii_digit(),
    });
    shaped && (head[11] - b'0') * 10 + (head[12] - b'0') < 24
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Header, SaleRecord};

    #[test]
    fn a_weight_reads_back_as_stored_and_one_beyond_the_columns_is_not_stored() {
        let weight = Weight { fen: 7, qty: 3 };
        let (fen, qty) = weight.stored();
        assert_eq!(Weight::from_stored(fen, qty), Some(weight));
        let beyond = Weight {
            fen: u64::MAX,
            qty: 3,
        };
        assert_eq!(beyond.stored(), (None, Some(3)));
        assert_eq!(Weight::from_stored(None, Some(3)), None);
        assert_eq!(Weight::from_stored(Some(-1), Some(3)), None);
    }

    fn sale(total_fen: i64, qty: i64) -> Record {
        let json = format!(
            r#"{{"kind":"sale","id":"s1","device":"T01","seq":2,"at":"2026-11-22T10:00:00+08:00",
            "number":"T01-000001","sale_seq":1,"shift":"sh1","stall":"S01","seller":"V001",
            "seller_name":"李","team":"A","unit":null,
            "lines":[{{"line":1,"sku":"P1","name_zh":"茶","name_en":"Tea","category":"茶",
              "unit":"盒","weighed":false,"qty":{qty},"unit_price_fen":100,"amount_fen":100,
              "county_code":"430000","county_name":"某县","product_stall":"S01","supplier":"x",
              "cert_no":null}}],
            "payments":[{{"method":"cash","amount_fen":100,"tendered_fen":100}}],
            "total_fen":{total_fen},"change_fen":0}}"#
        );
        Record::from_json(&json).unwrap()
    }

    #[test]
    fn amounts_and_quantities_beyond_a_tills_are_named() {
        assert_eq!(implausible(&sale(100, 1)), None);
        assert_eq!(implausible(&sale(-MAX_FEN, MAX_QTY)), None);
        let why = implausible(&sale(i64::MAX, 1)).unwrap();
        assert!(
            why.starts_with("total_fen 9223372036854775807 is beyond"),
            "{why}"
        );
        let why = implausible(&sale(i64::MIN, 1)).unwrap();
        assert!(why.starts_with("total_fen -9223372036854775808"), "{why}");
        let why = implausible(&sale(100, MAX_QTY + 1)).unwrap();
        assert!(why.starts_with("a quantity of 1000000000001"), "{why}");
        // A line numbered past what PostgreSQL's column holds (SQLite's holds it).
        let numbered = |line: u32| {
            let Record::Sale(mut s) = sale(100, 1) else {
                unreachable!()
            };
            s.lines[0].line = line;
            Record::Sale(s)
        };
        assert_eq!(implausible(&numbered(i32::MAX as u32)), None);
        let why = implausible(&numbered(i32::MAX as u32 + 1)).unwrap();
        assert!(why.starts_with("a line numbered 2147483648"), "{why}");
        let Record::Sale(SaleRecord { header, .. }) = sale(1, 1) else {
            unreachable!()
        };
        let drawer = Record::CashMove(crate::record::CashMoveRecord {
            header: Header { seq: 3, ..header },
            shift: "sh1".into(),
            amount_fen: -MAX_FEN - 1,
            reason: "x".into(),
        });
        assert!(implausible(&drawer)
            .unwrap()
            .starts_with("amount_fen -10000000000001"));
    }

    #[test]
    fn a_product_added_with_a_stock_beyond_a_tills_is_named() {
        let added = |stock: i64| {
            let json = format!(
                r#"{{"kind":"product_add","id":"p1","device":"T01","seq":3,
                "at":"2026-11-22T10:00:00+08:00","product":{{"sku":"L1","barcode":null,
                "plu":null,"name_zh":"蜜","name_en":"Honey","category":"蜜","unit":"瓶",
                "price_fen":3500,"weighed":false,"county_code":"","county_name":"",
                "supplier":"","cert_no":null,"stall":"S01","stock":{stock}}}}}"#
            );
            implausible(&Record::from_json(&json).unwrap())
        };
        assert_eq!(added(12), None);
        assert_eq!(added(-MAX_STOCK), None);
        let why = added(i64::MAX).unwrap();
        assert!(why.starts_with("a stock of 9223372036854775807"), "{why}");
    }

    #[test]
    fn a_ledgers_amounts_and_quantities_add_up_by_their_size_and_are_bounded() {
        let largest = sale(MAX_FEN, -MAX_QTY);
        // A total, its line's price and amount, a payment's amount and tender, counted as sizes whatever their sign.
        let weight = Weight::of(&[largest.clone(), sale(-MAX_FEN, MAX_QTY)]);
        let fen = 2 * (MAX_FEN as u64 + 400);
        assert_eq!(
            weight,
            Weight {
                fen,
                qty: 2 * MAX_QTY as u64
            }
        );
        assert_eq!(weight.beyond_a_day(), None);
        let day = vec![largest; 10];
        let weight = Weight::of(&day);
        let why = weight.beyond_a_day().unwrap();
        assert!(
            why.starts_with("its amounts, each counted by its size, come to 100000000004000 fen,"),
            "{why}"
        );
        let qty = Weight::of(&day[..1]).adding(&[sale(1, MAX_LEDGER_QTY as i64)]);
        assert_eq!(qty.fen, MAX_FEN as u64 + 400 + 401);
        let why = qty.beyond_a_day().unwrap();
        assert!(
            why.starts_with("its quantities, each counted by its size, come to 101000000000000,"),
            "{why}"
        );
        // Sums saturate, never wrap back under the bound.
        let at_most = Weight {
            fen: u64::MAX - 1,
            qty: 0,
        }
        .adding(&[sale(i64::MIN, 1)]);
        assert_eq!(at_most.fen, u64::MAX);
    }

    #[test]
    fn a_time_starts_with_a_day_and_an_hour() {
        assert!(starts_with_day_and_hour("2026-11-22T10:00:00+08:00"));
        assert!(starts_with_day_and_hour("2026-11-22T23"));
        for forged in [
            "9T04294967295",
            "2026-11-22T24:00:00+08:00",
            "2026-11-22 10:00:00",
            "2026-11-2\u{e9}T10:00",
            "2026-11-22T1",
            "",
        ] {
            assert!(!starts_with_day_and_hour(forged), "{forged:?}");
        }
        let Record::Sale(mut sale) = sale(100, 1) else {
            unreachable!()
        };
        sale.header.at = "9T04294967295".into();
        let why = implausible(&Record::Sale(sale.clone())).unwrap();
        assert!(
            why.contains("does not start with a day and an hour"),
            "{why}"
        );
        // A day and an hour, and no more: no time the statements' match can place.
        sale.header.at = "2026-11-28T10".into();
        let why = implausible(&Record::Sale(sale.clone())).unwrap();
        assert!(why.contains("RFC 3339"), "{why}");
        for written in ["2026-11-28T10:00:00+08:00", "2026-11-28T02:00:00.125Z"] {
            sale.header.at = written.into();
            assert_eq!(implausible(&Record::Sale(sale.clone())), None, "{written}");
        }
    }
}
