//! The workstation at scale (a benchmark that prints figures, never a timed test).
//!
//!   cargo run --release --example workstation_bench [CSV]           first frame of every screen, with a
//!                                                                    profile of 200,000 devices (CSV,
//!                                                                    default bench/out/devices-200000-
//!                                                                    sequential.csv from bench/import.sh)
//!                                                                    and 200,000 DEP records, at 120x40
//!   cargo run --release --example workstation_bench -- memory [CSV] memory with a profile of 1,000,000
//!                                                                    devices open (every device read), and
//!                                                                    the filter per key at that size
//!
//! `memory` imports CSV (default bench/out/devices-1000000-sequential.csv, made by `bench/import.sh
//! 1000000 1`) in a child process first, so that the figure is the workstation's alone: a process that
//! opens the database, the profile and every device, as `kitting` does. The filter is typed five times
//! (each key's median and maximum); with `FILTER_ONLY=1` the table's filter alone is timed instead, for
//! a few needles, without keys or drawing.

mod common;

use std::sync::Arc;
use std::time::Instant;

use kitting::ops;
use kitting::store::SledStore;
use kitting::tui::action::Action;
use kitting::tui::app::{App, Screen, Tab};
use kitting::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A line of /proc/self/status in MiB (VmHWM: the peak; VmRSS: now).
fn proc_mib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    kb / 1024
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) {
    app.resize(120, 40);
    terminal.draw(|f| view::render(app, f)).unwrap();
}

/// Times `open` and the frame after it.
/// Hands the app what the background reads have answered, until they are quiet for a while: the next
/// screen's first frame is then measured alone, not beside the previous screen's background read.
fn settle(app: &mut App, rx: &std::sync::mpsc::Receiver<kitting::tui::app::TaskMsg>) {
    while let Ok(msg) = rx.recv_timeout(std::time::Duration::from_millis(300)) {
        app.on_task(msg);
    }
}

fn frame(
    name: &str,
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    open: impl FnOnce(&mut App),
    results: &mut Vec<(String, f64)>,
) {
    let t = Instant::now();
    open(app);
    draw(terminal, app);
    let took = ms(t);
    let shown = terminal.backend().buffer().content.iter().map(|c| c.symbol()).collect::<String>();
    assert!(!shown.trim().is_empty(), "{name}: something is drawn");
    if let Some((_, msg)) = &app.status
        && app.modal.is_none()
        && msg.contains("error")
    {
        panic!("{name}: {msg}");
    }
    results.push((name.to_string(), took));
}

