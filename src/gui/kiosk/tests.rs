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
    assert!(k.message.contains("scale label"), "{}", k.message);
    k.scan("2110021007501", 10);
    assert_eq!(k.cart.lines().len(), 1);
    k.scan("134567890123456789", 20);
    assert_eq!(k.cart.lines().len(), 1);
    assert!(!k.message.is_empty());
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
        for d in pin.chars() {
            k.pin_key(&d.to_string(), now);
        }
    };
    for _ in 0..5 {
        type_pin(&mut k, "0000", 1_000);
        assert_eq!(k.leave(1_000), Leave::Stay);
        assert!(k.message.contains("wrong PIN"), "{}", k.message);
    }
    // Locked: even the lead PIN is refused, and the kiosk says for how long.
    type_pin(&mut k, "2468", 2_000);
    assert_eq!(k.leave(2_000), Leave::Stay);
    assert!(k.message.contains("try again in 59 s"), "{}", k.message);
    // A minute on, the lead PIN works.
    type_pin(&mut k, "2468", 61_000);
    assert_eq!(k.leave(61_000), Leave::Leave);
}
