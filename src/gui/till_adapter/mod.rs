//! Shows the till controller's state in the Slint window and forwards taps, keys and the
//! background threads' events to it. With `kiosk_adapter.rs`, the only code that touches
//! the generated UI types.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::scanner::wedge::{BurstDetector, WedgeConfig, WedgeEvent};
use slint::ComponentHandle;

mod render;
mod wire;

use fairpos_domain::Lang;

use super::customer::CustomerDisplay;
use super::models::{s, set_language, typed_char};
use super::services::{Event, Job, ScaleJob, Services};
use super::status::{StatusLine, Sync};
use super::till::{Changed, TillController};
use super::ui::{PayAdapter, SellAdapter, ShiftAdapter, TillWindow};
use super::views::words;
use crate::till::printing::{PrintOutcome, ReadyReceipt};
use crate::till::slip::slip_bytes;

pub struct TillApp {
    pub ui: TillWindow,
    pub ctl: RefCell<TillController>,
    pub(crate) services: Services,
    printer: PrinterConfig,
    pub status: RefCell<StatusLine>,
    wedge: RefCell<BurstDetector>,
    started: Instant,
    /// Flushes keys typed (not scanned) once they stop.
    flush: slint::Timer,
    /// Runs the work after a sale once the UI is idle.
    tidy: slint::Timer,
    /// Clears a good-news message after a while (a problem stays until dismissed).
    fade: slint::Timer,
    /// Sales whose receipt is with the printer thread: a retry does not send them again.
    printing: RefCell<HashSet<String>>,
    /// The scale thread is reading the scale (the weight pad is open).
    watching_scale: Cell<bool>,
    /// The printer thread has told the printer's state at least once.
    printer_heard: Cell<bool>,
    /// The second screen facing the shopper, when there is one.
    pub customer: RefCell<Option<CustomerDisplay>>,
}

impl TillApp {
    pub fn new(
        ui: TillWindow,
        ctl: TillController,
        services: Services,
        printer: PrinterConfig,
        status: StatusLine,
    ) -> Rc<TillApp> {
        let app = Rc::new(TillApp {
            ui,
            ctl: RefCell::new(ctl),
            services,
            printer,
            status: RefCell::new(status),
            wedge: RefCell::new(BurstDetector::new(WedgeConfig::default())),
            started: Instant::now(),
            flush: slint::Timer::default(),
            tidy: slint::Timer::default(),
            fade: slint::Timer::default(),
            printing: RefCell::default(),
            watching_scale: Cell::new(false),
            printer_heard: Cell::new(false),
            customer: RefCell::new(None),
        });
        wire::wire(&app);
        app.refresh_queue();
        app.render(Changed {
            products: true,
            units: true,
        });
        app
    }

    /// Switches the language of the whole window: Slint's bundled translations for the
    /// screens, the controller's for names and messages.
    pub fn set_lang(&self, lang: Lang) {
        set_language(lang);
        self.ctl.borrow_mut().lang = lang;
        self.render(Changed {
            products: true,
            units: true,
        });
    }

    /// Runs `f` on the controller, then redraws.
    pub(crate) fn act(self: &Rc<Self>, f: impl FnOnce(&mut TillController) -> Changed) {
        let changed = f(&mut self.ctl.borrow_mut());
        self.watch_scale();
        self.render(changed);
        let good_news = matches!(&self.ctl.borrow().message, Some(m) if !m.bad);
        if good_news {
            let weak = Rc::downgrade(self);
            self.fade.start(
                slint::TimerMode::SingleShot,
                Duration::from_secs(6),
                move || {
                    if let Some(app) = weak.upgrade() {
                        let fresh = matches!(&app.ctl.borrow().message, Some(m) if !m.bad);
                        if fresh {
                            app.ctl.borrow_mut().dismiss_message();
                            app.render(Changed::default());
                        }
                    }
                },
            );
        }
    }

    /// Shows the till's state on a customer display from now on.
    pub fn attach_customer_display(&self, display: CustomerDisplay) {
        *self.customer.borrow_mut() = Some(display);
        self.render(Changed::default());
    }

