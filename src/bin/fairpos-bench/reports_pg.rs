//! `fairpos-bench reports --postgres URL`: the same province in PostgreSQL, read there as
//! headquarters reads it on that backend, beside SQLite's figures of the same run.
//!
//! The projection's tables, the roll-up and what the reconciliation reads of devices, ledgers
//! and stalls are copied row for row from the SQLite database (text `COPY`, the roll-up's
//! triggers disabled while the rows they would count go in, since the roll-up is copied as
//! SQLite counted it), then analysed. Each answer is checked against SQLite's, to the fen.

use std::collections::VecDeque;
use std::pin::pin;
use std::time::{Duration, Instant};

use fairpos_domain::fair::Fair;
use fairpos_hq::leaderboard::{self, Leaderboard};
use fairpos_hq::reconcile::{self, Reconciliation};
use fairpos_hq::unit_items::{self, UnitItems};
use fairpos_postgres::Pool;
use fairpos_projection::report::{Dimension, Report};
use futures::SinkExt;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::measure::ms;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// What is copied, in this order (PostgreSQL holds no catalog: `stalls` is the stalls'
/// names the reports label rows with).
const TABLES: [&str; 15] = [
    "devices",
    "hq_docs",
    "stalls",
    "shifts",
    "cash_moves",
    "records",
    "sales",
    "sale_lines",
    "sale_payments",
    "sale_oversold",
    "voids",
    "refunds",
    "refund_lines",
    "stock_out",
    "rollup",
];

/// A `COPY` message's size: rows are sent in pieces of about this many bytes.
const PIECE: usize = 1 << 20;

/// SQLite's answers, which PostgreSQL's must equal.
pub struct Expected<'a> {
    pub reports: &'a [(Dimension, Report)],
    pub reconciliation: &'a Reconciliation,
    pub stall: (&'a str, &'a Reconciliation),
    pub leaderboard: &'a Leaderboard,
    pub unit: (&'a str, &'a UnitItems),
}

/// Copies the province in `db` into the empty database at `url` (or, `copied`, finds it
/// there already, as a run with `copied` false left it) and times the same reads there;
/// returns the figures for the bench's JSON line.
pub fn run(
    url: &str,
    copied: bool,
    db: &Connection,
    fair: &Fair,
    expected: &Expected,
) -> BenchResult<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let copy_time = if copied {
            None
        } else {
            Some(copy(url, db).await?)
        };
        let pool = fairpos_postgres::connect(url)?;
        let (in_sqlite, in_postgres): (i64, i64) = (
            db.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?,
            pool.get()
                .await?
                .query_one("SELECT COUNT(*) FROM sales", &[])
                .await?
                .get(0),
        );
        if in_sqlite != in_postgres {
            let shown = fairpos_postgres::shown_address(url);
            return Err(format!(
                "{shown} holds {in_postgres} sales, the province {in_sqlite}: copy it first"
            )
            .into());
        }
        eprintln!("timing what organizers read in PostgreSQL");
        read_and_compare(&pool, fair, expected, copy_time).await
    })
}

/// Copies the province into the empty database at `url`, and analyses it.
async fn copy(url: &str, db: &Connection) -> BenchResult<Duration> {
    let pool = crate::project_pg::empty_database(url).await?;
    eprintln!("copying the province into PostgreSQL");
    let t = Instant::now();
    for table in TABLES {
        copy_table(db, &pool, table).await?;
    }
    pool.get().await?.batch_execute("ANALYZE").await?;
    eprintln!("copied and analysed in {:.0} s", t.elapsed().as_secs_f64());
    Ok(t.elapsed())
}

