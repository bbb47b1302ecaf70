//! The till controller without a window.

use fairpos_domain::cart::Cart;
use fairpos_domain::Fen;

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
    c.lang = fairpos_domain::Lang::En;
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
