//! `fairpos-bench project`: projection at headquarters of a whole fair's ledgers.
//!
//! Writes `--tills` synthetic till-day ledgers of `--sales` sales each (real Automerge
//! documents written by one actor per till, demo-catalog carts, some unit purchases) into a
//! headquarters database as synced documents are stored, then times:
//! - `cold_ms`: a new `Projector` (as after a restart) projecting every ledger from storage,
//!   its commit leaving the WAL to the checkpoint thread as `hq serve`'s do; and
//!   `cold_checkpoint_ms`, that checkpoint afterwards;
//! - `incremental_ms`: `--new` more sales spread over the tills, stored as incremental chunks
//!   (as sync stores them) and projected by the same `Projector`;
//! - side by side, `full_reproject_ms`: the same new sales taken in by reloading and
//!   re-projecting each touched ledger whole (what projection without held documents costs);
//! - `restart_ms`: what a restarted `hq serve` first takes (the ledgers stored since their
//!   projection, by their chunk keys' digest: here none), side by side with
//!   `restart_every_ledger_ms`, taking every stored ledger as each start did before, and
//!   `restart_every_ledger_whole_ms`, the same with every ledger's records read whole again
//!   (as before what they come to was stored with the heads);
//! - `reconcile_ms` and `report_ms`: the organizers' reconciliation and one report over it.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, FixedOffset};
use fairpos_domain::catalog::Catalog;
use fairpos_domain::payment::Tender;
use fairpos_domain::sale::{self, Buyer, SaleContext, Seller, Unit};
use fairpos_domain::{catalog_csv, demo};
use fairpos_hq::project::{self, Outcome, Projector};
use fairpos_hq::{checkpoints, reconcile, Hq};
use fairpos_projection::report::{self, Dimension};
use fairpos_sync::convert as records;
use fairpos_sync::ids::document_id;
use fairpos_sync::record::ShiftOpenRecord;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::put_chunk;
use fairpos_sync::{ActorId, LedgerDoc, LedgerId, Record};
use rusqlite::params;

use crate::measure::{demo_hq, fresh_dir, ms, random_cart, Lcg};
use crate::project_pg::StoredLedger;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// One synthetic till: its ledger held in memory to append the new sales to.
struct SyntheticTill {
    device: String,
    stall: String,
    doc_id: DocumentId,
    ledger: LedgerDoc,
    shift: String,
    sales: u64,
    records: u64,
}

/// What a fair sells: the demo catalog, its sellers and units.
struct Fair {
    catalog: Catalog,
    sellers: Vec<Seller>,
    units: Vec<Unit>,
    start: DateTime<FixedOffset>,
    rng: Lcg,
}

impl Fair {
    /// Appends one more sale to `till`'s ledger and returns the change.
    fn sell(&mut self, till: &mut SyntheticTill) -> BenchResult<automerge::Change> {
        let n = till.sales + 1;
        let at = self.start + Duration::seconds(n as i64 * 15);
        let cart = random_cart(&self.catalog, &mut self.rng);
        // One sale in twenty is a purchasing unit's, on account.
        let (buyer, tender) = if n.is_multiple_of(20) {
            let unit = self.units[self.rng.next(self.units.len())].clone();
            (Buyer::Unit(unit), "on_account")
        } else {
            (
                Buyer::Individual,
                ["wechat", "alipay", "unionpay"][self.rng.next(3)],
            )
        };
        let context = SaleContext {
            id: fairpos::till::new_id(),
            seq: n,
            device: fairpos_domain::DeviceCode::parse(&till.device)?,
            stall: till.stall.clone(),
            shift: till.shift.clone(),
            at,
            seller: self.sellers[self.rng.next(self.sellers.len())].clone(),
            buyer,
        };
        let sale = sale::complete(context, &cart, &[Tender::parse(tender)?], |_| i64::MAX)?;
        till.records += 1;
        let record = Record::Sale(records::sale_record(&sale, till.records));
        let change = till.ledger.append(&record, at.timestamp_millis())?;
        till.sales = n;
        Ok(change)
    }
}

/// A till enrolled at headquarters with today's ledger open and a shift started.
fn synthetic_till(hq: &Hq, fair: &Fair, n: usize) -> BenchResult<SyntheticTill> {
    let device = format!("B{n:02}");
    let stall = format!("S{:02}", n % 6 + 1);
    let actor = ActorId::random();
    hq.conn.execute(
        "INSERT INTO devices(device, stall, role, actor, enrolled_at)
         VALUES (?1, ?2, 'till', ?3, '2026-11-22T00:00:00Z')",
        params![device, stall, actor.to_hex_string()],
    )?;
    let id = LedgerId {
        fair: hq.fair.id.clone(),
        device: device.clone(),
        day: fair.start.format("%Y-%m-%d").to_string(),
    };
    let doc_id = document_id(&id.key());
    let (mut ledger, _) = LedgerDoc::create(id, actor, fair.start.timestamp_millis())?;
    let shift = fairpos::till::new_id();
    ledger.append(
        &Record::ShiftOpen(ShiftOpenRecord {
            header: records::header(fairpos::till::new_id(), &device, 1, &fair.start),
            shift: shift.clone(),
            seller: fair.sellers[0].id.clone(),
            float_fen: 20_000,
        }),
        fair.start.timestamp_millis(),
    )?;
    Ok(SyntheticTill {
        device,
        stall,
        doc_id,
        ledger,
        shift,
        sales: 0,
        records: 1,
    })
}

