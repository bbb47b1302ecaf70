//! The `fairpos` command line: parses arguments, drives the till controller, prints results.
//! Output on stdout is the result; warnings and errors go to stderr, one line each.

pub mod args;
mod catalog;
mod devices;
mod remote;
mod said;
mod views;

use std::path::{Path, PathBuf};

use fairpos_domain::cart::{resolve, Cart, Resolved};
use fairpos_domain::catalog::Catalog;
use fairpos_domain::catalog_csv;
use fairpos_domain::fair::BarcodeRule;
use fairpos_domain::money::Fen;
use fairpos_domain::payment::{Method, Tender};
use fairpos_domain::refund::RefundAsk;
use fairpos_domain::sale::Sale;
use fairpos_domain::{DomainError, QuantityIssue};
use fairpos_hardware::scale::Scale;
use fairpos_hq::cli::args::ReportArgs;
use fairpos_hq::cli::kit::{self, file_label, read_input, read_table};
use fairpos_projection::{catalog as catalog_tables, queries};

use self::args::{
    Cli, Command, ImportOnly, KioskCommand, LedgerCommand, SellersCommand, ShiftCommand, TillArgs,
};
use self::views::{CloseView, RefundView, SaleListView, SaleView, StatusView};
use crate::clock::now;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{verify, InitOptions};
use crate::till::weighing::weigh_for_sale;
use crate::till::{slip, Order, Till};
use fairpos_domain::text::shown;

