//! fairpos-bench: measured speed of the till and headquarters, side by side with a baseline,
//! in one run. Progress goes to stderr; the last line on stdout is one JSON object.
//!
//! - `commit`: sale commit latency against one JSON row in plain SQLite (see `commit.rs`);
//! - `sync`: a till's push to headquarters against the npm automerge-repo sync server;
//! - `project`: headquarters projecting 50 tills × 2k sales from cold, then 100 new sales,
//!   against re-projecting the touched ledgers whole;
//! - `reports`: reports, reconciliation, the leaderboard and a unit's list over a
//!   province-sized projection (10 million sales by default) written straight into SQL;
//! - `hq-load`: tills syncing with headquarters all at once, the API answering meanwhile;
//! - `hub-registry`: a province's fair hubs asking for the device registry every second,
//!   against a baseline build;
//! - `backlog`: the projection's backlog counted in PostgreSQL over a season's ledgers,
//!   against bringing every chunk key to the process;
//! - `backup`: `hq backup` of a province's database, against `cp` and `sync` of the stopped
//!   file and against `VACUUM INTO` (how it copied before);
//! - `ui`: the touchscreen on a 5 000-product, 20 000-sale till: scan to frame, cold start,
//!   resident memory.

mod backlog;
mod backup;
mod commit;
mod load;
mod measure;
mod project;
mod project_pg;
mod province;
mod registry;
mod reports;
mod reports_pg;
mod sync;
mod ui;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Projection at headquarters: a whole fair from cold, then a few new sales.
    Project {
        #[arg(long, default_value_t = 50)]
        tills: usize,
        /// Sales per till.
        #[arg(long, default_value_t = 2_000)]
        sales: usize,
        /// New sales after the cold projection, spread over the tills.
        #[arg(long, default_value_t = 100)]
        new: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also project the same ledgers into this empty PostgreSQL database
        /// (`postgres://USER@HOST:PORT/DB`).
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Reports, reconciliation, leaderboard and a unit's list over a province's sales.
    Reports {
        #[arg(long, default_value_t = 5_000)]
        tills: usize,
        /// Sales per till.
        #[arg(long, default_value_t = 2_000)]
        sales: usize,
        #[arg(long, conflicts_with = "reuse")]
        dir: Option<PathBuf>,
        /// Keep the database written (in --dir) for `--reuse`.
        #[arg(long)]
        keep: bool,
        /// Time the database a `--keep` run left in DIR again, without writing it.
        #[arg(long)]
        reuse: Option<PathBuf>,
        /// Also time each report read from every sale (the way before the roll-up).
        #[arg(long)]
        baseline: bool,
        /// Also copy the province into this empty PostgreSQL database and time the same
        /// reads there (`postgres://USER@HOST:PORT/DB`).
        #[arg(long)]
        postgres: Option<String>,
        /// The --postgres database holds this province already (a run with --postgres and
        /// --reuse copied it): time the reads there without copying, say after a restart.
        #[arg(long, requires = "postgres")]
        postgres_copied: bool,
    },
    /// Tills syncing with headquarters all at once, the API answering meanwhile.
    HqLoad {
        #[arg(long, default_value_t = 100)]
        tills: usize,
        /// Sales per till.
        #[arg(long, default_value_t = 1_000)]
        sales: usize,
        /// The `fairpos` binary that serves headquarters (default: this build's).
        #[arg(long)]
        server: Option<PathBuf>,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where headquarters keeps its data, one storm each, in this order.
        #[arg(long, value_delimiter = ',', default_value = "sqlite")]
        backend: Vec<load::Backend>,
        /// An empty PostgreSQL database, for --backend postgres.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// `hq serve` processes sharing the PostgreSQL database.
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// How much nicer than the bench the tills' syncs run, as `nice -n` counts: they stand
        /// for devices elsewhere, and at headquarters' own priority they take the CPU it would
        /// have to itself (0: the same priority, as in earlier rounds).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=19))]
        tills_nice: u8,
        /// `processes`: each till runs `fairpos sync`, the real binary; `threads`: each till
        /// runs the same sync pass on a thread of the bench, without a program start each.
        #[arg(long, default_value = "processes")]
        tills_as: load::TillsAs,
        /// Keep the big screen open during the storm (its event stream, on the first
        /// process), as at a venue whose screen follows the sales: its figures are then
        /// computed as the projection moves.
        #[arg(long)]
        screen: bool,
        /// A storm per backend with `hq serve` not serving `/metrics` (`off`) and/or serving
        /// them (`on`, scraped during the storm and checked after), in this order.
        #[arg(long, value_delimiter = ',', default_value = "off")]
        metrics: Vec<load::Metrics>,
        /// Each till's sales sold in this many shares, every till syncing each share at once
        /// before the next is sold: a day of syncs rather than one at closing time, so that
        /// headquarters stores a ledger's later changes on their own until samod compacts them.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Fair hubs asking headquarters for the device registry every second.
    HubRegistry {
        /// Tills in the registry.
        #[arg(long, default_value_t = 5_000)]
        devices: usize,
        /// Hubs asking, each once a second.
        #[arg(long, default_value_t = 100)]
        hubs: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Whether the hubs send back the tag they were given (`false`: as hubs older than
        /// the tags).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        tags: bool,
        /// Another `fairpos` binary serving the same storm in the same run.
        #[arg(long)]
        baseline: Option<PathBuf>,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The projection's backlog as `/metrics` counts it on PostgreSQL, over a season's
    /// ledgers written into an empty database, against digesting every key in the process.
    Backlog {
        /// An empty PostgreSQL database (`postgres://USER@HOST:PORT/DB`).
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 150_000)]
        ledgers: usize,
        /// Of those, ledgers never projected.
        #[arg(long, default_value_t = 7)]
        waiting: usize,
        /// Counts of each, one after the other.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// `hq backup` of the database a `reports --keep` run left in DIR, against `cp` and
    /// `sync` of the file and against `VACUUM INTO`.
    Backup {
        #[arg(long)]
        reuse: PathBuf,
        /// Empty the page cache before each copy (root only).
        #[arg(long)]
        cold: bool,
    },
    /// The touchscreen: scan to frame, cold start, memory, on a 5 000-product till.
    Ui {
        #[arg(long, default_value_t = 20_000)]
        sales: usize,
        #[arg(long, default_value_t = 300)]
        scans: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// (Used by `ui`.) Opens the till in DIR and draws its first frame.
    #[command(hide = true)]
    UiStart {
        #[arg(long)]
        dir: PathBuf,
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

fn main() {
    let args = Args::parse();
    let outcome = match args.bench {
        Bench::Commit { sales, dir } => commit::run(sales, dir),
        Bench::Sync { sales, dir } => sync::run(sales, dir),
        Bench::Project {
            tills,
            sales,
            new,
            dir,
            postgres,
        } => project::run(tills, sales, new, dir, postgres.as_deref()),
        Bench::Reports {
            tills,
            sales,
            dir,
            keep,
            reuse,
            baseline,
            postgres,
            postgres_copied,
        } => reports::run(
            tills,
            sales,
            match reuse {
                Some(dir) => reports::Source::Reuse(dir),
                None => reports::Source::Write { dir, keep },
            },
            baseline,
            postgres.as_deref().map(|url| (url, postgres_copied)),
        ),
        Bench::HqLoad {
            tills,
            sales,
            server,
            dir,
            backend,
            database,
            processes,
            tills_nice,
            tills_as,
            screen,
            metrics,
            rounds,
        } => load::run(load::Options {
            tills,
            sales,
            server,
            dir,
            backends: backend,
            database,
            processes,
            tills_nice,
            tills_as,
            screen,
            metrics,
            rounds,
        }),
        Bench::HubRegistry {
            devices,
            hubs,
            seconds,
            tags,
            baseline,
            dir,
        } => registry::run(devices, hubs, seconds, tags, baseline, dir),
        Bench::Backlog {
            database,
            ledgers,
            waiting,
            runs,
        } => backlog::run(&database, ledgers, waiting, runs),
        Bench::Backup { reuse, cold } => backup::run(&reuse, cold),
        Bench::Ui { sales, scans, dir } => ui::run(sales, scans, dir),
        Bench::UiStart { dir } => ui::start(&dir),
    };
    if let Err(e) = outcome {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