/// Stores `till`'s ledger as samod stores a document a till pushed: one snapshot.
fn store(hq: &Hq, till: &SyntheticTill) -> BenchResult<()> {
    put_chunk(
        &hq.conn,
        &till.doc_id,
        "snapshot",
        "bench",
        &till.ledger.automerge().save(),
    )?;
    hq.conn.execute(
        "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
         VALUES (?1, ?2, ?3, '', 0, '2026-11-22T00:00:00Z')",
        params![till.doc_id.to_string(), till.ledger.id().key(), till.device],
    )?;
    Ok(())
}

fn projected(outcome: Outcome) -> BenchResult<usize> {
    match outcome {
        Outcome::Projected { new_records, .. } => Ok(new_records),
        other => Err(format!("projection did not take the ledger: {other:?}").into()),
    }
}

fn count_sales(hq: &Hq) -> BenchResult<usize> {
    let n: i64 = hq
        .conn
        .query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?;
    Ok(n as usize)
}

pub fn run(
    tills: usize,
    sales: usize,
    new: usize,
    dir: Option<PathBuf>,
    postgres: Option<&str>,
) -> BenchResult<()> {
    if tills == 0 || sales == 0 {
        return Err("--tills and --sales must be at least 1".into());
    }
    let dir = fresh_dir("project", dir)?;
    let hq = demo_hq(&dir)?;
    let offset = hq.fair.utc_offset;
    let mut fair = Fair {
        catalog: Catalog::new(demo::products()?)?,
        sellers: catalog_csv::parse_sellers("sellers.csv", demo::SELLERS_CSV)?,
        units: catalog_csv::parse_units("units.csv", demo::UNITS_CSV)?,
        start: DateTime::parse_from_rfc3339("2026-11-22T09:00:00+08:00")?.with_timezone(&offset),
        rng: Lcg(5),
    };

    eprintln!(
        "writing {tills} ledgers of {sales} sales into {}",
        dir.display()
    );
    let t = Instant::now();
    let mut synthetic = (1..=tills)
        .map(|n| synthetic_till(&hq, &fair, n))
        .collect::<BenchResult<Vec<_>>>()?;
    // The tills sell at the same time, so their record ids (UUID v7) interleave as at a fair.
    for i in 1..=sales {
        for till in &mut synthetic {
            fair.sell(till)?;
        }
        if i % (sales / 5).max(1) == 0 {
            eprintln!(
                "  {i:>5} sales on each till ({:.1} s)",
                t.elapsed().as_secs_f64()
            );
        }
    }
    for till in &synthetic {
        store(&hq, till)?;
    }
    // As `hq serve` on SQLite: commits leave the log's copying into the database to a
    // checkpoint thread, which by the time a fair's ledgers are projected has copied what
    // storing them logged.
    checkpoints::checkpoint(&hq.conn)?;
    checkpoints::hand_over(&hq.conn)?;
    let write_ms = ms(t.elapsed());

    // Cold: nothing held, every ledger loaded from storage and projected.
    eprintln!("projecting from cold");
    let mut projector = Projector::new();
    let t = Instant::now();
    let ledgers: Vec<DocumentId> = synthetic.iter().map(|t| t.doc_id.clone()).collect();
    let mut records = 0;
    for outcome in projector.project_all(&hq.conn, &ledgers)? {
        records += projected(outcome?)?;
    }
    let cold = t.elapsed();
    // What that thread then does, off the projection's path: the log the projection wrote,
    // copied into the database.
    let t = Instant::now();
    checkpoints::checkpoint(&hq.conn)?;
    let cold_checkpoint = t.elapsed();
    if count_sales(&hq)? != tills * sales || records != tills * (sales + 1) {
        return Err(format!(
            "cold projection holds {} sales of {}",
            count_sales(&hq)?,
            tills * sales
        )
        .into());
    }

    // New sales arrive as samod stores them: one chunk per change, a few on each till.
    let mut touched = Vec::new();
    for k in 0..new {
        let i = k % tills;
        let change = fair.sell(&mut synthetic[i])?;
        put_chunk(
            &hq.conn,
            &synthetic[i].doc_id,
            "incremental",
            &change.hash().to_string(),
            change.raw_bytes(),
        )?;
        if !touched.contains(&i) {
            touched.push(i);
        }
    }
    eprintln!(
        "projecting {new} new sales on {} ledgers, incrementally",
        touched.len()
    );
    let t = Instant::now();
    let ids: Vec<DocumentId> = touched
        .iter()
        .map(|&i| synthetic[i].doc_id.clone())
        .collect();
    let mut added = 0;
    for outcome in projector.project_all(&hq.conn, &ids)? {
        added += projected(outcome?)?;
    }
    let incremental = t.elapsed();
    if added != new || count_sales(&hq)? != tills * sales + new {
        return Err(format!("the incremental projection added {added} of {new} sales").into());
    }

    // A restart: the first passes take the ledgers stored since their projection (none
    // here: the catalog only), against every stored ledger (each start before the digest).
    eprintln!("restarting: what was stored since its projection, then every ledger");
    let t = Instant::now();
    let since = project::stored_since_projected(&hq.conn)?;
    for outcome in Projector::new().project_all(&hq.conn, &since)? {
        outcome?;
    }
    let restart = t.elapsed();
    let t = Instant::now();
    let every = project::stored_not_refused(&hq.conn)?;
    for outcome in Projector::new().project_all(&hq.conn, &every)? {
        outcome?;
    }
    let restart_every = t.elapsed();
    // Side by side: every ledger read whole again, as before what its records come to was
    // stored with its heads (a build before stored none).
    hq.conn.execute(
        "UPDATE hq_docs SET weight_fen = NULL, weight_qty = NULL",
        [],
    )?;
    let t = Instant::now();
    for outcome in Projector::new().project_all(&hq.conn, &every)? {
        outcome?;
    }
    let restart_every_whole = t.elapsed();
    if since.iter().any(|d| ledgers.contains(d)) || every.len() != tills + 1 {
        return Err(format!(
            "a restart took {} of {} stored documents",
            since.len(),
            every.len()
        )
        .into());
    }

    // The baseline: the same ledgers reloaded and re-projected whole.
    eprintln!("re-projecting the touched ledgers whole (the baseline)");
    let t = Instant::now();
    for &i in &touched {
        projected(project::project(&hq.conn, &synthetic[i].doc_id)?)?;
    }
    let full = t.elapsed();

    let t = Instant::now();
    let rec = reconcile::reconcile(&hq.conn)?;
    let reconcile_time = t.elapsed();
    if rec.devices.len() != tills || rec.devices.iter().any(|d| !d.complete) {
        return Err("the reconciliation does not find every till whole".into());
    }
    let t = Instant::now();
    let by_product = report::build(&hq.conn, Dimension::Product)?;
    let report_time = t.elapsed();
    let net: i64 = rec.devices.iter().map(|d| d.net_fen).sum();
    if net != by_product.net_fen {
        return Err("the reconciliation and the report disagree".into());
    }
    drop(hq);
    std::fs::remove_dir_all(&dir)?;
    let on_postgres = match postgres {
        Some(url) => {
            let ledgers: Vec<&LedgerDoc> = synthetic.iter().map(|t| &t.ledger).collect();
            let mut figures = crate::project_pg::run(url, &ledgers, &by_product)?;
            let stored: Vec<StoredLedger> = synthetic
                .iter()
                .map(|t| StoredLedger {
                    key: t.ledger.id().key(),
                    device: t.device.clone(),
                    doc_id: t.doc_id.clone(),
                    snapshot: t.ledger.automerge().save(),
                })
                .collect();
            let each = (new / tills).max(1);
            let resumed =
                crate::project_pg::resume(url, &stored, each, |i| fair.sell(&mut synthetic[i]))?;
            if let (Some(all), Some(more)) = (figures.as_object_mut(), resumed.as_object()) {
                all.extend(more.clone());
            }
            figures
        }
        None => serde_json::json!({}),
    };

    let mut result = serde_json::json!({
        "bench": "project",
        "tills": tills,
        "sales_per_till": sales,
        "sales": tills * sales,
        "write_ms": write_ms,
        "cold_ms": ms(cold),
        "cold_goal_ms": 2000,
        "cold_checkpoint_ms": ms(cold_checkpoint),
        "new_sales": new,
        "ledgers_touched": touched.len(),
        "incremental_ms": ms(incremental),
        "incremental_goal_ms": 100,
        "full_reproject_ms": ms(full),
        "incremental_speedup": ((full.as_secs_f64() / incremental.as_secs_f64()) * 10.0).round() / 10.0,
        "restart_ms": ms(restart),
        "restart_every_ledger_ms": ms(restart_every),
        "restart_every_ledger_whole_ms": ms(restart_every_whole),
        "reconcile_ms": ms(reconcile_time),
        "report_by_product_ms": ms(report_time),
    });
    if let (Some(all), Some(pg)) = (result.as_object_mut(), on_postgres.as_object()) {
        all.extend(pg.clone());
    }
    println!("{result}");
    Ok(())
}
