//! A server started by the client that found none (the tmux model): `kitting serve --background` in a
//! session of its own, which says on its standard output when its socket answers and then writes its
//! messages to `server.log` in the database directory. It stops by itself once no client has been
//! connected for its idle delay.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What a server started in the background prints once its socket answers.
pub const READY: &str = "ready";

/// The exit code of a server that found its database held by another process (another server starting
/// or stopping, or a process that opened it directly).
pub const EXIT_IN_USE: u8 = 75;

/// How to start a server for a database.
#[derive(Clone, Debug)]
pub struct Starter {
    /// The kitting binary.
    pub exe: PathBuf,
    pub db: PathBuf,
    /// The configuration file the client was given, passed on.
    pub config: Option<PathBuf>,
    /// How long the server lives after its last client left.
    pub idle_exit: Duration,
}

/// Why a server did not start.
#[derive(Debug)]
pub enum NotStarted {
    /// The database is held by another process (the message names it).
    InUse(String),
    /// Anything else, as the server or the system said it.
    Failed(String),
}

/// Starts a server and returns once its socket answers, or with what it said when it could not start.
pub fn start(starter: &Starter) -> Result<(), NotStarted> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&starter.exe);
    cmd.arg("--db").arg(&starter.db);
    if let Some(config) = &starter.config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("serve")
        .arg("--idle-exit")
        .arg(starter.idle_exit.as_secs().to_string())
        .arg("--background")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; it makes the server a session of its own, so the hang-up of
    // this terminal (an SSH session that ends) or its Ctrl-C does not reach the server.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let failed = |e: std::io::Error| NotStarted::Failed(format!("{}: {e}", starter.exe.display()));
    let mut child = cmd.spawn().map_err(failed)?;
    // Standard output ends when the server is ready (it then writes to its log instead) or gone.
    let mut said = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut said).map_err(failed)?;
    if said.trim() == READY {
        // Reaped when it ends, so that a long-lived client leaves no zombie behind.
        std::thread::spawn(move || child.wait());
        return Ok(());
    }
    let mut err = String::new();
    let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
    let status = child.wait().map_err(failed)?;
    let message = err.lines().map(|l| l.strip_prefix("kitting: ").unwrap_or(l)).collect::<Vec<_>>().join("; ");
    let message = if message.is_empty() { format!("the server ended ({status})") } else { message };
    Err(if status.code() == Some(EXIT_IN_USE.into()) {
        NotStarted::InUse(message)
    } else {
        NotStarted::Failed(message)
    })
}
