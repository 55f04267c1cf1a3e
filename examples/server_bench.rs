//! The kitting server under load (a benchmark that prints figures, never a timed test).
//!
//!   cargo run --release --example server_bench [CSV]
//!
//! A server (the library's `serve`, on a thread of this process, over a real Unix socket) on a fresh
//! database in bench/out/db-server-bench, then:
//! - live updates: one client adds a device, another's change feed receives it (200 times);
//! - single calls as a client against the same call on the store opened directly;
//! - 10 clients adding devices for 10 s at once: calls per second, latency, every device there once;
//! - first, the import of CSV (default bench/out/devices-200000-sequential.csv, from bench/import.sh)
//!   through the server against the same import into a fresh database opened directly.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kitting::domain::audit::{Actor, FrontEnd};
use kitting::domain::{NewProfile, Profile};
use kitting::ops;
use kitting::store::remote::{RemoteStore, SOCKET, serve};
use kitting::store::{SledStore, Store};

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

fn main() {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "bench/out/devices-200000-sequential.csv".into());
    let root = Path::new("bench/out/db-server-bench");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let db = root.join("db");
    let direct = Arc::new(SledStore::open(&db).unwrap());
    let socket = db.join(SOCKET);
    {
        let (store, socket) = (direct.clone() as Arc<dyn Store>, socket.clone());
        std::thread::spawn(move || serve(store, &socket, Default::default(), || ()).unwrap());
    }
    let started = Instant::now();
    let a = loop {
        match RemoteStore::connect(&socket) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("{e}"),
        }
    };
    let b = RemoteStore::connect(&socket).unwrap();

    // The import through the server, and into a fresh database of its own opened directly.
    if Path::new(&csv).exists() {
        let (n1, through) = import(&a, "Imported", Path::new(&csv));
        let own_db = SledStore::open(&root.join("db-direct")).unwrap();
        let (n2, own) = import(&own_db, "Imported", Path::new(&csv));
        println!(
            "import of {csv}: through the server {:.2} s ({n1} devices); opened directly {:.2} s ({n2} devices); \
             ratio {:.2} (target <= 1.5)",
            through.as_secs_f64(),
            own.as_secs_f64(),
            through.as_secs_f64() / own.as_secs_f64()
        );
    }

    // Live updates: B adds, A's feed hears of it.
    profile(&a, "Live");
    let feed = a.subscribe().unwrap();
    let mut seen = Vec::new();
    for n in 0..200 {
        let t = Instant::now();
        add(&b, "Live", 1_000_000 + n);
        feed.recv_timeout(Duration::from_secs(5)).expect("the change");
        seen.push(ms(t.elapsed()));
    }
    println!("live update (an add by one client, received on another's feed, 200 times): {}", percentiles(seen));

    // Single calls: as a client, and on the store opened directly.
    for (what, store) in [("through the server", &a as &dyn Store), ("opened directly", direct.as_ref())] {
        let mut list = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            store.profiles().unwrap();
            list.push(ms(t.elapsed()));
        }
        let mut adds = Vec::new();
        let base = if what == "opened directly" { 3_000_000 } else { 2_000_000 };
        for n in 0..300 {
            let t = Instant::now();
            add(store, "Live", base + n);
            adds.push(ms(t.elapsed()));
        }
        println!("{what}: profiles list {}; device add {}", percentiles(list), percentiles(adds));
    }

    // Ten clients at once, each adding devices for 10 s.
    profile(&a, "Load");
    let stop = Instant::now() + Duration::from_secs(10);
    let workers: Vec<_> = (0..10u64)
        .map(|w| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let store = RemoteStore::connect(&socket).unwrap();
                let mut times = Vec::new();
                let mut n = 0;
                while Instant::now() < stop {
                    let t = Instant::now();
                    add(&store, "Load", 10_000_000 + w * 1_000_000 + n);
                    times.push(ms(t.elapsed()));
                    n += 1;
                }
                times
            })
        })
        .collect();
    let t = Instant::now();
    let all: Vec<f64> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let secs = t.elapsed().as_secs_f64();
    let count = a.profile("Load").unwrap().unwrap().device_count;
    let problems = a.check().unwrap();
    println!(
        "10 clients adding for 10 s: {} adds, {:.0} per second; {}; {count} devices stored (each once: {}), check {}",
        all.len(),
        all.len() as f64 / secs,
        percentiles(all.clone()),
        count == all.len() as u64,
        if problems.is_empty() { "clean".to_string() } else { format!("{problems:?}") }
    );
}
