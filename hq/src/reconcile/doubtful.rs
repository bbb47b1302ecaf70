//! Voids and refunds headquarters cannot square with their sales. A till never writes one: it
//! voids and refunds only its own sales, refunds no voided sale and voids none with refunds,
//! refunds no line past what it sold, each line at most its amount left and as the product it
//! sold, for the sum of its lines. So each listed here comes from a till whose database or
//! ledger was changed by hand. Headquarters takes them and lists them rather than refusing
//! the ledger: which ledger would be refused depends on which arrives first (a sale of one
//! day, its refund of the next, may arrive either way round), and the other records of the
//! ledger are honest sales. (A void of another till's sale that arrives after the sale is
//! refused with its ledger: `fairpos_projection::apply`.) Those of a sale not held yet are
//! listed once it is.
//!
//! The voids and refunds hold their sale's till, and the refunds' lines the line sold, from
//! when the sale is projected (the projection writes them where sale and correction meet), so
//! the lists are read among those small tables alone; only a doubtful one looks its sale up.
//! They are read on asking (`/anomalies/doubtful`, linked from the anomalies page; `GET
//! /api/v1/doubtful`; `hq reconcile --doubtful`).

use std::collections::HashSet;

use fairpos_postgres::Pool;
use fairpos_projection::apply::sql::postgres_params;
use rusqlite::Connection;
use serde::Serialize;

use crate::Result;

/// The voids and refunds that do not square with their sales, by the sale's till and number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Doubtful {
    pub voids: Vec<DoubtfulVoid>,
    pub refunds: Vec<DoubtfulRefund>,
}

impl Doubtful {
    /// Those of the sales made at `tills`.
    fn of_tills(mut self, tills: &HashSet<String>) -> Doubtful {
        self.voids.retain(|d| tills.contains(&d.device));
        self.refunds.retain(|d| tills.contains(&d.device));
        self
    }
}

/// The tills of a stall.
const TILLS_OF: &str = "SELECT device FROM devices WHERE stall = ?1";

