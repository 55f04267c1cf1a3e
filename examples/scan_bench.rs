//! Scan station figures (a benchmark that prints, never a timed test): scans per second sustained with
//! the banner drawn after every scan, and the time from a scan's Enter to its banner drawn (median, 95th
//! percentile), on an empty profile and on one of 200,000 devices, at 80x24. Each scan is a whole command
//! of the core: checked, committed with its audit entry, flushed to disk.
//!
//!   cargo run --release --example scan_bench [CSV] [SCANS]
//!       (default: bench/out/devices-200000-sequential.csv, made by bench/import.sh; 1000 scans)

mod common;

use std::sync::Arc;
use std::time::Instant;

use kitting::domain::NewProfile;
use kitting::ops;
use kitting::ops::scan::{ScanMode, Station};
use kitting::store::{SledStore, Store};
use kitting::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn run(label: &str, csv: Option<&str>, scans: u32) {
    let dir = std::env::temp_dir().join(format!("kitting-scan-bench-{}-{label}", std::process::id()));
    let store = Arc::new(SledStore::open(&dir).expect("open"));
    let devices = match csv {
        Some(csv) => common::import(&store, "Bench", csv, true),
        None => {
            let new = NewProfile {
                name: "Bench".into(),
                description: None,
                without_token: true,
                user: None,
                token_days: None,
            };
            let create = ops::profiles::CreateProfile { profile: new, default_token_days: 7 };
            ops::profiles::create(&common::core(&store), create).expect("create");
            0
        }
    };
    let mut app = common::workstation(&store);
    let station = Station {
        profile: "Bench".into(),
        mode: ScanMode::Receive,
        manufacturer: "Acme".into(),
        attributes: vec![],
        pair_serial: false,
        pair_imei: false,
        strip_serial_s: false,
    };
    app.open_scan(station).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let mut latency = Vec::new();
    let start = Instant::now();
    for i in 0..scans {
        // IMEIs beyond the generated file's (its TAC is 35209900; these use 86000000).
        let body = format!("86000000{:06}", i);
        let imei = format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body));
        for c in imei.chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        let t = Instant::now();
        app.on_key(key(KeyCode::Enter));
        terminal.draw(|f| view::render(&app, f)).unwrap();
        latency.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = start.elapsed().as_secs_f64();
    let after = store.profile("Bench").unwrap().unwrap().device_count;
    assert_eq!(after, devices + u64::from(scans), "every scan was accepted");
    let p50 = percentile(&mut latency, 0.5);
    let p95 = percentile(&mut latency, 0.95);
    let max = percentile(&mut latency, 1.0);
    println!(
        "{label:>8}: profile of {devices} devices, {scans} scans: {:.0} scans/s sustained (target >= 50); \
         Enter to banner median {p50:.1} ms, p95 {p95:.1} ms (target <= 20), max {max:.1} ms",
        f64::from(scans) / total
    );
    drop(app);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "bench/out/devices-200000-sequential.csv".into());
    let scans: u32 = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    run("empty", None, scans);
    run("200,000", Some(&csv), scans);
}
