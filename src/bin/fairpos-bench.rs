//! fairpos-bench: measured speed of the till, side by side with a baseline, in one run.
//!
//! `fairpos-bench commit --sales 20000 [--dir DIR]`: commits sales through the till (cart,
//! payment, ledger change and numbered sale row in one `synchronous=FULL` transaction) and,
//! in between, inserts the same sale as one JSON row into a plain SQLite table with the same
//! durability (WAL, `synchronous=FULL`) in the same directory. The work that follows each
//! acknowledged sale (the rest of its projection and WAL checkpoints; compaction every 500
//! sales) is timed apart and reported too. Progress goes to stderr; the last line on stdout is one JSON object.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use fairpos::domain::cart::Cart;
use fairpos::domain::catalog::Catalog;
use fairpos::domain::payment::Tender;
use fairpos::domain::Fen;
use fairpos::till::{records, Order, Till, LOOSE_CHANGES_BEFORE_COMPACTION};
use rusqlite::{params, Connection};

#[derive(Parser)]
#[command(
    name = "fairpos-bench",
    about = "Benchmarks of fairpos against named baselines"
)]
struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Sale commit latency against one JSON row in plain SQLite.
    Commit {
        #[arg(long, default_value_t = 20_000)]
        sales: usize,
        /// Where the databases go (default: a new directory under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A till pushing its sales to headquarters, against the same documents pushed to the npm
    /// `@automerge/automerge-repo-sync-server` (run from `interop/`, bound to 127.0.0.1).
    Sync {
        #[arg(long, default_value_t = 10_000)]
        sales: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// A small deterministic generator, so every run sells the same carts.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One to four lines of the catalog, counted or weighed.
fn random_cart(catalog: &Catalog, rng: &mut Lcg) -> Cart {
    let products = catalog.products();
    let mut cart = Cart::new();
    for _ in 0..1 + rng.next(4) {
        let p = products[rng.next(products.len())].clone();
        if p.weighed {
            cart.add_weighed(p, 200 + rng.next(2000) as i64);
        } else {
            let _ = cart.add_counted(p, 1 + rng.next(3) as i64);
        }
    }
    cart
}

/// The `p`th quantile of sorted samples, in microseconds.
fn quantile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn p50(samples: &[Duration]) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    quantile(&s, 0.5)
}

fn p99(samples: &[Duration]) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    quantile(&s, 0.99)
}

fn baseline_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS sales(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )?;
    Ok(conn)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn commit(sales: usize, dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    if sales == 0 {
        return Err("--sales must be at least 1".into());
    }
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("fairpos-bench-{}", std::process::id())),
    };
    if dir.exists() {
        return Err(format!("{} already exists; give an empty --dir", dir.display()).into());
    }
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
        "p50_first_1k_us": p50(&ours[..k]).round(),
        "p50_last_1k_us": p50(&ours[sales - k..]).round(),
        "after_sale_projection_p50_us": p50(&projections).round(),
        "after_sale_projection_p99_us": p99(&projections).round(),
        "compactions": compactions.len(),
        "compaction_max_ms": ms(compactions.iter().copied().max().unwrap_or_default()),
        "reopen_ms": ms(reopen),
        "verify_ms": ms(verify),
    });
    std::fs::remove_dir_all(&dir)?;
    println!("{result}");
    Ok(())
}

/// A child process that is killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args...` and waits for a line of its stdout containing `ready`; returns
/// the child and that line.
fn start(
    mut cmd: std::process::Command,
    ready: &str,
) -> Result<(Child, String), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = std::io::BufReader::new(stdout);
    let child = Child(child);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("the process ended before saying {ready:?}").into());
        }
        if line.contains(ready) {
            // Keep draining its output so that it never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                    sink.clear();
                }
            });
            return Ok((child, line));
        }
    }
}

