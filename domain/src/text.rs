//! Text files as Chinese offices save them: UTF-8, or GBK (a spreadsheet's "CSV" in
//! Chinese Windows, and payment providers' statements); and text from outside (a till's
//! bundle, headquarters' answer, a catalog) as a terminal or a page may show it.

/// The text of `bytes` and its encoding: UTF-8 (a byte-order mark dropped), else GBK (read as
/// GB18030, its superset). `None` when it is neither.
pub fn utf8_or_gbk(bytes: &[u8]) -> Option<(String, &'static str)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Some((text.to_string(), "utf-8"));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    (!had_errors).then(|| (text.into_owned(), "gbk"))
}

/// `text` with its control and format characters (terminal escapes, bidi overrides,
/// zero-width characters) written as `\u{…}`, so that what it says cannot redraw or reorder
/// the lines around it.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_hidden(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether `c` is a control or format character: one a terminal or a page does not show as
/// itself (an escape, a bidi override, a zero-width character).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `text` with full-width letters, digits and signs (U+FF01 to U+FF5E) and the ideographic
/// space as their ASCII: what a keyboard-wedge scanner types while a Chinese input method
/// is in full-width mode (全角), `６９３５…`, which no code matched.
pub fn half_width(text: &str) -> std::borrow::Cow<'_, str> {
    let full = |c: char| matches!(c, '\u{ff01}'..='\u{ff5e}' | '\u{3000}');
    if !text.chars().any(full) {
        return std::borrow::Cow::Borrowed(text);
    }
    let half = |c: char| match c {
        '\u{3000}' => ' ',
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
        _ => c,
    };
    std::borrow::Cow::Owned(text.chars().map(half).collect())
}

/// `text` as [`shown`], cut after `most` characters (`…` telling it was).
pub fn shown_cut(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((end, _)) => format!("{}…", shown(&text[..end])),
        None => shown(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_and_letters_read_as_ascii() {
        assert_eq!(half_width("６９３５７８０１００１２８"), "6935780100128");
        assert_eq!(half_width("ＢＪ－ＨＪＣ－２５０＊２"), "BJ-HJC-250*2");
        assert_eq!(half_width("猕猴桃\u{3000}１"), "猕猴桃 1");
        assert!(matches!(
            half_width("6935780100128"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escapes_what_would_redraw_or_reorder_a_line_and_nothing_else() {
        assert_eq!(shown("保靖黄金茶 100g"), "保靖黄金茶 100g");
        assert_eq!(shown("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(shown("x\ny\u{9b}"), "x\\u{a}y\\u{9b}");
        assert_eq!(shown("\u{202e}cba"), "\\u{202e}cba");
        assert_eq!(shown_cut("保靖黄金茶", 2), "保靖…");
        assert_eq!(shown_cut("保靖", 2), "保靖");
        assert_eq!(shown_cut("a\u{1b}c", 2), "a\\u{1b}…");
    }

    #[test]
    fn reads_utf8_and_gbk_and_refuses_neither() {
        let (gbk, _, _) = encoding_rs::GBK.encode("保靖黄金茶");
        assert_eq!(utf8_or_gbk(&gbk), Some(("保靖黄金茶".into(), "gbk")));
        let bom = "\u{feff}sku".as_bytes();
        assert_eq!(utf8_or_gbk(bom), Some(("sku".into(), "utf-8")));
        // UTF-16, as "Unicode text" is saved: neither.
        assert_eq!(utf8_or_gbk(&[0xff, 0xfe, b's', 0, 0xd8, 0x00]), None);
    }
}
