//! A purchasing unit's itemised list for its reimbursement: item, unit price, quantity,
//! amount, date and stall of every line it bought, net of refunds and without voided sales;
//! as data, CSV and XLSX.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::{Error, Result};
use fairpos_domain::catalog::{grams_in_units, grams_per_unit};
use fairpos_domain::Fen;
use fairpos_projection::report::format::spreadsheet_safe;

/// One line of a unit's itemised list, net of refunds.
#[derive(Clone, Debug, Serialize)]
pub struct UnitItem {
    pub date: String,
    pub sale: String,
    pub stall: String,
    pub item: String,
    pub unit_price_fen: i64,
    /// Pieces, or the weight in the product's unit (`1.5`).
    pub quantity: String,
    pub unit: String,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnitItems {
    pub tax_id: String,
    pub name: String,
    pub total_fen: i64,
    pub items: Vec<UnitItem>,
}

/// Every line a unit bought in sales not voided, with what of it was refunded; SQL both
/// backends run (`?1`: the unit's credit code).
const LINES: &str = "
    SELECT s.at, s.number, COALESCE(st.name, s.stall), l.name_zh, l.unit_price_fen, l.qty,
           l.unit, l.weighed <> 0, l.amount_fen,
           CAST(COALESCE((SELECT SUM(rl.qty) FROM refund_lines rl
                          JOIN refunds r ON r.id = rl.refund_id
                          WHERE r.sale_id = s.id AND rl.line = l.line), 0) AS BIGINT),
           CAST(COALESCE((SELECT SUM(rl.amount_fen) FROM refund_lines rl
                          JOIN refunds r ON r.id = rl.refund_id
                          WHERE r.sale_id = s.id AND rl.line = l.line), 0) AS BIGINT)
    FROM sale_lines l JOIN sales s ON s.id = l.sale_id
    LEFT JOIN stalls st ON st.id = s.stall
    WHERE s.unit_tax_id = ?1 AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = s.id)
    ORDER BY s.at, s.device, s.seq, l.line";

/// A row of [`LINES`]: at, sale, stall, item, price, quantity, unit, weighed, amount, and the
/// quantity and amount refunded.
type LineRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    bool,
    i64,
    i64,
    i64,
);

