//! `fairpos-hq`: headquarters (or a fair hub) on a server without a display. The same
//! commands as `fairpos hq …`, in a binary that links no UI.

use std::path::PathBuf;

use clap::Parser;
use fairpos_hq::cli::args::HqCommand;

#[derive(Parser, Debug)]
#[command(
    name = "fairpos-hq",
    version,
    about = "Headquarters and fair hub of fairpos (the commands of `fairpos hq`)"
)]
struct Cli {
    /// Data directory of the headquarters or hub.
    #[arg(long, global = true, env = "FAIRPOS_DATA", value_name = "DIR")]
    data: Option<PathBuf>,

    #[command(subcommand)]
    command: HqCommand,
}

fn main() {
    let cli = Cli::parse();
    // As `fairpos`: only a command that only prints dies quietly by SIGPIPE when the reader
    // of its output goes away; `serve` and the rest keep it ignored (a client resetting a
    // socket mid-write killed the server).
    if cli.command.only_prints() {
        // SAFETY: restoring the default disposition of a signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let dir = match cli.data {
        Some(d) => d,
        None => {
            eprintln!("error: give --data DIR (or FAIRPOS_DATA)");
            std::process::exit(2);
        }
    };
    if let Err(e) = fairpos_hq::cli::run(&dir, cli.command) {
        eprintln!("error: {e}");
        if matches!(e, fairpos_hq::Error::Interrupted) {
            fairpos_hq::cli::end_interrupted();
        }
        std::process::exit(e.exit_code());
    }
}
