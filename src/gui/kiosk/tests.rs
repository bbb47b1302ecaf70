//! The kiosk controller without a window.

use super::*;

fn kiosk(dir: &std::path::Path) -> KioskController {
    let till = Till::init_demo(dir, "2468").unwrap();
    let config = KioskConfig {
        idle_warn_s: 60,
        idle_clear_s: 20,
        ..KioskConfig::default()
    };
    let mut k = KioskController::new(till, config).unwrap();
    k.lang = Lang::En;
    k
}

/// A tea scanned at 1 s, shown the payment QR at 2 s, and its payment confirmed by staff
/// at 3 s: sold.
fn sold_by_qr(k: &mut KioskController) {
    k.scan("6935780100128", 1_000);
    k.pay_qr(2_000);
    key_in(k, "2468", 3_000);
    assert!(k.staff_confirm(0, 3_000).is_some());
}

/// Taps `pin` on the kiosk's PIN pad at `now`.
fn key_in(k: &mut KioskController, pin: &str, now: u64) {
    for d in pin.chars() {
        k.pin_key(&d.to_string(), now);
    }
}

#[test]
fn the_kiosk_opens_a_shift_for_its_stalls_first_seller() {
    let dir = tempfile::tempdir().unwrap();
    let k = kiosk(dir.path());
    let shift = k.till().store().state().shift.clone().unwrap();
    assert_eq!(shift.seller, "V003");
    assert_eq!(shift.float, Fen::ZERO);
}

#[test]
fn weighed_goods_need_the_stalls_scale_and_payment_codes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.scan("HY-MHT-LB", 0);
    assert!(k.cart.is_empty());
    assert!(k.message_now().contains("scale label"), "{}", k.message);
    k.scan("2110021007501", 10);
    assert_eq!(k.cart.lines().len(), 1);
    k.scan("134567890123456789", 20);
    assert_eq!(k.cart.lines().len(), 1);
    assert!(!k.message.is_empty());
    // Scanned with a Chinese input method in full-width mode (全角): the same code.
    k.scan("６９３５７８０１００１２８", 30);
    assert_eq!(k.cart.lines().len(), 2, "{}", k.message);
}

#[test]
fn an_idle_shopper_is_asked_then_the_basket_clears() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.scan("6935780100128", 1_000);
    assert_eq!(k.screen, KioskScreen::Shopping);
    assert!(!k.tick(60_000));
    assert!(k.tick(61_000));
    assert_eq!(k.idle_warning(61_000), Some(20));
    assert_eq!(k.idle_warning(75_500), Some(6));
    // A touch in time keeps the basket.
    k.still_here(76_000);
    assert_eq!(k.idle_warning(76_000), None);
    assert!(k.tick(136_000));
    assert!(k.tick(156_000));
    assert!(k.cart.is_empty());
    assert_eq!(k.screen, KioskScreen::Attract);
}

#[test]
fn a_basket_on_the_payment_qr_is_never_cleared_by_the_idle_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.scan("6935780100128", 1_000);
    k.pay_qr(2_000);
    assert_eq!(k.screen, KioskScreen::PayQr);
    assert!(!k.tick(200_000));
    assert_eq!(k.idle_warning(200_000), None);
    assert_eq!(k.cart.lines().len(), 1);
    assert_eq!(k.screen, KioskScreen::PayQr);
}

#[test]
fn five_wrong_pins_lock_the_staff_pad_for_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    let type_pin = |k: &mut KioskController, pin: &str, now| {
        k.staff(now);
        key_in(k, pin, now);
    };
    for _ in 0..5 {
        type_pin(&mut k, "0000", 1_000);
        assert_eq!(k.leave(1_000), Leave::Stay);
        assert!(k.message_now().contains("wrong PIN"), "{}", k.message);
    }
    // Locked: even the lead PIN is refused, and the kiosk says for how long.
    type_pin(&mut k, "2468", 2_000);
    assert_eq!(k.leave(2_000), Leave::Stay);
    assert!(
        k.message_now().contains("try again in 59 s"),
        "{}",
        k.message
    );
    // A minute on, the lead PIN works.
    type_pin(&mut k, "2468", 61_000);
    assert_eq!(k.leave(61_000), Leave::Leave);
}

