//! The kitting server under load (a benchmark that prints figures, never a timed test).
//!
//!   cargo build --release && cargo run --release --example server_bench [CSV]
//!
//! A `kitting serve` process (target/release/kitting, beside this example) on a fresh database in
//! bench/out/db-server-bench, and clients of it in this process, each on its own connection:
//! - the import of CSV (default bench/out/devices-200000-sequential.csv, from bench/import.sh) through
//!   the server, against the same import into a fresh database opened directly; while it runs, another
//!   client adds devices to another profile (how long those small writes wait);
//! - live updates: one client adds a device, another's change feed receives it (200 times);
//! - single calls as a client against the same call on a store opened directly;
//! - 10 clients for 30 s at once, each adding devices, receiving scans and verifying scans: calls per
//!   second, latency, every device there once, the verified ones kitted, `check` clean.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kitting::domain::Status;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::domain::{NewProfile, Profile};
use kitting::ops;
use kitting::store::remote::{RemoteStore, SOCKET};
use kitting::store::{Lookup, SledStore, Store};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!("p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.95), at(0.99), at(1.0))
}

fn core<'s>(store: &'s dyn Store, who: &str) -> ops::Ctx<'s> {
    ops::Ctx::new(store, Actor::named(who, FrontEnd::Cli), chrono::Utc::now())
}

fn imei(n: u64) -> String {
    // Not in the 35… range of bench/import.sh's files.
    let body = format!("36{n:012}");
    format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body))
}

fn profile(store: &dyn Store, name: &str) -> Profile {
    let new = NewProfile { name: name.into(), without_token: true, ..NewProfile::default() };
    ops::profiles::create(&core(store, "bench"), ops::profiles::CreateProfile { profile: new, default_token_days: 7 })
        .unwrap()
}

fn add(store: &dyn Store, profile: &str, n: u64) {
    let c = ops::devices::AddDevice { profile: profile.into(), imei: imei(n), ..Default::default() };
    ops::devices::add(&core(store, "bench"), c).unwrap();
}

fn import(store: &dyn Store, name: &str, csv: &Path) -> (u64, Duration) {
    let command = ops::import::Import {
        file: csv.to_path_buf(),
        to: ops::import::ImportTo::New(NewProfile { name: name.into(), ..NewProfile::default() }),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: false,
        max_rows: 1_000_000,
    };
    let t = Instant::now();
    let report = ops::import::run(&core(store, "bench"), command, &mut |_| true).unwrap();
    (report.committed.map_or(0, |p| p.device_count), t.elapsed())
}

/// The kitting binary beside this example (target/release/examples/.. ).
fn kitting_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("kitting");
    assert!(bin.exists(), "{} is missing: run cargo build --release first", bin.display());
    bin
}

fn scan(store: &dyn Store, mode: ops::scan::ScanMode, n: u64) -> Duration {
    let station = ops::scan::Station { profile: "Load".into(), mode, ..Default::default() };
    let t = Instant::now();
    for r in ops::scan::run(&core(store, "bench"), ops::scan::Scan { station, raw: imei(n), pair_with: None }) {
        r.unwrap();
    }
    t.elapsed()
}

