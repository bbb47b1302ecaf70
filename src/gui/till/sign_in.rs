//! Signing in (a seller and a PIN), opening a shift with a float, and closing it by
//! counting the drawer.

use fairpos_domain::sale::Seller;
use fairpos_domain::shift::{count_denominations, DENOMINATIONS};
use fairpos_domain::{DomainError, Fen};
use fairpos_projection::queries;

use super::{Screen, ShownSlip, TillController};
use crate::error::Error;
use crate::gui::views::{edit_digits, yuan};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftView {
    pub counts: [u32; 8],
    pub expected: Fen,
    pub counted: Fen,
    pub variance: Fen,
}

impl TillController {
    /// Sellers of the fair, this till's stall first.
    pub fn sellers(&self) -> Vec<Seller> {
        let stall = &self.till.store().identity().stall;
        let mut sellers: Vec<Seller> = self
            .till
            .store()
            .state()
            .sellers
            .values()
            .cloned()
            .collect();
        sellers.sort_by(|a, b| (&a.stall != stall, &a.id).cmp(&(&b.stall != stall, &b.id)));
        sellers
    }

    pub fn seller(&self) -> Option<&Seller> {
        self.seller.as_ref()
    }

    pub fn select_seller(&mut self, id: &str) {
        self.selected_seller = Some(id.to_string());
        self.pin.clear();
    }

    pub fn pin_dots(&self) -> String {
        "●".repeat(self.pin.chars().count())
    }

    pub fn pin_key(&mut self, key: &str) {
        edit_digits(&mut self.pin, key, 0, 12);
    }

    pub fn sign_in(&mut self) {
        let Some(id) = self.selected_seller.clone() else {
            return self.say("请先选择收银员", "Choose who is selling first");
        };
        let Some(pin) = self.typed_pin("请先输入 PIN", "Type your PIN first") else {
            return;
        };
        if let Err(e) = self.guarded_pin(|till| till.store().check_seller_pin(&id, &pin)) {
            return self.fail(e);
        }
        let Some(seller) = self.till.store().state().sellers.get(&id).cloned() else {
            return self.fail(DomainError::UnknownSeller { id });
        };
        self.say(
            &format!("{} 已登录", seller.name),
            &format!("{} signed in", seller.name),
        );
        self.seller = Some(seller);
        self.screen = self.home_screen();
    }

    pub fn sign_out(&mut self) {
        self.seller = None;
        self.selected_seller = None;
        self.pin.clear();
        // A float typed before going back is not the next seller's.
        self.float_input.clear();
        self.cart.clear();
        self.unit = None;
        self.tenders.clear();
        self.screen = Screen::SignIn;
    }

    // ----- the shift -----

    pub fn float_key(&mut self, key: &str) {
        edit_digits(&mut self.float_input, key, 2, 9);
    }

    pub fn open_shift(&mut self) {
        let Some(seller) = self.seller.clone() else {
            self.screen = Screen::SignIn;
            return;
        };
        let float = if self.float_input.is_empty() {
            Ok(Fen::ZERO)
        } else {
            Fen::parse_yuan(&self.float_input)
        };
        let result = float
            .map_err(Error::from)
            .and_then(|f| Ok((f, self.now()?)))
            .and_then(|(f, now)| self.till.open_shift(&seller.id, f, now));
        match result {
            Ok(_) => {
                self.float_input.clear();
                self.screen = Screen::Sell;
                self.say("已开班", "Shift open");
            }
            Err(e) => self.fail(e),
        }
    }

    pub fn start_close_shift(&mut self) {
        let Some(shift) = self.till.store().state().shift.clone() else {
            return self.say("没有未结班次", "No shift is open");
        };
        // Nothing moves the drawer while the volunteer counts: the expected cash is read once.
        let expected = self
            .till
            .reader()
            .and_then(|conn| Ok(queries::cash_flows(conn, &shift.id)?));
        match expected {
            Ok(flows) => self.close_expected = flows.expected(),
            Err(e) => return self.fail(e),
        }
        self.counts = [0; 8];
        self.screen = Screen::CloseShift;
    }

    pub fn count(&mut self, index: usize, delta: i32) {
        if let Some(c) = self.counts.get_mut(index) {
            *c = (i64::from(*c) + i64::from(delta)).clamp(0, 99_999) as u32;
        }
    }

    pub fn shift_view(&self) -> ShiftView {
        let expected = self.close_expected;
        let counted = count_denominations(&self.counts);
        ShiftView {
            counts: self.counts,
            expected,
            counted,
            variance: counted - expected,
        }
    }

    /// Closes the shift by the drawer counted; whether it closed (a second tap finds none
    /// open, and must not print the first one's slip again).
    pub fn close_shift(&mut self) -> bool {
        let counted = count_denominations(&self.counts);
        match self
            .now()
            .and_then(|now| self.till.close_shift(counted, now))
        {
            Ok(closed) => {
                let last = closed.last_sale.unwrap_or_else(|| "—".into());
                let v = closed.closing.variance;
                self.sign_out();
                self.slip = Some(ShownSlip {
                    slip: closed.slip,
                    text: closed.slip_text,
                });
                self.screen = Screen::ShiftSlip;
                self.say(
                    &format!("已交班：最后一单 {last}，差额 {}", yuan(v)),
                    &format!("Shift closed: last sale {last}, variance {}", yuan(v)),
                );
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// The slip has been seen (and printed): back to signing in.
    pub fn slip_done(&mut self) {
        self.slip = None;
        self.screen = Screen::SignIn;
    }

    pub fn denomination_labels() -> [String; 8] {
        DENOMINATIONS.map(|d| yuan(d).replace(".00", ""))
    }
}
