//! The three statement layouts: how each is recognised by its column row, where its rows
//! end, and what one row means.

use super::{
    amount, clean, expense as expense_amount, split_row, time, Flow, Provider, StatementLine,
};
use crate::money::Fen;

/// A statement's published layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// WeChat Pay's merchant bill (交易账单).
    WechatBill,
    /// The WeChat app's 账单明细 export.
    WechatApp,
    /// Alipay's account statement (账务明细).
    AlipayAccount,
}

/// Columns of a layout: a name, or names it has gone by.
type Wanted = (&'static str, &'static [&'static str]);

const WECHAT_BILL: &[Wanted] = &[
    ("time", &["交易时间"]),
    ("order", &["微信订单号"]),
    ("status", &["交易状态"]),
    // 总金额 in the bills of merchants still on WeChat's early layout.
    ("amount", &["订单金额", "应结订单金额", "总金额"]),
    ("refund_no", &["微信退款单号"]),
    // What the refund was for, as 订单金额 is what the payment was for: 退款金额 leaves out
    // the part a 免充值券 (a coupon putting no money in the account; 消费券 at these fairs)
    // had paid, so a till's whole refund met a statement's smaller one.
    ("refund", &["申请退款金额", "退款金额"]),
    ("refund_status", &["退款状态"]),
    ("goods", &["商品名称"]),
];

const WECHAT_APP: &[Wanted] = &[
    ("time", &["交易时间"]),
    ("type", &["交易类型"]),
    ("party", &["交易对方"]),
    ("direction", &["收/支"]),
    ("amount", &["金额(元)"]),
    ("status", &["当前状态"]),
    ("txn", &["交易单号"]),
];

const ALIPAY_ACCOUNT: &[Wanted] = &[
    ("txn", &["账务流水号"]),
    ("time", &["发生时间", "入账时间"]),
    ("income", &["收入金额(+元)"]),
    ("expense", &["支出金额(-元)"]),
    ("business", &["业务类型"]),
    ("party", &["对方名称", "对方账号"]),
];

/// What one row of a statement records.
#[derive(Debug)]
pub enum Row {
    Line(StatementLine),
    /// Money in that is not a shopper paying the stall (a red packet, a transfer to the
    /// owner on Alipay, a kind this build does not know), by its kind as the file names it.
    OthersMoneyIn(String, Fen),
    /// Neither money in nor a refund (a withdrawal, a fee, a revoked order).
    Neither,
}

/// Whether a WeChat app export's 交易类型 of money in is a shopper paying the stall.
fn is_shoppers_payment(kind: &str) -> bool {
    matches!(kind, "二维码收款" | "经营收款" | "转账" | "扫码收款")
}

/// Where each wanted column is in a file's column row.
#[derive(Clone, Debug)]
pub struct Columns {
    at: Vec<(&'static str, usize)>,
}

impl Columns {
    pub(super) fn get<'f>(&self, fields: &'f [String], name: &str) -> &'f str {
        self.at
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, i)| fields.get(*i))
            .map_or("", String::as_str)
    }

    /// The highest column index read: a row must reach it.
    pub fn last(&self) -> usize {
        self.at.iter().map(|(_, i)| *i).max().unwrap_or(0)
    }
}

/// A column name compared as the providers vary it: full-width brackets as ASCII.
fn normal(name: &str) -> String {
    name.replace('（', "(").replace('）', ")")
}

impl Layout {
    /// The layout whose column row `row` is, with its cleaned column names.
    pub fn recognise(row: &str) -> Option<(Layout, Vec<String>)> {
        let names: Vec<String> = split_row(row).ok()?.iter().map(|n| normal(n)).collect();
        let has = |n: &str| names.iter().any(|x| x == n);
        let layout = if has("交易时间") && has("微信订单号") && has("交易状态") {
            Layout::WechatBill
        } else if has("交易时间") && has("收/支") && has("金额(元)") && has("交易单号")
        {
            Layout::WechatApp
        } else if has("账务流水号") && has("收入金额(+元)") && has("支出金额(-元)") {
            Layout::AlipayAccount
        } else {
            return None;
        };
        Some((layout, names))
    }

