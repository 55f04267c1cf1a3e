//! Secrets on a shared host (issue 14): the database directory and every file kitting writes are
//! private whatever the umask, a directory left readable is tightened, a config file others can write
//! is refused, and the Wi-Fi password is masked as the token is.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use common::Env;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every directory and file under `dir`, with its mode.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut all = vec![(dir.to_path_buf(), true, mode(dir))];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            all.push((p.clone(), m.is_dir(), m.permissions().mode() & 0o7777));
            if m.is_dir() {
                todo.push(p);
            }
        }
    }
    all
}

/// `args` run with umask 000 (every file readable and writable by anyone unless kitting says otherwise).
fn wide_open(env: &Env, args: &[&str]) -> String {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"));
    c.env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .arg("--db")
        .arg(env.db())
        .arg("--config")
        .arg(env.config())
        .args(args);
    // SAFETY: umask only sets the child's file-creation mask, between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        })
    };
    let out = c.output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_database_and_every_file_kitting_writes_are_private_whatever_the_umask() {
    let env = Env::directory();
    std::fs::write(
        env.config(),
        include_str!("../config.example.toml").replace("autostart = true", "autostart = false"),
    )
    .unwrap();
    let csv = env.write("in.csv", common::devices_csv(1, 20));
    wide_open(&env, &["import", csv.to_str().unwrap(), "--profile", "P", "--create"]);
    wide_open(&env, &["config", "set", "--profile", "P", "--system", "wifi_password=hunter22"]);
    let out = env.path("out.csv");
    wide_open(&env, &["export", "--profile", "P", "-o", out.to_str().unwrap()]);
    let png = env.path("qr.png");
    wide_open(&env, &["qr", "--profile", "P", "--png", png.to_str().unwrap()]);
    for (p, is_dir, m) in modes(&env.db()) {
        assert_eq!(m, if is_dir { 0o700 } else { 0o600 }, "{}", p.display());
    }
    assert_eq!((mode(&out), mode(&png)), (0o600, 0o600));

    // Opened up by hand (or by a umask): the next command takes it back.
    for (p, is_dir, _) in modes(&env.db()) {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(if is_dir { 0o755 } else { 0o644 })).unwrap();
    }
    // Something else in the directory that is not kitting's is left as it is.
    let other = env.db().join("notes.txt");
    std::fs::write(&other, "mine").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(&["profiles", "list"]);
    for (p, is_dir, m) in modes(&env.db()) {
        if p != other {
            assert_eq!(m, if is_dir { 0o700 } else { 0o600 }, "{}", p.display());
        }
    }
    assert_eq!(mode(&other), 0o644);
}

#[test]
fn a_config_file_others_can_write_is_refused_and_the_wifi_password_is_masked() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    env.ok(&["config", "set", "--profile", "P", "--system", "wifi_password=hunter22", "--system", "wifi_ssid=Dock"]);
    let shown = env.ok(&["config", "show", "--profile", "P"]);
    assert!(!shown.contains("hunter22") && shown.contains("•••••••• (--reveal shows it)"), "{shown}");
    assert!(shown.contains("Dock"), "{shown}");
    assert!(env.ok(&["config", "show", "--profile", "P", "--reveal"]).contains("hunter22"));

    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, err) = env.run(&["profiles", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("others can write this config file (mode 0666)") && err.contains("chmod o-w"), "{err}");
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(&["profiles", "list"]);
    // A database password in the config, readable by others: a warning.
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(env.config(), format!("db = \"postgres://ann:secret@db.example/kitting\"\n{text}")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .env_remove("KITTING_DB")
        .env("HOME", env.dir.path())
        .args([
            "--config",
            env.config().to_str().unwrap(),
            "--db",
            env.path("db2").to_str().unwrap(),
            "profiles",
            "list",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds a database password and others can read it (mode 0644)"), "{err}");
    assert!(!err.contains("secret"), "the password itself is never said: {err}");
}
