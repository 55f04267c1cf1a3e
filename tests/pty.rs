//! End to end: the real binary in a pseudo-terminal (portable-pty), the screen read back through a
//! terminal emulator (vt100), keys typed as a technician types them; then the database checked with the CLI.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Session {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Session {
    fn start(env: &Env, cols: u16, rows: u16) -> Session {
        Session::start_with(env, cols, rows, &[])
    }

    fn start_with(env: &Env, cols: u16, rows: u16, args: &[&str]) -> Session {
        Session::start_answering(env, cols, rows, args, PLAIN_TERMINAL)
    }

    /// Starts the workstation in a terminal that answers its start-up queries (device attributes, cell
    /// size, device status report) with `answer`, as a real terminal does; vt100 itself answers none.
    fn start_answering(env: &Env, cols: u16, rows: u16, args: &[&str], answer: &'static str) -> Session {
        let pty = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kitting"));
        cmd.args(["--db", env.db().to_str().unwrap(), "--config", env.config().to_str().unwrap()]);
        cmd.args(args);
        cmd.cwd(env.dir.path());
        cmd.env("HOME", env.dir.path());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows.try_into().unwrap(), cols.try_into().unwrap(), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::new(Mutex::new(pty.master.take_writer().unwrap()));
        let (s, r, w) = (screen.clone(), raw.clone(), writer.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().process(&buf[..n]);
                let mut raw = r.lock().unwrap();
                let before = raw.len();
                raw.extend_from_slice(&buf[..n]);
                // A device status report asked (it ends the graphics queries): answer like a terminal.
                let from = before.saturating_sub(3);
                if raw[from..].windows(4).any(|q| q == b"\x1b[5n") {
                    let mut w = w.lock().unwrap();
                    w.write_all(answer.as_bytes()).unwrap();
                    w.flush().unwrap();
                }
            }
        });
        // Keep the master open for the session's life (dropping it hangs up the terminal).
        std::mem::forget(pty.master);
        Session { writer, screen, raw, child }
    }

    fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_for_within(what, Duration::from_secs(20))
    }

    fn wait_for_within(&self, what: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            assert!(start.elapsed() < limit, "waited for {what:?}; the screen shows:\n{text}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Keys are sent one by one with a pause, as typed (an Esc followed at once by a key reads as Alt).
    fn keys(&mut self, keys: &str) {
        for c in keys.chars() {
            let mut b = [0u8; 4];
            let mut w = self.writer.lock().unwrap();
            w.write_all(c.encode_utf8(&mut b).as_bytes()).unwrap();
            w.flush().unwrap();
            drop(w);
            std::thread::sleep(Duration::from_millis(if c == '\x1b' { 150 } else { 15 }));
        }
    }

    fn wait_exit(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the workstation did not exit:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// The terminal as it was: alternate screen left, cursor shown again at the end.
    fn assert_restored(&self) {
        let raw = String::from_utf8_lossy(&self.raw()).into_owned();
        assert!(raw.contains("\x1b[?1049l"), "left the alternate screen");
        assert!(raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l"), "the cursor is shown again at the end");
    }

    fn raw(&self) -> Vec<u8> {
        std::thread::sleep(Duration::from_millis(200));
        self.raw.lock().unwrap().clone()
    }
}

/// A terminal without graphics: a VT220's device attributes, then the status report.
const PLAIN_TERMINAL: &str = "\x1b[?62;22c\x1b[0n";
/// A terminal that shows sixel images (attribute 4) with 10x20-pixel cells.
const SIXEL_TERMINAL: &str = "\x1b[?62;4;22c\x1b[6;20;10t\x1b[0n";

const CSV: &str = "IMEI,Serial Number,Manufacturer,Asset Tag
490154203237518,,,A-001
356938035643809,R58M12ABC,Samsung,A-002
,SN-ZEBRA-7,Zebra,A-003
";

#[test]
fn wizard_creates_a_profile_then_refresh_token_delete_a_device_and_quit() {
    let env = Env::new();
    env.write("devices.csv", CSV);
    let mut s = Session::start(&env, 100, 30);
    s.wait_for("No profile yet");
    s.keys("n");
    s.wait_for("Add profile");
    s.keys("Dock 7\t");
    s.keys("first shift\t");
    s.keys("devi\t"); // Tab completes the path
    s.wait_for("devices.csv");
    s.keys("\r");
    let report = s.wait_for("3 valid");
    assert!(report.contains("Every row is valid"), "{report}");
    s.keys("\r");
    s.wait_for("created Dock 7 with 3 devices");
    let token_before = env.run(&["token", "show", "--profile", "Dock 7"]).1;
    s.keys("r");
    s.wait_for("Refresh the token of Dock 7");
    s.keys("\r");
    s.wait_for("token valid until");
    s.keys("j");
    s.keys("d");
    s.wait_for("Delete IMEI 356938035643809 from Dock 7?");
    s.keys("y");
    s.wait_for("deleted 1 device");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    s.assert_restored();

    // The database, through the CLI: two devices left, the Samsung one gone, a new token.
    let (code, out, err) = env.run(&["devices", "list", "--profile", "Dock 7", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.contains("R58M12ABC"), "{out}");
    assert!(out.contains("SN-ZEBRA-7"));
    let token_after = env.run(&["token", "show", "--profile", "Dock 7"]).1;
    assert_ne!(token_before, token_after);
    let (_, show, _) = env.run(&["profiles", "show", "Dock 7"]);
    assert!(show.contains("first shift"), "{show}");
    assert_eq!(env.run(&["check"]).0, 0);
}

#[test]
fn ctrl_c_quits_cleanly_from_inside_a_form() {
    let env = Env::new();
    env.write("devices.csv", CSV);
    assert_eq!(env.run(&["import", "devices.csv", "--profile", "Dock 7", "--create"]).0, 1, "relative to cwd");
    let csv = env.path("devices.csv");
    assert_eq!(env.run(&["import", csv.to_str().unwrap(), "--profile", "Dock 7", "--create"]).0, 0);
    let mut s = Session::start(&env, 80, 24);
    s.wait_for("Dock 7");
    s.keys("\r");
    s.wait_for("R58M12ABC");
    s.keys("t");
    s.wait_for("Extend the token");
    s.keys("\x03");
    assert_eq!(s.wait_exit(), 0);
    s.assert_restored();
}

#[test]
fn in_a_terminal_that_answers_sixel_the_qr_code_is_sent_as_a_sixel_image_at_80x24() {
    let env = Env::new();
    let csv = env.write("devices.csv", CSV);
    assert_eq!(env.run(&["import", csv.to_str().unwrap(), "--profile", "Dock 7", "--create"]).0, 0);
    let set = ["config", "set", "--profile", "Dock 7", "--system", "wifi_ssid=Warehouse-Kitting-5G"];
    assert_eq!(env.run(&set).0, 0);
    let mut s = Session::start_answering(&env, 80, 24, &[], SIXEL_TERMINAL);
    s.wait_for("Dock 7");
    s.keys("\r");
    s.wait_for("R58M12ABC");
    let before = s.raw().len();
    s.keys("Q");
    let screen = s.wait_for("sixel image");
    assert!(screen.contains("pixels per module"), "{screen}");
    let raw = s.raw();
    let sent = String::from_utf8_lossy(&raw[before..]).into_owned();
    // DCS P1;P2;P3 q ... ST: a sixel image.
    let start = sent.find("\x1bP").unwrap_or_else(|| panic!("a DCS sequence: {sent:?}"));
    let dcs = &sent[start..];
    assert!(dcs[..12].contains('q'), "a sixel introducer: {:?}", &dcs[..12]);
    assert!(dcs.contains("\x1b\\"), "the image ends");
    s.keys("q");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    s.assert_restored();
}

#[test]
fn a_database_in_use_is_refused_before_the_terminal_is_touched() {
    let env = Env::new();
    let _held = kitting::store::SledStore::open(&env.db()).unwrap();
    let mut s = Session::start(&env, 80, 24);
    assert_eq!(s.wait_exit(), 1);
    let raw = String::from_utf8_lossy(&s.raw()).into_owned();
    assert!(raw.contains("is in use by another kitting process"), "{raw:?}");
    assert!(!raw.contains("\x1b[?1049h"), "never entered the alternate screen: {raw:?}");
}

#[test]
fn below_80x24_it_says_the_size_it_needs() {
    let env = Env::new();
    let mut s = Session::start(&env, 70, 20);
    s.wait_for("terminal too small: need 80x24");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
}

/// `n` valid IMEIs from `first` on (TAC 35209900, consecutive serials).
fn imeis(first: u32, n: u32) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let body = format!("35209900{i:06}");
            let check = kitting::domain::imei::luhn_check_digit(&body);
            format!("{body}{check}")
        })
        .collect()
}

#[test]
fn a_burst_of_1000_scans_is_recorded_completely_and_in_order() {
    let env = Env::new();
    env.write("devices.csv", CSV);
    let csv = env.path("devices.csv");
    assert_eq!(env.run(&["import", csv.to_str().unwrap(), "--profile", "Dock 7", "--create"]).0, 0);
    let mut s = Session::start_with(&env, 80, 24, &["scan", "--profile", "Dock 7", "--attr", "Asset Tag=BOX-9"]);
    s.wait_for("Scan station");
    // What a scanner sends, as fast as the terminal takes it: each IMEI then CR (some scanners send Tab
    // or LF: every tenth ends so), and one refused scan in the middle that must not touch its neighbours.
    let scans = imeis(100, 1000);
    let mut burst = String::new();
    for (i, imei) in scans.iter().enumerate() {
        burst.push_str(imei);
        burst.push(match i % 10 {
            3 => '\t',
            7 => '\n',
            _ => '\r',
        });
        if i == 500 {
            burst.push_str("12345\r");
        }
    }
    let mut w = s.writer.lock().unwrap();
    w.write_all(burst.as_bytes()).unwrap();
    w.flush().unwrap();
    drop(w);
    let text = s.wait_for_within("accepted 1000", Duration::from_secs(120));
    assert!(text.contains("refused 1"), "{text}");
    s.keys("\x1b");
    s.wait_for("scan station closed: 1000 accepted");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    s.assert_restored();

    let (code, out, err) = env.run(&["devices", "list", "--profile", "Dock 7", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<&str> = out.lines().skip(4).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(listed, scans.iter().map(String::as_str).collect::<Vec<_>>(), "every scan, in order");
    assert!(out.lines().skip(4).all(|l| l.contains("BOX-9")), "the session's attribute on each");
    let (_, trail, _) = env.run(&["audit", "--format", "csv"]);
    assert_eq!(trail.lines().filter(|l| l.contains("scan.receive")).count(), 1001, "one entry per scan");
    assert_eq!(env.run(&["check"]).0, 0);
}

/// Two workstations on one database through a kitting server, and an import from the command line at the
/// same time: both screens show the imported devices without a key press.
#[test]
fn two_workstations_see_a_command_line_import_without_a_key_press() {
    let env = Env::new();
    let first = env.write("first.csv", CSV);
    env.ok(&["import", first.to_str().unwrap(), "--profile", "Dock", "--create"]);
    let (mut server, _) = common::spawn_server(env.dir.path(), &env.db());
    let mut a = Session::start(&env, 100, 30);
    let mut b = Session::start(&env, 100, 30);
    for s in [&mut a, &mut b] {
        s.wait_for("Dock");
        s.keys("\r");
        s.wait_for("A-003");
    }
    let more = env.write("more.csv", "IMEI,Serial Number,Manufacturer,Asset Tag\n352099001761481,,,A-100\n");
    env.ok(&["import", more.to_str().unwrap(), "--profile", "Dock"]);
    for s in [&a, &b] {
        let text = s.wait_for_within("A-100", Duration::from_secs(10));
        assert!(text.contains("352099001761481"), "{text}");
    }
    // Both open the first device's form; the first saves, the second's save is a conflict that names
    // who saved, shows what the device holds now and keeps what was typed.
    for (s, typed) in [(&mut a, "-ann"), (&mut b, "-bob")] {
        s.keys("e");
        s.wait_for("Asset Tag");
        s.keys("\t\t\t\t");
        s.keys(typed);
        s.wait_for(&format!("A-001{typed}"));
    }
    a.keys("\r");
    a.wait_for("saved");
    b.keys("\r");
    let text = b.wait_for_within("was changed by", Duration::from_secs(10));
    assert!(text.contains("Now:") && text.contains("A-001-ann"), "{text}");
    assert!(text.contains("A-001-bob"), "what was typed is kept: {text}");
    b.keys("\x1b\x1b");
    for s in [&mut a, &mut b] {
        s.keys("\x03");
        assert_eq!(s.wait_exit(), 0);
        s.assert_restored();
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let out = env.ok(&["devices", "list", "--profile", "Dock", "--format", "csv"]);
    assert_eq!(out.lines().count(), 5, "header, three devices and the imported one: {out}");
    assert!(out.contains("A-001-ann") && !out.contains("A-001-bob"), "the first save stands: {out}");
}

/// A workstation on profile Dock (imported first from `CSV`), its devices shown.
fn open_dock(env: &Env) -> Session {
    let first = env.write("first.csv", CSV);
    env.ok(&["import", first.to_str().unwrap(), "--profile", "Dock", "--create"]);
    let mut a = Session::start(env, 100, 30);
    a.wait_for("Dock");
    a.keys("\r");
    a.wait_for("A-003");
    a
}

/// Another process imports one device (A-100) into Dock; returns the workstation's screen once it
/// shows it, without a key press.
fn others_import_shows(env: &Env, a: &Session) -> String {
    let more = env.write("more.csv", "IMEI,Serial Number,Manufacturer,Asset Tag\n352099001761481,,,A-100\n");
    env.ok(&["import", more.to_str().unwrap(), "--profile", "Dock"]);
    a.wait_for_within("A-100", Duration::from_secs(10))
}

/// Quits with Ctrl-C and checks the terminal is left as it was.
fn quit(mut a: Session) {
    a.keys("\x03");
    assert_eq!(a.wait_exit(), 0);
    a.assert_restored();
}

/// The workstation's server killed (kill -9): the workstation says so, starts a new server itself, and
/// its screen follows the others' changes again without a key press; nothing saved is lost.
#[test]
fn a_workstation_reconnects_after_its_server_is_killed() {
    let env = Env::new();
    let a = open_dock(&env);
    let killed = common::holder_pid(&env.db()).expect("a server serves the workstation");
    // SAFETY: kill sends a signal; the pid is the test's own server.
    assert_eq!(unsafe { libc::kill(killed as i32, libc::SIGKILL) }, 0);
    a.wait_for_within("server stopped, reconnecting", Duration::from_secs(10));
    a.wait_for_within("reconnected; the screens are read again", Duration::from_secs(20));
    let now = common::holder_pid(&env.db()).expect("a new server");
    assert_ne!(now, killed, "a new server");
    let text = others_import_shows(&env, &a);
    assert!(text.contains("A-003"), "what was there before is kept: {text}");
    quit(a);
}

/// Two kitting processes on one PostgreSQL database, as if on two hosts: a workstation on one shows an
/// import made on the other without a key press (LISTEN/NOTIFY), also after the server restarted, and
/// two imports of the same IMEI
/// into different profiles at once: one wins, the other is refused naming it.
#[test]
fn on_postgres_a_workstation_sees_another_hosts_import_and_a_duplicate_across_hosts_is_refused() {
    let Some(server) = common::pg::server() else { return };
    let env = Env::on_postgres(&common::pg::fresh(&server));
    let a = open_dock(&env);
    let text = others_import_shows(&env, &a);
    assert!(text.contains("352099001761481"), "{text}");
    // The PostgreSQL server stopped and started again (where the cluster's control script is known: the
    // other tests of this binary use no PostgreSQL, so the restart cuts nobody else): the workstation
    // says it lost the database, reconnects by itself and follows the other host's changes again.
    if let Some(script) = common::pg::setting("KITTING_TEST_POSTGRES_CTL", "the cluster's control script") {
        let ctl = |args: &[&str]| assert!(std::process::Command::new(&script).args(args).status().unwrap().success());
        ctl(&["stop", "fast"]);
        a.wait_for_within("lost the database, reconnecting", Duration::from_secs(10));
        ctl(&["start"]);
        a.wait_for_within("reconnected; the screens are read again", Duration::from_secs(20));
        let later = env.write("later.csv", "IMEI,Serial Number,Manufacturer,Asset Tag\n490154203237534,,,A-200\n");
        env.ok(&["import", later.to_str().unwrap(), "--profile", "Dock"]);
        let text = a.wait_for_within("A-200", Duration::from_secs(10));
        assert!(text.contains("A-003"), "what was there before is kept: {text}");
    }
    quit(a);
    // The same IMEI into two profiles from two processes at once.
    let clash = env.write("clash.csv", "IMEI\n356938035643817\n");
    let start = |profile: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kitting"))
            .args(["--db", env.db().to_str().unwrap(), "--config", env.config().to_str().unwrap()])
            .args(["import", clash.to_str().unwrap(), "--profile", profile, "--create"])
            .env("HOME", env.dir.path())
            .output()
    };
    let (one, two) = std::thread::scope(|t| {
        let one = t.spawn(|| start("Osaka").unwrap());
        let two = t.spawn(|| start("Tokyo").unwrap());
        (one.join().unwrap(), two.join().unwrap())
    });
    let won = [&one, &two].iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "one import wins: {one:?} {two:?}");
    let lost = if one.status.success() { &two } else { &one };
    let said = String::from_utf8_lossy(&lost.stderr).to_string() + &String::from_utf8_lossy(&lost.stdout);
    assert!(said.contains("356938035643817") && said.contains("already in profile"), "{said}");
    let check = env.ok(&["check"]);
    assert!(check.contains("is consistent"), "{check}");
}

/// Crash test (issue 14): the scan station is killed (SIGKILL) in the middle of a burst of scans, at
/// eight moments spread over the time a whole burst takes, on a database it owns (no server). After
/// each kill the profile holds a prefix of that burst, in order, at least every scan the screen had
/// counted as accepted, each with its one audit entry, and `kitting check` is clean.
#[test]
fn a_scan_station_killed_mid_burst_keeps_a_prefix_of_the_scans_and_a_clean_database() {
    const BURST: u32 = 1000;
    let env = Env::directory();
    let config = std::fs::read_to_string(env.config()).unwrap().replace("autostart = true", "autostart = false");
    std::fs::write(env.config(), config).unwrap();
    env.ok(&["profiles", "create", "Dock 9"]);
    // Sends a burst from a thread of its own (the terminal takes it a few kilobytes at a time).
    let send = |s: &Session, scans: &[String]| {
        let burst: String = scans.iter().map(|i| format!("{i}\r")).collect();
        let writer = s.writer.clone();
        std::thread::spawn(move || {
            let mut w = writer.lock().unwrap();
            let _ = w.write_all(burst.as_bytes()).and_then(|()| w.flush());
        });
    };
    // How long a whole burst takes, uninterrupted.
    let mut s = Session::start_with(&env, 80, 24, &["scan", "--profile", "Dock 9"]);
    s.wait_for("Scan station");
    let scans = imeis(10_000, BURST);
    let started = Instant::now();
    send(&s, &scans);
    s.wait_for_within(&format!("accepted {BURST}"), Duration::from_secs(120));
    let whole = started.elapsed();
    s.keys("\x1b");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    let mut stored = BURST as usize;
    let mut cut_short = 0;
    for run in 1..=8u32 {
        let mut s = Session::start_with(&env, 80, 24, &["scan", "--profile", "Dock 9"]);
        s.wait_for("Scan station");
        let scans = imeis(10_000 + run * BURST, BURST);
        send(&s, &scans);
        std::thread::sleep(whole * run / 10);
        let on_screen = counted(&s.text());
        s.child.kill().unwrap();
        let _ = s.child.wait();
        // The database: a prefix of this burst after what the earlier runs left, nothing else.
        let out = env.ok(&["devices", "list", "--profile", "Dock 9", "--format", "csv"]);
        let listed: Vec<String> = out.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
        let this_run = &listed[stored..];
        assert_eq!(this_run, &scans[..this_run.len()], "run {run}: a prefix of the burst, in order");
        assert!(this_run.len() as u64 >= on_screen, "run {run}: what the screen counted ({on_screen}) is stored");
        cut_short += usize::from(this_run.len() < scans.len());
        stored = listed.len();
        let trail = env.ok(&["audit", "--format", "csv"]);
        assert_eq!(trail.lines().filter(|l| l.contains("scan.receive")).count(), stored, "run {run}: one entry each");
        let (code, text, err) = env.run(&["check"]);
        assert_eq!(code, 0, "run {run}: {text}{err}");
    }
    // Spread over the burst's time, most kills land in the middle of it.
    assert!(cut_short >= 4, "only {cut_short} of 8 kills landed before the burst ended (a burst: {whole:?})");
    eprintln!("scan station: 8 kills, {cut_short} mid-burst, a burst of {BURST} scans took {whole:?}");
}

/// The scan station's running count of accepted scans, as the screen shows it ("accepted N").
fn counted(screen: &str) -> u64 {
    let tail = screen.split("accepted ").nth(1).unwrap_or("");
    tail.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("").parse().unwrap_or(0)
}
