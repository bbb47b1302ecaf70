//! Reads an ESC/POS byte stream back into what it does: text (decoded from GB18030 or GBK),
//! QR payloads, cuts, drawer pulses, status queries. Tests use it to check what reached a
//! printer; `fairpos hardware` diagnostics use it to show what would be sent.

use super::charset::codec;
use crate::config::TextEncoding;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Init,
    ChineseOn,
    ChineseOff,
    /// Text up to the next command, decoded.
    Text(String),
    /// Print and feed `n` lines (`LF` is one).
    Feed(u8),
    Bold(bool),
    Justify(u8),
    Qr(String),
    /// QR parameters (model, size, error correction): kept as the function and value.
    QrSetting(u8, u8),
    QrPrint,
    Cut {
        partial: bool,
    },
    /// Cash drawer pulse: pin, on time, off time (units of 2 ms).
    Drawer {
        pin: u8,
        on: u8,
        off: u8,
    },
    /// `DLE EOT n`.
    StatusQuery(u8),
    /// A command this decoder does not know, with the bytes it took.
    Other(Vec<u8>),
}

/// Decodes `bytes`. Unknown commands become [`Event::Other`]; a command cut short by the end
/// of the stream too.
pub fn decode(bytes: &[u8], encoding: TextEncoding) -> Vec<Event> {
    let codec = codec(encoding);
    let mut events = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut i = 0;
    let flush_text = |text: &mut Vec<u8>, events: &mut Vec<Event>| {
        if !text.is_empty() {
            let (s, _) = codec.decode_without_bom_handling(text);
            events.push(Event::Text(s.into_owned()));
            text.clear();
        }
    };
    let arg = |k: usize| bytes.get(k).copied();
    while i < bytes.len() {
        let b = bytes[i];
        let (event, len) = match (b, arg(i + 1)) {
            (0x0A, _) => (Some(Event::Feed(1)), 1),
            (0x1B, Some(b'@')) => (Some(Event::Init), 2),
            (0x1B, Some(b'E')) => (arg(i + 2).map(|n| Event::Bold(n & 1 == 1)), 3),
            (0x1B, Some(b'a')) => (arg(i + 2).map(Event::Justify), 3),
            (0x1B, Some(b'd')) => (arg(i + 2).map(Event::Feed), 3),
            (0x1B, Some(b'p')) => match (arg(i + 2), arg(i + 3), arg(i + 4)) {
                (Some(pin), Some(on), Some(off)) => (Some(Event::Drawer { pin, on, off }), 5),
                _ => (None, bytes.len() - i),
            },
            (0x1C, Some(0x26)) => (Some(Event::ChineseOn), 2),
            (0x1C, Some(0x2E)) => (Some(Event::ChineseOff), 2),
            (0x1D, Some(b'V')) => match arg(i + 2) {
                Some(b'A') | Some(b'B') => (
                    arg(i + 3).map(|n| Event::Cut {
                        partial: arg(i + 2) == Some(b'B') || n == 1,
                    }),
                    4,
                ),
                Some(m) => (
                    Some(Event::Cut {
                        partial: m == 1 || m == 49,
                    }),
                    3,
                ),
                None => (None, 2),
            },
            (0x1D, Some(b'(')) if arg(i + 2) == Some(b'k') => match (arg(i + 3), arg(i + 4)) {
                (Some(pl), Some(ph)) => {
                    let n = pl as usize + 256 * ph as usize;
                    let body = bytes.get(i + 5..i + 5 + n).unwrap_or(&[]);
                    let event = match body {
                        [49, 80, 48, data @ ..] => {
                            Some(Event::Qr(String::from_utf8_lossy(data).into_owned()))
                        }
                        [49, 81, 48] => Some(Event::QrPrint),
                        [49, f, v, ..] => Some(Event::QrSetting(*f, *v)),
                        _ => Some(Event::Other(
                            bytes[i..(i + 5 + n).min(bytes.len())].to_vec(),
                        )),
                    };
                    (event, 5 + n)
                }
                _ => (None, bytes.len() - i),
            },
            (0x10, Some(0x04)) => (arg(i + 2).map(Event::StatusQuery), 3),
            (0x1B, Some(_)) | (0x1D, Some(_)) | (0x1C, Some(_)) => {
                // Two-byte command with one parameter: ESC M n, GS ! n, GS B n, ESC - n, ...
                (
                    Some(Event::Other(bytes[i..(i + 3).min(bytes.len())].to_vec())),
                    3,
                )
            }
            _ => {
                text.push(b);
                i += 1;
                continue;
            }
        };
        flush_text(&mut text, &mut events);
        events.push(event.unwrap_or_else(|| Event::Other(bytes[i..].to_vec())));
        i += len.max(1);
    }
    flush_text(&mut text, &mut events);
    events
}

/// The printed lines: text joined up to each feed.
pub fn text_lines(events: &[Event]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for e in events {
        match e {
            Event::Text(t) => line.push_str(t),
            Event::Feed(n) => {
                lines.push(std::mem::take(&mut line));
                for _ in 1..*n {
                    lines.push(String::new());
                }
            }
            _ => {}
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
