//! Payment providers' statements at headquarters: a stall's WeChat Pay and Alipay files
//! imported whole or not at all ([`import`]), and matched one to one against the QR payments
//! and refunds the tills recorded ([`matching`]).

pub mod export;
pub mod matching;
pub mod postgres;
pub mod removal;

use chrono::NaiveDateTime;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{now_text, Error, Hq, Result};
use fairpos_domain::statement::{self, Provider};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS statement_files (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    stall       TEXT NOT NULL,
    layout      TEXT NOT NULL,
    encoding    TEXT NOT NULL,
    lines       INTEGER NOT NULL,
    -- The Beijing time the file accounts for (the period it states, else the whole days of
    -- its rows): a till's QR movement inside it is expected in the statement.
    covers_from TEXT,
    covers_to   TEXT,
    imported_at TEXT NOT NULL,
    -- What it accounts for: `both` flows, or the one a file of payments or refunds only
    -- holds (a WeChat bill of paid orders says nothing of refunds given that day).
    flows       TEXT NOT NULL DEFAULT 'both'
) STRICT;
CREATE TABLE IF NOT EXISTS statement_lines (
    provider   TEXT NOT NULL,
    txn        TEXT NOT NULL,
    flow       TEXT NOT NULL,
    stall      TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    at         TEXT NOT NULL,  -- Beijing time, as the provider prints it
    note       TEXT NOT NULL,
    file       TEXT NOT NULL,  -- statement_files.sha256
    line       INTEGER NOT NULL,
    PRIMARY KEY (provider, txn, flow)
) STRICT;
CREATE INDEX IF NOT EXISTS statement_lines_stall ON statement_lines (stall, provider);
";

/// The time format statement lines are kept in.
pub const TIME: &str = "%Y-%m-%d %H:%M:%S";

/// A statement line held already under the same provider, transaction and flow; SQL both
/// backends run.
const HELD_LINE: &str = "SELECT stall, amount_fen, at FROM statement_lines
     WHERE provider = ?1 AND txn = ?2 AND flow = ?3";

/// The stall a file (by its SHA-256) was imported under, and its name then; SQL both
/// backends run.
const HELD_FILE: &str = "SELECT stall, name FROM statement_files WHERE sha256 = ?1";

/// Refuses a file imported before under another stall (`held`: its stall and name then).
/// One with no payment or refund (a quiet day's export) met no line held, and was kept
/// under the first stall, "0 new lines" said: the other stall's days stayed uncovered.
pub(crate) fn held_under_another_stall(
    name: &str,
    stall: &str,
    held: Option<(String, String)>,
) -> Result<()> {
    match held {
        Some((s, then)) if s != stall => Err(Error::input(format!(
            "{name} was imported before under stall {s} (as {then}); one imported under the \
             wrong stall is taken back with `hq statements remove FILE`"
        ))),
        _ => Ok(()),
    }
}

/// A statement line kept; SQL both backends run.
const INSERT_LINE: &str = "INSERT INTO statement_lines
       (provider, txn, flow, stall, amount_fen, at, note, file, line)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    pub file: String,
    pub provider: &'static str,
    pub stall: String,
    pub layout: &'static str,
    pub encoding: &'static str,
    /// Lines new to headquarters.
    pub new: usize,
    /// Lines it held already (the same file, or an overlapping one, imported before).
    pub already: usize,
    /// Rows that are neither a payment nor a refund.
    pub skipped: usize,
    /// Of those, money in left out as not the stall's takings, by kind.
    pub others_money_in: Vec<statement::MoneyInLeftOut>,
}

