//! Sales reports over the projection in PostgreSQL: the SQL of SQLite's scan
//! ([`fairpos_projection::report::scan_sql`]) and the same assembly, so both backends give
//! the same report to the fen.

use fairpos_projection::report::{assemble, scan_sql, Dimension, Report, ReportRow};

use crate::{Pool, Result};

/// The report `by` over every projected sale.
pub async fn build(pool: &Pool, by: Dimension) -> Result<Report> {
    let client = pool.get().await?;
    let rows = client
        .query(&scan_sql(by), &[])
        .await?
        .iter()
        .map(|r| {
            let (sales, refunds): (i64, i64) = (r.get(2), r.get(3));
            ReportRow {
                key: r.get(0),
                label: r.get(1),
                net_fen: sales - refunds,
                sales_fen: sales,
                refunds_fen: refunds,
                count: r.get(4),
                qty: r.get(5),
                qty_unit: if by == Dimension::Product {
                    r.get(6)
                } else {
                    None
                },
            }
        })
        .collect();
    Ok(assemble(by, rows))
}
