//! What the customer display shows the shopper across the counter, worked out from the
//! till's state: the cart as it is built, what to pay, then the change and thanks.

use fairpos_domain::{Fen, Lang};

use super::{Screen, TillController};
use crate::gui::views::{cart_lines, LineView};

/// The customer display's screens. Each follows the till's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerScreen {
    /// Nothing in the cart.
    Welcome,
    /// The volunteer is building the cart.
    Cart,
    /// The till is taking the money.
    Pay,
    /// The sale is saved.
    Thanks,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerView {
    pub screen: CustomerScreen,
    pub lines: Vec<LineView>,
    /// `3 件` / `3 items`.
    pub items: String,
    pub total: Fen,
    pub paid: Fen,
    pub remaining: Fen,
    /// What the stall's payment QR asks the shopper for: what staff last tendered by a QR
    /// method (the shopper's phone has yet to pay it), else what is still due. It asked for
    /// what remained once staff had tapped "WeChat": ￥0.00, before the shopper scanned.
    pub by_qr: Fen,
    pub change: Fen,
    /// The number of the sale just made.
    pub sale: String,
}

impl TillController {
    pub fn customer_view(&self) -> CustomerView {
        let lines = cart_lines(&self.cart, self.lang);
        let items = match self.lang {
            Lang::Zh => format!("{} 件商品", lines.len()),
            Lang::En => format!("{} items", lines.len()),
        };
        let pay = self.pay_view();
        let (screen, total, change, sale) = match (&self.screen, &self.completed) {
            (Screen::Done, Some(done)) => (
                CustomerScreen::Thanks,
                done.total,
                done.change,
                done.number.clone(),
            ),
            (Screen::Pay, _) => (CustomerScreen::Pay, pay.due, Fen::ZERO, String::new()),
            _ if !lines.is_empty() => (CustomerScreen::Cart, pay.due, Fen::ZERO, String::new()),
            _ => (CustomerScreen::Welcome, Fen::ZERO, Fen::ZERO, String::new()),
        };
        CustomerView {
            screen,
            lines,
            items,
            total,
            paid: pay.paid,
            remaining: pay.remaining,
            by_qr: self.tendered_by_qr().unwrap_or(pay.remaining),
            change,
            sale,
        }
    }
}
