//! The database through the command line: one owning process, directory mode, crash consistency,
//! profiles, devices, tokens, users, exit codes.

mod common;
use common::{Env, devices_csv, imei};

use kitting::store::{SledStore, Store};

#[test]
fn a_second_process_gets_a_clear_message_and_exit_code_1() {
    let env = Env::directory();
    // This test process owns the database: a command's server cannot open it, and the command, opening
    // it directly, is told who holds it.
    let held = SledStore::open(&env.db()).unwrap();
    let (code, out, err) = env.run(&["profiles", "list"]);
    assert_eq!(code, 1, "{out}");
    let want = format!("kitting: database {} is in use by another kitting process: ", env.db().display());
    assert!(err.trim().starts_with(&want), "{err}");
    // It names who holds it: the user, the process, since when.
    let who = format!("user {}, process {}, since 20", kitting::os::user(), std::process::id());
    assert!(err.contains(&who), "{err}");
    assert!(err.trim().ends_with(" UTC"), "{err}");
    assert!(!err.contains("panicked"));
    drop(held);
    env.ok(&["profiles", "list"]);
}

#[cfg(unix)]
#[test]
fn database_directory_is_created_with_mode_0700() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::directory();
    env.ok(&["profiles", "list"]);
    let mode = std::fs::metadata(env.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn default_database_is_under_xdg_data_home_and_kitting_db_overrides() {
    let env = Env::new();
    let mut c = assert_cmd::Command::cargo_bin("kitting").unwrap();
    c.env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .env("XDG_DATA_HOME", env.path("data"))
        .env("XDG_CONFIG_HOME", env.path("cfg"))
        .args(["profiles", "create", "X"])
        .assert()
        .success();
    assert!(env.path("data/kitting/db/kitting.lock").exists());
    let mut c = assert_cmd::Command::cargo_bin("kitting").unwrap();
    c.env("KITTING_DB", env.path("other"))
        .env("XDG_CONFIG_HOME", env.path("cfg"))
        .args(["profiles", "list"])
        .assert()
        .success();
    assert!(env.path("other/kitting.lock").exists());
}

/// Kills imports at many moments; afterwards the database must hold all of an import or none of it,
/// with counts and indexes that agree (checked by `kitting check`).
#[test]
fn killed_imports_leave_all_or_nothing_and_consistent_indexes() {
    let env = Env::new();
    let rows = 20_000u64;
    let exe = assert_cmd::cargo::cargo_bin("kitting");
    let import = |file: &std::path::Path, profile: &str| {
        std::process::Command::new(&exe)
            .arg("--db")
            .arg(env.db())
            .arg("--config")
            .arg(env.config())
            .args(["import", file.to_str().unwrap(), "--profile", profile, "--create"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long an uninterrupted import takes in this build, on a file of the same size.
    let probe = env.write("probe.csv", devices_csv(1_000_000, rows));
    let t = std::time::Instant::now();
    assert!(import(&probe, "Probe").wait().unwrap().success());
    let full = t.elapsed();
    let mut outcomes = Vec::new();
    for step in 0..12u32 {
        // Each run imports its own devices, so that every run can commit.
        let f = env.write(&format!("run{step}.csv"), devices_csv(u64::from(step) * rows, rows));
        let name = format!("Run {step}");
        let delay = full * step / 10; // 0% .. 110% of an uninterrupted import
        let mut child = import(&f, &name);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL: no destructor, no flush
        let _ = child.wait();
        let (code, out, err) = env.run(&["check"]);
        assert_eq!(code, 0, "after a kill at {delay:?}:\n{out}{err}");
        let count = env.device_count(&name);
        assert!(count.is_none() || count == Some(rows), "killed at {delay:?}: partial import {count:?}");
        outcomes.push((delay.as_millis(), count.is_some()));
    }
    eprintln!("uninterrupted import: {full:?}; (kill after ms, committed): {outcomes:?}");
    assert!(!outcomes[0].1, "a kill at once leaves nothing");
    assert!(outcomes.iter().any(|(_, committed)| !committed), "some kills must land mid-import");
}

#[test]
fn profile_names_are_unique_case_insensitive_trimmed_and_checked() {
    let env = Env::new();
    env.ok(&["profiles", "create", "  Dock 3  "]);
    let (code, _, err) = env.run(&["profiles", "create", "dock 3"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = env.run(&["profiles", "create", &"x".repeat(65)]);
    assert_eq!(code, 1);
    assert!(err.contains("at most 64"), "{err}");
    let (code, _, err) = env.run(&["profiles", "create", "bad\u{1b}[31m"]);
    assert_eq!(code, 1);
    assert!(err.contains("control character"), "{err}");
    let (code, _, _) = env.run(&["profiles", "create", "   "]);
    assert_eq!(code, 1);
    assert!(env.ok(&["profiles", "show", "DOCK 3"]).contains("Profile Name:     Dock 3"));
    env.ok(&["profiles", "edit", "dock 3", "--rename", "Dock 4", "--description", "north side"]);
    let show = env.ok(&["profiles", "show", "Dock 4"]);
    assert!(show.contains("north side"), "{show}");
    assert_eq!(env.run(&["profiles", "show", "Dock 3"]).0, 1);
}

#[test]
fn delete_needs_yes_and_removes_devices_and_index_entries() {
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 10));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "A", "--create"]);
    let (code, _, err) = env.run(&["profiles", "delete", "A"]);
    assert_eq!(code, 2);
    assert!(err.contains("removes its 10 devices") && err.contains("--yes"), "{err}");
    env.ok(&["profiles", "delete", "a", "--yes"]);
    env.ok(&["check"]);
    // The same devices can now go to another profile.
    env.ok(&["import", f.to_str().unwrap(), "--profile", "B", "--create"]);
    assert_eq!(env.device_count("B"), Some(10));
}

#[test]
fn devices_add_edit_delete_keep_rules_and_indexes() {
    let env = Env::new();
    env.ok(&["profiles", "create", "A"]);
    env.ok(&["profiles", "create", "B"]);
    env.ok(&["devices", "add", "--profile", "A", "--imei", &imei(1), "--attr", "Asset=7"]);
    env.ok(&["devices", "add", "--profile", "A", "--serial", "SN1", "--manufacturer", "Zebra"]);
    // Rules: identifiers needed, duplicates across profiles named.
    let (code, _, err) = env.run(&["devices", "add", "--profile", "B", "--serial", "SN2"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs a manufacturer"), "{err}");
    let (code, _, err) = env.run(&["devices", "add", "--profile", "B", "--imei", &imei(1)]);
    assert_eq!(code, 1);
    assert!(err.contains("already in profile \"A\" (added by hand)"), "{err}");
    let (code, _, err) = env.run(&["devices", "add", "--profile", "B", "--serial", "sn1", "--manufacturer", "ZEBRA"]);
    assert_eq!(code, 1, "serial and manufacturer compare case-insensitively");
    assert!(err.contains("already in profile \"A\""), "{err}");
    // Edit identifiers and attributes; the old IMEI becomes free.
    env.ok(&[
        "devices",
        "edit",
        "--profile",
        "A",
        "--imei",
        &imei(1),
        "--set-imei",
        &imei(2),
        "--attr",
        "Asset=8",
        "--attr",
        "Bin=3",
    ]);
    env.ok(&["devices", "add", "--profile", "B", "--imei", &imei(1)]);
    let rows = env.devices("A");
    assert_eq!(rows[0], ["IMEI", "Serial Number", "Manufacturer", "Asset", "Bin", "Status", "Source"]);
    assert_eq!(rows[1][..5], [imei(2), "".into(), "".into(), "8".into(), "3".into()]);
    env.ok(&["devices", "edit", "--profile", "A", "--imei", &imei(2), "--unset-attr", "Bin"]);
    assert_eq!(env.devices("A")[1][4], "");
    // Editing into a duplicate is refused and changes nothing.
    let (code, _, _) = env.run(&["devices", "edit", "--profile", "A", "--imei", &imei(2), "--set-imei", &imei(1)]);
    assert_eq!(code, 1);
    assert_eq!(env.devices("A")[1][0], imei(2));
    // A device of another profile is not this profile's.
    let (code, _, err) = env.run(&["devices", "delete", "--profile", "A", "--imei", &imei(1)]);
    assert_eq!(code, 1);
    assert!(err.contains("but in profile \"B\""), "{err}");
    env.ok(&["devices", "delete", "--profile", "A", "--serial", "sn1", "--manufacturer", "zebra"]);
    assert_eq!(env.device_count("A"), Some(1));
    env.ok(&["check"]);
}

#[test]
fn tokens_refresh_extend_and_ranges() {
    let env = Env::new();
    let (code, _, err) = env.run(&["profiles", "create", "P", "--token-days", "100"]);
    assert_eq!(code, 1);
    assert!(err.contains("between 7 and 99"), "{err}");
    env.ok(&["profiles", "create", "P", "--token-days", "30"]);
    let t1 = env.ok(&["token", "show", "--profile", "P"]).trim().to_string();
    assert!(t1.len() >= 22, "at least 128 bits of URL-safe text: {t1}");
    let (code, _, err) = env.run(&["token", "extend", "--profile", "P", "--days", "6"]);
    assert_eq!(code, 1);
    assert!(err.contains("between 7 and 99"), "{err}");
    let out = env.cmd().args(["token", "extend", "--profile", "P", "--days", "10"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("40 days left"), "{:?}", out);
    let t2 = env.ok(&["token", "refresh", "--profile", "P", "--days", "7"]).trim().to_string();
    assert_ne!(t1, t2);
    env.ok(&["devices", "add", "--profile", "P", "--imei", &imei(5)]);
    let (code, _, err) = env.run(&["register", "--token", &t1, "--imei", &imei(5)]);
    assert_eq!(code, 1, "the old token stops working");
    assert!(err.contains("not this flow"), "{err}");
    let out = env.ok(&["register", "--token", &t2, "--imei", &imei(5)]);
    assert!(out.contains("registered"), "{out}");
    assert_eq!(env.devices("P")[1][3], "registered");

    // Tokens are URL-safe base64: one in 64 starts with '-', which must still be read as the value.
    let (code, _, err) = env.run(&["register", "--token", "-i4edKQT1sAggcK-J03frsenXQ30EuW8", "--imei", &imei(5)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not this flow"), "{err}");

    env.ok(&["profiles", "create", "Open", "--without-token"]);
    let (code, _, err) = env.run(&["token", "show", "--profile", "Open"]);
    assert_eq!(code, 1);
    assert!(err.contains("without token"), "{err}");
    env.ok(&["devices", "add", "--profile", "Open", "--serial", "S9", "--manufacturer", "Sony"]);
    env.ok(&["register", "--serial", "s9", "--manufacturer", "SONY"]);
    assert!(env.ok(&["profiles", "list"]).contains("no token"));
}

#[test]
fn users_are_managed_and_referenced_users_cannot_be_deleted() {
    let env = Env::new();
    env.ok(&["users", "add", "akiko", "--name", "Akiko Sato", "--email", "akiko@example.com"]);
    let (code, _, err) = env.run(&["users", "add", "AKIKO"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(env.run(&["users", "add", "bob", "--email", "not-an-email"]).0, 1);
    let (code, _, err) = env.run(&["profiles", "create", "P", "--user", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("no user named \"nobody\""), "{err}");
    env.ok(&["profiles", "create", "P", "--user", "akiko"]);
    let (code, _, err) = env.run(&["users", "delete", "akiko"]);
    assert_eq!(code, 1);
    assert!(err.contains("\"P\""), "{err}");
    env.ok(&["users", "edit", "akiko", "--name", "Akiko S."]);
    assert!(env.ok(&["users", "list"]).contains("Akiko S."));
    env.ok(&["profiles", "edit", "P", "--user", ""]);
    env.ok(&["users", "delete", "akiko"]);
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let env = Env::new();
    assert_eq!(env.run(&["profiles", "frobnicate"]).0, 2);
    assert_eq!(env.run(&["devices", "delete", "--profile", "P", "--serial", "S"]).0, 2, "serial needs manufacturer");
    assert_eq!(env.run(&["devices", "delete", "--profile", "P", "--imei", "123"]).0, 2, "malformed IMEI argument");
    let help = env.ok(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("2  usage error"), "{help}");
    std::fs::write(env.config(), "token_days = 500\n").unwrap();
    let (code, _, err) = env.run(&["profiles", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("config.toml: token_days: token days must be between 7 and 99, got 500"), "{err}");
}

#[test]
fn store_is_shared_between_threads_and_sees_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    use kitting::domain::audit::{Actor, FrontEnd};
    use kitting::ops;
    let core = ops::Ctx::new(store.as_ref(), Actor::named("t", FrontEnd::Cli), chrono::Utc::now());
    let new = kitting::domain::NewProfile { name: "T".into(), ..Default::default() };
    let p = ops::profiles::create(&core, ops::profiles::CreateProfile { profile: new, default_token_days: 7 }).unwrap();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let ctx = ops::Ctx::new(store.as_ref(), Actor::named("t", FrontEnd::Cli), chrono::Utc::now());
                for i in 0..50u64 {
                    let c =
                        ops::devices::AddDevice { profile: "T".into(), imei: imei(t * 1000 + i), ..Default::default() };
                    ops::devices::add(&ctx, c).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.profile_by_id(p.id).unwrap().unwrap().device_count, 200);
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    use std::io::Read;
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 5000));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create"]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kitting"))
        .arg("--db")
        .arg(env.db())
        .args(["devices", "list", "--profile", "P"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take()); // like `| head -1`
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
    }
    env.ok(&["check"]);
}

/// A value the core refuses is named by the flag it came from.
#[test]
fn refusals_name_the_flag() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let cases: [(&[&str], &str); 5] = [
        (&["token", "extend", "--profile", "P", "--days", "100"], "--days: token days must be between 7 and 99"),
        (&["devices", "add", "--profile", "P", "--serial", "SN1"], "--manufacturer: "),
        (&["profiles", "edit", "P", "--rename", ""], "--rename: profile name is empty"),
        (&["profiles", "create", "Q", "--token-days", "3"], "--token-days: token days must be between 7 and 99"),
        (&["users", "add", "alice", "--email", "not-an-address"], "--email: "),
    ];
    for (args, want) in cases {
        let (code, _, err) = env.run(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// `kitting db share --group G`: the directory 2770 and its files 0660, all in G, and what the database
/// creates later stays usable by G; `--private` takes it back to 0700 / 0600.
#[cfg(unix)]
#[test]
fn a_database_is_shared_with_a_group_and_made_private_again() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::directory();
    env.ok(&["profiles", "create", "P"]);
    let gid = std::fs::metadata(env.db()).unwrap().gid();
    let group = kitting::store::share::group_name(gid);
    // The command above started a server, which holds the database: sharing asks to stop it first.
    let (code, _, err) = env.run(&["db", "share", "--group", &group]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("kitting server process") && err.contains("kitting serve --stop"), "{err}");
    assert!(env.ok(&["serve", "--stop"]).starts_with("Stopped the kitting server"));
    let out = env.ok(&["db", "share", "--group", &group]);
    assert!(out.contains(&format!("with group {group}")), "{out}");
    // Something written after sharing: sled's new files too.
    env.ok(&["devices", "add", "--profile", "P", "--imei", &imei(1)]);
    let csv = env.write("more.csv", devices_csv(100, 50));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "P"]);
    let every = |dir: &std::path::Path| -> Vec<(std::path::PathBuf, u32, u32, bool)> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(p) = todo.pop() {
            let m = std::fs::metadata(&p).unwrap();
            out.push((p.clone(), m.permissions().mode() & 0o7777, m.gid(), m.is_dir()));
            if m.is_dir() {
                todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
        out
    };
    for (path, mode, g, dir) in every(&env.db()) {
        assert_eq!(g, gid, "{}", path.display());
        if dir {
            assert_eq!(mode, 0o2770, "{}", path.display());
        } else {
            assert_eq!(mode & 0o660, 0o660, "group read and write: {} {mode:o}", path.display());
            assert_eq!(mode & 0o007, 0, "nobody else: {} {mode:o}", path.display());
        }
    }
    // Outside the group: the message says which group to ask for (the refusal text, as a client sees it).
    let said = kitting::store::share::denied(&env.db());
    assert!(said.ends_with(&format!("ask an administrator to add you to group {group}")), "{said}");
    env.ok(&["serve", "--stop"]);
    let out = env.ok(&["db", "share", "--private"]);
    assert!(out.contains("private to its owner"), "{out}");
    for (path, mode, _, dir) in every(&env.db()) {
        assert_eq!(mode, if dir { 0o700 } else { 0o600 }, "{}", path.display());
    }
    let (code, _, err) = env.run(&["db", "share", "--group", "no-such-group-kitting"]);
    assert_eq!(code, 1);
    assert!(err.contains("no group named \"no-such-group-kitting\""), "{err}");
    env.ok(&["devices", "list", "--profile", "P"]);
}
