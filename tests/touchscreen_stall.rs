//! At the stall, on Slint's testing backend: a weighed product tapped in the grid takes its
//! weight from a real scale (a simulated Mettler Toledo 8217 on a socat pty pair, read by the
//! till's own scale thread); the customer display mirrors the cart, the amount to pay with
//! the stall's QR, the change and thanks, in the till's language; a category of 200
//! products turns page by page; the PIN pad locks after five wrong PINs. (Pictures of these
//! screens come from the real binary under Xvfb: tests/window.rs.)

mod common;
mod touch;

use std::sync::mpsc;
use std::sync::Arc;

use common::devices::PtyPair;
use common::scale::FakeScale;
use fairpos::config::CustomerDisplayConfig;
use fairpos::gui::customer::CustomerDisplay;
use fairpos::gui::services::{self, Event, Setup};
use fairpos_hardware::config::{ScaleConfig, ScaleKind};
use fairpos_hardware::scale::{Protocol, ScaleState};
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;
use touch::*;

/// Runs the events the till's threads posted until `done` says enough, or ten seconds.
fn pump(app: &TillApp, rx: &mpsc::Receiver<Event>, done: impl Fn(&TillApp) -> bool) {
    let start = std::time::Instant::now();
    while !done(app) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "what the test waits for never came (the scale, the printer)"
        );
        if let Ok(event) = rx.recv_timeout(Duration::from_millis(50)) {
            handle(event);
        }
        flush();
    }
}

thread_local! {
    static APP: std::cell::RefCell<Option<Rc<TillApp>>> = const { std::cell::RefCell::new(None) };
}

fn handle(event: Event) {
    APP.with(|a| {
        if let Some(app) = &*a.borrow() {
            app.event(event);
        }
    });
}

/// The till's window over `till` in `dir`, with its real threads (printer, scanner, scale)
/// as `config` sets them up, and the events they post.
fn with_services(
    till: Till,
    config: &Config,
    dir: &std::path::Path,
) -> (Rc<TillApp>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel::<Event>();
    let tx = std::sync::Mutex::new(tx);
    let post: services::Post = Arc::new(move |e| {
        let _ = tx.lock().unwrap().send(e);
    });
    let setup = Setup {
        dir: dir.to_path_buf(),
        fair: till.store().identity().fair.id.clone(),
        device: till.device().to_string(),
        printer: config.printer.clone(),
        scanner: config.scanner.clone(),
        scale: config.scale.clone(),
        enrolled: false,
        sync_interval: Duration::from_secs(3600),
    };
    let app = till_app(till, config, services::start(setup, post)).unwrap();
    (app, rx)
}

/// A Mettler Toledo 8217 scale on a pty pair in `dir` (the pair kept open while it is held),
/// and the till's configuration reading it.
fn with_a_scale(dir: &std::path::Path) -> (PtyPair, FakeScale, Config) {
    let pty = PtyPair::new(dir, "scale");
    let scale = FakeScale::on_pty(&pty.b, Protocol::Toledo8217);
    let config = Config {
        scale: ScaleConfig {
            kind: ScaleKind::Serial,
            path: Some(pty.a.clone()),
            ..ScaleConfig::default()
        },
        ..Config::default()
    };
    (pty, scale, config)
}