fn screens(csv: &str) {
    let dir = std::env::temp_dir().join(format!("kitting-workstation-bench-{}", std::process::id()));
    let store = Arc::new(SledStore::open(&dir.join("db")).expect("open"));
    let devices = common::import(&store, "Bench", csv, false);
    let dep = dir.join("dep.csv");
    let mut text = String::from("UserName,Name,Identifier,OS,DisplayName,Serial,DEPMethod\n");
    for i in 0..200_000u64 {
        text.push_str(&format!("user{},User {},dev{i:06},ios,Device {i},SN{i:08},Serial\n", i % 500, i % 500));
    }
    std::fs::write(&dep, text).unwrap();
    let command = ops::dep::DepImport { file: dep, dry_run: false, skip_invalid: false, max_rows: 1_000_000 };
    let report = ops::dep::import(&common::core(&store), command, &mut |_| true).expect("DEP import");
    println!("profile of {devices} devices, {} DEP records, 500 users; terminal 120x40", report.devices_created);

    const ROUNDS: usize = 5;
    let mut rounds: Vec<Vec<(String, f64)>> = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(round(&store));
    }
    println!(
        "first frame of each screen (open + draw, each after the previous one's background reads), {ROUNDS} rounds, target <= 50 ms:"
    );
    for (k, (name, _)) in rounds[0].iter().enumerate() {
        let mut times: Vec<f64> = rounds.iter().map(|r| r[k].1).collect();
        times.sort_by(f64::total_cmp);
        println!("  {name:<24} median {:>7.1} ms   max {:>7.1} ms", times[times.len() / 2], times[times.len() - 1]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One round: the workstation opened afresh and every screen's first frame.
fn round(store: &Arc<SledStore>) -> Vec<(String, f64)> {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut results = Vec::new();
    let mut app = None;
    let t = Instant::now();
    let mut ws = common::workstation(store);
    // Reads in the background report here, as to the event loop (the first frame does not wait for them).
    let (tx, rx) = std::sync::mpsc::channel();
    ws.set_task_sender(tx);
    draw(&mut terminal, &mut ws);
    results.push(("Profiles (start)".to_string(), ms(t)));
    app.replace(ws);
    let app = app.as_mut().unwrap();
    settle(app, &rx);
    frame("Profile detail", &mut terminal, app, |a| a.update(Action::Open), &mut results);
    settle(app, &rx);
    frame("QR code", &mut terminal, app, |a| a.update(Action::Qr), &mut results);
    settle(app, &rx);
    app.update(Action::Back);
    frame(
        "Scan station",
        &mut terminal,
        app,
        |a| {
            let station = ops::scan::Station { profile: "Bench".into(), ..Default::default() };
            a.open_scan(station).unwrap();
        },
        &mut results,
    );
    settle(app, &rx);
    key(app, KeyCode::Esc);
    frame("Check-in", &mut terminal, app, |a| a.update(Action::CheckIn), &mut results);
    settle(app, &rx);
    key(app, KeyCode::Esc);
    frame("DEP devices", &mut terminal, app, |a| a.switch_tab(Tab::Dep), &mut results);
    settle(app, &rx);
    frame("DEP record", &mut terminal, app, |a| a.update(Action::Open), &mut results);
    settle(app, &rx);
    frame("Users", &mut terminal, app, |a| a.switch_tab(Tab::Users), &mut results);
    settle(app, &rx);
    frame("Catalog", &mut terminal, app, |a| a.switch_tab(Tab::Catalog), &mut results);
    settle(app, &rx);
    frame("Audit", &mut terminal, app, |a| a.switch_tab(Tab::Audit), &mut results);
    settle(app, &rx);
    frame(
        "Find (a DEP identifier)",
        &mut terminal,
        app,
        |a| {
            a.update(Action::Find);
            for c in "dev100000".chars() {
                key(a, KeyCode::Char(c));
            }
            key(a, KeyCode::Enter);
        },
        &mut results,
    );
    settle(app, &rx);
    results
}

fn memory(csv: &str) {
    let dir = std::path::Path::new("bench/out/db-workstation-memory");
    if !dir.join("imported").exists() {
        let _ = std::fs::remove_dir_all(dir);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["import", csv, dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "the import");
    }
    let before = proc_mib("VmRSS:");
    let store = Arc::new(SledStore::open(&dir.join("db")).expect("open"));
    let mut app = common::workstation(&store);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    draw(&mut terminal, &mut app);
    let t = Instant::now();
    app.update(Action::Open);
    draw(&mut terminal, &mut app);
    let first = ms(t);
    // The rest of the devices, read in the background, as the event loop delivers them.
    while let Ok(msg) = rx.recv_timeout(std::time::Duration::from_secs(120)) {
        app.on_task(msg);
        if matches!(app.screen(), Screen::Detail(d) if d.loading.is_none()) {
            break;
        }
    }
    draw(&mut terminal, &mut app);
    let all = ms(t);
    let Screen::Detail(d) = app.screen() else { panic!("the profile screen") };
    let n = d.devices.len();
    let (rss, hwm) = (proc_mib("VmRSS:"), proc_mib("VmHWM:"));
    println!("profile of {n} devices open, every device read: first frame {first:.1} ms, all read {all:.0} ms");
    println!(
        "workstation memory: {rss} MiB resident now, {hwm} MiB peak (target <= 150), {before} MiB before opening the database"
    );
    if std::env::var_os("FILTER_ONLY").is_some() {
        let Screen::Detail(d) = app.screen() else { panic!() };
        for text in ["a-00", "3500", "35000000", "zebra"] {
            let needle = kitting::tui::device_table::Needle::new(text);
            let mut t: Vec<f64> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(d.devices.filter(None, &needle));
                    ms(t)
                })
                .collect();
            t.sort_by(f64::total_cmp);
            println!("filter alone {text:?}: median {:.1} ms, min {:.1}", t[3], t[0]);
        }
        return;
    }
    for typed in ["a-0001234", "3500000001"] {
        // Typed five times: each key's median and maximum (one run swings with the machine).
        let mut rounds: Vec<Vec<f64>> = Vec::new();
        let mut shown = 0;
        for _ in 0..5 {
            app.update(Action::Filter);
            let mut times = Vec::new();
            for c in typed.chars() {
                let t = Instant::now();
                key(&mut app, KeyCode::Char(c));
                draw(&mut terminal, &mut app);
                times.push(ms(t));
            }
            shown = match app.screen() {
                Screen::Detail(d) => d.view.len(),
                _ => 0,
            };
            // Esc while typing clears the filter (a second would leave the profile).
            key(&mut app, KeyCode::Esc);
            rounds.push(times);
        }
        let per_key: Vec<String> = (0..typed.len())
            .map(|k| {
                let mut t: Vec<f64> = rounds.iter().map(|r| r[k]).collect();
                t.sort_by(f64::total_cmp);
                format!("{:.1}/{:.1}", t[t.len() / 2], t[t.len() - 1])
            })
            .collect();
        println!(
            "filter per key over {n} devices, {typed:?} (median/max of 5, ms, target <= 30): {}; {shown} match",
            per_key.join(" ")
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("memory") => memory(args.get(1).map(String::as_str).unwrap_or("bench/out/devices-1000000-sequential.csv")),
        Some("import") => {
            let dir = std::path::Path::new(&args[2]);
            let store = SledStore::open(&dir.join("db")).expect("open");
            let n = common::import(&store, "Bench", &args[1], false);
            drop(store);
            std::fs::write(dir.join("imported"), n.to_string()).unwrap();
            println!("imported {n} devices into {}", dir.display());
        }
        other => screens(other.unwrap_or("bench/out/devices-200000-sequential.csv")),
    }
}