fn sync(sales: usize, dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    use fairpos::catalog_csv::{self, demo};
    use fairpos::hq::{catalog, devices, Hq};
    use fairpos::uplink;
    use fairpos_sync::ids::document_id;
    use fairpos_sync::samod::ShareConfig;

    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    if !interop
        .join("node_modules/@automerge/automerge-repo-sync-server")
        .exists()
    {
        return Err("the npm baseline is missing: run `scripts/setup.sh --test`".into());
    }
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("fairpos-bench-sync-{}", std::process::id())),
    };
    if dir.exists() {
        return Err(format!("{} already exists; give an empty --dir", dir.display()).into());
    }
    std::fs::create_dir_all(&dir)?;

    // Headquarters, served by the real binary.
    let hq = Hq::init(&dir.join("hq"), demo::FAIR_TOML, "bench-password")?;
    catalog::import_products(
        &hq,
        &catalog_csv::parse_catalog("catalog.csv", demo::CATALOG_CSV)?,
    )?;
    catalog::import_sellers(
        &hq,
        &catalog_csv::parse_sellers("sellers.csv", demo::SELLERS_CSV)?,
    )?;
    let code = devices::add_device(&hq, "T01", "S01", false)?;
    drop(hq);
    let fairpos = std::env::current_exe()?.with_file_name("fairpos");
    let mut cmd = std::process::Command::new(&fairpos);
    cmd.arg("--data")
        .arg(dir.join("hq"))
        .args(["hq", "serve", "--listen", "127.0.0.1:0"]);
    let (hq_server, line) = start(cmd, "serving on")?;
    let url = line
        .split("serving on ")
        .nth(1)
        .ok_or("no address")?
        .trim()
        .to_string();

    // A till that sells offline.
    let mut till = uplink::enroll(&dir.join("till"), &url, &code, "2468")?;
    let offset = till.store().identity().fair.utc_offset;
    let start_at =
        chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00+08:00")?.with_timezone(&offset);
    till.open_shift("V003", Fen(0), start_at)?;
    let catalog_now = till.catalog()?;
    let tenders = [Tender::parse("wechat")?];
    let mut rng = Lcg(11);
    eprintln!("selling {sales} sales offline");
    for i in 0..sales {
        let cart = random_cart(&catalog_now, &mut rng);
        let order = Order {
            seller: "V003",
            cart: &cart,
            unit: None,
            tenders: &tenders,
        };
        till.sell(&order, start_at + chrono::Duration::seconds(i as i64))?;
        till.tidy()?;
    }
    let device = till.device().to_string();
    let seeds: Vec<(fairpos_sync::samod::DocumentId, Vec<u8>)> = {
        let conn = till.reader()?;
        let mut out = Vec::new();
        for stored in fairpos_sync::storage::stored_docs(conn)? {
            if let Some(doc) = fairpos_sync::storage::load(conn, &stored.id)? {
                out.push((document_id(&doc.id().key()), doc.automerge().save()));
            }
        }
        out
    };
    let changes: usize = seeds
        .iter()
        .map(|(_, bytes)| {
            automerge::Automerge::load(bytes)
                .map(|d| d.get_changes(&[]).len())
                .unwrap_or(0)
        })
        .sum();

    // 1. fairpos: the till's sync, until headquarters confirms from its projection.
    eprintln!("pushing to fairpos headquarters");
    let t = Instant::now();
    let report = uplink::sync_once(
        &mut till,
        &uplink::SyncOptions {
            hq: None,
            timeout: Duration::from_secs(600),
        },
    )?;
    let fairpos_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(hq_server);

    // 2. The npm sync server: the same documents from the same samod client, until the
    // server acknowledges holding them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let js_data = dir.join("js-server");
    std::fs::create_dir_all(&js_data)?;
    let mut cmd = std::process::Command::new("node");
    cmd.current_dir(&interop)
        .arg("sync-server.mjs")
        .env("PORT", port.to_string())
        .env("DATA_DIR", &js_data);
    let (js_server, _) = start(cmd, "Listening on port")?;
    eprintln!("pushing to the npm sync server");
    let runtime = tokio::runtime::Runtime::new()?;
    let js_ms = runtime.block_on(async {
        let repo = uplink::seeded_repo(&seeds, &format!("device:{device}"), |_, _| {
            ShareConfig::read_only()
        })
        .await?;
        let t = Instant::now();
        let (_dialer, conn) = uplink::dial(
            &repo,
            &format!("http://127.0.0.1:{port}"),
            "-",
            Duration::from_secs(30),
        )
        .await?;
        for (id, _) in &seeds {
            let handle = repo
                .find(id.clone())
                .await?
                .ok_or("document missing from the session")?;
            tokio::time::timeout(Duration::from_secs(600), handle.they_have_our_changes(conn))
                .await?;
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        repo.stop().await;
        Ok::<f64, Box<dyn std::error::Error>>(ms)
    })?;
    drop(js_server);
    drop(till);
    std::fs::remove_dir_all(&dir)?;

    let result = serde_json::json!({
        "bench": "sync",
        "sales": sales,
        "documents": report.documents,
        "records": report.records,
        "changes": changes,
        "fairpos_ms": (fairpos_ms * 10.0).round() / 10.0,
        "fairpos_push_ms": report.push_ms.round(),
        "fairpos_catalog_ms": report.catalog_ms.round(),
        "fairpos_confirm_ms": report.confirm_ms.round(),
        "js_sync_server_ms": (js_ms * 10.0).round() / 10.0,
        "speedup": ((js_ms / fairpos_ms) * 100.0).round() / 100.0,
        "fairpos_measures": "announce, push, catalog, and HQ's confirmation from its durable projection",
        "js_measures": "push until the server acknowledges holding every change (samod they_have_our_changes)",
    });
    println!("{result}");
    Ok(())
}

fn main() {
    let args = Args::parse();
    let outcome = match args.bench {
        Bench::Commit { sales, dir } => commit(sales, dir),
        Bench::Sync { sales, dir } => sync(sales, dir),
    };
    if let Err(e) = outcome {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