/// Wrong PINs and a lock outlive a restart of the kiosk: a guesser cutting the power after
/// every four wrong PINs was never locked (the guard was in memory only).
#[test]
fn wrong_pins_and_a_lock_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let restarted = |k: KioskController| {
        drop(k);
        let config = KioskConfig::default();
        KioskController::new(Till::open(dir.path()).unwrap(), config).unwrap()
    };
    let type_pin = |k: &mut KioskController, pin: &str, now| {
        k.staff(now);
        key_in(k, pin, now);
        k.leave(now)
    };
    let mut k = kiosk(dir.path());
    for _ in 0..4 {
        assert_eq!(type_pin(&mut k, "0000", 1_000), Leave::Stay);
    }
    let mut k = restarted(k);
    k.lang = Lang::En;
    assert_eq!(type_pin(&mut k, "0000", 10), Leave::Stay);
    assert_eq!(type_pin(&mut k, "2468", 20), Leave::Stay, "locked");
    assert!(
        k.message_now().contains("try again in 60 s"),
        "{}",
        k.message
    );
    // Restarted while locked: locked still, for what was left.
    let mut k = restarted(k);
    k.lang = Lang::En;
    assert_eq!(type_pin(&mut k, "2468", 30_000), Leave::Stay);
    assert!(
        k.message_now().contains("try again in 30 s"),
        "{}",
        k.message
    );
    assert_eq!(type_pin(&mut k, "2468", 60_000), Leave::Leave);
}

#[test]
fn a_staff_pad_left_open_goes_back_and_a_basket_behind_it_clears() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    // A shopper opens the staff pad over a basket and walks away.
    k.scan("6935780100128", 1_000);
    k.staff(2_000);
    k.pin_key("1", 2_500);
    // The PIN typed is cleared on its own first, as on the payment QR (a lead PIN left
    // there let any shopper leave kiosk mode for as long as the pad stayed open).
    k.still_here(10_000);
    assert!(!k.tick(2_500 + PIN_LEFT_MS - 1));
    assert!(k.tick(2_500 + PIN_LEFT_MS));
    assert_eq!((k.screen, k.pin_dots().as_str()), (KioskScreen::Staff, ""));
    assert!(
        !k.tick(89_000),
        "idle, but not yet as long as a basket may be"
    );
    assert!(k.tick(90_000));
    assert_eq!((k.screen, k.cart.is_empty()), (KioskScreen::Attract, true));
    assert_eq!(k.pin_dots(), "");
    // Opened over the payment QR, it goes back to it, the basket kept.
    k.scan("6935780100128", 100_000);
    k.pay_qr(101_000);
    k.staff(102_000);
    assert!(k.tick(182_000));
    assert_eq!((k.screen, k.cart.lines().len()), (KioskScreen::PayQr, 1));
}

#[test]
fn a_pin_typed_on_the_payment_qr_and_left_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.scan("6935780100128", 1_000);
    k.pay_qr(2_000);
    key_in(&mut k, "1357", 3_000);
    assert!(!k.tick(3_000 + PIN_LEFT_MS - 1));
    assert_eq!(k.pin_dots(), "●●●●");
    assert!(k.tick(3_000 + PIN_LEFT_MS));
    assert_eq!(k.pin_dots(), "");
    // Confirming now is refused, nothing sold; and as often as a shopper who paid taps it,
    // no wrong PIN is counted (five locked the pad, and staff's confirmations with it).
    for t in 0..12 {
        assert!(k.staff_confirm(0, 20_000 + t).is_none());
        assert!(k.leave(20_000 + t) == Leave::Stay);
    }
    assert_eq!(k.screen, KioskScreen::PayQr);
    assert!(
        k.message_now().contains("type your PIN first"),
        "{}",
        k.message
    );
    key_in(&mut k, "2468", 21_000);
    assert!(k.staff_confirm(0, 21_000).is_some(), "{}", k.message);
}

#[test]
fn the_next_shopper_starts_in_the_kiosks_language_and_a_payment_code_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.start_in(Lang::Zh);
    k.lang = Lang::En;
    // A shopper's own WeChat payment code held to the scanner: told why, its digits not shown.
    let code = "134567890123456789";
    k.scan(code, 1_000);
    assert!(k.message_now().contains("payment code"), "{}", k.message);
    assert!(!k.message_now().contains(code), "{}", k.message);
    // Said again in the language the shopper switches to (it stayed in the first).
    k.lang = Lang::Zh;
    assert!(k.message_now().contains("付款码"), "{}", k.message);
    k.finish();
    assert_eq!(k.lang, Lang::Zh);
    k.scan(code, 2_000);
    assert!(
        k.message_now().contains("付款码") && !k.message_now().contains(code),
        "{}",
        k.message
    );
    // English chosen on the start screen by someone who walked off: the kiosk's own again
    // once the screen has been left alone for as long as a shopper is asked after.
    k.finish();
    k.choose_lang(Lang::En, 10_000);
    assert!(!k.tick(10_000 + 59_000));
    assert_eq!(k.lang, Lang::En);
    assert!(k.tick(10_000 + 60_000));
    assert_eq!((k.screen, k.lang), (KioskScreen::Attract, Lang::Zh));
}

