//! The tables till and headquarters share: the projection of ledger records
//! (`schema.sql`), the catalog tables, and `meta`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::Result;

/// Makes the SQLite database at `path` (and its write-ahead log and shared memory, which
/// SQLite makes with the database's permissions) unreadable by others than its owner and
/// group: a till's holds its sync token and the key that signs its slips and bundles, a
/// headquarters' its login cookies' key and a hub's its secret upstream, which a file
/// readable by all (the umask's usual 0644) gave any other user of the machine. The group
/// keeps its access (a process run as another user of the owner's group). A file this user
/// does not own is left as it is (its owner chose).
pub fn keep_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if meta.uid() == me && mode & 0o007 != 0 {
                let private = std::fs::Permissions::from_mode(mode & !0o007);
                let _ = std::fs::set_permissions(&file, private);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

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
    add_oversold_sales(conn)?;
    add_correction_sales(conn)
}

/// Gives a projection from before them the columns of its voids and refunds that hold their
/// sale's till and line sold (`schema.sql`), and fills them where they are empty and the
/// sale is projected: one transaction, as [`add_oversold_sales`]. Cheap when nothing is empty
/// but the corrections of sales not projected yet.
pub fn add_correction_sales(conn: &Connection) -> Result<()> {
    columns_added(
        conn,
        ("voids", "sale_device"),
        "ALTER TABLE voids ADD COLUMN sale_device TEXT;
         ALTER TABLE refunds ADD COLUMN sale_device TEXT;
         ALTER TABLE refund_lines ADD COLUMN sold_sku TEXT;
         ALTER TABLE refund_lines ADD COLUMN sold_qty BIGINT;
         ALTER TABLE refund_lines ADD COLUMN sold_fen BIGINT;",
        FILL_CORRECTION_SALES,
    )
}

/// Adds columns by `add` unless `table` has `column` already, then runs `fill`, in one
/// transaction taking the write lock at once (two processes opening together take turns), or
/// a savepoint inside the caller's: a stop halfway leaves the columns to be added again,
/// never added and left empty.
fn columns_added(
    conn: &Connection,
    (table, column): (&str, &str),
    add: &str,
    fill: &str,
) -> Result<()> {
    let (begin, commit, rollback) = if conn.is_autocommit() {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    } else {
        (
            "SAVEPOINT columns_added",
            "RELEASE columns_added",
            "ROLLBACK TO columns_added; RELEASE columns_added",
        )
    };
    conn.execute_batch(begin)?;
    let added = (|| -> Result<()> {
        if !has_column(conn, table, column)? {
            conn.execute_batch(add)?;
        }
        conn.execute_batch(fill)?;
        Ok(())
    })();
    match added {
        Ok(()) => conn.execute_batch(commit)?,
        Err(e) => {
            let _ = conn.execute_batch(rollback);
            return Err(e);
        }
    }
    Ok(())
}

/// Fills the sale's till of voids and refunds, and the line sold of refunds' lines, where they
/// are empty and the sale is projected (rows projected before these columns, or by an older
/// build since; both backends, SQLite at every open and PostgreSQL in migration 11 and every
/// migration check after it). A refund's line the sale does not have stays empty, its
/// refund's sale's till filled.
pub const FILL_CORRECTION_SALES: &str = "UPDATE voids SET sale_device = s.device
    FROM sales s WHERE s.id = voids.sale_id AND voids.sale_device IS NULL;
UPDATE refunds SET sale_device = s.device
    FROM sales s WHERE s.id = refunds.sale_id AND refunds.sale_device IS NULL;
UPDATE refund_lines SET sold_sku = l.sku, sold_qty = l.qty, sold_fen = l.amount_fen
    FROM refunds r, sale_lines l
    WHERE r.id = refund_lines.refund_id AND l.sale_id = r.sale_id AND l.line = refund_lines.line
      AND refund_lines.sold_sku IS NULL;";

/// Whether SQLite's `table` has the column `column` (a database from before it lacks it).
pub fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        params![table, column],
        |r| r.get(0),
    )
}

