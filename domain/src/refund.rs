//! Refunds of chosen lines and quantities of a sale, and the rules of voiding.

use crate::money::Fen;
use crate::{DomainError, LineHint, RefundIssue};

/// A line of a sale as it stands, with what was refunded of it so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoldLine {
    pub line: u32,
    pub sku: String,
    pub weighed: bool,
    /// Pieces, or grams when weighed.
    pub qty: i64,
    pub amount: Fen,
    pub refunded_qty: i64,
    pub refunded_amount: Fen,
}

/// `N` or `N:QTY` from the command line: line N (from 1), all of what is left or QTY pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundAsk {
    pub line: u32,
    pub qty: Option<i64>,
}

impl RefundAsk {
    pub fn parse(text: &str) -> Result<RefundAsk, DomainError> {
        let bad = |hint: LineHint| {
            DomainError::BadRefund(RefundIssue::LineText {
                text: text.to_string(),
                hint,
            })
        };
        let (line, qty) = match text.split_once(':') {
            Some((l, q)) => (l, Some(q)),
            None => (text, None),
        };
        let line: u32 = line.trim().parse().map_err(|_| bad(LineHint::Format))?;
        if line == 0 {
            return Err(bad(LineHint::FromOne));
        }
        let qty = match qty {
            Some(q) => {
                let q: i64 = q.trim().parse().map_err(|_| bad(LineHint::WholeQuantity))?;
                if q <= 0 {
                    return Err(DomainError::ZeroQuantity {
                        item: text.to_string(),
                    });
                }
                Some(q)
            }
            None => None,
        };
        Ok(RefundAsk { line, qty })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundLine {
    pub line: u32,
    pub sku: String,
    pub qty: i64,
    pub amount: Fen,
}

/// Works out what goes back for `asks` against `lines`. A partial quantity of a counted line
/// is refunded at the line's unit price; what is left of a line is always refunded to the fen
/// of what was paid for it. Weighed lines go back whole.
pub fn plan(
    number: &str,
    voided: bool,
    lines: &[SoldLine],
    asks: &[RefundAsk],
) -> Result<Vec<RefundLine>, DomainError> {
    if voided {
        return Err(DomainError::SaleVoided {
            number: number.to_string(),
        });
    }
    if asks.is_empty() {
        return Err(DomainError::BadRefund(RefundIssue::NoLines));
    }
    let mut out: Vec<RefundLine> = Vec::new();
    for ask in asks {
        if out.iter().any(|r| r.line == ask.line) {
            return Err(DomainError::BadRefund(RefundIssue::NamedTwice {
                line: ask.line,
            }));
        }
        let sold = lines.iter().find(|l| l.line == ask.line).ok_or_else(|| {
            DomainError::BadRefund(RefundIssue::NoSuchLine {
                number: number.to_string(),
                line: ask.line,
                lines: lines.len(),
            })
        })?;
        let left = sold.qty - sold.refunded_qty;
        if left <= 0 {
            return Err(DomainError::BadRefund(RefundIssue::AlreadyRefunded {
                number: number.to_string(),
                line: ask.line,
            }));
        }
        let qty = match (sold.weighed, ask.qty) {
            (true, Some(_)) => {
                return Err(DomainError::BadRefund(RefundIssue::WeighedWhole {
                    line: ask.line,
                }))
            }
            (_, Some(q)) => q,
            (_, None) => left,
        };
        if qty > left {
            return Err(DomainError::BadRefund(RefundIssue::TooMany {
                line: ask.line,
                left,
                asked: qty,
            }));
        }
        let amount = if qty == left {
            sold.amount - sold.refunded_amount
        } else {
            Fen(sold.amount.0 * qty / sold.qty)
        };
        out.push(RefundLine {
            line: ask.line,
            sku: sold.sku.clone(),
            qty,
            amount,
        });
    }
    Ok(out)
}

/// Checks that a sale may be voided for `reason`.
pub fn check_void(
    number: &str,
    voided: bool,
    has_refunds: bool,
    reason: &str,
) -> Result<(), DomainError> {
    if voided {
        return Err(DomainError::SaleVoided {
            number: number.to_string(),
        });
    }
    if has_refunds {
        return Err(DomainError::SaleHasRefunds {
            number: number.to_string(),
        });
    }
    if reason.trim().is_empty() {
        return Err(DomainError::ReasonNeeded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<SoldLine> {
        vec![
            SoldLine {
                line: 1,
                sku: "A".into(),
                weighed: false,
                qty: 3,
                amount: Fen(1000),
                refunded_qty: 0,
                refunded_amount: Fen::ZERO,
            },
            SoldLine {
                line: 2,
                sku: "W".into(),
                weighed: true,
                qty: 750,
                amount: Fen(1170),
                refunded_qty: 0,
                refunded_amount: Fen::ZERO,
            },
        ]
    }

    #[test]
    fn partial_then_rest_adds_up_to_what_was_paid() {
        let mut l = lines();
        let first = plan("T01-000001", false, &l, &[RefundAsk::parse("1:1").unwrap()]).unwrap();
        assert_eq!(first[0].amount, Fen(333));
        l[0].refunded_qty = 1;
        l[0].refunded_amount = Fen(333);
        let rest = plan("T01-000001", false, &l, &[RefundAsk::parse("1").unwrap()]).unwrap();
        assert_eq!((rest[0].qty, rest[0].amount), (2, Fen(667)));
    }

    #[test]
    fn refusals_name_the_problem() {
        let l = lines();
        let cases = [
            ("3", "has no line 3"),
            ("1:4", "3 left to refund, not 4"),
            ("2:100", "weighed: refund it whole"),
        ];
        for (ask, want) in cases {
            let err = plan("T01-000001", false, &l, &[RefundAsk::parse(ask).unwrap()])
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{ask}: {err}");
        }
        assert!(RefundAsk::parse("0").is_err());
        assert!(matches!(
            RefundAsk::parse("1:0"),
            Err(DomainError::ZeroQuantity { .. })
        ));
        assert!(plan("T01-000001", true, &l, &[RefundAsk::parse("1").unwrap()]).is_err());
        let twice = [
            RefundAsk::parse("1:1").unwrap(),
            RefundAsk::parse("1:1").unwrap(),
        ];
        assert!(plan("T01-000001", false, &l, &twice).is_err());
    }

    #[test]
    fn voids_need_a_reason_and_no_refunds() {
        assert!(check_void("T", false, false, "扫错").is_ok());
        assert_eq!(
            check_void("T", false, false, " "),
            Err(DomainError::ReasonNeeded)
        );
        assert!(check_void("T", false, true, "x").is_err());
        assert!(check_void("T", true, false, "x").is_err());
    }
}
