//! The till controller without a window.

use std::cell::Cell;
use std::rc::Rc;

use fairpos_domain::cart::Cart;
use fairpos_domain::payment::Method;
use fairpos_domain::Fen;

use super::*;

mod pins;
mod weighing;

fn controller(dir: &std::path::Path) -> TillController {
    controller_at(dir, Rc::new(Cell::new(0)))
}

/// A controller whose clock reads 10:00 on the fair's day plus `seconds`.
fn controller_at(dir: &std::path::Path, seconds: Rc<Cell<i64>>) -> TillController {
    let till = Till::init_demo(dir, "2468").unwrap();
    let clock: Clock = Box::new(move |till: &Till| {
        let offset = till.store().identity().fair.utc_offset;
        Ok(
            chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00+08:00")
                .unwrap()
                .with_timezone(&offset)
                + chrono::Duration::seconds(seconds.get()),
        )
    });
    let mut c = TillController::with_clock(till, clock).unwrap();
    c.lang = fairpos_domain::Lang::En;
    c
}

fn type_pin(c: &mut TillController, pin: &str) {
    for d in pin.chars() {
        c.pin_key(&d.to_string());
    }
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
fn a_barcode_typed_in_full_width_into_the_search_field_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    // A keyboard-wedge scanner through an input method in 全角 mode.
    assert!(c.code_entered("６９３５７８０１００１２８"));
    assert_eq!(c.total(), Fen(12800));
    assert!(c.code_entered("ＢＪ－ＨＪＣ－１００＊２"));
    assert_eq!(c.total(), Fen(12800 + 11600));
}

#[test]
fn the_grid_finds_by_pinyin_initials_and_enter_tells_codes_from_searches() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.search("bjhjc");
    let (found, page, pages) = c.products();
    assert_eq!(found[0].sku, "BJ-HJC-250");
    assert_eq!((page, pages), (0, 1));
    assert_eq!(found[0].price, "￥128.00/盒");
    // Enter on a search term keeps it a search; on a barcode, the cart takes it.
    assert!(!c.code_entered("bjhjc"));
    assert!(c.cart.is_empty());
    assert!(c.code_entered("6935780100128"));
    assert_eq!(c.total(), Fen(12800));
    assert!(c.code_entered("BJ-HJC-100*2"));
    assert_eq!(c.total(), Fen(12800 + 11600));
    // A product tapped from a search leaves the field focused with its text: a scan then
    // comes glued to it, and the cart takes the code at its end (it took nothing, unsaid).
    c.search("bjhjc");
    assert!(c.code_entered("bjhjc6935780100128"));
    assert_eq!(c.total(), Fen(2 * 12800 + 11600));
    assert!(c.query.is_empty());
    assert!(
        !c.code_entered("bjhjc 250"),
        "a search ending in a few digits stays one"
    );
    // A search ending in digits of its own, a scan glued on: the code at the end is found.
    assert!(c.code_entered("茶叶礼盒 16935780100128"));
    assert_eq!(c.total(), Fen(3 * 12800 + 11600));
    // Digits that are no barcode: still a search, nothing said against it; a barcode no
    // product has: scanned, and said so.
    c.message = None;
    assert!(!c.code_entered("TEA-20240501"));
    assert!(c.message.is_none());
    assert!(c.code_entered("bjhjc6935780100999"));
    assert!(
        c.message
            .as_ref()
            .is_some_and(|m| m.bad && m.text(fairpos_domain::Lang::En).contains("6935780100999")),
        "{:?}",
        c.message
    );
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
    // A second tap on Complete reaching it over the done screen changes nothing.
    let said = c.message.clone();
    assert!(c.complete().is_none());
    assert_eq!((c.screen, c.message.clone()), (Screen::Done, said));
    // Looked up for a refund, the sale offers its own method: money it never took is not
    // given back for it.
    c.lookup_sale(&done.number);
    let sale = c.sale.as_ref().expect("found");
    assert_eq!(sale.paid_other, Some(Method::OnAccount));
    c.ask_refund(0, 1);
    type_pin(&mut c, "2468");
    c.refund("cash");
    assert!(
        c.message
            .as_ref()
            .is_some_and(|m| m.bad && m.text(fairpos_domain::Lang::En).contains("paid in money")),
        "{:?}",
        c.message
    );
    type_pin(&mut c, "2468");
    c.refund("on_account");
    assert!(
        c.message.as_ref().is_some_and(|m| !m.bad),
        "{:?}",
        c.message
    );
    // Tapped again and again, the refund done and the pad cleared: told to type the PIN,
    // and no wrong PIN counted (five locked the pad, and said "wrong PIN" over the refund).
    for _ in 0..6 {
        c.refund("on_account");
        c.void_sale("顾客退货");
    }
    let said = |c: &TillController, text: &str| {
        c.message
            .as_ref()
            .is_some_and(|m| !m.bad && m.text(fairpos_domain::Lang::En).contains(text))
    };
    assert!(said(&c, "PIN first"), "{:?}", c.message);
    // A PIN typed before the lines are chosen is kept for when they are.
    type_pin(&mut c, "2468");
    c.refund("on_account");
    assert!(said(&c, "Choose what comes back first"), "{:?}", c.message);
    // The PIN is taken, not locked out: the void is refused for the sale's refund alone.
    c.void_sale("顾客退货");
    assert!(
        c.message.as_ref().is_some_and(|m| m
            .text(fairpos_domain::Lang::En)
            .contains("has refunds, so it cannot be voided")),
        "{:?}",
        c.message
    );
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
        .is_some_and(|m| m.text(fairpos_domain::Lang::En).contains("already")));
}

