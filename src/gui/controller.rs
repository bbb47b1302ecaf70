//! What every tap and scan at the till does, in plain Rust over a [`Till`]: signing in,
//! finding and scanning products, the cart, the buyer, payment, shift open and close, voids
//! and refunds. No Slint here; `till_adapter.rs` shows this state and forwards the taps, and
//! the tests drive it with no window at all.
//!
//! Each method changes the state and says so through [`Changed`], so the adapter redraws only
//! what changed (the product grid is the one list that can be long).

use crate::domain::basket::Basket;
use crate::domain::cart::Cart;
use crate::domain::catalog::{Catalog, Product};
use crate::domain::codes::ReceiptQr;
use crate::domain::payment::{Method, Tender};
use crate::domain::refund::RefundAsk;
use crate::domain::sale::{Seller, Unit};
use crate::domain::search::ProductIndex;
use crate::domain::shift::{count_denominations, DENOMINATIONS};
use crate::domain::{DomainError, Fen};
use crate::error::{Error, Result};
use crate::store::queries;
use crate::till::printing::receipt_key;
use crate::till::{Order, Till, Time};

/// Where a controller reads the time: the command line's clock (`FAIRPOS_NOW` or the
/// system's), or a test's.
pub type Clock = Box<dyn Fn(&Till) -> Result<Time>>;

/// Most products the grid shows at once; the rest are found by searching.
pub const GRID_LIMIT: usize = 60;

/// Stock at or below this shows in red.
const LOW_STOCK: i64 = 5;

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
    /// Counting the drawer; closing signs the seller out.
    CloseShift,
    /// One sale looked up, for a void or refund behind the lead PIN.
    Sale,
    /// Picking a purchasing unit as the buyer.
    Units,
}

impl Screen {
    /// The number the UI's `Nav.screen` uses.
    pub fn index(self) -> i32 {
        match self {
            Screen::SignIn => 0,
            Screen::OpenShift => 1,
            Screen::Sell => 2,
            Screen::Pay => 3,
            Screen::Done => 4,
            Screen::CloseShift => 5,
            Screen::Sale => 6,
            Screen::Units => 7,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The bundled translation's code: `zh_CN` (the fair's), or `""` for the English the
    /// screens are written in.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh_CN",
            Lang::En => "",
        }
    }
}

/// What a call changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub products: bool,
    pub units: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub bad: bool,
}

/// A sale just completed: what the done screen shows and what the printer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub id: String,
    pub number: String,
    pub total: Fen,
    pub change: Fen,
}

impl Completed {
    pub fn of(sale: &crate::domain::sale::Sale) -> Completed {
        Completed {
            id: sale.context.id.clone(),
            number: sale.number.clone(),
            total: sale.total,
            change: sale.change,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub price: String,
    pub stock: String,
    pub low: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineView {
    pub name: String,
    pub detail: String,
    pub qty: String,
    pub amount: String,
}

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftView {
    pub counts: [u32; 8],
    pub expected: Fen,
    pub counted: Fen,
    pub variance: Fen,
}

/// The weighed product whose weight the keypad is taking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weighing {
    pub product: Product,
    /// Cart line whose weight is being changed; `None` for a new line.
    pub line: Option<usize>,
    pub input: String,
}

/// A looked-up sale, for a void or a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleView {
    pub id: String,
    pub number: String,
    pub status: String,
    pub total: Fen,
    pub lines: Vec<SaleLineView>,
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
    pub cart: Cart,
    unit: Option<Unit>,
    unit_query: String,
    tenders: Vec<Tender>,
    pub keypad: String,
    pub float_input: String,
    pub weighing: Option<Weighing>,
    /// The kiosk basket last loaded, so that scanning it twice does not double the cart.
    basket_loaded: Option<Basket>,
    pub counts: [u32; 8],
    /// The cash the drawer should hold, read when the shift close screen opens.
    close_expected: Fen,
    pub completed: Option<Completed>,
    /// The last sale of this session, for "reprint last".
    pub last_sale: Option<String>,
    pub sale: Option<SaleView>,
    pub message: Option<Message>,
    clock: Clock,
}

fn yuan(f: Fen) -> String {
    format!("￥{f}")
}

impl TillController {
    /// A controller over `till`, reading the clock as the command line does (`FAIRPOS_NOW`
    /// or the system clock, at the fair's offset).
    pub fn new(till: Till) -> Result<TillController> {
        TillController::with_clock(till, Box::new(crate::cli::now))
    }

