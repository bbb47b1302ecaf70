//! Draws the till controller's state into the window's globals.

use fairpos_domain::shift::DENOMINATIONS;
use fairpos_domain::{Fen, Lang};
use slint::ComponentHandle;

use super::TillApp;
use crate::gui::models::{cart_model, model, s, translation, yuan};
use crate::gui::qr::qr_image;
use crate::gui::status::Sync;
use crate::gui::till::{Changed, Screen, TillController};
use crate::gui::ui::{
    self, CashAdapter, DenomItem, Nav, PayAdapter, ProductItem, SaleAdapter, SaleLineItem,
    SellAdapter, SellerItem, ShiftAdapter, SignInAdapter, Status, SyncState, TenderItem,
    UnitAdapter, UnitItem,
};
use crate::till::slip::slip_receipt;

/// The screen as the window names it.
fn ui_screen(screen: Screen) -> ui::Screen {
    match screen {
        Screen::SignIn => ui::Screen::SignIn,
        Screen::OpenShift => ui::Screen::OpenShift,
        Screen::Sell => ui::Screen::Sell,
        Screen::Pay => ui::Screen::Pay,
        Screen::Done => ui::Screen::Done,
        Screen::CloseShift => ui::Screen::CloseShift,
        Screen::ShiftSlip => ui::Screen::ShiftSlip,
        Screen::Sale => ui::Screen::Sale,
        Screen::Units => ui::Screen::Units,
        Screen::CashMove => ui::Screen::CashMove,
    }
}

/// How sync stands, as the status bar marks it.
fn sync_state(sync: &Sync) -> SyncState {
    match sync {
        Sync::NotEnrolled => SyncState::NotEnrolled,
        Sync::Syncing | Sync::Waiting => SyncState::Syncing,
        Sync::Synced(_) => SyncState::Synced,
        Sync::Offline(_) => SyncState::Offline,
        Sync::Refused(_) => SyncState::Refused,
    }
}

impl TillApp {
    /// Draws the whole state; the product grid and unit list only when `changed` says.
    pub fn render(&self, changed: Changed) {
        let ctl = self.ctl.borrow();
        let ui = &self.ui;
        let nav = ui.global::<Nav>();
        nav.set_screen(ui_screen(ctl.screen));
        nav.set_language(s(translation(ctl.lang)));
        match &ctl.message {
            Some(m) => {
                nav.set_message(s(m.text(ctl.lang)));
                nav.set_message_bad(m.bad);
            }
            None => nav.set_message(s("")),
        }
        self.render_status(&ctl);
        self.render_customer(&ctl);

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
            let (products, page, pages) = ctl.products();
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
            sell.set_page_text(s(match (pages, ctl.lang) {
                (1, _) => String::new(),
                (n, Lang::Zh) => format!("第 {} / {n} 页", page + 1),
                (n, Lang::En) => format!("page {} of {n}", page + 1),
            }));
            sell.set_has_prev(page > 0);
            sell.set_has_next(page + 1 < pages);
        }
        sell.set_cart(cart_model(ctl.lines()));
        sell.set_total(yuan(ctl.total()));
        sell.set_items(s(match ctl.lang {
            Lang::Zh => format!("{} 项", ctl.item_count()),
            Lang::En => format!("{} lines", ctl.item_count()),
        }));
        sell.set_buyer(s(ctl.buyer_text()));
        sell.set_has_scale(ctl.has_scale);
        if let Some((live, ok)) = ctl.live_weight() {
            sell.set_weigh_live(s(live));
            sell.set_weigh_live_ok(ok);
        }
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
                    .zip(DENOMINATIONS)
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
        if let (Screen::ShiftSlip, Some(shown)) = (ctl.screen, &ctl.slip) {
            let paper = slip_receipt(ctl.till().store().identity(), &shown.slip, &shown.text);
            let rows: Vec<(String, String)> = paper
                .header
                .into_iter()
                .chain(
                    paper
                        .payments
                        .into_iter()
                        .map(|(m, fen)| (m, yuan(Fen(fen)).into())),
                )
                .collect();
            shift.set_slip_labels(model(rows.iter().map(|(l, _)| s(l)).collect()));
            shift.set_slip_values(model(rows.iter().map(|(_, v)| s(v)).collect()));
            shift.set_slip_qr(qr_image(&shown.text));
            shift.set_slip_caption(s(&paper.qr_caption));
        }

        if ctl.screen == Screen::CashMove {
            let cash = ui.global::<CashAdapter>();
            cash.set_amount(s(&ctl.cash.input));
            cash.set_out(ctl.cash.out);
            cash.set_reasons(model(ctl.cash_reasons().iter().map(s).collect()));
            cash.set_reason(ctl.cash.reason.map_or(-1, |i| i as i32));
            cash.set_pin_dots(s(ctl.pin_dots()));
        }

        let sale = ui.global::<SaleAdapter>();
        sale.set_pin_dots(s(ctl.pin_dots()));
        match &ctl.sale {
            Some(v) => {
                sale.set_found(true);
                let (code, text) = match v.paid_other {
                    Some(m) if ctl.lang == Lang::Zh => {
                        (m.as_str(), format!("退回{}", m.label_zh()))
                    }
                    Some(m) => (m.as_str(), format!("Refund {}", m.label_en())),
                    None => ("", String::new()),
                };
                sale.set_refund_as_paid(s(code));
                sale.set_refund_as_paid_text(s(text));
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
            None => {
                sale.set_found(false);
                sale.set_refund_as_paid(s(""));
                sale.set_refund_as_paid_text(s(""));
            }
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

    /// The customer display, when there is one, mirrors the till.
    fn render_customer(&self, ctl: &TillController) {
        if let Some(display) = &*self.customer.borrow() {
            let fair = &ctl.till().store().identity().fair.name;
            display.show(&ctl.customer_view(), fair, ctl.lang);
        }
    }

    fn render_status(&self, ctl: &TillController) {
        let status = self.status.borrow();
        let g = self.ui.global::<Status>();
        let identity = ctl.till().store().identity();
        g.set_fair(s(&identity.fair.name));
        g.set_till(s(format!("{} · {}", identity.device, identity.stall)));
        g.set_seller(s(ctl.seller().map(|x| x.name.as_str()).unwrap_or("")));
        g.set_sync_state(sync_state(&status.sync));
        g.set_sync_text(s(status.sync_text(ctl.lang)));
        g.set_printer_ok(status.printer_ok());
        g.set_printer_text(s(status.printer_text(ctl.lang)));
        g.set_scanner_ok(status.scanner_ok());
        g.set_scanner_text(s(status.scanner_text(ctl.lang)));
    }
}
