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

/// Whether a receipt printer's double-byte font prints `c` as `codec` encodes it: two bytes
/// (the GBK area every Chinese printer carries), or in GB18030 four bytes of a CJK
/// ideograph (Extension A, B and on, which a printer certified to GB18030 carries; the
/// 𠮷 of a shop's name). Anything else GB18030 writes in four bytes (an emoji, a script the
/// font lacks) printed as garbage or blank while the layout counted it, and GBK writes the
/// euro sign as the single byte 0x80, which a printer takes from its single-byte code page.
fn encodable(c: char, codec: &'static Encoding) -> bool {
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = codec.encode(c.encode_utf8(&mut buf));
    !unmappable
        && match bytes.len() {
            2 => true,
            4 => matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{20000}'..='\u{3134F}'),
            _ => false,
        }
}

/// Characters that print as nothing and are left out: zero-width ones, bidi controls,
/// variation selectors (the U+FE0F of `❤️`) and tags. Counted, they pushed a line's
/// right-hand amounts out of their column.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
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
        if invisible(c) {
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

/// Columns a character takes on a Chinese receipt printer: one for ASCII and for a control
/// character (printed as a space), none for one left out ([`invisible`]), two for anything
/// printed from the double-byte font. As [`fit`] prints them: counted two, a zero-width
/// space in a team's name pasted from WeChat stopped its line's right-hand column short.
pub fn char_columns(c: char) -> usize {
    let c = always(c).unwrap_or(c);
    if c.is_ascii() || c.is_control() {
        1
    } else if invisible(c) {
        0
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
    fn emoji_and_what_the_font_lacks_are_substituted_and_invisible_marks_left_out() {
        for enc in [TextEncoding::Gb18030, TextEncoding::Gbk] {
            // 🍓, ❤ with its variation selector, a family joined by zero-width joiners.
            let (text, lost) = fit("草莓🍓 ❤\u{FE0F} 👨\u{200D}👩 ☆", enc);
            assert_eq!(text, "草莓□ □ □□ ☆", "{enc:?}");
            assert_eq!(lost, ['🍓', '❤', '👨', '👩'], "{enc:?}");
            assert_eq!(columns(&text), 17);
        }
        // The euro sign is one byte (0x80) in GBK, from the printer's single-byte page.
        let (text, lost) = fit("€5", TextEncoding::Gbk);
        assert_eq!((text.as_str(), lost), ("□5", vec!['€']));
        // GB18030 holds it in its double-byte area.
        assert_eq!(fit("€5", TextEncoding::Gb18030).0, "€5");
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

    /// A line is laid out by the columns its text takes once fitted: a zero-width space
    /// (a team's name pasted from WeChat) takes none, a C1 control one (printed as a space).
    #[test]
    fn what_is_left_out_takes_no_column_and_a_control_one() {
        let line =
            &crate::receipt::layout::two_columns("收银 Seller", "张伟\u{200B} V003 湘韵队", 32);
        assert_eq!(line.len(), 1, "{line:?}");
        let (printed, _) = fit(&line[0], TextEncoding::Gb18030);
        assert_eq!(columns(&printed), 32, "{printed:?}");
        for odd in ["a\u{0085}b", "a\u{00A0}b"] {
            assert_eq!(
                columns(odd),
                columns(&fit(odd, TextEncoding::Gbk).0),
                "{odd:?}"
            );
        }
    }
}
