//! Mettler Toledo 8217, the weight-only protocol (as POS clients such as Odoo's IoT box speak
//! it): 9600 baud, 7 data bits, even parity, one stop bit. The till sends `W`; the scale
//! answers `STX` + the weight in kg with three decimals + `CR` when the weight is settled, or
//! `STX ? <status> CR` when it is not, the status byte's low bits saying why: 1 in motion,
//! 2 over capacity, 4 under zero (and 8 outside the zero capture range, 16 centre of zero,
//! 32 net weight). `Z` zeroes, `T` tares.

use super::{Ask, Reading, ScaleState};

pub const STX: u8 = 0x02;
pub const CR: u8 = b'\r';

pub fn command(ask: Ask) -> &'static [u8] {
    match ask {
        Ask::Weight => b"W",
        Ask::Zero => b"Z",
        Ask::Tare => b"T",
    }
}

/// Status bits of the answer to `W` when the weight is not given.
pub const MOTION: u8 = 1;
pub const OVER_CAPACITY: u8 = 1 << 1;
pub const UNDER_ZERO: u8 = 1 << 2;
/// Outside the zero capture range: what a `Z` the scale cannot carry out is answered with.
pub const OUTSIDE_ZERO_RANGE: u8 = 1 << 3;

/// Reads one answer, `STX` to `CR`, of a scale that weighs in `unit` (`kg` out of the box;
/// many Chinese price scales speaking this protocol have a 公斤/市斤 switch, and the answer
/// does not say which: a scale switched to 斤 answers `2.000` for 1 kg).
pub fn parse(answer: &[u8], unit: &str) -> Result<Reading, String> {
    let start = answer
        .iter()
        .position(|&b| b == STX)
        .ok_or("no STX in the scale's answer")?;
    let body = &answer[start + 1..];
    let body = body.strip_suffix(&[CR]).unwrap_or(body);
    let reading = |grams, state| Reading {
        grams,
        state,
        unit: unit.to_string(),
    };
    if let Some(status) = body.strip_prefix(b"?") {
        let &[status] = status else {
            return Err("a status answer without its status byte".into());
        };
        let state = if status & OVER_CAPACITY != 0 {
            ScaleState::OverCapacity
        } else if status & UNDER_ZERO != 0 {
            ScaleState::UnderZero
        } else if status & MOTION != 0 {
            ScaleState::Motion
        } else if status & OUTSIDE_ZERO_RANGE != 0 {
            // Told as a stable empty plate, a zero refused looked done.
            ScaleState::Fault("outside the zero range: the scale did not zero".into())
        } else {
            // Centre of zero and the like: nothing on the plate.
            ScaleState::Stable
        };
        return Ok(reading(0, state));
    }
    let text = std::str::from_utf8(body).map_err(|_| "the weight is not text")?;
    let text = text.trim().trim_end_matches('N');
    // Digits both sides of the point, as the scale sends its weight: `1.` is a torn answer.
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !text
        .split_once('.')
        .is_some_and(|(w, f)| digits(w) && digits(f))
    {
        return Err(format!("bad weight {text:?}: not the scale's `0.000`"));
    }
    let grams = super::grams(text, unit).ok_or_else(|| format!("bad weight {text:?} {unit}"))?;
    Ok(reading(grams, ScaleState::Stable))
}

