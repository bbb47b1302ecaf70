//! The command line, as clap definitions. The forms are a contract: tests and scripts drive
//! exactly these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
pub use fairpos_hq::cli::args::{HqCommand, ImportOnly, JsonFlag, ReportArgs};

#[derive(Parser, Debug)]
#[command(
    name = "fairpos",
    version,
    about = "Offline-first till for consumption-assistance fairs"
)]
pub struct Cli {
    /// Data directory of the till (default: the platform data directory, e.g.
    /// ~/.local/share/fairpos).
    #[arg(long, global = true, env = "FAIRPOS_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// What to do; without one, the till's touchscreen opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per run: the size of the larger variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the till's touchscreen (what `fairpos` alone does); sets up the demo till on
    /// first start.
    Till(TillArgs),
    /// Open the self-checkout kiosk, full screen; staff leave it with the lead PIN.
    Kiosk {
        #[command(subcommand)]
        command: Option<KioskCommand>,
    },
    /// Set up a till: the demo fair (T01 at S01), or a fair file with a device and stall.
    Init(InitArgs),
    /// The product catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Stalls of the fair.
    #[command(subcommand)]
    Stalls(ImportOnly),
    /// Volunteer sellers and their teams; their PINs for the touchscreen.
    #[command(subcommand)]
    Sellers(SellersCommand),
    /// Purchasing units (trade unions, organs, SOEs, schools).
    #[command(subcommand)]
    Units(ImportOnly),
    /// Who this till is, its open shift and its last sale.
    Status(JsonFlag),
    /// Open, move cash in or out of, and close the cash drawer's shift.
    #[command(subcommand)]
    Shift(ShiftCommand),
    /// Sell items: ITEM is a barcode, a scale label, a PLU or a SKU, optionally CODE*N.
    Sell(SellArgs),
    /// Sell one sale per line of FILE (`-` for standard input), each a JSON object
    /// {"seller","items":[...],"pay":[...],"unit"?}; prints one JSON result per sale. Stops at
    /// the first bad line (exit 2); the sales before it stay.
    SellBatch {
        /// The file of sales, one JSON object a line (`-`: standard input).
        file: PathBuf,
    },
    /// List this till's sales.
    Sales(JsonFlag),
    /// Void a whole sale (lead PIN).
    Void(VoidArgs),
    /// Refund chosen lines of a sale.
    Refund(RefundArgs),
    /// Sales report by one dimension.
    Report(ReportArgs),
    /// The ledger documents.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Receipts: show, print again, and the queue of receipts the printer could not take.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Diagnostics of printers and scanners.
    #[command(subcommand)]
    Hardware(HardwareCommand),
    /// Turn an empty data directory into a till enrolled with headquarters (or, with
    /// --again, enrol this till again).
    Enroll(EnrollArgs),
    /// Sync with headquarters: once (exit 0 only when it holds every local change), or
    /// `--watch`; `sync status` tells how far it got.
    Sync(SyncArgs),
    /// USB bundles, for when no network path opens.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Headquarters and the fair hub.
    #[command(subcommand)]
    Hq(HqCommand),
}

#[derive(Subcommand, Debug)]
pub enum KioskCommand {
    /// Baskets shoppers left on the payment QR with no payment confirmed, oldest first: a
    /// payment that came in with no sale is one of them.
    Left(JsonFlag),
}

#[derive(Args, Debug, Default)]
pub struct TillArgs {
    /// Open the customer display, a second window facing the shopper (also
    /// `[customer_display] enabled = true` in fairpos.toml).
    #[arg(long)]
    pub customer_display: bool,
    /// Fill the monitor, with or without a window manager.
    #[arg(long)]
    pub fullscreen: bool,
}

