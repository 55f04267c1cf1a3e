//! `kitting serve` as a process: the store over its socket; a client of another protocol version and
//! a message that does not parse are refused without harming the server or its other clients.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use kitting::store::Store;
use kitting::store::remote::{PROTOCOL_VERSION, RemoteStore, Request, Response, read_msg, write_msg};

struct Server {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (child, socket) = common::spawn_server(dir.path(), &dir.path().join("db"));
    Server { child, socket, _dir: dir }
}

#[test]
fn another_protocol_version_is_refused_naming_both() {
    let s = server();
    let mut conn = UnixStream::connect(&s.socket).unwrap();
    write_msg(&mut conn, &Request::Hello { version: PROTOCOL_VERSION + 41 }).unwrap();
    let answer: Response = read_msg(&mut conn).unwrap();
    let e = answer.unwrap_err().to_string();
    assert!(e.contains(&(PROTOCOL_VERSION + 41).to_string()) && e.contains(&PROTOCOL_VERSION.to_string()), "{e}");
    // The right version is served.
    let store = RemoteStore::connect(&s.socket).unwrap();
    assert!(store.profiles().unwrap().is_empty());
}

#[test]
fn a_message_that_does_not_parse_closes_that_connection_only() {
    let s = server();
    let store = RemoteStore::connect(&s.socket).unwrap();
    // Garbage, then a length far over the limit: the server hangs up on this client.
    for bad in [&b"\x05\x00\x00\x00\xff\xff\xff\xff\xff"[..], &b"\xff\xff\xff\xff"[..]] {
        let mut conn = UnixStream::connect(&s.socket).unwrap();
        conn.write_all(bad).unwrap();
        let mut rest = Vec::new();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        assert_eq!(conn.read_to_end(&mut rest).unwrap(), 0, "closed, nothing answered");
    }
    // The server and its other client carry on.
    assert!(store.profiles().unwrap().is_empty());
    assert!(RemoteStore::connect(&s.socket).unwrap().check().unwrap().is_empty());
}

