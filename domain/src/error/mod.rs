//! The rules of the till that an input can break. Each has a stable [`Rule`] code and is
//! worded twice from one place: for the command line in English, naming the flags that mend
//! it (`Display`), and for the touchscreen in the volunteer's language, with no flags
//! ([`DomainError::words`]).

use std::fmt;

use crate::codes::{CodeKind, PAYMENT_CODE_REFUSAL};
use crate::money::Fen;

/// The language a volunteer or shopper reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Simplified Chinese, the fair's language.
    #[default]
    Zh,
    En,
}

/// A rule of the till that an input broke. Every message is one line a volunteer can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainError {
    BadAmount {
        text: String,
        why: AmountIssue,
    },
    BadCheckDigit {
        code: String,
        expected: u8,
    },
    UnknownCode {
        code: String,
    },
    BadQuantity {
        item: String,
        why: QuantityIssue,
    },
    ZeroQuantity {
        item: String,
    },
    EmptyCart,
    Underpaid {
        due: Fen,
        paid: Fen,
    },
    NonCashOverpaid {
        due: Fen,
        non_cash: Fen,
    },
    BadPayment {
        text: String,
        why: PaymentIssue,
    },
    BadCreditCode {
        code: String,
        why: CreditCodeIssue,
    },
    OnAccountNeedsUnit,
    NoOpenShift,
    ShiftAlreadyOpen {
        since: String,
        seller: String,
    },
    WrongPin,
    /// Too many wrong PINs in a row: none is taken for this many more seconds.
    PinLocked {
        seconds: u64,
    },
    BadPin,
    BadDeviceCode {
        code: String,
    },
    BadFair(String),
    BadCatalog(String),
    SaleVoided {
        number: String,
    },
    SaleHasRefunds {
        number: String,
    },
    BadRefund(RefundIssue),
    ReasonNeeded,
    PaymentCode {
        kind: CodeKind,
    },
    ReceiptScanned {
        number: String,
    },
    BadCsvRow {
        file: String,
        line: u64,
        why: String,
    },
    BadCsv {
        file: String,
        why: String,
    },
    UnknownSeller {
        id: String,
    },
    UnknownUnit {
        code: String,
    },
    UnknownSale {
        key: String,
    },
    /// The scale's weight cannot be sold now.
    ScaleNotReady(ScaleIssue),
}

/// The stable code of each rule: what tests, logs and translations hold on to while the
/// wording changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    BadAmount,
    BadCheckDigit,
    UnknownCode,
    BadQuantity,
    ZeroQuantity,
    EmptyCart,
    Underpaid,
    NonCashOverpaid,
    BadPayment,
    BadCreditCode,
    OnAccountNeedsUnit,
    NoOpenShift,
    ShiftAlreadyOpen,
    WrongPin,
    PinLocked,
    BadPin,
    BadDeviceCode,
    BadFair,
    BadCatalog,
    SaleVoided,
    SaleHasRefunds,
    BadRefund,
    ReasonNeeded,
    PaymentCode,
    ReceiptScanned,
    BadCsvRow,
    BadCsv,
    UnknownSeller,
    UnknownUnit,
    UnknownSale,
    ScaleNotReady,
}

impl Rule {
    pub const ALL: [Rule; 31] = [
        Rule::BadAmount,
        Rule::BadCheckDigit,
        Rule::UnknownCode,
        Rule::BadQuantity,
        Rule::ZeroQuantity,
        Rule::EmptyCart,
        Rule::Underpaid,
        Rule::NonCashOverpaid,
        Rule::BadPayment,
        Rule::BadCreditCode,
        Rule::OnAccountNeedsUnit,
        Rule::NoOpenShift,
        Rule::ShiftAlreadyOpen,
        Rule::WrongPin,
        Rule::PinLocked,
        Rule::BadPin,
        Rule::BadDeviceCode,
        Rule::BadFair,
        Rule::BadCatalog,
        Rule::SaleVoided,
        Rule::SaleHasRefunds,
        Rule::BadRefund,
        Rule::ReasonNeeded,
        Rule::PaymentCode,
        Rule::ReceiptScanned,
        Rule::BadCsvRow,
        Rule::BadCsv,
        Rule::UnknownSeller,
        Rule::UnknownUnit,
        Rule::UnknownSale,
        Rule::ScaleNotReady,
    ];

