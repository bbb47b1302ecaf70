//! What comes from outside: text (a till's bundle, a copy of the catalog) as an organizer's
//! terminal may show it, and files read no further than they may hold.

use std::path::Path;

/// The bytes of `path`, read no further than `limit` whatever the file says its length is
/// (a pipe says 0): `None` when it holds more.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
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
    fn a_file_is_read_no_further_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("five");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_at_most(&file, 5).unwrap(), Some(b"12345".to_vec()));
        assert_eq!(read_at_most(&file, 4).unwrap(), None, "one byte too many");
        assert!(read_at_most(&dir.path().join("none"), 5).is_err());
    }
}
