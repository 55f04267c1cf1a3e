//! Bytes that single commands write, measured as the process's write syscalls (`wchar` in
//! /proc/self/io, Linux): the database's own writes, whatever the backend does with them.
//!
//!   cargo run --release --example change_bytes DB PROFILE
//!
//! Runs ROUNDS times (default 9) on DB (it changes it: run it on a scratch copy): device add, device
//! edit, register, device delete, token refresh; prints each one's median, least and most bytes.

use chrono::Utc;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::store::{SledStore, Store};

fn written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io (Linux)");
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|v| v.trim().parse().ok()).expect("wchar")
}

fn imei(n: u64) -> String {
    let body = format!("99{:012}", n);
    format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: change_bytes DB PROFILE");
    let profile = args.next().expect("usage: change_bytes DB PROFILE");
    let store = SledStore::open(db.as_ref()).expect("open");
    let devices: u64 = store.profiles().unwrap().iter().map(|p| p.device_count).sum();
    println!("database: {devices} devices");
    let core = || ops::Ctx::new(&store, Actor::named("bench", FrontEnd::Cli), Utc::now());
    let figures = std::cell::RefCell::new(Vec::<(String, Vec<u64>)>::new());
    let measure = |what: &str, f: &mut dyn FnMut()| {
        let before = written();
        f();
        let bytes = written() - before;
        let mut all = figures.borrow_mut();
        match all.iter_mut().find(|(w, _)| w == what) {
            Some((_, v)) => v.push(bytes),
            None => all.push((what.to_string(), vec![bytes])),
        }
    };
    let rounds: u64 = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(9);
    for round in 0..rounds {
        let id = 7_000_000 + u64::from(std::process::id()) * 10 + round;
        measure("device add", &mut || {
            let c = ops::devices::AddDevice {
                profile: profile.clone(),
                imei: imei(id),
                imei2: String::new(),
                serial: format!("BENCH{id}"),
                manufacturer: "Zebra".into(),
                attributes: vec![("Asset Tag".into(), "B-1".into())],
            };
            ops::devices::add(&core(), c).expect("add");
        });
        measure("device edit", &mut || {
            let c = ops::devices::EditDevice {
                profile: profile.clone(),
                device: ops::devices::DeviceRef::Imei(imei(id)),
                imei: None,
                imei2: None,
                serial: None,
                manufacturer: None,
                set: vec![("Asset Tag".into(), "B-2".into())],
                unset: vec![],
                expect: None,
            };
            ops::devices::edit(&core(), c).expect("edit");
        });
        measure("register", &mut || {
            let token = store.profile(&profile).unwrap().unwrap().token.map(|t| t.value);
            let c = ops::register::Register { token, imei: Some(imei(id)), ..Default::default() };
            ops::register::run(&core(), c).expect("register");
        });
        measure("device delete", &mut || {
            let c = ops::devices::DeleteDevices {
                profile: profile.clone(),
                devices: vec![ops::devices::DeviceRef::Imei(imei(id))],
            };
            ops::devices::delete(&core(), c).expect("delete");
        });
        measure("token refresh", &mut || {
            ops::tokens::refresh(&core(), ops::tokens::RefreshToken { profile: profile.clone(), days: 7 })
                .expect("refresh");
        });
    }
    println!("{rounds} rounds; bytes written by one command (sled writes a consolidated page now and then,");
    println!("which is the maximum):");
    for (what, mut v) in figures.into_inner() {
        v.sort_unstable();
        let kb = |b: u64| b as f64 / 1024.0;
        println!(
            "{what:<16} median {:>7.1} KB   min {:>7.1} KB   max {:>7.1} KB",
            kb(v[v.len() / 2]),
            kb(v[0]),
            kb(v[v.len() - 1])
        );
    }
}
