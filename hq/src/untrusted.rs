//! Text that came from outside (a till's bundle, a copy of the catalog), as an organizer's
//! terminal may show it.

/// `text` with its control and format characters (terminal escapes, bidi overrides,
/// zero-width characters) written as `\u{…}`, so that what it says cannot redraw or reorder
/// the lines around it.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            let hidden = c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}' | '\u{feff}');
            if hidden {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
    }
}
