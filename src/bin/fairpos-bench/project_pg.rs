//! `fairpos-bench project --postgres URL`: the fair's ledgers projected again into
//! PostgreSQL (`fairpos_postgres`), beside the SQLite figures of the same run, and the report
//! by product read there (from the roll-up, and from every sale) checked against SQLite's to
//! the fen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_postgres::Pool;
use fairpos_projection::report::{Dimension, Report};
use fairpos_sync::{LedgerDoc, Record};
use tokio::sync::{mpsc, Mutex};

use crate::measure::ms;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A ledger's key and records.
type KeyedRecords = (String, Vec<Record>);

/// Ledgers handed to the projection at once (each its own transaction on its own connection;
/// their rows are written side by side, then the transactions take turns at the rest).
const WORKERS: usize = 4;

/// Projects `ledgers` into the empty database at `url` and reads the report by product;
/// returns the figures for the bench's JSON line.
pub fn run(url: &str, ledgers: &[&LedgerDoc], expected: &Report) -> BenchResult<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pool = runtime.block_on(empty_database(url))?;
    eprintln!("projecting into PostgreSQL, {WORKERS} ledgers at a time");
    let t = Instant::now();
    // One thread reads the ledgers' records, as headquarters decodes each ledger on a
    // blocking thread, while the workers project those read.
    let (sender, receiver) = mpsc::channel(WORKERS);
    let (added, reading) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_records(ledgers, &sender));
        let added = runtime.block_on(project_all(&pool, receiver));
        let reading = reader.join().map_err(|_| "the reading thread panicked")?;
        Ok::<_, Box<dyn std::error::Error>>((added?, reading?))
    })?;
    let cold = t.elapsed();
    runtime.block_on(async {
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
            "postgres_cold_reading_ms": ms(reading),
            "postgres_workers": WORKERS,
            "postgres_report_by_product_ms": ms(report_time),
            "postgres_scan_by_product_ms": ms(scan_time),
        }))
    })
}

/// A pool on the database at `url`, migrated, refused unless it holds no projected record.
pub async fn empty_database(url: &str) -> BenchResult<Pool> {
    let pool = fairpos_postgres::connect(url)?;
    fairpos_postgres::migrate(&pool).await?;
    let held: i64 = pool
        .get()
        .await?
        .query_one("SELECT COUNT(*) FROM records", &[])
        .await?
        .get(0);
    if held > 0 {
        let shown = fairpos_postgres::shown_address(url);
        return Err(format!(
            "{shown} holds {held} projected records already: give the bench an empty database"
        )
        .into());
    }
    Ok(pool)
}

/// Sends each ledger's records to the workers; returns the time spent reading them.
fn read_records(
    ledgers: &[&LedgerDoc],
    sender: &mpsc::Sender<KeyedRecords>,
) -> Result<Duration, String> {
    let mut reading = Duration::ZERO;
    for ledger in ledgers {
        let t = Instant::now();
        let records = ledger.records().map_err(|e| e.to_string())?;
        reading += t.elapsed();
        if sender.blocking_send((ledger.id().key(), records)).is_err() {
            break; // the workers stopped, with their error
        }
    }
    Ok(reading)
}

/// Projects the ledgers `receiver` brings, [`WORKERS`] at a time; returns how many records
/// were new.
async fn project_all(pool: &Pool, receiver: mpsc::Receiver<KeyedRecords>) -> BenchResult<usize> {
    let receiver = Arc::new(Mutex::new(receiver));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (pool, receiver) = (pool.clone(), receiver.clone());
        workers.spawn(async move {
            let mut added = 0;
            loop {
                let next = receiver.lock().await.recv().await;
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
    Ok(added)
}
