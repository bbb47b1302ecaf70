//! Money as integer fen. Parsed from decimal yuan strings exactly; no float ever touches it.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use crate::{AmountIssue, DomainError};

/// An amount of money in fen (1 yuan = 100 fen). May be negative (a variance, a refund).
/// Serialized as the integer of fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// Largest amount accepted from input, and the most one sale may come to
/// ([`crate::cart::Cart`]): ten billion yuan. Keeps every sum far from overflow, and every
/// amount a till writes within what headquarters takes (`fairpos_sync::plausible::MAX_FEN`).
pub const MAX_INPUT_FEN: i64 = 1_000_000_000_000;

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Parses a non-negative decimal amount of yuan: `128`, `128.5`, `128.50`, `0.01`.
    /// At most two decimals; no sign, exponent, thousands separator or currency symbol.
    pub fn parse_yuan(text: &str) -> Result<Fen, DomainError> {
        let bad = |why: AmountIssue| DomainError::BadAmount {
            text: text.to_string(),
            why,
        };
        let t = text.trim();
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (t, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(AmountIssue::NotPlain));
        }
        let frac = frac.unwrap_or("");
        if !frac.bytes().all(|b| b.is_ascii_digit()) || (t.contains('.') && frac.is_empty()) {
            return Err(bad(AmountIssue::NotPlain));
        }
        if frac.len() > 2 {
            return Err(bad(AmountIssue::TooManyDecimals));
        }
        if whole.len() > 12 {
            return Err(bad(AmountIssue::TooLarge));
        }
        let yuan: i64 = whole.parse().map_err(|_| bad(AmountIssue::TooLarge))?;
        let mut fen: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            fen += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        let total = yuan * 100 + fen;
        if total > MAX_INPUT_FEN {
            return Err(bad(AmountIssue::TooLarge));
        }
        Ok(Fen(total))
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `self × n`, at most `i64::MAX` either way (a price from a forged catalog document).
    pub fn times(self, n: i64) -> Fen {
        Fen(self.0.saturating_mul(n))
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals: `128.00`, `-0.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
        f.pad(&text)
    }
}

impl Add for Fen {
    type Output = Fen;
    fn add(self, rhs: Fen) -> Fen {
        Fen(self.0 + rhs.0)
    }
}

impl AddAssign for Fen {
    fn add_assign(&mut self, rhs: Fen) {
        self.0 += rhs.0;
    }
}

impl Sub for Fen {
    type Output = Fen;
    fn sub(self, rhs: Fen) -> Fen {
        Fen(self.0 - rhs.0)
    }
}

impl SubAssign for Fen {
    fn sub_assign(&mut self, rhs: Fen) {
        self.0 -= rhs.0;
    }
}

impl Neg for Fen {
    type Output = Fen;
    fn neg(self) -> Fen {
        Fen(-self.0)
    }
}

impl Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        iter.fold(Fen::ZERO, Add::add)
    }
}

/// The amount of a weighed line: `grams × price_per_unit / grams_per_unit`, rounded half up
/// to the fen. `grams` and the price are non-negative.
pub fn weighed_amount(grams: i64, price_per_unit: Fen, grams_per_unit: i64) -> Fen {
    let num = i128::from(grams) * i128::from(price_per_unit.0);
    let den = i128::from(grams_per_unit);
    let fen = (2 * num + den) / (2 * den);
    // Within i64 for any price a till takes; a forged one saturates rather than wraps.
    Fen(fen.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Points per yuan for the marketing competition, held exactly as a decimal with up to four
/// places (`"0.1"` is 1000 ten-thousandths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointsRate {
    per_yuan_e4: i64,
}

impl PointsRate {
    pub fn parse(text: &str) -> Result<PointsRate, DomainError> {
        let bad = |why: AmountIssue| DomainError::BadAmount {
            text: text.to_string(),
            why,
        };
        let t = text.trim();
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty()
            || whole.len() > 6
            || frac.len() > 4
            || !whole
                .bytes()
                .chain(frac.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad(AmountIssue::BadRate));
        }
        let mut e4: i64 = whole
            .parse::<i64>()
            .map_err(|_| bad(AmountIssue::TooLarge))?
            * 10_000;
        for (i, b) in frac.bytes().enumerate() {
            e4 += i64::from(b - b'0') * 10_i64.pow(3 - i as u32);
        }
        Ok(PointsRate { per_yuan_e4: e4 })
    }

    /// Points earned by `net`, rounded half up to hundredths of a point, as hundredths.
    pub fn points_centi(self, net: Fen) -> i64 {
        // net fen / 100 = yuan; × rate_e4 / 10^4 = points; × 100 = centi-points.
        let num = i128::from(net.0) * i128::from(self.per_yuan_e4);
        let den: i128 = 10_000;
        let rounded = if num >= 0 {
            (2 * num + den) / (2 * den)
        } else {
            -((-2 * num + den) / (2 * den))
        };
        rounded as i64
    }
}

impl fmt::Display for PointsRate {
    /// The rate as the fair states it: `0.1`, `2`, `0.0125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.per_yuan_e4 / 10_000;
        let frac = format!("{:04}", self.per_yuan_e4 % 10_000);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{frac}")
        }
    }
}