    /// The code as written in logs and JSON: `bad_check_digit`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::BadAmount => "bad_amount",
            Rule::BadCheckDigit => "bad_check_digit",
            Rule::UnknownCode => "unknown_code",
            Rule::BadQuantity => "bad_quantity",
            Rule::ZeroQuantity => "zero_quantity",
            Rule::EmptyCart => "empty_cart",
            Rule::Underpaid => "underpaid",
            Rule::NonCashOverpaid => "non_cash_overpaid",
            Rule::BadPayment => "bad_payment",
            Rule::BadCreditCode => "bad_credit_code",
            Rule::OnAccountNeedsUnit => "on_account_needs_unit",
            Rule::NoOpenShift => "no_open_shift",
            Rule::ShiftAlreadyOpen => "shift_already_open",
            Rule::WrongPin => "wrong_pin",
            Rule::PinLocked => "pin_locked",
            Rule::BadPin => "bad_pin",
            Rule::BadDeviceCode => "bad_device_code",
            Rule::BadFair => "bad_fair",
            Rule::BadCatalog => "bad_catalog",
            Rule::SaleVoided => "sale_voided",
            Rule::SaleHasRefunds => "sale_has_refunds",
            Rule::BadRefund => "bad_refund",
            Rule::ReasonNeeded => "reason_needed",
            Rule::PaymentCode => "payment_code",
            Rule::ReceiptScanned => "receipt_scanned",
            Rule::BadCsvRow => "bad_csv_row",
            Rule::BadCsv => "bad_csv",
            Rule::UnknownSeller => "unknown_seller",
            Rule::UnknownUnit => "unknown_unit",
            Rule::UnknownSale => "unknown_sale",
            Rule::ScaleNotReady => "scale_not_ready",
        }
    }
}

/// Picks the Chinese or the English of a text.
macro_rules! say {
    ($lang:expr, $zh:expr, $en:expr $(,)?) => {
        match $lang {
            Lang::Zh => $zh,
            Lang::En => $en,
        }
    };
}

mod issues;

pub use issues::{
    AmountIssue, CreditCodeIssue, LineHint, PaymentIssue, QuantityIssue, RefundIssue, ScaleIssue,
};

impl DomainError {
    /// The rule broken.
    pub fn rule(&self) -> Rule {
        match self {
            DomainError::BadAmount { .. } => Rule::BadAmount,
            DomainError::BadCheckDigit { .. } => Rule::BadCheckDigit,
            DomainError::UnknownCode { .. } => Rule::UnknownCode,
            DomainError::BadQuantity { .. } => Rule::BadQuantity,
            DomainError::ZeroQuantity { .. } => Rule::ZeroQuantity,
            DomainError::EmptyCart => Rule::EmptyCart,
            DomainError::Underpaid { .. } => Rule::Underpaid,
            DomainError::NonCashOverpaid { .. } => Rule::NonCashOverpaid,
            DomainError::BadPayment { .. } => Rule::BadPayment,
            DomainError::BadCreditCode { .. } => Rule::BadCreditCode,
            DomainError::OnAccountNeedsUnit => Rule::OnAccountNeedsUnit,
            DomainError::NoOpenShift => Rule::NoOpenShift,
            DomainError::ShiftAlreadyOpen { .. } => Rule::ShiftAlreadyOpen,
            DomainError::WrongPin => Rule::WrongPin,
            DomainError::PinLocked { .. } => Rule::PinLocked,
            DomainError::BadPin => Rule::BadPin,
            DomainError::BadDeviceCode { .. } => Rule::BadDeviceCode,
            DomainError::BadFair(_) => Rule::BadFair,
            DomainError::BadCatalog(_) => Rule::BadCatalog,
            DomainError::SaleVoided { .. } => Rule::SaleVoided,
            DomainError::SaleHasRefunds { .. } => Rule::SaleHasRefunds,
            DomainError::BadRefund(_) => Rule::BadRefund,
            DomainError::ReasonNeeded => Rule::ReasonNeeded,
            DomainError::PaymentCode { .. } => Rule::PaymentCode,
            DomainError::ReceiptScanned { .. } => Rule::ReceiptScanned,
            DomainError::BadCsvRow { .. } => Rule::BadCsvRow,
            DomainError::BadCsv { .. } => Rule::BadCsv,
            DomainError::UnknownSeller { .. } => Rule::UnknownSeller,
            DomainError::UnknownUnit { .. } => Rule::UnknownUnit,
            DomainError::UnknownSale { .. } => Rule::UnknownSale,
            DomainError::ScaleNotReady(_) => Rule::ScaleNotReady,
        }
    }

