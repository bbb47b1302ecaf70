//! What the till's and the kiosk's controllers share: a message for the volunteer or
//! shopper, in their language; a sale just completed; cart lines as shown; the keypad's
//! editing rule; and the guard against PIN guessing. Plain Rust, no Slint.

use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::Product;
use fairpos_domain::{Fen, Lang};

use crate::error::Error;

/// Money as the screens show it: `￥128.00`.
pub fn yuan(f: Fen) -> String {
    format!("￥{f}")
}

/// Picks the Chinese or the English.
pub fn pick<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// What went wrong, for a screen: a rule of the domain in `lang` and without command-line
/// flags; anything else (the disk, the database) as it is.
pub fn words(e: &Error, lang: Lang) -> String {
    match e.domain() {
        Some(d) => d.words(lang),
        None => e.to_string(),
    }
}

/// Words said to a volunteer or a shopper, kept in both languages and shown in the one on
/// the screen: a message said before a switch of language stayed in the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Said {
    zh: String,
    en: String,
}

impl Said {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Said {
        Said {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// The words `words` gives in each language.
    pub fn of(words: impl Fn(Lang) -> String) -> Said {
        Said::new(words(Lang::Zh), words(Lang::En))
    }

    /// The words in `lang`.
    pub fn in_lang(&self, lang: Lang) -> &str {
        pick(lang, &self.zh, &self.en)
    }

    pub fn clear(&mut self) {
        *self = Said::default();
    }

    pub fn is_empty(&self) -> bool {
        self.zh.is_empty() && self.en.is_empty()
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.zh, self.en)
    }
}

/// What the till says, good news or a problem ([`Said`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    said: Said,
    pub bad: bool,
}

impl Message {
    /// The message `words` gives in each language.
    pub fn of(words: impl Fn(Lang) -> String, bad: bool) -> Message {
        Message {
            said: Said::of(words),
            bad,
        }
    }

    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> &str {
        self.said.in_lang(lang)
    }
}

/// A sale just completed: what the done screen shows and what the printer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub id: String,
    pub number: String,
    pub total: Fen,
    pub change: Fen,
}

impl Completed {
    pub fn of(sale: &fairpos_domain::sale::Sale) -> Completed {
        Completed {
            id: sale.context.id.clone(),
            number: sale.number.to_string(),
            total: sale.total,
            change: sale.change,
        }
    }
}

/// A cart line as the till's and the kiosk's screens show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineView {
    pub name: String,
    pub detail: String,
    pub qty: String,
    pub amount: String,
}

/// The name of `p` in `lang` (Chinese when it has no English name).
pub fn name_of(p: &Product, lang: Lang) -> &str {
    match lang {
        Lang::En if !p.name_en.is_empty() => &p.name_en,
        _ => &p.name_zh,
    }
}

/// The cart's lines as shown: name, price and count (or weight), amount.
pub fn cart_lines(cart: &Cart, lang: Lang) -> Vec<LineView> {
    cart.lines()
        .iter()
        .map(|l| {
            let p = &l.product;
            if p.weighed {
                LineView {
                    name: name_of(p, lang).to_string(),
                    // 2.5斤 × ￥7.80/斤 (1250 g): the shopper's unit, and the scale's grams.
                    detail: format!(
                        "{}{} × {}/{} ({} g)",
                        p.units_text(l.qty),
                        p.unit,
                        yuan(p.price),
                        p.unit,
                        l.qty
                    ),
                    qty: format!("{}{}", p.units_text(l.qty), p.unit),
                    amount: yuan(l.amount),
                }
            } else {
                LineView {
                    name: name_of(p, lang).to_string(),
                    detail: format!("{} × {}", yuan(p.price), l.qty),
                    qty: l.qty.to_string(),
                    amount: yuan(l.amount),
                }
            }
        })
        .collect()
}

/// Edits a keypad entry of at most `max` characters: a digit, `.` (when `decimals` > 0), or
/// `back`. Money takes two decimals, weights three.
pub fn edit_digits(text: &mut String, key: &str, decimals: usize, max: usize) {
    match key {
        "back" => {
            text.pop();
        }
        "." if decimals > 0 && !text.contains('.') => {
            if text.is_empty() {
                text.push('0');
            }
            text.push('.');
        }
        k if k.len() == 1 && k.as_bytes()[0].is_ascii_digit() && text.len() < max => {
            if text
                .find('.')
                .is_some_and(|dot| text.len() - dot > decimals)
            {
                return;
            }
            text.push_str(k);
        }
        _ => {}
    }
}

