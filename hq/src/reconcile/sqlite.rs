//! What reconciliation reads from a SQLite headquarters.

use std::collections::HashMap;

use fairpos_projection::rollup;
use rusqlite::Connection;

use super::{refused_by_till, Oversold, Read, ShiftRow, OVERSOLD, REFUSED, SEQS, SHIFTS};
use crate::Result;

/// Everything at once; the corrections of the sales made at `stall` (every stall: `None`).
pub(super) fn read(conn: &Connection, stall: Option<&str>) -> Result<Read> {
    let devices = conn
        .prepare("SELECT device, stall, role FROM devices")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let stall_names = conn
        .prepare("SELECT id, name FROM stalls")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let last_seen: HashMap<String, String> = conn
        .prepare_cached(
            "SELECT device, MAX(updated_at) FROM hq_docs
             WHERE device IS NOT NULL AND records > 0 GROUP BY device",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let refused = refused_by_till(
        conn.prepare_cached(REFUSED)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?,
    );
    // What slips and shift closes state is read before what is held: a ledger projected
    // between the reads (they are no one snapshot) makes numbers stated after the sales
    // held were read look missing.
    let slips = crate::slips::by_device(conn)?;
    let shifts = conn
        .prepare_cached(SHIFTS)?
        .query_map([], |r| {
            Ok(ShiftRow {
                device: r.get(0)?,
                id: r.get(1)?,
                seller: r.get(2)?,
                opened_at: r.get(3)?,
                closed_at: r.get(4)?,
                counted_fen: r.get(5)?,
                variance_fen: r.get(6)?,
                last_sale: r.get(7)?,
                last_sale_seq: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let oversold = conn
        .prepare(OVERSOLD)?
        .query_map([], |r| {
            Ok(Oversold {
                device: r.get(0)?,
                sale: r.get(1)?,
                sku: r.get(2)?,
                name: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Read {
        totals: rollup::device_totals(conn)?,
        devices,
        stall_names,
        last_seen,
        refused,
        cash: rollup::shifts_cash(conn)?,
        shifts,
        slips,
        oversold,
        corrections: rollup::corrections(conn, stall)?,
    })
}

/// The sale numbers `device`'s sales hold, ascending.
pub(super) fn seqs(conn: &Connection, device: &str) -> Result<Vec<u64>> {
    Ok(conn
        .prepare_cached(SEQS)?
        .query_map([device], |r| r.get::<_, i64>(0))?
        .filter_map(|s| s.map(|s| u64::try_from(s).ok()).transpose())
        .collect::<Result<_, _>>()?)
}
