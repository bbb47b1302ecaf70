//! Shows the kiosk controller's state in the kiosk window and forwards taps, scans, the idle
//! clock and the background threads' events to it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::scanner::wedge::{BurstDetector, WedgeConfig, WedgeEvent};
use slint::{ComponentHandle, Image, SharedString};

use fairpos_domain::Lang;

use super::kiosk::{KioskController, KioskScreen, Leave};
use super::models::{cart_model, set_language, translation, typed_char};
use super::qr::qr_image;
use super::services::{Event, Job, Services};
use super::ui::{self, KioskAdapter, KioskWindow, Nav, Status};

pub struct KioskApp {
    pub ui: KioskWindow,
    pub ctl: RefCell<KioskController>,
    services: Services,
    printer: PrinterConfig,
    wedge: RefCell<BurstDetector>,
    started: Instant,
    clock: slint::Timer,
    /// The payload of the QR image shown, so it is drawn once.
    shown_qr: RefCell<String>,
    /// The language the window's texts are in (none before the first render): switched,
    /// with the texts made in Rust in it (the payment screen's title and staff's confirm
    /// buttons, which change with nothing else), when the controller's changes (a shopper's
    /// choice, or the next shopper's start).
    shown_lang: std::cell::Cell<Option<Lang>>,
    /// What to do when staff leave kiosk mode (open the till's screens).
    on_leave: RefCell<Option<Box<dyn FnOnce()>>>,
}

fn s(text: impl AsRef<str>) -> SharedString {
    SharedString::from(text.as_ref())
}

/// The kiosk's screen as the window names it.
fn ui_screen(screen: KioskScreen) -> ui::KioskScreen {
    match screen {
        KioskScreen::Attract => ui::KioskScreen::Attract,
        KioskScreen::Shopping => ui::KioskScreen::Shopping,
        KioskScreen::PayQr => ui::KioskScreen::PayQr,
        KioskScreen::PayCounter => ui::KioskScreen::PayCounter,
        KioskScreen::Thanks => ui::KioskScreen::Thanks,
        KioskScreen::Staff => ui::KioskScreen::Staff,
    }
}

impl KioskApp {
    pub fn new(
        ui: KioskWindow,
        ctl: KioskController,
        services: Services,
        printer: PrinterConfig,
    ) -> Rc<KioskApp> {
        let app = Rc::new(KioskApp {
            ui,
            ctl: RefCell::new(ctl),
            services,
            printer,
            wedge: RefCell::new(BurstDetector::new(WedgeConfig::default())),
            started: Instant::now(),
            clock: slint::Timer::default(),
            shown_qr: RefCell::new(String::new()),
            shown_lang: std::cell::Cell::new(None),
            on_leave: RefCell::new(None),
        });
        wire(&app);
        let weak = Rc::downgrade(&app);
        app.clock.start(
            slint::TimerMode::Repeated,
            Duration::from_millis(500),
            move || {
                if let Some(a) = weak.upgrade() {
                    let now = a.now_ms();
                    if a.ctl.borrow_mut().tick(now) {
                        a.render();
                    }
                }
            },
        );
        app.render();
        app
    }

    /// Called once when staff leave kiosk mode (after the window is hidden).
    pub fn on_leave(&self, f: impl FnOnce() + 'static) {
        *self.on_leave.borrow_mut() = Some(Box::new(f));
    }

    /// The language each shopper starts in (the operator's, `FAIRPOS_LANG`).
    pub fn start_in(&self, lang: Lang) {
        self.ctl.borrow_mut().start_in(lang);
        self.render();
    }

