//! A report written as an aligned text table, CSV, JSON or an XLSX workbook.

use std::str::FromStr;

use rust_xlsxwriter::{Format, Workbook};
use unicode_width::UnicodeWidthStr;

use super::Report;
use crate::{Error, Result};
use fairpos_domain::money::Fen;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Xlsx,
}

impl FromStr for OutputFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<OutputFormat> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "xlsx" => Ok(OutputFormat::Xlsx),
            _ => {
                let given: String = s.chars().take(32).collect();
                Err(Error::input(format!(
                    "unknown format {given:?}; use table, csv, json or xlsx"
                )))
            }
        }
    }
}

/// `report` in `format`, as the bytes of a file (JSON ends with a newline).
pub fn render(report: &Report, format: OutputFormat) -> Result<Vec<u8>> {
    Ok(match format {
        OutputFormat::Table => table(report).into_bytes(),
        OutputFormat::Csv => csv(report)?,
        OutputFormat::Json => {
            let mut j = json(report)?;
            j.push('\n');
            j.into_bytes()
        }
        OutputFormat::Xlsx => xlsx(report)?,
    })
}

const HEADERS: [&str; 6] = ["key", "label", "count", "sales", "refunds", "net"];

/// Pads `text` with spaces to `width` display columns (a CJK character takes two).
pub fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

pub fn table(report: &Report) -> String {
    let mut cells: Vec<[String; 6]> = vec![HEADERS.map(str::to_string)];
    for r in &report.rows {
        cells.push([
            r.key.clone(),
            r.label.clone(),
            r.count.to_string(),
            Fen(r.sales_fen).to_string(),
            Fen(r.refunds_fen).to_string(),
            Fen(r.net_fen).to_string(),
        ]);
    }
    cells.push([
        "TOTAL".into(),
        String::new(),
        String::new(),
        Fen(report.sales_fen).to_string(),
        Fen(report.refunds_fen).to_string(),
        Fen(report.net_fen).to_string(),
    ]);
    let mut widths = [0usize; 6];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let mut out = format!("by {}\n", report.by.as_str());
    for (i, row) in cells.iter().enumerate() {
        if i == cells.len() - 1 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, c)| pad(c, widths[j], j >= 2))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `text` as a CSV cell a spreadsheet shows as text: with a `'` before it when it would be
/// taken as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first), as OWASP
/// advises against CSV injection. For cells of names and labels (a product a till added, a
/// client's words), not of amounts, whose minus sign is the number's.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// `report` as CSV: a header row, then a row per key (its key and label made safe for a
/// spreadsheet, the figures numbers).
pub fn csv(report: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[String]| {
        w.write_record(rec)
            .map_err(|e| Error::Output(format!("writing CSV: {e}")))
    };
    write(
        &mut w,
        &[
            "key",
            "label",
            "count",
            "sales_yuan",
            "refunds_yuan",
            "net_yuan",
        ]
        .map(String::from),
    )?;
    for r in &report.rows {
        write(
            &mut w,
            &[
                spreadsheet_safe(&r.key).into_owned(),
                spreadsheet_safe(&r.label).into_owned(),
                r.count.to_string(),
                Fen(r.sales_fen).to_string(),
                Fen(r.refunds_fen).to_string(),
                Fen(r.net_fen).to_string(),
            ],
        )?;
    }
    w.into_inner()
        .map_err(|e| Error::Output(format!("writing CSV: {}", e.error())))
}

/// `report` as JSON (pretty, amounts in fen).
pub fn json(report: &Report) -> Result<String> {
    serde_json::to_string_pretty(report).map_err(|e| Error::Output(format!("writing JSON: {e}")))
}

/// The rows of an XLSX worksheet.
pub const XLSX_ROWS: usize = 1_048_576;

/// The most characters an XLSX cell holds.
const XLSX_CELL: usize = 32_767;

