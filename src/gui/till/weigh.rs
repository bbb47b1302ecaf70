//! The weight pad: a weighed product's weight, typed on the keypad or read from the stall's
//! scale. With a scale, the pad shows the live weight; "Add" asks the scale once more and
//! takes that answer once settled (pressed while the goods still move, the line goes in
//! the moment the scale settles): the weight shown was read up to a quarter second before,
//! and goods put on the plate since were not charged. A weight typed on the keypad wins
//! over the scale's.

use fairpos_domain::catalog::Product;
use fairpos_domain::{DomainError, QuantityIssue, ScaleIssue};
use fairpos_hardware::scale::Reading;

use super::TillController;
use crate::gui::views::{edit_digits, pick};
use crate::till::weighing::sellable_grams;

/// Why the scale gives no weight, as the pad tells it: a scale not reached (its cable, its
/// power, its port) is "not connected"; one that answers in words the till cannot read (its
/// protocol or baud set wrong) is said so, not sent to check the cables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleTrouble {
    Unreached(String),
    Unread(String),
}

impl ScaleTrouble {
    pub fn of(e: &fairpos_hardware::Error) -> ScaleTrouble {
        if e.is_unreached() {
            ScaleTrouble::Unreached(e.to_string())
        } else {
            ScaleTrouble::Unread(e.to_string())
        }
    }

    fn why(&self) -> &str {
        match self {
            ScaleTrouble::Unreached(why) | ScaleTrouble::Unread(why) => why,
        }
    }
}

/// The weighed product whose weight the pad is taking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weighing {
    pub product: Product,
    /// Cart line whose weight is being changed; `None` for a new line.
    pub line: Option<usize>,
    /// What the keypad typed, in the product's unit.
    pub input: String,
    /// What the scale shows now, or why it shows nothing; `None` before its first answer.
    pub live: Option<Result<Reading, ScaleTrouble>>,
    /// "Add" was pressed while the scale had not settled, or its weight is asked again.
    pub waiting: bool,
    /// "Add" was pressed with a settled weight shown: the line takes the answer to the
    /// question asked after the press ([`TillController::fresh_reading`]), none before it.
    pub asked_at_add: bool,
}

impl Weighing {
    pub fn new(product: Product, line: Option<usize>) -> Weighing {
        Weighing {
            product,
            line,
            input: String::new(),
            live: None,
            waiting: false,
            asked_at_add: false,
        }
    }
}

impl TillController {
    pub fn weigh_key(&mut self, key: &str) {
        if let Some(w) = &mut self.weighing {
            edit_digits(&mut w.input, key, 3, 8);
            w.waiting = false;
        }
    }

    pub fn weigh_cancel(&mut self) {
        self.weighing = None;
    }

    /// "Add": the typed weight, else the scale's settled weight (or as soon as it settles).
    pub fn weigh_ok(&mut self) {
        let Some(mut w) = self.weighing.take() else {
            return;
        };
        if !w.input.is_empty() {
            return self.add_typed(w);
        }
        if !self.has_scale {
            self.say("请输入重量", "Type the weight first");
            self.weighing = Some(w);
            return;
        }
        match &w.live {
            Some(Ok(reading)) => match sellable_grams(reading) {
                // Asked once more: the line takes what the plate holds at the press.
                Ok(_) => {
                    (w.waiting, w.asked_at_add) = (true, true);
                    self.weigh_now = true;
                    self.weighing = Some(w);
                }
                Err(DomainError::ScaleNotReady(ScaleIssue::Motion)) => {
                    w.waiting = true;
                    self.say(
                        "秤稳定后自动加入",
                        "The line goes in as soon as the scale settles",
                    );
                    self.weighing = Some(w);
                }
                Err(e) => {
                    self.fail(e);
                    self.weighing = Some(w);
                }
            },
            Some(Err(trouble)) => {
                let why = trouble.why().to_string();
                self.fail(DomainError::ScaleNotReady(ScaleIssue::Fault(why)));
                self.weighing = Some(w);
            }
            None => {
                w.waiting = true;
                self.weighing = Some(w);
            }
        }
    }

    /// Whether the scale is to be asked at once ("Add" pressed with a settled weight shown),
    /// once: the adapter asks it, and its answer comes to [`TillController::fresh_reading`].
    pub fn take_weigh_now(&mut self) -> bool {
        std::mem::take(&mut self.weigh_now)
    }

