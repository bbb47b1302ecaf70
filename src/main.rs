use clap::Parser;

fn main() {
    // Die quietly when the reader of our output goes away (`fairpos sales | head`), as Unix
    // tools do, rather than panic on a write to a closed pipe.
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = fairpos::cli::args::Cli::parse();
    if let Err(e) = fairpos::cli::run(cli) {
        eprintln!("error: {e}");
        if e.is_interrupted() {
            fairpos_hq::cli::end_interrupted();
        }
        std::process::exit(e.exit_code());
    }
}
