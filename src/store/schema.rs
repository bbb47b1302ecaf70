//! Schema migrations of the till database, numbered by `PRAGMA user_version`.

use rusqlite::Connection;

use fairpos_projection::schema;

use crate::error::{Error, Result};

/// What the till knows of its sync with headquarters: per ledger document, the heads and the
/// number of sales headquarters confirmed holding; and the catalog document as last received.
const V3: &str = "
CREATE TABLE sync_docs (
    doc_key         TEXT PRIMARY KEY,
    confirmed_heads TEXT NOT NULL,
    confirmed_sales INTEGER NOT NULL,
    confirmed_at    TEXT NOT NULL
) STRICT;
CREATE TABLE catalog_doc (
    key   TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
) STRICT;
";

/// Sellers' own PINs for signing in at the touchscreen (argon2 hashes). Till-local secrets:
/// they never travel in a ledger or the catalog.
const V4: &str = "
CREATE TABLE seller_pins (
    seller   TEXT PRIMARY KEY,
    pin_hash TEXT NOT NULL
) STRICT;
";

/// Receipts that could not be printed, waiting for the printer; and the key that signs the
/// QR codes on receipts.
const V2: &str = "
CREATE TABLE receipt_queue (
    sale_id   TEXT PRIMARY KEY,
    number    TEXT NOT NULL,
    reprint   INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts  INTEGER NOT NULL
) STRICT;
";

/// Baskets a shopper left on the kiosk's payment QR with no payment confirmed
/// ([`crate::till::left_baskets`]).
const V8: &str = "
CREATE TABLE IF NOT EXISTS kiosk_left (
    id         INTEGER PRIMARY KEY,
    shown_at   TEXT NOT NULL,
    left_at    TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    items      TEXT NOT NULL,
    why        TEXT NOT NULL
) STRICT;
";

/// Brings the database to the current schema. Each step runs in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let steps: [fn(&Connection) -> Result<()>; 9] = [
        |c| {
            c.execute_batch(schema::META)?;
            c.execute_batch(schema::CATALOG)?;
            schema::create_projection(c)?;
            fairpos_sync::storage::migrate(c)?;
            Ok(())
        },
        |c| {
            c.execute_batch(V2)?;
            let key: String = rand::random::<[u8; 16]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            c.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('receipt_key', ?1)",
                [key],
            )?;
            Ok(())
        },
        |c| {
            c.execute_batch(V3)?;
            Ok(())
        },
        |c| {
            c.execute_batch(V4)?;
            Ok(())
        },
        // The ledger's journal (a sale's one durable row before its document takes it).
        |c| {
            fairpos_sync::storage::migrate(c)?;
            Ok(())
        },
        // Oversold lines with their sale's till, number and name beside them.
        |c| {
            schema::add_oversold_sales(c)?;
            Ok(())
        },
        // Voids and refunds with their sale's till, refunds' lines with the line sold.
        |c| {
            schema::add_correction_sales(c)?;
            Ok(())
        },
        |c| {
            c.execute_batch(V8)?;
            Ok(())
        },
        // PLUs by value, which a catalog import frees a moved PLU by (a step's index, not a
        // schema lookup at every import).
        |c| {
            c.execute_batch(schema::PLU_VALUE_INDEX)?;
            Ok(())
        },
    ];
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A database a newer build brought further (a till rolled back to an older build):
    // written on by this one, in a schema it does not know, it could lose what it holds.
    if version > steps.len() as i64 {
        return Err(Error::Other(format!(
            "the till database is of schema {version}, newer than this build's {}: run the \
             build that made it, or a newer one",
            steps.len()
        )));
    }
    for (i, step) in steps.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        step(&tx)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
