//! The PostgreSQL server itself stopped and started again while `kitting import` runs (a test binary
//! of its own: the restart would cut the other PostgreSQL tests' connections). `.ci/run`'s cluster
//! names its control script in `KITTING_TEST_POSTGRES_CTL` (`start`, `stop fast|immediate`).

mod common;

use std::time::Instant;

fn ctl(script: &str, args: &[&str]) {
    let status = std::process::Command::new(script).args(args).status().unwrap();
    assert!(status.success(), "{script} {args:?}");
}

/// Stopped at points through a whole import (reading and checking the file, and its commit), by a fast
/// shutdown (transactions rolled back) and an immediate one (a crash, recovered at start): the import
/// fails with a clear message or succeeded, never panics, and leaves all of its rows or none; a command
/// while the server is down fails with exit code 1 saying it cannot connect; everything checks clean
/// after.
#[test]
fn a_server_restart_in_the_middle_of_an_import_leaves_all_or_none() {
    let Some(server) = common::pg::server() else { return };
    let Some(script) = common::pg::setting("KITTING_TEST_POSTGRES_CTL", "the cluster's control script") else {
        return;
    };
    const ROWS: u64 = 20_000;
    // How long an import takes here, undisturbed: the stops are placed through it.
    let url = common::pg::fresh(&server);
    let env = common::Env::on_postgres(&url);
    env.ok(&["profiles", "list"]);
    let file = env.write("devices.csv", common::devices_csv(1, ROWS));
    let t0 = Instant::now();
    env.ok(&["import", file.to_str().unwrap(), "--profile", "Timed", "--create"]);
    let whole = t0.elapsed();
    let mut outcomes = Vec::new();
    for (i, (fraction, mode)) in
        [(0.2, "fast"), (0.5, "immediate"), (0.8, "fast"), (0.95, "immediate")].into_iter().enumerate()
    {
        let url = common::pg::fresh(&server);
        let env = common::Env::on_postgres(&url);
        env.ok(&["profiles", "list"]);
        let file = env.write("devices.csv", common::devices_csv(1 + i as u64 * ROWS, ROWS));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
            .env_remove("KITTING_DB")
            .env("HOME", env.dir.path())
            .args(["--db", &url, "--config", env.config().to_str().unwrap()])
            .args(["import", file.to_str().unwrap(), "--profile", "P", "--create"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(fraction));
        ctl(&script, &["stop", mode]);
        let (code, _, err) = env.run(&["profiles", "list"]);
        assert_eq!(code, 1, "a command during the outage: {err}");
        assert!(err.contains("cannot connect") && !err.contains("panicked"), "{err}");
        ctl(&script, &["start"]);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        let code = out.status.code();
        assert!(code == Some(0) || code == Some(1), "{code:?}: {stderr}");
        let count = env.device_count("P");
        match code {
            Some(0) => assert_eq!(count, Some(ROWS), "reported imported: all of it"),
            _ => {
                assert!(count.is_none(), "failed: none of it ({count:?}); {stderr}");
                assert!(stderr.contains("lost the connection to the PostgreSQL database"), "a clear message: {stderr}");
            }
        }
        let check = env.ok(&["check"]);
        assert!(check.contains("is consistent"), "{check}");
        outcomes.push((fraction, mode, code, stderr.lines().last().unwrap_or_default().to_string()));
    }
    eprintln!("restarts (fraction of the import, mode, exit code, message): {outcomes:#?}");
}
