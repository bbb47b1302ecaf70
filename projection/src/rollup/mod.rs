//! Running totals of the projection (`rollup.sql`), kept inside the transaction that
//! projects each record: sales counted by a [`Batch`] in memory and written once per key,
//! voids and refunds by SQLite triggers. Headquarters installs them: its reports and
//! reconciliation then read a few thousand roll-up rows instead of every sale it holds. A
//! till does not (it scans its own sales; nothing is added to a sale's fsync).
//!
//! The roll-up gives the same answers as the scans in [`crate::report`] and
//! [`crate::queries`], to the fen, whatever order records arrive in (the tests below prove
//! it on randomized ledgers).

mod batch;
mod read;
#[cfg(test)]
mod tests;

pub use batch::{projected_sale, Batch, CountedLine, CountedSale, Delta, Prior, RowKey};
pub use read::{
    corrections, device_totals, sales_counted, seller_teams, shifts_cash, Corrections,
    DeviceTotals, CORRECTIONS, DEVICE_TOTALS, SELLER_TEAMS, SHIFTS_CASH,
};

use rusqlite::Connection;

use crate::Result;

/// The conflict clause every trigger's insert ends with: sums add up, names keep the
/// greatest, numbers the lowest and highest.
const UPSERT: &str = "ON CONFLICT(dim, scope, key) DO UPDATE SET
    label = COALESCE(MAX(label, excluded.label), label, excluded.label),
    detail = COALESCE(MAX(detail, excluded.detail), detail, excluded.detail),
    sales_fen = sales_fen + excluded.sales_fen,
    sales_n = sales_n + excluded.sales_n,
    qty = qty + excluded.qty,
    refunds_fen = refunds_fen + excluded.refunds_fen,
    refunds_qty = refunds_qty + excluded.refunds_qty,
    refunds_n = refunds_n + excluded.refunds_n,
    voids_n = voids_n + excluded.voids_n,
    voided_fen = voided_fen + excluded.voided_fen,
    held = held + excluded.held,
    low = COALESCE(MIN(low, excluded.low), low, excluded.low),
    high = COALESCE(MAX(high, excluded.high), high, excluded.high)";

/// The roll-up's table, view and triggers in SQLite's dialect, with the markers of
/// `schema.sql` (`{clustered}`) and `{upsert}` for the backend's conflict clause that each
/// insert ends with (PostgreSQL's schema is made from it).
pub const SQL: &str = include_str!("rollup.sql");

/// The table and its triggers, as SQLite takes them.
fn schema() -> String {
    SQL.replace("{clustered}", "WITHOUT ROWID")
        .replace("{upsert}", UPSERT)
}

/// The tables whose rows the triggers count, in the order a rebuild inserts them again: a
/// refund before its lines.
const TRIGGERED: [&str; 3] = ["voids", "refunds", "refund_lines"];

/// Whether `conn`'s projection keeps a roll-up.
pub fn installed(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollup')",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Creates the roll-up and its triggers where they are missing, computing it from the rows
/// already projected when it is new: all of it or none.
pub fn install(conn: &Connection) -> Result<()> {
    conn.execute_batch("SAVEPOINT rollup_install")?;
    let done = (|| {
        let new = !installed(conn)?;
        conn.execute_batch(&schema())?;
        if new {
            rebuild(conn)?;
        }
        Ok(())
    })();
    match done {
        Ok(()) => conn.execute_batch("RELEASE rollup_install")?,
        Err(_) => conn.execute_batch("ROLLBACK TO rollup_install; RELEASE rollup_install")?,
    }
    done
}

/// Computes the roll-up anew from the projection tables: every sale counted as if it had
/// no void or refund yet, then the voids, refunds and refund lines inserted again so that the
/// triggers that keep the roll-up are also what count them. Call inside a transaction;
/// takes about as long as reading every sale's rows once.
pub fn rebuild(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM rollup", [])?;
    for table in TRIGGERED {
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE rollup_{table} AS SELECT * FROM main.{table};
             DELETE FROM main.{table};"
        ))?;
    }
    let mut batch = Batch::default();
    let mut ids = conn.prepare("SELECT id FROM sales")?;
    let mut rows = ids.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        if let Some(sale) = projected_sale(conn, &id)? {
            // The voids and refunds are set aside: nothing is projected of them yet.
            batch.count(&sale, &Prior::default());
        }
    }
    batch.flush(conn)?;
    for table in TRIGGERED {
        conn.execute_batch(&format!(
            "INSERT INTO main.{table} SELECT * FROM temp.rollup_{table};
             DROP TABLE temp.rollup_{table};"
        ))?;
    }
    Ok(())
}

/// Empties the roll-up, if there is one (with the projection it counts).
pub fn clear(conn: &Connection) -> Result<()> {
    if installed(conn)? {
        conn.execute("DELETE FROM rollup", [])?;
    }
    Ok(())
}
