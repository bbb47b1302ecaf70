//! The self-checkout kiosk, in plain Rust over a [`Till`]: a shopper scans, then pays either
//! through the stall's payment QR (a staff PIN confirms the money arrived) or at the counter
//! (a basket QR the till scans). Idle shoppers are asked, then their basket is cleared. Staff
//! leave kiosk mode with the lead PIN; nothing else of the till is reachable from here.
//! `kiosk_adapter.rs` shows this state; tests drive it without a window.

mod methods;
mod staff;
#[cfg(test)]
mod tests;

use fairpos_domain::basket::Basket;
use fairpos_domain::cart::{resolve, split_item, Cart, Resolved};
use fairpos_domain::catalog::Catalog;
use fairpos_domain::payment::Method;
use fairpos_domain::{Fen, Lang};

use super::views::{cart_lines, method_names, pick, LineView, PinGuard, Said};
use crate::clock::{self, Clock};
use crate::config::KioskConfig;
use crate::error::{Error, Result};
use crate::till::{Till, Time};
pub(crate) use methods::qr_methods;

/// How long a staff PIN typed on the payment QR screen and left stays typed.
pub const PIN_LEFT_MS: u64 = 15_000;

/// The kiosk's screens. Each names what moves it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KioskScreen {
    /// Waiting for a shopper: a scan or a touch starts `Shopping`.
    Attract,
    /// Scanning into the basket; the shopper picks how to pay.
    Shopping,
    /// The stall's payment QR with the amount; a staff PIN confirms: `Thanks`.
    PayQr,
    /// The basket's QR for the counter (also printed): "done" goes back to `Attract`.
    PayCounter,
    /// The sale is saved.
    Thanks,
    /// Staff asked for the lead PIN to leave kiosk mode.
    Staff,
}

/// What [`KioskController::leave`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    Stay,
    Leave,
}

pub struct KioskController {
    till: Till,
    catalog: Catalog,
    config: KioskConfig,
    seller: String,
    /// The methods the stall's payment QR takes: staff confirm which arrived.
    methods: Vec<Method>,
    pub lang: Lang,
    /// The language each shopper starts in: a reset goes back to it (the next shopper
    /// started in the last one's).
    start_lang: Lang,
    pub screen: KioskScreen,
    /// Where the shopper came from when staff was called.
    before_staff: KioskScreen,
    pub cart: Cart,
    pin: String,
    pub message: Said,
    /// The QR payload shown: the stall's payment code or the basket.
    pub qr: String,
    /// The sale just made: number and total.
    sold: Option<(String, Fen)>,
    /// When the payment QR was shown for the basket, for how much, and its lines then: a
    /// basket cleared after it with no payment confirmed is kept for staff
    /// ([`Till::keep_left_basket`]).
    qr_shown: Option<(Time, Fen, String)>,
    last_activity_ms: u64,
    /// When a key of the PIN pad was last pressed.
    pin_keyed_ms: u64,
    /// Set while the kiosk asks whether the shopper is still there.
    warned_at_ms: Option<u64>,
    pins: PinGuard,
    clock: Clock,
}

impl KioskController {
    /// A kiosk over `till`: opens a shift (float 0) for its seller when none is open.
    pub fn new(till: Till, config: KioskConfig) -> Result<KioskController> {
        KioskController::with_clock(till, config, clock::system())
    }

