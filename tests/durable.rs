//! Durable commits (issue 14): every committing command runs under `strace -f`, which records each
//! write, sync, file creation, rename and removal; the test fails if, when the command reports (a write
//! to its standard output or error, or a server's reply on a socket) or exits, anything it wrote under
//! the database directory (or the outbox it was given) has not been synced since (`fsync`/`fdatasync`:
//! sled's own `sync_file_range` does not count, it flushes neither the disk's cache nor the file's size),
//! or a directory in which it created, renamed or removed a name has not been synced since.
//!
//! Without strace (or where tracing is not allowed) the test says so in one line and passes; `.ci/run`
//! installs strace and sets KITTING_TEST_STRACE_REQUIRED=1, so there it cannot be skipped.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, imei};

/// Whether strace can trace here; panics if it cannot while CI requires it.
fn strace_works() -> bool {
    let ok = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("KITTING_TEST_STRACE_REQUIRED").is_none(),
            "KITTING_TEST_STRACE_REQUIRED is set but strace cannot trace here"
        );
        eprintln!("durable: skipped (no working strace; install it, e.g. apt-get install strace, to run this test)");
    }
    ok
}

const TRACED: &str = "trace=openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,write,pwrite64,writev,\
pwritev,pwritev2,ftruncate,fsync,fdatasync,sync_file_range,sendto,sendmsg,exit_group";

fn strace(out: &Path) -> Command {
    let mut c = Command::new("strace");
    c.args(["-f", "-y", "-qq", "-s", "0", "-e", TRACED, "-o"]).arg(out);
    c
}

/// One recorded system call: its name, its first argument's path (a descriptor's, shown by `-y`, or a
/// path argument), the other paths it names, and whether it succeeded.
#[derive(Debug)]
struct Call {
    name: String,
    fd: Option<u32>,
    fd_path: Option<String>,
    paths: Vec<String>,
    ok: bool,
    line: String,
}

/// Parses strace's output: `PID name(args) = result`, calls split by another thread's joined up.
fn calls(trace: &str) -> Vec<Call> {
    let mut pending: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::new();
    for raw in trace.lines() {
        let Some((pid, rest)) = raw.split_once(' ') else { continue };
        let rest = rest.trim_start();
        let line = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
            continue;
        } else if rest.starts_with("<... ") {
            let Some(head) = pending.remove(pid) else { continue };
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let name = line[..open].to_string();
        let result = line.rsplit_once("= ").map_or("", |(_, r)| r).trim();
        let ok = !result.starts_with('-') && !result.is_empty() || name == "exit_group";
        let args = &line[open + 1..];
        // `-y`: a descriptor as `N</path>`.
        let (fd, fd_path) = match args.split_once('<') {
            Some((n, tail)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                (n.parse().ok(), tail.split_once('>').map(|(p, _)| p.to_string()))
            }
            Some(("AT_FDCWD", tail)) => (None, tail.split_once('>').map(|(p, _)| p.to_string())),
            _ => (args.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()), None),
        };
        let paths = args.split('"').skip(1).step_by(2).map(str::to_string).collect();
        out.push(Call { name, fd, fd_path, paths, ok, line: line.clone() });
    }
    out
}