/// Gives a projection from before them `sale_oversold`'s sale and name columns, and fills
/// them where they are empty (rows projected before them, or by an older build since) from
/// the sales and lines projected: one transaction, so that a stop halfway leaves the columns
/// to be added again, never added and left empty. Cheap when nothing is empty.
pub fn add_oversold_sales(conn: &Connection) -> Result<()> {
    columns_added(
        conn,
        ("sale_oversold", "device"),
        "ALTER TABLE sale_oversold ADD COLUMN device TEXT;
         ALTER TABLE sale_oversold ADD COLUMN seq BIGINT;
         ALTER TABLE sale_oversold ADD COLUMN number TEXT;
         ALTER TABLE sale_oversold ADD COLUMN name_zh TEXT;",
        FILL_OVERSOLD_SALES,
    )
}

/// Fills the sale and name columns of oversold rows that lack them, from the sales and lines
/// projected (both backends run it at every start, SQLite at every open and PostgreSQL in
/// migration 5 and every migration check after it, so rows an older build's process wrote
/// since are filled too; until then the reconciliation does not list them). A row
/// whose sale is not projected stays empty, and the reconciliation does not list it, as it
/// never listed an oversold line without its sale.
pub const FILL_OVERSOLD_SALES: &str = "UPDATE sale_oversold SET
        device = s.device,
        seq = s.seq,
        number = s.number,
        name_zh = (SELECT l.name_zh FROM sale_lines l
                   WHERE l.sale_id = s.id AND l.sku = sale_oversold.sku
                   ORDER BY l.line LIMIT 1)
    FROM sales s WHERE s.id = sale_oversold.sale_id AND sale_oversold.device IS NULL;";

/// Deletes every projected row (the ledger documents stay).
pub fn clear_projection(conn: &Connection) -> Result<()> {
    for (table, _) in TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    crate::rollup::clear(conn)
}

/// The products' PLUs by value (`12` and `0012` are one), which a catalog import frees a
/// PLU moving to another product by. In [`CATALOG`]; a database from before it gets it at
/// its opening (the till's schema step 9, headquarters at every start).
pub const PLU_VALUE_INDEX: &str = plu_value_index!();

/// [`PLU_VALUE_INDEX`] as a literal, for [`CATALOG`] to hold.
macro_rules! plu_value_index {
    () => {
        "CREATE INDEX IF NOT EXISTS products_plu_value ON products (ltrim(plu, '0'))"
    };
}
use plu_value_index;

/// The catalog tables: products with stock, stalls, sellers, units.
pub const CATALOG: &str = concat!(
    "
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
",
    plu_value_index!(),
    ";

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
"
);

/// Key-value settings of a till or headquarters.
pub const META: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
";

