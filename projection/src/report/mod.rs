//! Sales reports: SQL over the projection tables, so a till (its own sales) and headquarters
//! (every till's) share them. Net = sales of sales not voided, minus refunds; a refund counts
//! against the dimensions of the sale it refunds (its product, county, unit, hour, ...).

pub mod format;
pub mod rolled;

use std::str::FromStr;

use rusqlite::{Connection, Row};
use serde::Serialize;

use crate::{rollup, Error, Result};
use fairpos_domain::payment::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Product,
    County,
    Unit,
    Team,
    Seller,
    Payment,
    Hour,
    Stall,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::Product,
        Dimension::County,
        Dimension::Unit,
        Dimension::Team,
        Dimension::Seller,
        Dimension::Payment,
        Dimension::Hour,
        Dimension::Stall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Product => "product",
            Dimension::County => "county",
            Dimension::Unit => "unit",
            Dimension::Team => "team",
            Dimension::Seller => "seller",
            Dimension::Payment => "payment",
            Dimension::Hour => "hour",
            Dimension::Stall => "stall",
        }
    }
}

impl FromStr for Dimension {
    type Err = Error;
    fn from_str(s: &str) -> Result<Dimension> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                // Told back cut short: it may come from a query string of any length.
                let given: String = s.chars().take(32).collect();
                Error::input(format!(
                    "unknown report dimension {given:?}; use one of {}",
                    Dimension::ALL.map(Dimension::as_str).join(", ")
                ))
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub key: String,
    pub label: String,
    pub net_fen: i64,
    pub sales_fen: i64,
    pub refunds_fen: i64,
    /// Sales (not voided) that contribute; for `payment`, payments.
    pub count: i64,
    /// Net quantity for `product` rows: pieces, or grams for weighed goods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty_unit: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub by: Dimension,
    pub net_fen: i64,
    pub sales_fen: i64,
    pub refunds_fen: i64,
    pub rows: Vec<ReportRow>,
}

impl Report {
    /// The row of `key` alone, the totals its own.
    pub fn only(mut self, key: &str) -> Report {
        self.rows.retain(|row| row.key == key);
        self.sales_fen = self.rows.iter().map(|r| r.sales_fen).sum();
        self.refunds_fen = self.rows.iter().map(|r| r.refunds_fen).sum();
        self.net_fen = self.rows.iter().map(|r| r.net_fen).sum();
        self
    }
}

const LIVE: &str = "NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = s.id)";

/// Per dimension: the key and label over sales `s` (and lines `l` for line-level
/// dimensions), and whether the dimension is line-level.
fn dimension_sql(by: Dimension) -> (&'static str, &'static str, bool) {
    match by {
        Dimension::Product => ("l.sku", "MAX(l.name_zh)", true),
        Dimension::County => ("l.county_code", "MAX(l.county_name)", true),
        Dimension::Unit => (
            "COALESCE(s.unit_tax_id, 'individual')",
            "COALESCE(MAX(s.unit_name), '个人')",
            false,
        ),
        Dimension::Team => ("s.team", "s.team", false),
        Dimension::Seller => ("s.seller", "MAX(s.seller_name)", false),
        Dimension::Hour => ("SUBSTR(s.at, 1, 13)", "SUBSTR(s.at, 1, 13)", false),
        Dimension::Stall => (
            "s.stall",
            "COALESCE((SELECT name FROM stalls st WHERE st.id = s.stall), s.stall)",
            false,
        ),
        Dimension::Payment => ("", "", false),
    }
}

fn row(r: &Row) -> rusqlite::Result<ReportRow> {
    let sales: i64 = r.get(2)?;
    let refunds: i64 = r.get(3)?;
    Ok(ReportRow {
        key: r.get(0)?,
        label: r.get(1)?,
        net_fen: sales - refunds,
        sales_fen: sales,
        refunds_fen: refunds,
        count: r.get(4)?,
        qty: None,
        qty_unit: None,
    })
}

/// Builds the report `by` over every sale in `conn`'s projection: from its roll-up where it
/// keeps one (headquarters), else by reading every sale.
pub fn build(conn: &Connection, by: Dimension) -> Result<Report> {
    let rows = if rollup::installed(conn)? {
        rolled::rows(conn, by)?
    } else {
        scan(conn, by)?
    };
    Ok(assemble(by, rows))
}

