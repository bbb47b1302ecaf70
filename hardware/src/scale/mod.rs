//! Counter scales: loose goods weighed at the stall. A [`Scale`] answers with a [`Reading`]
//! when asked; the two published serial protocols POS software speaks are built in, each a
//! pure codec tested byte for byte:
//!
//! - [`toledo`]: Mettler Toledo 8217 (the weight-only protocol): `W` asks; the answer is STX,
//!   the weight in kg with three decimals and CR, or STX `?` and a status byte while the scale
//!   is in motion, over capacity or under zero.
//! - [`sma`]: SMA (SCP-0499) level 1: `<LF>W<CR>` asks; the answer carries status, range,
//!   gross/net, motion, the weight in a fixed field of 10 characters, and its unit.
//!
//! [`SerialScale`] sends a protocol's questions over a serial port and reopens a scale that
//! was unplugged; [`MemoryScale`] is the double for tests.

pub mod serial;
pub mod sma;
pub mod toledo;

use std::time::Duration;

pub use self::serial::SerialScale;
use crate::Result;

/// What the scale says it weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Net weight in grams, rounded to the gram (0 when it is not known, say in motion).
    pub grams: i64,
    pub state: ScaleState,
    /// The unit the scale reports in: `kg`, `g`, `lb` or `jin` (市斤, 500 g).
    pub unit: String,
}

impl Reading {
    /// A weight a sale may take: settled, within range, not below zero.
    pub fn stable(&self) -> bool {
        self.state == ScaleState::Stable
    }
}

/// How the scale stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleState {
    /// The weight has settled.
    Stable,
    /// The goods are still moving on the plate.
    Motion,
    /// More than the scale can weigh.
    OverCapacity,
    /// Below zero: the plate was zeroed with something on it.
    UnderZero,
    /// The scale reports an error of its own (a zero or tare that failed).
    Fault(String),
}

impl ScaleState {
    pub fn as_str(&self) -> &str {
        match self {
            ScaleState::Stable => "stable",
            ScaleState::Motion => "motion",
            ScaleState::OverCapacity => "over_capacity",
            ScaleState::UnderZero => "under_zero",
            ScaleState::Fault(_) => "fault",
        }
    }
}

/// Which protocol a scale speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Toledo8217,
    Sma,
}

/// What the till asks of a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    Weight,
    Zero,
    Tare,
}

impl Protocol {
    /// The bytes that ask the scale.
    pub fn command(self, ask: Ask) -> &'static [u8] {
        match self {
            Protocol::Toledo8217 => toledo::command(ask),
            Protocol::Sma => sma::command(ask),
        }
    }

    /// The byte that opens an answer: Toledo's STX, SMA's LF. Every answer ends with CR.
    fn opener(self) -> u8 {
        match self {
            Protocol::Toledo8217 => toledo::STX,
            Protocol::Sma => sma::LF,
        }
    }

    /// The last whole answer in `bytes`, opener to CR, when one has come and no other has
    /// begun after it. A CR before the opener (the tail of an earlier answer, `…50\r`, or
    /// line noise) ended nothing: a torn Toledo answer `\r\x02  1.` was read as 1 kg. A
    /// lone LF after an SMA answer (CR LF) begins none.
    pub fn whole_answer(self, bytes: &[u8]) -> Option<&[u8]> {
        let opener = self.opener();
        let last_cr = bytes.iter().rposition(|&b| b == b'\r')?;
        let start = bytes[..last_cr].iter().rposition(|&b| b == opener)?;
        let end = start + bytes[start..].iter().position(|&b| b == b'\r')?;
        let after = &bytes[last_cr + 1..];
        let another_begun = after.iter().position(|&b| b == opener).is_some_and(|at| {
            // SMA's CR LF: a last LF alone begins nothing.
            !(self == Protocol::Sma && at + 1 == after.len())
        });
        (!another_begun).then(|| &bytes[start..=end])
    }

    /// Reads the last whole answer of `bytes` ([`Protocol::whole_answer`]); `toledo_unit`,
    /// what a Toledo 8217 scale weighs in (its answers do not say; SMA's do).
    pub fn parse(self, bytes: &[u8], toledo_unit: &str) -> std::result::Result<Reading, String> {
        let answer = self
            .whole_answer(bytes)
            .ok_or("no whole answer (opening byte to CR)")?;
        match self {
            Protocol::Toledo8217 => toledo::parse(answer, toledo_unit),
            Protocol::Sma => sma::parse(answer),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Toledo8217 => "Mettler Toledo 8217",
            Protocol::Sma => "SMA",
        }
    }
}

/// A scale at the stall. Its contract: `weigh` answers within `timeout` with what the scale
/// shows, or an error saying why not (no scale, no answer, an answer that does not parse).
pub trait Scale: Send {
    fn describe(&self) -> String;
    fn weigh(&mut self, timeout: Duration) -> Result<Reading>;
    /// Sets zero with the plate empty.
    fn zero(&mut self, timeout: Duration) -> Result<Reading>;
    /// Takes the weight on the plate (a container) as tare.
    fn tare(&mut self, timeout: Duration) -> Result<Reading>;
}

/// A scale in memory: it reads whatever the test puts on it.
#[derive(Debug, Default)]
pub struct MemoryScale {
    pub reading: Option<Reading>,
    pub asked: Vec<Ask>,
}

impl Scale for MemoryScale {
    fn describe(&self) -> String {
        "scale in memory".into()
    }

    fn weigh(&mut self, _timeout: Duration) -> Result<Reading> {
        self.asked.push(Ask::Weight);
        self.reading
            .clone()
            .ok_or_else(|| crate::Error::Silent("no reading".into()))
    }

    fn zero(&mut self, timeout: Duration) -> Result<Reading> {
        self.asked.push(Ask::Zero);
        self.weigh(timeout)
    }

    fn tare(&mut self, timeout: Duration) -> Result<Reading> {
        self.asked.push(Ask::Tare);
        self.weigh(timeout)
    }
}

/// Grams in `text`, a decimal number of `unit` (kg, g, lb or jin) with at most three decimals,
/// rounded half up to the gram. No float touches it.
pub(crate) fn grams(text: &str, unit: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 4
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
        || whole.len() > 9
    {
        return None;
    }
    // Ten-thousandths of the unit.
    let mut e4: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    } * 10_000;
    for (i, b) in frac.bytes().enumerate() {
        e4 += i64::from(b - b'0') * 10_i64.pow(3 - i as u32);
    }
    // Grams per ten-thousand units, times 10^4 to keep the pound exact (453.59237 g).
    let per_unit_e5: i64 = match unit {
        "kg" => 100_000_000,
        "jin" => 50_000_000,
        "g" => 100_000,
        "lb" => 45_359_237,
        _ => return None,
    };
    let num = i128::from(e4) * i128::from(per_unit_e5);
    let den: i128 = 10_000 * 100_000;
    let g = ((2 * num + den) / (2 * den)) as i64;
    Some(if negative { -g } else { g })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_become_grams_exactly() {
        assert_eq!(grams("1.250", "kg"), Some(1250));
        assert_eq!(grams("   0.005", "kg"), Some(5));
        assert_eq!(grams("750", "g"), Some(750));
        assert_eq!(grams("1.000", "lb"), Some(454));
        assert_eq!(grams("5.025", "lb"), Some(2279));
        assert_eq!(grams("-0.020", "kg"), Some(-20));
        assert_eq!(grams("1.2.3", "kg"), None);
        assert_eq!(grams("1.250", "oz"), None);
        assert_eq!(grams("", "kg"), None);
    }
}
