//! Shows the till controller's state in the Slint window and forwards taps, keys and the
//! background threads' events to it. With `kiosk_adapter.rs`, the only code that touches
//! the generated UI types.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::scanner::wedge::{BurstDetector, WedgeConfig, WedgeEvent};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

mod render;
mod wire;

use fairpos_domain::{Fen, Lang};

use super::services::{Event, Job, Services};
use super::status::{StatusLine, Sync};
use super::till::{Changed, TillController};
use super::ui::{CartItem, PayAdapter, SellAdapter, TillWindow};
use super::views::LineView;
use crate::till::printing::{PrintOutcome, ReadyReceipt};

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
}

pub(crate) fn s(text: impl AsRef<str>) -> SharedString {
    SharedString::from(text.as_ref())
}

pub(crate) fn yuan(f: Fen) -> SharedString {
    s(format!("￥{f}"))
}

pub(crate) fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// The bundled translation of `lang`: `zh_CN`, or `""` for the English the screens are
/// written in.
pub fn translation(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "zh_CN",
        Lang::En => "",
    }
}

/// Picks the UI language from the bundled translations.
pub fn set_language(lang: Lang) {
    if let Err(e) = slint::select_bundled_translation(translation(lang)) {
        eprintln!("language {}: {e}", translation(lang));
    }
}

/// The cart lines as the screens' `CartItem` model (the till's and the kiosk's).
pub fn cart_model(lines: Vec<LineView>) -> ModelRc<CartItem> {
    model(
        lines
            .into_iter()
            .map(|l| CartItem {
                name: s(&l.name),
                detail: s(&l.detail),
                qty: s(&l.qty),
                amount: s(&l.amount),
            })
            .collect(),
    )
}

/// The one character a key event carries, when it is one a scanner or a person types: Enter
/// or a printable character, not another control or one of Slint's special keys (arrows,
/// function keys: the private-use range U+F700..U+F8FF).
pub fn typed_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let enter = c == '\n' || c == '\r';
    let special = c.is_control() || ('\u{F700}'..='\u{F8FF}').contains(&c);
    (enter || !special).then_some(c)
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

    /// A key the window got while no text field had focus: scanner bursts become scans,
    /// anything typed slowly goes into the search field.
    pub(crate) fn key(self: &Rc<Self>, text: &str) -> bool {
        let Some(c) = typed_char(text) else {
            return false;
        };
        let at = self.started.elapsed().as_millis() as u64;
        let events = self.wedge.borrow_mut().key(c, at);
        self.wedge_events(events);
        let weak = Rc::downgrade(self);
        self.flush.start(
            slint::TimerMode::SingleShot,
            Duration::from_millis(60),
            move || {
                if let Some(app) = weak.upgrade() {
                    let at = app.started.elapsed().as_millis() as u64;
                    let events = app.wedge.borrow_mut().idle(at);
                    app.wedge_events(events);
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
                    if typed.is_empty() {
                        continue;
                    }
                    let sell = self.ui.global::<SellAdapter>();
                    let query = format!("{}{typed}", sell.get_query());
                    sell.set_query(s(&query));
                    self.act(|c| c.search(&query));
                }
            }
        }
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
            let ready =
                self.ctl
                    .borrow_mut()
                    .till_mut()
                    .ready_receipt(&self.printer, sale_id, reprint);
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

    /// Receipts waiting in the queue, counted for the status bar.
    fn refresh_queue(&self) {
        let queued = self
            .ctl
            .borrow_mut()
            .till_mut()
            .pending_receipts()
            .map(|p| p.len())
            .unwrap_or(0);
        self.status.borrow_mut().queued = queued;
    }

    fn send_receipt(&self, r: ReadyReceipt) {
        let sale = r.sale_id.clone();
        if self.services.print(Job::Receipt(r)) {
            self.printing.borrow_mut().insert(sale);
        }
    }

    /// Prints the queued receipts once the printer is back, but for those already on their way.
    fn retry_queue(self: &Rc<Self>) {
        let pending = self.ctl.borrow_mut().till_mut().pending_receipts();
        for p in pending.unwrap_or_default() {
            if self.printing.borrow().contains(&p.sale_id) {
                continue;
            }
            let ready = self.ctl.borrow_mut().till_mut().ready_receipt(
                &self.printer,
                &p.sale_id,
                p.reprint,
            );
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
        self.services.sync_soon();
        let weak = Rc::downgrade(self);
        self.tidy.start(
            slint::TimerMode::SingleShot,
            Duration::from_millis(50),
            move || {
                if let Some(app) = weak.upgrade() {
                    app.ctl.borrow_mut().tidy();
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
                    Ok(PrintOutcome::Queued { number, reason }) if zh => {
                        format!("小票 {number} 未打印（{reason}），已排队，打印机恢复后补打")
                    }
                    Ok(PrintOutcome::Queued { number, reason }) => {
                        format!("Receipt {number} not printed ({reason}): queued until the printer is back")
                    }
                    Err(e) => e.to_string(),
                };
                self.ui.global::<PayAdapter>().set_done_receipt(s(line));
                self.refresh_queue();
            }
            Event::SlipPrinted { .. } => {}
            Event::Printer(state) => {
                let back =
                    state.is_none() && matches!(self.status.borrow().printer, Some(Some(_)) | None);
                self.status.borrow_mut().printer = Some(state);
                self.refresh_queue();
                if back && self.status.borrow().queued > 0 {
                    self.retry_queue();
                }
            }
            Event::Scanned(code) => self.scanned(&code),
            Event::Scanner(state) => self.status.borrow_mut().scanner = Some(state),
            Event::SyncStarted => self.status.borrow_mut().sync = Sync::Syncing,
            Event::SyncFinished(done) => {
                let result = crate::uplink::apply(self.ctl.borrow_mut().till_mut(), *done);
                let catalog_changed = matches!(&result, Ok(r) if r.catalog_changed);
                {
                    let mut status = self.status.borrow_mut();
                    status.sync = match &result {
                        Ok(_) => Sync::Synced(chrono::Local::now().format("%H:%M").to_string()),
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