    pub fn with_clock(mut till: Till, clock: Clock) -> Result<TillController> {
        let catalog = till.catalog()?;
        let index = ProductIndex::new(&catalog);
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
            cart: Cart::new(),
            unit: None,
            unit_query: String::new(),
            tenders: Vec::new(),
            keypad: String::new(),
            float_input: String::new(),
            weighing: None,
            basket_loaded: None,
            counts: [0; 8],
            close_expected: Fen::ZERO,
            completed: None,
            last_sale: None,
            sale: None,
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

    fn say(&mut self, zh: &str, en: &str) {
        let text = match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        };
        self.message = Some(Message {
            text: text.to_string(),
            bad: false,
        });
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        self.message = Some(Message {
            text: e.to_string(),
            bad: true,
        });
    }

    pub fn dismiss_message(&mut self) {
        self.message = None;
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

    // ----- signing in -----

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
        let pin = std::mem::take(&mut self.pin);
        if let Err(e) = self.till.store().check_seller_pin(&id, &pin) {
            return self.fail(e);
        }
        let Some(seller) = self.till.store().state().sellers.get(&id).cloned() else {
            return self.fail(format!("unknown seller {id}"));
        };
        self.say(
            &format!("{} 已登录", seller.name),
            &format!("{} signed in", seller.name),
        );
        self.seller = Some(seller);
        self.screen = if self.till.store().state().shift.is_some() {
            Screen::Sell
        } else {
            Screen::OpenShift
        };
    }

    pub fn sign_out(&mut self) {
        self.seller = None;
        self.selected_seller = None;
        self.pin.clear();
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
            .and_then(|conn| queries::cash_flows(conn, &shift.id));
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

    pub fn close_shift(&mut self) {
        let counted = count_denominations(&self.counts);
        match self
            .now()
            .and_then(|now| self.till.close_shift(counted, now))
        {
            Ok(closed) => {
                let last = closed.last_sale.unwrap_or_else(|| "—".into());
                let v = closed.closing.variance;
                self.sign_out();
                self.say(
                    &format!("已交班：最后一单 {last}，差额 {}", yuan(v)),
                    &format!("Shift closed: last sale {last}, variance {}", yuan(v)),
                );
            }
            Err(e) => self.fail(e),
        }
    }

    pub fn denomination_labels() -> [String; 8] {
        DENOMINATIONS.map(|d| yuan(d).replace(".00", ""))
    }

    // ----- finding products -----

    pub fn categories(&self) -> &[String] {
        self.index.categories()
    }

    pub fn category(&self) -> Option<usize> {
        self.category
    }

    pub fn set_category(&mut self, category: Option<usize>) -> Changed {
        self.category = category.filter(|&c| c < self.index.categories().len());
        Changed {
            products: true,
            units: false,
        }
    }

    pub fn search(&mut self, query: &str) -> Changed {
        self.query = query.to_string();
        Changed {
            products: true,
            units: false,
        }
    }

    /// Products the grid shows, and how many more the search finds.
    pub fn products(&self) -> (Vec<ProductView>, usize) {
        let category = self
            .category
            .and_then(|c| self.index.categories().get(c))
            .map(String::as_str);
        let found = self.index.find(&self.query, category);
        let stock = &self.till.store().state().stock;
        let views = found
            .iter()
            .take(GRID_LIMIT)
            .map(|&i| {
                let p = &self.catalog.products()[i];
                let left = stock.get(&p.sku).copied().unwrap_or(0);
                ProductView {
                    sku: p.sku.clone(),
                    name: self.name_of(p).to_string(),
                    price: format!("{}/{}", yuan(p.price), p.unit),
                    stock: match self.lang {
                        Lang::Zh => format!("库存 {}", p.units_text(left)),
                        Lang::En => format!("stock {}", p.units_text(left)),
                    },
                    low: left <= p.grams_per_unit().unwrap_or(1) * LOW_STOCK,
                }
            })
            .collect();
        (views, found.len().saturating_sub(GRID_LIMIT))
    }

    fn name_of<'a>(&self, p: &'a Product) -> &'a str {
        match self.lang {
            Lang::En if !p.name_en.is_empty() => &p.name_en,
            _ => &p.name_zh,
        }
    }

