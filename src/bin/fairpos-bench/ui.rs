//! `fairpos-bench ui`: the touchscreen on a fair-sized till (5 000 products, 20 000 sales in
//! its ledger), drawn by Slint's software renderer into memory at 1280×800:
//! - `scan_to_frame`: a scanned code through the controller into the cart, and the next
//!   frame drawn in full (every pixel, no partial redraw), median and p99;
//! - `cold_start_ms`: a fresh process (`fairpos-bench ui-start`) opening that till and
//!   drawing its first frame, timed from spawn to its report, median of three;
//! - `rss_mb`: that process's resident memory after its first frame.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fairpos::config::Config;
use fairpos::gui::services::Services;
use fairpos::gui::till_app;
use fairpos::till::{Order, Till};
use fairpos_domain::cart::Cart;
use fairpos_domain::catalog_csv::CatalogRow;
use fairpos_domain::codes::gs1_check_digit;
use fairpos_domain::payment::Tender;
use fairpos_domain::Fen;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType, Rgb565Pixel};
use slint::platform::{Platform, WindowAdapter};
use slint::ComponentHandle;

use crate::measure::{fresh_dir, ms, quantile, Lcg};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;

/// A platform with one window drawn into memory by the software renderer.
struct MemoryPlatform {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for MemoryPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

fn memory_window() -> BenchResult<Rc<MinimalSoftwareWindow>> {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    window.set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    slint::platform::set_platform(Box::new(MemoryPlatform {
        window: window.clone(),
        start: Instant::now(),
    }))
    .map_err(|e| format!("platform: {e}"))?;
    Ok(window)
}

/// Draws the next frame, whole.
fn frame(window: &MinimalSoftwareWindow, buffer: &mut [Rgb565Pixel]) {
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    window.draw_if_needed(|renderer| {
        renderer.render(buffer, WIDTH as usize);
    });
}

/// 5 000 products made from the demo fair's 35: unique SKUs, EAN-13 barcodes and PLUs.
fn products() -> BenchResult<Vec<CatalogRow>> {
    let demo = fairpos_domain::demo::products()?;
    Ok((0..5000)
        .map(|i| {
            let mut p = demo[i % demo.len()].clone();
            p.sku = format!("G{i:05}");
            p.name_zh = format!("{} #{i}", p.name_zh);
            p.name_en = format!("{} #{i}", p.name_en);
            if p.weighed {
                p.plu = Some(format!("{}", 30_000 + i));
                p.barcode = None;
            } else {
                let body = format!("69{i:010}");
                let check = gs1_check_digit(body.as_bytes());
                p.barcode = Some(format!("{body}{check}"));
                p.plu = None;
            }
            CatalogRow {
                product: p,
                stock: 100_000,
            }
        })
        .collect())
}

/// The till of the bench: the demo fair with 5 000 products and 20 000 sales.
fn prepare(dir: &Path, sales: usize) -> BenchResult<Vec<String>> {
    let mut till = Till::init_demo(dir, "2468")?;
    till.import_catalog(&products()?)?;
    let offset = till.store().identity().fair.utc_offset;
    let start =
        chrono::DateTime::parse_from_rfc3339("2026-11-22T08:00:00+08:00")?.with_timezone(&offset);
    till.open_shift("V003", Fen(20_000), start)?;
    let catalog = till.catalog()?;
    let counted: Vec<String> = catalog
        .products()
        .iter()
        .filter(|p| !p.weighed)
        .filter_map(|p| p.barcode.clone())
        .collect();
    let rules = till.store().identity().fair.barcode_rules.clone();
    let tenders = [Tender::parse("wechat")?];
    let mut rng = Lcg(3);
    eprintln!("selling {sales} sales into the bench till");
    for i in 0..sales {
        let mut cart = Cart::new();
        for _ in 0..1 + rng.next(3) {
            cart.add_item(&catalog, &rules, &counted[rng.next(counted.len())])?;
        }
        let order = Order {
            seller: "V003",
            cart: &cart,
            unit: None,
            tenders: &tenders,
        };
        till.sell(&order, start + chrono::Duration::seconds(i as i64 * 2))?;
        till.store_mut().catch_up()?;
        if (i + 1) % 500 == 0 {
            till.tidy()?;
        }
        if (i + 1) % 5000 == 0 {
            eprintln!("  {} sales", i + 1);
        }
    }
    till.tidy()?;
    Ok(counted)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `fairpos-bench ui-start --dir D`: opens the till in D, draws its first frame, and prints
/// `{"rss_kb": N}`.
pub fn start(dir: &Path) -> BenchResult<()> {
    let window = memory_window()?;
    let till = Till::open(dir)?;
    let app = till_app(till, &Config::default(), Services::none())?;
    app.ui.show()?;
    let mut buffer = vec![Rgb565Pixel::default(); (WIDTH * HEIGHT) as usize];
    frame(&window, &mut buffer);
    println!("{}", serde_json::json!({ "rss_kb": rss_kb() }));
    Ok(())
}

pub fn run(sales: usize, scans: usize, dir: Option<PathBuf>) -> BenchResult<()> {
    let dir = fresh_dir("ui", dir)?;
    let codes = prepare(&dir, sales)?;

    // Cold start: a new process, three times.
    let me = std::env::current_exe()?;
    let mut starts = Vec::new();
    let mut rss = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut child = std::process::Command::new(&me)
            .arg("ui-start")
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        starts.push(t.elapsed());
        child.wait()?;
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .map_err(|e| format!("ui-start said {line:?}: {e}"))?;
        rss = v["rss_kb"].as_u64().unwrap_or(0);
    }
    starts.sort();

    // Scan to frame, in this process.
    let window = memory_window()?;
    let till = Till::open(&dir)?;
    let app = till_app(till, &Config::default(), Services::none())?;
    app.ui.show()?;
    {
        let mut ctl = app.ctl.borrow_mut();
        ctl.select_seller("V003");
        for d in "2468".chars() {
            ctl.pin_key(&d.to_string());
        }
        ctl.sign_in();
    }
    let mut buffer = vec![Rgb565Pixel::default(); (WIDTH * HEIGHT) as usize];
    app.render(fairpos::gui::till::Changed {
        products: true,
        units: false,
    });
    frame(&window, &mut buffer);
    let mut rng = Lcg(9);
    let mut samples = Vec::with_capacity(scans);
    for i in 0..scans {
        if i % 10 == 0 {
            app.ctl.borrow_mut().clear_cart();
            app.render(Default::default());
            frame(&window, &mut buffer);
        }
        let code = &codes[rng.next(codes.len())];
        let t = Instant::now();
        app.scanned(code);
        frame(&window, &mut buffer);
        samples.push(t.elapsed());
    }
    let lines = app.ctl.borrow().cart.lines().len();
    if lines == 0 {
        return Err("the scans did not reach the cart".into());
    }
    drop(app);
    std::fs::remove_dir_all(&dir)?;
    samples.sort();
    let result = serde_json::json!({
        "bench": "ui",
        "products": 5000,
        "sales": sales,
        "frame": format!("{WIDTH}x{HEIGHT} software renderer, full redraw"),
        "scans": scans,
        "scan_to_frame_p50_ms": (quantile(&samples, 0.5) / 10.0).round() / 100.0,
        "scan_to_frame_p99_ms": (quantile(&samples, 0.99) / 10.0).round() / 100.0,
        "scan_to_frame_goal_ms": 16,
        "cold_start_ms": ms(starts[1]),
        "cold_start_goal_ms": 1000,
        "rss_mb": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
        "rss_goal_mb": 150,
    });
    println!("{result}");
    Ok(())
}
