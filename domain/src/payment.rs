//! Payment methods, tenders and settling a total: split tender, change from cash only.

use std::fmt;

use crate::money::{Fen, MAX_INPUT_FEN};
use crate::{DomainError, PaymentIssue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Cash,
    Wechat,
    Alipay,
    Unionpay,
    Voucher,
    /// A trade union's member card.
    UnionCard,
    /// A purchasing unit settles later, by invoice.
    OnAccount,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Cash,
        Method::Wechat,
        Method::Alipay,
        Method::Unionpay,
        Method::Voucher,
        Method::UnionCard,
        Method::OnAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Cash => "cash",
            Method::Wechat => "wechat",
            Method::Alipay => "alipay",
            Method::Unionpay => "unionpay",
            Method::Voucher => "voucher",
            Method::UnionCard => "union_card",
            Method::OnAccount => "on_account",
        }
    }

    /// The name printed on receipts and reports.
    pub fn label_zh(self) -> &'static str {
        match self {
            Method::Cash => "现金",
            Method::Wechat => "微信支付",
            Method::Alipay => "支付宝",
            Method::Unionpay => "银联",
            Method::Voucher => "消费券",
            Method::UnionCard => "工会卡",
            Method::OnAccount => "单位挂账",
        }
    }

    /// The name the touchscreen shows in English.
    pub fn label_en(self) -> &'static str {
        match self {
            Method::Cash => "cash",
            Method::Wechat => "WeChat Pay",
            Method::Alipay => "Alipay",
            Method::Unionpay => "UnionPay",
            Method::Voucher => "voucher",
            Method::UnionCard => "union card",
            Method::OnAccount => "on account",
        }
    }

    /// Whether the shopper pays by the stall's payment QR (WeChat Pay, Alipay, UnionPay).
    pub fn by_qr(self) -> bool {
        matches!(self, Method::Wechat | Method::Alipay | Method::Unionpay)
    }

    /// Whether the method pays in money the stall holds (cash, WeChat Pay, Alipay,
    /// UnionPay), which a refund may give back by any of them; not a claim settled later or
    /// elsewhere (on account, a voucher, a union card), which is given back only as itself.
    pub fn is_money(self) -> bool {
        matches!(
            self,
            Method::Cash | Method::Wechat | Method::Alipay | Method::Unionpay
        )
    }

    /// The methods a refund by `self` is counted with: money together, any other alone.
    fn refund_group(self) -> Option<Method> {
        (!self.is_money()).then_some(self)
    }

    pub fn parse(text: &str) -> Result<Method, DomainError> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == text.trim())
            .ok_or_else(|| DomainError::BadPayment {
                text: text.to_string(),
                why: PaymentIssue::UnknownMethod(None),
            })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refuses a refund of `asked` by `method` beyond what sale `number` took by that method
/// (`paid`: its payments, net of change) less what was refunded by it before (`refunded`).
/// Money (cash, WeChat Pay, Alipay, UnionPay) counts together: a stall gives a WeChat payment
/// back in cash. A sale paid on account, by voucher or by union card is given back as it was
/// paid: refunded in cash, a unit was still invoiced for goods it returned, and a voucher
/// became cash. A refund is one method: one that no method has enough left for alone (a
/// weighed line, which goes back whole, paid part by voucher, part in cash) goes by the
/// method with the most left, so that no refund the sale covers is impossible.
pub fn refund_within(
    number: &str,
    method: Method,
    asked: Fen,
    paid: &[(Method, Fen)],
    refunded: &[(Method, Fen)],
) -> Result<(), DomainError> {
    let left_in = |group: Option<Method>| -> Fen {
        let sum = |of: &[(Method, Fen)]| -> i64 {
            of.iter()
                .filter(|(m, _)| m.refund_group() == group)
                .map(|(_, f)| f.0)
                .sum()
        };
        Fen((sum(paid) - sum(refunded)).max(0))
    };
    let left = left_in(method.refund_group());
    if asked.0 <= left.0 {
        return Ok(());
    }
    let most = paid
        .iter()
        .map(|(m, _)| left_in(m.refund_group()))
        .max()
        .unwrap_or(Fen::ZERO);
    if most.0 < asked.0 && left.0 == most.0 && left.is_positive() {
        return Ok(());
    }
    Err(DomainError::BadRefund(crate::RefundIssue::OverMethod {
        number: number.to_string(),
        method,
        left,
        asked,
    }))
}

/// What the buyer hands over with one method. `amount: None` takes whatever is still due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tender {
    pub method: Method,
    pub amount: Option<Fen>,
}

impl Tender {
    /// Parses `METHOD:AMOUNT` (yuan) or a bare `METHOD` (the rest of what is due).
    pub fn parse(text: &str) -> Result<Tender, DomainError> {
        let (method, amount) = match text.split_once(':') {
            Some((m, a)) => (m, Some(a)),
            None => (text, None),
        };
        let method = Method::parse(method).map_err(|_| DomainError::BadPayment {
            text: text.to_string(),
            why: PaymentIssue::UnknownMethod(Some(method.to_string())),
        })?;
        let amount = match amount {
            Some(a) => {
                let fen = Fen::parse_yuan(a)?;
                if !fen.is_positive() {
                    return Err(DomainError::BadPayment {
                        text: text.to_string(),
                        why: PaymentIssue::NotPositive,
                    });
                }
                Some(fen)
            }
            None => None,
        };
        Ok(Tender { method, amount })
    }
}