/// The names of the methods a payment code takes, in `lang`: `微信支付或支付宝`,
/// `WeChat Pay or Alipay`.
pub fn method_names(methods: &[fairpos_domain::payment::Method], lang: Lang) -> String {
    let (name, or): (fn(fairpos_domain::payment::Method) -> &'static str, &str) = match lang {
        Lang::Zh => (|m| m.label_zh(), "或"),
        Lang::En => (|m| m.label_en(), " or "),
    };
    let names: Vec<&str> = methods.iter().map(|m| name(*m)).collect();
    names.join(or)
}

/// The PIN typed on a pad, taken from it; `None` for one too short to be any PIN (none
/// typed), which the pads tell rather than check: a check would count it wrong.
pub fn take_pin(pad: &mut String) -> Option<String> {
    let pin = std::mem::take(pad);
    (pin.len() >= crate::store::PIN_SHORTEST).then_some(pin)
}

/// The till's `meta` key of its PIN pads' guard ([`PinGuard::kept`]): one for the till's
/// pad and the kiosk's, which take the same lead PIN.
pub const PIN_GUARD: &str = "pin_guard";

/// Wrong PINs within [`PIN_FORGOTTEN_MS`] before a PIN pad stops taking PINs for a while.
pub const PIN_TRIES: u32 = 5;
/// How long the first lock lasts; each lock after it lasts twice as long as the one before,
/// up to [`PIN_LOCK_MOST_MS`].
pub const PIN_LOCK_MS: u64 = 60_000;
/// How soon after a wrong PIN a right one forgives it (a slip of the finger, typed again).
pub const PIN_SLIP_MS: u64 = 30_000;
/// How long wrong PINs and locks are remembered: wrong PINs counted towards a lock are
/// forgotten this long after the first of them, and locks this long after the last ended.
pub const PIN_FORGOTTEN_MS: u64 = 60 * 60_000;
/// The longest the till's pad stays locked.
pub const PIN_LOCK_MOST_MS: u64 = 60 * 60_000;
/// The longest the kiosk's pad stays locked: any shopper reaches it, and while it is locked
/// no payment on the stall's QR is confirmed.
pub const KIOSK_PIN_LOCK_MOST_MS: u64 = 10 * 60_000;

/// Wrong PINs typed at a pad: after [`PIN_TRIES`] within [`PIN_FORGOTTEN_MS`], every PIN is
/// refused for [`PIN_LOCK_MS`], then twice as long at each lock, up to its longest, until an
/// hour passes with no lock: a pad left to a guesser for a fair's day took 2 400 guesses of a
/// four-digit PIN at a steady minute's lock (one chance in four to find it), and takes 65
/// with locks up to an hour, 255 with locks up to ten minutes (the kiosk's). A right PIN
/// forgives only the one wrong PIN typed just before it (a slip, mended at once), one an
/// hour, and no lock: staff typing theirs at every sale on the kiosk's pad, which any
/// shopper reaches, gave a guesser four free guesses between sales, never locked.
#[derive(Debug)]
pub struct PinGuard {
    /// Wrong PINs counted towards the next lock, and when the first of them was typed.
    failures: u32,
    first_failure_ms: u64,
    /// When the last of them was typed, while a right PIN may still forgive it.
    last_failure_ms: Option<u64>,
    /// When a right PIN last forgave one: one an hour at most.
    forgave_ms: Option<u64>,
    /// Locks remembered (each longer than the last).
    locks: u32,
    locked_until_ms: u64,
    longest_ms: u64,
}

impl Default for PinGuard {
    /// The till's: locks up to [`PIN_LOCK_MOST_MS`].
    fn default() -> PinGuard {
        PinGuard::locking_at_most(PIN_LOCK_MOST_MS)
    }
}

impl PinGuard {
    /// A guard whose locks last `longest_ms` at most.
    pub fn locking_at_most(longest_ms: u64) -> PinGuard {
        PinGuard {
            failures: 0,
            first_failure_ms: 0,
            last_failure_ms: None,
            forgave_ms: None,
            locks: 0,
            locked_until_ms: 0,
            longest_ms,
        }
    }

    /// What the guard keeps across a restart of the till (in its `meta`, [`PIN_GUARD`]):
    /// wrong PINs counted and when the first was typed, locks remembered and when the last
    /// ends, those times on the wall clock (`wall_ms`, epoch milliseconds, at this run's
    /// `now_ms`). A guesser cutting the power after every four wrong PINs was never locked.
    pub fn kept(&self, now_ms: u64, wall_ms: u64) -> String {
        let on_the_wall = |t: u64| {
            if t >= now_ms {
                wall_ms.saturating_add(t - now_ms)
            } else {
                wall_ms.saturating_sub(now_ms - t)
            }
        };
        format!(
            "{} {} {} {} {wall_ms}",
            self.failures,
            on_the_wall(self.first_failure_ms),
            self.locks,
            on_the_wall(self.locked_until_ms)
        )
    }

