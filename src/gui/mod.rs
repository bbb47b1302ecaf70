//! The touchscreen: the volunteer's till and the shoppers' self-checkout kiosk, in Slint.
//!
//! Layers, from the window in:
//! - `ui/*.slint` (compiled by build.rs into [`ui`]): screens that read one global adapter
//!   each and call its callbacks; no state of their own.
//! - [`till_adapter`] and [`kiosk_adapter`]: the only code that touches the generated types;
//!   they show a controller's state and forward taps, keys and events to it.
//! - [`till`] (a file per screen) and [`kiosk`]: what each tap and scan does, in plain Rust
//!   over the [`Till`](crate::till::Till); tested without a window. [`views`] is what the
//!   two share.
//! - [`services`]: printer, serial scanner and sync on threads of their own; their results
//!   come back through the event loop, so nothing slow ever runs on the UI thread.

pub mod customer;
pub mod kiosk;
pub mod kiosk_adapter;
pub mod models;
pub mod placement;
pub mod qr;
pub mod services;
pub mod status;
pub mod sync_pace;
pub mod till;
pub mod till_adapter;
pub mod views;

#[allow(clippy::all, unused_qualifications, unreachable_pub)]
pub mod ui {
    slint::include_modules!();
}

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fairpos_hardware::config::{PrinterKind, ScannerKind};
use slint::ComponentHandle;

use fairpos_domain::Lang;

use self::customer::CustomerDisplay;
use self::kiosk::KioskController;
use self::kiosk_adapter::KioskApp;
use self::services::{Event, Post, Services, Setup};
use self::status::{StatusLine, Sync};
use self::till::TillController;
use self::till_adapter::TillApp;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::till::Till;

/// The lead PIN of the demo till made on first start.
pub const DEMO_LEAD_PIN: &str = "2468";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Till,
    Kiosk,
}

/// How the windows open, beyond `fairpos.toml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Open the customer display beside the till (also `[customer_display] enabled`).
    pub customer_display: bool,
    /// The till fills its monitor (the kiosk always does).
    pub fullscreen: bool,
}

enum Running {
    Till(Rc<TillApp>),
    Kiosk(Rc<KioskApp>),
}

thread_local! {
    /// The app on the UI thread, for events the background threads post.
    static APP: RefCell<Option<Running>> = const { RefCell::new(None) };
}

fn dispatch(event: Event) {
    APP.with(|app| match &*app.borrow() {
        Some(Running::Till(t)) => t.event(event),
        Some(Running::Kiosk(k)) => k.event(event),
        None => {}
    });
}

fn poster() -> Post {
    Arc::new(|event: Event| {
        let _ = slint::invoke_from_event_loop(move || dispatch(event));
    })
}

/// The till in `dir`, or the demo till (created there) when `dir` holds none.
pub fn open_or_demo(dir: &Path) -> Result<Till> {
    if dir.join(crate::store::DB_FILE).exists() {
        Till::open(dir)
    } else {
        eprintln!(
            "no till in {}: setting up the demo till (lead PIN {DEMO_LEAD_PIN})",
            dir.display()
        );
        Till::init_demo(dir, DEMO_LEAD_PIN)
    }
}

/// The language to start in: `FAIRPOS_LANG=en` for English, Chinese otherwise.
pub fn start_language() -> Lang {
    match std::env::var("FAIRPOS_LANG").as_deref() {
        Ok("en") | Ok("en_US") | Ok("") => Lang::En,
        _ => Lang::Zh,
    }
}

fn setup(dir: &Path, till: &Till, config: &Config) -> Setup {
    let identity = till.store().identity();
    Setup {
        dir: dir.to_path_buf(),
        fair: identity.fair.id.clone(),
        device: identity.device.to_string(),
        printer: config.printer.clone(),
        scanner: config.scanner.clone(),
        scale: config.scale.clone(),
        enrolled: till
            .store()
            .meta(crate::store::DEVICE_SECRET)
            .ok()
            .flatten()
            .is_some(),
        sync_interval: Duration::from_secs(30),
    }
}

/// What the status bar says before the threads have reported.
pub fn first_status(till: &mut Till, config: &Config) -> StatusLine {
    let enrolled = till
        .store()
        .meta(crate::store::DEVICE_SECRET)
        .ok()
        .flatten()
        .is_some();
    let unconfirmed = crate::uplink::status(till)
        .map(|s| s.unconfirmed_sales)
        .unwrap_or(0);
    StatusLine {
        sync: if enrolled {
            Sync::Waiting
        } else {
            Sync::NotEnrolled
        },
        unconfirmed: if enrolled { unconfirmed } else { 0 },
        printer: (config.printer.kind != PrinterKind::None).then_some(None),
        queued: 0,
        scanner: (config.scanner.kind == ScannerKind::Serial).then_some(None),
    }
}

/// Window size from `FAIRPOS_WINDOW` (`1024x600`), for screenshots and small screens.
fn window_size() -> Option<slint::LogicalSize> {
    let text = std::env::var("FAIRPOS_WINDOW").ok()?;
    let (w, h) = text.split_once('x')?;
    Some(slint::LogicalSize::new(w.parse().ok()?, h.parse().ok()?))
}