#[test]
fn a_weighed_product_takes_the_scales_settled_weight_and_the_shopper_sees_it_all() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let (_pty, scale, scaled) = with_a_scale(dir.path());

    // The till with its scale thread (the real one) and a customer display.
    let till = demo_till(dir.path());
    let config = Config {
        customer_display: CustomerDisplayConfig {
            size: Some("1024x600".into()),
            ..CustomerDisplayConfig::default()
        },
        ..scaled
    };
    let (app, rx) = with_services(till, &config, dir.path());
    app.set_lang(fairpos_domain::Lang::En);
    app.ui.show().unwrap();
    let fair = fairpos_domain::fair::Fair::from_toml(fairpos_domain::demo::FAIR_TOML).unwrap();
    let display = CustomerDisplay::new(&config, &fair.id).unwrap();
    display.ui.show().unwrap();
    app.attach_customer_display(display);
    APP.with(|a| *a.borrow_mut() = Some(app.clone()));
    let ui = &app.ui;
    let customer = || app.customer.borrow().as_ref().unwrap().ui.clone_strong();
    assert_eq!(value(&customer(), "welcome"), "Welcome");
    sign_in_and_open_shift(ui);

    // Step 1: a counted product scanned: the shopper sees the line and the total.
    scan(ui.window(), "6935780100128");
    assert_eq!(value(&customer(), "customer total"), "￥128.00");

    // Step 2: 猕猴桃 tapped while the goods still move on the plate: the pad says so (an 8217
    // in motion answers with its status byte alone, so there is no weight to show yet).
    scale.set(1370, ScaleState::Motion);
    click(ui, "HY-MHT-LB");
    pump(&app, &rx, |_| value(ui, "scale weight").contains("moving"));
    assert!(
        !value(ui, "scale weight").contains("kg"),
        "{}",
        value(ui, "scale weight")
    );
    // "Add" while it moves: the line waits, and goes in when the scale settles at 1.250 kg.
    click(ui, "add weight");
    scale.set(1250, ScaleState::Stable);
    pump(&app, &rx, |a| a.ctl.borrow().weighing.is_none());
    assert_eq!(value(ui, "quantity 1"), "2.5斤");
    // 128.00 + 1 250 g at 7.80 per 斤 (19.50) = 147.50.
    assert_eq!(value(ui, "total"), "￥147.50");
    assert_eq!(value(&customer(), "customer total"), "￥147.50");

    // Step 3: paying: the shopper sees what is still due, and the stall's QR asks for what
    // the phone pays (100.00 by WeChat, the rest in cash).
    click(ui, "pay");
    type_digits(ui, "amount", "100");
    click(ui, "wechat");
    assert_eq!(value(&customer(), "customer amount due"), "￥47.50");
    assert!(value(&customer(), "customer qr code").contains("100.00"));
    click(ui, "exact cash");
    click(ui, "complete sale");
    assert_eq!(value(&customer(), "customer change"), "￥0.00");
    assert_eq!(value(&customer(), "thanks"), "Thank you!");

    // In Chinese when the till switches.
    app.set_lang(fairpos_domain::Lang::Zh);
    flush();
    assert_eq!(value(&customer(), "thanks"), "谢谢惠顾！");
    app.set_lang(fairpos_domain::Lang::En);

    // The sale holds the scale's weight.
    assert_eq!(
        stored_lines(dir.path(), "T01-000001"),
        vec![
            ("BJ-HJC-250".to_string(), 1, 12800),
            ("HY-MHT-LB".to_string(), 1250, 1950)
        ]
    );
    // Zero and tare reach the scale as its protocol's bytes.
    click(ui, "next sale");
    click(ui, "HY-MHT-LB");
    click(ui, "zero scale");
    click(ui, "tare scale");
    pump(&app, &rx, |_| {
        scale
            .asked()
            .iter()
            .filter(|q| q.as_slice() != b"W")
            .count()
            == 2
    });
    click(ui, "cancel weight");
    APP.with(|a| a.borrow_mut().take());
}

#[test]
fn a_category_of_two_hundred_products_is_reached_page_by_page() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let mut till = demo_till(dir.path());
    let base = till.catalog().unwrap().products()[0].clone();
    let rows: Vec<_> = (0..200)
        .map(|i| {
            let mut p = base.clone();
            p.sku = format!("GIFT-{i:03}");
            p.name_zh = format!("礼盒 {i:03}");
            p.barcode = None;
            p.category = "礼盒 Gifts".into();
            fairpos_domain::catalog_csv::CatalogRow {
                product: p,
                stock: 5,
            }
        })
        .collect();
    till.import_catalog(&rows).unwrap();
    let app = till_app(till, &Config::default(), Services::none()).unwrap();
    app.set_lang(fairpos_domain::Lang::En);
    // A 15.6-inch till screen: all eleven categories fit across (on a smaller one the strip
    // is swiped, and what is off screen cannot be tapped).
    app.ui
        .window()
        .set_size(slint::PhysicalSize::new(1920, 1080));
    app.ui.show().unwrap();
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    click(ui, "category 礼盒 Gifts");
    assert_eq!(value(ui, "page"), "page 1 of 4");
    click(ui, "next page");
    click(ui, "next page");
    click(ui, "next page");
    assert_eq!(value(ui, "page"), "page 4 of 4");
    // The last product of the category is on the last page, and sells from there.
    click(ui, "GIFT-199");
    assert_eq!(value(ui, "quantity 0"), "1");
    click(ui, "previous page");
    assert_eq!(value(ui, "page"), "page 3 of 4");
}

#[test]
fn the_tills_pin_pad_locks_after_five_wrong_pins() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let app = open_till(dir.path());
    let ui = &app.ui;
    click(ui, "V003");
    for _ in 0..5 {
        type_digits(ui, "pin", "1357");
        click(ui, "sign in");
        assert!(value(ui, "message").contains("wrong PIN"));
    }
    // Locked: the right PIN is refused too, in words with no command-line flag in them.
    type_digits(ui, "pin", DEMO_LEAD_PIN);
    click(ui, "sign in");
    let message = value(ui, "message");
    assert!(
        message.contains("try again in") && !message.contains("--"),
        "{message}"
    );
    assert!(find(ui, "sign in").accessible_label().is_some());
    assert!(ElementHandle::find_by_accessible_label(ui, "open shift")
        .next()
        .is_none());
}