async fn read_and_compare(
    pool: &Pool,
    fair: &Fair,
    expected: &Expected<'_>,
    copy_time: Option<Duration>,
) -> BenchResult<serde_json::Value> {
    let mut reports = serde_json::Map::new();
    let mut slowest = Duration::ZERO;
    for (by, sqlite) in expected.reports {
        let t = Instant::now();
        let report = fairpos_postgres::report::build(pool, *by).await?;
        let took = timed(&format!("report by {}", by.as_str()), t);
        if &report != sqlite {
            return Err(format!("PostgreSQL's report by {} differs", by.as_str()).into());
        }
        slowest = slowest.max(took);
        reports.insert(by.as_str().to_string(), ms(took).into());
    }
    let t = Instant::now();
    let rec = reconcile::postgres::reconcile(pool, None).await?;
    let reconcile_time = timed("reconciliation", t);
    same("reconciliation", &rec, expected.reconciliation)?;
    let (stall, lead_expected) = expected.stall;
    let t = Instant::now();
    let lead = reconcile::postgres::reconcile(pool, Some(stall)).await?;
    let lead_time = timed("one stall's reconciliation", t);
    same("stall's reconciliation", &lead, lead_expected)?;
    let t = Instant::now();
    let doubtful = reconcile::doubtful::of_postgres(pool, None).await?;
    let doubtful_time = timed("doubtful voids and refunds", t);
    if doubtful != reconcile::doubtful::Doubtful::default() {
        return Err("PostgreSQL lists doubtful voids or refunds in an honest province".into());
    }
    let t = Instant::now();
    let board = leaderboard::of_postgres(pool, fair).await?;
    let board_time = timed("leaderboard", t);
    same_json("leaderboard", &board, expected.leaderboard)?;
    let (unit, items_expected) = expected.unit;
    let t = Instant::now();
    let items = unit_items::of_postgres(pool, unit, None).await?;
    let unit_time = timed("a unit's list", t);
    let items = items.ok_or("PostgreSQL has no list for the busiest unit")?;
    if items.total_fen != items_expected.total_fen
        || items.items.len() != items_expected.items.len()
    {
        return Err("PostgreSQL's unit list differs".into());
    }
    Ok(serde_json::json!({
        "postgres_copy_s": copy_time.map(|t| t.as_secs()),
        "postgres_report_ms": reports,
        "postgres_slowest_report_ms": ms(slowest),
        "postgres_reconcile_ms": ms(reconcile_time),
        "postgres_stall_reconcile_ms": ms(lead_time),
        "postgres_doubtful_ms": ms(doubtful_time),
        "postgres_leaderboard_ms": ms(board_time),
        "postgres_unit_list_ms": ms(unit_time),
        "postgres_oversold_lines": rec.oversold.len(),
    }))
}

fn timed(what: &str, since: Instant) -> Duration {
    let took = since.elapsed();
    eprintln!("  PostgreSQL, {what}: {:.1} ms", ms(took));
    took
}

/// The reconciliations equal, but for when each till was last seen (a timestamp in
/// PostgreSQL, text in SQLite).
fn same(what: &str, pg: &Reconciliation, sqlite: &Reconciliation) -> BenchResult<()> {
    let unseen = |rec: &Reconciliation| -> BenchResult<serde_json::Value> {
        let mut value = serde_json::to_value(rec)?;
        if let Some(devices) = value["devices"].as_array_mut() {
            for device in devices {
                if let Some(device) = device.as_object_mut() {
                    device.remove("last_seen");
                }
            }
        }
        Ok(value)
    };
    if unseen(pg)? != unseen(sqlite)? {
        return Err(format!("PostgreSQL's {what} differs from SQLite's").into());
    }
    Ok(())
}

fn same_json<T: serde::Serialize>(what: &str, pg: &T, sqlite: &T) -> BenchResult<()> {
    if serde_json::to_value(pg)? != serde_json::to_value(sqlite)? {
        return Err(format!("PostgreSQL's {what} differs from SQLite's").into());
    }
    Ok(())
}

/// Copies the columns `table` has in both databases, every row, by text `COPY`.
async fn copy_table(db: &Connection, pool: &Pool, table: &str) -> BenchResult<()> {
    let t = Instant::now();
    let mut client = pool.get().await?;
    let in_postgres: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
            &[&table],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let in_sqlite: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let columns: Vec<&str> = in_postgres
        .iter()
        .filter(|c| in_sqlite.contains(c))
        .map(String::as_str)
        .collect();
    if columns.is_empty() {
        return Err(format!("{table}: no column in both databases").into());
    }
    let list = columns.join(", ");
    // One transaction: a copy that fails leaves neither rows nor the triggers off.
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
        .await?;
    let mut sink = pin!(
        tx.copy_in::<_, VecDeque<u8>>(&format!("COPY {table} ({list}) FROM STDIN"))
            .await?
    );
    let mut select = db.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = select.query([])?;
    let mut piece = Vec::with_capacity(PIECE + 4096);
    let mut copied = 0u64;
    while let Some(row) = rows.next()? {
        for i in 0..columns.len() {
            if i > 0 {
                piece.push(b'\t');
            }
            write_value(&mut piece, row.get_ref(i)?)?;
        }
        piece.push(b'\n');
        copied += 1;
        if piece.len() >= PIECE {
            sink.send(VecDeque::from(std::mem::take(&mut piece)))
                .await?;
            piece.reserve(PIECE + 4096);
        }
    }
    if !piece.is_empty() {
        sink.send(VecDeque::from(piece)).await?;
    }
    sink.as_mut().finish().await?;
    tx.batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
        .await?;
    tx.commit().await?;
    eprintln!(
        "  {table}: {copied} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One value in `COPY`'s text format.
fn write_value(out: &mut Vec<u8>, value: ValueRef<'_>) -> BenchResult<()> {
    match value {
        ValueRef::Null => out.extend_from_slice(b"\\N"),
        ValueRef::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        ValueRef::Real(x) => out.extend_from_slice(x.to_string().as_bytes()),
        ValueRef::Text(text) => {
            for &b in text {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.push(b),
                }
            }
        }
        ValueRef::Blob(_) => return Err("a blob in a projection table".into()),
    }
    Ok(())
}