#[test]
fn cash_over_the_due_gives_change_and_other_methods_may_not_exceed_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    // Scanned with a Chinese input method in full-width mode (全角): the same code.
    c.scan("６９３５７８０１００１２８");
    assert_eq!(c.cart.lines().len(), 1, "{:?}", c.message);
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

#[test]
fn domain_messages_reach_the_screen_in_the_volunteers_language_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = controller(dir.path());
    c.lang = fairpos_domain::Lang::Zh;
    c.select_seller("V003");
    type_pin(&mut c, "2468");
    c.sign_in();
    // No shift yet: a sale is refused in Chinese, with no `fairpos shift open` in it.
    c.screen = Screen::Sell;
    c.scan("6935780100128");
    c.start_pay();
    c.quick("exact");
    assert!(c.complete().is_none());
    let text = c.message_text().unwrap();
    assert!(text.contains("请先开班") && !text.contains("--"), "{text}");
}

#[test]
fn cash_put_in_and_taken_out_behind_the_lead_pin_counts_at_the_close() {
    let dir = tempfile::tempdir().unwrap();
    // A shift opened with no float, as a kiosk's is.
    let mut c = signed_in(dir.path());
    let expected = |c: &mut TillController| {
        c.start_close_shift();
        let e = c.shift_view().expected;
        c.screen = Screen::Sell;
        e
    };
    assert_eq!(expected(&mut c), Fen::ZERO);
    // The float brought later: ¥200 put in. Without a reason, or with a wrong PIN, nothing.
    c.start_cash_move();
    assert_eq!(c.screen, Screen::CashMove);
    for k in ["2", "0", "0"] {
        c.cash_key(k);
    }
    type_pin(&mut c, "2468");
    c.record_cash_move();
    assert!(c.message.as_ref().is_some_and(|m| m.bad), "{:?}", c.message);
    assert_eq!(c.screen, Screen::CashMove);
    c.cash_reason(0);
    type_pin(&mut c, "1111");
    c.record_cash_move();
    assert!(c
        .message
        .as_ref()
        .is_some_and(|m| m.bad && m.text(fairpos_domain::Lang::En).contains("PIN")));
    type_pin(&mut c, "2468");
    c.record_cash_move();
    assert_eq!(c.screen, Screen::Sell);
    assert_eq!(expected(&mut c), Fen(20000));
    // ¥150 taken to the safe.
    c.start_cash_move();
    c.cash_direction(true);
    for k in ["1", "5", "0"] {
        c.cash_key(k);
    }
    c.cash_reason(1);
    type_pin(&mut c, "2468");
    c.record_cash_move();
    assert_eq!(c.screen, Screen::Sell);
    assert_eq!(expected(&mut c), Fen(5000));
    let reasons: Vec<String> = c
        .till_mut()
        .reader()
        .unwrap()
        .prepare("SELECT reason FROM cash_moves ORDER BY at, amount_fen DESC")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reasons, ["备用金", "存入保险柜或银行"]);
}

