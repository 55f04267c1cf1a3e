use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match kitting::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and the version as clap prints them; a usage error quotes what was typed, escaped.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let safe: Vec<String> = text.split('\n').map(|l| kitting::domain::text::sanitize(l).into_owned()).collect();
            eprint!("{}", safe.join("\n"));
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    match kitting::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Escaped here whatever the message is made of: a value or file name from the command line,
            // a file or the database never reaches the terminal raw (escaping is idempotent).
            for line in f.lines {
                let safe: Vec<String> =
                    line.split('\n').map(|l| kitting::domain::text::sanitize(l).into_owned()).collect();
                eprintln!("kitting: {}", safe.join("\n"));
            }
            ExitCode::from(f.code)
        }
    }
}

/// `kitting devices list | head` should stop quietly when `head` has enough, like any Unix tool. Rust
/// ignores SIGPIPE, which turns that into a panic on the next print; the default action ends the process
/// instead. Output is written only after any change is committed, and the store is crash-safe.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
