//! Selling: finding products (search, categories, pinyin initials), scans and codes typed,
//! the cart, weights on the keypad, kiosk baskets, and the buyer.

use fairpos_domain::basket::Basket;
use fairpos_domain::cart::{resolve, Cart};
use fairpos_domain::codes::{parse_gtin, ReceiptQr};
use fairpos_domain::sale::Unit;
use fairpos_domain::{DomainError, Fen, Lang};

use super::weigh::Weighing;
use super::{Changed, Screen, TillController};
use crate::error::Error;
use crate::gui::views::{cart_lines, name_of, yuan, LineView};

/// Products on one page of the grid; the arrows turn the pages.
pub const PAGE_SIZE: usize = 60;

/// Stock at or below this shows in red.
const LOW_STOCK: i64 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub price: String,
    pub stock: String,
    pub low: bool,
}

impl TillController {
    pub fn categories(&self) -> &[String] {
        self.index.categories()
    }

    pub fn category(&self) -> Option<usize> {
        self.category
    }

    pub fn set_category(&mut self, category: Option<usize>) -> Changed {
        self.category = category.filter(|&c| c < self.index.categories().len());
        self.page = 0;
        Changed {
            products: true,
            units: false,
        }
    }

    pub fn search(&mut self, query: &str) -> Changed {
        self.query = query.to_string();
        self.page = 0;
        Changed {
            products: true,
            units: false,
        }
    }

    /// Turns the grid's page by `delta` (within the pages there are).
    pub fn turn_page(&mut self, delta: i32) -> Changed {
        let pages = self.found().len().div_ceil(PAGE_SIZE).max(1);
        let page = (self.page as i64 + i64::from(delta)).clamp(0, pages as i64 - 1);
        self.page = page as usize;
        Changed {
            products: true,
            units: false,
        }
    }

    fn found(&self) -> Vec<usize> {
        let category = self
            .category
            .and_then(|c| self.index.categories().get(c))
            .map(String::as_str);
        self.index.find(&self.query, category)
    }

    /// The products of the grid's page, the page (from 0) and how many pages there are.
    pub fn products(&self) -> (Vec<ProductView>, usize, usize) {
        let found = self.found();
        let pages = found.len().div_ceil(PAGE_SIZE).max(1);
        let page = self.page.min(pages - 1);
        let stock = &self.till.store().state().stock;
        let views = found
            .iter()
            .skip(page * PAGE_SIZE)
            .take(PAGE_SIZE)
            .map(|&i| {
                let p = &self.catalog.products()[i];
                let left = stock.get(&p.sku).copied().unwrap_or(0);
                ProductView {
                    sku: p.sku.clone(),
                    name: name_of(p, self.lang).to_string(),
                    price: format!("{}/{}", yuan(p.price), p.unit),
                    stock: match self.lang {
                        Lang::Zh => format!("库存 {}", p.units_text(left)),
                        Lang::En => format!("stock {}", p.units_text(left)),
                    },
                    low: left <= p.grams_per_unit().unwrap_or(1) * LOW_STOCK,
                }
            })
            .collect();
        (views, page, pages)
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
            self.weighing = Some(Weighing::new(p, None));
            return;
        }
        if let Err(e) = self.cart.add_counted(p, 1) {
            self.fail(e);
        }
    }

    /// A code from a scanner (serial or keyboard wedge) or typed into the search field: a
    /// product, a scale label, a kiosk basket, or one of our receipts.
    pub fn scan(&mut self, code: &str) -> Changed {
        let code = fairpos_domain::text::half_width(code);
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
    /// goes into the cart and the field empties (`true`); so does a barcode scanned onto
    /// text left in the field (a product tapped from a search leaves it focused, and the
    /// scanner's keys follow the search's). Anything else stays a search.
    pub fn code_entered(&mut self, text: &str) -> bool {
        // A scanner typing through an input method in full-width mode (`６９３５…`).
        let text = fairpos_domain::text::half_width(text);
        let t = text.trim();
        let code = (t.len() >= 6 && t.bytes().all(|b| b.is_ascii_digit()))
            || t.contains('*')
            || ReceiptQr::parse(t).is_some()
            || Basket::parse(t).is_some()
            || self.catalog.by_sku(&t.to_uppercase()).is_some();
        if code {
            self.scan(t);
        } else if let Some(glued) = self.code_at_end(t) {
            self.scan(glued);
        } else {
            return false;
        }
        self.query.clear();
        true
    }

    /// The code a scanner typed after search text, when the text ends in one: the last 14,
    /// 13, 12 or 8 digits (ITF-14, EAN-13, UPC-A, EAN-8) that name a product, else that
    /// are a barcode by their check digit (scanned, so that the volunteer is told no
    /// product has it). A search ending in digits of its own (`茶叶礼盒 1`, `TEA-20240501`)
    /// glued to a scan is not cut at the wrong digit, nor taken for a code.
    fn code_at_end<'t>(&self, text: &'t str) -> Option<&'t str> {
        let digits = text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let rules = &self.till.store().identity().fair.barcode_rules;
        let ends = || {
            [14, 13, 12, 8]
                .into_iter()
                .filter(move |&n| n <= digits)
                .map(|n| &text[text.len() - n..])
        };
        ends()
            .find(|code| resolve(&self.catalog, rules, code).is_ok())
            .or_else(|| ends().find(|code| matches!(parse_gtin(code), Ok(Some(_)))))
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
                let why = crate::gui::views::words(&e.into(), self.lang);
                self.fail(Error::Other(format!("{}: {why}", basket.kiosk)));
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
        cart_lines(&self.cart, self.lang)
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
            // The pad opens empty, as for a new line: the scale's weight, or one typed anew,
            // replaces the line's. It opened holding the old weight, which won over the
            // scale's (a typed weight does) and took the digits typed after it ("1.5" then
            // "2" made 1.52): the goods weighed again were sold at their old weight.
            self.weighing = Some(Weighing::new(line.product.clone(), Some(index)));
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
            None => self.fail(DomainError::UnknownUnit {
                code: code.to_string(),
            }),
        }
    }

    pub fn individual(&mut self) {
        self.unit = None;
        self.screen = Screen::Sell;
    }
}