#[test]
fn a_kiosk_at_a_real_fair_needs_the_stalls_payment_code_and_a_seller_of_its_own() {
    use crate::store::InitOptions;
    use fairpos_domain::catalog_csv;
    let dir = tempfile::tempdir().unwrap();
    let fair_toml = fairpos_domain::demo::FAIR_TOML.replace("2026 湖南", "2027 湖南");
    let options = InitOptions {
        fair_toml: &fair_toml,
        device: "T01",
        stall: "S01",
        lead_pin: "2468",
        actor: None,
    };
    let mut till = Till::init(dir.path(), &options).unwrap();
    // No sellers at its stall: none of another stall's is taken.
    let refused = KioskController::new(till, KioskConfig::default())
        .err()
        .unwrap();
    assert!(refused.to_string().contains("[kiosk] seller"), "{refused}");
    till = Till::open(dir.path()).unwrap();
    let sellers = catalog_csv::parse_sellers("s.csv", fairpos_domain::demo::SELLERS_CSV);
    till.import_sellers(&sellers.unwrap()).unwrap();
    // The demo's payment code is the demo fair's only.
    let refused = KioskController::new(till, KioskConfig::default())
        .err()
        .unwrap();
    assert!(refused.to_string().contains("payment_qr"), "{refused}");
    let config = KioskConfig {
        payment_qr: "wxp://f2f0stall-s01".into(),
        ..KioskConfig::default()
    };
    // Nor another stall's seller named in the configuration.
    let another = KioskConfig {
        seller: Some("V005".into()),
        ..config.clone()
    };
    let till = Till::open(dir.path()).unwrap();
    let refused = KioskController::new(till, another).err().unwrap();
    assert!(refused.to_string().contains("stall S01"), "{refused}");
    let till = Till::open(dir.path()).unwrap();
    assert!(KioskController::new(till, config).is_ok());
}

/// A kiosk whose payment QR takes `methods` (`[kiosk] payment_method`).
fn kiosk_taking(dir: &std::path::Path, methods: &[&str]) -> Result<KioskController> {
    let till = Till::init_demo(dir, "2468").unwrap();
    let config = KioskConfig {
        payment_method: methods.iter().map(|m| m.to_string()).collect(),
        ..KioskConfig::default()
    };
    let mut k = KioskController::new(till, config)?;
    k.lang = Lang::En;
    Ok(k)
}