/// The data directory: `--data`, `FAIRPOS_DATA`, or the platform's.
fn data_dir(cli: &Cli) -> Result<PathBuf> {
    match &cli.data {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("fairpos"))
            .ok_or_else(|| Error::input("no data directory: give --data DIR")),
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let dir = data_dir(&cli)?;
    match cli.command.unwrap_or(Command::Till(TillArgs::default())) {
        Command::Till(a) => touchscreen(&dir, Screen::Till, &a),
        Command::Kiosk { command: None } => touchscreen(&dir, Screen::Kiosk, &TillArgs::default()),
        Command::Kiosk {
            command: Some(KioskCommand::Left(f)),
        } => {
            let left = crate::till::left_baskets::left_baskets_in(&dir)?;
            if f.json {
                return print_json(&left);
            }
            for b in &left {
                let amount = fairpos_domain::Fen(b.amount_fen);
                println!(
                    "{}  {:>10}  {}  (left {}: {})",
                    b.shown_at,
                    amount,
                    shown(&b.items),
                    b.left_at,
                    b.why
                );
            }
            Ok(())
        }
        Command::Init(a) => {
            let till = if a.demo {
                Till::init_demo(&dir, &a.lead_pin)?
            } else {
                let (Some(fair), Some(device), Some(stall)) = (&a.fair, &a.device, &a.stall) else {
                    return Err(Error::input(
                        "give --demo, or --fair FILE --device D --stall S",
                    ));
                };
                let fair_toml = read_input(fair)?;
                fairpos_domain::fair::Fair::from_toml(&fair_toml)?.check_barcode_prefixes()?;
                Till::init(
                    &dir,
                    &InitOptions {
                        fair_toml: &fair_toml,
                        device,
                        stall,
                        lead_pin: &a.lead_pin,
                        actor: None,
                    },
                )?
            };
            let id = till.store().identity();
            println!(
                "till {} at stall {} of {} set up in {}",
                id.device,
                id.stall,
                id.fair.name,
                dir.display()
            );
            Ok(())
        }
        Command::Catalog(c) => catalog::catalog(&dir, c),
        // Each file is read over what the till holds: a column the file leaves out keeps
        // what the rows it updates hold.
        Command::Stalls(ImportOnly::Import { file }) => {
            let mut till = Till::open(&dir)?;
            let held = catalog_tables::stalls(till.reader()?)?.into_iter();
            let held = held.map(|s| (s.id.clone(), s)).collect();
            let text = read_table(&file)?;
            let rows = catalog_csv::parse_stalls_over(&file_label(&file), &text, &held)?;
            till.import_stalls(&rows)?;
            println!("{} stalls imported", rows.len());
            Ok(())
        }
        Command::Sellers(SellersCommand::Import { file }) => {
            let mut till = Till::open(&dir)?;
            let held = catalog_tables::sellers(till.reader()?)?.into_iter();
            let held = held.map(|s| (s.id.clone(), s)).collect();
            let text = read_table(&file)?;
            let rows = catalog_csv::parse_sellers_over(&file_label(&file), &text, &held)?;
            let stalls = rows.iter().map(|s| (s.stall.as_str(), s.id.as_str()));
            kit::warn_of_unknown_stalls(till.reader()?, stalls, "sellers")?;
            till.import_sellers(&rows)?;
            println!("{} sellers imported", rows.len());
            Ok(())
        }
        Command::Sellers(SellersCommand::Pin {
            seller,
            pin,
            lead_pin,
        }) => {
            Till::open(&dir)?
                .store_mut()
                .set_seller_pin(&seller, &pin, &lead_pin)?;
            println!("{seller} signs in with their own PIN from now on");
            Ok(())
        }
        Command::Units(ImportOnly::Import { file }) => {
            let mut till = Till::open(&dir)?;
            let held = catalog_tables::units(till.reader()?)?.into_iter();
            let held = held.map(|u| (u.tax_id.clone(), u)).collect();
            let text = read_table(&file)?;
            let rows = catalog_csv::parse_units_over(&file_label(&file), &text, &held)?;
            till.import_units(&rows)?;
            println!("{} units imported", rows.len());
            Ok(())
        }
        Command::Shift(s) => shift(&dir, s),
        Command::Status(f) => {
            let till = Till::open(&dir)?;
            let view = StatusView::new(&till);
            if f.json {
                print_json(&view)
            } else {
                println!(
                    "till {} at stall {} of {} ({})",
                    view.device, view.stall, view.fair, view.fair_id
                );
                match &view.shift {
                    Some(s) => println!(
                        "shift open since {} (seller {}, float {})",
                        s.opened_at,
                        s.seller,
                        Fen(s.float_fen)
                    ),
                    None => println!("no open shift"),
                }
                println!("last sale: {}", view.last_sale.as_deref().unwrap_or("none"));
                Ok(())
            }
        }
        Command::Sell(a) => {
            let mut till = Till::open(&dir)?;
            let catalog = till.catalog()?;
            let request = SellRequest {
                seller: a.seller,
                items: a.items,
                pay: a.pay,
                unit: a.unit,
            };
            let sale = sell_one(&mut till, &catalog, &request, &mut ScaleOnDemand::new(&dir))?;
            if a.json {
                said::done_json(&SaleView::new(&sale));
            } else {
                let (number, total, change) = (&sale.number, sale.total, sale.change);
                said::done(&format!("{number}  total {total}  change {change}"));
            }
            tidy(&mut till);
            devices::print_after_sale(&mut till, &dir, &sale.context.id);
            Ok(())
        }
        Command::SellBatch { file } => {
            let text = read_input(&file)?;
            let mut till = Till::open(&dir)?;
            let catalog = till.catalog()?;
            let mut scale = ScaleOnDemand::new(&dir);
            let mut sold = 0;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let request: SellRequest = serde_json::from_str(line).map_err(|e| {
                    Error::input(format!("{} line {}: {e}", file_label(&file), i + 1))
                })?;
                let sale = sell_one(&mut till, &catalog, &request, &mut scale).map_err(|e| {
                    if e.is_bad_input() {
                        Error::input(format!("{} line {}: {e}", file_label(&file), i + 1))
                    } else {
                        e
                    }
                })?;
                said::done_json(&SaleView::new(&sale));
                devices::print_after_sale(&mut till, &dir, &sale.context.id);
                sold += 1;
                // Each sale is durable as it is printed; their documents and rows catch up
                // a batch at a time (and at the end).
                if sold % TIDY_EVERY == 0 {
                    tidy(&mut till);
                }
            }
            tidy(&mut till);
            Ok(())
        }
        Command::Sales(f) => {
            let mut till = Till::open(&dir)?;
            let device = till.device().to_string();
            let sales = queries::sales(till.reader()?, &device)?;
            if f.json {
                print_json(&sales.iter().map(SaleListView::new).collect::<Vec<_>>())
            } else {
                for s in &sales {
                    println!(
                        "{}  {}  {:>10}  {:<16} {}",
                        s.number,
                        s.at,
                        s.total.to_string(),
                        s.status(),
                        shown(&s.seller_name)
                    );
                }
                Ok(())
            }
        }
        Command::Void(a) => {
            let mut till = Till::open(&dir)?;
            let now = now(&till)?;
            let number = till.void(&a.sale, &a.reason, &a.pin, now)?;
            said::done(&format!("voided {number}"));
            Ok(())
        }
        Command::Refund(a) => {
            let asks: Vec<RefundAsk> = a
                .lines
                .iter()
                .map(|l| RefundAsk::parse(l))
                .collect::<Result<_, _>>()?;
            let method = Method::parse(&a.pay)?;
            let mut till = Till::open(&dir)?;
            // Money goes back: the lead's, as the touchscreen asks (before, anyone here).
            till.store().check_lead_pin(&a.pin)?;
            let now = now(&till)?;
            let refunded = till.refund(&a.sale, &asks, method, now)?;
            if a.json {
                said::done_json(&RefundView::new(&refunded));
            } else {
                let r = &refunded;
                said::done(&format!(
                    "refund {} of {}: {} by {}",
                    r.number, r.sale_number, r.amount, r.method
                ));
            }
            Ok(())
        }
        Command::Report(a) => {
            let mut till = Till::open(&dir)?;
            report_to(till.reader()?, &a)
        }
        Command::Enroll(a) => remote::enroll(&dir, a),
        Command::Sync(a) => remote::sync(&dir, a),
        Command::Bundle(b) => remote::bundle(&dir, b),
        Command::Hq(h) => Ok(fairpos_hq::cli::run(&dir, h)?),
        Command::Receipt(r) => devices::receipt(&dir, r),
        Command::Hardware(h) => devices::hardware(&dir, h),
        Command::Ledger(LedgerCommand::Verify) => {
            let mut till = Till::open(&dir)?;
            let device = till.device().to_string();
            let v = verify::verify(till.reader()?, &device)?;
            if v.ok() {
                println!(
                    "ledger verified: {} documents, {} records, {} sales numbered {}-000001 to {}-{:06} without gaps; tables agree",
                    v.documents,
                    v.records,
                    v.sales,
                    till.device(),
                    till.device(),
                    v.sales
                );
                Ok(())
            } else {
                for p in &v.problems {
                    eprintln!("{p}");
                }
                Err(Error::Integrity(format!(
                    "the ledger does not verify: {} problem(s)",
                    v.problems.len()
                )))
            }
        }
    }
}

