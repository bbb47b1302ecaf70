//! Why an amount, a quantity, a payment, a credit code or a refund is refused, each worded in
//! Chinese and English.

use super::Lang;
use crate::payment::Method;

/// What is wrong with an amount of money typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountIssue {
    NotPlain,
    TooManyDecimals,
    TooLarge,
    /// A competition rate (points per yuan) with more than four places.
    BadRate,
    /// Zero where an amount moves money (cash into or out of the drawer).
    Zero,
}

/// What is wrong with the quantity of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantityIssue {
    NotWeighed {
        plu: String,
        sku: String,
    },
    NotWholePieces(String),
    NotWholeGrams(String),
    NotAWeight {
        text: String,
        unit: String,
    },
    TooManyPieces(i64),
    /// More than this many kilograms.
    TooHeavy(i64),
    /// The sale would come to more than this many yuan.
    SaleOver(i64),
    /// A weighed product named without its weight.
    NeedsWeight {
        sku: String,
        code: String,
        unit: String,
    },
    WeighedTakesWeight,
    CountedTakesPieces,
    NoSuchLine {
        lines: usize,
    },
}

/// What is wrong with a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentIssue {
    /// Not one of [`Method::ALL`]; the method typed, when it was given apart.
    UnknownMethod(Option<String>),
    NotPositive,
    NoneGiven,
    TwoWithoutAmount,
    NothingLeft,
    AlreadyCovered,
    /// The cash handed over would come to more than this many yuan (change that large is a
    /// mistyped amount, and headquarters refuses a record beyond what a till takes).
    CashOver(i64),
}

/// What is wrong with a unified social credit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreditCodeIssue {
    Length(usize),
    BadChar { position: usize, found: char },
    WrongCheck { found: char, expected: char },
}

/// What is wrong with a refund asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundIssue {
    /// `--line` text that is not `N` or `N:QTY`.
    LineText {
        text: String,
        hint: LineHint,
    },
    NoLines,
    NamedTwice {
        line: u32,
    },
    NoSuchLine {
        number: String,
        line: u32,
        lines: usize,
    },
    AlreadyRefunded {
        number: String,
        line: u32,
    },
    WeighedWhole {
        line: u32,
    },
    TooMany {
        line: u32,
        left: i64,
        asked: i64,
    },
    /// More refunded by `method` than the sale took by it (cash, WeChat Pay, Alipay and
    /// UnionPay counted together, as money; on account, vouchers and union cards each alone),
    /// less what was refunded by it before: `left`.
    OverMethod {
        number: String,
        method: crate::payment::Method,
        left: crate::money::Fen,
        asked: crate::money::Fen,
    },
}

/// Why the weight on the scale cannot be sold now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleIssue {
    Motion,
    OverCapacity,
    UnderZero,
    /// Nothing (or less than a gram) on the plate.
    Empty,
    /// The scale reports an error of its own, or does not answer.
    Fault(String),
}