/// What a purchasing unit bought, item by item, for its reimbursement.
pub fn of(db: &Connection, tax_id: &str) -> Result<Option<UnitItems>> {
    let name: Option<String> = db
        .query_row(
            "SELECT name FROM units WHERE tax_id = ?1
             UNION ALL SELECT unit_name FROM sales WHERE unit_tax_id = ?1 LIMIT 1",
            [tax_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut stmt = db.prepare(LINES)?;
    let rows = stmt
        .query_map([tax_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<LineRow>>>()?;
    Ok(Some(listed(tax_id, name, rows)))
}

/// The unit's name in the fair's catalog (the data directory's `units`), if it is there.
pub fn catalog_name(db: &Connection, tax_id: &str) -> Result<Option<String>> {
    Ok(db
        .query_row("SELECT name FROM units WHERE tax_id = ?1", [tax_id], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The same, from a headquarters on PostgreSQL, whose sales are there while the catalog's
/// units stay in the data directory: `catalog_name` is the unit's name there
/// ([`catalog_name`]); a unit not in the catalog is known by the name its sales recorded.
pub async fn of_postgres(
    pool: &fairpos_postgres::Pool,
    tax_id: &str,
    catalog_name: Option<String>,
) -> Result<Option<UnitItems>> {
    use fairpos_postgres::Error as Pg;
    let client = pool.get().await.map_err(Pg::from)?;
    let name = match catalog_name {
        Some(name) => Some(name),
        None => client
            .query_opt(
                "SELECT unit_name FROM sales WHERE unit_tax_id = $1 ORDER BY device, seq LIMIT 1",
                &[&tax_id],
            )
            .await
            .map_err(Pg::from)?
            .and_then(|r| r.get::<_, Option<String>>(0)),
    };
    let Some(name) = name else { return Ok(None) };
    let sql = fairpos_projection::apply::sql::postgres_params(LINES);
    let rows = client
        .query(&sql, &[&tax_id])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
                r.get(10),
            )
        })
        .collect();
    Ok(Some(listed(tax_id, name, rows)))
}

/// The list from the unit's lines, net of refunds (lines refunded whole left out).
fn listed(tax_id: &str, name: String, rows: Vec<LineRow>) -> UnitItems {
    let mut items = Vec::new();
    for (at, sale, stall, item, price, qty, unit, weighed, amount, back_qty, back_fen) in rows {
        let left = qty - back_qty;
        if left <= 0 {
            continue;
        }
        let quantity = match (weighed, grams_per_unit(&unit)) {
            (true, Some(g)) => grams_in_units(left, g),
            _ => left.to_string(),
        };
        items.push(UnitItem {
            date: at.get(..10).unwrap_or(&at).to_string(),
            sale,
            stall,
            item,
            unit_price_fen: price,
            quantity,
            unit,
            amount_fen: amount - back_fen,
        });
    }
    UnitItems {
        tax_id: tax_id.to_string(),
        name,
        total_fen: items.iter().map(|i| i.amount_fen).sum(),
        items,
    }
}

/// A unit's list as CSV for its reimbursement: a header row, then a row per line (names
/// made safe for a spreadsheet, amounts numbers).
pub fn csv(u: &UnitItems) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Other(format!("CSV: {e}"));
    w.write_record([
        "日期 date",
        "单号 sale",
        "摊位 stall",
        "商品 item",
        "单价 unit_price_yuan",
        "数量 quantity",
        "单位 unit",
        "金额 amount_yuan",
    ])
    .map_err(fail)?;
    for i in &u.items {
        // Names as text: a product a till added offline is named by a volunteer.
        let text = |t: &str| spreadsheet_safe(t).into_owned();
        w.write_record([
            i.date.clone(),
            text(&i.sale),
            text(&i.stall),
            text(&i.item),
            Fen(i.unit_price_fen).to_string(),
            i.quantity.clone(),
            text(&i.unit),
            Fen(i.amount_fen).to_string(),
        ])
        .map_err(fail)?;
    }
    w.write_record([
        "",
        "",
        "",
        "合计 total",
        "",
        "",
        "",
        &Fen(u.total_fen).to_string(),
    ])
    .map_err(fail)?;
    w.into_inner()
        .map_err(|e| Error::Other(format!("CSV: {}", e.error())))
}

/// A unit's list as an XLSX workbook.
pub fn xlsx(u: &UnitItems) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| Error::Other(format!("XLSX: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    // The unit's name, the header, each item, the total.
    crate::statements::export::fits_a_worksheet(u.items.len() + 3)?;
    let sheet = book.add_worksheet();
    sheet
        .write_with_format(0, 0, format!("{} {}", u.name, u.tax_id), &bold)
        .map_err(fail)?;
    for (c, h) in [
        "日期",
        "单号",
        "摊位",
        "商品",
        "单价(元)",
        "数量",
        "单位",
        "金额(元)",
    ]
    .iter()
    .enumerate()
    {
        sheet
            .write_with_format(1, c as u16, *h, &bold)
            .map_err(fail)?;
    }
    let yuan = |fen: i64| fen as f64 / 100.0;
    let mut r = 2u32;
    for i in &u.items {
        let text = fairpos_projection::report::format::xlsx_text;
        sheet.write(r, 0, text(&i.date)).map_err(fail)?;
        sheet.write(r, 1, text(&i.sale)).map_err(fail)?;
        sheet.write(r, 2, text(&i.stall)).map_err(fail)?;
        sheet.write(r, 3, text(&i.item)).map_err(fail)?;
        sheet
            .write_with_format(r, 4, yuan(i.unit_price_fen), &money)
            .map_err(fail)?;
        sheet.write(r, 5, text(&i.quantity)).map_err(fail)?;
        sheet.write(r, 6, text(&i.unit)).map_err(fail)?;
        sheet
            .write_with_format(r, 7, yuan(i.amount_fen), &money)
            .map_err(fail)?;
        r += 1;
    }
    sheet.write_with_format(r, 3, "合计", &bold).map_err(fail)?;
    sheet
        .write_with_format(r, 7, yuan(u.total_fen), &money)
        .map_err(fail)?;
    sheet.set_column_width(3, 30).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_named_as_a_formula_is_text_in_the_csv_and_its_amounts_numbers() {
        let items = UnitItems {
            tax_id: "91430000MA4L0000X1".into(),
            name: "a unit".into(),
            total_fen: 1200,
            items: vec![UnitItem {
                date: "2026-11-22".into(),
                sale: "T01-000001".into(),
                stall: "S01".into(),
                // A product a till added offline, named by a volunteer.
                item: "=HYPERLINK(\"http://x\")".into(),
                unit_price_fen: 1200,
                quantity: "1".into(),
                unit: "袋".into(),
                amount_fen: 1200,
            }],
        };
        let text = String::from_utf8(csv(&items).unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        let item = r#""'=HYPERLINK(""http://x"")""#;
        assert_eq!(
            line,
            format!("2026-11-22,T01-000001,S01,{item},12.00,1,袋,12.00")
        );
    }
}
