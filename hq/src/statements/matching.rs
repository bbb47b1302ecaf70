//! The tills' QR payments and refunds against the statements: read both sides from the
//! database and pair them with [`fairpos_domain::statement::matching::match_up`].
//!
//! A till's side: each WeChat or Alipay payment of a sale; each refund by those methods; and
//! a voided sale's QR payments as money given back. Only movements inside the span of time a
//! statement of that stall and provider accounts for (the period it states, else the whole
//! days of its rows) are checked; the rest are counted as not covered.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime};
use rusqlite::Connection;
use serde::Serialize;

use super::TIME;
use crate::Result;
use fairpos_domain::statement::matching::{match_up, Movement};
use fairpos_domain::statement::{Flow, Provider};
use fairpos_domain::Fen;

/// Default window between a till's record and the statement's time.
pub const DEFAULT_WINDOW_MINUTES: i64 = 10;

/// A QR payment or refund as a till recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub stall: String,
    pub device: String,
    /// The sale's number.
    pub sale: String,
    /// The refund's number, `void` for a voided sale, empty for the payment itself.
    pub record: String,
    pub seller: String,
    pub seller_name: String,
    pub shift: String,
    pub method: &'static str,
    pub flow: &'static str,
    pub amount_fen: i64,
    /// Beijing time.
    pub at: String,
}

/// A statement line.
#[derive(Clone, Debug, Serialize)]
pub struct Stated {
    pub stall: String,
    pub provider: &'static str,
    pub txn: String,
    pub flow: &'static str,
    pub amount_fen: i64,
    pub at: String,
    pub note: String,
    pub file: String,
    pub line: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Matched {
    #[serde(flatten)]
    pub recorded: Recorded,
    pub txn: String,
    pub statement_at: String,
    pub seconds_apart: i64,
}

/// Movements of a stall and method at times no imported statement accounts for.
#[derive(Clone, Debug, Serialize)]
pub struct NotCovered {
    pub stall: String,
    pub method: &'static str,
    pub count: usize,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatementMatch {
    pub window_minutes: i64,
    pub matched: Vec<Matched>,
    /// Paid on paper only: by seller, then shift, then time.
    pub recorded_not_in_statement: Vec<Recorded>,
    pub in_statement_not_recorded: Vec<Stated>,
    pub not_covered: Vec<NotCovered>,
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is an offset")
}

/// A record's RFC 3339 time as Beijing wall time.
fn to_beijing(at: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&beijing()).naive_local())
}

/// The tills' QR movements, SQL both backends run: stall, device, sale, record (a refund's
/// number, `void`, or empty for a payment), the sale's seller and their name, the seller of
/// the shift that gave the money back (refunds and voids), shift, method, flow, amount, time;
/// in one order on both backends (by time, device, sale and record), which breaks ties of
/// time and amount alike (two tills of one stall paid at one second): unordered, each backend
/// could name another seller as paid on paper only.
const RECORDED: &str = "
    SELECT s.stall, s.device, s.number, '', s.seller, s.seller_name, NULL, s.shift_id,
           p.method, 'payment', p.amount_fen, s.at
      FROM sale_payments p JOIN sales s ON s.id = p.sale_id
     WHERE p.method IN ('wechat', 'alipay')
    UNION ALL
    SELECT s.stall, s.device, s.number, r.number, s.seller, s.seller_name, sh.seller,
           r.shift_id, r.method, 'refund', r.amount_fen, r.at
      FROM refunds r JOIN sales s ON s.id = r.sale_id
      LEFT JOIN shifts sh ON sh.id = r.shift_id
     WHERE r.method IN ('wechat', 'alipay')
    UNION ALL
    SELECT s.stall, s.device, s.number, 'void', s.seller, s.seller_name, sh.seller,
           v.shift_id, p.method, 'refund', p.amount_fen, v.at
      FROM voids v JOIN sales s ON s.id = v.sale_id
      JOIN sale_payments p ON p.sale_id = s.id
      LEFT JOIN shifts sh ON sh.id = v.shift_id
     WHERE p.method IN ('wechat', 'alipay')
     ORDER BY 12, 2, 3, 4";

