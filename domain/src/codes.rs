//! Codes a till reads: product barcodes (EAN-13, EAN-8, UPC-A), in-store codes printed by
//! stall scales for weighed goods, and unified social credit codes (GB 32100) of purchasing
//! units. Validation only: no lookups.

use crate::fair::{BarcodeRule, RuleValue};
use crate::{CreditCodeIssue, DomainError};

/// A product barcode whose check digit is right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gtin {
    Ean13(String),
    Ean8(String),
    /// 12 digits; the catalog holds it as EAN-13 with a leading zero.
    UpcA(String),
}

impl Gtin {
    /// The form the catalog holds (UPC-A becomes its EAN-13 equivalent).
    pub fn catalog_form(&self) -> String {
        match self {
            Gtin::Ean13(c) | Gtin::Ean8(c) => c.clone(),
            Gtin::UpcA(c) => format!("0{c}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Gtin::Ean13(_) => "ean13",
            Gtin::Ean8(_) => "ean8",
            Gtin::UpcA(_) => "upca",
        }
    }
}

/// GS1 check digit of `body` (every digit but the check digit).
pub fn gs1_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn all_digits(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the GS1 check digit of an all-digit code of 8, 12 or 13 digits.
fn check_gs1(code: &str) -> Result<(), DomainError> {
    let bytes = code.as_bytes();
    let (body, check) = bytes.split_at(bytes.len() - 1);
    let want = gs1_check_digit(body);
    if check[0] - b'0' != want {
        return Err(DomainError::BadCheckDigit {
            code: code.to_string(),
            expected: want,
        });
    }
    Ok(())
}

/// Parses a product barcode, validating its check digit. `Ok(None)` when `code` is not
/// shaped like one (not 8, 12 or 13 digits).
pub fn parse_gtin(code: &str) -> Result<Option<Gtin>, DomainError> {
    if !all_digits(code) {
        return Ok(None);
    }
    let gtin = match code.len() {
        13 => Gtin::Ean13(code.to_string()),
        12 => Gtin::UpcA(code.to_string()),
        8 => Gtin::Ean8(code.to_string()),
        _ => return Ok(None),
    };
    check_gs1(code)?;
    Ok(Some(gtin))
}

/// A scale label read through one of the fair's in-store barcode rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InStoreCode {
    pub code: String,
    pub plu: String,
    pub value: InStoreValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InStoreValue {
    Grams(i64),
    AmountFen(i64),
}

/// Reads `code` through the first rule whose prefix it starts with. `Ok(None)` when no rule
/// applies; an error when one applies but the check digit is wrong.
pub fn parse_in_store(
    code: &str,
    rules: &[BarcodeRule],
) -> Result<Option<InStoreCode>, DomainError> {
    if !all_digits(code) {
        return Ok(None);
    }
    for rule in rules {
        if code.len() != rule.code_len() || !code.starts_with(&rule.prefix) {
            continue;
        }
        check_gs1(code)?;
        let plu_start = rule.prefix.len();
        let value_start = plu_start + rule.plu_digits;
        let plu = code[plu_start..value_start].to_string();
        let digits = &code[value_start..value_start + rule.value_digits];
        let n: i64 = digits.parse().map_err(|_| DomainError::UnknownCode {
            code: code.to_string(),
        })?;
        let value = match rule.value {
            RuleValue::WeightG => InStoreValue::Grams(n),
            RuleValue::AmountFen => InStoreValue::AmountFen(n),
        };
        return Ok(Some(InStoreCode {
            code: code.to_string(),
            plu,
            value,
        }));
    }
    Ok(None)
}

/// Builds an in-store code (a scale's label) for `plu` and `value`: used by tests and demos.
pub fn make_in_store(rule: &BarcodeRule, plu: &str, value: i64) -> String {
    let body = format!(
        "{}{:0>pw$}{:0>vw$}",
        rule.prefix,
        plu,
        value,
        pw = rule.plu_digits,
        vw = rule.value_digits
    );
    let check = gs1_check_digit(body.as_bytes());
    format!("{body}{check}")
}

const CREDIT_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Validates an 18-character unified social credit code (GB 32100-2015) and returns it in
/// upper case.
pub fn parse_credit_code(text: &str) -> Result<String, DomainError> {
    let code = text.trim().to_ascii_uppercase();
    let bad = |why: CreditCodeIssue| DomainError::BadCreditCode {
        code: text.to_string(),
        why,
    };
    if code.chars().count() != 18 {
        return Err(bad(CreditCodeIssue::Length(text.trim().chars().count())));
    }
    let mut values = Vec::with_capacity(18);
    for (i, c) in code.chars().enumerate() {
        match CREDIT_CHARS.iter().position(|&x| char::from(x) == c) {
            Some(v) => values.push(v as u32),
            None => {
                return Err(bad(CreditCodeIssue::BadChar {
                    position: i + 1,
                    found: c,
                }))
            }
        }
    }
    let sum: u32 = values[..17]
        .iter()
        .zip(CREDIT_WEIGHTS)
        .map(|(v, w)| v * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err(bad(CreditCodeIssue::WrongCheck {
            found: code.as_bytes()[17] as char,
            expected: CREDIT_CHARS[check as usize] as char,
        }));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<BarcodeRule> {
        vec![
            BarcodeRule {
                prefix: "21".into(),
                plu_digits: 5,
                value: RuleValue::WeightG,
                value_digits: 5,
            },
            BarcodeRule {
                prefix: "22".into(),
                plu_digits: 5,
                value: RuleValue::AmountFen,
                value_digits: 5,
            },
        ]
    }

    #[test]
    fn gtins_are_validated() {
        assert_eq!(
            parse_gtin("6935780100128").unwrap(),
            Some(Gtin::Ean13("6935780100128".into()))
        );
        assert_eq!(
            parse_gtin("96385074").unwrap(),
            Some(Gtin::Ean8("96385074".into()))
        );
        let upc = parse_gtin("036000291452").unwrap().unwrap();
        assert_eq!(upc.catalog_form(), "0036000291452");
        let err = parse_gtin("6935780100129").unwrap_err().to_string();
        assert!(
            err.contains("check digit") && err.contains("should be 8"),
            "{err}"
        );
        assert_eq!(parse_gtin("BJ-HJC-250").unwrap(), None);
        assert_eq!(parse_gtin("12345").unwrap(), None);
    }

    #[test]
    fn in_store_codes_carry_plu_and_weight_or_amount() {
        let r = rules();
        let weight = make_in_store(&r[0], "10021", 750);
        assert_eq!(weight.len(), 13);
        assert_eq!(
            parse_in_store(&weight, &r).unwrap(),
            Some(InStoreCode {
                code: weight.clone(),
                plu: "10021".into(),
                value: InStoreValue::Grams(750),
            })
        );
        let amount = make_in_store(&r[1], "10025", 2400);
        assert_eq!(
            parse_in_store(&amount, &r).unwrap().unwrap().value,
            InStoreValue::AmountFen(2400)
        );
        let mut broken = weight.clone().into_bytes();
        broken[12] = if broken[12] == b'0' { b'1' } else { b'0' };
        assert!(parse_in_store(std::str::from_utf8(&broken).unwrap(), &r).is_err());
        assert_eq!(parse_in_store("6935780100128", &r).unwrap(), None);
    }

    #[test]
    fn credit_codes_of_the_demo_fair_are_valid() {
        for code in [
            "81430100MB1A2C3D0T",
            "81430100MB0K7P2Q0P",
            "114300000061841387",
            "93430000183765419B",
            "81430000MB1R5T8UXD",
            "12430000444883027E",
        ] {
            assert_eq!(parse_credit_code(code).unwrap(), code);
        }
        assert_eq!(
            parse_credit_code("12430000444883027e").unwrap(),
            "12430000444883027E"
        );
    }

    #[test]
    fn bad_credit_codes_say_why() {
        let cases = [
            ("81430100MB1A2C3D0X", "wrong check character X, expected T"),
            ("81430100MB1A2C3D0", "17 characters"),
            ("81430100MB1A2C3DOT", "character 17 (O)"),
        ];
        for (code, why) in cases {
            let err = parse_credit_code(code).unwrap_err().to_string();
            assert!(err.contains(why), "{code}: {err}");
        }
    }
}

/// What a scanned code is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    Ean13,
    Ean8,
    Upca,
    /// A scale label read through one of the fair's in-store rules.
    Weighed,
    /// The QR code of one of our receipts.
    Receipt,
    /// A WeChat Pay customer code (付款码): 18 digits starting 10-15.
    WechatPay,
    /// An Alipay customer code: 16-24 digits starting 25-30.
    Alipay,
    /// A UnionPay (云闪付) customer code: 16-20 digits starting 62.
    UnionPay,
    Unknown,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Ean13 => "ean13",
            CodeKind::Ean8 => "ean8",
            CodeKind::Upca => "upca",
            CodeKind::Weighed => "weighed",
            CodeKind::Receipt => "receipt",
            CodeKind::WechatPay => "wechat_pay",
            CodeKind::Alipay => "alipay",
            CodeKind::UnionPay => "unionpay",
            CodeKind::Unknown => "unknown",
        }
    }
}

