//! Read queries over the projection that the till controller needs.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::Result;
use fairpos_domain::money::Fen;
use fairpos_domain::refund::SoldLine;
use fairpos_domain::shift::CashFlows;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleSummary {
    pub id: String,
    pub number: String,
    pub seq: u64,
    pub shift_id: String,
    pub at: String,
    pub seller: String,
    pub seller_name: String,
    pub team: String,
    pub unit_tax_id: Option<String>,
    pub unit_name: Option<String>,
    pub total: Fen,
    pub change: Fen,
    pub refunded: Fen,
    /// Whether any refund of it is projected, of whatever amount (a free line's refund
    /// comes to nothing, and still makes the sale refunded in part and forbids a void).
    pub has_refunds: bool,
    pub voided: bool,
    pub oversold: bool,
}

impl SaleSummary {
    /// `completed`, `voided`, `refunded` or `partly_refunded`.
    pub fn status(&self) -> &'static str {
        if self.voided {
            "voided"
        } else if self.refunded.is_positive() && self.refunded >= self.total {
            "refunded"
        } else if self.has_refunds {
            "partly_refunded"
        } else {
            "completed"
        }
    }
}

const SALE_COLUMNS: &str = "s.id, s.number, s.seq, s.shift_id, s.at, s.seller, s.seller_name,
    s.team, s.unit_tax_id, s.unit_name, s.total_fen, s.change_fen,
    (SELECT SUM(amount_fen) FROM refunds r WHERE r.sale_id = s.id),
    EXISTS(SELECT 1 FROM voids v WHERE v.sale_id = s.id),
    EXISTS(SELECT 1 FROM sale_oversold o WHERE o.sale_id = s.id)";

fn sale_row(r: &Row) -> rusqlite::Result<SaleSummary> {
    // No refund sums to NULL; a refund of 0 fen (a free bag) to 0, and is a refund.
    let refunded: Option<i64> = r.get(12)?;
    Ok(SaleSummary {
        id: r.get(0)?,
        number: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        shift_id: r.get(3)?,
        at: r.get(4)?,
        seller: r.get(5)?,
        seller_name: r.get(6)?,
        team: r.get(7)?,
        unit_tax_id: r.get(8)?,
        unit_name: r.get(9)?,
        total: Fen(r.get(10)?),
        change: Fen(r.get(11)?),
        refunded: Fen(refunded.unwrap_or(0)),
        voided: r.get(13)?,
        oversold: r.get(14)?,
        has_refunds: refunded.is_some(),
    })
}

/// Sales of `device` in number order.
pub fn sales(conn: &Connection, device: &str) -> Result<Vec<SaleSummary>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SALE_COLUMNS} FROM sales s WHERE s.device = ?1 ORDER BY s.seq"
    ))?;
    let rows = stmt.query_map([device], sale_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A sale by its number (`T01-000003`) or id.
pub fn find_sale(conn: &Connection, key: &str) -> Result<Option<SaleSummary>> {
    let key = key.trim();
    if let Some((device, seq)) = key
        .rsplit_once('-')
        .and_then(|(d, n)| n.parse::<i64>().ok().map(|n| (d, n)))
    {
        let found = conn
            .prepare_cached(&format!(
                "SELECT {SALE_COLUMNS} FROM sales s
                 WHERE s.device = ?1 AND s.seq = ?2 AND s.number = ?3"
            ))?
            .query_row(params![device, seq, key], sale_row)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SALE_COLUMNS} FROM sales s WHERE s.id = ?1"
        ))?
        .query_row([key], sale_row)
        .optional()?)
}

/// What a sale took by each of its payments, and what its refunds gave back by each of
/// theirs: `(method, amount)`, as written.
pub type ByMethod = Vec<(String, Fen)>;