/// The rows of the report `by`, unsorted, read from every sale. Labels are the greatest name
/// any sale gave the key (voided sales too), as the roll-up keeps them; hours and payment
/// methods are labelled by the report itself.
pub fn scan(conn: &Connection, by: Dimension) -> Result<Vec<ReportRow>> {
    let mut stmt = conn.prepare(&scan_sql(by))?;
    let rows = stmt.query_map([], |r| {
        let mut out = row(r)?;
        // A quantity for a product only: a county's lines add grams and pieces together.
        if by == Dimension::Product {
            out.qty = r.get(5)?;
            out.qty_unit = r.get(6)?;
        }
        Ok(out)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The query behind [`scan`], in SQL that SQLite and PostgreSQL both take (sums cast back to
/// BIGINT, which PostgreSQL would widen to NUMERIC). Columns: key, label, sales, refunds,
/// count, net quantity (line-level dimensions), quantity unit (products).
pub fn scan_sql(by: Dimension) -> String {
    match by {
        Dimension::Payment => format!(
            "WITH paid AS (
               SELECT p.method AS k, CAST(SUM(p.amount_fen) AS BIGINT) AS amt, COUNT(*) AS n
               FROM sale_payments p JOIN sales s ON s.id = p.sale_id WHERE {LIVE}
               GROUP BY p.method),
             back AS (
               SELECT method AS k, CAST(SUM(amount_fen) AS BIGINT) AS amt
               FROM refunds GROUP BY method),
             keys AS (SELECT k FROM paid UNION SELECT k FROM back)
             SELECT keys.k, keys.k, COALESCE(paid.amt, 0), COALESCE(back.amt, 0),
                    COALESCE(paid.n, 0), CAST(NULL AS BIGINT), CAST(NULL AS TEXT)
             FROM keys LEFT JOIN paid ON paid.k = keys.k LEFT JOIN back ON back.k = keys.k"
        ),
        _ => {
            let (key, label, line_level) = dimension_sql(by);
            if line_level {
                format!(
                    "WITH sold AS (
                       SELECT {key} AS k, CAST(SUM(l.amount_fen) AS BIGINT) AS amt,
                              COUNT(DISTINCT s.id) AS n, CAST(SUM(l.qty) AS BIGINT) AS qty
                       FROM sale_lines l JOIN sales s ON s.id = l.sale_id WHERE {LIVE}
                       GROUP BY {key}),
                     names AS (
                       SELECT {key} AS k, {label} AS lbl,
                              MAX(CASE WHEN l.weighed <> 0 THEN 'g' ELSE l.unit END) AS unit
                       FROM sale_lines l JOIN sales s ON s.id = l.sale_id GROUP BY {key}),
                     back AS (
                       SELECT {key} AS k, CAST(SUM(rl.amount_fen) AS BIGINT) AS amt,
                              CAST(SUM(rl.qty) AS BIGINT) AS qty
                       FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
                       JOIN sale_lines l ON l.sale_id = r.sale_id AND l.line = rl.line
                       JOIN sales s ON s.id = l.sale_id
                       GROUP BY {key})
                     SELECT sold.k, names.lbl, sold.amt, COALESCE(back.amt, 0), sold.n,
                            sold.qty - COALESCE(back.qty, 0), names.unit
                     FROM sold JOIN names ON names.k = sold.k LEFT JOIN back ON back.k = sold.k"
                )
            } else {
                format!(
                    "WITH sold AS (
                       SELECT {key} AS k, CAST(SUM(s.total_fen) AS BIGINT) AS amt, COUNT(*) AS n
                       FROM sales s WHERE {LIVE} GROUP BY {key}),
                     names AS (SELECT {key} AS k, {label} AS lbl FROM sales s GROUP BY {key}),
                     back AS (
                       SELECT {key} AS k, CAST(SUM(r.amount_fen) AS BIGINT) AS amt
                       FROM refunds r JOIN sales s ON s.id = r.sale_id GROUP BY {key})
                     SELECT sold.k, names.lbl, sold.amt, COALESCE(back.amt, 0), sold.n,
                            CAST(NULL AS BIGINT), CAST(NULL AS TEXT)
                     FROM sold JOIN names ON names.k = sold.k LEFT JOIN back ON back.k = sold.k"
                )
            }
        }
    }
}

/// Labels the hours and payment methods, sorts (hours in order, else by net, highest first)
/// and totals: a report from the rows of [`scan`], [`scan_sql`] run elsewhere, or a roll-up.
pub fn assemble(by: Dimension, mut rows: Vec<ReportRow>) -> Report {
    if by == Dimension::Payment {
        for r in &mut rows {
            if let Ok(m) = Method::parse(&r.key) {
                r.label = m.label_zh().to_string();
            }
        }
    }
    if by == Dimension::Hour {
        for r in &mut rows {
            r.label = hour_label(&r.key);
        }
        rows.sort_by(|a, b| a.key.cmp(&b.key));
    } else {
        rows.sort_by(|a, b| b.net_fen.cmp(&a.net_fen).then_with(|| a.key.cmp(&b.key)));
    }
    Report {
        by,
        net_fen: rows.iter().map(|r| r.net_fen).sum(),
        sales_fen: rows.iter().map(|r| r.sales_fen).sum(),
        refunds_fen: rows.iter().map(|r| r.refunds_fen).sum(),
        rows,
    }
}

/// `2026-11-22T10` -> `2026-11-22 10:00-11:00`; a key not of that shape is shown as it is.
fn hour_label(key: &str) -> String {
    match day_and_hour(key) {
        Some((day, h)) => format!("{day} {h:02}:00-{:02}:00", h + 1),
        None => key.to_string(),
    }
}

/// An hour's key, `2026-11-22T10`, as its day and hour (0 to 23); `None` for any other
/// shape. The key is the start of a sale's time as the till wrote it, so a forged ledger's
/// can be anything: `9T4294967295` is no hour.
pub fn day_and_hour(key: &str) -> Option<(&str, u32)> {
    if key.len() != 13 || !fairpos_sync::plausible::starts_with_day_and_hour(key) {
        return None;
    }
    Some((&key[..10], key[11..].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_dimension_is_told_back_cut_short() {
        let said = "x".repeat(60_000).parse::<Dimension>().unwrap_err();
        let said = said.to_string();
        assert!(said.len() < 200, "{} bytes", said.len());
        assert!(said.contains("use one of"), "{said}");
    }

    #[test]
    fn an_hour_key_is_a_day_and_an_hour_of_it() {
        assert_eq!(day_and_hour("2026-11-22T09"), Some(("2026-11-22", 9)));
        assert_eq!(day_and_hour("2026-11-22T23"), Some(("2026-11-22", 23)));
        for forged in [
            "2026-11-22T24",
            "9T04294967295",
            "2026-11-22T9",
            "2026-11-22T+1",
            "2026/11/22T10",
            "2026-11-22",
            "",
        ] {
            assert_eq!(day_and_hour(forged), None, "{forged}");
            assert_eq!(hour_label(forged), forged);
        }
        assert_eq!(hour_label("2026-11-22T23"), "2026-11-22 23:00-24:00");
    }
}
