//! The shift slip: what a till states at a shift close, printed and shown as a QR code, so
//! that headquarters learns a till's last sale number from a photo of paper before any of the
//! till's data arrive.
//!
//! The QR's text is one line of `key=value` fields in a fixed order, separated by `;`, the
//! signature last:
//!
//! ```text
//! FPS1;fair=demo-2026;till=T01;shift=0196…;closed=2026-11-28T17:30:00+08:00;first=T01-000001;
//! last=T01-000012;upto=T01-000012;sales=12;pay=cash:12000,wechat:3400;expected=22000;
//! counted=21900;variance=-100;heads=9f2c…;sig=3a1b…
//! ```
//!
//! (on one line). Amounts are fen. `first` and `last` are the shift's own sales; `upto` is the
//! till's last sale number at the close, whichever shift sold it (a shift that sold nothing
//! still tells headquarters how far the till's numbers go). `heads` is the SHA-256 of the till-day ledger's heads after
//! the close. `sig` is the till's Ed25519 signature (hex) of everything before `;sig=`; the
//! signing itself is the caller's (the domain has no keys).

use std::fmt::Write as _;

use crate::ids::{DeviceCode, SaleNumber};
use crate::money::Fen;
use crate::payment::Method;

const MAGIC: &str = "FPS1";

/// What a till states when a shift closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftSlip {
    pub fair: String,
    pub device: DeviceCode,
    pub shift: String,
    /// RFC 3339, the fair's offset.
    pub closed_at: String,
    /// The shift's first and last sale numbers; `None` for a shift that sold nothing.
    pub first_sale: Option<SaleNumber>,
    pub last_sale: Option<SaleNumber>,
    /// The till's last sale number at the close (`None` before its first sale).
    pub till_last: Option<SaleNumber>,
    /// Sales numbered in the shift (voided ones too).
    pub sales: u64,
    /// Net takings per payment method (payments of sales not voided, less refunds).
    pub totals: Vec<(Method, Fen)>,
    pub expected: Fen,
    pub counted: Fen,
    pub variance: Fen,
    /// SHA-256 (hex) of the ledger's heads after the close.
    pub heads: String,
}

/// Why a text is not a good slip.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a fairpos shift slip: {0}")]
pub struct SlipError(pub String);

impl ShiftSlip {
    /// The text that is signed: everything up to the signature.
    pub fn body(&self) -> String {
        let number = |n: &Option<SaleNumber>| n.as_ref().map(|n| n.to_string()).unwrap_or_default();
        let mut pay = String::new();
        for (i, (method, fen)) in self.totals.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(pay, "{sep}{}:{}", method.as_str(), fen.0);
        }
        format!(
            "{MAGIC};fair={};till={};shift={};closed={};first={};last={};upto={};sales={};\
             pay={pay};\
             expected={};counted={};variance={};heads={}",
            self.fair,
            self.device,
            self.shift,
            self.closed_at,
            number(&self.first_sale),
            number(&self.last_sale),
            number(&self.till_last),
            self.sales,
            self.expected.0,
            self.counted.0,
            self.variance.0,
            self.heads
        )
    }

    /// The QR's text: the body and its signature (hex; empty when the till had no key).
    pub fn text(&self, signature: &str) -> String {
        format!("{};sig={signature}", self.body())
    }

    /// Reads a slip's text: the slip, its body as signed, and the signature.
    pub fn parse(text: &str) -> Result<(ShiftSlip, String, String), SlipError> {
        let bad = |why: &str| SlipError(why.to_string());
        let text = text.trim();
        let (body, signature) = text
            .rsplit_once(";sig=")
            .ok_or_else(|| bad("no signature"))?;
        let mut fields = body.split(';');
        if fields.next() != Some(MAGIC) {
            return Err(bad("it does not start with FPS1"));
        }
        let mut next = |key: &str| -> Result<&str, SlipError> {
            let field = fields
                .next()
                .ok_or_else(|| SlipError(format!("{key} is missing")))?;
            match field.split_once('=') {
                Some((k, v)) if k == key => Ok(v),
                _ => Err(SlipError(format!("{key} expected, found {field:?}"))),
            }
        };
        let fair = next("fair")?.to_string();
        let device =
            DeviceCode::parse(next("till")?).map_err(|_| bad("till is not a device code"))?;
        let shift = next("shift")?.to_string();
        let closed_at = next("closed")?.to_string();
        chrono::DateTime::parse_from_rfc3339(&closed_at)
            .map_err(|_| bad("closed is not a time"))?;
        let sale = |t: &str| -> Result<Option<SaleNumber>, SlipError> {
            if t.is_empty() {
                return Ok(None);
            }
            match SaleNumber::parse(t) {
                Some(n) if n.device() == device.as_str() => Ok(Some(n)),
                _ => Err(SlipError(format!("{t:?} is not a sale number of {device}"))),
            }
        };
        let first_sale = sale(next("first")?)?;
        let last_sale = sale(next("last")?)?;
        let till_last = sale(next("upto")?)?;
        let sales: u64 = next("sales")?
            .parse()
            .map_err(|_| bad("sales is not a count"))?;
        let mut totals = Vec::new();
        for part in next("pay")?.split(',').filter(|p| !p.is_empty()) {
            let (m, f) = part
                .split_once(':')
                .ok_or_else(|| bad("pay is not method:fen"))?;
            let method = Method::parse(m).map_err(|_| SlipError(format!("no method {m:?}")))?;
            totals.push((method, fen(f)?));
        }
        let expected = fen(next("expected")?)?;
        let counted = fen(next("counted")?)?;
        let variance = fen(next("variance")?)?;
        let heads = next("heads")?.to_string();
        if fields.next().is_some() {
            return Err(bad("fields after heads"));
        }
        let hex64 = heads.len() == 64 && heads.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64 || fair.is_empty() || shift.is_empty() {
            return Err(bad("fair, shift or heads is malformed"));
        }
        let span = match (&first_sale, &last_sale) {
            (Some(f), Some(l)) => l.seq().checked_sub(f.seq()).and_then(|d| d.checked_add(1)),
            (None, None) => Some(0),
            _ => None,
        };
        if span != Some(sales) {
            return Err(bad(
                "the sale count does not fit the first and last numbers",
            ));
        }
        let seq = |n: &Option<SaleNumber>| n.as_ref().map_or(0, SaleNumber::seq);
        if seq(&till_last) < seq(&last_sale) || seq(&till_last) > i64::MAX as u64 {
            return Err(bad("upto is below the shift's last sale"));
        }
        if counted.0.checked_sub(expected.0) != Some(variance.0) {
            return Err(bad("variance is not counted minus expected"));
        }
        let slip = ShiftSlip {
            fair,
            device,
            shift,
            closed_at,
            first_sale,
            last_sale,
            till_last,
            sales,
            totals,
            expected,
            counted,
            variance,
            heads,
        };
        if slip.body() != body {
            return Err(bad("it is not written as a till writes it"));
        }
        Ok((slip, body.to_string(), signature.to_string()))
    }
}

