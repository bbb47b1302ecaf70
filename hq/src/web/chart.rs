//! Charts as server-rendered SVG: the big screen's and the dashboard pages'. No script and no
//! chart library to ship, so a page works offline, without JavaScript, and prints as drawn.
//! The SVG is an askama template (`hq/templates/dashboard/chart_*.html`), so every label is
//! escaped by the engine; sizes come from a `viewBox`, so a chart fills whatever box the page
//! gives it.

use askama::Template;
use fairpos_domain::payment::Method;
use fairpos_projection::report::{day_and_hour, Report};

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

/// Amounts in yuan, rounded to the nearest for a chart's labels (`￥129` for 128.99), the
/// sign before `￥` as the tables write it: `-￥2`, `￥1.2万` from ten thousand yuan up.
/// Before, the yuan were cut off (128.99 was `￥128`, -0.50 `￥0`, -1.50 `￥-1`).
fn short_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let yuan = (fen + 50) / 100;
    if yuan >= 10_000 {
        format!("{sign}￥{:.1}万", fen as f64 / 1_000_000.0)
    } else {
        format!("{sign}￥{yuan}")
    }
}

/// A column placed: numbers formatted to a tenth, texts as they are (the template escapes
/// them). The amount stands above the bar, the label beneath, both centred on `text_x`.
struct Column {
    x: String,
    y: String,
    width: String,
    height: String,
    fen: i64,
    label: String,
    amount: String,
    short: String,
    text_x: String,
    amount_y: String,
    label_y: String,
}

/// A row's bar placed: the label ends at `label_x`, the amount follows the bar at `amount_x`.
struct Row {
    x: String,
    y: String,
    width: String,
    height: String,
    fill: &'static str,
    fen: i64,
    label: String,
    amount: String,
    label_x: String,
    amount_x: String,
    text_y: String,
}

fn tenth(v: f64) -> String {
    format!("{v:.1}")
}

#[derive(Template)]
#[template(path = "dashboard/chart_columns.html")]
struct ColumnsSvg<'a> {
    w: f64,
    h: f64,
    mid_x: String,
    mid_y: String,
    title: &'a str,
    font: String,
    red: &'static str,
    marks: Vec<Column>,
}

#[derive(Template)]
#[template(path = "dashboard/chart_rows.html")]
struct RowsSvg<'a> {
    w: f64,
    h: f64,
    mid_x: String,
    mid_y: String,
    title: &'a str,
    marks: Vec<Row>,
}

#[derive(Template)]
#[template(path = "dashboard/chart_figure.html")]
struct Figure<'a> {
    caption: &'a str,
    svg: &'a str,
}

/// A template's text; a chart that cannot be drawn (a formatting failure) is left out.
fn drawn(t: &impl Template) -> String {
    t.render().unwrap_or_default()
}

/// Columns side by side (sales by hour): amounts above, labels beneath.
pub fn columns(bars: &[Bar], title: &str) -> String {
    let (w, h, top, bottom) = (1200.0_f64, 300.0_f64, 36.0, 40.0);
    let max = bars.iter().map(|b| b.fen).max().unwrap_or(0).max(1) as f64;
    let slot = w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.7).clamp(2.0, 90.0);
    let font = (slot * 0.28).clamp(12.0, 26.0);
    let marks = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let bh = (b.fen.max(0) as f64 / max) * (h - top - bottom);
            let y = h - bottom - bh;
            Column {
                x: tenth(i as f64 * slot + (slot - bar_w) / 2.0),
                y: tenth(y),
                width: tenth(bar_w),
                height: tenth(bh),
                fen: b.fen,
                label: b.label.clone(),
                amount: yuan(b.fen),
                short: short_yuan(b.fen),
                text_x: tenth(i as f64 * slot + slot / 2.0),
                amount_y: tenth((y - 8.0).max(font)),
                label_y: tenth(h - bottom + font + 8.0),
            }
        })
        .collect();
    drawn(&ColumnsSvg {
        w,
        h,
        mid_x: tenth(w / 2.0),
        mid_y: tenth(h / 2.0),
        title,
        font: format!("{font:.0}"),
        red: RED,
        marks,
    })
}