/// `error`, from the first statement on the database file at `path`, in words naming the
/// file when the file is not a SQLite database (damaged, or another kind of file).
pub fn not_a_database(error: &rusqlite::Error, path: &std::path::Path) -> Option<String> {
    (error.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)).then(|| {
        format!(
            "{} is not a SQLite database (damaged, or another kind of file)",
            path.display()
        )
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sql;

    /// Sale `sale-7` of T01 (number T01-000007): lines 1 X 甲, 2 Y 乙, 3 X 丙, each one piece
    /// for 1.00.
    fn sale_7(conn: &Connection) {
        conn.execute(
            sql::SALE,
            params![
                "sale-7",
                "T01",
                9,
                "T01-000007",
                7,
                "s1",
                "2026-11-22T10:00:00+08:00",
                "S01",
                "V001",
                "张三",
                "",
                None::<String>,
                None::<String>,
                300,
                0
            ],
        )
        .unwrap();
        for (line, sku, name) in [(1, "X", "甲"), (2, "Y", "乙"), (3, "X", "丙")] {
            conn.execute(
                sql::SALE_LINE,
                params![
                    "sale-7",
                    line,
                    sku,
                    name,
                    "",
                    "",
                    "",
                    false,
                    1,
                    100,
                    100,
                    "",
                    "",
                    "",
                    "",
                    None::<String>
                ],
            )
            .unwrap();
        }
    }

    /// Voids, refunds and refunds' lines of a projection from before their sale columns get
    /// them filled where the sale is projected (a refund's line the sale lacks, and a refund
    /// of a sale not held, stay empty).
    #[test]
    fn corrections_from_before_their_sale_columns_are_filled() {
        let conn = Connection::open_in_memory().unwrap();
        let before = sqlite_projection()
            .replace(",\n    sale_device TEXT\n", "\n")
            .replace(
                "    sold_sku   TEXT,\n    sold_qty   BIGINT,\n    sold_fen   BIGINT,\n",
                "",
            );
        assert!(!before.contains("sale_device") && !before.contains("sold_sku"));
        conn.execute_batch(&before).unwrap();
        sale_7(&conn);
        conn.execute_batch(
            "INSERT INTO voids(id, device, sale_id, shift_id, at, reason)
                 VALUES ('v1', 'T02', 'sale-7', 's2', 'x', '');
             INSERT INTO refunds(id, device, number, sale_id, shift_id, at, method, amount_fen)
                 VALUES ('r1', 'T01', 'T01-R000001', 'sale-7', 's1', 'x', 'cash', 200),
                        ('r2', 'T01', 'T01-R000002', 'sale-9', 's1', 'x', 'cash', 100);
             INSERT INTO refund_lines(refund_id, line, sku, qty, amount_fen)
                 VALUES ('r1', 2, 'Y', 1, 100), ('r1', 5, 'Q', 1, 100), ('r2', 1, 'X', 1, 100);",
        )
        .unwrap();
        add_correction_sales(&conn).unwrap();
        let texts = |sql: &str| -> Vec<String> {
            conn.prepare(sql)
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(
            texts("SELECT id || ' ' || COALESCE(sale_device, '-') FROM voids"),
            ["v1 T01"]
        );
        assert_eq!(
            texts("SELECT id || ' ' || COALESCE(sale_device, '-') FROM refunds ORDER BY id"),
            ["r1 T01", "r2 -"]
        );
        assert_eq!(
            texts(
                "SELECT refund_id || line || ' ' || COALESCE(sold_sku, '-') || ' '
                        || COALESCE(sold_qty, '-') || ' ' || COALESCE(sold_fen, '-')
                 FROM refund_lines ORDER BY refund_id, line"
            ),
            ["r12 Y 1 100", "r15 - - -", "r21 - - -"]
        );
    }

    /// A projection made before `sale_oversold` held its sale's till, number and name gains
    /// the columns, filled from the sales and lines (the name of the first line selling the
    /// SKU, none when no line sells it); a second call changes nothing; a row written without
    /// them later is filled by the next call.
    #[test]
    fn oversold_rows_from_before_their_sale_columns_are_filled() {
        let conn = Connection::open_in_memory().unwrap();
        let before = sqlite_projection().replace(
            "    device  TEXT,\n    seq     BIGINT,\n    number  TEXT,\n    name_zh TEXT,\n",
            "",
        );
        assert_ne!(before, sqlite_projection(), "the old table's columns");
        conn.execute_batch(&before).unwrap();
        sale_7(&conn);
        for sku in ["X", "Z"] {
            conn.execute(
                "INSERT INTO sale_oversold(sale_id, sku) VALUES ('sale-7', ?1)",
                [sku],
            )
            .unwrap();
        }
        for _ in 0..2 {
            add_oversold_sales(&conn).unwrap();
            let rows: Vec<(String, String, i64, String, Option<String>)> = conn
                .prepare("SELECT sku, device, seq, number, name_zh FROM sale_oversold ORDER BY sku")
                .unwrap()
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let row = |sku: &str, name: Option<&str>| {
                (
                    sku.into(),
                    "T01".into(),
                    7,
                    "T01-000007".into(),
                    name.map(Into::into),
                )
            };
            assert_eq!(rows, [row("X", Some("甲")), row("Z", None)]);
        }
        // A row an older build wrote since, without them, is filled at the next call.
        conn.execute(
            "INSERT INTO sale_oversold(sale_id, sku) VALUES ('sale-7', 'Y')",
            [],
        )
        .unwrap();
        add_oversold_sales(&conn).unwrap();
        let filled: (String, String) = conn
            .query_row(
                "SELECT number, name_zh FROM sale_oversold WHERE sku = 'Y'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(filled, ("T01-000007".into(), "乙".into()));
    }
}