    /// Keeps the scale thread reading while the weight pad is open, and only then.
    fn watch_scale(&self) {
        let open = self.ctl.borrow().weighing.is_some();
        if open != self.watching_scale.get() && self.services.scale(ScaleJob::Watch(open)) {
            self.watching_scale.set(open);
        }
    }

    /// A key the window got while no text field had focus: scanner bursts become scans,
    /// anything typed slowly goes into the search field.
    pub(crate) fn key(self: &Rc<Self>, text: &str) -> bool {
        let Some(c) = typed_char(text) else {
            return false;
        };
        let at = self.started.elapsed().as_millis() as u64;
        let events = self.wedge.borrow_mut().key(c, at);
        self.wedge_events(events);
        // Every 60 ms while keys are held: typing goes into the search field once its run
        // has gone quiet, a scan in its one pause waits for the rest of its keys.
        let weak = Rc::downgrade(self);
        self.flush.start(
            slint::TimerMode::Repeated,
            Duration::from_millis(60),
            move || {
                if let Some(app) = weak.upgrade() {
                    let at = app.started.elapsed().as_millis() as u64;
                    let events = app.wedge.borrow_mut().idle(at);
                    app.wedge_events(events);
                    if !app.wedge.borrow().holding() {
                        app.flush.stop();
                    }
                }
            },
        );
        true
    }

    fn wedge_events(self: &Rc<Self>, events: Vec<WedgeEvent>) {
        for e in events {
            match e {
                WedgeEvent::Scan(code) => self.scanned(&code),
                WedgeEvent::Typed(text) => {
                    let typed: String = text.chars().filter(|c| !c.is_control()).collect();
                    let sell = self.ui.global::<SellAdapter>();
                    let query = format!("{}{typed}", sell.get_query());
                    if !typed.is_empty() {
                        sell.set_query(s(&query));
                        self.act(|c| c.search(&query));
                    }
                    // Enter typed with no field focused is Enter in the search field: a
                    // whole code goes into the cart, whether keyed by hand or a scan the
                    // machine slowed down below a burst.
                    if text.ends_with('\n') && !query.trim().is_empty() {
                        self.code_entered(&query);
                    }
                }
            }
        }
    }

    /// Enter in the search field: a code there goes into the cart and the field empties;
    /// anything else stays a search.
    pub(crate) fn code_entered(self: &Rc<Self>, text: &str) {
        let cleared = self.ctl.borrow_mut().code_entered(text);
        if cleared {
            self.ui.global::<SellAdapter>().set_query(s(""));
        }
        self.render(Changed {
            products: true,
            units: false,
        });
    }

    /// A code from any scanner.
    pub fn scanned(self: &Rc<Self>, code: &str) {
        self.act(|c| c.scan(code));
    }

    pub(crate) fn print(self: &Rc<Self>, sale_id: &str, reprint: bool) {
        let receipt_line = if !self.services.has_printer() {
            match self.ctl.borrow().lang {
                Lang::Zh => "未配置打印机：小票未打印".to_string(),
                Lang::En => "No printer configured: no receipt printed".to_string(),
            }
        } else {
            let ready = {
                let mut ctl = self.ctl.borrow_mut();
                let till = ctl.till_mut();
                crate::clock::now(till)
                    .and_then(|now| till.ready_receipt(&self.printer, sale_id, reprint, now))
            };
            match ready {
                Ok(r) => {
                    self.send_receipt(r);
                    match self.ctl.borrow().lang {
                        Lang::Zh => "正在打印小票…".to_string(),
                        Lang::En => "Printing the receipt…".to_string(),
                    }
                }
                Err(e) => e.to_string(),
            }
        };
        self.ui
            .global::<PayAdapter>()
            .set_done_receipt(s(receipt_line));
    }

