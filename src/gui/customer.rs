//! The customer display's window: shows what [`TillController::customer_view`] says, in the
//! till's language, with the stall's payment QR while paying.
//!
//! [`TillController::customer_view`]: super::till::TillController::customer_view

use std::cell::RefCell;

use fairpos_domain::payment::Method;
use fairpos_domain::{Fen, Lang};
use slint::{ComponentHandle, Image};

use super::models::{cart_model, s, yuan};
use super::qr::qr_image;
use super::till::{CustomerScreen, CustomerView};
use super::ui::{self, CustomerAdapter, CustomerWindow};
use crate::config::Config;
use crate::error::{Error, Result};

pub struct CustomerDisplay {
    pub ui: CustomerWindow,
    /// What the stall's payment QR holds.
    payment_qr: String,
    /// The methods it takes, when they are known (the kiosk's code, `[kiosk]
    /// payment_method`): the caption names them.
    methods: Vec<Method>,
    /// Whether the QR image is drawn (it is drawn once).
    qr_drawn: RefCell<bool>,
}

/// The window size of `[customer_display] size` (`1024x600`), when it is one.
pub fn display_size(config: &Config) -> Option<slint::LogicalSize> {
    let text = config.customer_display.size.as_deref()?;
    let (w, h) = text.split_once('x')?;
    Some(slint::LogicalSize::new(w.parse().ok()?, h.parse().ok()?))
}

impl CustomerDisplay {
    /// The display of a till at the fair whose id is `fair`: the stall's payment code from
    /// `[customer_display] payment_qr`, else the kiosk's; none (and said so) while that is
    /// the demo's placeholder at a real fair.
    pub fn new(config: &Config, fair: &str) -> Result<CustomerDisplay> {
        let ui = CustomerWindow::new()
            .map_err(|e| Error::Other(format!("the customer display's window: {e}")))?;
        if let Some(size) = display_size(config) {
            ui.window().set_size(size);
            ui.set_small(size.height < 560.0);
        }
        let payment_qr = match &config.customer_display.payment_qr {
            Some(code) => code.clone(),
            None => config
                .kiosk
                .payment_qr_at(fair)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    eprintln!(
                        "the customer display shows no payment code: set the stall's with \
                         [customer_display] payment_qr in fairpos.toml"
                    );
                    String::new()
                }),
        };
        // Names the kiosk refuses at its start name none here.
        let methods = match &config.customer_display.payment_qr {
            Some(_) => Vec::new(),
            None => super::kiosk::qr_methods(&config.kiosk.payment_method).unwrap_or_default(),
        };
        Ok(CustomerDisplay {
            ui,
            payment_qr,
            methods,
            qr_drawn: RefCell::new(false),
        })
    }

    /// Shows `view` of the till whose fair is `fair`.
    pub fn show(&self, view: &CustomerView, fair: &str, lang: Lang) {
        let c = self.ui.global::<CustomerAdapter>();
        c.set_fair(s(fair));
        c.set_screen(match view.screen {
            CustomerScreen::Welcome => ui::CustomerScreen::Welcome,
            CustomerScreen::Cart => ui::CustomerScreen::Cart,
            CustomerScreen::Pay => ui::CustomerScreen::Pay,
            CustomerScreen::Thanks => ui::CustomerScreen::Thanks,
        });
        c.set_cart(cart_model(view.lines.clone()));
        c.set_items(s(&view.items));
        c.set_total(yuan(view.total));
        c.set_paid(yuan(view.paid));
        c.set_remaining(yuan(view.remaining));
        c.set_change(yuan(view.change));
        c.set_sale_number(s(&view.sale));
        if view.screen == CustomerScreen::Pay {
            if !*self.qr_drawn.borrow() {
                c.set_qr(if self.payment_qr.is_empty() {
                    Image::default()
                } else {
                    qr_image(&self.payment_qr)
                });
                *self.qr_drawn.borrow_mut() = true;
            }
            c.set_qr_caption(s(caption(view.by_qr, lang, &self.methods)));
        }
    }
}

/// What the display asks the shopper: to scan the code with the methods it takes (WeChat
/// or Alipay when they are not known).
fn caption(amount: Fen, lang: Lang, methods: &[Method]) -> String {
    let names = match (methods.is_empty(), lang) {
        (true, Lang::Zh) => "微信或支付宝".to_string(),
        (true, Lang::En) => "WeChat or Alipay".to_string(),
        (false, _) => super::views::method_names(methods, lang),
    };
    match lang {
        Lang::Zh => format!("{names}扫码，支付 ￥{amount}"),
        Lang::En => format!("Scan with {names} and pay ￥{amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caption names the methods the kiosk's code takes, which the display shows when it
    /// has no code of its own; WeChat or Alipay when they are not known.
    #[test]
    fn the_caption_names_the_methods_the_code_takes() {
        let amount = Fen(1990);
        assert_eq!(
            caption(amount, Lang::En, &[]),
            "Scan with WeChat or Alipay and pay ￥19.90"
        );
        assert_eq!(
            caption(amount, Lang::Zh, &[Method::Wechat]),
            "微信支付扫码，支付 ￥19.90"
        );
        assert_eq!(
            caption(amount, Lang::En, &[Method::Wechat, Method::Alipay]),
            "Scan with WeChat Pay or Alipay and pay ￥19.90"
        );
    }
}
