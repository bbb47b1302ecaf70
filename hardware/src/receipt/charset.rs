//! Text as the printer's character set can hold it. Chinese printers take GB18030 or GBK
//! after `FS &`; a character the chosen encoding cannot hold is substituted, never allowed to
//! fail a sale: a known variant where there is one (𠮷 → 吉), else `□`.

use encoding_rs::{Encoding, GB18030, GBK};

use crate::config::TextEncoding;

/// The encoding_rs codec of a configured encoding.
pub fn codec(encoding: TextEncoding) -> &'static Encoding {
    match encoding {
        TextEncoding::Gb18030 => GB18030,
        TextEncoding::Gbk => GBK,
    }
}

/// Substitutes used whatever the encoding: the yen sign U+00A5 is four bytes in GB18030 and
/// absent from GBK, so receipts always carry the full-width ￥ (U+FFE5).
fn always(c: char) -> Option<char> {
    match c {
        '\u{00A5}' => Some('\u{FFE5}'),
        '\u{00A0}' => Some(' '),
        _ => None,
    }
}

/// Variants of characters outside GBK that names of people and places use (everything in
/// U+4E00..U+9FA5 is already in GBK).
const VARIANTS: &[(char, char)] = &[
    ('\u{20BB7}', '吉'), // 𠮷, the "tǔ" ji of 𠮷野家
];

/// What stands for a character the printer cannot print.
pub const REPLACEMENT: char = '□';

fn encodable(c: char, codec: &'static Encoding) -> bool {
    let mut buf = [0u8; 4];
    let (_, _, unmappable) = codec.encode(c.encode_utf8(&mut buf));
    !unmappable
}

/// `text` with every character the encoding cannot hold substituted, and the characters
/// that were. A control character (ESC, GS, a line break: in a product's name from the
/// catalog, anyone's to write) is printed as a space, never sent: it would be a command to
/// the printer (open the drawer, cut the paper).
pub fn fit(text: &str, encoding: TextEncoding) -> (String, Vec<char>) {
    let codec = codec(encoding);
    let mut out = String::with_capacity(text.len());
    let mut substituted = Vec::new();
    for c in text.chars() {
        let c = always(c).unwrap_or(c);
        if c.is_control() {
            out.push(' ');
            continue;
        }
        if c.is_ascii() || encodable(c, codec) {
            out.push(c);
            continue;
        }
        substituted.push(c);
        match VARIANTS.iter().find(|(from, _)| *from == c) {
            Some((_, to)) if encodable(*to, codec) => out.push(*to),
            _ => out.push(REPLACEMENT),
        }
    }
    (out, substituted)
}

/// Columns a character takes on a Chinese receipt printer: one for ASCII, two for anything
/// printed from the double-byte font.
pub fn char_columns(c: char) -> usize {
    if c.is_ascii() {
        1
    } else {
        2
    }
}

/// Columns `text` takes on the printer.
pub fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_loses_only_what_it_cannot_hold() {
        // A name with printer commands in it (drawer kick, cut) prints them as spaces.
        let (text, _) = fit("糖\u{1b}p\u{0}\u{1d}V\u{0}\n果", TextEncoding::Gbk);
        assert_eq!(text, "糖 p  V  果");
        let (text, lost) = fit("𠮷祥 𪚥记 ¥5", TextEncoding::Gbk);
        assert_eq!(text, "吉祥 □记 ￥5");
        assert_eq!(lost, vec!['\u{20BB7}', '\u{2A6A5}']);
    }

    #[test]
    fn gb18030_holds_every_character_but_the_yen_sign_becomes_full_width() {
        let (text, lost) = fit("𠮷祥 𪚥记 ¥5", TextEncoding::Gb18030);
        assert_eq!(text, "𠮷祥 𪚥记 ￥5");
        assert!(lost.is_empty());
    }

    #[test]
    fn full_width_yen_is_two_bytes_in_both() {
        for enc in [TextEncoding::Gb18030, TextEncoding::Gbk] {
            let (bytes, _, bad) = codec(enc).encode("￥");
            assert!(!bad);
            assert_eq!(&bytes[..], &[0xA3, 0xA4]);
        }
    }

    #[test]
    fn cjk_takes_two_columns() {
        assert_eq!(columns("保靖黄金茶 250g"), 15);
        assert_eq!(columns("￥12.00"), 7);
    }
}
