//! Shared helpers: a temporary workspace with its own database and config, and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub mod pg;
pub mod tui;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// A database other than the workspace's directory (a PostgreSQL URL).
    db: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Env {
        // `KITTING_TEST_CLI_ON=postgres`: every command-line test's workspace on a fresh PostgreSQL
        // database instead of a directory (.ci/run runs the command-line tests a second time so).
        let db = (std::env::var("KITTING_TEST_CLI_ON").as_deref() == Ok("postgres"))
            .then(|| pg::server().map(|s| PathBuf::from(pg::fresh(&s))))
            .flatten();
        let env = Env { dir: tempfile::tempdir().expect("temp dir"), db };
        std::fs::write(env.config(), include_str!("../../config.example.toml")).unwrap();
        env
    }

    /// A workspace whose database is a directory whatever `KITTING_TEST_CLI_ON` says: for what only a
    /// directory has (its modes, its lock, its sharing).
    pub fn directory() -> Env {
        let env = Env::new();
        Env { db: None, ..env }
    }

    /// A workspace whose commands use the PostgreSQL database at `url`.
    pub fn on_postgres(url: &str) -> Env {
        Env::on(url)
    }

    /// A workspace whose commands use the database `db` (a URL or a directory elsewhere).
    pub fn on(db: impl Into<PathBuf>) -> Env {
        let env = Env { dir: tempfile::tempdir().expect("temp dir"), db: Some(db.into()) };
        std::fs::write(env.config(), include_str!("../../config.example.toml")).unwrap();
        env
    }

    /// The database every command of this workspace names with `--db`.
    pub fn db(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.dir.path().join("db"))
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `kitting --db DB --config CONFIG`, with HOME and XDG dirs inside the workspace.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("kitting").unwrap();
        c.env_remove("KITTING_DB")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .arg("--db")
            .arg(self.db())
            .arg("--config")
            .arg(self.config());
        c
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs, expecting exit code 0, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "kitting {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }

    /// The devices of a profile as CSV rows (header first), read through the CLI.
    pub fn devices(&self, profile: &str) -> Vec<Vec<String>> {
        let out = self.ok(&["devices", "list", "--profile", profile, "--format", "csv"]);
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(out.as_bytes());
        // The listing escapes formula cells like an export does; undo it as an import would.
        r.records()
            .map(|rec| rec.unwrap().iter().map(|c| kitting::domain::text::unescape_formula(c).to_string()).collect())
            .collect()
    }

    pub fn device_count(&self, profile: &str) -> Option<u64> {
        let out = self.ok(&["profiles", "list", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|p| p["Profile Name"] == profile)
            .map(|p| p["No of Devices"].as_str().unwrap().parse().unwrap())
    }
}

/// A valid IMEI built from a number: 14 digits and their Luhn check digit.
pub fn imei(n: u64) -> String {
    let body = format!("35{:012}", n);
    format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body))
}

/// A CSV of `n` devices with IMEIs `imei(start..start+n)`, serials and two attributes.
pub fn devices_csv(start: u64, n: u64) -> String {
    let mut s = String::from("IMEI,Serial Number,Manufacturer,Asset Tag,Department\n");
    for i in start..start + n {
        s.push_str(&format!("{},SN{:08},Samsung,A-{i},Dept {}\n", imei(i), i, i % 7));
    }
    s
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A `kitting serve` process on the database `db` (HOME and the config kept inside `home`), and the
/// socket it listens on, once it answers.
pub fn spawn_server(home: &Path, db: &Path) -> (std::process::Child, PathBuf) {
    // A server a command started by itself (it stays until idle) gives way to this one.
    let stopped = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .args(["--db", db.to_str().unwrap(), "serve", "--stop"])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .args(["--db", db.to_str().unwrap(), "serve"])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = db.join(kitting::store::remote::SOCKET);
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed().as_secs() < 30, "the server never listened on {}", socket.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (child, socket)
}

/// The process id of the server a database's lock file names ("user root, kitting server process 4711,
/// since …"); `None` when no server holds it.
pub fn holder_pid(db: &Path) -> Option<u32> {
    let lock = std::fs::read_to_string(db.join("kitting.lock")).ok()?;
    let rest = lock.split(kitting::store::SERVER_HOLDER).nth(1)?;
    rest.trim().split(',').next()?.parse().ok()
}

/// What `candidates` finds for a serial number alone, as (serial, manufacturer) in the order given.
pub fn serials_found(store: &dyn kitting::store::Store, serial: &str) -> Vec<(String, Option<String>)> {
    store
        .candidates(None, Some(serial))
        .unwrap()
        .into_iter()
        .map(|(_, d)| (d.ids.serial.expect("found by its serial number"), d.ids.manufacturer))
        .collect()
}