#[test]
fn a_sale_looked_up_before_a_shift_is_open_goes_back_to_opening_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.scan("6935780100128");
    c.start_pay();
    c.quick("exact");
    assert!(c.complete().is_some());
    c.start_close_shift();
    assert!(c.close_shift());
    c.slip_done();
    c.select_seller("V003");
    type_pin(&mut c, "2468");
    c.sign_in();
    assert_eq!(c.screen, Screen::OpenShift);
    c.lookup_sale("T01-000001");
    assert_eq!(c.screen, Screen::Sale);
    c.close_sale();
    assert_eq!(c.screen, Screen::OpenShift);
}

#[test]
fn the_time_of_day_is_the_fairs_by_the_controllers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let c = controller_at(dir.path(), Rc::new(Cell::new(15 * 60)));
    assert_eq!(c.time_of_day(), "10:15");
}

#[test]
fn a_category_of_two_hundred_products_turns_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    let base = c.catalog.products()[0].clone();
    let rows: Vec<_> = (0..200)
        .map(|i| {
            let mut p = base.clone();
            p.sku = format!("TEA-{i:03}");
            p.name_zh = format!("茶叶礼盒 {i:03}");
            p.barcode = None;
            p.category = "礼盒".into();
            fairpos_domain::catalog_csv::CatalogRow {
                product: p,
                stock: 10,
            }
        })
        .collect();
    c.till_mut().import_catalog(&rows).unwrap();
    c.reload_catalog().unwrap();
    let gifts = c.categories().iter().position(|x| x == "礼盒").unwrap();
    c.set_category(Some(gifts));
    let mut seen = Vec::new();
    loop {
        let (page, n, pages) = c.products();
        assert_eq!(pages, 4);
        assert!(page.len() <= PAGE_SIZE);
        seen.extend(page.into_iter().map(|p| p.sku));
        if n + 1 == pages {
            break;
        }
        c.turn_page(1);
    }
    assert_eq!(seen.len(), 200, "every product is on a page");
    assert_eq!(seen[199], "TEA-199");
    // Past the last page it stays; a new search starts at the first.
    c.turn_page(1);
    assert_eq!(c.products().1, 3);
    c.search("茶叶礼盒 1");
    assert_eq!(c.products().1, 0);
}

/// The customer display's QR asks the shopper for what staff tendered by QR (the shopper's
/// phone has yet to pay it): it asked for what remained once "WeChat" was tapped, ￥0.00.
#[test]
fn the_customer_displays_qr_asks_for_what_is_tendered_by_qr() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.scan("6935780100128");
    c.start_pay();
    assert_eq!(
        c.customer_view().by_qr,
        Fen(12800),
        "nothing tendered: the whole"
    );
    for k in ["5", "0"] {
        c.pay_key(k);
    }
    c.tender("cash");
    assert_eq!(c.customer_view().by_qr, Fen(7800), "the rest after cash");
    c.remove_tender(0);
    for k in ["5", "0"] {
        c.pay_key(k);
    }
    c.tender("wechat");
    assert_eq!(c.customer_view().by_qr, Fen(5000), "the first phone");
    c.tender("alipay");
    let view = c.customer_view();
    assert_eq!(
        (view.remaining, view.by_qr),
        (Fen::ZERO, Fen(7800)),
        "the second"
    );
}

/// A sale paid by voucher and by union card, its voucher's part given back: the refund
/// screen offers the union card, which has what is left (it offered the voucher, the first
/// method not money, and the rest could be refunded from the command line alone).
#[test]
fn the_refund_screen_offers_the_method_with_most_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.scan("6935780100128");
    c.scan("6935780100128");
    c.start_pay();
    for k in ["1", "2", "8"] {
        c.pay_key(k);
    }
    c.tender("voucher");
    c.tender("union_card");
    let done = c.complete().expect("sold");
    c.lookup_sale(&done.number);
    c.ask_refund(0, 1);
    type_pin(&mut c, "2468");
    c.refund("voucher");
    assert!(
        c.message.as_ref().is_some_and(|m| !m.bad),
        "{:?}",
        c.message
    );
    c.lookup_sale(&done.number);
    let sale = c.sale.as_ref().expect("found");
    assert_eq!(sale.paid_other, Some(Method::UnionCard));
}