/// Sales of a batch between two catch-ups of their documents and rows.
const TIDY_EVERY: usize = 100;

/// One sale as the command line or a batch line gives it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SellRequest {
    seller: String,
    items: Vec<String>,
    pay: Vec<String>,
    #[serde(default)]
    unit: Option<String>,
}

/// The till's scale (`[scale]` in fairpos.toml), opened the first time an item asks for it.
struct ScaleOnDemand<'a> {
    dir: &'a Path,
    scale: Option<Box<dyn Scale>>,
}

impl ScaleOnDemand<'_> {
    fn new(dir: &Path) -> ScaleOnDemand<'_> {
        ScaleOnDemand { dir, scale: None }
    }

    /// The settled weight on the scale now, for a sale.
    fn grams(&mut self) -> Result<i64> {
        if self.scale.is_none() {
            let config = Config::load(self.dir)?;
            self.scale = config
                .scale
                .open()
                .map_err(|e| Error::input(e.to_string()))?;
        }
        let scale = self.scale.as_deref_mut().ok_or_else(|| {
            Error::input("no scale configured: set [scale] in fairpos.toml in the data directory")
        })?;
        weigh_for_sale(scale)
    }
}

/// An item as the cart takes it: `CODE*scale` becomes the weighed product at the scale's
/// settled weight (`CODE*1250g`); anything else stays as it is.
fn weighed_item(
    item: &str,
    catalog: &Catalog,
    rules: &[BarcodeRule],
    scale: &mut ScaleOnDemand,
) -> Result<String> {
    let Some(code) = item.trim().strip_suffix("*scale") else {
        return Ok(item.to_string());
    };
    if let Resolved::Product(p) = resolve(catalog, rules, code)? {
        if !p.weighed {
            return Err(DomainError::BadQuantity {
                item: item.to_string(),
                why: QuantityIssue::CountedTakesPieces,
            }
            .into());
        }
    }
    Ok(format!("{code}*{}g", scale.grams()?))
}

