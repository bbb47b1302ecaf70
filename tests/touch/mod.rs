//! What the touchscreen tests share: finding and tapping elements by accessible label,
//! keyboard-wedge scans, opening the till, and reading what the till stored.
#![allow(dead_code)]

pub use std::rc::Rc;
pub use std::time::Duration;

pub use fairpos::config::Config;
pub use fairpos::gui::services::Services;
pub use fairpos::gui::till_adapter::TillApp;
pub use fairpos::gui::{till_app, DEMO_LEAD_PIN};
pub use fairpos::till::Till;
use i_slint_backend_testing::{ElementHandle, ElementRoot};
use slint::platform::{Key, WindowEvent};
use slint::ComponentHandle;

pub fn flush() {
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1));
}

pub fn find(root: &impl ElementRoot, label: &str) -> ElementHandle {
    flush();
    ElementHandle::find_by_accessible_label(root, label)
        .next()
        .unwrap_or_else(|| panic!("nothing labelled {label:?} on screen"))
}

pub fn click(root: &impl ElementRoot, label: &str) {
    find(root, label).invoke_accessible_default_action();
    flush();
}

/// Taps `digits` on the keypad whose keys are labelled `"{keypad} {digit}"` (`lead pin 2`).
pub fn type_digits(root: &impl ElementRoot, keypad: &str, digits: &str) {
    for d in digits.chars() {
        click(root, &format!("{keypad} {d}"));
    }
}

pub fn value(root: &impl ElementRoot, label: &str) -> String {
    find(root, label)
        .accessible_value()
        .unwrap_or_default()
        .to_string()
}

/// One key pressed and released (`text` as Slint gives it: a character, or a [`Key`]).
pub fn press(window: &slint::Window, text: impl Into<slint::SharedString>) {
    let text = text.into();
    window.dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    window.dispatch_event(WindowEvent::KeyReleased { text });
}

/// Types `code` and Enter as a keyboard-wedge scanner does: a burst of keys.
pub fn scan(window: &slint::Window, code: &str) {
    for c in code.chars() {
        press(window, c.to_string());
    }
    press(window, Key::Return);
    flush();
}

pub fn demo_till(dir: &std::path::Path) -> Till {
    Till::init_demo(dir, DEMO_LEAD_PIN).unwrap()
}

pub fn open_till(dir: &std::path::Path) -> Rc<TillApp> {
    let app = till_app(demo_till(dir), &Config::default(), Services::none()).unwrap();
    // Tests read the English the UI is written in, whatever the machine's language.
    app.set_lang(fairpos_domain::Lang::En);
    app.ui.show().unwrap();
    flush();
    app
}

pub fn sign_in_and_open_shift(ui: &impl ElementRoot) {
    click(ui, "V003");
    type_digits(ui, "pin", DEMO_LEAD_PIN);
    click(ui, "sign in");
    type_digits(ui, "float", "200");
    click(ui, "open shift");
}

/// Lets the UI go idle: the work after a sale (the rest of its projection) runs then.
pub fn idle() {
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(200));
}

/// `(method, amount settled, amount handed over)`.
pub type Payment = (String, i64, i64);

/// `(number, total, change, seller, payments)` of a sale as the till stored it.
pub type StoredSale = (String, i64, i64, String, Vec<Payment>);

pub fn stored_sales(dir: &std::path::Path) -> Vec<StoredSale> {
    idle();
    let conn = rusqlite::Connection::open(dir.join("till.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, number, total_fen, change_fen, seller FROM sales ORDER BY seq")
        .unwrap();
    let sales: Vec<(String, String, i64, i64, String)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    sales
        .into_iter()
        .map(|(id, number, total, change, seller)| {
            let payments = conn
                .prepare("SELECT method, amount_fen, tendered_fen FROM sale_payments WHERE sale_id = ?1 ORDER BY idx")
                .unwrap()
                .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (number, total, change, seller, payments)
        })
        .collect()
}

pub fn stored_lines(dir: &std::path::Path, number: &str) -> Vec<(String, i64, i64)> {
    idle();
    let conn = rusqlite::Connection::open(dir.join("till.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT l.sku, l.qty, l.amount_fen FROM sale_lines l JOIN sales s ON s.id = l.sale_id
             WHERE s.number = ?1 ORDER BY l.line",
        )
        .unwrap();
    let lines = stmt
        .query_map([number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    lines
}