    /// The guard as [`PinGuard::kept`] left it before a restart, at `now_ms` on this run's
    /// clock and `wall_ms` on the wall's: wrong PINs first typed over [`PIN_FORGOTTEN_MS`]
    /// before are forgotten, as locks that ended that long before; a lock not yet over goes
    /// on (at most this guard's longest). A wall clock behind the one the guard was kept at
    /// (a till with no clock battery, booted offline) is taken as no time passed since: a
    /// lock ending "in the future" locked every start until the clock caught up. Anything
    /// else is no guard kept.
    pub fn resumed(mut self, kept: &str, now_ms: u64, wall_ms: u64) -> PinGuard {
        let numbers: Vec<u64> = kept.split(' ').filter_map(|n| n.parse().ok()).collect();
        let &[failures, first_failure, locks, locked_until, kept_at] = numbers.as_slice() else {
            return self;
        };
        let wall_ms = wall_ms.max(kept_at);
        let count = |n: u64, most: u32| u32::try_from(n).unwrap_or(most).min(most);
        let on_this_run = |t: u64| {
            if t >= wall_ms {
                now_ms.saturating_add(t - wall_ms)
            } else {
                now_ms.saturating_sub(wall_ms - t)
            }
        };
        let long_ago = |t: u64| wall_ms.saturating_sub(t) >= PIN_FORGOTTEN_MS;
        if !long_ago(first_failure) {
            self.failures = count(failures, PIN_TRIES - 1);
            self.first_failure_ms = on_this_run(first_failure);
        }
        if !long_ago(locked_until) {
            self.locks = count(locks, 16);
            let longest = now_ms.saturating_add(self.longest_ms);
            self.locked_until_ms = on_this_run(locked_until).min(longest);
        }
        self
    }

    /// Seconds before PINs are taken again, while locked.
    pub fn locked(&self, now_ms: u64) -> Option<u64> {
        (now_ms < self.locked_until_ms).then(|| (self.locked_until_ms - now_ms).div_ceil(1000))
    }