    /// Sends the slip of the shift just closed to the printer, and says so on the slip screen.
    pub(crate) fn print_slip(&self) {
        let ctl = self.ctl.borrow();
        let Some(shown) = &ctl.slip else { return };
        let zh = ctl.lang == Lang::Zh;
        let note = if !self.services.has_printer() {
            if zh {
                "未配置打印机：交班单未打印".to_string()
            } else {
                "No printer configured: the slip was not printed".to_string()
            }
        } else {
            let identity = ctl.till().store().identity();
            match slip_bytes(&self.printer, identity, &shown.slip, &shown.text) {
                Ok(bytes) => {
                    self.services.print(Job::Slip(bytes));
                    if zh {
                        "正在打印交班单…"
                    } else {
                        "Printing the slip…"
                    }
                    .to_string()
                }
                Err(e) => words(&e, ctl.lang),
            }
        };
        self.ui.global::<ShiftAdapter>().set_slip_printing(s(note));
    }

    /// Receipts waiting in the queue, counted for the status bar (but for those on their
    /// way to the printer, queued only until they are printed).
    fn refresh_queue(&self) {
        let printing = self.printing.borrow();
        let queued = self
            .ctl
            .borrow_mut()
            .till_mut()
            .pending_receipts()
            .map(|p| p.iter().filter(|p| !printing.contains(&p.sale_id)).count())
            .unwrap_or(0);
        self.status.borrow_mut().queued = queued;
    }

    fn send_receipt(&self, r: ReadyReceipt) {
        let sale = r.sale_id.clone();
        if self.services.print(Job::Receipt(r)) {
            self.printing.borrow_mut().insert(sale);
        }
    }

    /// Prints the queued receipts once the printer is back, but for those already on their way:
    /// this window's (`printing`), and those queued as about to be sent in the last minute (a
    /// kiosk's, whose printer thread may still be sending it after the kiosk handed over).
    fn retry_queue(self: &Rc<Self>) {
        let pending = self.ctl.borrow_mut().till_mut().pending_receipts();
        let now = crate::clock::now(self.ctl.borrow().till()).ok();
        let on_its_way = |p: &crate::till::printing::Pending| {
            let queued = chrono::DateTime::parse_from_rfc3339(&p.queued_at).ok();
            let lately = match (now, queued) {
                (Some(now), Some(queued)) => (now - queued) < chrono::TimeDelta::minutes(1),
                _ => false,
            };
            p.reason == crate::till::printing::NOT_SENT && lately
        };
        for p in pending.unwrap_or_default() {
            if self.printing.borrow().contains(&p.sale_id) || on_its_way(&p) || p.retried_alone() {
                continue;
            }
            let ready = self
                .ctl
                .borrow_mut()
                .till_mut()
                .ready_queued_receipt(&self.printer, &p);
            if let Ok(r) = ready {
                self.send_receipt(r);
            }
        }
    }

    /// What follows a sale once its done screen is drawn: the receipt (built from the
    /// database, so after the projection catches up) and the tidying. Without a printer the
    /// done screen says so at once.
    pub(crate) fn after_sale(self: &Rc<Self>, sale_id: &str) {
        if self.services.has_printer() {
            // A timer of its own per sale: a receipt is never dropped by a restarted timer.
            let weak = Rc::downgrade(self);
            let sale = sale_id.to_string();
            slint::Timer::single_shot(Duration::from_millis(50), move || {
                if let Some(app) = weak.upgrade() {
                    app.print(&sale, false);
                }
            });
        } else {
            self.print(sale_id, false);
        }
        let weak = Rc::downgrade(self);
        self.tidy.start(
            slint::TimerMode::SingleShot,
            Duration::from_millis(50),
            move || {
                if let Some(app) = weak.upgrade() {
                    app.ctl.borrow_mut().tidy();
                    // After the tidy, which puts the sale in its ledger: a pass asked at the
                    // sale read the ledgers without it, and the sale waited for the next.
                    app.services.sync_soon();
                }
            },
        );
    }

