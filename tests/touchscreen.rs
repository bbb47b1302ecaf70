//! The touchscreen, driven as a volunteer and a shopper drive it: through the accessible
//! labels of its buttons and keys typed by a keyboard-wedge scanner, on Slint's testing
//! backend (no display). Each test ends by reading the real SQLite file.

mod touch;

use fairpos::gui::kiosk_adapter::KioskApp;
use fairpos::gui::kiosk_app;
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;
use touch::*;

#[test]
fn a_volunteer_signs_in_scans_changes_a_quantity_takes_cash_and_reads_the_change() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;

    // A wrong PIN is refused in one line; the right one signs in.
    click(ui, "V003");
    for _ in 0..4 {
        click(ui, "pin 1");
    }
    click(ui, "sign in");
    assert!(
        value(ui, "message").contains("wrong PIN"),
        "{}",
        value(ui, "message")
    );
    sign_in_and_open_shift(ui);

    // Scan 保靖黄金茶 with the wedge scanner, then one more with the + button.
    scan(ui.window(), "6935780100128");
    assert_eq!(value(ui, "quantity 0"), "1");
    click(ui, "more 0");
    assert_eq!(value(ui, "quantity 0"), "2");
    // And a 古丈毛尖 tapped in the grid: 2 × 128 + 96 = 352.00.
    click(ui, "GZ-MJ-200");
    assert_eq!(value(ui, "total"), "￥352.00");

    // Pay: 400 in cash, typed on the keypad.
    click(ui, "pay");
    assert_eq!(value(ui, "due"), "￥352.00");
    type_digits(ui, "amount", "400");
    click(ui, "cash");
    assert_eq!(value(ui, "change"), "￥48.00");
    click(ui, "complete sale");
    assert_eq!(value(ui, "change given"), "￥48.00");
    assert!(value(ui, "receipt").contains("No printer"));

    // The sale is in the store, whole.
    assert_eq!(
        stored_sales(dir.path()),
        vec![(
            "T01-000001".to_string(),
            35200,
            4800,
            "V003".to_string(),
            vec![("cash".to_string(), 35200, 40000)]
        )]
    );
    assert_eq!(
        stored_lines(dir.path(), "T01-000001"),
        vec![
            ("BJ-HJC-250".to_string(), 2, 25600),
            ("GZ-MJ-200".to_string(), 1, 9600)
        ]
    );

    // The next sale: a weighed product by its keypad, split between WeChat and cash.
    click(ui, "next sale");
    click(ui, "HY-MHT-LB");
    for k in ["weight 1", "weight point", "weight 5"] {
        click(ui, k);
    }
    click(ui, "add weight");
    assert_eq!(value(ui, "total"), "￥11.70");
    click(ui, "pay");
    type_digits(ui, "amount", "10");
    click(ui, "wechat");
    assert_eq!(value(ui, "remaining"), "￥1.70");
    click(ui, "exact cash");
    click(ui, "complete sale");
    let sales = stored_sales(dir.path());
    assert_eq!(
        sales[1].4,
        vec![
            ("wechat".to_string(), 1000, 1000),
            ("cash".to_string(), 170, 170)
        ]
    );
}

/// A code keyed by hand (or a scan the machine slowed below a burst) and Enter, with no field
/// focused: the same as Enter in the search field. Words typed so stay a search.
#[test]
fn a_code_keyed_slowly_and_enter_go_into_the_cart_as_a_scan_does() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);

    // Slower than any scanner: the till reads each key as typed, not as a burst.
    let typed = |keys: &str| {
        for c in keys.chars() {
            press(ui.window(), c.to_string());
            std::thread::sleep(Duration::from_millis(40));
        }
        press(ui.window(), slint::platform::Key::Return);
        flush();
    };
    typed("bjhjc");
    assert_eq!(value(ui, "search"), "bjhjc", "words stay a search");
    assert!(ElementHandle::find_by_accessible_label(ui, "quantity 0")
        .next()
        .is_none());

    click(ui, "clear search");
    typed("6935780100128");
    assert_eq!(value(ui, "quantity 0"), "1", "{}", value(ui, "message"));
    assert_eq!(value(ui, "total"), "￥128.00");
    assert_eq!(value(ui, "search"), "", "the code left the search field");
}

#[test]
fn the_language_switches_at_runtime() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    find(ui, "Who is selling?");
    click(ui, "language");
    find(ui, "请选择收银员");
    click(ui, "language");
    find(ui, "Who is selling?");
}