/// Builds the till's window and app over `till` (nothing shown yet).
pub fn till_app(till: Till, config: &Config, services: Services) -> Result<Rc<TillApp>> {
    let mut till = till;
    let status = first_status(&mut till, config);
    let mut ctl = TillController::new(till)?;
    ctl.lang = start_language();
    ctl.has_scale = services.has_scale();
    // Translations can be chosen once a component exists.
    let ui = ui::TillWindow::new().map_err(|e| Error::Other(format!("the window: {e}")))?;
    models::set_language(ctl.lang);
    Ok(TillApp::new(
        ui,
        ctl,
        services,
        config.printer.clone(),
        status,
    ))
}

/// Builds the kiosk's window and app over `till` (nothing shown yet).
pub fn kiosk_app(till: Till, config: &Config, services: Services) -> Result<Rc<KioskApp>> {
    let mut ctl = KioskController::new(till, config.kiosk.clone())?;
    ctl.start_in(start_language());
    let ui = ui::KioskWindow::new().map_err(|e| Error::Other(format!("the window: {e}")))?;
    models::set_language(ctl.lang);
    Ok(KioskApp::new(ui, ctl, services, config.printer.clone()))
}

fn show_till(dir: PathBuf, till: Till, config: &Config, options: Options) -> Result<()> {
    let services = services::start(setup(&dir, &till, config), poster());
    let app = till_app(till, config, services)?;
    app.refresh_unconfirmed();
    if let Some(size) = window_size() {
        app.ui.window().set_size(size);
    }
    app.ui.window().on_close_requested(|| {
        let _ = slint::quit_event_loop();
        slint::CloseRequestResponse::HideWindow
    });
    app.ui
        .show()
        .map_err(|e| Error::Other(format!("cannot open the till's window: {e}")))?;
    if options.customer_display || config.customer_display.enabled {
        let fair = app.ctl.borrow().till().store().identity().fair.id.clone();
        let display = CustomerDisplay::new(config, &fair)?;
        display
            .ui
            .window()
            .on_close_requested(|| slint::CloseRequestResponse::KeepWindowShown);
        display
            .ui
            .show()
            .map_err(|e| Error::Other(format!("cannot open the customer display: {e}")))?;
        app.attach_customer_display(display);
    }
    if options.fullscreen {
        let weak = app.ui.as_weak();
        slint::Timer::single_shot(Duration::from_millis(100), move || {
            if let Some(ui) = weak.upgrade() {
                placement::fill_monitor(ui.window());
            }
        });
    }
    APP.with(|a| *a.borrow_mut() = Some(Running::Till(app)));
    Ok(())
}

fn show_kiosk(dir: PathBuf, till: Till, config: &Config, options: Options) -> Result<()> {
    let services = services::start(setup(&dir, &till, config), poster());
    let app = kiosk_app(till, config, services)?;
    let config = config.clone();
    app.on_leave(move || {
        // After this callback returns: drop the kiosk (and its hold on the data directory),
        // then open the till's own screens.
        slint::Timer::single_shot(Duration::ZERO, move || {
            APP.with(|a| a.borrow_mut().take());
            let opened =
                Till::open(&dir).and_then(|till| show_till(dir.clone(), till, &config, options));
            if let Err(e) = opened {
                eprintln!("error: {e}");
                let _ = slint::quit_event_loop();
            }
        });
    });
    let sized = window_size();
    if let Some(size) = sized {
        app.ui.window().set_size(size);
    }
    app.ui
        .window()
        .on_close_requested(|| slint::CloseRequestResponse::KeepWindowShown);
    app.ui
        .show()
        .map_err(|e| Error::Other(format!("cannot open the kiosk's window: {e}")))?;
    if sized.is_none() {
        // A kiosk runs a bare X session: it fills its monitor with or without a window
        // manager to answer a fullscreen request.
        let weak = app.ui.as_weak();
        slint::Timer::single_shot(Duration::from_millis(100), move || {
            if let Some(ui) = weak.upgrade() {
                placement::fill_monitor(ui.window());
            }
        });
    }
    APP.with(|a| *a.borrow_mut() = Some(Running::Kiosk(app)));
    Ok(())
}

/// Opens the till (or the kiosk) on `dir` and runs until the window closes.
pub fn run(dir: &Path, mode: Mode, options: Options) -> Result<()> {
    // Read first: a file refused after the demo till was made left an empty directory
    // holding one, which a later `init --fair` refused.
    let config = Config::load(dir)?;
    let till = open_or_demo(dir)?;
    match mode {
        Mode::Till => show_till(dir.to_path_buf(), till, &config, options)?,
        Mode::Kiosk => show_kiosk(dir.to_path_buf(), till, &config, options)?,
    }
    slint::run_event_loop_until_quit()
        .map_err(|e| Error::Other(format!("the window's event loop: {e}")))?;
    APP.with(|a| a.borrow_mut().take());
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every text the screens mark with `@tr` has its Chinese in the bundled translation.
    #[test]
    fn every_translatable_text_is_translated() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let po = std::fs::read_to_string(root.join("ui/translations/zh_CN/LC_MESSAGES/fairpos.po"))
            .unwrap();
        let mut missing = Vec::new();
        let files = std::fs::read_dir(root.join("ui")).unwrap();
        let mut slint: Vec<_> = files
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "slint"))
            .collect();
        slint.sort();
        assert!(slint.len() > 5, "the screens are in ui/*.slint");
        for file in slint {
            let text = std::fs::read_to_string(&file).unwrap();
            for piece in text.split("@tr(\"").skip(1) {
                let msgid = &piece[..piece.find('"').unwrap()];
                if !po.contains(&format!("msgid \"{msgid}\"")) {
                    missing.push(msgid.to_string());
                }
            }
        }
        assert!(missing.is_empty(), "not translated: {missing:?}");
    }
}
