//! Reconciliation: per till, proof that headquarters holds every sale (the last sale number
//! each shift close or verified shift slip stated, against the numbers held), and each shift's cash-up; across the
//! fair, oversold stock and the voids and refunds of each seller. Plain SQL over the
//! projection.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::Result;
use fairpos_domain::SaleNumber;
use fairpos_projection::queries;

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
    /// The last sale number of each verified shift slip (`hq slip verify`), in order: known
    /// before the close itself arrives.
    pub slips: Vec<StatedClose>,
    /// The highest number any close or slip stated: up to there, every number must be held.
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
        .query_map([device], |r| r.get::<_, i64>(0))?
        .filter_map(|s| s.map(|s| u64::try_from(s).ok()).transpose())
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
                r.get::<_, Option<i64>>(3)?
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let slips = crate::slips::of_device(conn, device)?;
    let stated = closes
        .iter()
        .map(|(_, s)| *s)
        .chain(slips.iter().map(|s| s.3))
        .max()
        .unwrap_or(0);
    let gaps = Gaps::find(&held, stated);
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
        last_held: held.last().map(|&s| SaleNumber::new(device, s).to_string()),
        stated_last_sale: (stated > 0).then(|| SaleNumber::new(device, stated).to_string()),
        closes: closes.into_iter().map(|(c, _)| c).collect(),
        slips: slips
            .into_iter()
            .map(|(shift, closed_at, last_sale, _)| StatedClose {
                shift,
                closed_at,
                last_sale,
            })
            .collect(),
        missing_count: gaps.count,
        missing: gaps
            .listed
            .iter()
            .map(|&s| SaleNumber::new(device, s).to_string())
            .collect(),
        complete: gaps.complete,
        shifts,
    })
}

/// The numbers missing from a till's held sale numbers, found gap by gap: the work grows with
/// the sales held, not with the highest number (a till cannot make headquarters count to a
/// number it sent).
#[derive(Debug, PartialEq, Eq)]
struct Gaps {
    /// Numbers not held below the highest stated or held number.
    count: usize,
    /// The first of them, at most [`MISSING_LISTED`].
    listed: Vec<u64>,
    /// No number up to the highest stated one is missing.
    complete: bool,
}

impl Gaps {
    /// `held`: the numbers held, ascending and distinct; `stated`: the highest number a shift
    /// close stated (0 for none).
    fn find(held: &[u64], stated: u64) -> Gaps {
        let top = stated.max(held.last().copied().unwrap_or(0));
        let mut gaps = Gaps {
            count: 0,
            listed: Vec::new(),
            complete: true,
        };
        let mut add = |from: u64, to: u64| {
            // The numbers from..=to are missing.
            if from > to {
                return;
            }
            let n = to - from + 1;
            gaps.count = gaps
                .count
                .saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            let room = MISSING_LISTED.saturating_sub(gaps.listed.len()) as u64;
            gaps.listed.extend(from..from + n.min(room));
            if from <= stated {
                gaps.complete = false;
            }
        };
        let mut next = 1;
        for &h in held.iter().filter(|&&h| h >= 1) {
            if h > next {
                add(next, h - 1);
            }
            next = next.max(h.saturating_add(1));
        }
        if top >= next {
            add(next, top);
        }
        gaps
    }
}

/// The reconciliation a stall lead sees: the tills of `stall`, what they oversold, and the
/// voids and refunds of the sales made at that stall.
pub fn of_stall(conn: &Connection, stall: &str) -> Result<Reconciliation> {
    let mut all = reconcile(conn)?;
    all.devices.retain(|d| d.stall == stall);
    let tills: std::collections::HashSet<&str> =
        all.devices.iter().map(|d| d.device.as_str()).collect();
    all.oversold.retain(|o| tills.contains(o.device.as_str()));
    all.sellers = seller_corrections(conn, Some(stall))?;
    Ok(all)
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
    let sellers = seller_corrections(conn, None)?;
    Ok(Reconciliation {
        devices: out,
        oversold,
        sellers,
    })
}

/// Voids and refunds per seller, over the sales of `stall` (every stall when `None`).
fn seller_corrections(conn: &Connection, stall: Option<&str>) -> Result<Vec<SellerCorrections>> {
    Ok(conn
        .prepare(
            "WITH s AS (SELECT * FROM sales WHERE ?1 IS NULL OR stall = ?1),
                  v AS (SELECT s.seller, COUNT(*) AS n, SUM(s.total_fen) AS fen
                        FROM voids x JOIN s ON s.id = x.sale_id GROUP BY s.seller),
                  r AS (SELECT s.seller, COUNT(*) AS n, SUM(x.amount_fen) AS fen
                        FROM refunds x JOIN s ON s.id = x.sale_id GROUP BY s.seller),
                  who AS (SELECT seller, MAX(seller_name) AS name, MAX(team) AS team
                          FROM s GROUP BY seller)
             SELECT who.seller, who.name, who.team, COALESCE(v.n, 0), COALESCE(v.fen, 0),
                    COALESCE(r.n, 0), COALESCE(r.fen, 0)
             FROM who LEFT JOIN v ON v.seller = who.seller LEFT JOIN r ON r.seller = who.seller
             WHERE v.n IS NOT NULL OR r.n IS NOT NULL
             ORDER BY who.seller",
        )?
        .query_map(params![stall], |r| {
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
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(held: &[u64], stated: u64) -> (usize, Vec<u64>, bool) {
        let g = Gaps::find(held, stated);
        (g.count, g.listed, g.complete)
    }

    #[test]
    fn gaps_are_named_up_to_the_highest_stated_or_held_number() {
        assert_eq!(gaps(&[], 0), (0, vec![], true));
        assert_eq!(gaps(&[1, 2, 3], 3), (0, vec![], true));
        assert_eq!(gaps(&[1, 3, 6], 6), (3, vec![2, 4, 5], false));
        // Stated further than held: the tail is missing.
        assert_eq!(gaps(&[1, 2], 4), (2, vec![3, 4], false));
        // A gap above the last stated close does not make the stated ones incomplete.
        assert_eq!(gaps(&[1, 2, 5], 2), (2, vec![3, 4], true));
        assert_eq!(gaps(&[2], 0), (1, vec![1], true));
    }

    #[test]
    fn a_huge_number_is_counted_not_walked() {
        let (count, listed, complete) = gaps(&[1, 1_000_000_000_000], 1);
        assert_eq!(count, 999_999_999_998);
        assert_eq!(listed.len(), MISSING_LISTED);
        assert_eq!(listed[0], 2);
        assert!(complete);
    }
}