#[test]
fn a_lead_voids_a_sale_found_by_scanning_its_receipt_and_refunds_another() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    for code in ["6935780100128", "6935780200156"] {
        scan(ui.window(), code);
        click(ui, "pay");
        click(ui, "exact cash");
        click(ui, "complete sale");
        click(ui, "next sale");
    }
    // The QR code printed on the first sale's receipt, scanned at the cart.
    let payload = {
        let mut ctl = app.ctl.borrow_mut();
        let text = ctl.till_mut().receipt_text("T01-000001", 48).unwrap();
        let key = ctl.till().store().meta("receipt_key").unwrap().unwrap();
        let id = stored_id(dir.path(), "T01-000001");
        assert!(text.contains("T01-000001"));
        fairpos_domain::codes::ReceiptQr::new(key.as_bytes(), "T01-000001", &id).payload()
    };
    scan(ui.window(), &payload);
    assert_eq!(value(ui, "sale"), "T01-000001 completed");
    type_digits(ui, "lead pin", DEMO_LEAD_PIN);
    // A void needs a reason: the sale stands without one.
    click(ui, "void sale");
    assert!(
        value(ui, "message").contains("reason"),
        "{}",
        value(ui, "message")
    );
    find(ui, "void reason").set_accessible_value("扫错了");
    type_digits(ui, "lead pin", DEMO_LEAD_PIN);
    click(ui, "void sale");
    assert_eq!(value(ui, "sale"), "T01-000001 voided");

    // The second sale: its one line refunded in cash, behind the lead PIN.
    find(ui, "sale lookup").set_accessible_value("T01-000002");
    click(ui, "find sale");
    click(ui, "refund more 0");
    assert_eq!(value(ui, "refund quantity 0"), "1");
    click(ui, "refund cash");
    // No PIN typed: told to type it, no wrong PIN counted.
    assert!(value(ui, "message").contains("PIN first"));
    type_digits(ui, "lead pin", DEMO_LEAD_PIN);
    click(ui, "refund more 0");
    click(ui, "refund cash");
    assert_eq!(value(ui, "sale"), "T01-000002 refunded");
    let conn = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let (voids, refunded): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM voids), (SELECT SUM(amount_fen) FROM refunds)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((voids, refunded), (1, 9600));
}