    /// What a background thread reported.
    pub fn event(self: &Rc<Self>, event: Event) {
        match event {
            Event::Printed { ready, failure } => {
                self.printing.borrow_mut().remove(&ready.sale_id);
                let now = crate::clock::now(self.ctl.borrow().till());
                let outcome = now.and_then(|now| {
                    self.ctl
                        .borrow_mut()
                        .till_mut()
                        .receipt_result(&ready, failure, now)
                });
                let zh = self.ctl.borrow().lang == Lang::Zh;
                let line = match outcome {
                    Ok(PrintOutcome::Printed { number, .. }) if zh => {
                        format!("小票 {number} 已打印")
                    }
                    Ok(PrintOutcome::Printed { number, .. }) => format!("Receipt {number} printed"),
                    Ok(PrintOutcome::Queued {
                        number,
                        reason,
                        drawer_shut,
                    }) if zh => {
                        let drawer = if drawer_shut {
                            "；钱箱可能未打开，请用钥匙打开"
                        } else {
                            ""
                        };
                        if reason.starts_with(crate::till::printing::UNCONFIRMED) {
                            format!(
                                "小票 {number} 可能已打印（打印机未确认），如未打出请补打{drawer}"
                            )
                        } else {
                            format!(
                                "小票 {number} 未打印（{reason}），已排队，打印机恢复后补打{drawer}"
                            )
                        }
                    }
                    Ok(PrintOutcome::Queued {
                        number,
                        reason,
                        drawer_shut,
                    }) => {
                        let drawer = if drawer_shut {
                            "; the cash drawer may not have opened: open it with its key"
                        } else {
                            ""
                        };
                        if reason.starts_with(crate::till::printing::UNCONFIRMED) {
                            format!("Receipt {number} may have printed (the printer did not confirm it): reprint it if not{drawer}")
                        } else {
                            format!("Receipt {number} not printed ({reason}): queued until the printer is back{drawer}")
                        }
                    }
                    Err(e) => e.to_string(),
                };
                self.ui.global::<PayAdapter>().set_done_receipt(s(line));
                self.refresh_queue();
            }
            Event::SlipPrinted { .. } => {}
            Event::Printer(state) => {
                // Ready after trouble, or ready when first told: receipts queued before the
                // window opened (another run, the kiosk) waited for good, the status line
                // counting them, since the printer was taken as ready from the start.
                let first = !self.printer_heard.replace(true);
                let back = state.is_none()
                    && (first || matches!(self.status.borrow().printer, Some(Some(_)) | None));
                self.status.borrow_mut().printer = Some(state);
                self.refresh_queue();
                if back && self.status.borrow().queued > 0 {
                    self.retry_queue();
                }
            }
            Event::Scanned(code) => self.scanned(&code),
            Event::Weight(reading) => {
                self.ctl.borrow_mut().scale_reading(reading);
                self.watch_scale();
                self.render(Changed::default());
                return;
            }
            Event::FreshWeight(reading) => {
                self.ctl.borrow_mut().fresh_reading(reading);
                self.watch_scale();
                self.render(Changed::default());
                return;
            }
            Event::Scanner(state) => self.status.borrow_mut().scanner = Some(state),
            Event::SyncStarted => {
                self.status.borrow_mut().sync = Sync::Syncing;
                let noted = crate::uplink::note_attempt(self.ctl.borrow_mut().till_mut());
                if let Err(e) = noted {
                    eprintln!("noting the sync's attempt: {e}");
                }
            }
            Event::SyncFinished(done) => {
                let result = crate::uplink::apply(self.ctl.borrow_mut().till_mut(), *done);
                let catalog_changed = matches!(&result, Ok(r) if r.catalog_changed);
                {
                    let at = self.ctl.borrow().time_of_day();
                    let mut status = self.status.borrow_mut();
                    status.sync = match &result {
                        Ok(r) => match r.refusal() {
                            Some(refusal) => Sync::Refused(refusal),
                            None => Sync::Synced(at),
                        },
                        Err(e) if crate::uplink::no_pass_mends(e) => Sync::Refused(e.to_string()),
                        Err(e) => Sync::Offline(e.to_string()),
                    };
                }
                self.refresh_unconfirmed();
                if catalog_changed {
                    let changed = self.ctl.borrow_mut().reload_catalog();
                    if let Ok(c) = changed {
                        self.render(c);
                        return;
                    }
                }
            }
        }
        self.render(Changed::default());
    }

    pub fn refresh_unconfirmed(&self) {
        if let Ok(st) = crate::uplink::status(self.ctl.borrow_mut().till_mut()) {
            self.status.borrow_mut().unconfirmed = st.unconfirmed_sales;
        }
    }
}
