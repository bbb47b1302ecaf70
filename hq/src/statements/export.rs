//! The statement match as one table, for CSV and XLSX: every movement with its result.

use super::matching::{Recorded, StatementMatch};
use crate::{Error, Result};
use fairpos_domain::Fen;
use fairpos_projection::report::format::{spreadsheet_safe, xlsx_text, XLSX_ROWS};

const HEADER: [&str; 13] = [
    "结果 result",
    "摊位 stall",
    "方式 method",
    "类别 flow",
    "单号 sale",
    "退款/作废 record",
    "收银员 seller",
    "班次 shift",
    "金额 amount_yuan",
    "收银机时间 till_time",
    "账单时间 statement_time",
    "账单流水号 txn",
    "账单文件 file_line",
];

/// One row per movement: matched, paid on paper only (recorded, not in a statement), or in
/// a statement only.
pub fn rows(m: &StatementMatch) -> Vec<[String; 13]> {
    let paper_only = m
        .recorded_not_in_statement
        .iter()
        .map(|r| recorded_row("仅收银机 paper only", r, ["", "", ""]));
    let statement_only = m.in_statement_not_recorded.iter().map(|s| {
        [
            "仅账单 statement only".into(),
            s.stall.clone(),
            s.provider.into(),
            s.flow.into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            Fen(s.amount_fen).to_string(),
            String::new(),
            s.at.clone(),
            s.txn.clone(),
            format!("{}:{}", s.file, s.line),
        ]
    });
    let matched = m.matched.iter().map(|x| {
        recorded_row(
            "已核对 matched",
            &x.recorded,
            [x.statement_at.as_str(), x.txn.as_str(), ""],
        )
    });
    paper_only.chain(statement_only).chain(matched).collect()
}

/// A till's movement as a row, with the statement's side (time, transaction, file:line).
fn recorded_row(result: &str, r: &Recorded, statement: [&str; 3]) -> [String; 13] {
    let [at, txn, file] = statement.map(str::to_string);
    [
        result.into(),
        r.stall.clone(),
        r.method.into(),
        r.flow.into(),
        r.sale.clone(),
        r.record.clone(),
        format!("{} {}", r.seller, r.seller_name),
        r.shift.clone(),
        Fen(r.amount_fen).to_string(),
        r.at.clone(),
        at,
        txn,
        file,
    ]
}

/// The column of the amount, in yuan.
const AMOUNT: usize = 8;

/// The match as CSV: a header row, then a row per payment or refund (text cells made safe
/// for a spreadsheet, the amount a number).
pub fn csv(m: &StatementMatch) -> Result<Vec<u8>> {
    let fail = |e: csv::Error| Error::Other(format!("CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).map_err(fail)?;
    for row in rows(m) {
        // Text as text (a statement's and a till's words); the amount (column 8) a number.
        let cells = row.iter().enumerate().map(|(c, cell)| match c {
            AMOUNT => cell.clone(),
            _ => spreadsheet_safe(cell).into_owned(),
        });
        w.write_record(cells).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Other(format!("CSV: {}", e.error())))
}

/// Refuses a worksheet of `rows` rows (its headers' and totals' among them) past what one
/// holds: said, not failed deep in the writer as "headquarters failed to answer".
pub(crate) fn fits_a_worksheet(rows: usize) -> Result<()> {
    if rows > XLSX_ROWS {
        return Err(Error::input(format!(
            "{rows} rows are more than a spreadsheet holds ({XLSX_ROWS} with its headers): \
             export CSV"
        )));
    }
    Ok(())
}

/// The match as an XLSX workbook of one sheet, the amount in yuan as a number.
pub fn xlsx(m: &StatementMatch) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| Error::Other(format!("XLSX: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let rows = rows(m);
    fits_a_worksheet(rows.len() + 1)?;
    let sheet = book.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(fail)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            if c == AMOUNT {
                let yuan: f64 = cell.parse().unwrap_or(0.0);
                let column = AMOUNT as u16;
                sheet
                    .write_with_format(r, column, yuan, &money)
                    .map_err(fail)?;
            } else {
                sheet.write(r, c as u16, xlsx_text(cell)).map_err(fail)?;
            }
        }
    }
    sheet.set_column_width(0, 22).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worksheet's last row is taken; one row more is refused by name, pointing at CSV.
    #[test]
    fn rows_past_a_worksheet_are_refused_naming_csv() {
        fits_a_worksheet(XLSX_ROWS).unwrap();
        let e = fits_a_worksheet(XLSX_ROWS + 1).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains("export CSV"), "{e}");
    }
}