    /// The message for a screen: in `lang`, naming no command-line flag.
    pub fn words(&self, lang: Lang) -> String {
        self.wording(lang, false)
    }

    fn wording(&self, lang: Lang, cli: bool) -> String {
        use DomainError as E;
        match self {
            E::BadAmount { text, why } => say!(
                lang,
                format!("金额“{text}”有误：{}", why.words(lang)),
                format!("bad amount {text:?}: {}", why.words(lang)),
            ),
            E::BadCheckDigit { code, expected } => say!(
                lang,
                format!("条码 {code} 校验位错误：最后一位应为 {expected}"),
                format!("bad check digit in barcode {code}: the last digit should be {expected}"),
            ),
            E::UnknownCode { code } => say!(
                lang,
                format!("未知条码 {code}：没有商品用这个条码、称重码或货号"),
                format!("unknown code {code}: no product has this barcode, scale code or SKU"),
            ),
            E::BadQuantity { item, why } => say!(
                lang,
                format!("“{item}”的数量有误：{}", why.words(lang, cli)),
                format!("bad quantity in {item:?}: {}", why.words(lang, cli)),
            ),
            E::ZeroQuantity { item } => say!(
                lang,
                format!("“{item}”的数量为零：每行至少一件或一克"),
                format!("zero quantity in {item:?}: a line needs at least one piece or gram"),
            ),
            E::EmptyCart => say!(
                lang,
                "购物车是空的：请至少加入一件商品".into(),
                "the cart is empty: add at least one item".into(),
            ),
            E::Underpaid { due, paid } => say!(
                lang,
                format!("付款不足：应付 {due}，已付 {paid}"),
                format!("underpaid: {due} due, {paid} paid"),
            ),
            E::NonCashOverpaid { due, non_cash } => say!(
                lang,
                format!("非现金付款超额：应付 {due}，非现金 {non_cash}；只有现金可以多付找零"),
                format!(
                    "non-cash overpaid: {non_cash} by non-cash methods for {due} due; only cash may exceed what is due"
                ),
            ),
            E::BadPayment { text, why } => say!(
                lang,
                format!("付款“{text}”有误：{}", why.words(lang)),
                format!("bad payment {text:?}: {}", why.words(lang)),
            ),
            E::BadCreditCode { code, why } => say!(
                lang,
                format!("统一社会信用代码 {code} 有误：{}", why.words(lang)),
                format!("bad credit code {code}: {}", why.words(lang)),
            ),
            E::OnAccountNeedsUnit => match (lang, cli) {
                (Lang::Zh, _) => "单位挂账需要采购单位：请先选择购买单位".into(),
                (Lang::En, true) => {
                    "on_account needs a purchasing unit: give --unit CREDIT_CODE".into()
                }
                (Lang::En, false) => {
                    "on account needs a purchasing unit: choose the buyer first".into()
                }
            },
            E::NoOpenShift => match (lang, cli) {
                (Lang::Zh, _) => "没有未结班次：请先开班".into(),
                (Lang::En, true) => {
                    "no open shift: open one first (fairpos shift open --seller ID --float AMOUNT)"
                        .into()
                }
                (Lang::En, false) => "no open shift: open one first".into(),
            },
            E::ShiftAlreadyOpen { since, seller } => say!(
                lang,
                format!("已有班次未结（{since} 起，收银员 {seller}）：请先交班"),
                format!("a shift is already open (since {since}, seller {seller}); close it first"),
            ),
            E::WrongPin => say!(lang, "PIN 码错误".into(), "wrong PIN".into()),
            E::PinLocked { seconds } => say!(
                lang,
                format!("PIN 码错误次数过多：请 {seconds} 秒后再试"),
                format!("too many wrong PINs: try again in {seconds} s"),
            ),
            E::BadPin => say!(
                lang,
                "PIN 码须为 4 到 12 位数字".into(),
                "a PIN is 4 to 12 digits".into(),
            ),
            E::BadDeviceCode { code } => say!(
                lang,
                format!("设备编号“{code}”有误：请用一个大写字母加数字，如 T02"),
                format!("bad device code {code:?}: use a capital letter and digits, such as T02"),
            ),
            E::BadFair(why) => say!(
                lang,
                format!("展会文件有误：{why}"),
                format!("bad fair file: {why}"),
            ),
            E::BadCatalog(why) => say!(
                lang,
                format!("商品目录有误：{why}"),
                format!("bad catalog: {why}"),
            ),
            E::SaleVoided { number } => say!(
                lang,
                format!("销售单 {number} 已作废"),
                format!("sale {number} is voided"),
            ),
            E::SaleHasRefunds { number } => say!(
                lang,
                format!("销售单 {number} 已有退款，不能作废；请退其余商品"),
                format!(
                    "sale {number} has refunds, so it cannot be voided; refund its remaining lines instead"
                ),
            ),
            E::BadRefund(why) => say!(
                lang,
                format!("退款有误：{}", why.words(lang, cli)),
                format!("bad refund: {}", why.words(lang, cli)),
            ),
            E::ReasonNeeded => say!(lang, "请写明原因".into(), "a reason is needed".into()),
            E::PaymentCode { kind } => {
                let app = match kind {
                    CodeKind::WechatPay => say!(lang, "微信", "WeChat Pay"),
                    _ => say!(lang, "支付宝", "Alipay"),
                };
                say!(
                    lang,
                    format!("这是顾客的{app}付款码：本机没有支付网络，不能扣款；请顾客扫摊位收款码，再记录付款"),
                    format!("this is a {app} customer payment code: {PAYMENT_CODE_REFUSAL}"),
                )
            }
            E::ReceiptScanned { number } => say!(
                lang,
                format!("这是销售单 {number} 的小票，不是商品：请打开该单退款或补打"),
                format!(
                    "this is the receipt of sale {number}, not an item: open the sale to refund or reprint it"
                ),
            ),
            E::BadCsvRow { file, line, why } => say!(
                lang,
                format!("{file} 第 {line} 行：{why}"),
                format!("{file} line {line}: {why}"),
            ),
            E::BadCsv { file, why } => say!(
                lang,
                format!("{file} 文件有误：{why}"),
                format!("{file}: {why}"),
            ),
            E::UnknownSeller { id } => match (lang, cli) {
                (Lang::Zh, _) => format!("未知收银员 {id}"),
                (Lang::En, true) => format!(
                    "unknown seller {id}: not in the sellers list (fairpos sellers import FILE.csv)"
                ),
                (Lang::En, false) => format!("unknown seller {id}"),
            },
            E::UnknownUnit { code } => match (lang, cli) {
                (Lang::Zh, _) => format!("未知采购单位 {code}"),
                (Lang::En, true) => format!(
                    "unknown unit {code}: it is not in the units list (fairpos units import FILE.csv)"
                ),
                (Lang::En, false) => format!("unknown unit {code}"),
            },
            E::UnknownSale { key } => say!(
                lang,
                format!("本机没有销售单 {key}"),
                format!("no sale {key} on this till"),
            ),
            E::ScaleNotReady(why) => why.words(lang),
        }
    }
}