fn main() {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "bench/out/devices-200000-sequential.csv".into());
    let root = Path::new("bench/out/db-server-bench");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let db = root.join("db");
    let socket = db.join(SOCKET);
    let mut server = std::process::Command::new(kitting_binary())
        .arg("--db")
        .arg(&db)
        .args(["serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let a = loop {
        match RemoteStore::connect(&socket) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("{e}"),
        }
    };
    let b = RemoteStore::connect(&socket).unwrap();
    let direct = SledStore::open(&root.join("db-direct")).unwrap();

    // The import through the server, and into a database of its own opened directly; then again
    // through the server (its profile deleted first) with another client adding devices meanwhile.
    if Path::new(&csv).exists() {
        let (n1, through) = import(&a, "Imported", Path::new(&csv));
        let (n2, own) = import(&direct, "Imported", Path::new(&csv));
        println!(
            "import of {csv}: through the server {:.2} s ({n1} devices); opened directly {:.2} s ({n2} devices); \
             ratio {:.2} (target <= 1.5)",
            through.as_secs_f64(),
            own.as_secs_f64(),
            through.as_secs_f64() / own.as_secs_f64()
        );
        let imported = a.profile("Imported").unwrap().unwrap();
        ops::profiles::delete(&core(&a, "bench"), ops::profiles::DeleteProfile { profile: imported.name }).unwrap();
        profile(&b, "During");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let adder = {
            let (socket, done) = (socket.clone(), done.clone());
            std::thread::spawn(move || {
                let store = RemoteStore::connect(&socket).unwrap();
                let mut times = Vec::new();
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let t = Instant::now();
                    add(&store, "During", 5_000_000 + n);
                    times.push(ms(t.elapsed()));
                    n += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                times
            })
        };
        let (n3, again) = import(&a, "Imported", Path::new(&csv));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let during = adder.join().unwrap();
        println!(
            "  again through the server, {n3} devices in {:.2} s, while another client added {} devices to another \
             profile: {}",
            again.as_secs_f64(),
            during.len(),
            percentiles(during)
        );
    }

    // Live updates: B adds, A's feed hears of it.
    profile(&a, "Live");
    profile(&direct, "Live");
    let feed = a.subscribe().unwrap();
    let mut seen = Vec::new();
    for n in 0..200 {
        let t = Instant::now();
        add(&b, "Live", 1_000_000 + n);
        feed.recv_timeout(Duration::from_secs(5)).expect("the change");
        seen.push(ms(t.elapsed()));
    }
    println!("live update (an add by one client, received on another's feed, 200 times): {}", percentiles(seen));

    // Single calls: as a client, and on a store opened directly.
    for (what, store) in [("through the server", &a as &dyn Store), ("opened directly", &direct as &dyn Store)] {
        let mut list = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            store.profiles().unwrap();
            list.push(ms(t.elapsed()));
        }
        let mut adds = Vec::new();
        for n in 0..300 {
            let t = Instant::now();
            add(store, "Live", 2_000_000 + n);
            adds.push(ms(t.elapsed()));
        }
        println!("{what}: profiles list {}; device add {}", percentiles(list), percentiles(adds));
    }

    // Ten clients at once for 30 s, each adding a device, receiving one by scan, and verifying by scan
    // the one it added.
    profile(&a, "Load");
    let secs = 30;
    let stop = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..10u64)
        .map(|w| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let store = RemoteStore::connect(&socket).unwrap();
                let (mut adds, mut receives, mut verifies) = (Vec::new(), Vec::new(), Vec::new());
                let mut n = 10_000_000 + w * 1_000_000;
                while Instant::now() < stop {
                    let t = Instant::now();
                    add(&store, "Load", n);
                    adds.push(ms(t.elapsed()));
                    receives.push(ms(scan(&store, ops::scan::ScanMode::Receive, n + 1)));
                    verifies.push(ms(scan(&store, ops::scan::ScanMode::Verify, n)));
                    n += 2;
                }
                (adds, receives, verifies)
            })
        })
        .collect();
    let t = Instant::now();
    let (mut adds, mut receives, mut verifies) = (Vec::new(), Vec::new(), Vec::new());
    for w in workers {
        let (x, y, z) = w.join().unwrap();
        adds.extend(x);
        receives.extend(y);
        verifies.extend(z);
    }
    let elapsed = t.elapsed().as_secs_f64();
    let load = a.profile("Load").unwrap().unwrap();
    let mut stored = 0u64;
    let mut kitted = 0u64;
    kitting::store::each_device(&a, load.id, &mut |d| {
        stored += 1;
        kitted += u64::from(matches!(d.status, Status::Kitted(_)));
        true
    })
    .unwrap();
    // Every device once: each IMEI added finds exactly its device.
    let once = (0..10u64).all(|w| {
        let first = 10_000_000 + w * 1_000_000;
        a.find(&Lookup::Imei(kitting::domain::Imei::parse(&imei(first)).unwrap())).unwrap().is_some()
    });
    let problems = a.check().unwrap();
    let calls = adds.len() + receives.len() + verifies.len();
    let mut all = adds.clone();
    all.extend(&receives);
    all.extend(&verifies);
    println!(
        "10 clients for {secs} s (each: add, scan to receive, scan to verify): {calls} calls, {:.0} per second; {}",
        calls as f64 / elapsed,
        percentiles(all)
    );
    println!("  adds {}: {}", adds.len(), percentiles(adds.clone()));
    println!("  receive scans {}: {}", receives.len(), percentiles(receives.clone()));
    println!("  verify scans {}: {}", verifies.len(), percentiles(verifies.clone()));
    println!(
        "  {stored} devices stored for {} added (the profile says {}), {kitted} kitted for {} verified, \
         first of each client found: {once}; check {}",
        adds.len() + receives.len(),
        load.device_count,
        verifies.len(),
        if problems.is_empty() { "clean".to_string() } else { format!("{problems:?}") }
    );
    let cli = std::process::Command::new(kitting_binary()).arg("--db").arg(&db).arg("check").output().unwrap();
    println!(
        "  kitting check (a client of the server): exit {}, {}",
        cli.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&cli.stdout).trim()
    );
    drop((a, b, feed));
    let _ = server.kill();
    let _ = server.wait();
}