    /// A shopper's choice of language, until the next shopper.
    pub fn set_lang(&self, lang: Lang) {
        let now = self.now_ms();
        self.ctl.borrow_mut().choose_lang(lang, now);
        self.render();
    }

    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn render(&self) {
        let ctl = self.ctl.borrow();
        let k = self.ui.global::<KioskAdapter>();
        if self.shown_lang.get() != Some(ctl.lang) {
            set_language(ctl.lang);
            self.shown_lang.set(Some(ctl.lang));
            k.set_pay_title(s(ctl.pay_title()));
            // Made once a language: a new model makes the buttons anew, under a finger.
            let buttons: Vec<ui::ConfirmButton> = ctl
                .confirm_buttons()
                .into_iter()
                .map(|(text, label)| ui::ConfirmButton {
                    text: s(text),
                    label: s(label),
                })
                .collect();
            k.set_confirm_buttons(Rc::new(slint::VecModel::from(buttons)).into());
        }
        let identity = ctl.till().store().identity();
        self.ui.global::<Status>().set_fair(s(&identity.fair.name));
        self.ui
            .global::<Nav>()
            .set_language(s(translation(ctl.lang)));
        let window = self.ui.window();
        let high = window.size().height as f32 / window.scale_factor();
        k.set_small_screen(high < 700.0);
        k.set_screen(ui_screen(ctl.screen));
        k.set_cart(cart_model(ctl.lines()));
        k.set_total(s(format!("￥{}", ctl.total())));
        k.set_items(s(match ctl.lang {
            Lang::Zh => format!("{} 项商品", ctl.cart.lines().len()),
            Lang::En => format!("{} items", ctl.cart.lines().len()),
        }));
        if *self.shown_qr.borrow() != ctl.qr {
            k.set_qr(if ctl.qr.is_empty() {
                Image::default()
            } else {
                qr_image(&ctl.qr)
            });
            *self.shown_qr.borrow_mut() = ctl.qr.clone();
        }
        k.set_qr_caption(s(ctl.caption()));
        k.set_pin_dots(s(ctl.pin_dots()));
        k.set_message(s(ctl.message_now()));
        let now = self.now_ms();
        match ctl.idle_warning(now) {
            Some(left) => {
                k.set_idle_warning(true);
                k.set_idle_seconds(left as i32);
            }
            None => k.set_idle_warning(false),
        }
    }

    fn act(&self, f: impl FnOnce(&mut KioskController, u64)) {
        let now = self.now_ms();
        f(&mut self.ctl.borrow_mut(), now);
        self.render();
    }

    fn key(self: &Rc<Self>, text: &str) -> bool {
        let Some(c) = typed_char(text) else {
            return false;
        };
        let at = self.now_ms();
        for e in self.wedge.borrow_mut().key(c, at) {
            if let WedgeEvent::Scan(code) = e {
                self.act(|k, now| k.scan(&code, now));
            }
        }
        true
    }

    pub fn scanned(&self, code: &str) {
        self.act(|k, now| k.scan(code, now));
    }

    fn print_receipt(&self, sale_id: &str) {
        if !self.services.has_printer() {
            return;
        }
        let mut ctl = self.ctl.borrow_mut();
        let till = ctl.till_mut();
        let ready = crate::clock::now(till)
            .and_then(|now| till.ready_receipt(&self.printer, sale_id, false, now));
        drop(ctl);
        if let Ok(r) = ready {
            self.services.print(Job::Receipt(r));
        }
    }

    pub fn event(&self, event: Event) {
        match event {
            Event::Scanned(code) => self.scanned(&code),
            Event::Printed { ready, failure } => {
                let now = crate::clock::now(self.ctl.borrow().till());
                let _ = now.and_then(|now| {
                    self.ctl
                        .borrow_mut()
                        .till_mut()
                        .receipt_result(&ready, failure, now)
                });
            }
            Event::SyncStarted => {
                let noted = crate::uplink::note_attempt(self.ctl.borrow_mut().till_mut());
                if let Err(e) = noted {
                    eprintln!("noting the sync's attempt: {e}");
                }
            }
            Event::SyncFinished(done) => {
                let result = crate::uplink::apply(self.ctl.borrow_mut().till_mut(), *done);
                if matches!(&result, Ok(r) if r.catalog_changed) {
                    let reloaded = self.ctl.borrow_mut().reload_catalog();
                    if let Err(e) = reloaded {
                        eprintln!("the kiosk keeps its catalog: {e}");
                    }
                }
            }
            _ => {}
        }
        self.render();
    }
}

