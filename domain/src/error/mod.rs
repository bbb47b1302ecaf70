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
    /// Several rows of one file refused (`(line, why)`, in the file's order): a file is
    /// taken whole or not at all, so every row to mend is named at once.
    BadCsvRows {
        file: String,
        rows: Vec<(u64, String)>,
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
    BadCsvRows,
    BadCsv,
    UnknownSeller,
    UnknownUnit,
    UnknownSale,
    ScaleNotReady,
}

impl Rule {
    pub const ALL: [Rule; 32] = [
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
        Rule::BadCsvRows,
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
            Rule::BadCsvRows => "bad_csv_rows",
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
            DomainError::BadCsvRows { .. } => Rule::BadCsvRows,
            DomainError::BadCsv { .. } => Rule::BadCsv,
            DomainError::UnknownSeller { .. } => Rule::UnknownSeller,
            DomainError::UnknownUnit { .. } => Rule::UnknownUnit,
            DomainError::UnknownSale { .. } => Rule::UnknownSale,
            DomainError::ScaleNotReady(_) => Rule::ScaleNotReady,
        }
    }

    /// The refusal of a file's rows `refused` (`(line, why)`): none when it is empty,
    /// [`DomainError::BadCsvRow`] for one row, [`DomainError::BadCsvRows`] (in line order)
    /// for more.
    pub fn csv_rows(file: &str, mut refused: Vec<(u64, String)>) -> Option<DomainError> {
        refused.sort_by_key(|(line, _)| *line);
        let file = file.to_string();
        match refused.len() {
            0 => None,
            1 => {
                let (line, why) = refused.remove(0);
                Some(DomainError::BadCsvRow { file, line, why })
            }
            _ => Some(DomainError::BadCsvRows {
                file,
                rows: refused,
            }),
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
            E::UnknownCode { code } => {
                let code = shown_code(code);
                say!(
                    lang,
                    format!("未知条码 {code}：没有商品用这个条码、称重码或货号"),
                    format!("unknown code {code}: no product has this barcode, scale code or SKU"),
                )
            }
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
                    CodeKind::UnionPay => say!(lang, "云闪付", "UnionPay"),
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
            E::BadCsvRows { file, rows } => say!(
                lang,
                format!(
                    "{file} 有 {} 行有误，整个文件未导入：{}",
                    rows.len(),
                    rows_listed(rows, lang)
                ),
                format!(
                    "{file}: {} rows refused, so nothing of it is imported: {}",
                    rows.len(),
                    rows_listed(rows, lang)
                ),
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

/// The most refused rows a message lists; the rest are counted.
const ROWS_LISTED: usize = 10;

/// An unknown code as a message shows it: a run of more digits than any product code has
/// (EAN-13, ITF-14) is cut to its first four, as it may be a payment code of a kind not
/// known here (a customer's code stays valid for a minute, and the screen is public); any
/// other code to its first 24 characters (a web address's QR pushed the reason off the
/// kiosk's banner).
fn shown_code(code: &str) -> String {
    if code.len() > 14 && code.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}…", &code[..4]);
    }
    match code.char_indices().nth(24) {
        Some((at, _)) => format!("{}…", &code[..at]),
        None => code.to_string(),
    }
}

/// Refused rows in words (`line 4: price_yuan is empty; line 9: …`), at most
/// [`ROWS_LISTED`], then how many more.
fn rows_listed(rows: &[(u64, String)], lang: Lang) -> String {
    let listed: Vec<String> = rows
        .iter()
        .take(ROWS_LISTED)
        .map(|(line, why)| {
            say!(
                lang,
                format!("第 {line} 行：{why}"),
                format!("line {line}: {why}")
            )
        })
        .collect();
    let mut words = listed.join(say!(lang, "；", "; "));
    if let Some(more) = rows.len().checked_sub(ROWS_LISTED).filter(|&n| n > 0) {
        words += &say!(
            lang,
            format!("（另有 {more} 行）"),
            format!(" (and {more} more)")
        );
    }
    words
}

#[cfg(test)]
mod tests;
