use clap::Parser;

fn main() {
    let cli = fairpos::cli::args::Cli::parse();
    // A command that only prints dies quietly when the reader of its output goes away
    // (`fairpos sales | head`), as Unix tools do, rather than panic on a write to a closed
    // pipe. Every other keeps SIGPIPE ignored (Rust's default): with the default, a peer
    // that resets a socket mid-write (a client of `hq serve`, a network printer) killed the
    // whole process.
    if cli.only_prints() {
        // SAFETY: restoring the default disposition of a signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if let Err(e) = fairpos::cli::run(cli) {
        eprintln!("error: {e}");
        if e.is_interrupted() {
            fairpos_hq::cli::end_interrupted();
        }
        std::process::exit(e.exit_code());
    }
}
