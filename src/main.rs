use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kitting::cli::Cli::parse();
    match kitting::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            for line in f.lines {
                eprintln!("kitting: {line}");
            }
            ExitCode::from(f.code)
        }
    }
}
