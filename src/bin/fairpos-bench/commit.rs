//! `fairpos-bench commit --sales 20000 [--dir DIR]`: commits sales through the till (cart,
//! payment, the numbered sale's record as one journal row in one `synchronous=FULL`
//! transaction) and, in between, inserts the same sale as one JSON row into a plain SQLite
//! table with the same durability (WAL, `synchronous=FULL`) in the same directory. The work that follows each
//! acknowledged sale (its ledger change and projection, WAL checkpoints; compaction every 500
//! sales) is timed apart and reported too. Then `fairpos sell-batch` (the real binary, beside
//! this one) sells a batch of the same carts, for its throughput beside the baseline's rows
//! per second.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fairpos::till::{Order, Till, LOOSE_CHANGES_BEFORE_COMPACTION};
use fairpos_domain::payment::Tender;
use fairpos_domain::Fen;
use fairpos_sync::convert as records;
use rusqlite::{params, Connection};

use fairpos_domain::catalog::Catalog;

use crate::measure::{fresh_dir, ms, p50, p99, random_cart, Lcg};

fn baseline_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS sales(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )?;
    Ok(conn)
}

pub fn run(sales: usize, dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    if sales == 0 {
        return Err("--sales must be at least 1".into());
    }
    let dir = fresh_dir("commit", dir)?;
    std::fs::create_dir_all(&dir)?;
    let till_dir = dir.join("till");
    let mut till = Till::init_demo(&till_dir, "2468")?;
    let offset = till.store().identity().fair.utc_offset;
    let start =
        chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00+08:00")?.with_timezone(&offset);
    till.open_shift("V003", Fen(20_000), start)?;
    let catalog = till.catalog()?;
    let mut baseline = baseline_db(&dir.join("baseline.db"))?;
    let tenders = [Tender::parse("wechat")?];

    let mut rng = Lcg(7);
    let mut ours = Vec::with_capacity(sales);
    let mut theirs = Vec::with_capacity(sales);
    let mut projections = Vec::with_capacity(sales);
    let mut compactions = Vec::new();
    eprintln!("committing {sales} sales in {}", dir.display());
    for i in 0..sales {
        let cart = random_cart(&catalog, &mut rng);
        // One sale a second from 09:00: a long fair day in one ledger document.
        let now = start + chrono::Duration::seconds(i as i64);
        let order = Order {
            seller: "V003",
            cart: &cart,
            unit: None,
            tenders: &tenders,
        };
        let t = Instant::now();
        let sale = till.sell(&order, now)?;
        ours.push(t.elapsed());
        let t = Instant::now();
        till.store_mut().catch_up()?;
        till.store_mut().checkpoint_if_due()?;
        projections.push(t.elapsed());

        let body =
            fairpos_sync::Record::Sale(records::sale_record(&sale, i as u64 + 2)).to_json()?;
        let t = Instant::now();
        let tx = baseline.transaction()?;
        tx.execute(
            "INSERT INTO sales(id, body) VALUES (?1, ?2)",
            params![i as i64 + 1, body],
        )?;
        tx.commit()?;
        theirs.push(t.elapsed());

        if (i + 1) as i64 % LOOSE_CHANGES_BEFORE_COMPACTION == 0 {
            let t = Instant::now();
            till.tidy()?;
            compactions.push(t.elapsed());
        }
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "  {:>6} sales: fairpos p50 {:.0} µs, baseline p50 {:.0} µs (last 1000)",
                i + 1,
                p50(&ours[i + 1 - 1000..]),
                p50(&theirs[i + 1 - 1000..])
            );
        }
    }
    drop(till);
    let t = Instant::now();
    let mut reopened = Till::open(&till_dir)?;
    let reopen = t.elapsed();
    let device = reopened.device().to_string();
    let t = Instant::now();
    let verified = fairpos::store::verify::verify(reopened.reader()?, &device)?;
    let verify = t.elapsed();
    if !verified.ok() || verified.sales != sales {
        return Err(format!(
            "the benchmark ledger does not verify: {:?}",
            verified.problems
        )
        .into());
    }
    drop(reopened);

    let batch = sales.min(5000);
    let batch_per_s = sell_batch(&dir, &catalog, batch)?;
    let baseline_rows_per_s =
        theirs.len() as f64 / theirs.iter().sum::<std::time::Duration>().as_secs_f64();

    let k = 1000.min(sales);
    let fairpos_p50 = p50(&ours);
    let baseline_p50 = p50(&theirs);
    let result = serde_json::json!({
        "bench": "commit",
        "sales": sales,
        "fairpos_p50_us": fairpos_p50.round(),
        "fairpos_p99_us": p99(&ours).round(),
        "baseline_p50_us": baseline_p50.round(),
        "baseline_p99_us": p99(&theirs).round(),
        "ratio_p50": ((fairpos_p50 / baseline_p50) * 100.0).round() / 100.0,
        "ratio_p99": ((p99(&ours) / p99(&theirs)) * 100.0).round() / 100.0,
        "p50_first_1k_us": p50(&ours[..k]).round(),
        "p50_last_1k_us": p50(&ours[sales - k..]).round(),
        "after_sale_projection_p50_us": p50(&projections).round(),
        "after_sale_projection_p99_us": p99(&projections).round(),
        "compactions": compactions.len(),
        "compaction_max_ms": ms(compactions.iter().copied().max().unwrap_or_default()),
        "reopen_ms": ms(reopen),
        "verify_ms": ms(verify),
        "sell_batch_sales": batch,
        "sell_batch_sales_per_s": batch_per_s.round(),
        "baseline_rows_per_s": baseline_rows_per_s.round(),
    });
    std::fs::remove_dir_all(&dir)?;
    println!("{result}");
    Ok(())
}

/// `fairpos sell-batch` of `n` random carts on a new demo till: sales per second, the real
/// binary's whole run (start, every sale durable and printed as JSON, the catch-ups).
fn sell_batch(dir: &Path, catalog: &Catalog, n: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let bin = std::env::current_exe()?.with_file_name("fairpos");
    if !bin.exists() {
        return Err(format!("{} is missing: build it with the bench", bin.display()).into());
    }
    let data = dir.join("batch-till");
    let fairpos = |args: &[&str]| -> Result<std::process::Output, std::io::Error> {
        std::process::Command::new(&bin)
            .arg("--data")
            .arg(&data)
            .args(args)
            .env("FAIRPOS_NOW", "2026-11-22T09:00:00+08:00")
            .output()
    };
    fairpos(&["init", "--demo", "--lead-pin", "2468"])?;
    fairpos(&["shift", "open", "--seller", "V003", "--float", "0"])?;
    let mut rng = Lcg(11);
    let mut lines = String::new();
    for _ in 0..n {
        let cart = random_cart(catalog, &mut rng);
        let items: Vec<String> = cart
            .lines()
            .iter()
            .map(|l| {
                if l.product.weighed {
                    format!("{}*{}g", l.product.sku, l.qty)
                } else {
                    format!("{}*{}", l.product.sku, l.qty)
                }
            })
            .collect();
        let line = serde_json::json!({"seller": "V003", "items": items, "pay": ["wechat"]});
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let file = dir.join("batch.jsonl");
    std::fs::write(&file, lines)?;
    let t = Instant::now();
    let out = fairpos(&["sell-batch", file.to_str().ok_or("path")?])?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "sell-batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let sold = String::from_utf8_lossy(&out.stdout).lines().count();
    if sold != n {
        return Err(format!("sell-batch sold {sold} of {n}").into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}