/// A code that takes WeChat Pay and Alipay: the screen names both, and staff confirm by the
/// method the money arrived through, which the sale is recorded with (statements are matched
/// by it; every sale had been recorded as WeChat Pay).
#[test]
fn staff_confirm_by_the_method_the_money_arrived_through() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk_taking(dir.path(), &["wechat", "alipay"]).unwrap();
    assert_eq!(
        k.pay_title(),
        "Scan with WeChat Pay or Alipay and pay the amount shown"
    );
    let buttons = k.confirm_buttons();
    assert_eq!(
        buttons,
        [
            (
                "WeChat Pay received".into(),
                "payment received wechat".into()
            ),
            ("Alipay received".into(), "payment received alipay".into()),
        ]
    );
    k.scan("6935780100128", 1_000);
    k.pay_qr(2_000);
    key_in(&mut k, "2468", 3_000);
    assert!(k.staff_confirm(2, 3_500).is_none(), "no third method");
    assert_eq!(k.screen, KioskScreen::PayQr);
    let sale = k.staff_confirm(1, 4_000).expect("sold");
    k.tidy();
    let method: String = k
        .till_mut()
        .store_mut()
        .reader()
        .unwrap()
        .query_row(
            "SELECT method FROM sale_payments WHERE sale_id = ?1",
            [&sale.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(method, "alipay");
    k.lang = Lang::Zh;
    assert_eq!(k.pay_title(), "请用微信支付或支付宝扫码，支付所示金额");
    assert_eq!(k.confirm_buttons()[1].0, "支付宝已收款");
    // One method: one button, as before.
    let one = tempfile::tempdir().unwrap();
    let k = kiosk_taking(one.path(), &["alipay"]).unwrap();
    assert_eq!(
        k.confirm_buttons(),
        [("Payment received".into(), "payment received".into())]
    );
    assert_eq!(k.pay_title(), "Scan with Alipay and pay the amount shown");
}

#[test]
fn a_payment_qr_takes_qr_methods_each_once() {
    for (methods, said) in [
        (
            &["cash"][..],
            "a payment QR takes wechat, alipay or unionpay",
        ),
        (&["wechat", "wechat"][..], "names wechat twice"),
        (&[][..], "names no method"),
        (&["weixin"][..], "weixin"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let Err(e) = kiosk_taking(dir.path(), methods) else {
            panic!("{methods:?} taken")
        };
        assert!(e.to_string().contains(said), "{methods:?}: {e}");
    }
    let one: crate::config::Config =
        toml::from_str("[kiosk]\npayment_method = \"alipay\"\n").unwrap();
    let two: crate::config::Config =
        toml::from_str("[kiosk]\npayment_method = [\"wechat\", \"alipay\"]\n").unwrap();
    assert_eq!(one.kiosk.payment_method, ["alipay"]);
    assert_eq!(two.kiosk.payment_method, ["wechat", "alipay"]);
}

/// A basket left on the payment QR with no payment confirmed (the shopper may have paid the
/// stall's code and walked off) is kept for staff when it is cleared; one sold, or handed to
/// the counter, is not.
#[test]
fn a_basket_left_on_the_payment_qr_is_kept_for_staff() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    // Sold: nothing kept.
    sold_by_qr(&mut k);
    k.finish();
    // Handed to the counter: nothing kept.
    k.scan("6935780100128", 4_000);
    k.pay_qr(5_000);
    k.back(6_000);
    assert!(k.pay_counter(7_000).is_some());
    k.finish();
    assert_eq!(k.till_mut().left_baskets().unwrap(), []);
    // Shown the payment QR, then back and start over; then shown it and left idle.
    k.scan("6935780100128", 8_000);
    k.scan("6935780100128", 8_500);
    k.pay_qr(9_000);
    k.back(10_000);
    k.finish();
    k.scan("6935780100128", 11_000);
    k.pay_qr(12_000);
    k.back(13_000);
    assert!(k.tick(13_000 + 60_000));
    assert!(k.tick(13_000 + 80_000));
    assert!(k.cart.is_empty());
    let left = k.till_mut().left_baskets().unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(
        (left[0].why.as_str(), left[1].why.as_str()),
        ("start over", "idle")
    );
    assert_eq!(left[0].amount_fen, 2 * left[1].amount_fen);
    assert!(left[0].items.ends_with(" 2"), "{left:?}");
    // Emptied after the QR (the screen waits for staff however long: by the next shopper
    // over one who paid and walked off): kept as the QR showed it, not the next basket.
    k.scan("6935780100128", 100_000);
    k.pay_qr(101_000);
    k.back(102_000);
    k.remove(0, 103_000);
    k.scan("6935780100128", 104_000);
    k.scan("6935780100128", 104_500);
    k.finish();
    // Changed after the QR and shown again: the first kept; the same basket shown again
    // is not kept twice.
    k.scan("6935780100128", 105_000);
    k.pay_qr(106_000);
    k.back(107_000);
    k.pay_qr(107_500);
    k.back(107_800);
    k.scan("6935780100128", 108_000);
    k.pay_qr(108_500);
    k.back(108_800);
    // Staff leave kiosk mode over it.
    k.staff(109_000);
    key_in(&mut k, "2468", 109_500);
    assert_eq!(k.leave(110_000), Leave::Leave);
    let left = k.till_mut().left_baskets().unwrap();
    let kept: Vec<(&str, i64)> = left[2..]
        .iter()
        .map(|b| (b.why.as_str(), b.amount_fen))
        .collect();
    let one = left[1].amount_fen;
    assert_eq!(
        kept,
        [
            ("emptied after the QR", one),
            ("changed after the QR", one),
            ("staff left kiosk mode", 2 * one)
        ]
    );
    assert!(
        left[2].items.ends_with(" 1"),
        "as the QR showed it: {left:?}"
    );
}

/// A basket shown the payment QR, then changed and handed to the counter (the next shopper's,
/// over one left paid) keeps the one the QR showed; handed over as it was, nothing is kept.
#[test]
fn a_basket_changed_after_its_qr_and_handed_to_the_counter_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    k.scan("6935780100128", 1_000);
    k.pay_qr(2_000);
    k.back(3_000);
    assert!(k.pay_counter(4_000).is_some());
    k.finish();
    assert_eq!(k.till_mut().left_baskets().unwrap(), []);
    k.scan("6935780100128", 5_000);
    k.pay_qr(6_000);
    k.back(7_000);
    k.scan("6935780100128", 8_000);
    assert!(k.pay_counter(9_000).is_some());
    k.finish();
    let left = k.till_mut().left_baskets().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].why, "changed after the QR");
    assert!(
        left[0].items.ends_with(" 1"),
        "as the QR showed it: {left:?}"
    );
}

