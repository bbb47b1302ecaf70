//! Shows the till controller's state in the Slint window and forwards taps, keys and the
//! background threads' events to it. With `kiosk_adapter.rs`, the only code that touches
//! the generated UI types.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use fairpos_hardware::config::PrinterConfig;
use fairpos_hardware::scanner::wedge::{BurstDetector, WedgeConfig, WedgeEvent};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::controller::{Changed, Lang, LineView, Screen, TillController};
use super::services::{Event, Job, Services};
use super::status::{StatusLine, Sync};
use super::ui::{
    CartItem, DenomItem, Nav, PayAdapter, ProductItem, SaleAdapter, SaleLineItem, SellAdapter,
    SellerItem, ShiftAdapter, SignInAdapter, Status, TenderItem, TillWindow, UnitAdapter, UnitItem,
};
use crate::domain::Fen;
use crate::till::printing::{PrintOutcome, ReadyReceipt};

pub struct TillApp {
    pub ui: TillWindow,
    pub ctl: RefCell<TillController>,
    services: Services,
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

fn s(text: impl AsRef<str>) -> SharedString {
    SharedString::from(text.as_ref())
}

fn yuan(f: Fen) -> SharedString {
    s(format!("￥{f}"))
}

fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// Picks the UI language from the bundled translations.
pub fn set_language(lang: Lang) {
    if let Err(e) = slint::select_bundled_translation(lang.code()) {
        eprintln!("language {}: {e}", lang.code());
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
        wire(&app);
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
    fn act(self: &Rc<Self>, f: impl FnOnce(&mut TillController) -> Changed) {
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

    /// Draws the whole state; the product grid and unit list only when `changed` says.
    pub fn render(&self, changed: Changed) {
        let ctl = self.ctl.borrow();
        let ui = &self.ui;
        let nav = ui.global::<Nav>();
        nav.set_screen(ctl.screen.index());
        nav.set_language(s(ctl.lang.code()));
        match &ctl.message {
            Some(m) => {
                nav.set_message(s(&m.text));
                nav.set_message_bad(m.bad);
            }
            None => nav.set_message(s("")),
        }
        self.render_status(&ctl);

        let sign_in = ui.global::<SignInAdapter>();
        if ctl.screen == Screen::SignIn {
            sign_in.set_sellers(model(
                ctl.sellers()
                    .into_iter()
                    .map(|x| SellerItem {
                        id: s(&x.id),
                        name: s(&x.name),
                        team: s(&x.team),
                    })
                    .collect(),
            ));
        }
        sign_in.set_selected(s(ctl.selected_seller.as_deref().unwrap_or("")));
        sign_in.set_pin_dots(s(ctl.pin_dots()));

        let sell = ui.global::<SellAdapter>();
        if changed.products {
            let (products, more) = ctl.products();
            sell.set_categories(model(ctl.categories().iter().map(s).collect()));
            sell.set_category(ctl.category().map_or(-1, |c| c as i32));
            sell.set_products(model(
                products
                    .into_iter()
                    .map(|p| ProductItem {
                        sku: s(&p.sku),
                        name: s(&p.name),
                        price: s(&p.price),
                        stock: s(&p.stock),
                        low: p.low,
                    })
                    .collect(),
            ));
            sell.set_more(s(match (more, ctl.lang) {
                (0, _) => String::new(),
                (n, Lang::Zh) => format!("还有 {n} 件商品：请搜索或选择分类"),
                (n, Lang::En) => format!("{n} more: search or pick a category"),
            }));
        }
        sell.set_cart(cart_model(ctl.lines()));
        sell.set_total(yuan(ctl.total()));
        sell.set_items(s(match ctl.lang {
            Lang::Zh => format!("{} 项", ctl.item_count()),
            Lang::En => format!("{} lines", ctl.item_count()),
        }));
        sell.set_buyer(s(ctl.buyer_text()));
        match &ctl.weighing {
            Some(w) => {
                sell.set_weighing(true);
                sell.set_weigh_name(s(format!(
                    "{} ￥{}/{}",
                    w.product.name_zh, w.product.price, w.product.unit
                )));
                sell.set_weigh_unit(s(&w.product.unit));
                sell.set_weigh_input(s(&w.input));
            }
            None => sell.set_weighing(false),
        }

        let pay = ui.global::<PayAdapter>();
        let view = ctl.pay_view();
        pay.set_due(yuan(view.due));
        pay.set_paid(yuan(view.paid));
        pay.set_remaining(yuan(view.remaining));
        pay.set_change(yuan(view.change));
        pay.set_can_complete(view.can_complete);
        pay.set_input(s(&ctl.keypad));
        pay.set_tenders(model(
            view.tenders
                .into_iter()
                .map(|t| TenderItem {
                    method: s(&t.method),
                    amount: s(&t.amount),
                })
                .collect(),
        ));
        if let Some(done) = &ctl.completed {
            pay.set_done_number(s(&done.number));
            pay.set_done_total(yuan(done.total));
            pay.set_done_change(yuan(done.change));
        }

        let shift = ui.global::<ShiftAdapter>();
        shift.set_float_input(s(&ctl.float_input));
        if ctl.screen == Screen::CloseShift {
            let v = ctl.shift_view();
            let labels = TillController::denomination_labels();
            shift.set_counts(model(
                labels
                    .iter()
                    .zip(v.counts)
                    .zip(crate::domain::shift::DENOMINATIONS)
                    .map(|((label, n), d)| DenomItem {
                        label: s(label),
                        count: n as i32,
                        subtotal: yuan(d.times(i64::from(n))),
                    })
                    .collect(),
            ));
            shift.set_expected(yuan(v.expected));
            shift.set_counted(yuan(v.counted));
            shift.set_variance(yuan(v.variance));
            shift.set_variance_bad(v.variance != Fen::ZERO);
        }

        let sale = ui.global::<SaleAdapter>();
        sale.set_pin_dots(s(ctl.pin_dots()));
        match &ctl.sale {
            Some(v) => {
                sale.set_found(true);
                sale.set_number(s(&v.number));
                sale.set_status(s(&v.status));
                sale.set_total(yuan(v.total));
                sale.set_lines(model(
                    v.lines
                        .iter()
                        .map(|l| SaleLineItem {
                            name: s(&l.name),
                            sold: s(&l.sold),
                            asked: l.asked as i32,
                            max: l.refundable as i32,
                        })
                        .collect(),
                ));
            }
            None => sale.set_found(false),
        }

        if changed.units {
            ui.global::<UnitAdapter>().set_units(model(
                ctl.units()
                    .into_iter()
                    .map(|u| UnitItem {
                        code: s(&u.tax_id),
                        name: s(&u.name),
                    })
                    .collect(),
            ));
        }
    }

    fn render_status(&self, ctl: &TillController) {
        let status = self.status.borrow();
        let g = self.ui.global::<Status>();
        let identity = ctl.till().store().identity();
        g.set_fair(s(&identity.fair.name));
        g.set_till(s(format!("{} · {}", identity.device, identity.stall)));
        g.set_seller(s(ctl.seller().map(|x| x.name.as_str()).unwrap_or("")));
        g.set_sync_state(status.sync_state());
        g.set_sync_text(s(status.sync_text(ctl.lang)));
        g.set_printer_ok(status.printer_ok());
        g.set_printer_text(s(status.printer_text(ctl.lang)));
        g.set_scanner_ok(status.scanner_ok());
        g.set_scanner_text(s(status.scanner_text(ctl.lang)));
    }

    /// A key the window got while no text field had focus: scanner bursts become scans,
    /// anything typed slowly goes into the search field.
    fn key(self: &Rc<Self>, text: &str) -> bool {
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

    fn print(self: &Rc<Self>, sale_id: &str, reprint: bool) {
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
    fn after_sale(self: &Rc<Self>, sale_id: &str) {
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
                let now = crate::cli::now(self.ctl.borrow().till());
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

/// Connects every callback of the window to the app. Callbacks hold the app weakly: the
/// window owns them, and the app owns the window.
fn wire(app: &Rc<TillApp>) {
    let ui = &app.ui;
    macro_rules! on {
        ($global:ty, $setter:ident, |$a:ident $(, $arg:ident : $t:ty)*| $body:expr) => {{
            let weak: Weak<TillApp> = Rc::downgrade(app);
            ui.global::<$global>().$setter(move |$($arg: $t),*| {
                if let Some($a) = weak.upgrade() {
                    $body
                }
            });
        }};
    }

    on!(Nav, on_set_language, |a, lang: SharedString| {
        a.set_lang(if lang.is_empty() { Lang::En } else { Lang::Zh });
    });
    {
        let weak: Weak<TillApp> = Rc::downgrade(app);
        ui.global::<Nav>().on_key(move |text| match weak.upgrade() {
            Some(a) => a.key(&text),
            None => false,
        });
    }
    on!(Nav, on_dismiss_message, |a| a.act(|c| {
        c.dismiss_message();
        Changed::default()
    }));

    on!(SignInAdapter, on_select, |a, id: SharedString| a.act(|c| {
        c.select_seller(&id);
        Changed::default()
    }));
    on!(SignInAdapter, on_pin_key, |a, k: SharedString| a.act(|c| {
        c.pin_key(&k);
        Changed::default()
    }));
    on!(SignInAdapter, on_sign_in, |a| a.act(|c| {
        c.sign_in();
        Changed {
            products: true,
            units: false,
        }
    }));

    on!(ShiftAdapter, on_float_key, |a, k: SharedString| a.act(
        |c| {
            c.float_key(&k);
            Changed::default()
        }
    ));
    on!(ShiftAdapter, on_open_shift, |a| a.act(|c| {
        c.open_shift();
        Changed::default()
    }));
    on!(ShiftAdapter, on_count, |a, i: i32, d: i32| a.act(|c| {
        c.count(i as usize, d);
        Changed::default()
    }));
    on!(ShiftAdapter, on_close_shift, |a| {
        a.act(|c| {
            c.close_shift();
            Changed::default()
        });
        a.services.sync_soon();
    });
    on!(ShiftAdapter, on_cancel, |a| a.act(|c| {
        c.screen = Screen::Sell;
        Changed::default()
    }));

    on!(SellAdapter, on_search, |a, q: SharedString| a
        .act(|c| c.search(&q)));
    on!(SellAdapter, on_code_entered, |a, text: SharedString| {
        let cleared = a.ctl.borrow_mut().code_entered(&text);
        if cleared {
            a.ui.global::<SellAdapter>().set_query(s(""));
        }
        a.render(Changed {
            products: true,
            units: false,
        });
    });
    on!(SellAdapter, on_pick_category, |a, i: i32| a
        .act(|c| { c.set_category(usize::try_from(i).ok()) }));
    on!(SellAdapter, on_add, |a, sku: SharedString| a.act(|c| {
        c.add_product(&sku);
        Changed::default()
    }));
    on!(SellAdapter, on_inc, |a, i: i32| a.act(|c| {
        c.inc(i as usize);
        Changed::default()
    }));
    on!(SellAdapter, on_dec, |a, i: i32| a.act(|c| {
        c.dec(i as usize);
        Changed::default()
    }));
    on!(SellAdapter, on_remove, |a, i: i32| a.act(|c| {
        c.remove(i as usize);
        Changed::default()
    }));
    on!(SellAdapter, on_clear, |a| a.act(|c| {
        c.clear_cart();
        Changed::default()
    }));
    on!(SellAdapter, on_pay, |a| a.act(|c| {
        c.start_pay();
        Changed::default()
    }));
    on!(SellAdapter, on_choose_buyer, |a| a
        .act(|c| c.choose_buyer()));
    on!(SellAdapter, on_weigh_key, |a, k: SharedString| a.act(|c| {
        c.weigh_key(&k);
        Changed::default()
    }));
    on!(SellAdapter, on_weigh_ok, |a| a.act(|c| {
        c.weigh_ok();
        Changed::default()
    }));
    on!(SellAdapter, on_weigh_cancel, |a| a.act(|c| {
        c.weigh_cancel();
        Changed::default()
    }));
    on!(SellAdapter, on_open_sales, |a| a.act(|c| {
        c.open_sales();
        Changed::default()
    }));
    on!(SellAdapter, on_close_shift, |a| a.act(|c| {
        c.start_close_shift();
        Changed::default()
    }));
    on!(SellAdapter, on_reprint_last, |a| {
        let last = a.ctl.borrow().last_sale.clone();
        match last {
            Some(id) => {
                a.print(&id, true);
                let line = a.ui.global::<PayAdapter>().get_done_receipt();
                a.act(|c| {
                    c.message = Some(super::controller::Message {
                        text: line.to_string(),
                        bad: false,
                    });
                    Changed::default()
                });
            }
            None => a.act(|c| {
                c.message = Some(super::controller::Message {
                    text: match c.lang {
                        Lang::Zh => "本次还没有销售".into(),
                        Lang::En => "No sale yet in this session".into(),
                    },
                    bad: false,
                });
                Changed::default()
            }),
        }
    });
    on!(SellAdapter, on_sign_out, |a| a.act(|c| {
        c.sign_out();
        Changed::default()
    }));

    on!(PayAdapter, on_key, |a, k: SharedString| a.act(|c| {
        c.pay_key(&k);
        Changed::default()
    }));
    on!(PayAdapter, on_tender, |a, m: SharedString| a.act(|c| {
        c.tender(&m);
        Changed::default()
    }));
    on!(PayAdapter, on_quick, |a, q: SharedString| a.act(|c| {
        c.quick(&q);
        Changed::default()
    }));
    on!(PayAdapter, on_remove, |a, i: i32| a.act(|c| {
        c.remove_tender(i as usize);
        Changed::default()
    }));
    on!(PayAdapter, on_complete, |a| {
        let done = a.ctl.borrow_mut().complete();
        a.render(Changed {
            products: true,
            units: false,
        });
        if let Some(done) = done {
            a.after_sale(&done.id);
        }
    });
    on!(PayAdapter, on_cancel, |a| a.act(|c| {
        c.back_to_cart();
        Changed::default()
    }));
    on!(PayAdapter, on_new_sale, |a| a.act(|c| {
        c.next_sale();
        Changed::default()
    }));
    on!(PayAdapter, on_reprint, |a| {
        let last = a.ctl.borrow().last_sale.clone();
        if let Some(id) = last {
            a.print(&id, true);
        }
    });

    on!(SaleAdapter, on_lookup, |a, key: SharedString| a.act(|c| {
        c.lookup_sale(&key);
        Changed::default()
    }));
    on!(SaleAdapter, on_ask, |a, i: i32, d: i32| a.act(|c| {
        c.ask_refund(i as usize, d);
        Changed::default()
    }));
    on!(SaleAdapter, on_pin_key, |a, k: SharedString| a.act(|c| {
        c.pin_key(&k);
        Changed::default()
    }));
    on!(SaleAdapter, on_void, |a, reason: SharedString| a.act(|c| {
        c.void_sale(&reason);
        Changed {
            products: true,
            units: false,
        }
    }));
    on!(SaleAdapter, on_refund, |a, method: SharedString| a.act(
        |c| {
            c.refund(&method);
            Changed {
                products: true,
                units: false,
            }
        }
    ));
    on!(SaleAdapter, on_close, |a| a.act(|c| {
        c.close_sale();
        Changed::default()
    }));

    on!(UnitAdapter, on_search, |a, q: SharedString| a
        .act(|c| c.search_units(&q)));
    on!(UnitAdapter, on_pick, |a, code: SharedString| a.act(|c| {
        c.pick_unit(&code);
        Changed::default()
    }));
    on!(UnitAdapter, on_individual, |a| a.act(|c| {
        c.individual();
        Changed::default()
    }));
    on!(UnitAdapter, on_close, |a| a.act(|c| {
        c.screen = Screen::Sell;
        Changed::default()
    }));
}