fn stored_id(dir: &std::path::Path, number: &str) -> String {
    let conn = rusqlite::Connection::open(dir.join("till.db")).unwrap();
    conn.query_row("SELECT id FROM sales WHERE number = ?1", [number], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn closing_the_shift_counts_the_drawer_and_shows_the_variance() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    scan(ui.window(), "6935780100128");
    click(ui, "pay");
    click(ui, "exact cash");
    click(ui, "complete sale");
    click(ui, "next sale");
    click(ui, "close shift");
    // Expected: float 200 + 128 = 328.00. Counted: 3 × 100 + 2 × 10 + 5 × 1 = 325.00.
    assert_eq!(value(ui, "expected"), "￥328.00");
    for _ in 0..3 {
        click(ui, "one more ￥100");
    }
    click(ui, "one more ￥10");
    click(ui, "one more ￥10");
    for _ in 0..5 {
        click(ui, "one more ￥1");
    }
    assert_eq!(value(ui, "counted"), "￥325.00");
    assert_eq!(value(ui, "variance"), "￥-3.00");
    click(ui, "confirm close shift");
    assert!(value(ui, "message").contains("last sale T01-000001"));
    // The slip is shown for the organizers: the shift's figures beside its signed QR code.
    assert_eq!(value(ui, "slip 首单 First"), "T01-000001");
    assert_eq!(value(ui, "slip 末单 Last"), "T01-000001");
    assert_eq!(value(ui, "slip 笔数 Sales"), "1");
    assert_eq!(value(ui, "slip 差额 Variance"), "-\u{FFE5}3.00");
    assert!(value(ui, "slip printing").contains("No printer configured"));
    click(ui, "slip done");
    let conn = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let (counted, variance, last): (i64, i64, String) = conn
        .query_row(
            "SELECT counted_fen, variance_fen, last_sale FROM shifts WHERE closed_at IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (counted, variance, last.as_str()),
        (32500, -300, "T01-000001")
    );
}

fn open_kiosk(dir: &std::path::Path) -> Rc<KioskApp> {
    open_kiosk_with(dir, &Config::default())
}

fn open_kiosk_with(dir: &std::path::Path, config: &Config) -> Rc<KioskApp> {
    let app = kiosk_app(demo_till(dir), config, Services::none()).unwrap();
    app.start_in(fairpos_domain::Lang::En);
    app.ui.show().unwrap();
    flush();
    app
}

#[test]
fn a_shopper_fills_a_kiosk_basket_and_a_till_loads_it_from_its_qr_code() {
    i_slint_backend_testing::init_no_event_loop();
    let kiosk_dir = tempfile::tempdir().unwrap();
    let kiosk = open_kiosk(kiosk_dir.path());
    let k = &kiosk.ui;
    // Scanning starts the basket; + adds one; a scale label goes in as labelled.
    scan(k.window(), "6935780100128");
    click(k, "more 0");
    scan(k.window(), "2210025024006");
    assert_eq!(value(k, "quantity 0"), "2");
    assert_eq!(value(k, "total"), "￥280.00");
    click(k, "pay at counter");
    let basket = kiosk.ctl.borrow().qr.clone();
    assert!(basket.starts_with("FPB1:T01:"), "{basket}");
    assert_eq!(value(k, "qr code"), "2 items, ￥280.00");
    click(k, "done");
    assert_eq!(kiosk.ctl.borrow().cart.lines().len(), 0);

    // At the counter: the volunteer scans the slip's QR code and takes the money.
    let till_dir = tempfile::tempdir().unwrap();
    let app = open_till(till_dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    scan(ui.window(), &basket);
    assert!(value(ui, "message").contains("Basket from kiosk T01"));
    assert_eq!(value(ui, "total"), "￥280.00");
    click(ui, "pay");
    click(ui, "wechat");
    click(ui, "complete sale");
    assert_eq!(
        stored_lines(till_dir.path(), "T01-000001"),
        vec![
            ("BJ-HJC-250".to_string(), 2, 25600),
            ("YS-LR-LB".to_string(), 250, 2400)
        ]
    );
}

#[test]
fn a_kiosk_sale_paid_by_the_stall_qr_needs_a_staff_pin_and_an_idle_basket_clears() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let kiosk = open_kiosk(dir.path());
    let k = &kiosk.ui;
    scan(k.window(), "6935782200109");
    click(k, "pay by qr");
    assert_eq!(value(k, "amount to pay"), "￥19.90");
    for _ in 0..4 {
        click(k, "staff pin 1");
    }
    click(k, "payment received");
    assert!(value(k, "message").contains("wrong PIN"));
    type_digits(k, "staff pin", DEMO_LEAD_PIN);
    click(k, "payment received");
    find(k, "Thank you!");
    let sales = stored_sales(dir.path());
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].4, vec![("wechat".to_string(), 1990, 1990)]);
    click(k, "done");

    // A shopper walks away: the kiosk asks, then clears the basket.
    scan(k.window(), "6935782200109");
    assert_eq!(kiosk.ctl.borrow().cart.lines().len(), 1);
    let now = kiosk.now_ms();
    assert!(kiosk.ctl.borrow_mut().tick(now + 61_000));
    kiosk.render();
    find(k, "still here");
    assert!(kiosk.ctl.borrow_mut().tick(now + 82_000));
    kiosk.render();
    assert_eq!(kiosk.ctl.borrow().cart.lines().len(), 0);
    find(k, "start");

    // Staff leave kiosk mode only with the lead PIN.
    click(k, "staff");
    for _ in 0..4 {
        click(k, "lead pin 1");
    }
    click(k, "leave kiosk");
    assert!(value(k, "message").contains("wrong PIN"));
}

/// A payment QR taking WeChat Pay and Alipay: the screen names both, and staff tap the one
/// the money arrived through, which the sale is recorded with.
#[test]
fn kiosk_staff_confirm_a_payment_by_its_method() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.kiosk.payment_method = vec!["wechat".into(), "alipay".into()];
    let kiosk = open_kiosk_with(dir.path(), &config);
    let k = &kiosk.ui;
    scan(k.window(), "6935782200109");
    click(k, "pay by qr");
    find(k, "Scan with WeChat Pay or Alipay and pay the amount shown");
    type_digits(k, "staff pin", DEMO_LEAD_PIN);
    click(k, "payment received alipay");
    find(k, "Thank you!");
    let sales = stored_sales(dir.path());
    assert_eq!(sales[0].4, vec![("alipay".to_string(), 1990, 1990)]);
}