/// A sale's payments and its refunds, by method ([`ByMethod`]).
pub fn paid_and_refunded(conn: &Connection, sale_id: &str) -> Result<(ByMethod, ByMethod)> {
    let by_method = |sql: &str| -> Result<ByMethod> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([sale_id], |r| Ok((r.get(0)?, Fen(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    Ok((
        by_method("SELECT method, amount_fen FROM sale_payments WHERE sale_id = ?1")?,
        by_method("SELECT method, amount_fen FROM refunds WHERE sale_id = ?1")?,
    ))
}

/// The lines of a sale with what has been refunded of each.
pub fn sold_lines(conn: &Connection, sale_id: &str) -> Result<Vec<SoldLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.line, l.sku, l.weighed, l.qty, l.amount_fen,
                COALESCE(SUM(rl.qty), 0), COALESCE(SUM(rl.amount_fen), 0)
         FROM sale_lines l
         LEFT JOIN refunds r ON r.sale_id = l.sale_id
         LEFT JOIN refund_lines rl ON rl.refund_id = r.id AND rl.line = l.line
         WHERE l.sale_id = ?1
         GROUP BY l.line ORDER BY l.line",
    )?;
    let rows = stmt.query_map([sale_id], |r| {
        Ok(SoldLine {
            line: r.get(0)?,
            sku: r.get(1)?,
            weighed: r.get(2)?,
            qty: r.get(3)?,
            amount: Fen(r.get(4)?),
            refunded_qty: r.get(5)?,
            refunded_amount: Fen(r.get(6)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenShift {
    pub id: String,
    pub seller: String,
    pub opened_at: String,
    pub float: Fen,
}

/// The shift of `device` that is open, if any.
pub fn open_shift(conn: &Connection, device: &str) -> Result<Option<OpenShift>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, seller, opened_at, float_fen FROM shifts
             WHERE device = ?1 AND closed_at IS NULL ORDER BY opened_at DESC LIMIT 1",
        )?
        .query_row([device], |r| {
            Ok(OpenShift {
                id: r.get(0)?,
                seller: r.get(1)?,
                opened_at: r.get(2)?,
                float: Fen(r.get(3)?),
            })
        })
        .optional()?)
}

/// The cash that went through the drawer in one shift.
pub fn cash_flows(conn: &Connection, shift_id: &str) -> Result<CashFlows> {
    let row = conn
        .prepare_cached(
            "SELECT
               COALESCE((SELECT float_fen FROM shifts WHERE id = ?1), 0),
               COALESCE((SELECT SUM(p.amount_fen) FROM sale_payments p JOIN sales s ON s.id = p.sale_id
                         WHERE s.shift_id = ?1 AND p.method = 'cash'), 0),
               COALESCE((SELECT SUM(p.amount_fen) FROM sale_payments p JOIN voids v ON v.sale_id = p.sale_id
                         WHERE v.shift_id = ?1 AND p.method = 'cash'), 0),
               COALESCE((SELECT SUM(amount_fen) FROM refunds WHERE shift_id = ?1 AND method = 'cash'), 0),
               COALESCE((SELECT SUM(amount_fen) FROM cash_moves WHERE shift_id = ?1 AND amount_fen > 0), 0),
               COALESCE((SELECT -SUM(amount_fen) FROM cash_moves WHERE shift_id = ?1 AND amount_fen < 0), 0)",
        )?
        .query_row([shift_id], |r| {
            Ok(CashFlows {
                float: Fen(r.get(0)?),
                cash_sales: Fen(r.get(1)?),
                cash_voided: Fen(r.get(2)?),
                cash_refunds: Fen(r.get(3)?),
                cash_in: Fen(r.get(4)?),
                cash_out: Fen(r.get(5)?),
            })
        })?;
    Ok(row)
}

/// The sales numbered in a shift: `(first seq, last seq, count)`; voided ones count.
pub fn shift_sales(conn: &Connection, shift_id: &str) -> Result<Option<(u64, u64, u64)>> {
    let (first, last, count): (Option<i64>, Option<i64>, i64) = conn
        .prepare_cached("SELECT MIN(seq), MAX(seq), COUNT(*) FROM sales WHERE shift_id = ?1")?
        .query_row([shift_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(match (first, last) {
        (Some(f), Some(l)) => Some((f as u64, l as u64, count as u64)),
        _ => None,
    })
}

/// A shift's net takings per payment method, by method name: payments of its sales, less
/// those of sales voided in it, less its refunds. Methods that took nothing are left out.
pub fn shift_method_totals(conn: &Connection, shift_id: &str) -> Result<Vec<(String, Fen)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT method, SUM(fen) FROM (
           SELECT p.method, p.amount_fen AS fen FROM sale_payments p
             JOIN sales s ON s.id = p.sale_id WHERE s.shift_id = ?1
           UNION ALL
           SELECT p.method, -p.amount_fen FROM sale_payments p
             JOIN voids v ON v.sale_id = p.sale_id WHERE v.shift_id = ?1
           UNION ALL
           SELECT method, -amount_fen FROM refunds WHERE shift_id = ?1)
         GROUP BY method HAVING SUM(fen) <> 0 ORDER BY method",
    )?;
    let rows = stmt.query_map([shift_id], |r| Ok((r.get(0)?, Fen(r.get(1)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The highest sale sequence number of `device` and its receipt number.
pub fn last_sale(conn: &Connection, device: &str) -> Result<Option<(u64, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, number FROM sales WHERE device = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([device], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .optional()?)
}

/// How many refunds `device` has written.
pub fn refund_count(conn: &Connection, device: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM refunds WHERE device = ?1")?
        .query_row([device], |r| r.get(0))?;
    Ok(n as u64)
}

/// A sale with its lines and payments, as a receipt prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleDetail {
    pub summary: SaleSummary,
    pub stall: String,
    pub stall_name: Option<String>,
    pub lines: Vec<DetailLine>,
    /// `(method, amount settled, amount handed over)`.
    pub payments: Vec<(String, Fen, Fen)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailLine {
    pub name_zh: String,
    pub unit: String,
    pub weighed: bool,
    pub qty: i64,
    pub unit_price: Fen,
    pub amount: Fen,
}

/// The whole of a sale (found by number or id).
pub fn sale_detail(conn: &Connection, key: &str) -> Result<Option<SaleDetail>> {
    let Some(summary) = find_sale(conn, key)? else {
        return Ok(None);
    };
    let (stall, stall_name): (String, Option<String>) = conn.query_row(
        "SELECT s.stall, st.name FROM sales s LEFT JOIN stalls st ON st.id = s.stall
         WHERE s.id = ?1",
        [&summary.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT name_zh, unit, weighed, qty, unit_price_fen, amount_fen FROM sale_lines
         WHERE sale_id = ?1 ORDER BY line",
    )?;
    let lines = stmt
        .query_map([&summary.id], |r| {
            Ok(DetailLine {
                name_zh: r.get(0)?,
                unit: r.get(1)?,
                weighed: r.get(2)?,
                qty: r.get(3)?,
                unit_price: Fen(r.get(4)?),
                amount: Fen(r.get(5)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT method, amount_fen, tendered_fen FROM sale_payments WHERE sale_id = ?1
         ORDER BY idx",
    )?;
    let payments = stmt
        .query_map([&summary.id], |r| {
            Ok((r.get(0)?, Fen(r.get(1)?), Fen(r.get(2)?)))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(SaleDetail {
        summary,
        stall,
        stall_name,
        lines,
        payments,
    }))
}
