//! What the roll-up answers besides reports (`report::rolled`): each till's totals and
//! numbers held, each shift's cash, each seller's voids and refunds.

use std::collections::HashMap;

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::Result;
use fairpos_domain::money::Fen;
use fairpos_domain::shift::CashFlows;

/// Sales held (voided ones too) and live (not voided), over every till.
pub fn sales_counted(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(held), 0), COALESCE(SUM(sales_n), 0) FROM rollup
             WHERE dim = 'device' AND scope = ''",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// One till's sales as the roll-up counts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTotals {
    pub device: String,
    pub stall: String,
    /// Sales not voided, less refunds of its sales.
    pub net_fen: i64,
    /// Sales held (voided ones too), their lowest and highest number.
    pub held: u64,
    pub low: u64,
    pub high: u64,
}

impl DeviceTotals {
    /// Every number from 1 to the highest is held: the numbers need not be read to find gaps.
    pub fn gap_free(&self) -> bool {
        self.held == 0 || (self.low == 1 && self.high == self.held)
    }
}

/// [`device_totals`]'s SQL, which PostgreSQL runs too: key, stall, net, held, low, high.
pub const DEVICE_TOTALS: &str = "
    SELECT key, label, sales_fen - refunds_fen, held, COALESCE(low, 0), COALESCE(high, 0)
    FROM rollup WHERE dim = 'device' AND scope = '' AND held > 0 ORDER BY key";

/// Every till that has sales, by device code.
pub fn device_totals(conn: &Connection) -> Result<Vec<DeviceTotals>> {
    let mut stmt = conn.prepare_cached(DEVICE_TOTALS)?;
    let rows = stmt.query_map([], |r| {
        Ok(DeviceTotals {
            device: r.get(0)?,
            stall: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            net_fen: r.get(2)?,
            held: r.get::<_, i64>(3)?.max(0) as u64,
            low: r.get::<_, i64>(4)?.max(0) as u64,
            high: r.get::<_, i64>(5)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// [`shifts_cash`]'s SQL, which PostgreSQL runs too (sums cast back to BIGINT, which
/// PostgreSQL sums into NUMERIC): shift, float, cash sales, voided, refunded, in, out.
pub const SHIFTS_CASH: &str = "
    SELECT k.id, COALESCE(sh.float_fen, 0), COALESCE(r.sales_fen, 0),
           COALESCE(r.voided_fen, 0), COALESCE(r.refunds_fen, 0), COALESCE(m.cash_in, 0),
           COALESCE(m.cash_out, 0)
    FROM (SELECT id FROM shifts
          UNION SELECT key FROM rollup WHERE dim = 'shift' AND scope = '') k
    LEFT JOIN shifts sh ON sh.id = k.id
    LEFT JOIN rollup r ON r.dim = 'shift' AND r.scope = '' AND r.key = k.id
    LEFT JOIN (SELECT shift_id,
                      CAST(SUM(CASE WHEN amount_fen > 0 THEN amount_fen ELSE 0 END) AS BIGINT)
                          AS cash_in,
                      CAST(-SUM(CASE WHEN amount_fen < 0 THEN amount_fen ELSE 0 END) AS BIGINT)
                          AS cash_out
               FROM cash_moves GROUP BY shift_id) m ON m.shift_id = k.id";

/// The cash that went through the drawer in every shift (every shift opened, and any other
/// whose cash is counted), as [`crate::queries::cash_flows`] counts it, in one pass.
pub fn shifts_cash(conn: &Connection) -> Result<HashMap<String, CashFlows>> {
    let mut stmt = conn.prepare_cached(SHIFTS_CASH)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            CashFlows {
                float: Fen(r.get(1)?),
                cash_sales: Fen(r.get(2)?),
                cash_voided: Fen(r.get(3)?),
                cash_refunds: Fen(r.get(4)?),
                cash_in: Fen(r.get(5)?),
                cash_out: Fen(r.get(6)?),
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One seller's voids and refunds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Corrections {
    pub seller: String,
    pub name: String,
    pub team: String,
    pub voids: i64,
    pub voided_fen: i64,
    pub refunds: i64,
    pub refunded_fen: i64,
}

/// [`corrections`]'s SQL, which PostgreSQL runs too (`?1`: the stall, or NULL for all).
pub const CORRECTIONS: &str = "
    SELECT key, MAX(label), MAX(detail), CAST(SUM(voids_n) AS BIGINT),
           CAST(SUM(voided_fen) AS BIGINT), CAST(SUM(refunds_n) AS BIGINT),
           CAST(SUM(refunds_fen) AS BIGINT)
    FROM rollup WHERE dim = 'corrections' AND (CAST(?1 AS TEXT) IS NULL OR scope = ?1)
    GROUP BY key HAVING SUM(voids_n) > 0 OR SUM(refunds_n) > 0
    ORDER BY key";

/// Voids and refunds per seller who has any, over the sales made at `stall` (every stall
/// when `None`), by seller; name and team are the greatest their sales there gave.
pub fn corrections(conn: &Connection, stall: Option<&str>) -> Result<Vec<Corrections>> {
    let mut stmt = conn.prepare_cached(CORRECTIONS)?;
    let rows = stmt.query_map(params![stall], |r| {
        Ok(Corrections {
            seller: r.get(0)?,
            name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            team: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            voids: r.get(3)?,
            voided_fen: r.get(4)?,
            refunds: r.get(5)?,
            refunded_fen: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// [`seller_teams`]'s SQL, which PostgreSQL runs too.
pub const SELLER_TEAMS: &str =
    "SELECT key, COALESCE(detail, '') FROM rollup WHERE dim = 'seller' AND scope = ''";

/// Each seller's team: the greatest any of their sales named.
pub fn seller_teams(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(SELLER_TEAMS)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
