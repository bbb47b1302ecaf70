//! The tables till and headquarters share: the projection of ledger records
//! (`schema.sql`), the catalog tables, and `meta`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::Result;

/// The projection's tables, in plain SQL that PostgreSQL also takes but for `{clustered}`.
pub const PROJECTION: &str = include_str!("schema.sql");

/// The projection's tables as SQLite takes them.
pub fn sqlite_projection() -> String {
    PROJECTION.replace("{clustered}", "WITHOUT ROWID")
}

/// Projection tables with the columns that order their rows (key columns first), for
/// rebuilding and comparing.
pub const TABLES: [(&str, &str); 11] = [
    ("records", "device, seq"),
    ("shifts", "id"),
    ("cash_moves", "id"),
    ("sales", "device, seq"),
    ("sale_lines", "sale_id, line"),
    ("sale_payments", "sale_id, idx"),
    ("sale_oversold", "sale_id, sku"),
    ("voids", "id"),
    ("refunds", "id"),
    ("refund_lines", "refund_id, line"),
    ("stock_out", "sku"),
];

/// Creates the projection's tables where they are missing.
pub fn create_projection(conn: &Connection) -> Result<()> {
    conn.execute_batch(&sqlite_projection())?;
    Ok(())
}

/// Deletes every projected row (the ledger documents stay).
pub fn clear_projection(conn: &Connection) -> Result<()> {
    for (table, _) in TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    crate::rollup::clear(conn)
}

/// The catalog tables: products with stock, stalls, sellers, units.
pub const CATALOG: &str = "
CREATE TABLE products (
    sku         TEXT PRIMARY KEY,
    barcode     TEXT UNIQUE,
    plu         TEXT UNIQUE,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    category    TEXT NOT NULL,
    unit        TEXT NOT NULL,
    price_fen   INTEGER NOT NULL,
    weighed     INTEGER NOT NULL,
    county_code TEXT NOT NULL,
    county_name TEXT NOT NULL,
    supplier    TEXT NOT NULL,
    cert_no     TEXT,
    stall       TEXT NOT NULL,
    -- Stock on hand = stock_base - stock_out.qty (pieces, or grams when weighed).
    stock_base  INTEGER NOT NULL,
    position    INTEGER NOT NULL
) STRICT;

CREATE TABLE stalls (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    team TEXT NOT NULL
) STRICT;

CREATE TABLE sellers (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    team  TEXT NOT NULL,
    stall TEXT NOT NULL
) STRICT;

CREATE TABLE units (
    tax_id TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    kind   TEXT NOT NULL
) STRICT;
";

/// Key-value settings of a till or headquarters.
pub const META: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
";

/// A value of the `meta` table.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Sets a value of the `meta` table.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}