/// What a scale answers to `W`: the simulated scale of the tests, byte for byte.
pub fn answer(reading: &Reading) -> Vec<u8> {
    let status = match reading.state {
        ScaleState::Stable => None,
        ScaleState::Motion => Some(MOTION),
        ScaleState::OverCapacity => Some(OVER_CAPACITY),
        ScaleState::UnderZero => Some(UNDER_ZERO),
        ScaleState::Fault(_) => Some(MOTION | OVER_CAPACITY),
    };
    let mut out = vec![STX];
    match status {
        // The status byte keeps bit 6 set, as scales send it: a printable character.
        Some(bits) => out.extend_from_slice(&[b'?', 0x40 | bits]),
        None => {
            let g = reading.grams;
            out.extend_from_slice(format!("{:>3}.{:03}", g / 1000, g % 1000).as_bytes());
        }
    }
    out.push(CR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_weight_in_kilograms() {
        let r = parse(b"\x02  1.250\r", "kg").unwrap();
        assert_eq!((r.grams, r.stable(), r.unit.as_str()), (1250, true, "kg"));
        assert_eq!(parse(b"\x020.005\r", "kg").unwrap().grams, 5);
    }

    #[test]
    fn a_scale_switched_to_jin_answers_in_jin() {
        // 1 kg on a scale switched to 市斤 reads 2.000: 1 000 g, not 2 000.
        let r = parse(b"\x02  2.000\r", "jin").unwrap();
        assert_eq!((r.grams, r.unit.as_str()), (1000, "jin"));
        assert_eq!(parse(b"\x02  0.375\r", "jin").unwrap().grams, 188);
    }

    #[test]
    fn status_bytes_say_why_there_is_no_weight() {
        assert_eq!(parse(b"\x02?A\r", "kg").unwrap().state, ScaleState::Motion);
        assert_eq!(
            parse(b"\x02?B\r", "kg").unwrap().state,
            ScaleState::OverCapacity
        );
        assert_eq!(
            parse(b"\x02?D\r", "kg").unwrap().state,
            ScaleState::UnderZero
        );
        assert_eq!(parse(b"\x02?P\r", "kg").unwrap().state, ScaleState::Stable);
        assert!(matches!(
            parse(b"\x02?H\r", "kg").unwrap().state,
            ScaleState::Fault(why) if why.contains("did not zero")
        ));
        assert!(parse(b"1.250\r", "kg").is_err());
        assert!(parse(b"\x02abc\r", "kg").is_err());
    }

    #[test]
    fn only_a_whole_answer_is_read() {
        use crate::scale::Protocol;
        let toledo = Protocol::Toledo8217;
        // Torn after the point, a CR of an earlier answer before it: not yet whole.
        assert_eq!(toledo.whole_answer(b"\r\x02  1."), None);
        assert_eq!(
            toledo.whole_answer(b"\r\x02  1.250\r"),
            Some(&b"\x02  1.250\r"[..])
        );
        // A late answer and this one: this one; a late one and this one begun: wait.
        let both = b"\x02  1.250\r\x02  1.300\r";
        assert_eq!(toledo.parse(both, "kg").unwrap().grams, 1300);
        assert_eq!(toledo.whole_answer(b"\x02  1.250\r\x02  1."), None);
        // A weight without its digits both sides of the point is no weight.
        for torn in [&b"\x02  1.\r"[..], b"\x02 12\r", b"\x02.250\r"] {
            assert!(parse(torn, "kg").is_err(), "{torn:?}");
        }
        let sma = Protocol::Sma;
        let late = b"\n 1G         1.250kg \r";
        let now = b"\n 1GM        1.300kg \r";
        let mut bytes = late.to_vec();
        bytes.extend_from_slice(now);
        assert_eq!(sma.whole_answer(&bytes), Some(&now[..]));
        bytes.push(b'\n');
        assert_eq!(sma.whole_answer(&bytes), Some(&now[..]), "CR LF");
        assert_eq!(sma.whole_answer(&bytes[..late.len() + 6]), None);
    }

    #[test]
    fn the_simulated_answer_parses_back() {
        for state in [
            ScaleState::Stable,
            ScaleState::Motion,
            ScaleState::UnderZero,
        ] {
            let r = Reading {
                grams: if state == ScaleState::Stable { 1250 } else { 0 },
                state,
                unit: "kg".into(),
            };
            assert_eq!(parse(&answer(&r), "kg").unwrap(), r);
        }
        assert_eq!(
            answer(&Reading {
                grams: 1250,
                state: ScaleState::Stable,
                unit: "kg".into()
            }),
            b"\x02  1.250\r"
        );
    }
}
