//! SMA (SCP-0499) level 1, the Scale Manufacturers Association's protocol: the till sends
//! `<LF>W<CR>` (weight), `<LF>Z<CR>` (zero) or `<LF>T<CR>` (tare); the scale answers
//! `<LF><s><r><n><m><f><weight: 10 characters><unit: 3 characters><CR>` where `s` is `Z`
//! centre of zero, `O` over capacity, `U` under capacity, `E`/`I`/`T` a zero or tare error,
//! or a space; `r` the range; `n` `G` gross, `N` net, `T` tare (`g`, `n` high resolution);
//! `m` `M` while in motion, else a space; `f` reserved. `<LF>?<CR>` means the scale did not
//! understand.

use super::{Ask, Reading, ScaleState};

pub const LF: u8 = b'\n';
pub const CR: u8 = b'\r';

pub fn command(ask: Ask) -> &'static [u8] {
    match ask {
        Ask::Weight => b"\nW\r",
        Ask::Zero => b"\nZ\r",
        Ask::Tare => b"\nT\r",
    }
}

/// Reads one answer, `LF` to `CR`.
pub fn parse(answer: &[u8]) -> Result<Reading, String> {
    // From the last LF before the first CR to that CR: an answer ending CR LF (a USB serial
    // adapter delivering both at once), or a stray LF before it, was refused for its length.
    let end = answer.iter().position(|&b| b == CR).unwrap_or(answer.len());
    let start = answer[..end]
        .iter()
        .rposition(|&b| b == LF)
        .ok_or("no LF in the scale's answer")?;
    let body = &answer[start + 1..end];
    if body == b"?" {
        return Err("the scale did not understand the command".into());
    }
    if body.len() != 5 + 10 + 3 {
        return Err(format!(
            "an answer of {} characters, not the 18 of SMA's standard reply",
            body.len()
        ));
    }
    // SMA's characters are ASCII; line noise or a wrong baud rate can bring any byte, and
    // a character of several bytes would put the fields' boundaries inside it.
    if !body.is_ascii() {
        return Err("the answer is not ASCII text".into());
    }
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not text")?;
    let (status, kind, motion) = (body[0], body[2], body[3]);
    let weight = &text[5..15];
    let unit = text[15..18].trim().to_string();
    let state = match status {
        b'O' => ScaleState::OverCapacity,
        b'U' => ScaleState::UnderZero,
        b'E' | b'I' => ScaleState::Fault("zero error".into()),
        b'T' => ScaleState::Fault("tare error".into()),
        _ if motion == b'M' => ScaleState::Motion,
        // A tare weight, or one of the high resolution that is not for trade, is no
        // weight to sell by.
        _ if matches!(kind, b'T' | b'g' | b'n') => ScaleState::Fault(format!(
            "a {} weight, not one for trade: set the scale to show gross or net",
            if kind == b'T' {
                "tare"
            } else {
                "high-resolution"
            }
        )),
        b'Z' | b' ' => ScaleState::Stable,
        other => return Err(format!("unknown status {:?}", other as char)),
    };
    let grams = match state {
        ScaleState::Fault(_) => 0,
        // Over or under capacity, a scale may fill the field with dashes: the state says it.
        ScaleState::OverCapacity | ScaleState::UnderZero => {
            super::grams(weight, &unit).unwrap_or(0)
        }
        _ => super::grams(weight, &unit).ok_or_else(|| format!("bad weight {weight:?} {unit}"))?,
    };
    Ok(Reading { grams, state, unit })
}

