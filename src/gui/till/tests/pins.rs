//! The PIN pad's guard against guessing, across a restart.

use std::cell::Cell;
use std::rc::Rc;

use super::*;

#[test]
fn five_wrong_pins_lock_the_tills_pin_pad_for_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Rc::new(Cell::new(0));
    let mut c = controller_at(dir.path(), clock.clone());
    c.select_seller("V003");
    for _ in 0..5 {
        type_pin(&mut c, "0000");
        c.sign_in();
        assert!(c.message_text() == Some("wrong PIN"));
    }
    // Said again in the language the volunteer switches to (it stayed in the first).
    c.lang = fairpos_domain::Lang::Zh;
    assert_eq!(c.message_text(), Some("PIN 码错误"));
    c.lang = fairpos_domain::Lang::En;
    // Locked: even the right PIN is refused, and the pad says for how long.
    clock.set(1);
    type_pin(&mut c, "2468");
    c.sign_in();
    assert_eq!(c.screen, Screen::SignIn);
    let text = c.message_text().unwrap();
    assert!(text.contains("try again in 59 s"), "{text}");
    // In Chinese, without a command-line flag.
    c.lang = fairpos_domain::Lang::Zh;
    type_pin(&mut c, "2468");
    c.sign_in();
    assert!(c.message_text().unwrap().contains("秒后再试"));
    // A minute on, the right PIN signs in.
    clock.set(61);
    type_pin(&mut c, "2468");
    c.sign_in();
    assert_eq!(c.screen, Screen::OpenShift);
}

/// The till in `dir` opened again, its clock at 10:00 plus `seconds`.
fn reopened_at(dir: &std::path::Path, seconds: i64) -> TillController {
    let clock: Clock = Box::new(move |till: &Till| {
        let offset = till.store().identity().fair.utc_offset;
        let ten = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00+08:00").unwrap();
        Ok(ten.with_timezone(&offset) + chrono::Duration::seconds(seconds))
    });
    let mut c = TillController::with_clock(Till::open(dir).unwrap(), clock).unwrap();
    c.lang = fairpos_domain::Lang::En;
    c
}

/// A lock outlives a restart for what it had left, and no longer: over, the pad takes the
/// right PIN after any number of restarts (kept as "time left", it came back whole at each).
#[test]
fn a_pin_lock_outlives_a_restart_until_it_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = controller(dir.path());
    c.select_seller("V003");
    for _ in 0..5 {
        type_pin(&mut c, "0000");
        c.sign_in();
    }
    drop(c);
    let sign_in = |c: &mut TillController| {
        c.select_seller("V003");
        type_pin(c, "2468");
        c.sign_in();
        c.screen
    };
    let mut c = reopened_at(dir.path(), 30);
    assert_eq!(sign_in(&mut c), Screen::SignIn);
    let text = c.message_text().unwrap();
    assert!(text.contains("try again in 30 s"), "{text}");
    drop(c);
    for seconds in [120, 130] {
        let mut c = reopened_at(dir.path(), seconds);
        assert_ne!(
            sign_in(&mut c),
            Screen::SignIn,
            "{seconds} s: {:?}",
            c.message
        );
    }
}