    // ----- the cart -----

    /// A product tapped in the grid: counted goods go in one at a time, weighed goods ask
    /// for their weight.
    pub fn add_product(&mut self, sku: &str) {
        let Some(p) = self.catalog.by_sku(sku).cloned() else {
            return self.fail(DomainError::UnknownCode {
                code: sku.to_string(),
            });
        };
        if p.weighed {
            self.weighing = Some(Weighing {
                product: p,
                line: None,
                input: String::new(),
            });
            return;
        }
        if let Err(e) = self.cart.add_counted(p, 1) {
            self.fail(e);
        }
    }

    /// A code from a scanner (serial or keyboard wedge) or typed into the search field: a
    /// product, a scale label, a kiosk basket, or one of our receipts.
    pub fn scan(&mut self, code: &str) -> Changed {
        let code = code.trim();
        if code.is_empty() {
            return Changed::default();
        }
        if let Some(qr) = ReceiptQr::parse(code) {
            self.lookup_sale(&qr.payload());
            return Changed::default();
        }
        match self.screen {
            Screen::Sell => {}
            Screen::SignIn | Screen::OpenShift => {
                self.say("请先登录并开班", "Sign in and open a shift first");
                return Changed::default();
            }
            _ => {
                self.say("扫码请回到购物车页面", "Go back to the cart to scan");
                return Changed::default();
            }
        }
        if let Some(basket) = Basket::parse(code) {
            return self.load_basket(&basket);
        }
        let rules = &self.till.store().identity().fair.barcode_rules;
        match self.cart.add_item(&self.catalog, rules, code) {
            Ok(_) => self.message = None,
            Err(e) => self.fail(e),
        }
        Changed::default()
    }

    /// Enter in the search field: a code (digits, a SKU, `SKU*N`, a receipt or basket QR)
    /// goes into the cart and the field empties (`true`); anything else stays a search.
    pub fn code_entered(&mut self, text: &str) -> bool {
        let t = text.trim();
        let code = (t.len() >= 6 && t.bytes().all(|b| b.is_ascii_digit()))
            || t.contains('*')
            || ReceiptQr::parse(t).is_some()
            || Basket::parse(t).is_some()
            || self.catalog.by_sku(&t.to_uppercase()).is_some();
        if !code {
            return false;
        }
        self.scan(t);
        self.query.clear();
        true
    }

    fn load_basket(&mut self, basket: &Basket) -> Changed {
        if !self.cart.is_empty() && self.basket_loaded.as_ref() == Some(basket) {
            self.say(
                &format!("自助机 {} 的购物篮已在购物车中", basket.kiosk),
                &format!(
                    "The basket from kiosk {} is in the cart already",
                    basket.kiosk
                ),
            );
            return Changed::default();
        }
        let rules = self.till.store().identity().fair.barcode_rules.clone();
        let mut cart = Cart::new();
        for item in &basket.items {
            if let Err(e) = cart.add_item(&self.catalog, &rules, item) {
                self.fail(format!("basket from {}: {e}", basket.kiosk));
                return Changed::default();
            }
        }
        // Every item is known good now: the till's cart takes them all.
        for item in &basket.items {
            if let Err(e) = self.cart.add_item(&self.catalog, &rules, item) {
                self.fail(e);
            }
        }
        self.basket_loaded = Some(basket.clone());
        self.say(
            &format!(
                "已载入自助机 {} 的购物篮（{} 项）",
                basket.kiosk,
                basket.items.len()
            ),
            &format!(
                "Basket from kiosk {} loaded ({} items)",
                basket.kiosk,
                basket.items.len()
            ),
        );
        Changed::default()
    }