/// What a trace leaves unsynced at each report, under the `roots`; empty when every commit was durable.
fn unsynced_at_reports(trace: &str, roots: &[PathBuf]) -> Vec<String> {
    let roots: Vec<String> = roots.iter().map(|r| r.to_string_lossy().into_owned()).collect();
    let watched = |p: &str| roots.iter().any(|r| p == r || p.starts_with(&format!("{r}/")));
    // The lock file's text only names its holder (the lock itself is what keeps others out).
    let counts = |p: &str| watched(p) && !p.ends_with("/kitting.lock") && !p.ends_with("/kitting.sock");
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for c in calls(trace) {
        if !c.ok {
            continue;
        }
        match c.name.as_str() {
            "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" | "ftruncate" | "sendto" | "sendmsg" => {
                let path = c.fd_path.clone().unwrap_or_default();
                let report = matches!(c.fd, Some(1 | 2)) || path.starts_with("socket:") || path.starts_with("UNIX");
                if report {
                    if !dirty.is_empty() || !dirs.is_empty() {
                        problems.push(format!(
                            "at `{}`: written, not synced: {dirty:?}; directories changed, not synced: {dirs:?}",
                            c.line
                        ));
                    }
                } else if counts(&path) {
                    dirty.insert(path);
                }
            }
            "fsync" | "fdatasync" => {
                if let Some(p) = &c.fd_path {
                    dirty.remove(p);
                    dirs.remove(p);
                }
            }
            // A name created, renamed or removed: its directory must be synced. A relative path is
            // relative to the call's directory descriptor (`-y` shows it as the first argument).
            "openat" | "creat" | "mkdir" | "mkdirat" | "rename" | "renameat" | "renameat2" | "unlink" | "unlinkat"
                if !c.name.contains("open") || c.line.contains("O_CREAT") =>
            {
                for p in &c.paths {
                    let full = match c.fd_path.as_deref() {
                        _ if p.starts_with('/') => p.clone(),
                        Some(base) => format!("{base}/{p}"),
                        None => continue,
                    };
                    if counts(&full)
                        && let Some(d) = Path::new(&full).parent()
                    {
                        dirs.insert(d.to_string_lossy().into_owned());
                    }
                }
            }
            "exit_group" if !dirty.is_empty() || !dirs.is_empty() => {
                problems.push(format!("at exit: written, not synced: {dirty:?}; directories: {dirs:?}"));
            }
            _ => {}
        }
    }
    problems
}

/// Runs `kitting ARGS` under strace, expecting success, and returns the problems the trace shows under
/// `roots`.
fn traced(env: &Env, args: &[&str], roots: &[PathBuf]) -> Vec<String> {
    let trace = env.path("trace.txt");
    let mut c = strace(&trace);
    c.arg(env!("CARGO_BIN_EXE_kitting"))
        .env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.dir.path().join("xdg-config"))
        .arg("--db")
        .arg(env.db())
        .arg("--config")
        .arg(env.config())
        .args(args)
        .stdin(Stdio::null());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "kitting {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("exit_group"), "the trace of {args:?} is whole");
    unsynced_at_reports(&text, roots)
}

/// A workspace on a directory with no server started by itself (each command owns the database).
fn direct() -> Env {
    let env = Env::directory();
    let config = std::fs::read_to_string(env.config()).unwrap().replace("autostart = true", "autostart = false");
    std::fs::write(env.config(), config).unwrap();
    env
}

fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap()
}