    pub fn provider(self) -> Provider {
        match self {
            Layout::WechatBill | Layout::WechatApp => Provider::Wechat,
            Layout::AlipayAccount => Provider::Alipay,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Layout::WechatBill => "a WeChat Pay merchant bill",
            Layout::WechatApp => "a WeChat 账单明细 export",
            Layout::AlipayAccount => "an Alipay 账务明细",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::WechatBill => "wechat_bill",
            Layout::WechatApp => "wechat_app",
            Layout::AlipayAccount => "alipay_account",
        }
    }

    fn wanted(self) -> &'static [Wanted] {
        match self {
            Layout::WechatBill => WECHAT_BILL,
            Layout::WechatApp => WECHAT_APP,
            Layout::AlipayAccount => ALIPAY_ACCOUNT,
        }
    }

    /// Finds each wanted column by name; optional ones (goods, party) may be absent.
    pub fn columns(self, header: &[String]) -> Result<Columns, String> {
        let mut at = Vec::new();
        for (key, names) in self.wanted() {
            match names
                .iter()
                .find_map(|n| header.iter().position(|h| h == n))
            {
                Some(i) => at.push((*key, i)),
                None if matches!(
                    *key,
                    "goods" | "party" | "refund_no" | "refund" | "refund_status"
                ) => {}
                None => return Err(format!("no column {} in the column row", names[0])),
            }
        }
        Ok(Columns { at })
    }

    /// The one direction of money a file accounts for, when it holds only one (`None`: both).
    /// WeChat Pay's merchant platform gives three bills of a day: every order (ALL), paid
    /// ones only (SUCCESS: no refund columns) and refunds only (REFUND: with 退款申请时间);
    /// the WeChat app exports money in or out only when asked (导出类型：[收入] or [支出], in
    /// the `before` lines). A payments-only file does not say a till's refund that day was
    /// never given, nor a refunds-only file a payment never received.
    pub fn flows_accounted(self, header: &[String], before: &[&str]) -> Option<Flow> {
        let has = |n: &str| header.iter().any(|h| h == n);
        match self {
            Layout::WechatBill if !has("微信退款单号") => Some(Flow::Payment),
            Layout::WechatBill if has("退款申请时间") => Some(Flow::Refund),
            Layout::WechatApp => {
                let kind = before.iter().find_map(|row| {
                    let rest = &row[row.find("导出类型")?..];
                    let open = rest.find(['[', '［'])?;
                    let inner = &rest[open..];
                    let inner = &inner[inner.chars().next()?.len_utf8()..];
                    Some(inner[..inner.find([']', '］'])?].trim().to_string())
                });
                match kind.as_deref() {
                    Some("收入") => Some(Flow::Payment),
                    Some("支出") => Some(Flow::Refund),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether `row` ends the table (the summary or closing comment lines).
    pub fn ends_at(self, row: &str) -> bool {
        let t = clean(row);
        t.starts_with('#') || t.starts_with("---") || t.starts_with("总交易单数")
    }

    /// What row `fields` records: a payment, a refund, money in that is not the stall's
    /// takings, or neither.
    pub fn read(self, c: &Columns, fields: &[String], line: u64) -> Result<Row, String> {
        let at = time(c.get(fields, "time"))?;
        let made = |txn: &str, flow: Flow, amount_text: &str, note: &str| {
            if txn.is_empty() {
                return Err("no transaction number".to_string());
            }
            Ok(Row::Line(StatementLine {
                line,
                txn: txn.to_string(),
                flow,
                amount: amount(amount_text)?,
                at,
                note: note.to_string(),
            }))
        };
        match self {
            Layout::WechatBill => {
                let goods = c.get(fields, "goods");
                match c.get(fields, "status") {
                    "SUCCESS" => made(
                        c.get(fields, "order"),
                        Flow::Payment,
                        c.get(fields, "amount"),
                        goods,
                    ),
                    // Money given back: a refund that succeeded (退款状态 SUCCESS), or one
                    // still PROCESSING, which WeChat's reconciliation guide says to take as
                    // succeeded (the money has left the merchant's balance; the shopper's
                    // bank is still crediting it). One failed or closed (FAIL, REFUNDCLOSE,
                    // CLOSED, ABNORMAL, CHANGE) gave nothing back.
                    "REFUND" => match c.get(fields, "refund_status") {
                        "SUCCESS" | "PROCESSING" | "" => made(
                            c.get(fields, "refund_no"),
                            Flow::Refund,
                            c.get(fields, "refund"),
                            goods,
                        ),
                        "FAIL" | "CHANGE" | "REFUNDCLOSE" | "CLOSED" | "ABNORMAL" => {
                            Ok(Row::Neither)
                        }
                        other => Err(format!(
                            "退款状态 {other:?} is none of SUCCESS, PROCESSING, FAIL, \
                             REFUNDCLOSE, CLOSED, ABNORMAL, CHANGE"
                        )),
                    },
                    "REVOKED" | "CLOSED" | "NOTPAY" | "PAYERROR" => Ok(Row::Neither),
                    other => Err(format!(
                        "交易状态 {other:?} is none of SUCCESS, REFUND, REVOKED"
                    )),
                }
            }
            Layout::WechatApp => {
                // Decided by the 交易类型 alone (`二维码收款`, `二维码收款-退款`): the
                // 当前状态 of the owner's own purchase later refunded (`商户消费`, 支出,
                // `已全额退款`) made it a refund the stall gave, and the refund of such a
                // purchase (`商户消费-退款`, 收入) a shopper's payment.
                let kind = c.get(fields, "type");
                let refund = kind.contains("退款");
                let flow = match c.get(fields, "direction") {
                    "收入" if refund => return Ok(Row::Neither),
                    // Money a shopper paid the stall: by its QR code, its business QR
                    // code, or a transfer. A red packet, a group collection or a tip
                    // (`微信红包`, `群收款`, `赞赏码`) is the owner's, and paired with a
                    // till's payment that never came it hid the payment on paper only;
                    // it is left out by its kind, which the import names (a kind WeChat
                    // adds for shoppers' payments would otherwise go unseen).
                    "收入" if is_shoppers_payment(kind) => Flow::Payment,
                    // Its amount unreadable, passed over as before it was named (a row
                    // that is no payment refused the whole file).
                    "收入" => {
                        return Ok(match amount(c.get(fields, "amount")) {
                            Ok(amount) => Row::OthersMoneyIn(kind.to_string(), amount),
                            Err(_) => Row::Neither,
                        });
                    }
                    "支出" | "/" | "" if refund => Flow::Refund,
                    "支出" | "/" | "" => return Ok(Row::Neither),
                    other => return Err(format!("收/支 {other:?} is none of 收入, 支出, /")),
                };
                made(
                    c.get(fields, "txn"),
                    flow,
                    c.get(fields, "amount"),
                    c.get(fields, "party"),
                )
            }
            Layout::AlipayAccount => {
                let business = c.get(fields, "business");
                let income = c.get(fields, "income");
                let expense = c.get(fields, "expense");
                let party = c.get(fields, "party");
                let income_fen = if income.is_empty() {
                    Fen::ZERO
                } else {
                    amount(income).map_err(|e| format!("收入金额: {e}"))?
                };
                let expense_fen = if expense.is_empty() {
                    Fen::ZERO
                } else {
                    expense_amount(expense).map_err(|e| format!("支出金额: {e}"))?
                };
                // A shopper's payment is a 交易 (or 在线支付) row with income; a refund a
                // 交易退款 row with expense. Fees (收费), rebates, transfers and withdrawals
                // are neither.
                let refund = business.contains("退款");
                let sale = matches!(business, "交易" | "在线支付" | "收款");
                if income_fen.is_positive() && sale {
                    made(c.get(fields, "txn"), Flow::Payment, income, party)
                } else if expense_fen.is_positive() && refund {
                    made(
                        c.get(fields, "txn"),
                        Flow::Refund,
                        expense.trim().trim_start_matches('-'),
                        party,
                    )
                } else if income_fen.is_positive() && !refund {
                    // Money in of another business (a transfer, 其他): named by the import.
                    Ok(Row::OthersMoneyIn(business.to_string(), income_fen))
                } else {
                    Ok(Row::Neither)
                }
            }
        }
    }
}