    pub fn with_clock(
        mut till: Till,
        config: KioskConfig,
        clock: Clock,
    ) -> Result<KioskController> {
        let catalog = till.catalog()?;
        let methods = qr_methods(&config.payment_method)?;
        let state = till.store().state();
        let stall = &till.store().identity().stall;
        let seller = match &config.seller {
            Some(s) if state.sellers.get(s).is_some_and(|s| &s.stall == stall) => s.clone(),
            Some(s) => {
                return Err(Error::input(format!(
                    "[kiosk] seller {s} is not a seller of this kiosk's stall {stall}"
                )))
            }
            // The stall's own first seller: never another stall's (whose leaderboard and
            // team every kiosk sale then counted for, and whose PIN confirmed payments).
            None => {
                let mut own: Vec<&String> = state
                    .sellers
                    .values()
                    .filter(|s| &s.stall == stall)
                    .map(|s| &s.id)
                    .collect();
                own.sort();
                own.first().map(|s| (*s).clone()).ok_or_else(|| {
                    Error::input(format!(
                        "the kiosk sells for a seller of its stall {stall}, which has none: \
                         import the stall's sellers, or name one with [kiosk] seller"
                    ))
                })?
            }
        };
        config.validate().map_err(Error::input)?;
        // The demo's stall payment code is shown at the demo fair only: at a real fair,
        // shoppers were told to pay a code that takes no money.
        if config
            .payment_qr_at(&till.store().identity().fair.id)
            .is_none()
        {
            return Err(Error::input(
                "[kiosk] payment_qr is not set: give the text of the stall's own WeChat Pay \
                 or Alipay collection code (收款码), which the kiosk shows to shoppers",
            ));
        }
        if till.store().state().shift.is_none() {
            let now = clock(&till)?;
            till.open_shift(&seller, Fen::ZERO, now)?;
        }
        // Its clock starts at 0 with the kiosk.
        let guard = PinGuard::locking_at_most(super::views::KIOSK_PIN_LOCK_MOST_MS);
        let wall_ms = crate::gui::till::wall_ms(&till, &clock);
        let pins = crate::gui::till::resumed_pin_guard(&till, guard, (0, wall_ms));
        // A basket the kiosk stopped with on its payment QR (a power cut) is kept for staff.
        let now = clock(&till)?;
        if till.keep_basket_left_at_a_stop(now)? {
            eprintln!("a basket left on the payment QR when the kiosk stopped is kept for staff");
        }
        Ok(KioskController {
            till,
            catalog,
            config,
            seller,
            methods,
            lang: Lang::Zh,
            start_lang: Lang::Zh,
            screen: KioskScreen::Attract,
            before_staff: KioskScreen::Attract,
            cart: Cart::new(),
            pin: String::new(),
            message: Said::default(),
            qr: String::new(),
            sold: None,
            qr_shown: None,
            last_activity_ms: 0,
            pin_keyed_ms: 0,
            warned_at_ms: None,
            pins,
            clock,
        })
    }

    pub fn till(&self) -> &Till {
        &self.till
    }

    /// The language each shopper starts in, from now on.
    pub fn start_in(&mut self, lang: Lang) {
        self.start_lang = lang;
        self.lang = lang;
    }

    /// A shopper's choice of language, until the next shopper (or until the start screen it
    /// was chosen on has been left alone as long as a shopper is before being asked).
    pub fn choose_lang(&mut self, lang: Lang, now_ms: u64) {
        self.touched(now_ms);
        self.lang = lang;
    }

    pub fn till_mut(&mut self) -> &mut Till {
        &mut self.till
    }

    /// Hands the till back (leaving kiosk mode for the till's own screens).
    pub fn into_till(self) -> Till {
        self.till
    }

    fn text(&self, zh: &str, en: &str) -> String {
        pick(self.lang, zh, en).to_string()
    }

    /// What the kiosk says now, in its language.
    pub fn message_now(&self) -> &str {
        self.message.in_lang(self.lang)
    }

    /// The catalog changed underneath (a sync brought a new one): scans from now on find new
    /// products and prices; lines already in the basket keep the price they were scanned at.
    pub fn reload_catalog(&mut self) -> Result<()> {
        self.catalog = self.till.catalog()?;
        Ok(())
    }

    /// A touch or a scan at `now_ms`: the shopper is there.
    pub fn touched(&mut self, now_ms: u64) {
        self.last_activity_ms = now_ms;
        self.warned_at_ms = None;
    }