/// The checker itself: sled's own flush (sync_file_range) before a report is not durable, a sync after
/// the report is too late, a file created in a directory needs that directory synced.
#[test]
fn the_checker_tells_a_durable_commit_from_one_that_is_not() {
    let roots = [PathBuf::from("/db")];
    let base = "1 openat(AT_FDCWD</>, \"/db/sled/db\", O_RDWR|O_CREAT|O_CLOEXEC, 0666) = 4</db/sled/db>\n\
                1 fsync(5</db/sled>) = 0\n\
                1 pwrite64(4</db/sled/db>, \"\"..., 24, 525) = 24\n";
    let report = "1 write(1<pipe:[7]>, \"\"..., 46) = 46\n1 exit_group(0) = ?\n";
    let not = format!("{base}1 sync_file_range(4</db/sled/db>, 525, 24, SYNC_FILE_RANGE_WRITE) = 0\n{report}");
    assert_eq!(unsynced_at_reports(&not, &roots).len(), 2, "sync_file_range is no sync");
    let late = format!("{base}{report}1 fdatasync(4</db/sled/db>) = 0\n");
    assert!(!unsynced_at_reports(&late, &roots).is_empty(), "synced after the report");
    let durable = format!("{base}1 fdatasync(4</db/sled/db>) = 0\n{report}");
    assert!(unsynced_at_reports(&durable, &roots).is_empty(), "{:?}", unsynced_at_reports(&durable, &roots));
    // A new blob: synced itself but its directory not.
    let blob = "1 openat(AT_FDCWD</>, \"/db/sled/blobs/77\", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0666) = 6</db/sled/blobs/77>\n\
                1 <... openat resumed>) = 6</db/sled/blobs/77>\n\
                2 write(6</db/sled/blobs/77>, \"\"..., 9000) = 9000\n\
                2 fsync(6</db/sled/blobs/77>) = 0\n";
    let problems = unsynced_at_reports(&format!("{blob}{report}"), &roots);
    assert!(problems.iter().any(|p| p.contains("/db/sled/blobs\"")), "{problems:?}");
    let synced = format!("{blob}1 fsync(8</db/sled/blobs>) = 0\n{report}");
    assert!(unsynced_at_reports(&synced, &roots).is_empty());
    // A thread's call split in two by another's is joined up.
    let split = "1 pwrite64(4</db/sled/db>, \"\"..., 24, 525 <unfinished ...>\n\
                 2 write(1<pipe:[7]>, \"\"..., 46) = 46\n\
                 1 <... pwrite64 resumed>) = 24\n\
                 1 exit_group(0) = ?\n";
    assert_eq!(unsynced_at_reports(split, &roots).len(), 1, "written, then the exit");
    // Files elsewhere (an input, the terminal) are not the database's.
    let elsewhere = "1 write(3</home/ann/notes.txt>, \"\"..., 5) = 5\n1 exit_group(0) = ?\n";
    assert!(unsynced_at_reports(elsewhere, &roots).is_empty());
}

