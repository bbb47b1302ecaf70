//! What a volunteer or a scanner types into the till, as the till takes it: full-width
//! letters made half-width, then a kiosk basket's items or the item itself into a cart of
//! the demo catalog under the demo fair's rules. Never a panic; a cart written as a basket
//! reads back as the same basket, and loads into a cart of the same total.
#![no_main]

use std::sync::OnceLock;

use fairpos_domain::basket::Basket;
use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::Catalog;
use fairpos_domain::fair::Fair;
use libfuzzer_sys::fuzz_target;

fn demo() -> &'static (Catalog, Fair) {
    static DEMO: OnceLock<(Catalog, Fair)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let catalog = Catalog::new(fairpos_domain::demo::products().unwrap()).unwrap();
        let fair = Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap();
        (catalog, fair)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else {
        return;
    };
    let (catalog, fair) = demo();
    let rules = &fair.barcode_rules;
    let typed = fairpos_domain::text::half_width(typed);
    let items = match Basket::parse(&typed) {
        Some(basket) => basket.items,
        None => typed.split('\n').map(str::to_string).collect(),
    };
    let mut cart = Cart::new();
    for item in &items {
        let _ = cart.add_item(catalog, rules, item);
    }
    if cart.lines().is_empty() {
        return;
    }
    let basket = Basket::of_cart("K01", &cart, rules);
    let back = Basket::parse(&basket.payload()).expect("a basket's own code reads");
    assert_eq!(back, basket);
    let mut again = Cart::new();
    for item in &back.items {
        again
            .add_item(catalog, rules, item)
            .unwrap_or_else(|e| panic!("{item:?} of a cart's basket: {e}"));
    }
    assert_eq!(again.total(), cart.total(), "{:?}", basket.items);
});
