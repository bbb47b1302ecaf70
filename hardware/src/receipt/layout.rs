//! A receipt laid out for its paper: lines that fit the printer's columns (a CJK character is
//! two columns), long names wrapped, amounts right-aligned. The same lines are printed and
//! shown (`fairpos receipt show`).

use super::charset::{char_columns, columns};
use super::{yuan, Receipt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
}

/// One printed element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// One line of text, never wider than the paper.
    Text {
        text: String,
        align: Align,
        bold: bool,
    },
    /// A dashed line across the paper.
    Rule,
    /// A QR code with this payload.
    Qr(String),
}

/// Splits `text` into lines of at most `width` columns, keeping ASCII words whole where they
/// fit on a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(2);
    // Tokens: an ASCII word, or a single other character; spaces join the token before.
    let mut tokens: Vec<String> = Vec::new();
    for c in text.chars() {
        let joins = match tokens.last() {
            None => false,
            Some(_) if c == ' ' => true,
            Some(t) => c.is_ascii() && !t.ends_with(' ') && t.is_ascii(),
        };
        match tokens.last_mut() {
            Some(t) if joins => t.push(c),
            _ => tokens.push(c.to_string()),
        }
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for token in tokens {
        let w = columns(token.trim_end());
        if columns(&line) + w > width && !line.is_empty() {
            lines.push(line.trim_end().to_string());
            line = String::new();
        }
        if w > width {
            // A word longer than a line is cut.
            for c in token.chars() {
                if columns(&line) + char_columns(c) > width {
                    lines.push(line.trim_end().to_string());
                    line = String::new();
                }
                line.push(c);
            }
        } else if !(line.is_empty() && token.trim().is_empty()) {
            line.push_str(&token);
        }
    }
    if !line.trim().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// `left` and `right` on one line, `right` against the right edge; when they do not fit
/// together, `left` wraps above and `right` keeps the last line; a `right` wider than the
/// paper (a seller's long team name) wraps on lines of its own.
pub fn two_columns(left: &str, right: &str, width: usize) -> Vec<String> {
    let rw = columns(right);
    if columns(left) + 1 + rw <= width {
        let pad = width - columns(left) - rw;
        return vec![format!("{left}{}{right}", " ".repeat(pad))];
    }
    let mut lines = wrap(left, width);
    let last = lines.pop().unwrap_or_default();
    if columns(&last) + 1 + rw <= width {
        let pad = width - columns(&last) - rw;
        lines.push(format!("{last}{}{right}", " ".repeat(pad)));
    } else {
        lines.push(last);
        if rw <= width {
            lines.push(format!("{}{right}", " ".repeat(width - rw)));
        } else {
            // It went out as one line wider than the paper, which the printer broke
            // anywhere.
            lines.extend(wrap(right, width));
        }
    }
    lines
}

fn text(lines: Vec<String>, align: Align, bold: bool) -> impl Iterator<Item = Block> {
    lines
        .into_iter()
        .map(move |text| Block::Text { text, align, bold })
}

/// Lays `receipt` out on paper `width` columns wide.
pub fn layout(receipt: &Receipt, width: usize) -> Vec<Block> {
    let mut out = Vec::new();
    if receipt.reprint {
        out.push(Block::Text {
            text: "** 重印 REPRINT **".into(),
            align: Align::Center,
            bold: true,
        });
    }
    out.extend(text(wrap(&receipt.title, width), Align::Center, true));
    if !receipt.subtitle.is_empty() {
        out.extend(text(wrap(&receipt.subtitle, width), Align::Center, false));
    }
    for (label, value) in &receipt.header {
        out.extend(text(two_columns(label, value, width), Align::Left, false));
    }
    out.push(Block::Rule);
    for line in &receipt.lines {
        out.extend(text(wrap(&line.name, width), Align::Left, false));
        let detail = format!("  {} x {}", line.quantity, line.unit_price);
        out.extend(text(
            two_columns(&detail, &yuan(line.amount_fen), width),
            Align::Left,
            false,
        ));
    }
    out.push(Block::Rule);
    out.extend(text(
        two_columns("合计 TOTAL", &yuan(receipt.total_fen), width),
        Align::Left,
        true,
    ));
    for (method, fen) in &receipt.payments {
        out.extend(text(
            two_columns(method, &yuan(*fen), width),
            Align::Left,
            false,
        ));
    }
    if receipt.change_fen != 0 {
        out.extend(text(
            two_columns("找零 CHANGE", &yuan(receipt.change_fen), width),
            Align::Left,
            false,
        ));
    }
    if !receipt.buyer.is_empty() {
        out.push(Block::Rule);
        for (label, value) in &receipt.buyer {
            out.extend(text(
                wrap(&format!("{label}: {value}"), width),
                Align::Left,
                false,
            ));
        }
    }
    if let Some(qr) = &receipt.qr {
        out.push(Block::Rule);
        out.push(Block::Qr(qr.clone()));
        if !receipt.qr_caption.is_empty() {
            out.extend(text(wrap(&receipt.qr_caption, width), Align::Center, false));
        }
    }
    for line in &receipt.footer {
        out.extend(text(wrap(line, width), Align::Center, false));
    }
    out
}

/// The laid-out receipt as UTF-8 text, line for line as printed (a QR code as its payload),
/// each control character a space as the printer is sent it: a catalog name's escape
/// sequence reached the operator's terminal as it was.
pub fn to_text(blocks: &[Block], width: usize) -> String {
    let mut out = String::new();
    for block in blocks {
        let line = match block {
            Block::Text { text, align, .. } => match align {
                Align::Left => text.clone(),
                Align::Center => center(text, width),
            },
            Block::Rule => "-".repeat(width),
            Block::Qr(payload) => center(&format!("[QR {payload}]"), width),
        };
        let shown: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(shown.trim_end());
        out.push('\n');
    }
    out
}

fn center(text: &str, width: usize) -> String {
    let pad = width.saturating_sub(columns(text)) / 2;
    format!("{}{text}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_wider_than_the_paper_wraps_on_lines_of_its_own() {
        let seller = "李华 (V003) 长沙理工大学青年志愿者服务队";
        let lines = two_columns("收银员 Seller", seller, 32);
        assert!(lines.iter().all(|l| columns(l) <= 32), "{lines:#?}");
        let said: String = lines[1..].concat();
        assert_eq!(said.replace(' ', ""), seller.replace(' ', ""), "{lines:#?}");
    }

    #[test]
    fn wrapping_counts_cjk_as_two_columns_and_keeps_words() {
        assert_eq!(
            wrap("消费帮扶 帆布袋（学生队文创）", 16),
            vec!["消费帮扶 帆布袋", "（学生队文创）"]
        );
        assert_eq!(
            wrap("Shibadong Kiwifruit 2.5kg box", 16),
            vec!["Shibadong", "Kiwifruit 2.5kg", "box"]
        );
        assert_eq!(
            wrap("ABCDEFGHIJKLMNOPQRS", 8),
            vec!["ABCDEFGH", "IJKLMNOP", "QRS"]
        );
        for line in wrap("南山牧场纯牛奶 250ml×12 城步苗族自治县出品", 20) {
            assert!(columns(&line) <= 20, "{line}");
        }
    }

    #[test]
    fn the_text_shows_no_control_character() {
        let blocks = [
            Block::Text {
                text: "茶\u{1b}[2J\u{1b}]52;c;aGk=\u{7}".into(),
                align: Align::Left,
                bold: false,
            },
            Block::Qr("FPB1:\u{10}\u{14}".into()),
        ];
        let text = to_text(&blocks, 32);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.starts_with("茶 [2J ]52;c;aGk="), "{text:?}");
    }

    #[test]
    fn amounts_stay_right_aligned() {
        assert_eq!(
            two_columns("  2盒 x ￥128.00", "￥256.00", 32),
            vec!["  2盒 x ￥128.00        ￥256.00"]
        );
        let long = two_columns("  1.5斤 x ￥7.80/斤 (十八洞猕猴桃)", "￥11.70", 32);
        for line in &long {
            assert!(columns(line) <= 32, "{line}");
        }
        assert!(long.last().unwrap().ends_with("￥11.70"));
        assert_eq!(columns(long.last().unwrap()), 32);
    }
}
