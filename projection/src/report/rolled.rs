//! A report read from headquarters' roll-up (`crate::rollup`) rather than from every sale.

use rusqlite::Connection;

use super::{Dimension, ReportRow};
use crate::Result;

/// The rows of the report `by`, unsorted, labelled as [`super::scan`] labels them.
pub fn rows(conn: &Connection, by: Dimension) -> Result<Vec<ReportRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.key, r.label, r.detail, r.sales_fen, r.refunds_fen, r.sales_n,
                r.qty - r.refunds_qty, st.name
         FROM rollup r LEFT JOIN stalls st ON r.dim = 'stall' AND st.id = r.key
         WHERE r.dim = ?1 AND r.scope = ''
           AND (r.sales_n > 0 OR (r.dim = 'payment' AND r.refunds_n > 0))",
    )?;
    let rows = stmt.query_map([by.as_str()], |r| {
        let key: String = r.get(0)?;
        let label: Option<String> = r.get(1)?;
        let detail: Option<String> = r.get(2)?;
        let sales: i64 = r.get(3)?;
        let refunds: i64 = r.get(4)?;
        let qty: i64 = r.get(6)?;
        let stall_name: Option<String> = r.get(7)?;
        let label = match by {
            Dimension::Unit => label.unwrap_or_else(|| "个人".to_string()),
            Dimension::Team | Dimension::Hour | Dimension::Payment => key.clone(),
            Dimension::Stall => stall_name.unwrap_or_else(|| key.clone()),
            _ => label.unwrap_or_default(),
        };
        let line_level = matches!(by, Dimension::Product | Dimension::County);
        Ok(ReportRow {
            label,
            net_fen: sales - refunds,
            sales_fen: sales,
            refunds_fen: refunds,
            count: r.get(5)?,
            qty: line_level.then_some(qty),
            qty_unit: (by == Dimension::Product).then(|| detail.unwrap_or_default()),
            key,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
