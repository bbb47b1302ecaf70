//! The kiosk's staff side: the PIN pad, the confirmation that a payment arrived on the
//! stall's QR (the sale is recorded), and leaving kiosk mode with the lead PIN; each PIN
//! behind the guard against guessing.

use fairpos_domain::payment::Tender;
use fairpos_domain::DomainError;

use super::{KioskController, KioskScreen, Leave};
use crate::error::Result;
use crate::gui::views::{edit_digits, take_pin, words, Completed, Said};
use crate::till::{Order, Till};

impl KioskController {
    pub fn pin_dots(&self) -> String {
        "●".repeat(self.pin.chars().count())
    }

    pub fn pin_key(&mut self, key: &str, now_ms: u64) {
        self.touched(now_ms);
        self.pin_keyed_ms = now_ms;
        edit_digits(&mut self.pin, key, 0, 12);
    }

    /// The buttons staff confirm a payment with, as text and accessible label: one
    /// "payment received", or one per method the QR takes (the sale is recorded, and
    /// matched against statements, by the method staff saw the money arrive through).
    pub fn confirm_buttons(&self) -> Vec<(String, String)> {
        if let [_] = self.methods[..] {
            return vec![(
                self.text("已收到付款", "Payment received"),
                "payment received".into(),
            )];
        }
        self.methods
            .iter()
            .map(|&m| {
                (
                    self.text(
                        &format!("{}已收款", m.label_zh()),
                        &format!("{} received", m.label_en()),
                    ),
                    format!("payment received {m}"),
                )
            })
            .collect()
    }

    /// Staff saw the money arrive through the stall's QR, by its `method`-th method: the
    /// sale is recorded. Returns it for its receipt.
    pub fn staff_confirm(&mut self, method: usize, now_ms: u64) -> Option<Completed> {
        self.touched(now_ms);
        if self.screen != KioskScreen::PayQr {
            return None;
        }
        let method = *self.methods.get(method)?;
        let pin = self.typed_pin()?;
        let seller = self.seller.clone();
        let checked = self.guard_pin(now_ms, |till| till.store().check_seller_pin(&seller, &pin));
        if let Err(e) = checked {
            self.message = e;
            return None;
        }
        let now = match (self.clock)(&self.till) {
            Ok(n) => n,
            Err(e) => {
                self.message = Said::of(|lang| words(&e, lang));
                return None;
            }
        };
        let tenders = [Tender {
            method,
            amount: None,
        }];
        let order = Order {
            seller: &self.seller,
            cart: &self.cart,
            unit: None,
            tenders: &tenders,
        };
        // The basket's note on the QR goes with the sale, in its transaction.
        match self
            .till
            .sell_and(&order, now, Till::forget_basket_on_qr_in)
        {
            Ok(sale) => {
                let done = Completed::of(&sale);
                self.cart.clear();
                self.message.clear();
                self.qr.clear();
                self.qr_shown = None;
                self.sold = Some((sale.number.to_string(), sale.total));
                self.screen = KioskScreen::Thanks;
                Some(done)
            }
            Err(e) => {
                self.message = Said::of(|lang| words(&e, lang));
                None
            }
        }
    }

    pub fn staff(&mut self, now_ms: u64) {
        self.touched(now_ms);
        if self.screen != KioskScreen::Staff {
            self.before_staff = self.screen;
        }
        self.pin.clear();
        self.screen = KioskScreen::Staff;
    }

    /// Leaves kiosk mode when the lead PIN is right.
    pub fn leave(&mut self, now_ms: u64) -> Leave {
        self.touched(now_ms);
        let Some(pin) = self.typed_pin() else {
            return Leave::Stay;
        };
        match self.guard_pin(now_ms, |till| till.store().check_lead_pin(&pin)) {
            Ok(()) => {
                self.keep_if_left("staff left kiosk mode");
                Leave::Leave
            }
            Err(e) => {
                self.message = e;
                Leave::Stay
            }
        }
    }

    /// The PIN typed, taken from the pad. One too short to be any PIN is said, not checked:
    /// "Payment received", which a shopper who paid reads as theirs, tapped with no PIN
    /// counted wrong PINs and locked the pad, and with it staff's confirmations.
    fn typed_pin(&mut self) -> Option<String> {
        let pin = take_pin(&mut self.pin);
        if pin.is_none() {
            self.message = Said::new("工作人员请先输入 PIN", "Staff: type your PIN first");
        }
        pin
    }

    /// A PIN check behind the guard against guessing: while locked, no PIN is checked (not
    /// even the right one) and the slow hash is not computed.
    fn guard_pin(
        &mut self,
        now_ms: u64,
        check: impl FnOnce(&Till) -> Result<()>,
    ) -> std::result::Result<(), Said> {
        if let Some(seconds) = self.pins.locked(now_ms) {
            return Err(Said::of(|lang| {
                DomainError::PinLocked { seconds }.words(lang)
            }));
        }
        let checked = check(&self.till);
        let clocks = (now_ms, crate::gui::till::wall_ms(&self.till, &self.clock));
        let before = self.pins.kept(clocks.0, clocks.1);
        self.pins.record(checked.is_ok(), now_ms);
        crate::gui::till::keep_pin_guard(&mut self.till, &self.pins, &before, clocks);
        checked.map_err(|e| Said::of(|lang| words(&e, lang)))
    }
}