#[test]
fn receipts_queued_before_the_window_opened_print_once_the_printer_answers_ready() {
    use common::devices::FakePrinter;
    use fairpos_hardware::printer::PrinterStatus;
    i_slint_backend_testing::init_no_event_loop();
    // A sale made at the command line while the printer was out of paper: its receipt waits.
    let cli = common::Till::demo();
    let pty = PtyPair::new(cli.data(), "printer");
    let printer = FakePrinter::on_pty(&pty.b);
    printer.set(PrinterStatus {
        paper_out: true,
        ..Default::default()
    });
    std::fs::write(
        cli.data().join("fairpos.toml"),
        format!(
            "[printer]\nkind = \"serial\"\npath = \"{}\"\nbaud = 9600\nwidth_mm = 58\ndrawer = true\n",
            pty.a.display()
        ),
    )
    .unwrap();
    cli.ok(&["shift", "open", "--seller", "V003", "--float", "100"]);
    cli.sell(&["--seller", "V003", "6935780100128", "--pay", "cash:200"]);
    assert_eq!(
        cli.json(&["receipt", "pending", "--json"])[0]["sale"],
        "T01-000001"
    );

    // Paper back, then the touchscreen opens on the till: its printer thread finds the
    // printer ready, and the queue prints (before, only a printer back from trouble while
    // the window was open printed it; the status line counted the receipt for good).
    printer.set(PrinterStatus::default());
    let config = Config::load(cli.data()).unwrap();
    let till = Till::open(cli.data()).unwrap();
    let (app, rx) = with_services(till, &config, cli.data());
    app.ui.show().unwrap();
    APP.with(|a| *a.borrow_mut() = Some(app.clone()));
    let cut: &[u8] = &[0x1D, b'V', b'A', 0];
    let printed = |_: &TillApp| printer.received().windows(cut.len()).any(|w| w == cut);
    pump(&app, &rx, printed);
    pump(&app, &rx, |app| app.status.borrow().queued == 0);
    // A cash sale, drawer = true: printed by the touchscreen on its own, perhaps with nobody
    // at the till, it opens no drawer.
    let events = fairpos_hardware::receipt::decode::decode(
        &printer.received(),
        fairpos_hardware::config::TextEncoding::Gb18030,
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, fairpos_hardware::receipt::decode::Event::Drawer { .. })),
        "the queue printed by the touchscreen opened the drawer"
    );
    APP.with(|a| *a.borrow_mut() = None);
}

/// A pass headquarters refuses (the till revoked) is said in the status bar as refused, for
/// the stall lead, not as offline: a till restored from an older copy, told "offline", sold
/// on, each sale taking a number headquarters held. An unreachable headquarters is offline.
#[test]
fn a_refused_sync_is_said_so_and_not_as_offline() {
    use fairpos::error::Error;
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let till = demo_till(dir.path());
    let (app, _rx) = with_services(till, &Config::default(), dir.path());
    app.set_lang(fairpos_domain::Lang::En);
    app.ui.show().unwrap();
    let said = |failure: Error| {
        app.event(Event::SyncFinished(Box::new(Err(failure))));
        flush();
        value(&app.ui, "sync state")
    };
    let revoked = fairpos_sync::Error::Refused("unknown, expired or revoked credentials".into());
    assert_eq!(
        said(Error::Ledger(revoked)),
        "refused by headquarters: call the stall lead"
    );
    let restored = "headquarters holds 5 records of T01-2026-11-28, this till 3";
    assert_eq!(
        said(Error::Integrity(restored.into())),
        "refused by headquarters: call the stall lead"
    );
    let away = fairpos_sync::Error::unreachable("https://hq.example", "connection refused");
    assert_eq!(said(Error::Ledger(away)), "offline");
    // A pass begun is noted in the till, as a one-shot sync notes it (`sync status`).
    let attempt = || -> Option<String> {
        use rusqlite::OptionalExtension;
        let db = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
        let sql = "SELECT value FROM meta WHERE key = 'last_sync_attempt'";
        db.query_row(sql, [], |r| r.get(0)).optional().unwrap()
    };
    assert_eq!(attempt(), None);
    app.event(Event::SyncStarted);
    assert!(attempt().is_some_and(|at| at.starts_with("20")));
}

/// "Add" with a settled weight shown asks the scale once more and charges what the plate
/// holds at the press: the weight shown was read up to a quarter second before (200 g put
/// in the bag since went uncharged).
#[test]
fn add_charges_the_weight_on_the_plate_at_the_press() {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let (_pty, scale, config) = with_a_scale(dir.path());
    let till = demo_till(dir.path());
    let (app, rx) = with_services(till, &config, dir.path());
    app.set_lang(fairpos_domain::Lang::En);
    app.ui.show().unwrap();
    APP.with(|a| *a.borrow_mut() = Some(app.clone()));
    let ui = &app.ui;
    sign_in_and_open_shift(ui);
    scale.set(1000, ScaleState::Stable);
    click(ui, "HY-MHT-LB");
    pump(&app, &rx, |_| {
        value(ui, "scale weight").contains("1.000 kg")
    });
    // 200 g more in the bag, "Add" pressed before the pad has heard of it.
    scale.set(1200, ScaleState::Stable);
    click(ui, "add weight");
    pump(&app, &rx, |a| a.ctl.borrow().weighing.is_none());
    assert_eq!(value(ui, "quantity 0"), "2.4斤");
}