/// A basket shown the payment QR and started over is kept, and staff list it from the
/// command line while the kiosk runs (and holds the till).
#[test]
fn a_basket_left_on_the_payment_qr_is_listed_while_the_kiosk_runs() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let kiosk = open_kiosk(dir.path());
    let k = &kiosk.ui;
    scan(k.window(), "6935782200109");
    click(k, "pay by qr");
    click(k, "back");
    click(k, "start over");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fairpos"))
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "kiosk",
            "left",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left[0]["amount_fen"], 1990, "{left}");
    assert_eq!(left[0]["why"], "start over", "{left}");
}

#[test]
fn a_kiosk_takes_weighed_goods_only_by_a_scale_label_whatever_weight_a_code_names() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let kiosk = open_kiosk(dir.path());
    let k = &kiosk.ui;
    // Loose kiwifruit by its SKU or its PLU, bare or naming a weight of its own (a code a
    // shopper could print and scan: before, `HY-MHT-LB*1g` went in as 1 g at ￥0.02).
    for code in [
        "HY-MHT-LB",
        "HY-MHT-LB*1g",
        "10021*1g",
        "10021*0.001",
        "HY-MHT-LB*5",
    ] {
        scan(k.window(), code);
        assert!(
            value(k, "message").contains("have them weighed at the stall"),
            "{code}: {}",
            value(k, "message")
        );
        assert_eq!(kiosk.ctl.borrow().cart.lines().len(), 0, "{code}");
    }
    // A counted product may still name how many; a scale label goes in as labelled.
    scan(k.window(), "6935780100128*2");
    scan(k.window(), "2210025024006");
    assert_eq!(value(k, "quantity 0"), "2");
    assert_eq!(value(k, "total"), "￥280.00");
}

#[test]
fn a_weighed_line_is_refunded_whole_from_the_touchscreen() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    // Cured pork by a scale label: 250 g at ￥48.00 a jin.
    scan(ui.window(), "2210025024006");
    click(ui, "pay");
    click(ui, "exact cash");
    click(ui, "complete sale");
    click(ui, "next sale");
    assert_eq!(
        stored_lines(dir.path(), "T01-000001"),
        vec![("YS-LR-LB".to_string(), 250, 2400)]
    );

    click(ui, "sales");
    find(ui, "sale lookup").set_accessible_value("T01-000001");
    click(ui, "find sale");
    type_digits(ui, "lead pin", DEMO_LEAD_PIN);
    click(ui, "refund more 0");
    click(ui, "refund cash");
    // Before, the screen asked for the line's grams, which a refund refuses for a weighed
    // line ("weighed lines go back whole").
    assert_eq!(
        value(ui, "sale"),
        "T01-000001 refunded",
        "{}",
        value(ui, "message")
    );
    let conn = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let refunded: i64 = conn
        .query_row("SELECT SUM(amount_fen) FROM refunds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(refunded, 2400);
}

#[test]
fn the_wrong_name_chosen_goes_back_from_opening_a_shift_without_one_opened() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    click(ui, "V003");
    type_digits(ui, "pin", DEMO_LEAD_PIN);
    click(ui, "sign in");
    find(ui, "open shift");
    // Before, the only way on was to open a shift, with a float, under the wrong name.
    click(ui, "open shift back");
    assert!(ElementHandle::find_by_accessible_label(ui, "open shift")
        .next()
        .is_none());
    find(ui, "Who is selling?");
    let conn = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let shifts: i64 = conn
        .query_row("SELECT COUNT(*) FROM shifts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(shifts, 0);
    sign_in_and_open_shift(ui);
    find(ui, "pay");
}

#[test]
fn cash_put_into_the_drawer_from_the_touchscreen_counts_at_the_close() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    // ¥50 more change brought to the stall (the shift opened with ¥200), behind the lead PIN.
    click(ui, "cash move");
    for k in ["cash 5", "cash 0", "cash reason 0"] {
        click(ui, k);
    }
    assert_eq!(value(ui, "cash amount"), "50");
    type_digits(ui, "cash pin", DEMO_LEAD_PIN);
    click(ui, "record cash move");
    assert!(
        value(ui, "message").contains("put into the drawer"),
        "{}",
        value(ui, "message")
    );
    click(ui, "close shift");
    assert_eq!(value(ui, "expected"), "￥250.00");
}