/// With a server running, every command is its client: commands run at the same time as a workstation's
/// connection, an import and a listing at once; opened directly, the database names the server as its
/// holder; a server killed leaves a socket that the next command sees is stale: it starts a server of its
/// own in the background, and the commands after it are its clients.
#[test]
fn commands_are_clients_of_a_running_server_and_a_stale_socket_is_passed_over() {
    let env = common::Env::new();
    env.ok(&["profiles", "create", "Dock"]);
    let (mut child, socket) = common::spawn_server(env.dir.path(), &env.db());
    let held = RemoteStore::connect(&socket).unwrap();
    // Several processes at once, while another client is connected.
    let csv = env.write("in.csv", common::devices_csv(1, 500));
    let mut importer = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .args(["--db", env.db().to_str().unwrap(), "--config", env.config().to_str().unwrap()])
        .args(["import", csv.to_str().unwrap(), "--profile", "Dock"])
        .env("HOME", env.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.ok(&["devices", "add", "--profile", "Dock", "--serial", "SN-BENCH-1", "--manufacturer", "Zebra"]);
    let list = env.ok(&["profiles", "list"]);
    assert!(list.contains("Dock"), "{list}");
    assert!(importer.wait().unwrap().success(), "the import, beside the other commands");
    assert_eq!(held.profile("Dock").unwrap().unwrap().device_count, 501, "the import and the add, both");
    // Opened directly, the database is held by the server, which the refusal names.
    let direct = kitting::store::SledStore::open(&env.db()).map(|_| ()).unwrap_err().to_string();
    assert!(direct.contains(&format!("process {}", child.id())), "{direct}");
    // The server killed: its socket stays, nobody answers; the next command starts a new server.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(held);
    assert!(socket.exists(), "a killed server leaves its socket");
    let out = env.ok(&["devices", "list", "--profile", "Dock", "--format", "csv"]);
    assert_eq!(out.lines().count(), 502, "header and 501 devices");
    let lock = std::fs::read_to_string(env.db().join("kitting.lock")).unwrap();
    assert!(lock.contains(kitting::store::SERVER_HOLDER), "a server holds it again: {lock}");
    assert!(!lock.contains(&format!("process {},", child.id())), "a new one: {lock}");
    let check = env.ok(&["check"]);
    assert!(check.contains("is consistent: 1 profiles, 501 devices"), "{check}");
}

/// The audit trail records the operating-system user the socket says, not the user a client writes;
/// the front-end and the SSH address stay the client's.
#[test]
fn the_audit_trail_records_the_sockets_user_not_what_the_client_says() {
    use kitting::domain::audit::{Actor, AuditEntry, AuditOutcome, AuditQuery, FrontEnd};
    let s = server();
    let store = RemoteStore::connect(&s.socket).unwrap();
    let mut actor = Actor::named("mallory", FrontEnd::Workstation);
    actor.ssh_client = Some("192.0.2.9".into());
    let entry = AuditEntry {
        id: 0,
        at: chrono::Utc::now(),
        actor,
        command: "profile.create".into(),
        profile: None,
        target: "P".into(),
        outcome: AuditOutcome::Refused("test".into()),
        counts: None,
    };
    store.append_audit(&entry).unwrap();
    let recorded = store.audit(&AuditQuery::default()).unwrap().remove(0);
    assert_eq!(recorded.actor.user, kitting::os::user(), "the socket's user");
    assert_ne!(recorded.actor.user, "mallory");
    assert_eq!(recorded.actor.ssh_client.as_deref(), Some("192.0.2.9"));
    assert_eq!(recorded.actor.front_end, FrontEnd::Workstation);
}

/// The socket is as open as the database: 0600 for a private one, 0660 for one shared with a group.
#[test]
fn the_socket_is_as_open_as_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let env = common::Env::new();
    env.ok(&["profiles", "create", "P"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let (mut child, socket) = common::spawn_server(env.dir.path(), &env.db());
    assert_eq!(mode(&socket), 0o600);
    child.kill().unwrap();
    child.wait().unwrap();
    let gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(env.db()).unwrap());
    env.ok(&["db", "share", "--group", &kitting::store::share::group_name(gid)]);
    let (mut child, socket) = common::spawn_server(env.dir.path(), &env.db());
    assert_eq!(mode(&socket), 0o660);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Rows of the import the fault tests interrupt: long enough that 400 ms is in its middle.
const BIG: u64 = 150_000;

/// A server, and 400 ms into a 150,000-row CLI import (about a second) through it, on a fresh profile.
fn importing() -> (common::Env, std::process::Child, std::path::PathBuf, std::process::Child) {
    let env = common::Env::new();
    env.ok(&["profiles", "list"]);
    let csv = env.write("big.csv", common::devices_csv(1, BIG));
    let (server, socket) = common::spawn_server(env.dir.path(), &env.db());
    let import = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
        .args(["--db", env.db().to_str().unwrap(), "--config", env.config().to_str().unwrap()])
        .args(["import", csv.to_str().unwrap(), "--profile", "Big", "--create"])
        .env("HOME", env.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    (env, server, socket, import)
}

/// How many devices profile Big has (none when it is not there), after `kitting check` found the
/// database consistent (directly, or through the server the failed import's client started to record
/// its refusal).
fn big_devices(env: &common::Env) -> u64 {
    let (code, out, err) = env.run(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    env.device_count("Big").unwrap_or(0)
}

/// kill -9 of the server in the middle of an import leaves all of it or none.
#[test]
fn a_server_killed_during_an_import_leaves_all_of_it_or_none() {
    let (env, mut server, _, mut import) = importing();
    server.kill().unwrap();
    server.wait().unwrap();
    let finished = import.wait().unwrap();
    let n = big_devices(&env);
    eprintln!("server killed during an import: {n} devices afterwards, the import {finished:?}");
    assert!(n == 0 || n == BIG, "all or none, not {n}");
    assert_eq!(finished.success(), n == BIG, "the import says whether it was done: {finished:?}, {n} devices");
}

/// A client killed in the middle of an import leaves none of it, and the server carries on.
#[test]
fn a_client_killed_during_an_import_leaves_none_of_it() {
    let (env, mut server, socket, mut import) = importing();
    import.kill().unwrap();
    let killed = import.wait().unwrap();
    // The server is still there, and its writer lock was let go: a small import goes through.
    let small = env.write("small.csv", common::devices_csv(100_000, 3));
    let out = env.ok(&["import", small.to_str().unwrap(), "--profile", "Small", "--create"]);
    assert!(out.contains('3'), "{out}");
    let store = RemoteStore::connect(&socket).unwrap();
    let big = store.profile("Big").unwrap().map_or(0, |p| p.device_count);
    eprintln!("client killed during an import: {big} devices afterwards, the client {killed:?}");
    assert!(big == 0 || (big == BIG && killed.success()), "none of a killed import, not {big}");
    server.kill().unwrap();
    server.wait().unwrap();
    drop(store);
    assert_eq!(big_devices(&env), big);
}

/// A server killed and started again: the client's next call fails with a clear message, the one after
/// reaches the new server; nothing confirmed before is lost.
#[test]
fn a_client_reconnects_to_a_server_started_again_and_loses_nothing_confirmed() {
    let env = common::Env::new();
    env.ok(&["profiles", "create", "Dock"]);
    let (mut first, socket) = common::spawn_server(env.dir.path(), &env.db());
    let store = RemoteStore::connect(&socket).unwrap();
    let before = store.profiles().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let e = store.profiles().unwrap_err().to_string();
    assert!(e.contains("stopped answering") && e.contains("the next action connects again"), "{e}");
    let (mut second, _) = common::spawn_server(env.dir.path(), &env.db());
    assert_eq!(store.profiles().unwrap(), before, "the same client, through the new server");
    env.ok(&["devices", "add", "--profile", "Dock", "--imei", &common::imei(7)]);
    assert_eq!(store.profile("Dock").unwrap().unwrap().device_count, 1);
    second.kill().unwrap();
    second.wait().unwrap();
}

/// The example configuration with one `[server]` line changed.
fn with_server_settings(env: &common::Env, setting: &str) {
    let config = std::fs::read_to_string(env.config()).unwrap();
    let key = setting.split('=').next().unwrap().trim();
    let line = config.lines().find(|l| l.starts_with(&format!("{key} ="))).expect("the example sets it");
    std::fs::write(env.config(), config.replace(line, setting)).unwrap();
}

/// The tmux model: a command that finds no server starts one in the background, the next commands are
/// its clients, and it stops by itself once idle (`[server] idle_exit`), removing its socket.
#[test]
fn a_command_starts_a_server_that_stops_once_idle() {
    let env = common::Env::new();
    with_server_settings(&env, "idle_exit = 1");
    env.ok(&["profiles", "create", "P"]);
    let socket = env.db().join(kitting::store::remote::SOCKET);
    assert!(socket.exists(), "a server listens");
    let pid = common::holder_pid(&env.db()).expect("a server holds the database");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "server process {pid} runs");
    let direct = kitting::store::SledStore::open(&env.db()).map(|_| ()).unwrap_err().to_string();
    assert!(direct.contains(&format!("kitting server process {pid}")), "{direct}");
    // The next command is a client of the same server.
    assert!(env.ok(&["profiles", "list"]).contains('P'));
    assert_eq!(common::holder_pid(&env.db()), Some(pid), "the same server");
    // Idle for a second: it stops, and lets go of the database.
    let started = std::time::Instant::now();
    while socket.exists() || std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists() {
        assert!(started.elapsed().as_secs() < 20, "the idle server never stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let store = kitting::store::SledStore::open(&env.db()).unwrap();
    assert_eq!(store.profiles().unwrap().len(), 1, "what it served is kept");
    drop(store);
    assert!(env.ok(&["serve", "--stop"]).starts_with("No kitting server runs"));
}

/// `[server] autostart = false`: a command opens the database itself, and leaves no server behind.
#[test]
fn without_autostart_a_command_opens_the_database_itself() {
    let env = common::Env::new();
    with_server_settings(&env, "autostart = false");
    env.ok(&["profiles", "create", "P"]);
    assert!(!env.db().join(kitting::store::remote::SOCKET).exists(), "no server was started");
    assert_eq!(common::holder_pid(&env.db()), None, "the command held it, as a process of its own");
    assert_eq!(kitting::store::SledStore::open(&env.db()).unwrap().profiles().unwrap().len(), 1);
}

/// Commands started at the same moment on a database without a server all succeed, through one server:
/// the servers they start race for the lock, the losers give way, and every command connects to the
/// winner.
#[test]
fn commands_started_at_once_share_one_server() {
    let env = common::Env::new();
    env.ok(&["serve", "--stop"]); // creates nothing, starts nothing
    let children: Vec<_> = (0..6)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
                .args(["--db", env.db().to_str().unwrap(), "--config", env.config().to_str().unwrap()])
                .args(["profiles", "create", &format!("P{i}")])
                .env("HOME", env.dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let json = env.ok(&["profiles", "list", "--format", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap().as_array().unwrap().len(), 6);
    let db = env.db().to_str().unwrap().to_string();
    let servers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&db) && c.contains(" serve "))
        .count();
    assert_eq!(servers, 1, "one server serves the database");
    env.ok(&["serve", "--stop"]);
}

/// `kitting serve --stop` is answered before the server ends (it once ended first: "stopped answering"),
/// and the database is free when it returns.
#[test]
fn serve_stop_is_answered_and_lets_go_of_the_database() {
    let env = common::Env::new();
    for _ in 0..10 {
        env.ok(&["profiles", "list"]);
        assert!(env.ok(&["serve", "--stop"]).starts_with("Stopped the kitting server"));
        drop(kitting::store::SledStore::open(&env.db()).expect("free once the stop returns"));
    }
}