impl fmt::Display for DomainError {
    /// The command line's wording: English, naming the flags that mend it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wording(Lang::En, true))
    }
}

impl std::error::Error for DomainError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each rule (the match makes a new rule fail to compile until it has one).
    fn example(rule: Rule) -> DomainError {
        use DomainError as E;
        let s = |t: &str| t.to_string();
        match rule {
            Rule::BadAmount => E::BadAmount {
                text: s("1.234"),
                why: AmountIssue::TooManyDecimals,
            },
            Rule::BadCheckDigit => E::BadCheckDigit {
                code: s("6935780100129"),
                expected: 8,
            },
            Rule::UnknownCode => E::UnknownCode { code: s("123") },
            Rule::BadQuantity => E::BadQuantity {
                item: s("HY-MHT-LB"),
                why: QuantityIssue::NeedsWeight {
                    sku: s("HY-MHT-LB"),
                    code: s("HY-MHT-LB"),
                    unit: s("斤"),
                },
            },
            Rule::ZeroQuantity => E::ZeroQuantity { item: s("X*0") },
            Rule::EmptyCart => E::EmptyCart,
            Rule::Underpaid => E::Underpaid {
                due: Fen(100),
                paid: Fen(50),
            },
            Rule::NonCashOverpaid => E::NonCashOverpaid {
                due: Fen(100),
                non_cash: Fen(200),
            },
            Rule::BadPayment => E::BadPayment {
                text: s("gold"),
                why: PaymentIssue::UnknownMethod(Some(s("gold"))),
            },
            Rule::BadCreditCode => E::BadCreditCode {
                code: s("X"),
                why: CreditCodeIssue::Length(1),
            },
            Rule::OnAccountNeedsUnit => E::OnAccountNeedsUnit,
            Rule::NoOpenShift => E::NoOpenShift,
            Rule::ShiftAlreadyOpen => E::ShiftAlreadyOpen {
                since: s("10:00"),
                seller: s("V003"),
            },
            Rule::WrongPin => E::WrongPin,
            Rule::PinLocked => E::PinLocked { seconds: 30 },
            Rule::BadPin => E::BadPin,
            Rule::BadDeviceCode => E::BadDeviceCode { code: s("t1") },
            Rule::BadFair => E::BadFair(s("`name` is empty")),
            Rule::BadCatalog => E::BadCatalog(s("sku A is used by two products")),
            Rule::SaleVoided => E::SaleVoided {
                number: s("T01-000001"),
            },
            Rule::SaleHasRefunds => E::SaleHasRefunds {
                number: s("T01-000001"),
            },
            Rule::BadRefund => E::BadRefund(RefundIssue::WeighedWhole { line: 2 }),
            Rule::ReasonNeeded => E::ReasonNeeded,
            Rule::PaymentCode => E::PaymentCode {
                kind: CodeKind::Alipay,
            },
            Rule::ReceiptScanned => E::ReceiptScanned {
                number: s("T01-000001"),
            },
            Rule::BadCsvRow => E::BadCsvRow {
                file: s("c.csv"),
                line: 3,
                why: s("price_yuan is empty"),
            },
            Rule::BadCsv => E::BadCsv {
                file: s("c.csv"),
                why: s("no column named sku"),
            },
            Rule::UnknownSeller => E::UnknownSeller { id: s("V999") },
            Rule::UnknownUnit => E::UnknownUnit {
                code: s("12430000444883027E"),
            },
            Rule::UnknownSale => E::UnknownSale {
                key: s("T01-000009"),
            },
            Rule::ScaleNotReady => E::ScaleNotReady(ScaleIssue::Motion),
        }
    }

    fn has_cjk(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn every_rule_has_chinese_and_english_words_without_flags() {
        let mut codes = std::collections::HashSet::new();
        for rule in Rule::ALL {
            assert!(codes.insert(rule.code()), "{rule:?}: code used twice");
            let e = example(rule);
            assert_eq!(e.rule(), rule);
            let zh = e.words(Lang::Zh);
            let en = e.words(Lang::En);
            assert!(has_cjk(&zh), "{rule:?} has no Chinese: {zh}");
            assert!(
                !en.is_empty() && !has_cjk(&en.replace("斤", "")),
                "{rule:?}: {en}"
            );
            for words in [&zh, &en] {
                assert!(
                    !words.contains("--") && !words.contains("fairpos "),
                    "{rule:?} names a command-line flag on the screen: {words}"
                );
            }
        }
    }

    #[test]
    fn the_command_line_names_its_flags() {
        assert_eq!(
            DomainError::OnAccountNeedsUnit.to_string(),
            "on_account needs a purchasing unit: give --unit CREDIT_CODE"
        );
        assert!(DomainError::NoOpenShift
            .to_string()
            .contains("fairpos shift open --seller ID"));
        assert_eq!(
            DomainError::BadRefund(RefundIssue::NoLines).to_string(),
            "bad refund: name at least one line (--line N[:QTY])"
        );
    }
}