    /// Seconds left before the basket clears, while the kiosk asks whether anyone is there.
    pub fn idle_warning(&self, now_ms: u64) -> Option<u64> {
        self.warned_at_ms.map(|at| {
            let end = at + self.config.idle_clear_s * 1000;
            end.saturating_sub(now_ms).div_ceil(1000)
        })
    }

    /// The clock moved on: ask an idle shopper, then clear their basket. Returns whether
    /// anything changed. Never on the payment QR screen: the shopper may have paid the stall
    /// already and be waiting for staff to confirm it, so only staff (or the shopper's "back")
    /// leaves that screen; but a PIN typed there or on the staff pad and left is cleared
    /// [`PIN_LEFT_MS`] after its last key, whatever is touched meanwhile (a shopper could
    /// otherwise confirm a payment never made, or leave kiosk mode). The staff
    /// screen, which any shopper can open, is left once it has been idle as long as a
    /// basket may be: back to the payment QR if it was opened there, else to the start
    /// (an abandoned basket behind it was the next shopper's).
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let quiet = now_ms.saturating_sub(self.last_activity_ms);
        let pin_left = now_ms.saturating_sub(self.pin_keyed_ms) >= PIN_LEFT_MS;
        match self.screen {
            KioskScreen::PayQr | KioskScreen::Staff if !self.pin.is_empty() && pin_left => {
                self.pin.clear();
                return true;
            }
            // A language chosen on the start screen by someone who then walked off was the
            // next shopper's.
            KioskScreen::Attract
                if self.lang != self.start_lang && quiet >= self.config.idle_warn_s * 1000 =>
            {
                self.lang = self.start_lang;
                return true;
            }
            KioskScreen::Staff
                if quiet >= (self.config.idle_warn_s + self.config.idle_clear_s) * 1000 =>
            {
                self.pin.clear();
                self.message.clear();
                match self.before_staff {
                    KioskScreen::PayQr => self.screen = KioskScreen::PayQr,
                    _ => self.reset("idle"),
                }
                return true;
            }
            _ => {}
        }
        let busy = matches!(
            self.screen,
            KioskScreen::Shopping | KioskScreen::PayCounter | KioskScreen::Thanks
        );
        if !busy {
            return false;
        }
        match self.warned_at_ms {
            None if now_ms.saturating_sub(self.last_activity_ms)
                >= self.config.idle_warn_s * 1000 =>
            {
                self.warned_at_ms = Some(now_ms);
                true
            }
            Some(at) if now_ms.saturating_sub(at) >= self.config.idle_clear_s * 1000 => {
                self.reset("idle");
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// The next shopper: the basket is cleared (kept for staff if it was left on the payment
    /// QR; `why` says what cleared it).
    fn reset(&mut self, why: &str) {
        self.keep_if_left(why);
        self.lang = self.start_lang;
        self.cart.clear();
        self.pin.clear();
        self.message.clear();
        self.qr.clear();
        self.sold = None;
        self.warned_at_ms = None;
        self.screen = KioskScreen::Attract;
    }

    /// Keeps the basket for staff if it was shown the payment QR and no payment was
    /// confirmed (`why` says what cleared it), as it was when the QR was shown.
    fn keep_if_left(&mut self, why: &str) {
        let Some((shown_at, amount, items)) = self.qr_shown.take() else {
            return;
        };
        let kept = (self.clock)(&self.till).and_then(|now| {
            self.till
                .keep_left_basket(shown_at, now, amount.0, &items, why)
        });
        if let Err(e) = kept {
            eprintln!("a basket left on the payment QR ({amount}) is not kept: {e}");
        }
    }

    /// No basket is on the payment QR, unpaid, any more: sold or handed to the counter.
    fn no_basket_on_the_qr(&mut self) {
        if self.qr_shown.take().is_some() {
            if let Err(e) = self.till.forget_basket_on_qr() {
                eprintln!("the basket on the payment QR is not forgotten: {e}");
            }
        }
    }

    pub fn start(&mut self, now_ms: u64) {
        self.touched(now_ms);
        if self.screen == KioskScreen::Attract {
            self.screen = KioskScreen::Shopping;
        }
    }

    /// A scanned code. Only products and scale labels: weighed goods without a label need
    /// the stall's scale (a weight written after the code, `SKU*1g`, is not a label),
    /// payment codes and receipts are refused.
    pub fn scan(&mut self, code: &str, now_ms: u64) {
        self.touched(now_ms);
        match self.screen {
            KioskScreen::Attract => self.screen = KioskScreen::Shopping,
            KioskScreen::Shopping => {}
            // The last shopper's thanks (up to 80 s): the next one's scan starts their basket
            // (it was dropped, and the shopper scanned again for nothing).
            KioskScreen::Thanks => {
                self.reset("start over");
                self.touched(now_ms);
                self.screen = KioskScreen::Shopping;
            }
            _ => return,
        }
        let rules = &self.till.store().identity().fair.barcode_rules;
        let code = fairpos_domain::text::half_width(code);
        let code = code.trim();
        // The code without a quantity after it, as the cart reads it: a shopper's code
        // naming a weighed product and its own weight would otherwise pass as a product
        // code the catalog does not know, and go into the cart weighing what it says.
        let (product_code, _) = split_item(code);
        if let Ok(Resolved::Product(p)) = resolve(&self.catalog, rules, product_code) {
            if p.weighed {
                self.message = Said::new(
                    "称重商品请先到摊位过秤，再扫描称重标签",
                    "Weighed goods: have them weighed at the stall, then scan the scale label",
                );
                return;
            }
        }
        // Why, in the shopper's language (the Chinese said "unrecognised" whatever it was),
        // never with a payment code's digits: a shopper's own WeChat 付款码 held to the
        // scanner stayed on the screen, still valid, for anyone to photograph.
        match self.cart.add_item(&self.catalog, rules, code) {
            Ok(_) => self.message.clear(),
            Err(e) => self.message = Said::of(|lang| e.words(lang)),
        }
    }

    pub fn lines(&self) -> Vec<LineView> {
        cart_lines(&self.cart, self.lang)
    }

    pub fn step(&mut self, index: usize, delta: i64, now_ms: u64) {
        self.touched(now_ms);
        let Some(line) = self.cart.lines().get(index).cloned() else {
            return;
        };
        if line.product.weighed {
            return;
        }
        let n = line.qty + delta;
        if n <= 0 {
            self.cart.remove(index);
            self.keep_if_emptied();
        } else if let Err(e) = self.cart.set_count(index, n) {
            self.message = Said::of(|lang| e.words(lang));
        }
    }

    pub fn remove(&mut self, index: usize, now_ms: u64) {
        self.touched(now_ms);
        self.cart.remove(index);
        self.keep_if_emptied();
    }

    /// A basket emptied after the payment QR was shown is kept as the QR showed it: the
    /// payment QR screen waits for staff however long, so whoever empties it may be the next
    /// shopper, and the one who saw the QR may have paid (it was dropped, and that payment
    /// came with no sale and nothing for staff to match it to).
    fn keep_if_emptied(&mut self) {
        if self.cart.is_empty() {
            self.keep_if_left("emptied after the QR");
        }
    }

    pub fn pay_qr(&mut self, now_ms: u64) {
        self.touched(now_ms);
        if self.cart.is_empty() {
            return;
        }
        // A basket of ￥0.00 (a product priced 0) asked to pay ￥0.00, and no payment of it
        // could be confirmed: the shopper waited for staff for nothing.
        if !self.cart.total().is_positive() {
            self.message = Said::new(
                "合计为 ￥0.00，无需扫码：请到柜台",
                "Nothing to pay by QR (￥0.00): please go to the counter",
            );
            return;
        }
        self.pin.clear();
        // A scan's complaint does not follow the shopper onto the payment screen.
        self.message.clear();
        self.qr = self.config.payment_qr.clone();
        self.screen = KioskScreen::PayQr;
        // The same basket shown again is kept as first shown; another (changed after the
        // QR: by its shopper, or by the next one over a basket left) keeps the one before.
        if self.is_basket_shown() {
            return;
        }
        self.keep_if_left("changed after the QR");
        let (total, items) = self.basket_shown();
        match (self.clock)(&self.till) {
            Ok(now) => {
                if let Err(e) = self.till.note_basket_on_qr(now, total.0, &items) {
                    eprintln!("the basket on the payment QR is not noted: {e}");
                }
                self.qr_shown = Some((now, total, items));
            }
            Err(e) => eprintln!("the kiosk's clock: {e}"),
        }
    }

    /// The basket as the payment QR shows it: its total and lines.
    fn basket_shown(&self) -> (Fen, String) {
        let items: Vec<String> = cart_lines(&self.cart, Lang::Zh)
            .into_iter()
            .map(|l| format!("{} {}", l.name, l.qty))
            .collect();
        (self.cart.total(), items.join("；"))
    }

    /// Whether the payment QR was shown for the basket as it is, unpaid.
    fn is_basket_shown(&self) -> bool {
        let (total, items) = self.basket_shown();
        self.qr_shown
            .as_ref()
            .is_some_and(|(_, was_total, was_items)| (*was_total, was_items) == (total, &items))
    }

    /// Shows the basket's QR; returns the basket for the slip the printer prints.
    pub fn pay_counter(&mut self, now_ms: u64) -> Option<Basket> {
        self.touched(now_ms);
        if self.cart.is_empty() {
            return None;
        }
        let rules = &self.till.store().identity().fair.barcode_rules;
        let basket = Basket::of_cart(self.till.device(), &self.cart, rules);
        self.qr = basket.payload();
        self.message.clear();
        // Handed to the counter, where a till rings it up: not left, unless it changed after
        // the payment QR (the next shopper's, over one left paid).
        if !self.is_basket_shown() {
            self.keep_if_left("changed after the QR");
        }
        self.no_basket_on_the_qr();
        self.screen = KioskScreen::PayCounter;
        Some(basket)
    }

    /// The line under the QR code (or the thanks), in the kiosk's language.
    pub fn caption(&self) -> String {
        let (n, total) = (self.cart.lines().len(), self.cart.total());
        match self.screen {
            KioskScreen::PayQr => self.text(
                &format!("请支付 ￥{total}，然后请工作人员确认"),
                &format!("Pay ￥{total}, then ask staff to confirm"),
            ),
            KioskScreen::PayCounter => self.text(
                &format!("共 {n} 项，合计 ￥{total}"),
                &format!("{n} items, ￥{total}"),
            ),
            KioskScreen::Thanks => match &self.sold {
                Some((number, total)) => self.text(
                    &format!("单号 {number}，合计 ￥{total}"),
                    &format!("Sale {number}, ￥{total}"),
                ),
                None => String::new(),
            },
            _ => String::new(),
        }
    }

    /// What the payment QR screen asks the shopper: to scan with the methods it takes.
    pub fn pay_title(&self) -> String {
        let names = method_names(&self.methods, self.lang);
        self.text(
            &format!("请用{names}扫码，支付所示金额"),
            &format!("Scan with {names} and pay the amount shown"),
        )
    }

    pub fn back(&mut self, now_ms: u64) {
        self.touched(now_ms);
        self.pin.clear();
        self.message.clear();
        self.screen = match self.screen {
            KioskScreen::Staff => self.before_staff,
            _ if self.cart.is_empty() => KioskScreen::Attract,
            _ => KioskScreen::Shopping,
        };
    }

    /// "Done" or "start over": the next shopper.
    pub fn finish(&mut self) {
        self.reset("start over");
    }

    pub fn still_here(&mut self, now_ms: u64) {
        self.touched(now_ms);
    }

    pub fn total(&self) -> Fen {
        self.cart.total()
    }

    pub fn tidy(&mut self) {
        if let Err(e) = self.till.tidy() {
            eprintln!("the work after the sale is postponed: {e}");
        }
    }
}
