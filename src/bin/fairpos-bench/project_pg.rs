//! `fairpos-bench project --postgres URL`: the fair's ledgers projected again into
//! PostgreSQL (`fairpos_postgres`), beside the SQLite figures of the same run, and the report
//! by product read there (from the roll-up, and from every sale) checked against SQLite's to
//! the fen.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use fairpos_projection::report::{Dimension, Report};
use fairpos_sync::{LedgerDoc, Record};

use crate::measure::ms;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A ledger's key and records.
type KeyedRecords = (String, Vec<Record>);

/// Ledgers handed to the projection at once (each its own transaction on its own connection;
/// the transactions take turns at the database, the decoding and sending overlap).
const WORKERS: usize = 4;

/// Projects `ledgers` into the empty database at `url` and reads the report by product;
/// returns the figures for the bench's JSON line.
pub fn run(url: &str, ledgers: &[&LedgerDoc], expected: &Report) -> BenchResult<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pool = fairpos_postgres::connect(url)?;
        fairpos_postgres::migrate(&pool).await?;
        let held: i64 = pool
            .get()
            .await?
            .query_one("SELECT COUNT(*) FROM records", &[])
            .await?
            .get(0);
        if held > 0 {
            return Err(format!(
                "{url} holds {held} projected records already: give the bench an empty database"
            )
            .into());
        }
        eprintln!("projecting into PostgreSQL, {WORKERS} ledgers at a time");
        let t = Instant::now();
        let mut queue = Vec::new();
        for ledger in ledgers {
            queue.push((ledger.id().key(), ledger.records()?));
        }
        let queue: Arc<Mutex<Vec<KeyedRecords>>> = Arc::new(Mutex::new(queue));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..WORKERS {
            let (pool, queue) = (pool.clone(), queue.clone());
            workers.spawn(async move {
                let mut added = 0;
                loop {
                    let next = queue.lock().expect("the queue's lock").pop();
                    let Some((key, records)) = next else {
                        return Ok::<_, fairpos_postgres::Error>(added);
                    };
                    added += fairpos_postgres::project(&pool, &key, &records).await?;
                }
            });
        }
        let mut added = 0;
        while let Some(done) = workers.join_next().await {
            added += done??;
        }
        let cold = t.elapsed();
        let t = Instant::now();
        let by_product = fairpos_postgres::report::build(&pool, Dimension::Product).await?;
        let report_time = t.elapsed();
        let t = Instant::now();
        let scanned = fairpos_postgres::report::scan(&pool, Dimension::Product).await?;
        let scan_time = t.elapsed();
        if &by_product != expected || &scanned != expected {
            return Err("PostgreSQL's report by product differs from SQLite's".into());
        }
        Ok(serde_json::json!({
            "postgres_records": added,
            "postgres_cold_ms": ms(cold),
            "postgres_workers": WORKERS,
            "postgres_report_by_product_ms": ms(report_time),
            "postgres_scan_by_product_ms": ms(scan_time),
        }))
    })
}
