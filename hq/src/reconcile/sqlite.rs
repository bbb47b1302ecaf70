//! What reconciliation reads from a SQLite headquarters.

use std::collections::HashMap;

use fairpos_projection::rollup;
use rusqlite::Connection;

use super::doubtful::{self, DoubtfulVoid, HeadRow, LineRow};
use super::{Oversold, Read, ShiftRow, OVERSOLD, SEQS, SHIFTS};
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
    let heads = conn
        .prepare(doubtful::HEADS)?
        .query_map([], |r| {
            Ok(HeadRow {
                device: r.get(0)?,
                sale: r.get(1)?,
                refund: r.get(2)?,
                refunded_at: r.get(3)?,
                voided: r.get(4)?,
                amount_fen: r.get(5)?,
                lines_fen: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let lines = conn
        .prepare(doubtful::LINES)?
        .query_map([], |r| {
            let sold = match r.get::<_, Option<String>>(9)? {
                Some(sku) => Some((sku, r.get(10)?, r.get(11)?)),
                None => None,
            };
            Ok(LineRow {
                device: r.get(0)?,
                sale: r.get(1)?,
                refund: r.get(2)?,
                line: r.get(3)?,
                sku: r.get(4)?,
                qty: r.get(5)?,
                fen: r.get(6)?,
                least_qty: r.get(7)?,
                least_fen: r.get(8)?,
                sold,
            })
        })?
        .collect::<Result<_, _>>()?;
    let doubtful_voids = conn
        .prepare(doubtful::VOIDS)?
        .query_map([], |r| {
            Ok(DoubtfulVoid {
                device: r.get(0)?,
                sale: r.get(1)?,
                voided_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Read {
        totals: rollup::device_totals(conn)?,
        devices,
        stall_names,
        last_seen,
        cash: rollup::shifts_cash(conn)?,
        shifts,
        slips: crate::slips::by_device(conn)?,
        oversold,
        corrections: rollup::corrections(conn, stall)?,
        doubtful_refunds: doubtful::refunds(heads, lines),
        doubtful_voids,
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