impl ScaleIssue {
    pub(super) fn words(&self, lang: Lang) -> String {
        match self {
            ScaleIssue::Motion => say!(
                lang,
                "秤还在晃动：请等读数稳定".into(),
                "the scale is still moving: wait until it settles".into(),
            ),
            ScaleIssue::OverCapacity => say!(
                lang,
                "超出秤的量程".into(),
                "the goods are over the scale's capacity".into(),
            ),
            ScaleIssue::UnderZero => say!(
                lang,
                "秤的读数低于零：请清空秤盘后置零".into(),
                "the scale reads below zero: empty it and zero it".into(),
            ),
            ScaleIssue::Empty => say!(
                lang,
                "秤上没有东西".into(),
                "nothing is on the scale".into(),
            ),
            ScaleIssue::Fault(why) => say!(
                lang,
                format!("电子秤出错：{why}"),
                format!("the scale: {why}"),
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineHint {
    Format,
    FromOne,
    WholeQuantity,
}

impl AmountIssue {
    pub(super) fn words(self, lang: Lang) -> &'static str {
        match self {
            AmountIssue::NotPlain => say!(
                lang,
                "不是以元为单位的普通数字",
                "not a plain decimal number of yuan"
            ),
            AmountIssue::TooManyDecimals => say!(
                lang,
                "小数超过两位（最小单位是 0.01 元）",
                "more than two decimals (the smallest unit is 0.01 yuan)"
            ),
            AmountIssue::TooLarge => say!(lang, "数额太大", "too large"),
            AmountIssue::BadRate => say!(
                lang,
                "每元积分须为最多四位小数的数字",
                "points per yuan must be a decimal with at most 4 places"
            ),
            AmountIssue::Zero => say!(lang, "金额须大于零", "must be more than zero"),
        }
    }
}

impl QuantityIssue {
    pub(super) fn words(&self, lang: Lang, cli: bool) -> String {
        match self {
            QuantityIssue::NotWeighed { plu, sku } => say!(
                lang,
                format!("PLU {plu} 是 {sku}，不是称重商品"),
                format!("PLU {plu} is {sku}, which is not weighed"),
            ),
            QuantityIssue::NotWholePieces(t) => say!(
                lang,
                format!("“{t}”不是整数件数"),
                format!("{t:?} is not a whole number of pieces"),
            ),
            QuantityIssue::NotWholeGrams(t) => say!(
                lang,
                format!("“{t}”不是整数克数"),
                format!("{t:?} is not a whole number of grams"),
            ),
            QuantityIssue::NotAWeight { text, unit } => say!(
                lang,
                format!("“{text}”不是以{unit}计的重量（最多三位小数），也不是克数（如 750g）"),
                format!(
                    "{text:?} is not a weight in {unit} (up to 3 decimals) or grams such as 750g"
                ),
            ),
            QuantityIssue::TooManyPieces(max) => say!(
                lang,
                format!("超过 {max} 件"),
                format!("more than {max} pieces"),
            ),
            QuantityIssue::SaleOver(yuan) => say!(
                lang,
                format!("整单将超过 {yuan} 元"),
                format!("the sale would come to more than {yuan} yuan"),
            ),
            QuantityIssue::TooHeavy(kg) => {
                say!(
                    lang,
                    format!("超过 {kg} 公斤"),
                    format!("more than {kg} kg")
                )
            }
            QuantityIssue::NeedsWeight { sku, code, unit } => match (lang, cli) {
                (Lang::Zh, _) => format!("{sku} 按重量销售：请称重或输入重量"),
                (Lang::En, true) => format!(
                    "{sku} is sold by weight: give it as {code}*1.5 ({unit}) or {code}*750g"
                ),
                (Lang::En, false) => {
                    format!("{sku} is sold by weight: weigh it or type its weight")
                }
            },
            QuantityIssue::WeighedTakesWeight => say!(
                lang,
                "称重商品要输入重量，不是件数".to_string(),
                "a weighed line takes a weight, not pieces".to_string(),
            ),
            QuantityIssue::CountedTakesPieces => say!(
                lang,
                "计件商品要输入件数，不是重量".to_string(),
                "a counted line takes pieces, not a weight".to_string(),
            ),
            QuantityIssue::NoSuchLine { lines } => say!(
                lang,
                format!("购物车只有 {lines} 行"),
                format!("the cart has {lines} lines"),
            ),
        }
    }
}

fn method_names(lang: Lang) -> String {
    let names: Vec<&str> = Method::ALL
        .iter()
        .map(|m| say!(lang, m.label_zh(), m.as_str()))
        .collect();
    names.join(say!(lang, "、", ", "))
}

impl PaymentIssue {
    pub(super) fn words(&self, lang: Lang) -> String {
        match self {
            PaymentIssue::UnknownMethod(None) => say!(
                lang,
                format!("未知付款方式；可用：{}", method_names(lang)),
                format!("unknown method; use one of {}", method_names(lang)),
            ),
            PaymentIssue::UnknownMethod(Some(m)) => say!(
                lang,
                format!("未知付款方式“{m}”；可用：{}", method_names(lang)),
                format!("unknown method {m:?}; use one of {}", method_names(lang)),
            ),
            PaymentIssue::NotPositive => say!(
                lang,
                "金额须大于零".into(),
                "the amount must be more than zero".into(),
            ),
            PaymentIssue::NoneGiven => say!(lang, "没有付款".into(), "no payment given".into()),
            PaymentIssue::TwoWithoutAmount => say!(
                lang,
                "只能有一笔付款不写金额".into(),
                "only one payment may leave out its amount".into(),
            ),
            PaymentIssue::NothingLeft => say!(
                lang,
                "已付清，无需再用它付款".into(),
                "nothing is left to pay with it".into(),
            ),
            PaymentIssue::AlreadyCovered => say!(
                lang,
                "其他付款已付清，无需现金".into(),
                "the other payments already cover what is due".into(),
            ),
            PaymentIssue::CashOver(yuan) => say!(
                lang,
                format!("现金合计不能超过 {yuan} 元"),
                format!("the cash handed over may come to {yuan} yuan at most"),
            ),
        }
    }
}

impl CreditCodeIssue {
    pub(super) fn words(&self, lang: Lang) -> String {
        match self {
            CreditCodeIssue::Length(n) => say!(
                lang,
                format!("{n} 位，应为 18 位"),
                format!("{n} characters, expected 18"),
            ),
            CreditCodeIssue::BadChar { position, found } => say!(
                lang,
                format!("第 {position} 位字符 {found} 不允许"),
                format!("character {position} ({found}) is not allowed"),
            ),
            CreditCodeIssue::WrongCheck { found, expected } => say!(
                lang,
                format!("校验码 {found} 错误，应为 {expected}"),
                format!("wrong check character {found}, expected {expected}"),
            ),
        }
    }
}

impl RefundIssue {
    pub(super) fn words(&self, lang: Lang, cli: bool) -> String {
        match self {
            RefundIssue::LineText { text, hint } => {
                let hint = match hint {
                    LineHint::Format => say!(
                        lang,
                        "请写行号（从 1 起），可加 :数量",
                        "give a line number from 1, optionally :QTY"
                    ),
                    LineHint::FromOne => say!(lang, "行号从 1 起", "lines are numbered from 1"),
                    LineHint::WholeQuantity => {
                        say!(lang, "数量须为整数", "the quantity must be a whole number")
                    }
                };
                say!(
                    lang,
                    format!("行“{text}”：{hint}"),
                    format!("line {text:?}: {hint}"),
                )
            }
            RefundIssue::NoLines => match (lang, cli) {
                (Lang::Zh, _) => "请至少选择一行".into(),
                (Lang::En, true) => "name at least one line (--line N[:QTY])".into(),
                (Lang::En, false) => "choose at least one line".into(),
            },
            RefundIssue::NamedTwice { line } => say!(
                lang,
                format!("第 {line} 行写了两次"),
                format!("line {line} is named twice"),
            ),
            RefundIssue::NoSuchLine {
                number,
                line,
                lines,
            } => say!(
                lang,
                format!("销售单 {number} 没有第 {line} 行（共 {lines} 行）"),
                format!("sale {number} has no line {line} (it has {lines})"),
            ),
            RefundIssue::AlreadyRefunded { number, line } => say!(
                lang,
                format!("销售单 {number} 第 {line} 行已全部退款"),
                format!("line {line} of sale {number} is already refunded"),
            ),
            RefundIssue::WeighedWhole { line } => match (lang, cli) {
                (Lang::Zh, _) => format!("第 {line} 行是称重商品：只能整行退"),
                (Lang::En, true) => {
                    format!("line {line} is weighed: refund it whole (--line {line})")
                }
                (Lang::En, false) => format!("line {line} is weighed: refund it whole"),
            },
            RefundIssue::TooMany { line, left, asked } => say!(
                lang,
                format!("第 {line} 行只剩 {left} 可退，不是 {asked}"),
                format!("line {line} has {left} left to refund, not {asked}"),
            ),
            RefundIssue::OverMethod {
                number,
                method,
                left,
                asked,
            } if method.is_money() => say!(
                lang,
                format!(
                    "销售单 {number} 以现金、微信、支付宝、银联支付的金额只剩 ￥{left} 可退，\
                     不是 ￥{asked}：其余部分按原支付方式退"
                ),
                format!(
                    "sale {number} has ￥{left} paid in money (cash, WeChat Pay, Alipay, \
                     UnionPay) left to refund, not ￥{asked}: refund the rest by the method it \
                     was paid with"
                ),
            ),
            RefundIssue::OverMethod {
                number,
                method,
                left,
                asked,
            } => say!(
                lang,
                format!(
                    "销售单 {number} 以{}支付的金额只剩 ￥{left} 可退，不是 ￥{asked}",
                    method.label_zh()
                ),
                format!("sale {number} has ￥{left} paid {method} left to refund, not ￥{asked}"),
            ),
        }
    }
}