/// One payment as recorded on a sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    pub method: Method,
    /// What it settles of the total: for cash, tendered minus change.
    pub amount: Fen,
    /// What was handed over.
    pub tendered: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Non-cash payments in the order given, then cash (all cash tenders as one).
    pub payments: Vec<Payment>,
    pub change: Fen,
}

/// Settles `due` with `tenders`. Only cash may exceed what is due; change comes from cash.
pub fn settle(due: Fen, tenders: &[Tender]) -> Result<Settlement, DomainError> {
    if tenders.is_empty() {
        return Err(DomainError::BadPayment {
            text: String::new(),
            why: PaymentIssue::NoneGiven,
        });
    }
    let open: Vec<&Tender> = tenders.iter().filter(|t| t.amount.is_none()).collect();
    if open.len() > 1 {
        return Err(DomainError::BadPayment {
            text: open[1].method.to_string(),
            why: PaymentIssue::TwoWithoutAmount,
        });
    }
    let given: Fen = tenders.iter().filter_map(|t| t.amount).sum();
    let rest = due - given;
    if let Some(t) = open.first() {
        if !rest.is_positive() {
            return Err(DomainError::BadPayment {
                text: t.method.to_string(),
                why: PaymentIssue::NothingLeft,
            });
        }
    }
    let amount_of = |t: &Tender| t.amount.unwrap_or(rest);
    let non_cash: Fen = tenders
        .iter()
        .filter(|t| t.method != Method::Cash)
        .map(amount_of)
        .sum();
    let cash: Fen = tenders
        .iter()
        .filter(|t| t.method == Method::Cash)
        .map(amount_of)
        .sum();
    if non_cash > due {
        return Err(DomainError::NonCashOverpaid { due, non_cash });
    }
    // Each amount is bounded as it is typed, their sum here: the change of a sale with
    // eleven mistyped cash amounts went past what headquarters takes, and the till's whole
    // day was refused there.
    if cash > Fen(MAX_INPUT_FEN) {
        return Err(DomainError::BadPayment {
            text: "cash".into(),
            why: PaymentIssue::CashOver(MAX_INPUT_FEN / 100),
        });
    }
    if non_cash + cash < due {
        return Err(DomainError::Underpaid {
            due,
            paid: non_cash + cash,
        });
    }
    if non_cash == due && cash.is_positive() {
        return Err(DomainError::BadPayment {
            text: "cash".into(),
            why: PaymentIssue::AlreadyCovered,
        });
    }
    let change = non_cash + cash - due;
    let mut payments: Vec<Payment> = tenders
        .iter()
        .filter(|t| t.method != Method::Cash)
        .map(|t| Payment {
            method: t.method,
            amount: amount_of(t),
            tendered: amount_of(t),
        })
        .collect();
    if cash.is_positive() {
        payments.push(Payment {
            method: Method::Cash,
            amount: cash - change,
            tendered: cash,
        });
    }
    Ok(Settlement { payments, change })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Tender {
        Tender::parse(text).unwrap()
    }

    #[test]
    fn cash_gives_change() {
        let s = settle(Fen(32000), &[t("cash:400")]).unwrap();
        assert_eq!(s.change, Fen(8000));
        assert_eq!(
            s.payments,
            vec![Payment {
                method: Method::Cash,
                amount: Fen(32000),
                tendered: Fen(40000)
            }]
        );
    }

    #[test]
    fn split_tender_with_an_open_remainder() {
        let s = settle(Fen(12800), &[t("voucher:50"), t("wechat")]).unwrap();
        assert_eq!(s.change, Fen::ZERO);
        assert_eq!(s.payments[0].amount, Fen(5000));
        assert_eq!(s.payments[1].method, Method::Wechat);
        assert_eq!(s.payments[1].amount, Fen(7800));
    }

    #[test]
    fn cash_handed_over_comes_to_no_more_than_one_amount_may() {
        let most = t("cash:9999999999.99");
        assert!(settle(Fen(100), &[most]).is_ok());
        // Two amounts each within bounds, together beyond them: refused, so that no number
        // of mistyped ones gives change past what headquarters takes.
        let err = settle(Fen(100), &[most, t("cash:0.02")]).unwrap_err();
        assert_eq!(
            err,
            DomainError::BadPayment {
                text: "cash".into(),
                why: PaymentIssue::CashOver(MAX_INPUT_FEN / 100),
            }
        );
        assert!(settle(Fen(100), &[most, t("cash:0.01")]).is_ok());
    }

    #[test]
    fn cash_and_non_cash_split_gives_change_from_cash() {
        let s = settle(Fen(12800), &[t("wechat:100"), t("cash:50")]).unwrap();
        assert_eq!(s.change, Fen(2200));
        assert_eq!(s.payments[1].amount, Fen(2800));
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            settle(Fen(12800), &[t("cash:100")]),
            Err(DomainError::Underpaid { .. })
        ));
        assert!(matches!(
            settle(Fen(12800), &[t("wechat:130")]),
            Err(DomainError::NonCashOverpaid { .. })
        ));
        assert!(settle(Fen(100), &[t("wechat:1"), t("cash:5")]).is_err());
        assert!(settle(Fen(100), &[t("wechat"), t("cash")]).is_err());
        assert!(settle(Fen(100), &[]).is_err());
        let err = Tender::parse("bitcoin:5").unwrap_err().to_string();
        assert!(err.contains("unknown method"), "{err}");
        let err = Tender::parse("cash:0").unwrap_err().to_string();
        assert!(err.contains("more than zero"), "{err}");
        let err = Tender::parse("cash:1.005").unwrap_err().to_string();
        assert!(err.contains("two decimals"), "{err}");
    }
}
