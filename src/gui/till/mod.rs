//! What every tap and scan at the till does, in plain Rust over a [`Till`]: one file per
//! screen ([`sign_in`]: signing in and the shift; [`sell`]: products, the cart and the buyer;
//! [`pay`]; [`sales`]: voids and refunds). No Slint here: `till_adapter` shows this state
//! and forwards the taps, and the tests drive it with no window at all.
//!
//! Each method changes the state and says so through [`Changed`], so the adapter redraws only
//! what changed (the product grid is the one list that can be long).

pub mod cash;
pub mod customer;
pub mod pay;
pub mod sales;
pub mod sell;
pub mod sign_in;
#[cfg(test)]
mod tests;
pub mod weigh;

use fairpos_domain::basket::Basket;
use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::Catalog;
use fairpos_domain::payment::Tender;
use fairpos_domain::sale::{Seller, Unit};
use fairpos_domain::search::ProductIndex;
use fairpos_domain::{DomainError, Fen, Lang};

pub use self::cash::{CashMove, CASH_REASONS};
pub use self::customer::{CustomerScreen, CustomerView};
pub use self::pay::{PayView, TenderView};
pub use self::sales::{SaleLineView, SaleView};
pub use self::sell::{ProductView, PAGE_SIZE};
pub use self::sign_in::ShiftView;
pub use self::weigh::{ScaleTrouble, Weighing};
use super::views::{pick, words, Completed, Message, PinGuard};
use crate::clock::{self, Clock};
use crate::error::{Error, Result};
use crate::till::{Till, Time};

/// The screen shown. Each names what moves it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Nobody signed in: a seller and a PIN move to `OpenShift` or `Sell`.
    SignIn,
    /// Signed in with no shift open: a float opens one.
    OpenShift,
    /// Building a cart; "pay" moves to `Pay`.
    Sell,
    /// Taking the money; completing moves to `Done`, "back" to `Sell`.
    Pay,
    /// The sale is saved: change shown large, receipt printing; "next sale" goes to `Sell`.
    Done,
    /// Counting the drawer; closing signs the seller out and moves to `ShiftSlip`.
    CloseShift,
    /// The closed shift's slip with its signed QR code, for the organizers; "done" goes to
    /// `SignIn`.
    ShiftSlip,
    /// One sale looked up, for a void or refund behind the lead PIN.
    Sale,
    /// Picking a purchasing unit as the buyer.
    Units,
    /// Cash put into the drawer or taken out, behind the lead PIN; back to `Sell`.
    CashMove,
}

/// What a call changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub products: bool,
    pub units: bool,
}

pub struct TillController {
    till: Till,
    catalog: Catalog,
    index: ProductIndex,
    pub lang: Lang,
    pub screen: Screen,
    seller: Option<Seller>,
    pub selected_seller: Option<String>,
    pin: String,
    query: String,
    category: Option<usize>,
    /// The grid's page, from 0.
    page: usize,
    pub cart: Cart,
    unit: Option<Unit>,
    unit_query: String,
    tenders: Vec<Tender>,
    pub keypad: String,
    pub float_input: String,
    /// The cash move being entered.
    pub cash: CashMove,
    pub weighing: Option<Weighing>,
    /// A scale is configured: the weight pad reads it.
    pub has_scale: bool,
    /// The scale is to be asked at once ([`TillController::take_weigh_now`]).
    weigh_now: bool,
    /// Wrong PINs typed at the till (sign-in, voids, refunds).
    pins: PinGuard,
    /// The kiosk basket last loaded, so that scanning it twice does not double the cart.
    basket_loaded: Option<Basket>,
    pub counts: [u32; 8],
    /// The cash the drawer should hold, read when the shift close screen opens.
    close_expected: Fen,
    pub completed: Option<Completed>,
    /// The last sale of this session, for "reprint last".
    pub last_sale: Option<String>,
    pub sale: Option<SaleView>,
    /// The slip of the shift just closed, while it is shown.
    pub slip: Option<ShownSlip>,
    pub message: Option<Message>,
    clock: Clock,
}

/// A closed shift's slip and the signed text its QR code carries.
#[derive(Clone, Debug)]
pub struct ShownSlip {
    pub slip: fairpos_domain::slip::ShiftSlip,
    pub text: String,
}

impl TillController {
    /// A controller over `till`, reading the clock as the command line does (`FAIRPOS_NOW`
    /// or the system clock, at the fair's offset).
    pub fn new(till: Till) -> Result<TillController> {
        TillController::with_clock(till, clock::system())
    }

    pub fn with_clock(mut till: Till, clock: Clock) -> Result<TillController> {
        // A kiosk stopped on its payment QR, the stall at the till since: the basket it
        // showed is kept for staff here too (`fairpos kiosk left`).
        let kept = clock(&till).and_then(|now| till.keep_basket_left_at_a_stop(now));
        if let Err(e) = kept {
            eprintln!("a basket left on the kiosk's payment QR is not kept: {e}");
        }
        let catalog = till.catalog()?;
        let index = ProductIndex::new(&catalog);
        let now_ms = wall_ms(&till, &clock);
        let pins = resumed_pin_guard(&till, PinGuard::default(), (now_ms, now_ms));
        Ok(TillController {
            till,
            catalog,
            index,
            lang: Lang::Zh,
            screen: Screen::SignIn,
            seller: None,
            selected_seller: None,
            pin: String::new(),
            query: String::new(),
            category: None,
            page: 0,
            cart: Cart::new(),
            unit: None,
            unit_query: String::new(),
            tenders: Vec::new(),
            keypad: String::new(),
            float_input: String::new(),
            cash: CashMove::default(),
            weighing: None,
            has_scale: false,
            weigh_now: false,
            pins,
            basket_loaded: None,
            counts: [0; 8],
            close_expected: Fen::ZERO,
            completed: None,
            last_sale: None,
            sale: None,
            slip: None,
            message: None,
            clock,
        })
    }

