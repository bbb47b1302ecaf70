//! `backlog`: the projection's backlog as `/metrics` counts it on PostgreSQL
//! ([`fairpos_postgres::ledgers::backlog`], every chunk key's digest computed in the
//! database, one row back), against the baseline of bringing every key to the process and
//! digesting it there ([`fairpos_postgres::ledgers::unprojected`] over every ledger), over a
//! season's ledgers written straight into an empty database: `ledgers` announced ledgers of
//! three chunks each, `waiting` of them never projected, the others with the digest a
//! projection records.

use std::time::{Duration, Instant};

use fairpos_postgres::Pool;
use fairpos_sync::ids::document_id;
use fairpos_sync::samod::DocumentId;
use fairpos_sync::samod_storage::chunks_digest;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// How long a count may take before PostgreSQL cancels it.
const COUNT_LIMIT: Duration = Duration::from_secs(60);

/// Writes the season, counts its backlog `runs` times each way, and prints one JSON line.
pub fn run(url: &str, ledgers: usize, waiting: usize, runs: usize) -> BenchResult<()> {
    if waiting > ledgers {
        return Err(format!("--waiting {waiting} is more than --ledgers {ledgers}").into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let pool = fairpos_postgres::connect_migrated(url).await?;
        let started = Instant::now();
        let docs = write_season(&pool, ledgers, waiting).await?;
        eprintln!(
            "{ledgers} ledgers written in {} s",
            started.elapsed().as_secs()
        );
        let (mut counted, mut baseline) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let at = Instant::now();
            let found = fairpos_postgres::ledgers::backlog(&pool, COUNT_LIMIT).await?;
            counted.push(ms(at));
            let at = Instant::now();
            let in_process = fairpos_postgres::ledgers::unprojected(&pool, &docs).await?;
            baseline.push(ms(at));
            if found != waiting || in_process.len() != waiting {
                return Err(format!(
                    "run {run}: {found} counted, {} by the baseline, {waiting} written",
                    in_process.len()
                )
                .into());
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(serde_json::json!({
            "bench": "backlog",
            "ledgers": ledgers,
            "chunks": ledgers * 3,
            "waiting": waiting,
            "count_ms": counted,
            "baseline": "every key brought to the process and digested there (ledgers::unprojected)",
            "baseline_ms": baseline,
        }))
    })?;
    println!("{result}");
    Ok(())
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Writes `ledgers` announced ledgers of three chunks each (a snapshot and two changes, with
/// keys as samod names them), the last `waiting` never projected; their document ids.
async fn write_season(pool: &Pool, ledgers: usize, waiting: usize) -> BenchResult<Vec<DocumentId>> {
    let mut client = pool.get().await?;
    let held: i64 = client
        .query_one("SELECT count(*) FROM samod_kv", &[])
        .await?
        .get(0);
    if held > 0 {
        return Err("the database holds documents already: give an empty one".into());
    }
    let docs: Vec<DocumentId> = (0..ledgers)
        .map(|i| {
            document_id(&format!(
                "ledger/bench-fair/T{:04}/day-{}",
                i % 5000,
                i / 5000
            ))
        })
        .collect();
    let (mut ids, mut doc_keys, mut devices, mut digests) = (vec![], vec![], vec![], vec![]);
    let mut keys = Vec::with_capacity(ledgers * 3);
    for (i, doc) in docs.iter().enumerate() {
        let mut own: Vec<String> = ["snapshot", "incremental", "incremental"]
            .iter()
            .enumerate()
            .map(|(n, kind)| {
                format!(
                    "{doc}/{kind}/{}",
                    chunks_digest([format!("{i}.{n}").as_str()])
                )
            })
            .collect();
        own.sort();
        let digest = chunks_digest(own.iter().map(String::as_str));
        ids.push(doc.to_string());
        doc_keys.push(format!("ledger/bench-fair/{i}"));
        devices.push(format!("T{:04}", i % 5000));
        digests.push((i < ledgers - waiting).then_some(digest));
        keys.extend(own);
    }
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, chunks_digest)
         SELECT doc_id, doc_key, device, '', 0, digest
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
             AS d(doc_id, doc_key, device, digest)",
        &[&ids, &doc_keys, &devices, &digests],
    )
    .await?;
    tx.execute(
        "INSERT INTO samod_kv(key, bytes) SELECT key, '\\x00'::bytea FROM unnest($1::text[]) AS k(key)",
        &[&keys],
    )
    .await?;
    tx.commit().await?;
    // One statement each: VACUUM does not run in the implicit transaction of several.
    for table in ["hq_docs", "samod_kv"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }
    Ok(docs)
}