/// Those of every sale headquarters holds (of the sales made at `stall`'s tills, when given).
pub fn of(conn: &Connection, stall: Option<&str>) -> Result<Doubtful> {
    let voids = conn
        .prepare(VOIDS)?
        .query_map([], |r| {
            Ok(DoubtfulVoid {
                device: r.get(0)?,
                sale: r.get(1)?,
                voided_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let heads = conn
        .prepare(HEADS)?
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
        .prepare(LINES)?
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
    let all = Doubtful {
        voids: in_sale_order(voids),
        refunds: refunds(heads, lines),
    };
    Ok(match stall {
        Some(stall) => {
            let tills = conn
                .prepare(TILLS_OF)?
                .query_map([stall], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            all.of_tills(&tills)
        }
        None => all,
    })
}

/// As [`of`], on PostgreSQL.
pub async fn of_postgres(pool: &Pool, stall: Option<&str>) -> Result<Doubtful> {
    use fairpos_postgres::Error as Pg;
    let client = pool.get().await.map_err(Pg::from)?;
    let voids = client
        .query(VOIDS, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| DoubtfulVoid {
            device: r.get(0),
            sale: r.get(1),
            voided_at: r.get(2),
        })
        .collect();
    let heads = client
        .query(HEADS, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| HeadRow {
            device: r.get(0),
            sale: r.get(1),
            refund: r.get(2),
            refunded_at: r.get(3),
            voided: r.get(4),
            amount_fen: r.get(5),
            lines_fen: r.get(6),
        })
        .collect();
    let lines = client
        .query(LINES, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| LineRow {
            device: r.get(0),
            sale: r.get(1),
            refund: r.get(2),
            line: i64::from(r.get::<_, i32>(3)),
            sku: r.get(4),
            qty: r.get(5),
            fen: r.get(6),
            least_qty: r.get(7),
            least_fen: r.get(8),
            sold: r
                .get::<_, Option<String>>(9)
                .map(|sku| (sku, r.get(10), r.get(11))),
        })
        .collect();
    let all = Doubtful {
        voids: in_sale_order(voids),
        refunds: refunds(heads, lines),
    };
    Ok(match stall {
        Some(stall) => {
            let tills = client
                .query(&postgres_params(TILLS_OF), &[&stall])
                .await
                .map_err(Pg::from)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            all.of_tills(&tills)
        }
        None => all,
    })
}

/// What is wrong with a refund, as the dashboard and the JSON name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubt {
    /// Made at a till that did not make the sale.
    RefundedElsewhere,
    /// The sale is voided too.
    Voided,
    /// The refund's amount is not the sum of its lines' (cash-up counts the one, the
    /// product figures the other).
    UnlikeItsLines,
    /// A line of the sale refunded, over all its refunds, beyond the quantity or the amount
    /// it sold.
    BeyondSold,
    /// A line number the sale does not have.
    NoSuchLine,
    /// A line refunded as a product other than the one it sold.
    OtherProduct,
    /// A refund line of no goods, or of less than nothing (which adds to the sale's figures).
    NotPositive,
}

impl Doubt {
    /// The dashboard's words for it.
    pub fn label(self) -> &'static str {
        match self {
            Doubt::RefundedElsewhere => "他机退款 refunded at another till",
            Doubt::Voided => "已作废又退款 voided and refunded",
            Doubt::UnlikeItsLines => "金额与明细不符 amount unlike its lines",
            Doubt::BeyondSold => "退款超出售出 refunded beyond what was sold",
            Doubt::NoSuchLine => "无此行 no such line",
            Doubt::OtherProduct => "商品不符 another product",
            Doubt::NotPositive => "数量或金额非正 nothing or less refunded",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DoubtfulRefund {
    /// The till that made the sale, and the sale's number.
    pub device: String,
    pub sale: String,
    /// The refund's number (of the last of them, for a line refunded by several).
    pub refund: String,
    pub doubt: Doubt,
    /// The figures, in words.
    pub detail: String,
}

/// A void of a sale made at another till, which headquarters took because it arrived before
/// the sale (the sale counts for nothing since).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DoubtfulVoid {
    /// The till that made the sale, and the sale's number.
    pub device: String,
    pub sale: String,
    /// The till that voided it.
    pub voided_at: String,
}

/// Voids of a held sale made at another till: `(sale's till, sale's number, void's till)`, on
/// both backends. The voids hold their sale's till once it is projected (`schema.sql`), so
/// only a doubtful one looks its sale up, for its number (a subquery, not a join, which
/// PostgreSQL planned as a walk of every sale).
const VOIDS: &str = "SELECT v.sale_device, COALESCE((SELECT s.number FROM sales s WHERE s.id = v.sale_id), v.sale_id),
        v.device
    FROM voids v
    WHERE v.sale_device IS NOT NULL AND v.sale_device <> v.device";

/// Refunds of a held sale made elsewhere, or of a voided sale, or whose amount is not their
/// lines': `(sale's till, sale's number, refund's number, refund's till, voided, amount,
/// lines' amount)`, on both backends, by till and refund. Found among the refunds, their
/// lines (summed once for all, joined: a sum looked up per refund made PostgreSQL compile
/// the query, 0.3 s) and the voids (each refund holds its sale's till once the sale is
/// projected); only those look their sale up, for its number.
const HEADS: &str = "SELECT r.sale_device,
        COALESCE((SELECT s.number FROM sales s WHERE s.id = r.sale_id), r.sale_id),
        r.number, r.device,
        EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = r.sale_id),
        r.amount_fen, CAST(COALESCE(rl.fen, 0) AS BIGINT)
    FROM refunds r
    LEFT JOIN (SELECT refund_id, SUM(amount_fen) AS fen FROM refund_lines GROUP BY refund_id) rl
      ON rl.refund_id = r.id
    WHERE r.sale_device IS NOT NULL
      AND (r.device <> r.sale_device
           OR EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = r.sale_id)
           OR r.amount_fen <> COALESCE(rl.fen, 0))
    ORDER BY r.sale_device, r.number";

/// A held sale's lines as all its refunds took them back, where they do not fit the line
/// sold: `(sale's till, sale's number, last refund's number, line, product, quantity, amount,
/// least quantity, least amount, the line sold's product, quantity, amount)`, on both
/// backends (the sold line's columns null where the sale has no such line), by till and line.
/// Each refund's line holds the line sold once the sale is projected, so the sums are
/// compared among the refunds alone; only those that do not fit look their sale up.
const LINES: &str = "SELECT b.sale_device,
        COALESCE((SELECT s.number FROM sales s WHERE s.id = b.sale_id), b.sale_id), b.last, b.line, b.sku, b.qty,
        b.fen, b.least_qty, b.least_fen, b.sold_sku, b.sold_qty, b.sold_fen
    FROM (SELECT r.sale_id, MAX(r.sale_device) AS sale_device, rl.line, rl.sku,
                 CAST(SUM(rl.qty) AS BIGINT) AS qty, CAST(SUM(rl.amount_fen) AS BIGINT) AS fen,
                 MIN(rl.qty) AS least_qty, MIN(rl.amount_fen) AS least_fen,
                 MAX(r.number) AS last, MAX(rl.sold_sku) AS sold_sku,
                 MAX(rl.sold_qty) AS sold_qty, MAX(rl.sold_fen) AS sold_fen
          FROM refunds r JOIN refund_lines rl ON rl.refund_id = r.id
          WHERE r.sale_device IS NOT NULL
          GROUP BY r.sale_id, rl.line, rl.sku) b
    WHERE b.sold_sku IS NULL OR b.sold_sku <> b.sku OR b.qty > b.sold_qty
       OR b.fen > b.sold_fen OR b.least_qty <= 0 OR b.least_fen < 0
    ORDER BY b.sale_device, b.line, b.sku";

/// A row of [`HEADS`].
struct HeadRow {
    device: String,
    sale: String,
    refund: String,
    refunded_at: String,
    voided: bool,
    amount_fen: i64,
    lines_fen: i64,
}

/// A row of [`LINES`].
struct LineRow {
    device: String,
    sale: String,
    refund: String,
    line: i64,
    sku: String,
    qty: i64,
    fen: i64,
    least_qty: i64,
    least_fen: i64,
    /// The line sold: product, quantity and amount; `None` where the sale has no such line.
    sold: Option<(String, i64, i64)>,
}

/// The doubts of what [`HEADS`] and [`LINES`] found, in the order of the sales (by till and
/// number), a sale's heads before its lines.
fn refunds(heads: Vec<HeadRow>, lines: Vec<LineRow>) -> Vec<DoubtfulRefund> {
    let mut out = Vec::new();
    for h in heads {
        let mut doubt = |doubt: Doubt, detail: String| {
            out.push(DoubtfulRefund {
                device: h.device.clone(),
                sale: h.sale.clone(),
                refund: h.refund.clone(),
                doubt,
                detail,
            })
        };
        if h.refunded_at != h.device {
            let detail = format!("refunded at {}, sold at {}", h.refunded_at, h.device);
            doubt(Doubt::RefundedElsewhere, detail);
        }
        if h.voided {
            doubt(Doubt::Voided, "the sale is voided".into());
        }
        if h.amount_fen != h.lines_fen {
            let detail = format!("refund {} fen, its lines {} fen", h.amount_fen, h.lines_fen);
            doubt(Doubt::UnlikeItsLines, detail);
        }
    }
    for l in lines {
        let line = l.line;
        let mut doubt = |doubt: Doubt, detail: String| {
            out.push(DoubtfulRefund {
                device: l.device.clone(),
                sale: l.sale.clone(),
                refund: l.refund.clone(),
                doubt,
                detail,
            })
        };
        if l.least_qty <= 0 || l.least_fen < 0 {
            let detail = format!(
                "line {line}: a refund of {} for {} fen",
                l.least_qty, l.least_fen
            );
            doubt(Doubt::NotPositive, detail);
        }
        let Some((sku, qty, fen)) = &l.sold else {
            doubt(Doubt::NoSuchLine, format!("line {line} ({})", l.sku));
            continue;
        };
        if *sku != l.sku {
            let detail = format!("line {line}: {} refunded, {sku} sold", l.sku);
            doubt(Doubt::OtherProduct, detail);
        } else if l.qty > *qty || l.fen > *fen {
            let detail = format!(
                "line {line}: {} of {qty} refunded, {} fen of {fen}",
                l.qty, l.fen
            );
            doubt(Doubt::BeyondSold, detail);
        }
    }
    // Stable: a sale's heads stay before its lines.
    out.sort_by(|a, b| (&a.device, sale_seq(&a.sale)).cmp(&(&b.device, sale_seq(&b.sale))));
    out
}

/// `voids` in the order of their sales (by till and number).
fn in_sale_order(mut voids: Vec<DoubtfulVoid>) -> Vec<DoubtfulVoid> {
    voids.sort_by(|a, b| (&a.device, sale_seq(&a.sale)).cmp(&(&b.device, sale_seq(&b.sale))));
    voids
}

/// The sequence of a sale number (`T01-000157`: 157), for ordering; 0 if it has none.
fn sale_seq(number: &str) -> u64 {
    number
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(sale: &str, at: &str, voided: bool, fen: (i64, i64)) -> HeadRow {
        HeadRow {
            device: "T01".into(),
            sale: sale.into(),
            refund: format!("{at}-R000001"),
            refunded_at: at.into(),
            voided,
            amount_fen: fen.0,
            lines_fen: fen.1,
        }
    }

    fn line(sale: &str, got: (i64, i64, i64, i64), sold: Option<(&str, i64, i64)>) -> LineRow {
        LineRow {
            device: "T01".into(),
            sale: sale.into(),
            refund: "T01-R000002".into(),
            line: 1,
            sku: "A".into(),
            qty: got.0,
            fen: got.1,
            least_qty: got.2,
            least_fen: got.3,
            sold: sold.map(|(sku, q, f)| (sku.to_string(), q, f)),
        }
    }

    fn kinds(found: &[DoubtfulRefund]) -> Vec<(&str, Doubt)> {
        found.iter().map(|d| (d.sale.as_str(), d.doubt)).collect()
    }

    #[test]
    fn each_doubt_is_named_in_the_order_of_the_sales() {
        let found = refunds(
            vec![
                head("T01-000010", "T02", true, (500, 400)),
                head("T01-000002", "T01", true, (500, 500)),
            ],
            vec![
                line("T01-000002", (3, 300, 1, 100), Some(("A", 2, 300))),
                line("T01-000009", (1, 100, 1, 100), None),
                line("T01-000003", (1, 100, 1, 100), Some(("B", 1, 100))),
                line("T01-000004", (-1, -100, -1, -100), Some(("A", 1, 100))),
            ],
        );
        assert_eq!(
            kinds(&found),
            [
                ("T01-000002", Doubt::Voided),
                ("T01-000002", Doubt::BeyondSold),
                ("T01-000003", Doubt::OtherProduct),
                ("T01-000004", Doubt::NotPositive),
                ("T01-000009", Doubt::NoSuchLine),
                ("T01-000010", Doubt::RefundedElsewhere),
                ("T01-000010", Doubt::Voided),
                ("T01-000010", Doubt::UnlikeItsLines),
            ]
        );
        assert_eq!(found[1].detail, "line 1: 3 of 2 refunded, 300 fen of 300");
        assert_eq!(found[5].detail, "refunded at T02, sold at T01");
        assert_eq!(found[7].detail, "refund 500 fen, its lines 400 fen");
    }

    #[test]
    fn a_line_refunded_in_full_and_no_more_is_no_doubt() {
        let found = refunds(
            vec![],
            vec![line("T01-000001", (2, 300, 1, 100), Some(("A", 2, 300)))],
        );
        assert_eq!(found, []);
    }
}
