//! `fairpos-bench project --postgres URL`: the fair's ledgers projected again into
//! PostgreSQL (`fairpos_postgres`), beside the SQLite figures of the same run, and the report
//! by product read there (from the roll-up, and from every sale) checked against SQLite's to
//! the fen; then new sales on every ledger projected from storage as a serving headquarters
//! does: from the chunks stored since alone and, side by side, with each ledger's document
//! loaded and resumed from the heads projected before, and read whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fairpos_postgres::Pool;
use fairpos_projection::report::{Dimension, Report};
use fairpos_sync::samod::DocumentId;
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

/// A ledger as samod stores one a till pushed: one snapshot, under its document id.
pub struct StoredLedger {
    pub key: String,
    pub device: String,
    pub doc_id: DocumentId,
    pub snapshot: Vec<u8>,
}

/// In the database at `url`, where [`run`] projected `ledgers`: the ledgers announced and
/// stored as a serving headquarters holds them, and projected once from storage (their
/// heads, what their records come to and the chunks they were read from kept). Then `new`
/// sales more on each, made by `sell(i)` (the change of the `i`th ledger) and stored as
/// incremental chunks, are projected three times: from those chunks alone
/// (`postgres_incremental_ms`), and, side by side, with the chunks read before unknown, as
/// the build before this one kept none, so each ledger's document is loaded and its
/// projection resumed from its heads (`postgres_incremental_loaded_ms`); and with what the
/// records before came to unknown too, as a build before that one kept it, so each ledger is
/// read whole (`postgres_incremental_whole_ms`).
pub fn resume(
    url: &str,
    ledgers: &[StoredLedger],
    new: usize,
    mut sell: impl FnMut(usize) -> BenchResult<automerge::Change>,
) -> BenchResult<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pool = fairpos_postgres::connect(url)?;
        let announced: Vec<(String, String, String)> = ledgers
            .iter()
            .map(|l| (l.key.clone(), l.doc_id.to_string(), l.device.clone()))
            .collect();
        if let Some((device, held)) =
            fairpos_postgres::registry::announce(&pool, &announced, 1).await?
        {
            return Err(format!("{device} would hold {held} ledgers").into());
        }
        let snapshots: Vec<(String, Vec<u8>)> = ledgers
            .iter()
            .map(|l| (format!("{}/snapshot/bench", l.doc_id), l.snapshot.clone()))
            .collect();
        fairpos_postgres::documents::put_chunks(&pool, &snapshots).await?;
        eprintln!("projecting the ledgers stored in PostgreSQL (nothing new in them)");
        if project_each(&pool, ledgers).await? != 0 {
            return Err("the ledgers stored held records not projected".into());
        }
        eprintln!(
            "projecting {new} new sales on each ledger in PostgreSQL, their chunks read alone"
        );
        let chunks_read = sell_and_project(&pool, ledgers, new, &mut sell).await?;
        // The baselines: what each projection kept of the ledger forgotten before.
        let mut baselines = Vec::new();
        for (what, forget) in [
            ("each ledger's document loaded", "chunk_keys = NULL"),
            (
                "each ledger read whole",
                "chunk_keys = NULL, weight_fen = NULL, weight_qty = NULL",
            ),
        ] {
            eprintln!("again, {what} (a baseline)");
            let sql = format!("UPDATE hq_docs SET {forget}");
            pool.get().await?.execute(&sql, &[]).await?;
            baselines.push(ms(sell_and_project(&pool, ledgers, new, &mut sell).await?));
        }
        Ok(serde_json::json!({
            "postgres_incremental_ledgers": ledgers.len(),
            "postgres_incremental_sales": ledgers.len() * new,
            "postgres_incremental_ms": ms(chunks_read),
            "postgres_incremental_loaded_ms": baselines[0],
            "postgres_incremental_whole_ms": baselines[1],
        }))
    })
}

/// Sells `new` sales on each ledger, stores each change as sync does, and times their
/// projection.
async fn sell_and_project(
    pool: &Pool,
    ledgers: &[StoredLedger],
    new: usize,
    sell: &mut impl FnMut(usize) -> BenchResult<automerge::Change>,
) -> BenchResult<Duration> {
    let mut chunks = Vec::new();
    for (i, ledger) in ledgers.iter().enumerate() {
        for _ in 0..new {
            let change = sell(i)?;
            let key = format!("{}/incremental/{}", ledger.doc_id, change.hash());
            chunks.push((key, change.raw_bytes().to_vec()));
        }
    }
    fairpos_postgres::documents::put_chunks(pool, &chunks).await?;
    let t = Instant::now();
    let added = project_each(pool, ledgers).await?;
    let took = t.elapsed();
    if added != ledgers.len() * new {
        return Err(format!("{added} records projected of {}", ledgers.len() * new).into());
    }
    Ok(took)
}

/// Projects each stored ledger in turn, as a process hears of them; returns how many
/// records were new.
async fn project_each(pool: &Pool, ledgers: &[StoredLedger]) -> BenchResult<usize> {
    let mut added = 0;
    for ledger in ledgers {
        let projected = fairpos_postgres::project_document(pool, &ledger.doc_id).await?;
        added += projected.ok_or("a stored ledger was not found")?;
    }
    Ok(added)
}
