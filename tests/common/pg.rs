//! A PostgreSQL server to test against: `KITTING_TEST_POSTGRES` names one (a user that may create
//! databases); each test gets a database of its own.

use std::io::Write;

const HOW: &str = "PostgreSQL tests skipped: set KITTING_TEST_POSTGRES=postgres://USER@HOST:PORT/DB (a user that \
                   may create databases) to run them; .ci/run starts a cluster of its own";

/// The server's URL, or `None` (said once) when there is none to test against.
pub fn server() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var("KITTING_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None if std::env::var_os("KITTING_TEST_POSTGRES_REQUIRED").is_some() => {
            panic!("KITTING_TEST_POSTGRES_REQUIRED is set, but KITTING_TEST_POSTGRES is not")
        }
        None => {
            // Straight to the terminal: the test harness captures only the print macros.
            SAID.call_once(|| {
                let _ = writeln!(std::io::stderr(), "{HOW}");
            });
            None
        }
    }
}

/// A fresh database of its own on the server, and its URL.
pub fn fresh(url: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name =
        format!("kitting_test_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("the test server answers");
    // One statement each: neither runs inside a transaction block.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{name}")
}

/// A further setting of the test cluster that some tests need (`KITTING_TEST_POSTGRES_CA`, its
/// certificate authority; `KITTING_TEST_POSTGRES_CTL`, its control script). Unset, such a test is
/// skipped with a line saying what to set, unless the PostgreSQL tests are required (CI): then it fails.
pub fn setting(name: &str, what: &str) -> Option<String> {
    match std::env::var(name).ok().filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None if std::env::var_os("KITTING_TEST_POSTGRES_REQUIRED").is_some() => {
            panic!("KITTING_TEST_POSTGRES_REQUIRED is set, but {name} ({what}) is not")
        }
        None => {
            let _ = writeln!(std::io::stderr(), "a PostgreSQL test skipped: set {name} to {what}");
            None
        }
    }
}