fn wire(app: &Rc<KioskApp>) {
    let ui = &app.ui;
    macro_rules! on {
        ($setter:ident, |$a:ident $(, $arg:ident : $t:ty)*| $body:expr) => {{
            let weak: Weak<KioskApp> = Rc::downgrade(app);
            ui.global::<KioskAdapter>().$setter(move |$($arg: $t),*| {
                if let Some($a) = weak.upgrade() {
                    $body
                }
            });
        }};
    }
    {
        let weak: Weak<KioskApp> = Rc::downgrade(app);
        ui.global::<Nav>().on_key(move |text| match weak.upgrade() {
            Some(a) => a.key(&text),
            None => false,
        });
        let weak: Weak<KioskApp> = Rc::downgrade(app);
        ui.global::<Nav>().on_set_language(move |lang| {
            if let Some(a) = weak.upgrade() {
                a.set_lang(if lang.is_empty() { Lang::En } else { Lang::Zh });
            }
        });
    }
    on!(on_start, |a| a.act(|k, now| k.start(now)));
    on!(on_inc, |a, i: i32| a
        .act(|k, now| k.step(i as usize, 1, now)));
    on!(on_dec, |a, i: i32| a
        .act(|k, now| k.step(i as usize, -1, now)));
    on!(on_remove, |a, i: i32| a
        .act(|k, now| k.remove(i as usize, now)));
    on!(on_pay_qr, |a| a.act(|k, now| k.pay_qr(now)));
    on!(on_pay_counter, |a| {
        let now = a.now_ms();
        let basket = a.ctl.borrow_mut().pay_counter(now);
        if let (Some(basket), true) = (basket, a.services.has_printer()) {
            let ctl = a.ctl.borrow();
            let time = crate::clock::now(ctl.till())
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            if let Ok(bytes) =
                ctl.till()
                    .basket_slip_bytes(&a.printer, &ctl.cart, &basket.payload(), &time)
            {
                a.services.print(Job::Slip(bytes));
            }
        }
        a.render();
    });
    on!(on_pin_key, |a, key: SharedString| a
        .act(|k, now| k.pin_key(&key, now)));
    on!(on_staff_confirm, |a, method: i32| {
        let now = a.now_ms();
        let done = a
            .ctl
            .borrow_mut()
            .staff_confirm(usize::try_from(method).unwrap_or(usize::MAX), now);
        if let Some(done) = done {
            // The receipt and the work after the sale once the thanks screen is drawn; the
            // pass after the tidy, which puts the sale in its ledger.
            let weak = Rc::downgrade(&a);
            slint::Timer::single_shot(Duration::from_millis(50), move || {
                if let Some(a) = weak.upgrade() {
                    a.print_receipt(&done.id);
                    a.ctl.borrow_mut().tidy();
                    a.services.sync_soon();
                }
            });
        }
        a.render();
    });
    on!(on_back, |a| a.act(|k, now| k.back(now)));
    on!(on_finish, |a| a.act(|k, _| k.finish()));
    on!(on_staff, |a| a.act(|k, now| k.staff(now)));
    on!(on_still_here, |a| a.act(|k, now| k.still_here(now)));
    on!(on_touched, |a| {
        let now = a.now_ms();
        a.ctl.borrow_mut().touched(now);
    });
    on!(on_leave, |a| {
        let now = a.now_ms();
        let decision = a.ctl.borrow_mut().leave(now);
        a.render();
        if decision == Leave::Leave {
            let _ = a.ui.hide();
            let leave = a.on_leave.borrow_mut().take();
            if let Some(f) = leave {
                f();
            }
        }
    });
}