/// Rows of bars, largest first as given (counties, teams, sellers, payment methods): the label
/// on the left, the amount at the bar's end. At most `limit` rows.
pub fn rows(bars: &[Bar], title: &str, limit: usize) -> String {
    let shown = &bars[..bars.len().min(limit)];
    let row_h = 44.0_f64;
    let (w, label_w, value_w) = (640.0_f64, 210.0_f64, 150.0_f64);
    let h = (shown.len().max(1) as f64) * row_h;
    let max = shown.iter().map(|b| b.fen).max().unwrap_or(0).max(1) as f64;
    let marks = shown
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let y = i as f64 * row_h;
            let bw = (b.fen.max(0) as f64 / max) * (w - label_w - value_w);
            Row {
                x: tenth(label_w),
                y: tenth(y + row_h * 0.15),
                width: tenth(bw),
                height: tenth(row_h * 0.7),
                fill: if i == 0 { RED } else { PALE },
                fen: b.fen,
                label: b.label.clone(),
                amount: yuan(b.fen),
                label_x: tenth(label_w - 12.0),
                amount_x: tenth(label_w + bw + 10.0),
                text_y: tenth(y + row_h * 0.68),
            }
        })
        .collect();
    drawn(&RowsSvg {
        w,
        h,
        mid_x: tenth(w / 2.0),
        mid_y: tenth(h / 2.0),
        title,
        marks,
    })
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
/// shown as nothing: 24 bars at most. Keys are `2026-11-22T10` (the fair's local time);
/// a key of another shape (from a forged sale's time) is left out.
pub fn hours_of_last_day(r: &Report) -> Vec<Bar> {
    let parsed: Vec<(&str, u32, i64)> = r
        .rows
        .iter()
        .filter_map(|row| {
            let (day, hour) = day_and_hour(&row.key)?;
            Some((day, hour, row.net_fen))
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
    drawn(&Figure { caption, svg })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairpos_projection::report::{Dimension, ReportRow};

    /// Labels round to the nearest yuan, the sign before `￥` as in the tables.
    #[test]
    fn short_labels_round_and_sign_as_the_tables() {
        let cases = [
            (12_899, "￥129"),
            (12_849, "￥128"),
            (-150, "-￥2"),
            (-50, "-￥1"),
            (0, "￥0"),
            (-1_250_000, "-￥1.2万"),
            (1_250_000, "￥1.2万"),
        ];
        for (fen, label) in cases {
            assert_eq!(short_yuan(fen), label, "{fen}");
        }
    }

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = rows(
            &[Bar::new("湘韵队", 40_000), Bar::new("<script>", 20_000)],
            "teams",
            10,
        );
        assert!(svg.contains("&#60;script&#62;") && !svg.contains("<script>"));
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

    /// A forged sale's time makes a key of any shape: it is left out, and the chart stays
    /// within a day's 24 hours (`0..=4294967295` would have been four billion bars).
    #[test]
    fn hours_of_another_shape_are_left_out() {
        let r = Report {
            by: Dimension::Hour,
            rows: vec![
                row("2026-11-22T09", 100),
                row("9T00000000000", 1),
                row("9T04294967295", 1),
                row("2026-11-22T24", 1),
                row("2026-11-22T+1", 1),
                row("2026-11-22T10", 200),
            ],
            sales_fen: 304,
            refunds_fen: 0,
            net_fen: 304,
        };
        let hours = hours_of_last_day(&r);
        let labels: Vec<_> = hours.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["9时", "10时"]);
        let only_forged = Report {
            rows: vec![row("9T00000000000", 1), row("9T04294967295", 1)],
            ..r
        };
        assert!(hours_of_last_day(&only_forged).is_empty());
    }
}