/// A scanned code and what the till makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub code: String,
    pub kind: CodeKind,
    pub valid: bool,
    /// Why the code is not valid, or why the till will not take it.
    pub reason: Option<String>,
    pub plu: Option<String>,
    pub grams: Option<i64>,
    pub amount_fen: Option<i64>,
    /// For a receipt: the sale number and id it names.
    pub sale: Option<ReceiptQr>,
}

/// Why a customer payment code is refused.
pub const PAYMENT_CODE_REFUSAL: &str = "the till cannot charge a customer payment code without a payment network: ask the shopper to scan the stall's payment QR, then record the payment";

/// Classifies a scanned code by its shape, the fair's in-store rules and its check digit.
pub fn classify(code: &str, rules: &[BarcodeRule]) -> Classified {
    let code = code.trim();
    let mut out = Classified {
        code: code.to_string(),
        kind: CodeKind::Unknown,
        valid: false,
        reason: None,
        plu: None,
        grams: None,
        amount_fen: None,
        sale: None,
    };
    if let Some(qr) = ReceiptQr::parse(code) {
        out.kind = CodeKind::Receipt;
        out.valid = true;
        out.sale = Some(qr);
        return out;
    }
    let digits = all_digits(code);
    match parse_in_store(code, rules) {
        Ok(Some(label)) => {
            out.kind = CodeKind::Weighed;
            out.valid = true;
            out.plu = Some(label.plu);
            match label.value {
                InStoreValue::Grams(g) => out.grams = Some(g),
                InStoreValue::AmountFen(f) => out.amount_fen = Some(f),
            }
            return out;
        }
        Err(e) => {
            out.kind = CodeKind::Weighed;
            out.reason = Some(e.to_string());
            return out;
        }
        Ok(None) => {}
    }
    let gtin_kind = match code.len() {
        13 => Some(CodeKind::Ean13),
        12 => Some(CodeKind::Upca),
        8 => Some(CodeKind::Ean8),
        _ => None,
    };
    if let (true, Some(kind)) = (digits, gtin_kind) {
        out.kind = kind;
        match parse_gtin(code) {
            Ok(_) => out.valid = true,
            Err(e) => out.reason = Some(e.to_string()),
        }
        return out;
    }
    if let Some(kind) = payment_code_kind(code) {
        out.kind = kind;
        out.valid = true;
        out.reason = Some(PAYMENT_CODE_REFUSAL.into());
        return out;
    }
    out.reason = Some("not a barcode, scale label, payment code or receipt this till knows".into());
    out
}