/// Every committing command, on the embedded database, syncs what it wrote before it says so.
#[test]
fn every_committing_command_syncs_what_it_wrote_before_it_reports() {
    if !strace_works() {
        return;
    }
    let env = direct();
    // The database directory and its parent (the first command creates the directory in it).
    std::fs::create_dir_all(env.db()).unwrap();
    let db = real(&env.db());
    let roots = [db.clone()];
    let small = env.write("dock.csv", common::devices_csv(100, 50));
    let big = env.write("big.csv", common::devices_csv(10_000, 12_000));
    let dep = env.write(
        "dep.csv",
        "UserName,Name,EmailAddress,UserDescription,Identifier,Template,Code,OS,DeviceTags,WifiMac,IMEI,MEID,Serial,\
ExpirationDays,DisplayName,Description,RegistrationEmail,DEPMethod\n\
user0001,Test User 1,u1@example.com,,apple001,,,ios,,,,,AAABBBCCCDDD,,iOS Device 1,,u1@example.com,Serial\n\
user0002,Test User 2,,,apple002,,,ios,,,,,BBBCCCDDDAAA,,iOS Device 2,,,Serial\n",
    );
    let outbox = env.path("outbox");
    let backup = env.path("inventory.backup");
    let (a, b, c) = (imei(1), imei(2), imei(100));
    let steps: Vec<Vec<&str>> = vec![
        vec!["profiles", "create", "Dock"],
        vec!["devices", "add", "--profile", "Dock", "--imei", &a],
        vec!["devices", "edit", "--profile", "Dock", "--imei", &a, "--attr", "Bin=7"],
        vec!["import", small.to_str().unwrap(), "--profile", "Dock"],
        // Large enough for sled to write pages as blob files of their own.
        vec!["import", big.to_str().unwrap(), "--profile", "Big", "--create"],
        vec!["devices", "delete", "--profile", "Dock", "--imei", &a],
        vec!["token", "refresh", "--profile", "Dock", "--days", "14"],
        vec!["users", "add", "akiko", "--name", "Akiko Sato"],
        vec!["profiles", "edit", "Dock", "--user", "akiko"],
        vec!["catalog", "tags", "add", "Kiosk"],
        vec!["dep", "import", dep.to_str().unwrap()],
        vec!["dep", "withdraw", "--identifier", "apple002"],
        vec!["devices", "add", "--profile", "Dock", "--imei", &b],
        vec!["profiles", "delete", "Big", "--yes"],
        vec!["db", "backup", backup.to_str().unwrap()],
    ];
    let mut failures = Vec::new();
    for args in &steps {
        for p in traced(&env, args, &roots) {
            failures.push(format!("kitting {}: {p}", args.join(" ")));
        }
        if args.contains(&"Big") && args[0] == "import" {
            let blobs = std::fs::read_dir(db.join("sled/blobs")).unwrap().count();
            assert!(blobs > 0, "the large import wrote blob files (what sled never syncs itself)");
        }
    }
    // The outbox writes mails, then marks them written: the mails first, synced, with their directory.
    let mut roots_outbox = roots.to_vec();
    std::fs::create_dir_all(&outbox).unwrap();
    roots_outbox.push(real(&outbox));
    let args = ["dep", "outbox", "--write", outbox.to_str().unwrap()];
    for p in traced(&env, &args, &roots_outbox) {
        failures.push(format!("kitting {}: {p}", args.join(" ")));
    }
    // A restore into an empty database directory of its own.
    let restored = Env::on(env.path("restored"));
    std::fs::copy(env.config(), restored.config()).unwrap();
    std::fs::create_dir_all(restored.db()).unwrap();
    let args = ["db", "restore", backup.to_str().unwrap()];
    for p in traced(&restored, &args, &[real(&restored.db())]) {
        failures.push(format!("kitting {}: {p}", args.join(" ")));
    }
    // A registration, with the token the last refresh printed.
    let token = env.ok(&["token", "refresh", "--profile", "Dock", "--days", "7"]).trim().to_string();
    let args = ["register", "--token", &token, "--imei", &c];
    for p in traced(&env, &args, &roots) {
        failures.push(format!("kitting register: {p}"));
    }
    assert!(failures.is_empty(), "{} unsynced reports:\n{}", failures.len(), failures.join("\n"));
    // What was traced did happen.
    assert_eq!(env.device_count("Dock"), Some(51));
    assert!(env.ok(&["dep", "outbox"]).contains("written"));
    assert_eq!(restored.device_count("Dock"), Some(51));
}

/// Through a server: each reply on the socket comes after the server synced what the change wrote.
#[test]
fn the_server_syncs_each_change_before_it_replies() {
    if !strace_works() {
        return;
    }
    let env = Env::directory();
    env.ok(&["profiles", "list"]);
    env.ok(&["serve", "--stop"]);
    let db = env.db();
    let trace = env.path("server-trace.txt");
    let mut server = strace(&trace)
        .arg(env!("CARGO_BIN_EXE_kitting"))
        .args(["--db", db.to_str().unwrap(), "--config", env.config().to_str().unwrap(), "serve"])
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.dir.path().join("xdg-config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = db.join(kitting::store::remote::SOCKET);
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed().as_secs() < 60, "the traced server never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let small = env.write("dock.csv", common::devices_csv(100, 20));
    env.ok(&["profiles", "create", "Dock"]);
    env.ok(&["devices", "add", "--profile", "Dock", "--imei", &imei(1)]);
    env.ok(&["import", small.to_str().unwrap(), "--profile", "Dock"]);
    env.ok(&["users", "add", "akiko"]);
    env.ok(&["serve", "--stop"]);
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("socket:") || text.contains("UNIX"), "the server's replies are in the trace");
    let problems = unsynced_at_reports(&text, &[real(&db)]);
    assert!(problems.is_empty(), "{} unsynced replies:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(env.device_count("Dock"), Some(21));
}