    /// The scale's answer to the question asked at "Add": taken once settled; said when it
    /// is not (its line went in by itself once the scale was back, minutes later perhaps).
    pub fn fresh_reading(&mut self, reading: Result<Reading, ScaleTrouble>) {
        let Some(w) = &mut self.weighing else {
            return;
        };
        w.asked_at_add = false;
        match &reading {
            Err(trouble) => {
                w.waiting = false;
                let why = trouble.why().to_string();
                w.live = Some(reading);
                self.fail(DomainError::ScaleNotReady(ScaleIssue::Fault(why)));
            }
            Ok(r)
                if matches!(
                    sellable_grams(r),
                    Err(DomainError::ScaleNotReady(ScaleIssue::Motion))
                ) =>
            {
                self.say(
                    "秤稳定后自动加入",
                    "The line goes in as soon as the scale settles",
                );
                self.scale_reading(reading);
            }
            Ok(_) => self.scale_reading(reading),
        }
    }

    /// No question could be asked at "Add" (the scale's thread is gone): the weight shown
    /// is taken as the answer.
    pub fn fresh_reading_unavailable(&mut self) {
        let shown = self.weighing.as_ref().and_then(|w| w.live.clone());
        if let Some(reading) = shown {
            self.fresh_reading(reading);
        }
    }

    /// What the scale answered (a background thread reads it while the pad is open).
    pub fn scale_reading(&mut self, reading: Result<Reading, ScaleTrouble>) {
        let Some(mut w) = self.weighing.take() else {
            return;
        };
        let settled = match &reading {
            // Read before the question asked at "Add" was answered: shown, not taken.
            Ok(_) if w.asked_at_add => None,
            Ok(r) if w.waiting => Some(sellable_grams(r)),
            _ => None,
        };
        w.live = Some(reading);
        match settled {
            Some(Ok(grams)) => self.add_weighed(w, grams),
            // Still moving: keep waiting.
            Some(Err(DomainError::ScaleNotReady(ScaleIssue::Motion))) | None => {
                self.weighing = Some(w)
            }
            Some(Err(e)) => {
                w.waiting = false;
                self.fail(e);
                self.weighing = Some(w);
            }
        }
    }

    /// The live weight as the pad shows it.
    pub fn live_weight(&self) -> Option<(String, bool)> {
        let w = self.weighing.as_ref()?;
        if !self.has_scale {
            return None;
        }
        let zh = |a: &str, b: &str| pick(self.lang, a, b).to_string();
        Some(match &w.live {
            None => (zh("正在读秤…", "Reading the scale…"), false),
            Some(Err(ScaleTrouble::Unreached(_))) => (zh("秤未连接", "Scale not connected"), false),
            // Short, as the pad's line is; "Add" says why in full.
            Some(Err(ScaleTrouble::Unread(_))) => {
                (zh("秤应答无法识别", "Scale answer unreadable"), false)
            }
            Some(Ok(r)) => {
                let kg = kilograms(r.grams);
                match sellable_grams(r) {
                    Ok(_) => (format!("{kg} · {}", zh("稳定", "stable")), true),
                    // A scale that answers with its status alone (the 8217 in motion or
                    // overloaded) gives no weight: only why.
                    Err(e) if r.grams == 0 => (e.words(self.lang), false),
                    Err(e) => (format!("{kg} · {}", e.words(self.lang)), false),
                }
            }
        })
    }

    fn add_typed(&mut self, w: Weighing) {
        match w.product.base_qty_from_units(&w.input) {
            Ok(g) if g > 0 => self.add_weighed(w, g),
            Ok(_) => {
                self.say("请输入重量", "Type the weight first");
                self.weighing = Some(w);
            }
            Err(_) => {
                self.fail(DomainError::BadQuantity {
                    item: w.product.sku.clone(),
                    why: QuantityIssue::NotAWeight {
                        text: w.input.clone(),
                        unit: w.product.unit.clone(),
                    },
                });
                self.weighing = Some(w);
            }
        }
    }

    fn add_weighed(&mut self, w: Weighing, grams: i64) {
        let result = match w.line {
            Some(i) => self.cart.set_grams(i, grams).map(|_| ()),
            None => self.cart.add_weighed(w.product.clone(), grams).map(|_| ()),
        };
        match result {
            Ok(()) => self.message = None,
            Err(e) => {
                self.fail(e);
                self.weighing = Some(w);
            }
        }
    }
}

/// `grams` as the pad shows them: kilograms with three decimals, the sign kept below one
/// kilogram too (−20 g showed as "0.020 kg", a leftover tare taken for a weight).
fn kilograms(grams: i64) -> String {
    let sign = if grams < 0 { "-" } else { "" };
    let grams = grams.unsigned_abs();
    format!("{sign}{}.{:03} kg", grams / 1000, grams % 1000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kilograms_keep_their_sign() {
        assert_eq!(super::kilograms(1250), "1.250 kg");
        assert_eq!(super::kilograms(-20), "-0.020 kg");
        assert_eq!(super::kilograms(-1250), "-1.250 kg");
        assert_eq!(super::kilograms(0), "0.000 kg");
    }
}