/// `text` as an XLSX cell holds it: cut to 32 767 characters, `…` at the end (a sale line's
/// name from a forged ledger was longer, and the whole download failed for everyone).
pub fn xlsx_text(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(XLSX_CELL) {
        Some(_) => {
            let keep: String = text.chars().take(XLSX_CELL - 1).collect();
            std::borrow::Cow::Owned(keep + "…")
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// An XLSX workbook with one sheet; amounts are yuan numbers shown with two decimals.
pub fn xlsx(report: &Report) -> Result<Vec<u8>> {
    let fail = |e: rust_xlsxwriter::XlsxError| Error::Output(format!("writing XLSX: {e}"));
    // The header, the rows, the total.
    if report.rows.len() + 2 > XLSX_ROWS {
        return Err(Error::Output(format!(
            "{} rows are more than a spreadsheet holds ({XLSX_ROWS} with its header and \
             total): export CSV",
            report.rows.len()
        )));
    }
    let mut book = Workbook::new();
    let money = Format::new().set_num_format("#,##0.00");
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(report.by.as_str()).map_err(fail)?;
    let yuan = |fen: i64| fen as f64 / 100.0;
    for (c, h) in [
        "key",
        "label",
        "count",
        "sales (yuan)",
        "refunds (yuan)",
        "net (yuan)",
    ]
    .iter()
    .enumerate()
    {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(fail)?;
    }
    let mut r: u32 = 1;
    for row in &report.rows {
        sheet.write(r, 0, xlsx_text(&row.key)).map_err(fail)?;
        sheet.write(r, 1, xlsx_text(&row.label)).map_err(fail)?;
        sheet.write(r, 2, row.count as f64).map_err(fail)?;
        sheet
            .write_with_format(r, 3, yuan(row.sales_fen), &money)
            .map_err(fail)?;
        sheet
            .write_with_format(r, 4, yuan(row.refunds_fen), &money)
            .map_err(fail)?;
        sheet
            .write_with_format(r, 5, yuan(row.net_fen), &money)
            .map_err(fail)?;
        r += 1;
    }
    sheet
        .write_with_format(r, 0, "TOTAL", &bold)
        .map_err(fail)?;
    sheet
        .write_with_format(r, 3, yuan(report.sales_fen), &money)
        .map_err(fail)?;
    sheet
        .write_with_format(r, 4, yuan(report.refunds_fen), &money)
        .map_err(fail)?;
    sheet
        .write_with_format(r, 5, yuan(report.net_fen), &money)
        .map_err(fail)?;
    sheet.set_column_width(1, 28).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::super::{Dimension, ReportRow};
    use super::*;

    #[test]
    fn a_name_a_spreadsheet_would_run_is_text_and_a_negative_amount_a_number() {
        let row = ReportRow {
            key: "=HYPERLINK(\"http://x\")".into(),
            label: "@SUM(A1)".into(),
            net_fen: -1200,
            sales_fen: 0,
            refunds_fen: 1200,
            count: 1,
            qty: None,
            qty_unit: None,
        };
        let report = Report {
            by: Dimension::Product,
            net_fen: -1200,
            sales_fen: 0,
            refunds_fen: 1200,
            rows: vec![row],
        };
        let text = String::from_utf8(csv(&report).unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        let quoted = r#""'=HYPERLINK(""http://x"")""#;
        assert_eq!(line, format!("{quoted},'@SUM(A1),1,0.00,12.00,-12.00"));
        assert_eq!(spreadsheet_safe("保靖县"), "保靖县");
        assert_eq!(spreadsheet_safe("\tx"), "'\tx");
    }

    /// A label longer than a cell holds (a forged ledger's line) is cut, and the workbook
    /// written: the whole download failed for everyone.
    #[test]
    fn a_label_longer_than_a_cell_is_cut_and_the_workbook_written() {
        let long = "长".repeat(40_000);
        let cut = xlsx_text(&long);
        assert_eq!(cut.chars().count(), XLSX_CELL);
        assert!(cut.ends_with('…'));
        assert!(matches!(xlsx_text("保靖县"), std::borrow::Cow::Borrowed(_)));
        let row = ReportRow {
            key: "K".into(),
            label: long,
            net_fen: 1,
            sales_fen: 1,
            refunds_fen: 0,
            count: 1,
            qty: None,
            qty_unit: None,
        };
        let report = Report {
            by: Dimension::Product,
            net_fen: 1,
            sales_fen: 1,
            refunds_fen: 0,
            rows: vec![row],
        };
        assert!(xlsx(&report).is_ok());
    }

    #[test]
    fn cjk_pads_by_display_width() {
        assert_eq!(pad("保靖县", 8, false), "保靖县  ");
        assert_eq!(pad("12.00", 8, true), "   12.00");
    }
}