/// WeChat Pay, Alipay or UnionPay, when `code` is shaped like a customer payment code.
pub fn payment_code_kind(code: &str) -> Option<CodeKind> {
    if !all_digits(code) || code.len() < 2 {
        return None;
    }
    let head: u32 = code[..2].parse().ok()?;
    match (code.len(), head) {
        (18, 10..=15) => Some(CodeKind::WechatPay),
        (16..=24, 25..=30) => Some(CodeKind::Alipay),
        (16..=20, 62) => Some(CodeKind::UnionPay),
        _ => None,
    }
}

/// The QR code printed on a receipt: `FPR:<sale number>:<sale id>:<verification code>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptQr {
    pub number: String,
    pub id: String,
    pub check: String,
}

impl ReceiptQr {
    pub const PREFIX: &'static str = "FPR:";

    pub fn parse(text: &str) -> Option<ReceiptQr> {
        let rest = text.strip_prefix(Self::PREFIX)?;
        let mut parts = rest.split(':');
        let (number, id, check) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || number.is_empty() || id.len() != 36 || check.len() != 8 {
            return None;
        }
        Some(ReceiptQr {
            number: number.to_string(),
            id: id.to_string(),
            check: check.to_string(),
        })
    }

    /// The payload for a sale, its check made with the till's receipt key.
    pub fn new(key: &[u8], number: &str, id: &str) -> ReceiptQr {
        ReceiptQr {
            number: number.to_string(),
            id: id.to_string(),
            check: receipt_check(key, id),
        }
    }

