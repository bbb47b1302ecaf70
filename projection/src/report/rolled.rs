//! A report read from headquarters' roll-up (`crate::rollup`) rather than from every sale.

use rusqlite::Connection;

use super::{Dimension, ReportRow};
use crate::Result;

/// The roll-up rows of one dimension (`?1`), in SQL SQLite and PostgreSQL both take; each
/// row is read into a [`RolledRow`] in column order.
pub const ROWS: &str = "SELECT r.key, r.label, r.detail, r.sales_fen, r.refunds_fen, r.sales_n,
            r.qty - r.refunds_qty, st.name
     FROM rollup r LEFT JOIN stalls st ON r.dim = 'stall' AND st.id = r.key
     WHERE r.dim = ?1 AND r.scope = ''
       AND (r.sales_n > 0 OR (r.dim = 'payment' AND r.refunds_n > 0))";

/// One row of [`ROWS`].
pub struct RolledRow {
    pub key: String,
    pub label: Option<String>,
    pub detail: Option<String>,
    pub sales_fen: i64,
    pub refunds_fen: i64,
    pub count: i64,
    pub qty: i64,
    pub stall_name: Option<String>,
}

impl RolledRow {
    /// The report's row, labelled as [`super::scan`] labels it.
    pub fn into_report_row(self, by: Dimension) -> ReportRow {
        let key = self.key;
        let label = match by {
            Dimension::Unit => self.label.unwrap_or_else(|| "个人".to_string()),
            Dimension::Team | Dimension::Hour | Dimension::Payment => key.clone(),
            Dimension::Stall => self.stall_name.unwrap_or_else(|| key.clone()),
            _ => self.label.unwrap_or_default(),
        };
        // A quantity for a product only: a county's lines add grams and pieces together.
        let product = by == Dimension::Product;
        ReportRow {
            label,
            net_fen: self.sales_fen - self.refunds_fen,
            sales_fen: self.sales_fen,
            refunds_fen: self.refunds_fen,
            count: self.count,
            qty: product.then_some(self.qty),
            qty_unit: product.then(|| self.detail.unwrap_or_default()),
            key,
        }
    }
}

/// The rows of the report `by`, unsorted, labelled as [`super::scan`] labels them.
pub fn rows(conn: &Connection, by: Dimension) -> Result<Vec<ReportRow>> {
    let mut stmt = conn.prepare_cached(ROWS)?;
    let rows = stmt.query_map([by.as_str()], |r| {
        Ok(RolledRow {
            key: r.get(0)?,
            label: r.get(1)?,
            detail: r.get(2)?,
            sales_fen: r.get(3)?,
            refunds_fen: r.get(4)?,
            count: r.get(5)?,
            qty: r.get(6)?,
            stall_name: r.get(7)?,
        }
        .into_report_row(by))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
