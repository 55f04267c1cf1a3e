use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
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
