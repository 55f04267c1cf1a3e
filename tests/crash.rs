//! Crash tests (issue 14): `kitting dep import`, a device edit, `kitting db restore` and the server are
//! killed (SIGKILL: no destructor, no flush) at many moments; after each kill the database holds all
//! of the change or none of it, and `kitting check` (the whole inventory) is clean. The Android import's
//! kills are in cli_store.rs and server.rs, the scan station's (killed mid-burst) in pty.rs.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, imei};

fn spawn(env: &Env, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kitting"))
        .env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .arg("--db")
        .arg(env.db())
        .arg("--config")
        .arg(env.config())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How long `args` takes uninterrupted (run once, then undone by `undo`).
fn timed(env: &Env, args: &[&str]) -> Duration {
    let t = Instant::now();
    assert!(spawn(env, args).wait().unwrap().success(), "{args:?}");
    t.elapsed()
}

fn kill_after(mut child: Child, delay: Duration) {
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

fn check_clean(env: &Env, after: &str) {
    let (code, out, err) = env.run(&["check"]);
    assert_eq!(code, 0, "after {after}: {out}{err}");
}

fn dep_count(env: &Env) -> usize {
    let out = env.ok(&["dep", "list", "--format", "csv"]);
    out.lines().count().saturating_sub(1)
}

fn dep_file(env: &Env, name: &str, start: usize, n: usize) -> std::path::PathBuf {
    let mut text = String::from("UserName,Identifier,OS,DisplayName\n");
    for i in start..start + n {
        text.push_str(&format!("user{i},D{i},ios,Device {i}\n"));
    }
    env.write(name, text)
}

#[test]
fn killed_dep_imports_leave_all_or_none() {
    let env = Env::directory();
    std::fs::write(env.config(), "[server]\nautostart = false\n").unwrap();
    let n = 10_000;
    let probe = dep_file(&env, "probe.csv", 1_000_000, n);
    let full = timed(&env, &["dep", "import", probe.to_str().unwrap()]);
    let mut kills = 0;
    for step in 0..8u32 {
        let before = dep_count(&env);
        let f = dep_file(&env, &format!("d{step}.csv"), step as usize * n, n);
        kill_after(spawn(&env, &["dep", "import", f.to_str().unwrap()]), full * step / 7);
        kills += 1;
        check_clean(&env, &format!("a DEP import killed at {step}/7"));
        let now = dep_count(&env);
        assert!(now == before || now == before + n, "all or none: {before} → {now}");
    }
    eprintln!("uninterrupted DEP import of {n} records: {full:?}; {kills} kills");
}

#[test]
fn killed_edits_and_restores_leave_all_or_none() {
    let env = Env::directory();
    std::fs::write(env.config(), "[server]\nautostart = false\n").unwrap();
    let csv = env.write("in.csv", common::devices_csv(1, 20_000));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "P", "--create"]);
    // Edits of one device's attribute: it holds one value or the next, never anything else.
    let full = timed(&env, &["devices", "edit", "--profile", "P", "--imei", &imei(7), "--attr", "Note=probe"]);
    for step in 0..8u32 {
        let value = format!("Note=v{step}");
        kill_after(
            spawn(&env, &["devices", "edit", "--profile", "P", "--imei", &imei(7), "--attr", &value]),
            full * step / 6,
        );
        check_clean(&env, &format!("an edit killed at {step}/6"));
        let rows = env.devices("P");
        let note = rows[0].iter().position(|h| h == "Note").unwrap();
        let row = rows.iter().find(|r| r[0] == imei(7)).unwrap();
        let previous = if step == 0 { "probe".to_string() } else { format!("v{}", step - 1) };
        let ok = [previous.as_str(), &value[5..], "probe"];
        assert!(ok.contains(&row[note].as_str()), "step {step}: {:?}", row[note]);
        // The next step starts from what this one left.
        env.ok(&["devices", "edit", "--profile", "P", "--imei", &imei(7), "--attr", &value]);
    }
    // Restores into an empty directory: the whole backup or nothing.
    let backup = env.path("b.kbk");
    env.ok(&["db", "backup", backup.to_str().unwrap()]);
    let target = Env::directory();
    std::fs::write(target.config(), "[server]\nautostart = false\n").unwrap();
    let full = timed(&target, &["db", "restore", backup.to_str().unwrap()]);
    for step in 0..8u32 {
        let _ = std::fs::remove_dir_all(target.db());
        kill_after(spawn(&target, &["db", "restore", backup.to_str().unwrap()]), full * step / 6);
        if !target.db().exists() {
            continue; // killed before it made the directory
        }
        check_clean(&target, &format!("a restore killed at {step}/6"));
        let count = target.device_count("P");
        assert!(count.is_none() || count == Some(20_000), "all or none: {count:?}");
    }
    eprintln!("uninterrupted restore of 20,000 devices: {full:?}");
}

/// The server killed while a client imports DEP records and another edits devices through it.
#[test]
fn a_killed_server_leaves_each_change_all_or_none() {
    let env = Env::directory();
    let csv = env.write("in.csv", common::devices_csv(1, 2_000));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "P", "--create"]);
    for step in 0..6u32 {
        let (server, _) = common::spawn_server(env.dir.path(), &env.db());
        let before = dep_count(&env);
        let f = dep_file(&env, &format!("s{step}.csv"), 100_000 + step as usize * 5_000, 5_000);
        let import = spawn(&env, &["dep", "import", f.to_str().unwrap()]);
        let edit = spawn(&env, &["devices", "edit", "--profile", "P", "--imei", &imei(3), "--attr", "Note=x"]);
        kill_after(server, Duration::from_millis(40 * u64::from(step)));
        let _ = import.wait_with_output();
        let _ = edit.wait_with_output();
        check_clean(&env, &format!("the server killed at {} ms", 40 * step));
        let now = dep_count(&env);
        assert!(now == before || now == before + 5_000, "all or none: {before} → {now}");
    }
}