    pub fn till(&self) -> &Till {
        &self.till
    }

    pub fn till_mut(&mut self) -> &mut Till {
        &mut self.till
    }

    fn now(&self) -> Result<Time> {
        (self.clock)(&self.till)
    }

    /// Where the till rests: signing in with nobody signed in, selling with a shift open,
    /// else opening one.
    fn home_screen(&self) -> Screen {
        match (&self.seller, self.till.store().state().shift.is_some()) {
            (None, _) => Screen::SignIn,
            (Some(_), true) => Screen::Sell,
            (Some(_), false) => Screen::OpenShift,
        }
    }

    /// The time of day at the fair (`HH:MM`), as the status line tells when it last synced:
    /// the controller's clock, at the fair's offset, not the machine's zone (a kiosk image
    /// without one said 02:15 at a quarter past ten in Beijing). Empty when the clock fails.
    pub fn time_of_day(&self) -> String {
        self.now()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default()
    }

    /// Good news, or a hint, in the volunteer's language.
    fn say(&mut self, zh: &str, en: &str) {
        self.message = Some(Message::of(|lang| pick(lang, zh, en).to_string(), false));
    }

    /// A problem, in the volunteer's language (the rules of the domain) or as it is.
    fn fail(&mut self, e: impl Into<Error>) {
        let e = e.into();
        self.message = Some(Message::of(|lang| words(&e, lang), true));
    }

    /// What the till says now, in the volunteer's language.
    pub fn message_text(&self) -> Option<&str> {
        self.message.as_ref().map(|m| m.text(self.lang))
    }

    pub fn dismiss_message(&mut self) {
        self.message = None;
    }

    /// The stall lead's PIN as typed, taken from the pad ([`TillController::typed_pin`]).
    fn typed_lead_pin(&mut self) -> Option<String> {
        self.typed_pin("请先输入组长 PIN", "Type the stall lead's PIN first")
    }

    /// The PIN as typed, taken from the pad. None typed (or too few digits to be any PIN) is
    /// said (`zh`, `en`), not checked: a second tap on Refund or Void, its work done and the
    /// pad cleared, counted a wrong PIN towards the lock and showed "wrong PIN" over the
    /// refund just made.
    fn typed_pin(&mut self, zh: &str, en: &str) -> Option<String> {
        let pin = crate::gui::views::take_pin(&mut self.pin);
        if pin.is_none() {
            self.say(zh, en);
        }
        pin
    }

    /// A PIN check behind the guard against guessing ([`PinGuard`]): while the pad is
    /// locked, none is checked (not even the right one, and the slow hash is not computed).
    ///
    /// [`PinGuard`]: crate::gui::views::PinGuard
    fn guarded_pin(&mut self, check: impl FnOnce(&Till) -> Result<()>) -> Result<()> {
        let now_ms = self
            .now()
            .map(|t| u64::try_from(t.timestamp_millis()).unwrap_or(0))?;
        if let Some(seconds) = self.pins.locked(now_ms) {
            return Err(DomainError::PinLocked { seconds }.into());
        }
        let checked = check(&self.till);
        let before = self.pins.kept(now_ms, now_ms);
        self.pins.record(checked.is_ok(), now_ms);
        keep_pin_guard(&mut self.till, &self.pins, &before, (now_ms, now_ms));
        checked
    }

    /// The catalog changed underneath (a sync brought a new one).
    pub fn reload_catalog(&mut self) -> Result<Changed> {
        self.catalog = self.till.catalog()?;
        self.index = ProductIndex::new(&self.catalog);
        Ok(Changed {
            products: true,
            units: true,
        })
    }

    /// After a sale: the rest of its projection, WAL checkpoints, compaction. Called when
    /// the UI is idle; a failure only postpones the work.
    pub fn tidy(&mut self) {
        if let Err(e) = self.till.tidy() {
            eprintln!("the work after the sale is postponed: {e}");
        }
    }
}

/// Milliseconds since the epoch on the till's clock (`clock`), 0 when it cannot be read.
pub(crate) fn wall_ms(till: &Till, clock: &Clock) -> u64 {
    clock(till).map_or(0, |t| u64::try_from(t.timestamp_millis()).unwrap_or(0))
}

/// `guard` as the till kept it before it last stopped ([`PIN_GUARD`]), at `(now_ms,
/// wall_ms)`: this run's clock and the wall's.
///
/// [`PIN_GUARD`]: crate::gui::views::PIN_GUARD
pub(crate) fn resumed_pin_guard(
    till: &Till,
    guard: PinGuard,
    (now_ms, wall_ms): (u64, u64),
) -> PinGuard {
    match till.store().meta(crate::gui::views::PIN_GUARD) {
        Ok(Some(kept)) => guard.resumed(&kept, now_ms, wall_ms),
        Ok(None) => guard,
        Err(e) => {
            eprintln!("the PIN pad's guard kept before the stop cannot be read: {e}");
            guard
        }
    }
}

/// Keeps `guard` in the till's `meta` when a PIN changed it from `before` (a right PIN
/// with nothing to forgive writes nothing), at `(now_ms, wall_ms)`.
pub(crate) fn keep_pin_guard(
    till: &mut Till,
    guard: &PinGuard,
    before: &str,
    (now_ms, wall_ms): (u64, u64),
) {
    let kept = guard.kept(now_ms, wall_ms);
    if kept != before {
        let written = till
            .store_mut()
            .set_meta(crate::gui::views::PIN_GUARD, &kept);
        if let Err(e) = written {
            eprintln!("the PIN pad's guard is not kept: {e}");
        }
    }
}
