//! `fairpos-bench reports`: what organizers read over a province-sized projection.
//!
//! Writes `--tills` × `--sales` sales straight into a headquarters database (`province.rs`),
//! then times, as headquarters answers them: the report by each dimension, the
//! reconciliation, one stall lead's reconciliation, the doubtful voids and refunds (none: the
//! province's all square with their sales), the leaderboard and the busiest purchasing
//! unit's list. Every answer is checked against what was written, to the fen.
//! `--keep` keeps the database for another run (`--reuse DIR` times it again without
//! writing it anew); `--baseline` also times each report read from every sale, as reports
//! were read before the roll-up; `--postgres URL` copies the province into PostgreSQL and
//! times the same reads there (`reports_pg.rs`), each answer checked against SQLite's
//! (`--postgres-copied`: the database holds it already, from such a run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fairpos_hq::{leaderboard, reconcile, unit_items, Hq};
use fairpos_projection::report::{self, Dimension};

use crate::measure::{demo_hq, fresh_dir, ms};
use crate::province;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// How the database comes to be: written now (into `dir`, kept or not), or reused.
pub enum Source {
    Write { dir: Option<PathBuf>, keep: bool },
    Reuse(PathBuf),
}

fn timed<T>(what: &str, f: impl FnOnce() -> BenchResult<T>) -> BenchResult<(T, Duration)> {
    let t = Instant::now();
    let out = f()?;
    let took = t.elapsed();
    eprintln!("  {what}: {:.1} ms", ms(took));
    Ok((out, took))
}

pub fn run(
    tills: usize,
    sales: usize,
    source: Source,
    baseline: bool,
    postgres: Option<(&str, bool)>,
) -> BenchResult<()> {
    if tills == 0 || sales == 0 {
        return Err("--tills and --sales must be at least 1".into());
    }
    let (dir, keep, written) = match source {
        Source::Reuse(dir) => (dir, true, None),
        Source::Write { dir, keep } => {
            let dir = fresh_dir("reports", dir)?;
            let mut hq = demo_hq(&dir)?;
            eprintln!(
                "writing {tills} tills × {sales} sales into {}",
                dir.display()
            );
            let t = Instant::now();
            let written = province::write(&mut hq.conn, tills, sales)?;
            eprintln!("written in {:.0} s", t.elapsed().as_secs_f64());
            (dir, keep, Some((written, t.elapsed())))
        }
    };
    let hq = Hq::open(&dir)?;
    let db = &hq.conn;
    let held: i64 = db.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?;
    eprintln!("{held} sales held; timing what organizers read");

    let mut reports = serde_json::Map::new();
    let mut answers = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut net = None;
    for by in Dimension::ALL {
        let (r, took) = timed(&format!("report by {}", by.as_str()), || {
            Ok(report::build(db, by)?)
        })?;
        if *net.get_or_insert(r.net_fen) != r.net_fen {
            return Err(format!("the report by {} disagrees on the net", by.as_str()).into());
        }
        slowest = slowest.max(took);
        reports.insert(by.as_str().to_string(), ms(took).into());
        answers.push((by, r));
    }
    let net = net.unwrap_or(0);
    // The baseline: each report read from every sale, as before the roll-up.
    let mut scans = serde_json::Map::new();
    if baseline {
        for by in Dimension::ALL {
            let (rows, took) = timed(
                &format!("report by {} read from every sale", by.as_str()),
                || Ok(report::scan(db, by)?),
            )?;
            if rows.iter().map(|r| r.net_fen).sum::<i64>() != net {
                return Err(format!("the scan by {} disagrees on the net", by.as_str()).into());
            }
            scans.insert(by.as_str().to_string(), ms(took).into());
        }
    }
    let (rec, reconcile_time) = timed("reconciliation", || Ok(reconcile::reconcile(db)?))?;
    let rec_net: i64 = rec.devices.iter().map(|d| d.net_fen).sum();
    if rec_net != net || rec.devices.iter().any(|d| !d.complete) {
        return Err("the reconciliation disagrees with the reports or finds a till short".into());
    }
    let (lead, lead_time) = timed("one stall's reconciliation", || {
        Ok(reconcile::of_stall(db, "S02")?)
    })?;
    if lead.devices.iter().any(|d| d.stall != "S02") {
        return Err("a stall lead sees another stall's tills".into());
    }
    let (doubtful, doubtful_time) = timed("doubtful voids and refunds", || {
        Ok(reconcile::doubtful::of(db, None)?)
    })?;
    if doubtful != reconcile::doubtful::Doubtful::default() {
        return Err(
            "the province's voids and refunds square with their sales, yet some are \
                    listed as doubtful"
                .into(),
        );
    }
    let (board, board_time) = timed("leaderboard", || Ok(leaderboard::of(db, &hq.fair)?))?;
    if board.teams.iter().map(|t| t.net_fen).sum::<i64>() != net {
        return Err("the leaderboard disagrees with the reports".into());
    }
    let unit = match &written {
        Some((w, _)) => w.unit.clone(),
        None => db.query_row(
            "SELECT unit_tax_id FROM sales WHERE unit_tax_id IS NOT NULL LIMIT 1",
            [],
            |r| r.get(0),
        )?,
    };
    let (items, unit_time) = timed("a unit's list", || Ok(unit_items::of(db, &unit)?))?;
    let items = items.ok_or("the busiest unit has no list")?;
    if let Some((w, _)) = &written {
        if w.net_fen != net || w.unit_net_fen != items.total_fen || held as usize != w.sales {
            return Err(format!(
                "written {} sales netting {} fen (unit {}), read {held} netting {net} (unit {})",
                w.sales, w.net_fen, w.unit_net_fen, items.total_fen
            )
            .into());
        }
        if w.oversold != rec.oversold.len() {
            return Err(format!(
                "written {} oversold lines, the reconciliation lists {}",
                w.oversold,
                rec.oversold.len()
            )
            .into());
        }
    }
    let on_postgres = match postgres {
        Some((url, copied)) => {
            let expected = crate::reports_pg::Expected {
                reports: &answers,
                reconciliation: &rec,
                stall: ("S02", &lead),
                leaderboard: &board,
                unit: (&unit, &items),
            };
            crate::reports_pg::run(url, copied, db, &hq.fair, &expected)?
        }
        None => serde_json::json!({}),
    };
    drop(hq);
    if !keep {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut result = serde_json::json!({
        "bench": "reports",
        "sales": held,
        "tills": rec.devices.len(),
        "write_s": written.as_ref().map(|(_, t)| t.as_secs()),
        "report_ms": reports,
        "baseline_scan_ms": scans,
        "slowest_report_ms": ms(slowest),
        "reconcile_ms": ms(reconcile_time),
        "stall_reconcile_ms": ms(lead_time),
        "doubtful_ms": ms(doubtful_time),
        "leaderboard_ms": ms(board_time),
        "unit_list_ms": ms(unit_time),
        "unit_lines": items.items.len(),
        "oversold_lines": rec.oversold.len(),
        "goal_ms": 2000,
    });
    if let (Some(all), Some(pg)) = (result.as_object_mut(), on_postgres.as_object()) {
        all.extend(pg.clone());
    }
    println!("{result}");
    Ok(())
}