#[derive(Args, Debug)]
pub struct EnrollArgs {
    /// Headquarters (or hub) URL, such as http://hq.example:7700.
    #[arg(long)]
    pub hq: String,
    /// The one-time code from `fairpos hq add-device`.
    #[arg(long)]
    pub code: String,
    /// The stall lead's PIN this till will ask for voids, refunds, sellers' PINs and leaving
    /// the kiosk; with --again, the till's present one.
    #[arg(long, value_name = "PIN")]
    pub lead_pin: String,
    /// The fair's own certificate authority (PEM), trusted besides the system's roots
    /// under https:// now and at every later sync.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Enrol this till again, keeping its sales and ledgers, with a new code for the same
    /// device: after headquarters was restored from an older backup, or the device was
    /// revoked and added again.
    #[arg(long)]
    pub again: bool,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    /// Sync with this headquarters or hub instead of the one enrolled with.
    #[arg(long)]
    pub hq: Option<String>,
    /// Keep syncing, with backoff after failures (longer when headquarters asks, by
    /// Retry-After).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between passes with --watch (1 to 86400).
    #[arg(long, default_value_t = 5, value_parser = seconds())]
    pub interval: u64,
    /// Seconds to wait for headquarters at each step (1 to 86400).
    #[arg(long, default_value_t = 30, value_parser = seconds())]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// The last success and how many sales headquarters has not confirmed.
    Status(JsonFlag),
}

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Write every ledger document of this till or hub, signed, to FILE.
    Export {
        /// The bundle file to write (a new file, on the USB stick).
        file: PathBuf,
        /// Write this till's (or hub's) copy of headquarters' catalog instead, for `hq
        /// catalog recover` (after a restore lost catalog edits the tills and hubs hold).
        #[arg(long)]
        catalog: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReceiptCommand {
    /// Print the laid-out receipt of a sale as UTF-8 text, line for line.
    Show {
        /// Sale number (T01-000003) or id.
        sale: String,
        /// Paper width in mm (58 or 80); default: the configured printer's.
        #[arg(long)]
        width: Option<u32>,
    },
    /// Receipts waiting for the printer.
    Pending(JsonFlag),
    /// Print the waiting receipts now.
    Retry,
    /// Print a sale's receipt again, marked as a reprint.
    Reprint {
        /// Sale number (T01-000003) or id.
        sale: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HardwareCommand {
    /// Serial ports and USB printer devices of this machine.
    Ports(JsonFlag),
    /// Print a test receipt (Chinese text, ￥, a QR code) on the configured printer.
    PrintTest,
    /// Read the configured scale (`[scale]` in fairpos.toml) once.
    Weigh {
        /// Print the weight and whether it is stable as one JSON object.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the scale's answer (1 to 86400).
        #[arg(long, default_value_t = 2, value_parser = seconds())]
        timeout: u64,
    },
    /// Read codes from a serial scanner and say what each is.
    Scan {
        /// Serial device of the scanner, such as /dev/ttyACM0.
        #[arg(long)]
        port: PathBuf,
        /// The scanner's serial speed, in bits per second.
        #[arg(long, default_value_t = 9600, value_parser = baud)]
        baud: u32,
        /// Stop after N codes.
        #[arg(long)]
        count: Option<usize>,
        /// Give up after SECONDS (1 to 86400) without N codes (exit 1).
        #[arg(long, value_name = "SECONDS", value_parser = seconds())]
        timeout: Option<u64>,
        /// One JSON object per line per code.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Use the demo fair shipped with fairpos (device T01 at stall S01).
    #[arg(long, conflicts_with_all = ["fair", "device", "stall"])]
    pub demo: bool,
    /// The fair.toml to set up from.
    #[arg(long, value_name = "FILE", required_unless_present = "demo")]
    pub fair: Option<PathBuf>,
    /// Device code of this till, such as T02.
    #[arg(long, required_unless_present = "demo")]
    pub device: Option<String>,
    /// The stall this till sells for, such as S02.
    #[arg(long, required_unless_present = "demo")]
    pub stall: Option<String>,
    /// PIN of the stall lead, needed for voids.
    #[arg(long, value_name = "PIN")]
    pub lead_pin: String,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Create or update products from a CSV file (all rows or none).
    Import {
        /// The CSV file, with the demo fair's `catalog.csv` header (`-`: standard input).
        file: PathBuf,
    },
    /// Write the catalog with current stock as CSV (`-` for standard output).
    Export {
        /// The CSV file to write (`-`: standard output).
        file: PathBuf,
    },
    /// List products with price and stock.
    List(JsonFlag),
    /// Find products as the touchscreen does: by SKU, name, or pinyin initials in any of
    /// their readings (`cq` finds 重庆火锅底料).
    Search {
        /// A SKU, part of a name, or pinyin initials.
        query: String,
        /// Print the products found as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a product at this till; it reaches headquarters' catalog with the next sync.
    Add(ProductArgs),
}

#[derive(Args, Debug)]
pub struct ProductArgs {
    /// The product's code, unique in the fair (`BJ-HJC-250`).
    #[arg(long)]
    pub sku: String,
    /// Its name in Chinese, as receipts and the touchscreen show it.
    #[arg(long)]
    pub name_zh: String,
    /// Its name in English.
    #[arg(long, default_value = "")]
    pub name_en: String,
    /// Sales unit: 盒, 袋, ... or 斤, kg for weighed goods.
    #[arg(long)]
    pub unit: String,
    /// Yuan per piece, or per unit for weighed goods.
    #[arg(long)]
    pub price: String,
    /// An EAN-13, EAN-8 or UPC-A (its check digit checked); weighed goods usually have none.
    #[arg(long)]
    pub barcode: Option<String>,
    /// Price look-up number of a weighed product, as the stall's scale labels print it.
    #[arg(long)]
    pub plu: Option<String>,
    /// Sold by weight: priced per unit, weighed on the scale or read from a scale label.
    #[arg(long)]
    pub weighed: bool,
    /// The touchscreen's category (茶叶, 粮油, ...).
    #[arg(long, default_value = "")]
    pub category: String,
    /// The GB/T 2260 code of the county it comes from (`433125`).
    #[arg(long, default_value = "")]
    pub county_code: String,
    /// The name of that county (保靖县).
    #[arg(long, default_value = "")]
    pub county_name: String,
    /// Who supplies it (a cooperative, a company).
    #[arg(long, default_value = "")]
    pub supplier: String,
    /// Its poverty-alleviation product certificate's number.
    #[arg(long)]
    pub cert_no: Option<String>,
    /// Stall (default: this till's).
    #[arg(long)]
    pub stall: Option<String>,
    /// Stock on hand, in the product's unit.
    #[arg(long, default_value = "0")]
    pub stock: String,
}

#[derive(Subcommand, Debug)]
pub enum SellersCommand {
    /// Create or update from a CSV file (all rows or none).
    Import {
        /// The CSV file, with the demo fair's `sellers.csv` header (`-`: standard input).
        file: PathBuf,
    },
    /// Give a seller a PIN of their own for signing in at the touchscreen (without one, a
    /// seller signs in with the lead PIN).
    Pin {
        /// The seller's id (`V003`).
        seller: String,
        /// The seller's new PIN.
        #[arg(long)]
        pin: String,
        /// The stall lead's PIN, which allows it.
        #[arg(long, value_name = "PIN")]
        lead_pin: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShiftCommand {
    /// Open a shift with a float in the drawer.
    Open {
        /// The seller opening it (`V003`).
        #[arg(long)]
        seller: String,
        /// Yuan in the drawer at the start.
        #[arg(long, value_name = "AMOUNT")]
        float: String,
    },
    /// Put cash into the drawer.
    CashIn {
        /// Yuan put in.
        amount: String,
        /// Why (change from the bank, ...), kept with the cash move.
        #[arg(long)]
        reason: String,
        /// Lead PIN, as the touchscreen's cash pad asks it.
        #[arg(long)]
        pin: String,
    },
    /// Take cash out of the drawer.
    CashOut {
        /// Yuan taken out.
        amount: String,
        /// Why (taken to the safe, ...), kept with the cash move.
        #[arg(long)]
        reason: String,
        /// Lead PIN, as the touchscreen's cash pad asks it.
        #[arg(long)]
        pin: String,
    },
    /// Close the shift with the cash counted in the drawer; prints the shift slip.
    Close {
        /// Yuan counted in the drawer.
        #[arg(long, value_name = "AMOUNT")]
        counted: String,
        /// Print the cash-up as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The last shift slip's signed text (what its QR code carries); `--print` prints it again.
    Slip {
        /// Print the slip again on the receipt printer.
        #[arg(long)]
        print: bool,
    },
}

#[derive(Args, Debug)]
pub struct SellArgs {
    /// The seller making the sale (`V003`), whose team it counts for.
    #[arg(long)]
    pub seller: String,
    /// Barcode, scale label, PLU or SKU, optionally CODE*N; CODE*scale weighs a weighed
    /// product on the configured scale.
    #[arg(required = true, value_name = "ITEM")]
    pub items: Vec<String>,
    /// Credit code of the purchasing unit buying.
    #[arg(long, value_name = "CREDIT_CODE")]
    pub unit: Option<String>,
    /// METHOD:AMOUNT in yuan, or METHOD alone for the rest of what is due.
    #[arg(long = "pay", required = true, num_args = 1.., value_name = "METHOD:AMOUNT")]
    pub pay: Vec<String>,
    /// Print the sale as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VoidArgs {
    /// Sale number (T01-000003) or id.
    pub sale: String,
    /// Why it is voided, kept with the void.
    #[arg(long)]
    pub reason: String,
    /// Lead PIN.
    #[arg(long)]
    pub pin: String,
}

#[derive(Args, Debug)]
pub struct RefundArgs {
    /// Sale number (T01-000003) or id.
    pub sale: String,
    /// Line N (from 1), optionally :QTY pieces; without QTY, all that is left of it.
    #[arg(long = "line", required = true, num_args = 1.., value_name = "N[:QTY]")]
    pub lines: Vec<String>,
    /// How the money goes back.
    #[arg(long = "pay", value_name = "METHOD")]
    pub pay: String,
    /// Lead PIN: money goes back, as the touchscreen asks it.
    #[arg(long)]
    pub pin: String,
    /// Print the refund as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Prove that the tables and the ledger documents agree and that numbering has no gaps.
    Verify,
}

impl Cli {
    /// Whether the command only reads and prints (see `HqCommand::only_prints`): the
    /// touchscreen, sync, enrolment and printing keep SIGPIPE ignored, so that a printer or
    /// headquarters closing its socket mid-write is an error of that socket, not the end of
    /// the till.
    pub fn only_prints(&self) -> bool {
        match &self.command {
            Some(Command::Status(_) | Command::Sales(_) | Command::Report(_)) => true,
            Some(Command::Sync(a)) => matches!(a.command, Some(SyncCommand::Status(_))),
            Some(Command::Ledger(LedgerCommand::Verify)) => true,
            Some(Command::Catalog(CatalogCommand::List(_) | CatalogCommand::Search { .. })) => true,
            Some(Command::Receipt(ReceiptCommand::Show { .. } | ReceiptCommand::Pending(_))) => {
                true
            }
            Some(Command::Hq(command)) => command.only_prints(),
            Some(Command::Kiosk {
                command: Some(KioskCommand::Left(_)),
            }) => true,
            _ => false,
        }
    }
}

/// A serial speed the port takes: not 0 ([`fairpos_hardware::config::check_baud`]).
fn baud(text: &str) -> Result<u32, String> {
    let baud: u32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    fairpos_hardware::config::check_baud("scanner", baud).map_err(|e| e.to_string())?;
    Ok(baud)
}

/// A number of seconds a command waits: at least one, at most a day (a larger one overflowed
/// the clock's arithmetic and ended the command with a panic).
fn seconds() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=86_400)
}