/// A row of [`RECORDED`].
#[derive(Clone)]
pub(crate) struct RecordedRow {
    pub stall: String,
    pub device: String,
    pub sale: String,
    pub record: String,
    pub seller: String,
    pub seller_name: String,
    pub shift_seller: Option<String>,
    pub shift: String,
    pub method: String,
    pub flow: String,
    pub amount_fen: i64,
    pub at: String,
}

/// The statements' lines, SQL both backends run.
const STATED: &str = "
    SELECT l.stall, l.provider, l.txn, l.flow, l.amount_fen, l.at, l.note,
           COALESCE(f.name, l.file), l.line
      FROM statement_lines l LEFT JOIN statement_files f ON f.sha256 = l.file
     ORDER BY l.stall, l.provider, l.at, l.txn";

/// A row of [`STATED`].
pub(crate) struct StatedRow {
    pub stall: String,
    pub provider: String,
    pub txn: String,
    pub flow: String,
    pub amount_fen: i64,
    pub at: String,
    pub note: String,
    pub file: String,
    pub line: i64,
}

/// The spans statement files account for: stall, provider, from, to, and the flows
/// (`both`, or the one a file of payments or refunds only holds).
const COVERED: &str = "
    SELECT stall, provider, covers_from, covers_to, flows FROM statement_files
     WHERE covers_from IS NOT NULL AND covers_to IS NOT NULL";

/// A row of [`COVERED`].
type CoveredRow = (String, String, String, String, String);

/// What matching reads, from either backend; `sellers`: the catalog's names by id.
pub(crate) struct Rows {
    pub recorded: Vec<RecordedRow>,
    pub stated: Vec<StatedRow>,
    pub covered: Vec<CoveredRow>,
    pub sellers: HashMap<String, String>,
}