/// Hundredths (of a point) as a decimal with two places: `-0.05`, `12.30`.
pub fn centi_text(centi: i64) -> String {
    let sign = if centi < 0 { "-" } else { "" };
    let abs = centi.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_exactly() {
        for (text, fen) in [
            ("0", 0),
            ("128", 12800),
            ("128.5", 12850),
            ("128.50", 12850),
            ("0.01", 1),
            ("45.50", 4550),
            (" 7.8 ", 780),
            ("0.1", 10),
        ] {
            assert_eq!(Fen::parse_yuan(text).unwrap(), Fen(fen), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_plain_yuan() {
        for (text, why) in [
            ("12.345", "more than two decimals"),
            ("", "not a plain"),
            ("-1", "not a plain"),
            ("1e3", "not a plain"),
            ("1,000", "not a plain"),
            ("12.", "not a plain"),
            (".5", "not a plain"),
            ("￥5", "not a plain"),
            ("99999999999999", "too large"),
        ] {
            let err = Fen::parse_yuan(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Fen(12850).to_string(), "128.50");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(format!("{:>8}", Fen(100)), "    1.00");
    }

    #[test]
    fn weighed_amounts_round_half_up() {
        // 1 斤 = 500 g at 7.80/斤: 750 g is 11.70 exactly.
        assert_eq!(weighed_amount(750, Fen(780), 500), Fen(1170));
        // 333 g at 3.50/斤 = 233.1 fen -> 2.33
        assert_eq!(weighed_amount(333, Fen(350), 500), Fen(233));
        // 5 g at 9.90/斤 = 9.9 fen -> 0.10
        assert_eq!(weighed_amount(5, Fen(990), 500), Fen(10));
        // exactly half a fen rounds up: 1 g at 0.50/kg... 250 g at 0.02/kg = 0.5 fen -> 1
        assert_eq!(weighed_amount(250, Fen(2), 1000), Fen(1));
        assert_eq!(weighed_amount(249, Fen(2), 1000), Fen(0));
    }

    #[test]
    fn points_follow_the_fair_rate() {
        let rate = PointsRate::parse("0.1").unwrap();
        assert_eq!(rate.points_centi(Fen(12800)), 1280); // 128 yuan -> 12.80 points
        assert_eq!(rate.points_centi(Fen(5)), 1); // 0.005 points -> 0.01 half up
        assert_eq!(rate.to_string(), "0.1");
        assert_eq!(PointsRate::parse("2").unwrap().to_string(), "2");
        assert_eq!(PointsRate::parse("0.0125").unwrap().to_string(), "0.0125");
        assert_eq!(centi_text(1280), "12.80");
        assert_eq!(centi_text(-5), "-0.05");
        assert_eq!(centi_text(0), "0.00");
        assert!(PointsRate::parse("0.12345").is_err());
    }
}
