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

fn recorded(conn: &Connection) -> Result<Vec<(Recorded, Movement)>> {
    let mut stmt = conn.prepare(
        "SELECT s.stall, s.device, s.number, '', s.seller, s.seller_name, s.shift_id,
                p.method, 'payment', p.amount_fen, s.at
           FROM sale_payments p JOIN sales s ON s.id = p.sale_id
          WHERE p.method IN ('wechat', 'alipay')
         UNION ALL
         SELECT s.stall, s.device, s.number, r.number, COALESCE(sh.seller, s.seller),
                COALESCE(se.name, sh.seller, s.seller_name), r.shift_id,
                r.method, 'refund', r.amount_fen, r.at
           FROM refunds r JOIN sales s ON s.id = r.sale_id
           LEFT JOIN shifts sh ON sh.id = r.shift_id LEFT JOIN sellers se ON se.id = sh.seller
          WHERE r.method IN ('wechat', 'alipay')
         UNION ALL
         SELECT s.stall, s.device, s.number, 'void', COALESCE(sh.seller, s.seller),
                COALESCE(se.name, sh.seller, s.seller_name), v.shift_id,
                p.method, 'refund', p.amount_fen, v.at
           FROM voids v JOIN sales s ON s.id = v.sale_id
           JOIN sale_payments p ON p.sale_id = s.id
           LEFT JOIN shifts sh ON sh.id = v.shift_id LEFT JOIN sellers se ON se.id = sh.seller
          WHERE p.method IN ('wechat', 'alipay')",
    )?;
    // A row whose method, flow or time this cannot read is no QR movement: left out.
    let rows = stmt.query_map([], |r| {
        let (method, flow, at): (String, String, String) = (r.get(7)?, r.get(8)?, r.get(10)?);
        let (Some(provider), Some(flow), Some(at)) = (
            Provider::parse(&method),
            Flow::parse(&flow),
            to_beijing(&at),
        ) else {
            return Ok(None);
        };
        let (stall, amount_fen): (String, i64) = (r.get(0)?, r.get(9)?);
        let recorded = Recorded {
            stall: stall.clone(),
            device: r.get(1)?,
            sale: r.get(2)?,
            record: r.get(3)?,
            seller: r.get(4)?,
            seller_name: r.get(5)?,
            shift: r.get(6)?,
            method: provider.as_str(),
            flow: flow.as_str(),
            amount_fen,
            at: at.format(TIME).to_string(),
        };
        Ok(Some((
            recorded,
            movement(stall, provider, flow, amount_fen, at),
        )))
    })?;
    Ok(rows
        .filter_map(Result::transpose)
        .collect::<rusqlite::Result<_>>()?)
}

fn stated(conn: &Connection) -> Result<Vec<(Stated, Movement)>> {
    let mut stmt = conn.prepare(
        "SELECT l.stall, l.provider, l.txn, l.flow, l.amount_fen, l.at, l.note,
                COALESCE(f.name, l.file), l.line
           FROM statement_lines l LEFT JOIN statement_files f ON f.sha256 = l.file
          ORDER BY l.stall, l.provider, l.at, l.txn",
    )?;
    let rows = stmt.query_map([], |r| {
        let (provider, flow, at): (String, String, String) = (r.get(1)?, r.get(3)?, r.get(5)?);
        let (Some(provider), Some(flow), Ok(at)) = (
            Provider::parse(&provider),
            Flow::parse(&flow),
            NaiveDateTime::parse_from_str(&at, TIME),
        ) else {
            return Ok(None);
        };
        let (stall, amount_fen): (String, i64) = (r.get(0)?, r.get(4)?);
        let stated = Stated {
            stall: stall.clone(),
            provider: provider.as_str(),
            txn: r.get(2)?,
            flow: flow.as_str(),
            amount_fen,
            at: at.format(TIME).to_string(),
            note: r.get(6)?,
            file: r.get(7)?,
            line: r.get(8)?,
        };
        Ok(Some((
            stated,
            movement(stall, provider, flow, amount_fen, at),
        )))
    })?;
    Ok(rows
        .filter_map(Result::transpose)
        .collect::<rusqlite::Result<_>>()?)
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

/// The spans of Beijing time each stall's statements of each provider account for.
fn covered(conn: &Connection) -> Result<Coverage> {
    let mut stmt = conn.prepare(
        "SELECT stall, provider, covers_from, covers_to FROM statement_files
          WHERE covers_from IS NOT NULL AND covers_to IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut spans = Coverage::new();
    for row in rows {
        let (stall, provider, from, to) = row?;
        let parse = |t: &str| NaiveDateTime::parse_from_str(t, TIME).ok();
        if let (Some(from), Some(to)) = (parse(&from), parse(&to)) {
            spans.entry((stall, provider)).or_default().push((from, to));
        }
    }
    Ok(spans)
}

/// `(stall, provider)` → the spans its statements account for.
type Coverage = HashMap<(String, String), Vec<(NaiveDateTime, NaiveDateTime)>>;

fn is_covered(c: &Coverage, stall: &str, provider: &str, at: NaiveDateTime) -> bool {
    c.get(&(stall.to_string(), provider.to_string()))
        .is_some_and(|spans| spans.iter().any(|(from, to)| *from <= at && at <= *to))
}

/// Matches every recorded QR movement against the statements, times within `window_minutes`.
pub fn match_statements(conn: &Connection, window_minutes: i64) -> Result<StatementMatch> {
    let covered = covered(conn)?;
    let mut uncovered: BTreeMap<(String, &'static str), (usize, i64)> = BTreeMap::new();
    let (checked, left): (Vec<_>, Vec<_>) = recorded(conn)?
        .into_iter()
        .partition(|(r, m)| is_covered(&covered, &r.stall, r.method, m.at));
    for (r, _) in left {
        let e = uncovered.entry((r.stall, r.method)).or_default();
        e.0 += 1;
        e.1 += if r.flow == "payment" {
            r.amount_fen
        } else {
            -r.amount_fen
        };
    }
    let stated = stated(conn)?;
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
    Ok(StatementMatch {
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
    })
}