fn fen(text: &str) -> Result<Fen, SlipError> {
    text.parse::<i64>()
        .map(Fen)
        .map_err(|_| SlipError(format!("{text:?} is not an amount in fen")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slip() -> ShiftSlip {
        ShiftSlip {
            fair: "demo-2026".into(),
            device: DeviceCode::parse("T01").unwrap(),
            shift: "0196f9c2-1f3a-7000-8000-000000000001".into(),
            closed_at: "2026-11-28T17:30:00+08:00".into(),
            first_sale: Some(SaleNumber::new("T01", 3)),
            last_sale: Some(SaleNumber::new("T01", 14)),
            till_last: Some(SaleNumber::new("T01", 14)),
            sales: 12,
            totals: vec![(Method::Cash, Fen(12_000)), (Method::Wechat, Fen(3_400))],
            expected: Fen(22_000),
            counted: Fen(21_900),
            variance: Fen(-100),
            heads: "ab".repeat(32),
        }
    }

    #[test]
    fn a_slip_reads_back_as_written() {
        let text = slip().text("00ff");
        assert!(text.starts_with("FPS1;fair=demo-2026;till=T01;"), "{text}");
        let (back, body, sig) = ShiftSlip::parse(&text).unwrap();
        assert_eq!(back, slip());
        assert_eq!(body, slip().body());
        assert_eq!(sig, "00ff");
    }

    #[test]
    fn a_slip_that_does_not_add_up_is_refused() {
        let text = slip().text("00ff");
        for (from, to) in [
            ("sales=12", "sales=13"),
            ("variance=-100", "variance=-101"),
            ("till=T01", "till=T02"),
            ("FPS1", "FPS2"),
            ("pay=cash:12000", "pay=cash:12x00"),
            (";sig=", ";sig:"),
            ("counted=21900", "counted=021900"),
            ("upto=T01-000014", "upto=T01-000013"),
            ("upto=T01-000014", "upto=T02-000014"),
            ("first=T01-000003", "first=T01-000000"),
            ("counted=21900", "counted=9223372036854775807"),
            ("last=T01-000014", "last=T01-18446744073709551615"),
        ] {
            let changed = text.replace(from, to);
            assert!(ShiftSlip::parse(&changed).is_err(), "{changed}");
        }
    }
}
