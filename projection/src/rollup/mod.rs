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

/// The `meta` key holding the fingerprint of the roll-up's SQL the database was given.
const VERSION_KEY: &str = "rollup_sql";

/// A fingerprint of the roll-up's SQL (FNV-1a, 64 bits: the same in every build that has
/// the same SQL, unlike std's hasher).
fn fingerprint(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Creates the roll-up and its triggers where they are missing, computing it from the rows
/// already projected when it is new: all of it or none. A roll-up made by a build whose SQL
/// differs (its fingerprint in `meta`, or none: made before fingerprints were kept) is made
/// again, once: `CREATE … IF NOT EXISTS` kept the old triggers' bodies, and a trigger an
/// earlier build counted sales with counted each sale twice beside this build's count.
/// `conn` holds a `meta` table.
pub fn install(conn: &Connection) -> Result<()> {
    conn.execute_batch("SAVEPOINT rollup_install")?;
    let done = (|| {
        let sql = schema();
        let wanted = fingerprint(&sql);
        let new = !installed(conn)?;
        let outdated = !new && made_otherwise(conn, &wanted)?;
        if outdated {
            eprintln!(
                "the report roll-up was made by another build: counting it again (once; \
                 minutes for millions of sales)"
            );
            drop_made(conn)?;
        }
        conn.execute_batch(&sql)?;
        if new || outdated {
            rebuild(conn)?;
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (VERSION_KEY, &wanted),
            )?;
        }
        Ok(())
    })();
    match done {
        Ok(()) => conn.execute_batch("RELEASE rollup_install")?,
        Err(_) => conn.execute_batch("ROLLBACK TO rollup_install; RELEASE rollup_install")?,
    }
    done
}

/// Whether the roll-up in `conn` was made from SQL other than that of fingerprint `wanted`:
/// one made before fingerprints were kept is (triggers were rewritten under their names).
fn made_otherwise(conn: &Connection, wanted: &str) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [VERSION_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(stored.as_deref() != Some(wanted))
}

/// The `rollup_` objects of `kind` (`trigger`, `view`) in `conn`.
fn made(conn: &Connection, kind: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = ?1 AND name LIKE 'rollup\\_%' ESCAPE '\\'",
    )?;
    let names = stmt.query_map([kind], |r| r.get(0))?;
    Ok(names.collect::<rusqlite::Result<_>>()?)
}

/// Drops the roll-up: its triggers, views and table (computed anew, in this build's columns).
fn drop_made(conn: &Connection) -> Result<()> {
    conn.execute_batch("DROP TABLE rollup")?;
    for kind in ["trigger", "view"] {
        for name in made(conn, kind)? {
            conn.execute_batch(&format!("DROP {kind} \"{name}\""))?;
        }
    }
    Ok(())
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