fn read(conn: &Connection) -> Result<Rows> {
    let recorded = conn
        .prepare(RECORDED)?
        .query_map([], |r| {
            Ok(RecordedRow {
                stall: r.get(0)?,
                device: r.get(1)?,
                sale: r.get(2)?,
                record: r.get(3)?,
                seller: r.get(4)?,
                seller_name: r.get(5)?,
                shift_seller: r.get(6)?,
                shift: r.get(7)?,
                method: r.get(8)?,
                flow: r.get(9)?,
                amount_fen: r.get(10)?,
                at: r.get(11)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let stated = conn
        .prepare(STATED)?
        .query_map([], |r| {
            Ok(StatedRow {
                stall: r.get(0)?,
                provider: r.get(1)?,
                txn: r.get(2)?,
                flow: r.get(3)?,
                amount_fen: r.get(4)?,
                at: r.get(5)?,
                note: r.get(6)?,
                file: r.get(7)?,
                line: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let covered = conn
        .prepare(COVERED)?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Rows {
        recorded,
        stated,
        covered,
        sellers: seller_names(conn)?,
    })
}

/// The catalog's sellers' names, by id (the catalog stays in the data directory).
pub(crate) fn seller_names(conn: &Connection) -> Result<HashMap<String, String>> {
    Ok(conn
        .prepare("SELECT id, name FROM sellers")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// What matching reads from a headquarters on PostgreSQL; the sellers' names from the data
/// directory's catalog (`sellers`).
pub(crate) async fn read_postgres(
    pool: &fairpos_postgres::Pool,
    sellers: HashMap<String, String>,
) -> Result<Rows> {
    use fairpos_postgres::Error as Pg;
    let client = pool.get().await.map_err(Pg::from)?;
    let recorded = client
        .query(RECORDED, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| RecordedRow {
            stall: r.get(0),
            device: r.get(1),
            sale: r.get(2),
            record: r.get(3),
            seller: r.get(4),
            seller_name: r.get(5),
            shift_seller: r.get(6),
            shift: r.get(7),
            method: r.get(8),
            flow: r.get(9),
            amount_fen: r.get(10),
            at: r.get(11),
        })
        .collect();
    let stated = client
        .query(STATED, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| StatedRow {
            stall: r.get(0),
            provider: r.get(1),
            txn: r.get(2),
            flow: r.get(3),
            amount_fen: r.get(4),
            at: r.get(5),
            note: r.get(6),
            file: r.get(7),
            line: r.get(8),
        })
        .collect();
    let covered = client
        .query(COVERED, &[])
        .await
        .map_err(Pg::from)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    Ok(Rows {
        recorded,
        stated,
        covered,
        sellers,
    })
}

/// The tills' QR movements; a row whose method, flow or time this cannot read is no QR
/// movement: left out. Money given back is the shift's seller's (named by the catalog).
fn recorded(
    rows: Vec<RecordedRow>,
    sellers: &HashMap<String, String>,
) -> Vec<(Recorded, Movement)> {
    rows.into_iter()
        .filter_map(|r| {
            let (Some(provider), Some(flow), Some(at)) = (
                Provider::parse(&r.method),
                Flow::parse(&r.flow),
                to_beijing(&r.at),
            ) else {
                return None;
            };
            let (seller, seller_name) = match r.shift_seller {
                Some(id) => (id.clone(), sellers.get(&id).cloned().unwrap_or(id)),
                None => (r.seller, r.seller_name),
            };
            let moved = movement(r.stall.clone(), provider, flow, r.amount_fen, at);
            let recorded = Recorded {
                stall: r.stall,
                device: r.device,
                sale: r.sale,
                record: r.record,
                seller,
                seller_name,
                shift: r.shift,
                method: provider.as_str(),
                flow: flow.as_str(),
                amount_fen: r.amount_fen,
                at: at.format(TIME).to_string(),
            };
            Some((recorded, moved))
        })
        .collect()
}

/// The statements' lines; one whose provider, flow or time this cannot read is left out.
fn stated(rows: Vec<StatedRow>) -> Vec<(Stated, Movement)> {
    rows.into_iter()
        .filter_map(|r| {
            let (Some(provider), Some(flow), Ok(at)) = (
                Provider::parse(&r.provider),
                Flow::parse(&r.flow),
                NaiveDateTime::parse_from_str(&r.at, TIME),
            ) else {
                return None;
            };
            let moved = movement(r.stall.clone(), provider, flow, r.amount_fen, at);
            let stated = Stated {
                stall: r.stall,
                provider: provider.as_str(),
                txn: r.txn,
                flow: flow.as_str(),
                amount_fen: r.amount_fen,
                at: at.format(TIME).to_string(),
                note: r.note,
                file: r.file,
                line: r.line,
            };
            Some((stated, moved))
        })
        .collect()
}

fn movement(
    stall: String,
    provider: Provider,
    flow: Flow,
    amount_fen: i64,
    at: NaiveDateTime,
) -> Movement {
    Movement {
        stall,
        provider,
        flow,
        amount: Fen(amount_fen),
        at,
    }
}

/// The spans of Beijing time each stall's statements of each provider account for, each
/// with the one flow it accounts for alone (`None`: both).
fn covered(rows: Vec<CoveredRow>) -> Coverage {
    let mut spans = Coverage::new();
    for (stall, provider, from, to, flows) in rows {
        let parse = |t: &str| NaiveDateTime::parse_from_str(t, TIME).ok();
        if let (Some(from), Some(to)) = (parse(&from), parse(&to)) {
            let only = Flow::parse(&flows);
            spans
                .entry((stall, provider))
                .or_default()
                .push((from, to, only));
        }
    }
    spans
}

/// `(stall, provider)` → the spans its statements account for, and the one flow of each
/// that holds one alone.
type Coverage = HashMap<(String, String), Vec<(NaiveDateTime, NaiveDateTime, Option<Flow>)>>;

/// Whether a statement accounts for `stall`'s `flow` of `provider` at `at`: a bill of
/// payments only says nothing of a refund given then, nor one of refunds of a payment.
fn is_covered(c: &Coverage, stall: &str, provider: &str, flow: Flow, at: NaiveDateTime) -> bool {
    c.get(&(stall.to_string(), provider.to_string()))
        .is_some_and(|spans| {
            spans.iter().any(|(from, to, only)| {
                *from <= at && at <= *to && only.is_none_or(|only| only == flow)
            })
        })
}

/// Matches every recorded QR movement against the statements, times within `window_minutes`.
pub fn match_statements(conn: &Connection, window_minutes: i64) -> Result<StatementMatch> {
    Ok(match_rows(read(conn)?, window_minutes))
}

/// The same on a headquarters on PostgreSQL; `sellers`: the catalog's names by id. The
/// rows are read through the pool, and matched on a blocking thread: a province's
/// statements are a search, which held an async worker.
pub async fn match_statements_postgres(
    pool: &fairpos_postgres::Pool,
    sellers: HashMap<String, String>,
    window_minutes: i64,
) -> Result<StatementMatch> {
    let rows = read_postgres(pool, sellers).await?;
    tokio::task::spawn_blocking(move || match_rows(rows, window_minutes))
        .await
        .map_err(|e| crate::Error::Other(format!("the statements' match: {e}")))
}

fn match_rows(rows: Rows, window_minutes: i64) -> StatementMatch {
    let covered = covered(rows.covered);
    let mut uncovered: BTreeMap<(String, &'static str), (usize, i64)> = BTreeMap::new();
    let (checked, left): (Vec<_>, Vec<_>) = recorded(rows.recorded, &rows.sellers)
        .into_iter()
        .partition(|(r, m)| is_covered(&covered, &r.stall, r.method, m.flow, m.at));
    for (r, _) in left {
        let e = uncovered.entry((r.stall, r.method)).or_default();
        e.0 += 1;
        e.1 += if r.flow == "payment" {
            r.amount_fen
        } else {
            -r.amount_fen
        };
    }
    let stated = stated(rows.stated);
    let recorded_moves: Vec<Movement> = checked.iter().map(|(_, m)| m.clone()).collect();
    let stated_moves: Vec<Movement> = stated.iter().map(|(_, m)| m.clone()).collect();
    let result = match_up(
        &recorded_moves,
        &stated_moves,
        Duration::minutes(window_minutes),
    );
    let matched = result
        .matched
        .iter()
        .map(|&(i, j)| Matched {
            recorded: checked[i].0.clone(),
            txn: stated[j].0.txn.clone(),
            statement_at: stated[j].0.at.clone(),
            seconds_apart: (stated[j].1.at - checked[i].1.at).num_seconds(),
        })
        .collect();
    let mut paper_only: Vec<Recorded> = result
        .recorded_only
        .iter()
        .map(|&i| checked[i].0.clone())
        .collect();
    paper_only.sort_by(|a, b| (&a.seller, &a.shift, &a.at).cmp(&(&b.seller, &b.shift, &b.at)));
    StatementMatch {
        window_minutes,
        matched,
        recorded_not_in_statement: paper_only,
        in_statement_not_recorded: result
            .stated_only
            .iter()
            .map(|&j| stated[j].0.clone())
            .collect(),
        not_covered: uncovered
            .into_iter()
            .map(|((stall, method), (count, amount_fen))| NotCovered {
                stall,
                method,
                count,
                amount_fen,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A till's WeChat refund on a day whose only statement is a bill of paid orders (WeChat's
    /// SUCCESS bill) is not covered, not given "on paper only": that bill says nothing of
    /// refunds. A bill of both flows does.
    #[test]
    fn a_bill_of_payments_only_says_nothing_of_refunds() {
        let refund = RecordedRow {
            stall: "S01".into(),
            device: "T01".into(),
            sale: "T01-000001".into(),
            record: "T01-R000001".into(),
            seller: "V003".into(),
            seller_name: "张伟".into(),
            shift_seller: Some("V003".into()),
            shift: "shift-1".into(),
            method: "wechat".into(),
            flow: "refund".into(),
            amount_fen: 1880,
            at: "2026-11-28T10:30:00+08:00".into(),
        };
        let matched = |flows: &str| {
            let rows = Rows {
                recorded: vec![refund.clone()],
                stated: Vec::new(),
                covered: vec![(
                    "S01".into(),
                    "wechat".into(),
                    "2026-11-28 00:00:00".into(),
                    "2026-11-28 23:59:59".into(),
                    flows.into(),
                )],
                sellers: HashMap::new(),
            };
            let m = match_rows(rows, 10);
            (m.recorded_not_in_statement.len(), m.not_covered.len())
        };
        assert_eq!(matched("payment"), (0, 1), "not covered");
        assert_eq!(matched("refund"), (1, 0), "on paper only");
        assert_eq!(matched("both"), (1, 0), "on paper only");
    }
}
