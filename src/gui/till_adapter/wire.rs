//! Connects every callback of the till's window to the app.

use std::rc::{Rc, Weak};

use fairpos_domain::Lang;
use slint::{ComponentHandle, SharedString};

use super::TillApp;
use crate::gui::services::ScaleJob;
use crate::gui::till::{Changed, Screen};
use crate::gui::ui::{
    CashAdapter, Nav, PayAdapter, SaleAdapter, SellAdapter, ShiftAdapter, SignInAdapter,
    UnitAdapter,
};
use crate::gui::views::Message;

/// Connects every callback of the window to the app. Callbacks hold the app weakly: the
/// window owns them, and the app owns the window.
pub(super) fn wire(app: &Rc<TillApp>) {
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
        let closed = std::cell::Cell::new(false);
        a.act(|c| {
            closed.set(c.close_shift());
            Changed::default()
        });
        if closed.get() {
            a.print_slip();
            a.services.sync_soon();
        }
    });
    on!(ShiftAdapter, on_slip_done, |a| a.act(|c| {
        c.slip_done();
        Changed::default()
    }));
    on!(ShiftAdapter, on_cancel, |a| a.act(|c| {
        c.screen = Screen::Sell;
        Changed::default()
    }));

    on!(SellAdapter, on_search, |a, q: SharedString| a
        .act(|c| c.search(&q)));
    on!(SellAdapter, on_code_entered, |a, text: SharedString| a
        .code_entered(&text));
    on!(SellAdapter, on_turn_page, |a, delta: i32| a
        .act(|c| c.turn_page(delta)));
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
    on!(SellAdapter, on_weigh_ok, |a| {
        a.act(|c| {
            c.weigh_ok();
            Changed::default()
        });
        if a.ctl.borrow_mut().take_weigh_now() && !a.services.scale(ScaleJob::WeighNow) {
            // No scale thread to ask: the weight shown is the one there is.
            a.act(|c| {
                c.fresh_reading_unavailable();
                Changed::default()
            });
        }
    });
    on!(SellAdapter, on_weigh_cancel, |a| a.act(|c| {
        c.weigh_cancel();
        Changed::default()
    }));
    on!(SellAdapter, on_weigh_zero, |a| {
        a.services.scale(ScaleJob::Zero);
    });
    on!(SellAdapter, on_weigh_tare, |a| {
        a.services.scale(ScaleJob::Tare);
    });
    on!(SellAdapter, on_open_sales, |a| a.act(|c| {
        c.open_sales();
        Changed::default()
    }));
    on!(SellAdapter, on_close_shift, |a| a.act(|c| {
        c.start_close_shift();
        Changed::default()
    }));
    on!(SellAdapter, on_cash_move, |a| a.act(|c| {
        c.start_cash_move();
        Changed::default()
    }));
    on!(CashAdapter, on_key, |a, k: SharedString| a.act(|c| {
        c.cash_key(&k);
        Changed::default()
    }));
    on!(CashAdapter, on_direction, |a, out: bool| a.act(|c| {
        c.cash_direction(out);
        Changed::default()
    }));
    on!(CashAdapter, on_choose_reason, |a, i: i32| a.act(|c| {
        c.cash_reason(usize::try_from(i).unwrap_or(usize::MAX));
        Changed::default()
    }));
    on!(CashAdapter, on_pin_key, |a, k: SharedString| a.act(|c| {
        c.pin_key(&k);
        Changed::default()
    }));
    on!(CashAdapter, on_record, |a| {
        a.act(|c| {
            c.record_cash_move();
            Changed::default()
        });
        a.services.sync_soon();
    });
    on!(CashAdapter, on_cancel, |a| a.act(|c| {
        c.screen = Screen::Sell;
        Changed::default()
    }));
    on!(SellAdapter, on_reprint_last, |a| {
        let last = a.ctl.borrow().last_sale.clone();
        match last {
            Some(id) => {
                a.print(&id, true);
                let line = a.ui.global::<PayAdapter>().get_done_receipt();
                a.act(|c| {
                    c.message = Some(Message::of(|_| line.to_string(), false));
                    Changed::default()
                });
            }
            None => a.act(|c| {
                let none = |lang| match lang {
                    Lang::Zh => "本次还没有销售".into(),
                    Lang::En => "No sale yet in this session".into(),
                };
                c.message = Some(Message::of(none, false));
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