/// Imports a statement file of `stall`'s `provider` account. All its lines or none; the
/// same lines imported again change nothing.
pub fn import(
    hq: &mut Hq,
    name: &str,
    bytes: &[u8],
    provider: Provider,
    stall: &str,
) -> Result<Imported> {
    check_stall(&hq.conn, stall)?;
    let parsed = statement::parse(name, bytes, provider)?;
    let sha = fairpos_sync::keys::hex(&Sha256::digest(bytes));
    // Immediate: the write lock is waited for (busy_timeout) at the start. A deferred
    // transaction that read first would be refused at once, "database is locked", if a
    // serving headquarters committed meanwhile (its snapshot could not become a writer).
    let tx = hq
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let held = tx
        .query_row(HELD_FILE, [&sha], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    held_under_another_stall(name, stall, held)?;
    let mut new = 0;
    let mut already = 0;
    for l in &parsed.lines {
        let at = l.at.format(TIME).to_string();
        let held: Option<(String, i64, String)> = tx
            .query_row(
                HELD_LINE,
                params![provider.as_str(), l.txn, l.flow.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if held_already(name, stall, l, held)? {
            already += 1;
            continue;
        }
        tx.execute(
            INSERT_LINE,
            params![
                provider.as_str(),
                l.txn,
                l.flow.as_str(),
                stall,
                l.amount.0,
                at,
                l.note,
                sha,
                l.line as i64
            ],
        )?;
        new += 1;
    }
    let (covers_from, covers_to) = covers(&parsed);
    tx.execute(
        "INSERT INTO statement_files
           (sha256, name, provider, stall, layout, encoding, lines, covers_from, covers_to,
            imported_at, flows)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(sha256) DO UPDATE SET flows = excluded.flows
         WHERE statement_files.stall = excluded.stall",
        params![
            sha,
            name,
            provider.as_str(),
            stall,
            parsed.layout.as_str(),
            parsed.encoding,
            parsed.lines.len() as i64,
            covers_from,
            covers_to,
            now_text(),
            flows_accounted(&parsed)
        ],
    )?;
    tx.commit()?;
    Ok(Imported::of(name, provider, stall, &parsed, (new, already)))
}

impl Imported {
    /// What importing `parsed` did: `(new, already)` lines.
    fn of(
        name: &str,
        provider: Provider,
        stall: &str,
        parsed: &statement::Statement,
        (new, already): (usize, usize),
    ) -> Imported {
        Imported {
            file: name.to_string(),
            provider: provider.as_str(),
            stall: stall.to_string(),
            layout: parsed.layout.as_str(),
            encoding: parsed.encoding,
            new,
            already,
            skipped: parsed.skipped,
            others_money_in: parsed.others_money_in.clone(),
        }
    }
}

/// Refuses a statement of a stall the fair's catalog does not have.
pub(crate) fn check_stall(conn: &Connection, stall: &str) -> Result<()> {
    let known: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM stalls WHERE id = ?1)",
        [stall],
        |r| r.get(0),
    )?;
    if !known {
        return Err(Error::input(format!(
            "--stall {stall}: no such stall in the fair (see the stalls CSV)"
        )));
    }
    Ok(())
}

/// Whether line `l` of the file `name` of `stall` is held already (`held`: the line of the
/// same provider, transaction and flow headquarters holds: stall, amount, time); refused
/// when what is held contradicts it.
pub(crate) fn held_already(
    name: &str,
    stall: &str,
    l: &statement::StatementLine,
    held: Option<(String, i64, String)>,
) -> Result<bool> {
    // The same movement, its time perhaps without seconds (a file saved again by a
    // spreadsheet): within a minute.
    let same_time = |held_at: &str| {
        NaiveDateTime::parse_from_str(held_at, TIME)
            .is_ok_and(|h| (h - l.at).num_seconds().abs() < 60)
    };
    let at = l.at.format(TIME);
    match held {
        None => Ok(false),
        Some((s, fen, held_at)) if s == stall && fen == l.amount.0 && same_time(&held_at) => {
            Ok(true)
        }
        Some((s, fen, held_at)) if s == stall => Err(Error::input(format!(
            "{name} line {}: transaction {} was imported before as {} at {held_at}, \
             here it is {} at {at}: nothing imported; which file is right?",
            l.line,
            l.txn,
            fairpos_domain::Fen(fen),
            l.amount
        ))),
        Some((s, _, _)) => Err(Error::input(format!(
            "{name} line {}: transaction {} is in stall {s}'s statement already (one imported \
             under the wrong stall is taken back with `hq statements remove FILE`)",
            l.line, l.txn
        ))),
    }
}

/// What a file accounts for, as `statement_files.flows` keeps it.
pub(crate) fn flows_accounted(parsed: &statement::Statement) -> &'static str {
    parsed.flows.map_or("both", statement::Flow::as_str)
}

/// Gives the statement files of a headquarters from before it the flows they account for:
/// both, as every file imported then was read.
pub(crate) fn add_flows(conn: &Connection) -> Result<()> {
    if !fairpos_projection::schema::has_column(conn, "statement_files", "flows")? {
        conn.execute_batch(
            "ALTER TABLE statement_files ADD COLUMN flows TEXT NOT NULL DEFAULT 'both'",
        )?;
    }
    Ok(())
}

/// The Beijing time a parsed file accounts for: `(from, to)`, kept as text.
pub(crate) fn covers(parsed: &statement::Statement) -> (Option<String>, Option<String>) {
    let at = |t: NaiveDateTime| t.format(TIME).to_string();
    match &parsed.covers {
        Some((from, to)) => (Some(at(*from)), Some(at(*to))),
        None => (None, None),
    }
}

/// A statement file imported.
#[derive(Clone, Debug, Serialize)]
pub struct StatementFile {
    pub name: String,
    pub provider: String,
    pub stall: String,
    pub lines: i64,
    /// The Beijing time it accounts for (empty when it accounts for none).
    pub covers_from: String,
    pub covers_to: String,
    /// The flows it accounts for: `both`, `payment` or `refund` alone.
    pub flows: String,
}

/// Statement files imported, oldest first.
pub fn files(conn: &Connection) -> Result<Vec<StatementFile>> {
    let mut stmt = conn.prepare(
        "SELECT name, provider, stall, lines, COALESCE(covers_from, ''), COALESCE(covers_to, ''),
                flows
         FROM statement_files ORDER BY imported_at, name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StatementFile {
            name: r.get(0)?,
            provider: r.get(1)?,
            stall: r.get(2)?,
            lines: r.get(3)?,
            covers_from: r.get(4)?,
            covers_to: r.get(5)?,
            flows: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
