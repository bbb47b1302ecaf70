//! Reconciliation: per till, proof that headquarters holds every sale (the last sale number
//! each shift close stated, against the numbers held), and each shift's cash-up; across the
//! fair, oversold stock and the voids and refunds of each seller. Plain SQL over the
//! projection.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::domain::sale::sale_number;
use crate::error::Result;
use crate::store::queries;

/// Most missing numbers listed per till (the count is always whole).
const MISSING_LISTED: usize = 1000;

#[derive(Clone, Debug, Serialize)]
pub struct Reconciliation {
    pub devices: Vec<DeviceReport>,
    pub oversold: Vec<Oversold>,
    pub sellers: Vec<SellerCorrections>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub stall: String,
    pub stall_name: String,
    /// Sales not voided, less refunds.
    pub net_fen: i64,
    /// When headquarters last took in anything of this till.
    pub last_seen: Option<String>,
    pub sales_held: i64,
    /// The highest sale number held.
    pub last_held: Option<String>,
    /// The last sale number stated at each shift close, in order.
    pub closes: Vec<StatedClose>,
    /// The highest number any close stated: up to there, every number must be held.
    pub stated_last_sale: Option<String>,
    /// Numbers not held: gaps below the highest stated or held number.
    pub missing: Vec<String>,
    pub missing_count: usize,
    /// Every stated number is held.
    pub complete: bool,
    pub shifts: Vec<ShiftCash>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatedClose {
    pub shift: String,
    pub closed_at: String,
    pub last_sale: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShiftCash {
    pub shift: String,
    pub seller: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub float_fen: i64,
    pub cash_sales_fen: i64,
    pub cash_voided_fen: i64,
    pub cash_refunds_fen: i64,
    /// Cash put in minus cash taken out.
    pub cash_moves_fen: i64,
    pub expected_fen: i64,
    pub counted_fen: Option<i64>,
    pub variance_fen: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Oversold {
    pub device: String,
    pub sale: String,
    pub sku: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SellerCorrections {
    pub seller: String,
    pub name: String,
    pub team: String,
    pub voids: i64,
    pub voided_fen: i64,
    pub refunds: i64,
    pub refunded_fen: i64,
}

/// Every till: `(device, stall, stall name)`.
fn devices(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT d.device, d.stall, COALESCE(st.name, d.stall)
         FROM (SELECT device, stall FROM devices WHERE role = 'till'
               UNION
               SELECT DISTINCT device, stall FROM sales
               WHERE device NOT IN (SELECT device FROM devices)) d
         LEFT JOIN stalls st ON st.id = d.stall
         ORDER BY 1",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn device_report(
    conn: &Connection,
    device: &str,
    stall: &str,
    stall_name: &str,
) -> Result<DeviceReport> {
    let net_fen: i64 = conn.query_row(
        "SELECT COALESCE((SELECT SUM(s.total_fen) FROM sales s WHERE s.device = ?1
                          AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = s.id)), 0)
              - COALESCE((SELECT SUM(r.amount_fen) FROM refunds r JOIN sales s ON s.id = r.sale_id
                          WHERE s.device = ?1), 0)",
        [device],
        |r| r.get(0),
    )?;
    let last_seen: Option<String> = conn.query_row(
        "SELECT MAX(updated_at) FROM hq_docs WHERE device = ?1 AND records > 0",
        [device],
        |r| r.get(0),
    )?;
    let held: Vec<u64> = conn
        .prepare("SELECT seq FROM sales WHERE device = ?1 ORDER BY seq")?
        .query_map([device], |r| r.get::<_, i64>(0).map(|s| s as u64))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT id, closed_at, last_sale, last_sale_seq FROM shifts
         WHERE device = ?1 AND closed_at IS NOT NULL ORDER BY closed_at",
    )?;
    let closes: Vec<(StatedClose, u64)> = stmt
        .query_map([device], |r| {
            Ok((
                StatedClose {
                    shift: r.get(0)?,
                    closed_at: r.get(1)?,
                    last_sale: r.get(2)?,
                },
                r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let stated = closes.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let top = stated.max(held.last().copied().unwrap_or(0));
    let mut missing_seqs = Vec::new();
    let mut it = held.iter().peekable();
    for seq in 1..=top {
        while it.peek().is_some_and(|&&h| h < seq) {
            it.next();
        }
        if it.peek() != Some(&&seq) {
            missing_seqs.push(seq);
        }
    }
    let complete = !missing_seqs.iter().any(|&s| s <= stated);
    let mut stmt = conn.prepare(
        "SELECT id, seller, opened_at, closed_at, counted_fen, variance_fen FROM shifts
         WHERE device = ?1 ORDER BY opened_at",
    )?;
    let mut shifts: Vec<ShiftCash> = stmt
        .query_map([device], |r| {
            Ok(ShiftCash {
                shift: r.get(0)?,
                seller: r.get(1)?,
                opened_at: r.get(2)?,
                closed_at: r.get(3)?,
                counted_fen: r.get(4)?,
                variance_fen: r.get(5)?,
                float_fen: 0,
                cash_sales_fen: 0,
                cash_voided_fen: 0,
                cash_refunds_fen: 0,
                cash_moves_fen: 0,
                expected_fen: 0,
            })
        })?
        .collect::<Result<_, _>>()?;
    for s in &mut shifts {
        let flows = queries::cash_flows(conn, &s.shift)?;
        s.float_fen = flows.float.0;
        s.cash_sales_fen = flows.cash_sales.0;
        s.cash_voided_fen = flows.cash_voided.0;
        s.cash_refunds_fen = flows.cash_refunds.0;
        s.cash_moves_fen = (flows.cash_in - flows.cash_out).0;
        s.expected_fen = flows.expected().0;
    }
    Ok(DeviceReport {
        device: device.to_string(),
        stall: stall.to_string(),
        stall_name: stall_name.to_string(),
        net_fen,
        last_seen,
        sales_held: held.len() as i64,
        last_held: held.last().map(|&s| sale_number(device, s)),
        stated_last_sale: (stated > 0).then(|| sale_number(device, stated)),
        closes: closes.into_iter().map(|(c, _)| c).collect(),
        missing_count: missing_seqs.len(),
        missing: missing_seqs
            .iter()
            .take(MISSING_LISTED)
            .map(|&s| sale_number(device, s))
            .collect(),
        complete,
        shifts,
    })
}

/// The reconciliation of every till headquarters knows.
pub fn reconcile(conn: &Connection) -> Result<Reconciliation> {
    let mut out = Vec::new();
    for (device, stall, name) in devices(conn)? {
        out.push(device_report(conn, &device, &stall, &name)?);
    }
    let oversold = conn
        .prepare(
            "SELECT s.device, s.number, o.sku,
                    COALESCE((SELECT name_zh FROM sale_lines l WHERE l.sale_id = s.id AND l.sku = o.sku LIMIT 1), o.sku)
             FROM sale_oversold o JOIN sales s ON s.id = o.sale_id
             WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = s.id)
             ORDER BY s.device, s.seq, o.sku",
        )?
        .query_map([], |r| {
            Ok(Oversold {
                device: r.get(0)?,
                sale: r.get(1)?,
                sku: r.get(2)?,
                name: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let sellers = conn
        .prepare(
            "WITH v AS (SELECT s.seller, COUNT(*) AS n, SUM(s.total_fen) AS fen
                        FROM voids x JOIN sales s ON s.id = x.sale_id GROUP BY s.seller),
                  r AS (SELECT s.seller, COUNT(*) AS n, SUM(x.amount_fen) AS fen
                        FROM refunds x JOIN sales s ON s.id = x.sale_id GROUP BY s.seller),
                  who AS (SELECT seller, MAX(seller_name) AS name, MAX(team) AS team
                          FROM sales GROUP BY seller)
             SELECT who.seller, who.name, who.team, COALESCE(v.n, 0), COALESCE(v.fen, 0),
                    COALESCE(r.n, 0), COALESCE(r.fen, 0)
             FROM who LEFT JOIN v ON v.seller = who.seller LEFT JOIN r ON r.seller = who.seller
             WHERE v.n IS NOT NULL OR r.n IS NOT NULL
             ORDER BY who.seller",
        )?
        .query_map(params![], |r| {
            Ok(SellerCorrections {
                seller: r.get(0)?,
                name: r.get(1)?,
                team: r.get(2)?,
                voids: r.get(3)?,
                voided_fen: r.get(4)?,
                refunds: r.get(5)?,
                refunded_fen: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Reconciliation {
        devices: out,
        oversold,
        sellers,
    })
}
