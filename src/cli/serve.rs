//! `kitting serve`: owns the database and serves the store contract to other kitting processes over the
//! socket `kitting.sock` in the database directory.

use std::time::Duration;

use clap::Args;

use super::{Context, Failure, Outcome};
use crate::domain::text::sanitize;
use crate::store::StoreError;
use crate::store::remote::{EXIT_IN_USE, READY, RemoteStore, SOCKET, Serving, nobody_answers, serve};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Stop once no client has been connected for SECONDS (without it: serve until stopped)
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,
    /// Started by a client: say "ready" on standard output once the socket answers, then write messages
    /// to server.log in the database directory
    #[arg(long, hide = true)]
    pub background: bool,
    /// Stop the server that runs on the database (connected workstations reconnect, starting another)
    #[arg(long, conflicts_with_all = ["idle_exit", "background"])]
    pub stop: bool,
}

pub fn run(ctx: &mut Context, args: ServeArgs) -> Outcome {
    let dir = sanitize(&ctx.db_dir.display().to_string()).into_owned();
    if args.stop {
        let socket = ctx.db_dir.join(SOCKET);
        return match RemoteStore::connect(&socket) {
            Ok(server) => {
                server.stop()?;
                wait_for_lock(&ctx.db_dir);
                println!("Stopped the kitting server of {dir}.");
                Ok(())
            }
            Err(e) if nobody_answers(&e) => {
                println!("No kitting server runs on {dir}.");
                Ok(())
            }
            Err(e) => Err(e.into()),
        };
    }
    // Opening takes the database's lock: one server per database, and its holder named to the others.
    // A client that started this server tries again when another process holds the database.
    let store = match crate::store::SledStore::open_serving(&ctx.db_dir) {
        Ok(store) => std::sync::Arc::new(store),
        Err(e @ StoreError::InUse(..)) => return Err(Failure { code: EXIT_IN_USE, lines: vec![e.to_string()] }),
        Err(e) => return Err(e.into()),
    };
    let socket = ctx.db_dir.join(SOCKET);
    let serving = Serving { idle_exit: args.idle_exit.map(Duration::from_secs) };
    let db_dir = ctx.db_dir.clone();
    let ready = move || {
        if args.background {
            println!("{READY}");
            to_log(&db_dir);
        }
    };
    if !args.background {
        eprintln!("kitting: serving {dir} on {}", sanitize(&socket.display().to_string()));
    }
    serve(store, &socket, serving, ready).map_err(|e| Failure::refused(format!("{}: {e}", socket.display())))
}

/// From now on standard output and error go to `server.log` in the database directory (the client that
/// started this server reads standard output until it ends, and has gone on since).
fn to_log(dir: &std::path::Path) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if crate::store::share::is_shared(dir) { 0o660 } else { 0o600 };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(dir.join("server.log"))
        .or_else(|_| std::fs::OpenOptions::new().write(true).open("/dev/null"));
    if let Ok(log) = log {
        // SAFETY: dup2 onto this process's standard descriptors; `log` stays open until then.
        unsafe {
            libc::dup2(log.as_raw_fd(), 1);
            libc::dup2(log.as_raw_fd(), 2);
        }
    }
}

/// Waits (up to 10 s) until nobody holds the database's lock: a stopped server's process closes its
/// socket and its lock file as it exits, not necessarily in that order, and the command that follows a
/// stop (`db share`) must find the database free.
fn wait_for_lock(dir: &std::path::Path) {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(dir.join("kitting.lock")) else { return };
        match file.try_lock() {
            Ok(()) => return,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