/// What a scale answers to `W` (or `Z`, `T`): the simulated scale of the tests, byte for byte.
pub fn answer(reading: &Reading) -> Vec<u8> {
    let (status, motion) = match &reading.state {
        ScaleState::Stable if reading.grams == 0 => (b'Z', b' '),
        ScaleState::Stable => (b' ', b' '),
        ScaleState::Motion => (b' ', b'M'),
        ScaleState::OverCapacity => (b'O', b' '),
        ScaleState::UnderZero => (b'U', b' '),
        ScaleState::Fault(_) => (b'E', b' '),
    };
    let g = reading.grams;
    let sign = if g < 0 { "-" } else { "" };
    let weight = format!("{sign}{}.{:03}", g.abs() / 1000, g.abs() % 1000);
    let mut out = vec![LF, status, b'1', b'G', motion, b' '];
    out.extend_from_slice(format!("{weight:>10}kg ").as_bytes());
    out.push(CR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_reply_reads_whole() {
        let r = parse(b"\n 1G       1.250kg \r").unwrap();
        assert_eq!((r.grams, r.stable(), r.unit.as_str()), (1250, true, "kg"));
        let r = parse(b"\n 1G       5.025lb \r").unwrap();
        assert_eq!((r.grams, r.unit.as_str()), (2279, "lb"));
        let r = parse(b"\nZ1G       0.000kg \r").unwrap();
        assert_eq!((r.grams, r.stable()), (0, true));
        // Ending CR LF in one read, or after a stray LF.
        assert_eq!(parse(b"\n 1G       1.250kg \r\n").unwrap().grams, 1250);
        assert_eq!(parse(b"\n\n 1G       1.250kg \r").unwrap().grams, 1250);
    }

    #[test]
    fn motion_over_capacity_and_under_zero_are_not_stable() {
        assert_eq!(
            parse(b"\n 1GM      1.370kg \r").unwrap().state,
            ScaleState::Motion
        );
        assert_eq!(
            parse(b"\nO1G      31.000kg \r").unwrap().state,
            ScaleState::OverCapacity
        );
        assert_eq!(
            parse(b"\nU1G      -0.020kg \r").unwrap().state,
            ScaleState::UnderZero
        );
        assert!(matches!(
            parse(b"\nE1G  ----------kg \r").unwrap().state,
            ScaleState::Fault(_)
        ));
        assert!(parse(b"\n?\r").is_err());
        assert!(parse(b"\n 1G  1.2kg\r").is_err());
        // Over capacity with the field dashed out: said so, not "unreadable".
        assert_eq!(
            parse(b"\nO1G  ----------kg \r").unwrap().state,
            ScaleState::OverCapacity
        );
        // A tare weight, or one of the high resolution, is not sold by.
        for answer in [b"\n 1T       1.250kg \r", b"\n 1g       1.250kg \r"] {
            assert!(matches!(
                parse(answer).unwrap().state,
                ScaleState::Fault(why) if why.contains("not one for trade")
            ));
        }
        assert!(parse(b"\n 1N       1.250kg \r").unwrap().stable(), "net");
    }

    /// 18 bytes that are text, but not ASCII: a field's boundary would fall inside `é`.
    #[test]
    fn an_answer_not_ascii_is_refused_not_sliced() {
        let answer = "\nZ1G \u{e9}    1.234kg \r".as_bytes();
        assert_eq!(answer.len(), 20);
        assert_eq!(parse(answer).unwrap_err(), "the answer is not ASCII text");
        assert_eq!(
            parse(b"\n 1G \xff     1.250kg \r").unwrap_err(),
            "the answer is not ASCII text"
        );
    }

    #[test]
    fn the_simulated_answer_parses_back() {
        for (grams, state) in [
            (1250, ScaleState::Stable),
            (0, ScaleState::Stable),
            (1370, ScaleState::Motion),
            (-20, ScaleState::UnderZero),
        ] {
            let r = Reading {
                grams,
                state,
                unit: "kg".into(),
            };
            assert_eq!(parse(&answer(&r)).unwrap(), r);
        }
        assert_eq!(
            answer(&Reading {
                grams: 1250,
                state: ScaleState::Stable,
                unit: "kg".into()
            }),
            b"\n 1G       1.250kg \r"
        );
    }
}
