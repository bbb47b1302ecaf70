//! What every bench shares: a deterministic cart generator, quantiles, child processes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::Catalog;
use fairpos_domain::demo;
use fairpos_hq::{catalog, Founding, Hq};

/// A small deterministic generator, so every run sells the same carts.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One to four lines of the catalog, counted or weighed.
pub fn random_cart(catalog: &Catalog, rng: &mut Lcg) -> Cart {
    let products = catalog.products();
    let mut cart = Cart::new();
    for _ in 0..1 + rng.next(4) {
        let p = products[rng.next(products.len())].clone();
        if p.weighed {
            let _ = cart.add_weighed(p, 200 + rng.next(2000) as i64);
        } else {
            let _ = cart.add_counted(p, 1 + rng.next(3) as i64);
        }
    }
    cart
}

/// The `p`th quantile of sorted samples, in microseconds.
pub fn quantile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

pub fn p50(samples: &[Duration]) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    quantile(&s, 0.5)
}

pub fn p99(samples: &[Duration]) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    quantile(&s, 0.99)
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// A child process that is killed when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args...` and waits for a line of its stdout containing `ready`; returns
/// the child and that line.
pub fn start(
    cmd: std::process::Command,
    ready: &str,
) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let (child, mut lines) = start_saying(cmd, ready)?;
    Ok((child, lines.pop().unwrap_or_default()))
}

/// As [`start`]; every line its stdout said up to `ready`'s, which is the last.
pub fn start_saying(
    mut cmd: std::process::Command,
    ready: &str,
) -> Result<(Child, Vec<String>), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = std::io::BufReader::new(stdout);
    let child = Child(child);
    let mut said = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("the process ended before saying {ready:?}").into());
        }
        let ready = line.contains(ready);
        said.push(line);
        if ready {
            // Keep draining its output so that it never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                    sink.clear();
                }
            });
            return Ok((child, said));
        }
    }
}

/// Where a bench writes: `--dir` if given (it must not exist yet), else a new directory under
/// the system's temp directory.
pub fn fresh_dir(bench: &str, dir: Option<PathBuf>) -> Result<PathBuf, String> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fairpos-bench-{bench}-{}", std::process::id()))
    });
    if dir.exists() {
        return Err(format!(
            "{} already exists; give an empty --dir",
            dir.display()
        ));
    }
    Ok(dir)
}

/// A new headquarters in `dir` for the demo fair, its catalog imported.
pub fn demo_hq(dir: &Path) -> Result<Hq, Box<dyn std::error::Error>> {
    let hq = Hq::init(
        dir,
        demo::FAIR_TOML,
        Founding::Hq {
            organizer_password: "bench-password",
        },
    )?;
    catalog::import_demo(&hq)?;
    Ok(hq)
}

/// A running `fairpos hq serve` of a bench.
pub struct Served {
    pub process: Child,
    pub url: String,
    /// Where it serves `/metrics` (`host:port`), when started with `--metrics-listen`.
    pub metrics: Option<String>,
}

/// `fairpos hq serve` by `binary` on the data directory `dir`, on a free loopback port, with
/// the arguments `extra`.
pub fn serve_hq(
    binary: &Path,
    dir: &Path,
    extra: &[&str],
) -> Result<Served, Box<dyn std::error::Error>> {
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--data")
        .arg(dir)
        .args(["hq", "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        // The bench's tills all come from 127.0.0.1, standing for a province's many
        // addresses: no cap on one address's connections (by the environment, which an
        // older build run beside this one ignores).
        .env("FAIRPOS_HQ_MAX_CONNECTIONS_PER_ADDRESS", "0");
    let (process, said) = start_saying(cmd, "serving on")?;
    let after = |words: &str| {
        said.iter()
            .find_map(|line| line.split(words).nth(1))
            .map(|rest| rest.trim().to_string())
    };
    let url = after("serving on ").ok_or("no address")?;
    // Plain HTTP only (the bench serves no TLS); the address, without what may follow it.
    let metrics = after("metrics for monitoring on http://")
        .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
        .map(|url| url.trim_end_matches("/metrics").to_string());
    Ok(Served {
        process,
        url,
        metrics,
    })
}

/// Opens a shift on `till` and sells `sales` random carts paid by WeChat, a second apart
/// from 09:00 on the demo fair's day, offline; then tidies.
pub fn sell_offline(
    till: &mut fairpos::till::Till,
    sales: usize,
    rng: &mut Lcg,
) -> Result<(), Box<dyn std::error::Error>> {
    till.open_shift("V003", fairpos_domain::Fen(0), shift_opened(till)?)?;
    sell_more(till, 0, sales, rng)
}

/// Sells `sales` more random sales in `till`'s open shift, offline, a second apart after the
/// `sold` sold in it before.
pub fn sell_more(
    till: &mut fairpos::till::Till,
    sold: usize,
    sales: usize,
    rng: &mut Lcg,
) -> Result<(), Box<dyn std::error::Error>> {
    use fairpos::till::Order;
    use fairpos_domain::payment::Tender;

    let opened = shift_opened(till)?;
    let catalog = till.catalog()?;
    let tenders = [Tender::parse("wechat")?];
    for i in sold..sold + sales {
        let cart = random_cart(&catalog, rng);
        let order = Order {
            seller: "V003",
            cart: &cart,
            unit: None,
            tenders: &tenders,
        };
        till.sell(&order, opened + chrono::Duration::seconds(i as i64))?;
    }
    till.tidy()?;
    Ok(())
}

/// When the bench's tills open their shift, in the fair's time zone.
fn shift_opened(
    till: &fairpos::till::Till,
) -> Result<chrono::DateTime<chrono::FixedOffset>, Box<dyn std::error::Error>> {
    let offset = till.store().identity().fair.utc_offset;
    Ok(chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00+08:00")?.with_timezone(&offset))
}
