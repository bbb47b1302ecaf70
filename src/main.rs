use clap::Parser;

fn main() {
    let cli = fairpos::cli::args::Cli::parse();
    if let Err(e) = fairpos::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
