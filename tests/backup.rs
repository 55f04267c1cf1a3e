//! `kitting db backup` and `kitting db restore` (issue 14): a consistent, versioned backup made while
//! others keep working through the server; restored into an empty database it passes `check` and
//! exports the same inventory; a database that holds anything is refused without `--force`, and set
//! aside (kept) with it; a newer or damaged backup is refused; the file is 0600.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, imei};

/// A command of this workspace (its HOME and config) on the database directory `db`.
fn on(env: &Env, db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.dir.path().join("xdg-config"))
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(env.config())
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn exports(env: &Env, db: &std::path::Path) -> (String, String) {
    let (c1, android, e1) = on(env, db, &["export", "--profile", "P"]);
    let (c2, dep, e2) = on(env, db, &["dep", "export"]);
    assert_eq!((c1, c2), (0, 0), "{e1} {e2}");
    (android, dep)
}

#[test]
fn a_backup_restores_into_an_empty_database_as_it_was() {
    let env = Env::directory();
    std::fs::write(env.config(), "[server]\nautostart = false\n").unwrap();
    let csv = env.write("in.csv", common::devices_csv(1, 300));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "P", "--create"]);
    env.ok(&["register", "--token", env.ok(&["token", "show", "--profile", "P"]).trim(), "--imei", &imei(5)]);
    env.ok(&["catalog", "organizations", "add", "Sales"]);
    let dep = env.write(
        "dep.csv",
        "UserName,Organizations,Identifier,OS,RegistrationEmail\ntaro,Sales,D1,ios,t@example.com\n,,D2,android,\n",
    );
    env.ok(&["dep", "import", dep.to_str().unwrap()]);
    let file = env.path("inventory.kbk");
    let out = env.ok(&["db", "backup", file.to_str().unwrap()]);
    assert!(out.contains("Backed up 1 profiles, 300 devices, 1 users, 1 catalog entries, 2 DEP devices"), "{out}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read(&file).unwrap().starts_with(b"kitting backup 1\n"));
    // An existing backup file is not replaced unasked.
    let (code, _, err) = env.run(&["db", "backup", file.to_str().unwrap()]);
    assert!(code == 1 && err.contains("exists already; it was left as it is (add --force"), "{err}");

    let fresh = env.path("restored");
    let (code, out, err) = on(&env, &fresh, &["db", "restore", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("Verified: the database holds what the backup held"), "{out}");
    assert_eq!(exports(&env, &env.db()), exports(&env, &fresh), "the same inventory");
    let (_, check, _) = on(&env, &fresh, &["check"]);
    assert!(check.contains("is consistent: 1 profiles, 300 devices"), "{check}");
    let (_, audit, _) = on(&env, &fresh, &["audit"]);
    assert!(audit.contains("db.restore") && audit.contains("import"), "the trail came along: {audit}");

    // Into a database that holds anything: refused, then with --force set aside (kept) and restored.
    let (code, _, err) = on(&env, &fresh, &["db", "restore", file.to_str().unwrap()]);
    assert!(code == 1 && err.contains("add --force to move this directory aside first"), "{err}");
    let (code, out, err) = on(&env, &fresh, &["db", "restore", file.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(err.contains("moved the database that was there to"), "{err}");
    let aside: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("restored.replaced-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let (_, check, _) = on(&env, &env.path(&aside[0]), &["check"]);
    assert!(check.contains("1 profiles, 300 devices"), "the old one is intact: {check}");

    // A newer format, and a damaged file.
    let bytes = std::fs::read(&file).unwrap();
    let newer = env.write("newer.kbk", [b"kitting backup 9\n".as_slice(), &bytes[17..]].concat());
    let (code, _, err) = on(&env, &env.path("empty1"), &["db", "restore", newer.to_str().unwrap()]);
    assert!(code == 1 && err.contains("format version 9; this kitting reads up to version 1"), "{err}");
    let cut = env.write("cut.kbk", &bytes[..bytes.len() / 2]);
    let (code, _, err) = on(&env, &env.path("empty2"), &["db", "restore", cut.to_str().unwrap()]);
    assert!(code == 1 && err.contains("not a kitting backup"), "{err}");
    let (_, check, _) = on(&env, &env.path("empty2"), &["check"]);
    assert!(check.contains("0 profiles, 0 devices"), "nothing restored: {check}");
}

/// Made through the server while another process keeps adding devices: the backup is consistent (it
/// restores and passes `check`, its counts are its header's), and the adds all succeeded.
#[test]
fn a_backup_is_consistent_while_clients_keep_working() {
    let env = Env::directory();
    let csv = env.write("in.csv", common::devices_csv(1, 2_000));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "P", "--create"]);
    let (mut server, _) = common::spawn_server(env.dir.path(), &env.db());
    let writer = {
        let cmd = |n: u64| {
            let mut c = env.cmd();
            c.args(["devices", "add", "--profile", "P", "--imei", &imei(10_000 + n)]);
            c
        };
        let cmds: Vec<_> = (0..30).map(cmd).collect();
        std::thread::spawn(move || cmds.into_iter().all(|mut c| c.output().unwrap().status.success()))
    };
    let file = env.path("busy.kbk");
    let out = env.ok(&["db", "backup", file.to_str().unwrap()]);
    assert!(writer.join().unwrap(), "every add went through during the backup");
    assert!(out.contains("Backed up 1 profiles,"), "{out}");
    let fresh = env.path("restored");
    let (code, out, err) = on(&env, &fresh, &["db", "restore", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("Verified"), "{out}");
    let (_, check, _) = on(&env, &fresh, &["check"]);
    assert!(check.contains("is consistent"), "{check}");
    server.kill().unwrap();
    server.wait().unwrap();
}