    pub fn record(&mut self, right: bool, now_ms: u64) {
        if right {
            // A slip mended at once: forgiven, one an hour at most (a guesser typing one
            // before each of staff's right PINs gained a try at every sale).
            let slip = self.last_failure_ms.take();
            let slipped = slip.is_some_and(|at| now_ms.saturating_sub(at) <= PIN_SLIP_MS);
            let forgave_lately = self
                .forgave_ms
                .is_some_and(|at| now_ms.saturating_sub(at) < PIN_FORGOTTEN_MS);
            if slipped && !forgave_lately && self.failures > 0 {
                self.failures -= 1;
                self.forgave_ms = Some(now_ms);
            }
            return;
        }
        self.last_failure_ms = Some(now_ms);
        if now_ms.saturating_sub(self.first_failure_ms) >= PIN_FORGOTTEN_MS {
            self.failures = 0;
        }
        if self.failures == 0 {
            self.first_failure_ms = now_ms;
        }
        if self.locks > 0 && now_ms.saturating_sub(self.locked_until_ms) >= PIN_FORGOTTEN_MS {
            self.locks = 0;
        }
        self.failures += 1;
        if self.failures >= PIN_TRIES {
            self.failures = 0;
            let lock = PIN_LOCK_MS.saturating_mul(1 << self.locks.min(16));
            self.locked_until_ms = now_ms + lock.min(self.longest_ms);
            self.locks = self.locks.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypads_take_two_decimals_for_money_and_three_for_weights() {
        let typed = |keys: &str, decimals| {
            let mut text = String::new();
            for k in keys.split(' ') {
                edit_digits(&mut text, k, decimals, 9);
            }
            text
        };
        assert_eq!(typed("1 . 2 3 4", 2), "1.23");
        assert_eq!(typed("1 . 2 3 4 5", 3), "1.234");
        assert_eq!(typed(". 5", 2), "0.5");
        assert_eq!(typed("1 . 2", 0), "12");
        assert_eq!(typed("1 2 back 3", 2), "13");
    }

    #[test]
    fn a_guard_kept_across_a_restart_keeps_its_wrong_pins_and_its_lock() {
        // The till's clock is the wall's; a kiosk's starts at 0 with each run.
        let wall = 1_800_000_000_000;
        let mut g = PinGuard::default();
        for _ in 0..4 {
            g.record(false, wall);
        }
        // Four wrong PINs, the power cut; back a minute later (a kiosk's clock at 50): the
        // fifth locks the pad.
        let kept = g.kept(wall, wall);
        let mut again = PinGuard::default().resumed(&kept, 50, wall + 60_000);
        again.record(false, 60);
        assert_eq!(again.locked(60), Some(60));
        // Cut again 20 s into its minute, back 5 s later: 35 s left, the next lock two
        // minutes.
        let kept = again.kept(20_060, wall + 80_000);
        let mut after = PinGuard::default().resumed(&kept, 7, wall + 85_000);
        assert_eq!(after.locked(7), Some(35));
        for _ in 0..5 {
            after.record(false, 50_000);
        }
        assert_eq!(after.locked(50_000), Some(120));
        // Kept while locked, back after the lock is over: not locked (a lock kept as "left
        // to run" came back at every start); back the next day: nothing remembered.
        let kept = after.kept(50_000, wall + 200_000);
        let over = PinGuard::default().resumed(&kept, 0, wall + 200_000 + 121_000);
        assert_eq!(over.locked(0), None);
        let next_day = PinGuard::default().resumed(&kept, 0, wall + 86_400_000);
        let day = wall + 86_400_000;
        assert_eq!(next_day.kept(0, day), format!("0 {day} 0 {day} {day}"));
        // The clock back an hour at the restart (no clock battery): the lock goes on for
        // what it had left when kept, not an hour more.
        let behind = PinGuard::default().resumed(&kept, 0, wall + 200_000 - 3_600_000);
        assert_eq!(behind.locked(0), Some(120));
        // Nothing kept, or something else: a fresh guard; a lock beyond its longest is cut.
        for kept in ["", "4 1", "a b c d e", "1 2 3 4 5 6"] {
            let fresh = PinGuard::default().resumed(kept, 0, wall);
            assert_eq!(fresh.locked(0), None, "{kept:?}");
            assert!(fresh.kept(0, wall).starts_with("0 "), "{kept:?}");
        }
        let kiosk = PinGuard::locking_at_most(KIOSK_PIN_LOCK_MOST_MS);
        let cut = kiosk.resumed(&format!("0 {wall} 9 {} {wall}", u64::MAX), 0, wall);
        assert_eq!(cut.locked(0), Some(KIOSK_PIN_LOCK_MOST_MS / 1000));
    }

    #[test]
    fn five_wrong_pins_within_an_hour_lock_the_pad_for_a_minute_right_ones_between_or_not() {
        let mut g = PinGuard::default();
        for _ in 0..4 {
            g.record(false, 1_000);
        }
        assert_eq!(g.locked(1_000), None);
        // A right PIN just after forgives the last (a slip), one only, however many right
        // PINs follow, and one an hour: a guesser typing one before each of staff's right
        // PINs gains one try in the hour, not one a sale.
        g.record(true, 1_500);
        g.record(true, 1_600);
        g.record(false, 2_000);
        assert_eq!(g.locked(2_000), None);
        g.record(true, 2_500);
        g.record(false, 3_000);
        assert_eq!(g.locked(3_000), Some(60));
        assert_eq!(g.locked(62_500), Some(1));
        assert_eq!(g.locked(63_000), None);
        // Four wrong an hour apart from the next: forgotten.
        let later = 100_000;
        for _ in 0..4 {
            g.record(false, later);
        }
        g.record(false, later + PIN_FORGOTTEN_MS);
        assert_eq!(g.locked(later + PIN_FORGOTTEN_MS), None);
    }

    /// The seconds of each of `n` locks in a row, five wrong PINs at the end of each: and
    /// the moment the last ends.
    fn locks_in_a_row(g: &mut PinGuard, n: usize) -> (Vec<u64>, u64) {
        let mut now = 0;
        let mut locks = Vec::new();
        for _ in 0..n {
            for _ in 0..5 {
                g.record(false, now);
            }
            let seconds = g.locked(now).unwrap();
            locks.push(seconds);
            now += seconds * 1000;
        }
        (locks, now)
    }

    #[test]
    fn each_lock_lasts_twice_as_long_up_to_its_longest_until_an_hour_passes_without_one() {
        let mut g = PinGuard::default();
        let (locks, now) = locks_in_a_row(&mut g, 9);
        assert_eq!(locks, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        let mut kiosk = PinGuard::locking_at_most(KIOSK_PIN_LOCK_MOST_MS);
        let (locks, _) = locks_in_a_row(&mut kiosk, 6);
        assert_eq!(locks, [60, 120, 240, 480, 600, 600]);
        // A right PIN does not start again from a minute (a guesser between staff's sales).
        g.record(true, now);
        for _ in 0..5 {
            g.record(false, now);
        }
        assert_eq!(g.locked(now), Some(3600));
        // An hour with no lock does.
        let now = now + 3_600_000 + PIN_FORGOTTEN_MS;
        for _ in 0..5 {
            g.record(false, now);
        }
        assert_eq!(g.locked(now), Some(60));
    }
}