/// A kiosk stopped on its payment QR (a power cut, a crash) keeps the basket for staff when
/// it starts again: it was in memory only, and its shopper may have paid. One sold, or
/// handed to the counter, before the stop is not kept.
#[test]
fn a_basket_on_the_payment_qr_when_the_kiosk_stops_is_kept_at_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = || KioskConfig {
        idle_warn_s: 60,
        idle_clear_s: 20,
        ..KioskConfig::default()
    };
    let mut k = kiosk(dir.path());
    sold_by_qr(&mut k);
    k.finish();
    k.scan("6935780100128", 4_000);
    k.pay_qr(5_000);
    k.back(6_000);
    assert!(k.pay_counter(7_000).is_some());
    k.finish();
    k.scan("6935780100128", 8_000);
    k.scan("6935780100128", 8_500);
    k.pay_qr(9_000);
    drop(k);

    let till = Till::open(dir.path()).unwrap();
    let mut k = KioskController::new(till, config()).unwrap();
    let left = k.till_mut().left_baskets().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].why, "kiosk stopped");
    assert!(left[0].items.ends_with(" 2"), "{left:?}");
    drop(k);
    // Started again: kept once.
    let till = Till::open(dir.path()).unwrap();
    let mut k = KioskController::new(till, config()).unwrap();
    assert_eq!(k.till_mut().left_baskets().unwrap().len(), 1);
    // Stopped on the QR again, the stall at the till since: kept there too.
    k.scan("6935780100128", 10_000);
    k.pay_qr(11_000);
    drop(k);
    let mut c = crate::gui::till::TillController::new(Till::open(dir.path()).unwrap()).unwrap();
    assert_eq!(c.till_mut().left_baskets().unwrap().len(), 2);
}

/// A basket of ￥0.00 (a product priced 0) is not shown the payment QR: no payment of it can
/// be confirmed, and its shopper waited for staff for nothing.
#[test]
fn a_basket_with_nothing_to_pay_is_sent_to_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    let mut free = k.catalog.by_sku("BJ-HJC-250").unwrap().clone();
    (free.sku, free.barcode, free.plu, free.price) = ("FREE-1".into(), None, None, Fen(0));
    let now = crate::clock::now(k.till()).unwrap();
    let row = fairpos_domain::catalog_csv::CatalogRow {
        product: free,
        stock: 10,
    };
    k.till_mut().add_product(&row, now).unwrap();
    k.reload_catalog().unwrap();
    k.scan("FREE-1", 1_000);
    assert_eq!(k.cart.lines().len(), 1, "{}", k.message);
    k.pay_qr(2_000);
    assert_eq!(k.screen, KioskScreen::Shopping);
    assert!(
        k.message_now().contains("go to the counter"),
        "{}",
        k.message
    );
    assert!(k.pay_counter(3_000).is_some());
}

/// The next shopper's scan over the last one's thanks starts their basket (it was dropped,
/// for up to 80 s).
#[test]
fn a_scan_over_the_thanks_starts_the_next_basket() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = kiosk(dir.path());
    sold_by_qr(&mut k);
    assert_eq!(k.screen, KioskScreen::Thanks);
    k.scan("6935780100128", 4_000);
    assert_eq!(k.screen, KioskScreen::Shopping);
    assert_eq!(k.cart.lines().len(), 1);
    assert_eq!(k.cart.lines()[0].qty, 1, "a basket of its own");
}