    pub fn lines(&self) -> Vec<LineView> {
        self.cart
            .lines()
            .iter()
            .map(|l| {
                let p = &l.product;
                if p.weighed {
                    LineView {
                        name: self.name_of(p).to_string(),
                        detail: format!("{} g @ {}/{}", l.qty, yuan(p.price), p.unit),
                        qty: format!("{}{}", p.units_text(l.qty), p.unit),
                        amount: yuan(l.amount),
                    }
                } else {
                    LineView {
                        name: self.name_of(p).to_string(),
                        detail: format!("{} × {}", yuan(p.price), l.qty),
                        qty: l.qty.to_string(),
                        amount: yuan(l.amount),
                    }
                }
            })
            .collect()
    }

    pub fn total(&self) -> Fen {
        self.cart.total()
    }

    pub fn item_count(&self) -> usize {
        self.cart.lines().len()
    }

    /// One more piece; for a weighed line, the weight keypad.
    pub fn inc(&mut self, index: usize) {
        self.step(index, 1);
    }

    /// One piece fewer (the line goes at zero); for a weighed line, the weight keypad.
    pub fn dec(&mut self, index: usize) {
        self.step(index, -1);
    }

    fn step(&mut self, index: usize, delta: i64) {
        let Some(line) = self.cart.lines().get(index).cloned() else {
            return;
        };
        if line.product.weighed {
            if line.fixed_amount {
                return self.say(
                    "称重标签的金额不能修改，可删除后重扫",
                    "A scale label's amount cannot change: remove the line and scan again",
                );
            }
            self.weighing = Some(Weighing {
                input: line.product.units_text(line.qty),
                product: line.product,
                line: Some(index),
            });
            return;
        }
        let n = line.qty + delta;
        let result = if n <= 0 {
            self.cart.remove(index);
            Ok(())
        } else {
            self.cart.set_count(index, n)
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    pub fn remove(&mut self, index: usize) {
        self.cart.remove(index);
    }

    pub fn clear_cart(&mut self) {
        self.cart.clear();
        self.unit = None;
    }

    pub fn weigh_key(&mut self, key: &str) {
        if let Some(w) = &mut self.weighing {
            edit_digits(&mut w.input, key, 3, 8);
        }
    }

    pub fn weigh_cancel(&mut self) {
        self.weighing = None;
    }

    pub fn weigh_ok(&mut self) {
        let Some(w) = self.weighing.take() else {
            return;
        };
        let grams = match w.product.base_qty_from_units(&w.input) {
            Ok(g) if g > 0 => g,
            Ok(_) => {
                self.say("请输入重量", "Type the weight first");
                self.weighing = Some(w);
                return;
            }
            Err(e) => {
                self.fail(e);
                self.weighing = Some(w);
                return;
            }
        };
        let result = match w.line {
            Some(i) => self.cart.set_grams(i, grams).map(|_| ()),
            None => self.cart.add_weighed(w.product.clone(), grams).map(|_| ()),
        };
        if let Err(e) = result {
            self.fail(e);
            self.weighing = Some(w);
        }
    }

    // ----- the buyer -----

    pub fn buyer_text(&self) -> String {
        match (&self.unit, self.lang) {
            (Some(u), _) => format!("{} {}", u.name, u.tax_id),
            (None, Lang::Zh) => "个人购买".into(),
            (None, Lang::En) => "Individual".into(),
        }
    }

    pub fn choose_buyer(&mut self) -> Changed {
        self.unit_query.clear();
        self.screen = Screen::Units;
        Changed {
            products: false,
            units: true,
        }
    }

    pub fn search_units(&mut self, query: &str) -> Changed {
        self.unit_query = query.to_string();
        Changed {
            products: false,
            units: true,
        }
    }

    /// Units matching the search, by name or credit code.
    pub fn units(&self) -> Vec<Unit> {
        let q = self.unit_query.trim().to_uppercase();
        let mut units: Vec<Unit> = self
            .till
            .store()
            .state()
            .units
            .values()
            .filter(|u| q.is_empty() || u.tax_id.contains(&q) || u.name.contains(q.as_str()))
            .cloned()
            .collect();
        units.sort_by(|a, b| a.name.cmp(&b.name));
        units
    }

    pub fn pick_unit(&mut self, code: &str) {
        match self.till.store().state().units.get(code).cloned() {
            Some(u) => {
                self.unit = Some(u);
                self.screen = Screen::Sell;
            }
            None => self.fail(format!("unknown unit {code}")),
        }
    }

    pub fn individual(&mut self) {
        self.unit = None;
        self.screen = Screen::Sell;
    }

    // ----- payment -----

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

    // ----- voids and refunds -----

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
                self.fail(format!("no sale {key} on this till"));
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
        Ok(Some(SaleView {
            id: detail.summary.id.clone(),
            number: detail.summary.number.clone(),
            status: detail.summary.status().to_string(),
            total: detail.summary.total,
            lines,
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
        let pin = std::mem::take(&mut self.pin);
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
        let pin = std::mem::take(&mut self.pin);
        if let Err(e) = self.till.store().check_lead_pin(&pin) {
            return self.fail(e);
        }
        let asks: Vec<RefundAsk> = sale
            .lines
            .iter()
            .filter(|l| l.asked > 0)
            .map(|l| RefundAsk {
                line: l.line,
                qty: Some(l.asked),
            })
            .collect();
        if asks.is_empty() {
            return self.say("请选择要退的商品", "Choose what comes back first");
        }
        let method = match Method::parse(method) {
            Ok(m) => m,
            Err(e) => return self.fail(e),
        };
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

    pub fn close_sale(&mut self) {
        self.sale = None;
        self.pin.clear();
        self.screen = if self.seller.is_some() {
            Screen::Sell
        } else {
            Screen::SignIn
        };
    }

    /// After a sale: the rest of its projection, WAL checkpoints, compaction. Called when
    /// the UI is idle; a failure only postpones the work.
    pub fn tidy(&mut self) {
        if let Err(e) = self.till.tidy() {
            eprintln!("the work after the sale is postponed: {e}");
        }
    }
}

/// Edits a keypad entry of at most `max` characters: a digit, `.` (when `decimals` > 0), or
/// `back`. Money takes two decimals, weights three.
pub(crate) fn edit_digits(text: &mut String, key: &str, decimals: usize, max: usize) {
    match key {
        "back" => {
            text.pop();
        }
        "." if decimals > 0 && !text.contains('.') => {
            if text.is_empty() {
                text.push('0');
            }
            text.push('.');
        }
        k if k.len() == 1 && k.as_bytes()[0].is_ascii_digit() && text.len() < max => {
            if text
                .find('.')
                .is_some_and(|dot| text.len() - dot > decimals)
            {
                return;
            }
            text.push_str(k);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(dir: &std::path::Path) -> TillController {
        let till = Till::init_demo(dir, "2468").unwrap();
        let clock: Clock = Box::new(|till: &Till| {
            let offset = till.store().identity().fair.utc_offset;
            Ok(
                chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00+08:00")
                    .unwrap()
                    .with_timezone(&offset),
            )
        });
        let mut c = TillController::with_clock(till, clock).unwrap();
        c.lang = Lang::En;
        c
    }

    fn signed_in(dir: &std::path::Path) -> TillController {
        let mut c = controller(dir);
        c.select_seller("V003");
        for k in ["2", "4", "6", "8"] {
            c.pin_key(k);
        }
        c.sign_in();
        c.open_shift();
        assert_eq!(c.screen, Screen::Sell);
        c
    }

    #[test]
    fn a_seller_with_a_pin_of_their_own_signs_in_with_it_and_not_the_leads() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = controller(dir.path());
        c.till_mut()
            .store_mut()
            .set_seller_pin("V004", "1357", "2468")
            .unwrap();
        c.select_seller("V004");
        for k in ["2", "4", "6", "8"] {
            c.pin_key(k);
        }
        c.sign_in();
        assert_eq!(c.screen, Screen::SignIn);
        assert!(c.message.as_ref().is_some_and(|m| m.bad));
        for k in ["1", "3", "5", "7"] {
            c.pin_key(k);
        }
        c.sign_in();
        assert_eq!(c.screen, Screen::OpenShift);
        assert_eq!(c.seller().map(|s| s.id.as_str()), Some("V004"));
    }

    #[test]
    fn the_grid_finds_by_pinyin_initials_and_enter_tells_codes_from_searches() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = signed_in(dir.path());
        c.search("bjhjc");
        let (found, more) = c.products();
        assert_eq!(found[0].sku, "BJ-HJC-250");
        assert_eq!(more, 0);
        assert_eq!(found[0].price, "￥128.00/盒");
        // Enter on a search term keeps it a search; on a barcode, the cart takes it.
        assert!(!c.code_entered("bjhjc"));
        assert!(c.cart.is_empty());
        assert!(c.code_entered("6935780100128"));
        assert_eq!(c.total(), Fen(12800));
        assert!(c.code_entered("BJ-HJC-100*2"));
        assert_eq!(c.total(), Fen(12800 + 11600));
    }

    #[test]
    fn weighed_goods_take_their_weight_from_the_keypad_and_units_buy_on_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = signed_in(dir.path());
        c.add_product("HY-MHT-LB");
        for k in ["1", ".", "5"] {
            c.weigh_key(k);
        }
        c.weigh_ok();
        assert_eq!(c.lines()[0].qty, "1.5斤");
        assert_eq!(c.total(), Fen(1170));
        // On account needs a purchasing unit: refused, then fine once one is chosen.
        c.start_pay();
        c.tender("on_account");
        assert!(c.complete().is_none());
        assert!(c.message.as_ref().is_some_and(|m| m.bad));
        c.back_to_cart();
        c.choose_buyer();
        c.search_units("湖南大学");
        let units = c.units();
        assert_eq!(units.len(), 1);
        c.pick_unit(&units[0].tax_id);
        c.start_pay();
        c.tender("on_account");
        let done = c.complete().expect("sold on account");
        assert_eq!(done.total, Fen(1170));
        assert_eq!(c.screen, Screen::Done);
    }

    #[test]
    fn a_weight_beyond_the_limit_is_refused_and_the_keypad_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = signed_in(dir.path());
        c.add_product("HY-MHT-LB");
        for k in "99999999".split("").filter(|k| !k.is_empty()) {
            c.weigh_key(k);
        }
        c.weigh_ok();
        assert!(c.lines().is_empty());
        assert!(c.message.as_ref().is_some_and(|m| m.bad));
        assert!(c.weighing.is_some(), "the volunteer can correct the weight");
    }

    #[test]
    fn keypads_take_two_decimals_for_money_and_three_for_weights() {
        let typed = |keys: &str, decimals| {
            let mut text = String::new();
            for k in keys.split(' ') {
                edit_digits(&mut text, k, decimals, 9);
            }
            text
        };
        assert_eq!(typed("1 . 2 3 4", 2), "1.23");
        assert_eq!(typed("1 . 2 3 4 5", 3), "1.234");
        assert_eq!(typed(". 5", 2), "0.5");
        assert_eq!(typed("1 . 2", 0), "12");
        assert_eq!(typed("1 2 back 3", 2), "13");
    }

    #[test]
    fn a_kiosk_basket_scanned_twice_is_loaded_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = signed_in(dir.path());
        let rules = c.till.store().identity().fair.barcode_rules.clone();
        let mut cart = Cart::new();
        cart.add_item(&c.catalog, &rules, "BJ-HJC-250*2").unwrap();
        let payload = Basket::of_cart("K01", &cart, &rules).payload();
        c.scan(&payload);
        c.scan(&payload);
        assert_eq!(c.lines().len(), 1);
        assert_eq!(c.total(), cart.total());
        assert!(c
            .message
            .as_ref()
            .is_some_and(|m| m.text.contains("already")));
    }

    #[test]
    fn cash_over_the_due_gives_change_and_other_methods_may_not_exceed_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = signed_in(dir.path());
        c.scan("6935780100128");
        c.start_pay();
        for k in ["2", "0", "0"] {
            c.pay_key(k);
        }
        c.tender("wechat");
        assert!(c.complete().is_none(), "WeChat for more than is due");
        c.remove_tender(0);
        c.quick("100");
        c.quick("50");
        assert_eq!(c.pay_view().remaining, Fen::ZERO);
        assert_eq!(c.pay_view().change, Fen(2200));
        let done = c.complete().unwrap();
        assert_eq!(done.change, Fen(2200));
    }
}
