//! One sale looked up (by number, id or its receipt's QR), voided or refunded behind the
//! lead PIN.

use fairpos_domain::codes::ReceiptQr;
use fairpos_domain::payment::Method;
use fairpos_domain::refund::RefundAsk;
use fairpos_domain::{DomainError, Fen};
use fairpos_projection::queries;

use super::{Screen, TillController};
use crate::error::Result;
use crate::gui::views::yuan;
use crate::till::printing::receipt_key;

/// A looked-up sale, for a void or a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleView {
    pub id: String,
    pub number: String,
    pub status: String,
    pub total: Fen,
    pub lines: Vec<SaleLineView>,
    /// A method the sale was paid by that is not money (on account, a voucher, a union
    /// card): what it took is refunded only as itself, so the screen offers it.
    pub paid_other: Option<Method>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleLineView {
    pub line: u32,
    pub name: String,
    pub weighed: bool,
    /// Pieces or grams that can still be refunded.
    pub refundable: i64,
    pub sold: String,
    /// Pieces (or, for weighed lines, all the grams) the volunteer wants back.
    pub asked: i64,
}

impl TillController {
    pub fn open_sales(&mut self) {
        self.sale = None;
        self.pin.clear();
        self.screen = Screen::Sale;
    }

    /// Looks a sale up by number, id, or the payload of its receipt's QR code (which must
    /// verify: a receipt of another till is refused).
    pub fn lookup_sale(&mut self, key: &str) {
        let key = key.trim();
        let wanted = match ReceiptQr::parse(key) {
            Some(qr) => {
                let receipt_key = receipt_key(&self.till).unwrap_or_default();
                if !qr.verifies(&receipt_key) {
                    return self.say(
                        "这张小票不是本机打印的",
                        "This receipt was not printed by this till",
                    );
                }
                qr.id
            }
            None => key.to_string(),
        };
        self.pin.clear();
        match self.load_sale(&wanted) {
            Ok(Some(view)) => {
                self.sale = Some(view);
                self.message = None;
            }
            Ok(None) => {
                self.sale = None;
                self.fail(DomainError::UnknownSale {
                    key: key.to_string(),
                });
            }
            Err(e) => self.fail(e),
        }
        self.screen = Screen::Sale;
    }

    fn load_sale(&mut self, key: &str) -> Result<Option<SaleView>> {
        let conn = self.till.reader()?;
        let Some(detail) = queries::sale_detail(conn, key)? else {
            return Ok(None);
        };
        let sold = queries::sold_lines(conn, &detail.summary.id)?;
        let lines = detail
            .lines
            .iter()
            .zip(&sold)
            .map(|(d, s)| {
                let refundable = s.qty - s.refunded_qty;
                SaleLineView {
                    line: s.line,
                    name: d.name_zh.clone(),
                    weighed: s.weighed,
                    refundable,
                    sold: if s.weighed {
                        format!("{} g", s.qty)
                    } else {
                        format!("× {}", s.qty)
                    },
                    asked: 0,
                }
            })
            .collect();
        // The method not money the sale has most left to give back by: the first one was
        // offered, and once it was given back a second (a voucher, then a union card)
        // could be refunded from the command line alone.
        let (paid, refunded) = queries::paid_and_refunded(conn, &detail.summary.id)?;
        let left = |method: &String| -> i64 {
            let by = |of: &[(String, Fen)]| -> i64 {
                of.iter()
                    .filter(|(m, _)| m == method)
                    .map(|(_, f)| f.0)
                    .sum()
            };
            by(&paid) - by(&refunded)
        };
        let paid_other = paid
            .iter()
            .filter_map(|(m, _)| Some((Method::parse(m).ok()?, left(m))))
            .filter(|(m, _)| !m.is_money())
            .max_by_key(|(_, left)| *left)
            .map(|(m, _)| m);
        Ok(Some(SaleView {
            id: detail.summary.id.clone(),
            number: detail.summary.number.clone(),
            status: detail.summary.status().to_string(),
            total: detail.summary.total,
            lines,
            paid_other,
        }))
    }

    /// Asks for one more (or fewer) piece of a line back; a weighed line goes back whole.
    pub fn ask_refund(&mut self, index: usize, delta: i32) {
        if let Some(l) = self.sale.as_mut().and_then(|s| s.lines.get_mut(index)) {
            l.asked = if l.weighed {
                if delta > 0 {
                    l.refundable
                } else {
                    0
                }
            } else {
                (l.asked + i64::from(delta)).clamp(0, l.refundable)
            };
        }
    }

    pub fn void_sale(&mut self, reason: &str) {
        let Some(sale) = self.sale.clone() else {
            return;
        };
        let Some(pin) = self.typed_lead_pin() else {
            return;
        };
        if let Err(e) = self.guarded_pin(|till| till.store().check_lead_pin(&pin)) {
            return self.fail(e);
        }
        match self
            .now()
            .and_then(|now| self.till.void(&sale.id, reason, &pin, now))
        {
            Ok(number) => {
                self.say(&format!("{number} 已作废"), &format!("{number} voided"));
                self.reload_sale(&sale.id);
            }
            Err(e) => self.fail(e),
        }
    }

    pub fn refund(&mut self, method: &str) {
        let Some(sale) = self.sale.clone() else {
            return;
        };
        let asks: Vec<RefundAsk> = sale
            .lines
            .iter()
            .filter(|l| l.asked > 0)
            .map(|l| RefundAsk {
                line: l.line,
                // A weighed line goes back whole, asked without a quantity: the refund
                // refuses one named for it, even the whole of it.
                qty: (!l.weighed).then_some(l.asked),
            })
            .collect();
        if asks.is_empty() {
            return self.say("请选择要退的商品", "Choose what comes back first");
        }
        let method = match Method::parse(method) {
            Ok(m) => m,
            Err(e) => return self.fail(e),
        };
        // Checked once there is something to give back: the PIN typed is not spent on a
        // tap before the lines are chosen.
        let Some(pin) = self.typed_lead_pin() else {
            return;
        };
        if let Err(e) = self.guarded_pin(|till| till.store().check_lead_pin(&pin)) {
            return self.fail(e);
        }
        match self
            .now()
            .and_then(|now| self.till.refund(&sale.id, &asks, method, now))
        {
            Ok(r) => {
                self.say(
                    &format!("退款 {} 已完成：{}", r.number, yuan(r.amount)),
                    &format!("Refund {} done: {}", r.number, yuan(r.amount)),
                );
                self.reload_sale(&sale.id);
            }
            Err(e) => self.fail(e),
        }
    }

    fn reload_sale(&mut self, id: &str) {
        match self.load_sale(id) {
            Ok(view) => self.sale = view,
            Err(e) => self.fail(e),
        }
    }

    /// Back from a sale looked up: to selling, or to opening a shift when none is open (a
    /// receipt scanned on that screen went back to selling, where every sale then failed).
    pub fn close_sale(&mut self) {
        self.sale = None;
        self.pin.clear();
        self.screen = self.home_screen();
    }
}
