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
/// holder; a server killed leaves a socket that the next command sees is stale, and opens directly.
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
    // The server killed: its socket stays, nobody answers; the next command opens the database itself.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(held);
    assert!(socket.exists(), "a killed server leaves its socket");
    let out = env.ok(&["devices", "list", "--profile", "Dock", "--format", "csv"]);
    assert_eq!(out.lines().count(), 502, "header and 501 devices");
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
