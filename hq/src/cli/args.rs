//! `fairpos hq …` (and `fairpos-hq …`) as clap definitions, and the argument types the
//! till's command line shares with it. The forms are a contract: tests and scripts drive
//! exactly these.

use std::path::PathBuf;

use clap::{Args, Subcommand};

mod serve;
pub use serve::ServeArgs;

#[derive(Subcommand, Debug)]
pub enum HqCommand {
    /// Set up headquarters for the demo fair or a fair file.
    Init {
        /// The demo fair built into fairpos (`fixtures/demo-fair`), with its stalls, sellers,
        /// units and catalog (those not imported again when joining a PostgreSQL
        /// headquarters set up already).
        #[arg(long, conflicts_with = "fair")]
        demo: bool,
        /// A fair file (`fair.toml`: its names, currency, points per yuan and barcode rules);
        /// stalls, sellers, units and the catalog are imported after.
        #[arg(long, value_name = "FILE", required_unless_present = "demo")]
        fair: Option<PathBuf>,
        /// The first organizer's password (at least 8 characters), else
        /// FAIRPOS_ORGANIZER_PASSWORD's; without either or --organizer-password-stdin, it is
        /// typed twice at the terminal, unshown.
        #[arg(long, value_name = "PW", conflicts_with = "organizer_password_stdin")]
        organizer_password: Option<String>,
        /// Read the first organizer's password from the first line of standard input
        /// (before FAIRPOS_ORGANIZER_PASSWORD; not with --organizer-password).
        #[arg(long)]
        organizer_password_stdin: bool,
        /// Keep devices, documents and the projection in this PostgreSQL database
        /// (postgres://USER@HOST:PORT/DB), which every `hq serve` of this headquarters shares;
        /// the data directory remembers it.
        #[arg(long, value_name = "URL", env = "FAIRPOS_HQ_DATABASE")]
        database: Option<String>,
    },
    /// The catalog, into the shared catalog document.
    #[command(subcommand)]
    Catalog(HqCatalogCommand),
    /// The fair's stalls (`id,name,team`), into the shared catalog document.
    #[command(subcommand)]
    Stalls(ImportOnly),
    /// The fair's sellers (`id,name,team,stall`), into the shared catalog document.
    #[command(subcommand)]
    Sellers(ImportOnly),
    /// The purchasing units (`kind,tax_id,name`), into the shared catalog document.
    #[command(subcommand)]
    Units(ImportOnly),
    /// Serve tills (HTTP and WebSocket) until stopped.
    // Boxed: its options are many times the size of any other command's.
    Serve(Box<ServeArgs>),
    /// End every dashboard session now: everyone logs in again.
    EndSessions,
    /// Dashboard accounts: organizers, stall leads, purchasing units.
    #[command(subcommand)]
    User(UserCommand),
    /// Register a till (or a hub) and print its one-time enrolment code.
    AddDevice {
        /// The device's code: capitals and digits, a capital first, 2 to 8 characters (`T07`).
        #[arg(long)]
        device: String,
        /// The stall a till sells at (one of `hq stalls import`'s ids); a hub has none.
        #[arg(long, default_value = "")]
        stall: String,
        /// A fair hub, which relays the tills at the venue, rather than a till.
        #[arg(long)]
        hub: bool,
        /// Print the device and its code as one JSON object.
        #[arg(long)]
        json: bool,
        /// The PostgreSQL database headquarters serves from (default: the one `hq init
        /// --database` named).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Shut a device out.
    RevokeDevice {
        /// The device's code (`T07`).
        device: String,
        /// As for add-device.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// A link for the venue's big screen: a read-only screen token a TV opens `/screen` with,
    /// no login; it opens nothing else.
    ScreenLink(ScreenLinkArgs),
    /// Enrolled devices.
    Devices(JsonFlag),
    /// Turn an empty data directory into a hub enrolled with headquarters.
    Enroll {
        /// Headquarters' address (`https://hq.example:7700`).
        #[arg(long)]
        hq: String,
        /// The one-time code `hq add-device --hub` printed at headquarters.
        #[arg(long)]
        code: String,
        /// The fair's own certificate authority (PEM), trusted besides the system's roots
        /// under https:// now and by the relay to headquarters.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Enrol this hub again, keeping every ledger it holds, with a new code for the same
        /// device: after headquarters was restored from an older backup, or the hub was
        /// revoked and added again.
        #[arg(long)]
        again: bool,
    },
    /// Bundles carried from tills and hubs.
    #[command(subcommand)]
    Bundle(HqBundleCommand),
    /// Copy this headquarters' (or hub's) database, while it serves, into a new file.
    Backup(CopyFile),
    /// Put a backup in place of this headquarters' database (stop `hq serve` first); the
    /// database it replaces is kept beside it, renamed.
    Restore(CopyFile),
    /// Every till's sales as headquarters holds them.
    Sales(JsonFlag),
    /// Sales report over all tills.
    Report(ReportArgs),
    /// Refusals and other sync events.
    Events(JsonFlag),
    /// Who did what: each command that changed headquarters (by the system user, and the
    /// address of their SSH session) and each login (by the account and the client's
    /// address), oldest first.
    Audit(AuditArgs),
    /// Per till: sales held, gaps against the numbers stated at shift closes, each shift's
    /// cash-up; oversold stock; voids and refunds per seller. With --doubtful: the voids and
    /// refunds that do not square with their sales (those no till writes).
    Reconcile(ReconcileArgs),
    /// The competition: net sales and points by team and by seller.
    Leaderboard(JsonFlag),
    /// Payment providers' statements: import a stall's files as downloaded, and match them
    /// to the QR payments and refunds the tills recorded.
    #[command(subcommand)]
    Statements(StatementsCommand),
    /// Shift slips: check a slip's QR text (or a photo of it) against the till's key and
    /// record the till's last sale number.
    #[command(subcommand)]
    Slip(SlipCommand),
    /// Headquarters in PostgreSQL: its schema, a SQLite headquarters' documents copied into
    /// it, their projection, and reports from it.
    #[command(subcommand)]
    Postgres(PostgresCommand),
    /// A purchasing unit's itemised list, for its reimbursement.
    Unit {
        /// The unit's unified social credit code.
        code: String,
        /// table, csv, json or xlsx.
        #[arg(long, default_value = "table")]
        format: String,
        /// Where to write (default: standard output; xlsx needs a file).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PostgresCommand {
    /// Bring the database to the latest schema (processes starting at once take turns).
    Migrate {
        #[command(flatten)]
        db: DatabaseArg,
        /// List the migrations it would apply, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy this headquarters' ledger documents (every stored chunk) and stall names into
    /// the database.
    CopyDocuments(DatabaseArg),
    /// Project every ledger stored in the database; with --follow, then each one any
    /// process stores, as it is stored, until stopped. Run as many as you like.
    Project {
        #[command(flatten)]
        db: DatabaseArg,
        /// Then project each ledger any process stores, as it is stored, until stopped.
        #[arg(long)]
        follow: bool,
    },
    /// A sales report from the database's roll-up.
    Report {
        #[command(flatten)]
        db: DatabaseArg,
        #[command(flatten)]
        report: ReportArgs,
    },
}

#[derive(Args, Debug)]
pub struct DatabaseArg {
    /// The database: postgres://USER[:PASSWORD]@HOST:PORT/DB.
    #[arg(long, env = "FAIRPOS_HQ_DATABASE", value_name = "URL")]
    pub database: String,
}

#[derive(Subcommand, Debug)]
pub enum StatementsCommand {
    /// Import a stall's statement file (all lines or none; importing it again changes nothing).
    Import {
        /// The statement as the provider's site downloads it (CSV, GBK or UTF-8).
        file: PathBuf,
        /// wechat or alipay.
        #[arg(long)]
        provider: String,
        /// The stall whose merchant account the statement is of.
        #[arg(long)]
        stall: String,
        /// Print what was imported as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Take back a statement file imported by mistake (under the wrong stall): its lines and
    /// the days it covered.
    Remove {
        /// The file as it was imported, or its SHA-256.
        file: String,
        /// Print what was removed as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Match every recorded QR payment and refund to a statement line, one to one.
    Match {
        /// The same as --format json.
        #[arg(long)]
        json: bool,
        /// table, csv, json or xlsx.
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to FILE instead of standard output (needed for xlsx).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// How far apart a till's record and the statement's time may be.
        #[arg(long, default_value_t = crate::statements::matching::DEFAULT_WINDOW_MINUTES)]
        window_minutes: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum SlipCommand {
    /// Check a slip and record it: the text its QR code carries, or --image FILE.
    Verify {
        /// The text the slip's QR code carries, as a scanner types it.
        #[arg(required_unless_present = "image", conflicts_with = "image")]
        text: Option<String>,
        /// A photo or scan of the slip (PNG or JPEG).
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// Print the verified slip, and the sales of its till headquarters misses, as one JSON
        /// object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account: an organizer sees everything, a stall lead its stall's sales, shifts
    /// and cash-up, a unit only its own itemised list.
    Add {
        /// The account's name, which it logs in with.
        name: String,
        /// organizer, stall-lead or unit.
        #[arg(long)]
        role: String,
        /// A stall lead's stall.
        #[arg(long)]
        stall: Option<String>,
        /// A unit's unified social credit code.
        #[arg(long, value_name = "CREDIT_CODE")]
        unit: Option<String>,
        #[command(flatten)]
        password: NewPassword,
    },
    /// Every account, its role and how many sessions it has open.
    List(JsonFlag),
    /// A new password for an account; its sessions end.
    Passwd {
        /// The account's name.
        name: String,
        #[command(flatten)]
        password: NewPassword,
    },
    /// Remove an account and end its sessions (the last organizer stays).
    Remove {
        /// The account's name.
        name: String,
    },
}

/// An account's new password: from the command line, the environment or standard input,
/// else typed at the terminal.
#[derive(Args, Debug)]
pub struct NewPassword {
    /// At least 8 characters, else FAIRPOS_USER_PASSWORD's; without either or
    /// --password-stdin, it is typed twice at the terminal, unshown.
    #[arg(long = "password", value_name = "PW", conflicts_with = "stdin")]
    pub text: Option<String>,
    /// Read the password from the first line of standard input (before
    /// FAIRPOS_USER_PASSWORD; not with --password).
    #[arg(long = "password-stdin")]
    pub stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum HqBundleCommand {
    /// Verify and import a bundle (idempotent), held to the limits a sync is held to.
    Import {
        /// The bundle file, as `fairpos bundle export` wrote it.
        file: PathBuf,
        /// The most one ledger document in the bundle may take (KiB, MiB or GiB); a bundle
        /// with a larger one is refused whole.
        #[arg(long, value_name = "SIZE", default_value = crate::limits::DEFAULT_MAX_DOCUMENT)]
        max_document: String,
        /// The most ledger documents one till may have, with the bundle's.
        #[arg(long, value_name = "N", default_value_t = crate::limits::DEFAULT_MAX_DOCUMENTS_PER_DEVICE)]
        max_documents_per_device: u64,
        /// The most the bundle file may take (KiB, MiB or GiB): a larger one is refused
        /// before it is read (checking it takes about twice its size in memory).
        #[arg(long, value_name = "SIZE", default_value = crate::limits::DEFAULT_MAX_BUNDLE)]
        max_bundle: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HqCatalogCommand {
    /// Create or update products from a CSV file (all rows or none).
    Import {
        /// The CSV file, with the demo fair's `catalog.csv` header (`-`: standard input).
        file: PathBuf,
    },
    /// Take back catalog edits headquarters lost (a restore from a backup taken before
    /// them) from a till's or a hub's copy: BUNDLE from `fairpos bundle export --catalog`
    /// at a till or a hub synced since. Shows what they change first.
    Recover {
        /// The bundle file, from `fairpos bundle export --catalog`.
        bundle: PathBuf,
        /// Show what the till's copy would change, and take nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the changes as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportOnly {
    /// Create or update from a CSV file (all rows or none).
    Import {
        /// The CSV file, with the demo fair's header for it (`-`: standard input).
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct CopyFile {
    /// The backup file (a SQLite database).
    pub file: PathBuf,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `hq audit`: the log listed, or pruned.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// `hq audit prune` or `hq audit verify`; none to list.
    #[command(subcommand)]
    pub prune: Option<AuditCommand>,
    /// The entries as a JSON array.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// The entries as CSV (a cell a spreadsheet would take as a formula given a leading ').
    #[arg(long)]
    pub csv: bool,
    /// Only entries written on this day or after (at the fair's local time).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<chrono::NaiveDate>,
    /// Only entries written on this day or before (at the fair's local time).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<chrono::NaiveDate>,
    /// Only entries of this action ("login refused", "user add", …).
    #[arg(long)]
    pub action: Option<String>,
    /// Only entries by an actor whose name holds this ("alice" finds "root (sudo by alice)").
    #[arg(long)]
    pub actor: Option<String>,
}

/// What `hq audit` does besides listing.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Move the entries written before a day into an archive file (JSON Lines), never one
    /// of the last six months (the Cybersecurity Law of the PRC, Art. 21).
    Prune(PruneArgs),
    /// Check the log as a hash chain: every entry as written, none removed but by a prune
    /// (exit 1 when broken, naming the first entry where).
    Verify(VerifyArgs),
}

/// `hq audit verify`'s options.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A prune's archive, its entries checked in their places too, the file against the
    /// SHA-256 its prune's entry holds (repeat for several).
    #[arg(long, value_name = "FILE")]
    pub archive: Vec<PathBuf>,
    /// A digest written down earlier (`hq audit verify` prints the newest): an entry must
    /// still hold it (repeat for several).
    #[arg(long, value_name = "DIGEST")]
    pub holds: Vec<String>,
    /// Take no prune's word for entries it removed: each gap must be filled by an archive
    /// given, and each archive given must be the very file its prune wrote.
    #[arg(long)]
    pub strict: bool,
    /// A file of digests noted by earlier runs (made when missing): the last must still be
    /// held, and a whole log's newest is noted after it (for a timer).
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// What was found as one JSON object (printed even when broken).
    #[arg(long)]
    pub json: bool,
}

/// `hq audit prune`'s options: a day (or months to keep), and where the entries go.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("day").required(true).args(["before", "keep_months"])))]
#[command(group(
    clap::ArgGroup::new("into").required(true).args(["archive", "archive_dir", "dry_run"])
))]
pub struct PruneArgs {
    /// The first day kept, at the fair's local time: six months ago at the latest.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub before: Option<chrono::NaiveDate>,
    /// Keep the last N months (6 at least): the first day kept is today at the fair, N
    /// months back (for a timer).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(6..=1200))]
    pub keep_months: Option<u32>,
    /// A new file for the entries moved out (never written over).
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// A folder for the archive (made when missing), as audit-before-DAY-WHEN.jsonl (for a
    /// timer).
    #[arg(long, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,
    /// Say how many entries would go, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Print JSON rather than lines for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Print the reconciliation (or, with --doubtful, the doubtful voids and refunds) as
    /// one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Only the voids and refunds that do not square with their sales (those no till
    /// writes).
    #[arg(long)]
    pub doubtful: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// product, county, unit, team, seller, payment, hour or stall.
    #[arg(long)]
    pub by: String,
    /// table, csv, json or xlsx.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Write to FILE instead of standard output (needed for xlsx).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ScreenLinkArgs {
    /// The address screens reach this server at.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    pub base: String,
    /// What the link is for, shown by --list.
    #[arg(long, default_value = "big screen")]
    pub label: String,
    /// Revoke the link whose id is given (its screens stop updating) instead.
    #[arg(long, conflicts_with = "list")]
    pub revoke: Option<String>,
    /// List the links issued.
    #[arg(long)]
    pub list: bool,
    /// Print the link (or the list) as JSON.
    #[arg(long)]
    pub json: bool,
}