fn sell_one(
    till: &mut Till,
    catalog: &Catalog,
    request: &SellRequest,
    scale: &mut ScaleOnDemand,
) -> Result<Sale> {
    let tenders: Vec<Tender> = request
        .pay
        .iter()
        .map(|p| Tender::parse(p))
        .collect::<Result<_, _>>()?;
    let rules = till.store().identity().fair.barcode_rules.clone();
    let mut cart = Cart::new();
    for item in &request.items {
        let item = weighed_item(item, catalog, &rules, scale)?;
        cart.add_item(catalog, &rules, &item)?;
    }
    let now = now(till)?;
    let sale = till.sell(
        &Order {
            seller: &request.seller,
            cart: &cart,
            unit: request.unit.as_deref(),
            tenders: &tenders,
        },
        now,
    )?;
    for sku in &sale.oversold {
        said::warn(&format!(
            "warning: {sku} is oversold: stock went below zero (sale {} kept)",
            sale.number
        ));
    }
    Ok(sale)
}

/// Work after an acknowledged sale. The sale is on disk; if this fails, the next start
/// finishes it.
fn tidy(till: &mut Till) {
    if let Err(e) = till.tidy() {
        said::warn(&format!(
            "warning: the work after the sale is postponed to the next start: {e}"
        ));
    }
}

fn shift(dir: &Path, s: ShiftCommand) -> Result<()> {
    let mut till = Till::open(dir)?;
    let now = now(&till)?;
    match s {
        ShiftCommand::Open { seller, float } => {
            let float = Fen::parse_yuan(&float)?;
            till.open_shift(&seller, float, now)?;
            said::done(&format!("shift open: seller {seller}, float {float}"));
        }
        ShiftCommand::CashIn {
            amount,
            reason,
            pin,
        } => {
            till.store().check_lead_pin(&pin)?;
            let amount = Fen::parse_yuan(&amount)?;
            till.cash_move(amount, &reason, now)?;
            said::done(&format!("cash in {amount}: {reason}"));
        }
        ShiftCommand::CashOut {
            amount,
            reason,
            pin,
        } => {
            till.store().check_lead_pin(&pin)?;
            let amount = Fen::parse_yuan(&amount)?;
            till.cash_move(-amount, &reason, now)?;
            said::done(&format!("cash out {amount}: {reason}"));
        }
        ShiftCommand::Close { counted, json } => {
            let counted = Fen::parse_yuan(&counted)?;
            let closed = till.close_shift(counted, now)?;
            if json {
                said::done_json(&CloseView::new(&closed));
            } else {
                let c = &closed.closing;
                said::done(&format!(
                    "shift closed: expected {}, counted {}, variance {}, last sale {}\nshift slip: {}",
                    c.expected,
                    c.counted,
                    c.variance,
                    closed.last_sale.as_deref().unwrap_or("none"),
                    closed.slip_text
                ));
            }
            devices::print_slip(&till, dir, &closed);
        }
        ShiftCommand::Slip { print } => {
            let text = slip::last_slip(till.store())?
                .ok_or_else(|| Error::input("no shift has closed on this till yet"))?;
            if print {
                devices::reprint_slip(&till, dir, &text)?;
            }
            println!("{text}");
        }
    }
    Ok(())
}

/// `value` as JSON on one line of standard output.
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    Ok(kit::print_json(value)?)
}

/// Writes `bytes` to `path`, or to standard output when `path` is `-`.
fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(kit::write_output(path, bytes)?)
}

/// Writes the report `a` asks for over the projection in `conn`.
fn report_to(conn: &rusqlite::Connection, a: &ReportArgs) -> Result<()> {
    Ok(kit::report_to(conn, a)?)
}

/// Which touchscreen to open.
enum Screen {
    Till,
    Kiosk,
}

#[cfg(feature = "gui")]
fn touchscreen(dir: &Path, screen: Screen, a: &TillArgs) -> Result<()> {
    let mode = match screen {
        Screen::Till => crate::gui::Mode::Till,
        Screen::Kiosk => crate::gui::Mode::Kiosk,
    };
    let options = crate::gui::Options {
        customer_display: a.customer_display,
        fullscreen: a.fullscreen,
    };
    crate::gui::run(dir, mode, options)
}

#[cfg(not(feature = "gui"))]
fn touchscreen(_dir: &Path, _screen: Screen, _a: &TillArgs) -> Result<()> {
    Err(Error::input(
        "this fairpos was built without the touchscreen (the `gui` feature); use its commands, such as `fairpos sell`",
    ))
}