    pub fn payload(&self) -> String {
        format!("{}{}:{}:{}", Self::PREFIX, self.number, self.id, self.check)
    }

    /// Whether this till printed it (its key made the check).
    pub fn verifies(&self, key: &[u8]) -> bool {
        receipt_check(key, &self.id) == self.check
    }
}

/// Short verification code of a sale id: 8 base32 characters of SHA-256(key ‖ id). Anyone
/// can read a receipt's QR; only the till's key makes a check that verifies.
pub fn receipt_check(key: &[u8], id: &str) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let digest = Sha256::new()
        .chain_update(key)
        .chain_update(id.as_bytes())
        .finalize();
    let mut bits: u64 = 0;
    for b in &digest[..5] {
        bits = (bits << 8) | u64::from(*b);
    }
    (0..8)
        .map(|i| ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use crate::fair::Fair;

    fn rules() -> Vec<BarcodeRule> {
        Fair::from_toml(crate::demo::FAIR_TOML)
            .unwrap()
            .barcode_rules
    }

    #[test]
    fn every_kind_is_told_apart() {
        let r = rules();
        let k = |c: &str| {
            let x = classify(c, &r);
            (x.kind, x.valid)
        };
        assert_eq!(k("6935780100128"), (CodeKind::Ean13, true));
        assert_eq!(k("6935780100129"), (CodeKind::Ean13, false));
        assert_eq!(k("96385074"), (CodeKind::Ean8, true));
        assert_eq!(k("036000291452"), (CodeKind::Upca, true));
        assert_eq!(k("2110021007501"), (CodeKind::Weighed, true));
        assert_eq!(k("2110021007502"), (CodeKind::Weighed, false));
        assert_eq!(k("134567890123456789"), (CodeKind::WechatPay, true));
        assert_eq!(k("2812345678901234"), (CodeKind::Alipay, true));
        assert_eq!(k("6212345678901234567"), (CodeKind::UnionPay, true));
        assert_eq!(k("hello"), (CodeKind::Unknown, false));
        let bad = classify("6935780100129", &r);
        assert!(bad.reason.unwrap().contains("should be 8"));
        let label = classify("2110021007501", &r);
        assert_eq!(
            (label.plu.as_deref(), label.grams),
            (Some("10021"), Some(750))
        );
    }

    #[test]
    fn receipt_qr_round_trips_and_verifies_with_the_key_only() {
        let id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let qr = ReceiptQr::new(b"key one", "T01-000157", id);
        let parsed = classify(&qr.payload(), &rules());
        assert_eq!(parsed.kind, CodeKind::Receipt);
        let back = parsed.sale.unwrap();
        assert!(back.verifies(b"key one"));
        assert!(!back.verifies(b"key two"));
        assert_eq!(back.number, "T01-000157");
    }
}
