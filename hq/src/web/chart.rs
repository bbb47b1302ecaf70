//! Charts as server-rendered SVG: the big screen's and the dashboard pages'. No script and no
//! chart library to ship, so a page works offline, without JavaScript, and prints as drawn.
//! Every label is escaped; sizes come from a `viewBox`, so a chart fills whatever box the page
//! gives it.

use std::fmt::Write as _;

use fairpos_domain::payment::Method;
use fairpos_projection::report::Report;

use super::yuan;

/// One bar: what it stands for and its amount in fen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bar {
    pub label: String,
    pub fen: i64,
}

impl Bar {
    pub fn new(label: impl Into<String>, fen: i64) -> Bar {
        Bar {
            label: label.into(),
            fen,
        }
    }
}

/// The fair's red, and its paler tint for bars after the first.
const RED: &str = "#8a1c1c";
const PALE: &str = "#c7817a";

/// Amounts in yuan, rounded for a chart's labels: `￥1.2万` from ten thousand yuan up.
fn short_yuan(fen: i64) -> String {
    let yuan_whole = fen / 100;
    if yuan_whole.abs() >= 10_000 {
        format!("￥{:.1}万", fen as f64 / 1_000_000.0)
    } else {
        format!("￥{yuan_whole}")
    }
}

/// Columns side by side (sales by hour): amounts above, labels beneath.
pub fn columns(bars: &[Bar], title: &str) -> String {
    let (w, h, top, bottom) = (1200.0_f64, 300.0_f64, 36.0, 40.0);
    let mut svg = open(w, h, title);
    if bars.is_empty() {
        return empty(svg, w, h);
    }
    let max = bars.iter().map(|b| b.fen).max().unwrap_or(0).max(1) as f64;
    let slot = w / bars.len() as f64;
    let bar_w = (slot * 0.7).clamp(2.0, 90.0);
    let font = (slot * 0.28).clamp(12.0, 26.0);
    for (i, b) in bars.iter().enumerate() {
        let bh = (b.fen.max(0) as f64 / max) * (h - top - bottom);
        let x = i as f64 * slot + (slot - bar_w) / 2.0;
        let y = h - bottom - bh;
        let cx = i as f64 * slot + slot / 2.0;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" fill=\"{RED}\" data-fen=\"{}\"><title>{} {}</title></rect>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"{font:.0}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"{font:.0}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            b.fen,
            esc(&b.label),
            esc(&yuan(b.fen)),
            (y - 8.0).max(font),
            esc(&short_yuan(b.fen)),
            h - bottom + font + 8.0,
            esc(&b.label),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Rows of bars, largest first as given (counties, teams, sellers, payment methods): the label
/// on the left, the amount at the bar's end. At most `limit` rows.
pub fn rows(bars: &[Bar], title: &str, limit: usize) -> String {
    let shown = &bars[..bars.len().min(limit)];
    let row_h = 44.0_f64;
    let (w, label_w, value_w) = (640.0_f64, 210.0_f64, 150.0_f64);
    let h = (shown.len().max(1) as f64) * row_h;
    let mut svg = open(w, h, title);
    if shown.is_empty() {
        return empty(svg, w, h);
    }
    let max = shown.iter().map(|b| b.fen).max().unwrap_or(0).max(1) as f64;
    for (i, b) in shown.iter().enumerate() {
        let y = i as f64 * row_h;
        let bw = (b.fen.max(0) as f64 / max) * (w - label_w - value_w);
        let fill = if i == 0 { RED } else { PALE };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"24\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{fill}\" data-fen=\"{}\"><title>{} {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"24\" font-weight=\"bold\">{}</text>",
            label_w - 12.0,
            y + row_h * 0.68,
            esc(&b.label),
            y + row_h * 0.15,
            row_h * 0.7,
            b.fen,
            esc(&b.label),
            esc(&yuan(b.fen)),
            label_w + bw + 10.0,
            y + row_h * 0.68,
            esc(&yuan(b.fen)),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(w: f64, h: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"{0}\" class=\"chart\" preserveAspectRatio=\"xMidYMid meet\"><title>{0}</title>",
        esc(title)
    )
}

fn empty(mut svg: String, w: f64, h: f64) -> String {
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"26\" text-anchor=\"middle\" fill=\"#777\">暂无销售 No sales yet</text></svg>",
        w / 2.0,
        h / 2.0
    );
    svg
}

/// A report's rows as bars, by their labels.
pub fn labelled_bars(r: &Report) -> Vec<Bar> {
    r.rows
        .iter()
        .map(|row| Bar::new(&row.label, row.net_fen))
        .collect()
}

/// The payment report's rows as bars, by the methods' Chinese names.
pub fn payment_bars(r: &Report) -> Vec<Bar> {
    r.rows
        .iter()
        .map(|row| {
            let label = Method::parse(&row.key)
                .map_or_else(|_| row.key.clone(), |m| m.label_zh().to_string());
            Bar::new(label, row.net_fen)
        })
        .collect()
}

/// The latest day's hours, from its first sale's hour to its last, an hour with no sale
/// shown as nothing. Keys are `2026-11-22T10` (the fair's local time).
pub fn hours_of_last_day(r: &Report) -> Vec<Bar> {
    let parsed: Vec<(&str, u32, i64)> = r
        .rows
        .iter()
        .filter_map(|row| {
            let (day, hour) = row.key.split_once('T')?;
            Some((day, hour.parse().ok()?, row.net_fen))
        })
        .collect();
    let Some(day) = parsed.iter().map(|p| p.0).max() else {
        return Vec::new();
    };
    let today: Vec<_> = parsed.iter().filter(|p| p.0 == day).collect();
    let first = today.iter().map(|p| p.1).min().unwrap_or(0);
    let last = today.iter().map(|p| p.1).max().unwrap_or(0);
    (first..=last)
        .map(|h| {
            let fen = today.iter().filter(|p| p.1 == h).map(|p| p.2).sum();
            Bar::new(format!("{h}时"), fen)
        })
        .collect()
}

/// A chart under its caption, for the dashboard's pages.
pub fn figure(caption: &str, svg: &str) -> String {
    format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption>{svg}</figure>",
        esc(caption)
    )
}

/// Escapes text for SVG (XML) and HTML: charts are drawn here, not by a template.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_projection::report::{Dimension, ReportRow};

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = rows(
            &[Bar::new("湘韵队", 40_000), Bar::new("<script>", 20_000)],
            "teams",
            10,
        );
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        // The second bar is half the first's width.
        let widths: Vec<f64> = svg
            .match_indices("width=\"")
            .map(|(i, _)| {
                let rest = &svg[i + 7..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths.len(), 2);
        assert!((widths[0] - 2.0 * widths[1]).abs() < 0.2, "{widths:?}");
        assert!(svg.contains("data-fen=\"40000\"") && svg.contains("￥400.00"));
    }

    #[test]
    fn columns_show_each_amount_and_an_empty_chart_says_so() {
        let svg = columns(
            &[Bar::new("10时", 1_230_000), Bar::new("11时", 0)],
            "by hour",
        );
        assert!(svg.contains("￥1.2万") && svg.contains("￥0<") && svg.contains("11时"));
        assert!(columns(&[], "by hour").contains("No sales yet"));
        assert!(rows(&[Bar::new("x", 1)], "t", 0).contains("No sales yet"));
    }

    fn row(key: &str, net: i64) -> ReportRow {
        ReportRow {
            key: key.into(),
            label: key.into(),
            count: 1,
            sales_fen: net,
            refunds_fen: 0,
            net_fen: net,
            qty: None,
            qty_unit: None,
        }
    }

    #[test]
    fn hours_are_the_latest_days_with_the_quiet_ones_between() {
        let r = Report {
            by: Dimension::Hour,
            rows: vec![
                row("2026-11-21T15", 900),
                row("2026-11-22T09", 100),
                row("2026-11-22T12", 300),
            ],
            sales_fen: 1300,
            refunds_fen: 0,
            net_fen: 1300,
        };
        let hours = hours_of_last_day(&r);
        let labels: Vec<_> = hours.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["9时", "10时", "11时", "12时"]);
        assert_eq!(
            hours.iter().map(|b| b.fen).collect::<Vec<_>>(),
            [100, 0, 0, 300]
        );
    }
}
