//! Taking the money: tenders from the keypad and quick buttons, and completing the sale.

use fairpos_domain::payment::{Method, Tender};
use fairpos_domain::{Fen, Lang};

use super::{Screen, TillController};
use crate::gui::views::{edit_digits, yuan, Completed};
use crate::till::Order;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenderView {
    pub method: String,
    pub amount: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayView {
    pub due: Fen,
    pub paid: Fen,
    pub remaining: Fen,
    pub change: Fen,
    pub can_complete: bool,
    pub tenders: Vec<TenderView>,
}

impl TillController {
    pub fn start_pay(&mut self) {
        if self.cart.is_empty() {
            return self.say("购物车是空的", "The cart is empty");
        }
        self.tenders.clear();
        self.keypad.clear();
        self.screen = Screen::Pay;
    }

    pub fn back_to_cart(&mut self) {
        self.tenders.clear();
        self.keypad.clear();
        self.screen = Screen::Sell;
    }

    pub fn pay_key(&mut self, key: &str) {
        edit_digits(&mut self.keypad, key, 2, 9);
    }

    fn paid(&self) -> Fen {
        self.tenders.iter().filter_map(|t| t.amount).sum()
    }

    /// What the last tender by the stall's payment QR asks: the phone now paying (one paid
    /// part by WeChat on one phone, the rest by Alipay on another, asks the second for the
    /// rest, not the whole).
    pub(super) fn tendered_by_qr(&self) -> Option<Fen> {
        let by_qr = self.tenders.iter().rev().find(|t| t.method.by_qr());
        by_qr.and_then(|t| t.amount)
    }

    /// Adds a tender: the amount typed on the keypad, or what is still due.
    pub fn tender(&mut self, method: &str) {
        let method = match Method::parse(method) {
            Ok(m) => m,
            Err(e) => return self.fail(e),
        };
        let remaining = self.cart.total() - self.paid();
        let amount = if self.keypad.is_empty() {
            if !remaining.is_positive() {
                return self.say("已收足", "Already paid in full");
            }
            remaining
        } else {
            match Fen::parse_yuan(&self.keypad) {
                Ok(a) if a.is_positive() => a,
                Ok(_) => return self.say("金额须大于零", "The amount must be more than zero"),
                Err(e) => return self.fail(e),
            }
        };
        self.keypad.clear();
        self.tenders.push(Tender {
            method,
            amount: Some(amount),
        });
    }

    /// `exact` (cash for what is still due), `50` or `100` (a note of cash).
    pub fn quick(&mut self, which: &str) {
        let remaining = self.cart.total() - self.paid();
        let amount = match which {
            "exact" if remaining.is_positive() => remaining,
            "exact" => return self.say("已收足", "Already paid in full"),
            "50" => Fen(5_000),
            "100" => Fen(10_000),
            _ => return,
        };
        self.keypad.clear();
        self.tenders.push(Tender {
            method: Method::Cash,
            amount: Some(amount),
        });
    }

    pub fn remove_tender(&mut self, index: usize) {
        if index < self.tenders.len() {
            self.tenders.remove(index);
        }
    }

    pub fn pay_view(&self) -> PayView {
        let due = self.cart.total();
        let paid = self.paid();
        PayView {
            due,
            paid,
            remaining: if paid < due { due - paid } else { Fen::ZERO },
            change: if paid > due { paid - due } else { Fen::ZERO },
            can_complete: paid >= due && !self.tenders.is_empty(),
            tenders: self
                .tenders
                .iter()
                .map(|t| TenderView {
                    method: match self.lang {
                        Lang::Zh => t.method.label_zh().to_string(),
                        Lang::En => t.method.as_str().replace('_', " "),
                    },
                    amount: t.amount.map(yuan).unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Completes the sale. When this returns `Some`, the sale is on disk; the caller prints
    /// its receipt.
    pub fn complete(&mut self) -> Option<Completed> {
        // Only from the pay screen: a second tap reaching it over the done screen said "the
        // cart is empty" in red over the sale just made.
        if self.screen != Screen::Pay {
            return None;
        }
        let Some(seller) = self.seller.clone() else {
            self.screen = Screen::SignIn;
            return None;
        };
        let unit = self.unit.as_ref().map(|u| u.tax_id.clone());
        let now = match self.now() {
            Ok(n) => n,
            Err(e) => {
                self.fail(e);
                return None;
            }
        };
        let order = Order {
            seller: &seller.id,
            cart: &self.cart,
            unit: unit.as_deref(),
            tenders: &self.tenders,
        };
        match self.till.sell(&order, now) {
            Ok(sale) => {
                let done = Completed::of(&sale);
                if !sale.oversold.is_empty() {
                    self.say(
                        &format!("已售出，库存不足：{}", sale.oversold.join(", ")),
                        &format!("Sold; stock ran out of {}", sale.oversold.join(", ")),
                    );
                } else {
                    self.message = None;
                }
                self.cart.clear();
                self.unit = None;
                self.tenders.clear();
                self.keypad.clear();
                self.last_sale = Some(done.id.clone());
                self.completed = Some(done.clone());
                self.screen = Screen::Done;
                Some(done)
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    pub fn next_sale(&mut self) {
        self.completed = None;
        self.screen = Screen::Sell;
    }
}
