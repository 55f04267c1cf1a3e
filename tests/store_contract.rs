//! The store contract: one suite that every backend passes unchanged (memory and sled now; the kitting
//! server's client and PostgreSQL later). Each test takes a fresh store from `Fresh` and is instantiated
//! once per backend by `contract!` at the bottom.

mod common;

use std::sync::Arc;

use chrono::Utc;
use kitting::domain::audit::{Actor, AuditEntry, AuditOutcome, AuditQuery, FrontEnd};
use kitting::domain::dep::{CatalogEntry, CatalogKind, CheckIn, DepState};
use kitting::domain::{Identifiers, Imei, NewDevice, NewProfile, Profile, Source, Status, User};
use kitting::ops;
use kitting::store::{
    DepChange, ImportTarget, Lookup, MemoryStore, ProfileChange, SledStore, Store, StoreError, Subject, each_device,
};

/// A fresh, empty store of one backend (with what must live as long as it).
struct Fresh {
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    /// The `kitting serve` process a remote store is a client of.
    server: Option<std::process::Child>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fresh {
    fn memory() -> Fresh {
        Fresh { store: Arc::new(MemoryStore::new()), dir: tempfile::tempdir().unwrap(), server: None }
    }

    fn sled() -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        Fresh { store: Arc::new(SledStore::open(&dir.path().join("db")).unwrap()), dir, server: None }
    }

    /// A client of a real `kitting serve` process on a fresh sled database.
    fn remote() -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let (server, socket) = common::spawn_server(dir.path(), &db);
        let store = kitting::store::remote::RemoteStore::connect(&socket).unwrap();
        Fresh { store: Arc::new(store), dir, server: Some(server) }
    }

    /// A fresh database on the PostgreSQL test server, when there is one (`common::pg`).
    fn postgres() -> Option<Fresh> {
        let url = common::pg::fresh(&common::pg::server()?);
        let target = kitting::store::postgres::Target::parse(&url).unwrap();
        let store = kitting::store::postgres::PgStore::open(target).unwrap();
        Some(Fresh { store: Arc::new(store), dir: tempfile::tempdir().unwrap(), server: None })
    }

    fn s(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn core(&self) -> ops::Ctx<'_> {
        ops::Ctx::new(self.s(), Actor::named(&kitting::os::user(), FrontEnd::Cli), Utc::now())
    }

    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Imports a CSV into a profile (created if missing) through the core; returns the report.
    fn import(&self, profile: &str, csv: &str, dry_run: bool, skip_invalid: bool) -> kitting::csv::ImportReport {
        let file = self.file(&format!("{profile}-{}.csv", csv.len()), csv);
        let new = NewProfile { name: profile.into(), ..NewProfile::default() };
        let command = ops::import::Import {
            file,
            to: ops::import::ImportTo::ExistingOrNew(new),
            default_token_days: 7,
            dry_run,
            skip_invalid,
            max_rows: 1_000_000,
        };
        ops::import::run(&self.core(), command, &mut |_| true).unwrap()
    }
}

fn audit(what: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: Utc::now(),
        // This process's own user: a server records the user the socket says, whatever a client writes.
        actor: Actor::named(&kitting::os::user(), FrontEnd::Cli),
        command: what.into(),
        profile: None,
        target: what.into(),
        outcome: AuditOutcome::Done(what.into()),
        counts: None,
    }
}

fn imei(n: u64) -> String {
    let body = format!("35{:012}", n);
    format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body))
}

fn profile(s: &dyn Store, name: &str) -> Profile {
    let p =
        ops::profiles::new_profile(NewProfile { name: name.into(), ..NewProfile::default() }, 7, Utc::now()).unwrap();
    s.create_profile(p, &audit("profile.create")).unwrap()
}

fn device(imei_text: &str, serial: &str, manufacturer: &str) -> NewDevice {
    NewDevice {
        ids: Identifiers::parse(imei_text, serial, manufacturer).unwrap(),
        attributes: vec![],
        status: Status::Pending,
        source: Source::Manual,
    }
}

/// The next `n` changes of a feed, and no more: a server's feed arrives over a socket, a moment after
/// the commit; an in-process one at once.
fn told(feed: &std::sync::mpsc::Receiver<kitting::store::Change>, n: usize) -> Vec<kitting::store::Change> {
    let wait = std::time::Duration::from_secs(10);
    let changes: Vec<_> =
        (0..n).map(|i| feed.recv_timeout(wait).unwrap_or_else(|e| panic!("change {i}: {e}"))).collect();
    let extra = feed.recv_timeout(std::time::Duration::from_millis(150));
    assert!(extra.is_err(), "one more change than expected: {extra:?}");
    changes
}

fn refused(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn conflict(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// --- profiles -----------------------------------------------------------------------------------

fn profile_names_are_unique_ignoring_case_and_renames_keep_them_unique(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "Dock 3");
    assert_eq!(s.profile("dock 3").unwrap().unwrap().id, a.id);
    let p = ops::profiles::new_profile(NewProfile { name: "DOCK 3".into(), ..Default::default() }, 7, Utc::now());
    assert!(refused(s.create_profile(p.unwrap(), &audit("x"))).contains("already exists"));
    let b = profile(s, "Dock 4");
    let rename = ProfileChange { name: Some("dock 3".into()), ..Default::default() };
    assert!(refused(s.update_profile(b.id, &rename, None, &audit("x"))).contains("already exists"));
    let rename = ProfileChange { name: Some("Dock 5".into()), ..Default::default() };
    let renamed = s.update_profile(b.id, &rename, None, &audit("x")).unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Dock 5", b.version + 1));
    assert!(s.profile("Dock 4").unwrap().is_none());
    assert_eq!(s.profiles().unwrap().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Dock 3", "Dock 5"]);
}

fn a_profile_update_from_a_stale_read_is_a_conflict(f: &Fresh) {
    let s = f.s();
    let p = profile(s, "P");
    let one = ProfileChange { description: Some(Some("first".into())), ..Default::default() };
    s.update_profile(p.id, &one, Some(p.version), &audit("one")).unwrap();
    let two = ProfileChange { description: Some(Some("second".into())), ..Default::default() };
    conflict(s.update_profile(p.id, &two, Some(p.version), &audit("two")));
    assert_eq!(s.profile_by_id(p.id).unwrap().unwrap().description.as_deref(), Some("first"), "kept");
}

fn references_users_must_exist_and_referenced_users_stay(f: &Fresh) {
    let s = f.s();
    let p = profile(s, "P");
    let change = ProfileChange { user: Some(Some("alice".into())), ..Default::default() };
    assert!(matches!(s.update_profile(p.id, &change, None, &audit("x")), Err(StoreError::NotFound(_))));
    let alice = User { username: "alice".into(), ..User::default() };
    s.put_user(alice.clone(), true, &audit("user.add")).unwrap();
    assert!(
        refused(s.put_user(User { username: "ALICE".into(), ..User::default() }, true, &audit("x"))).contains("exists")
    );
    s.update_profile(p.id, &change, None, &audit("x")).unwrap();
    assert!(refused(s.delete_user("Alice", &audit("x"))).contains("\"P\""));
    let org = User { organizations: vec!["Sales".into()], ..alice };
    assert!(refused(s.put_user(org.clone(), false, &audit("x"))).contains("Sales"));
    s.catalog_add(CatalogKind::Organization, CatalogEntry { name: "Sales".into(), description: None }, &audit("x"))
        .unwrap();
    s.put_user(org, false, &audit("x")).unwrap();
    assert_eq!(s.user("ALICE").unwrap().unwrap().organizations, ["Sales"]);
}

fn deleting_a_profile_removes_its_devices_and_frees_their_identifiers(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    s.add_device(a.id, device(&imei(1), "", ""), &audit("x")).unwrap();
    assert_eq!(s.delete_profile(a.id, &audit("x")).unwrap(), 1);
    assert!(s.profile_by_id(a.id).unwrap().is_none());
    let b = profile(s, "B");
    s.add_device(b.id, device(&imei(1), "", ""), &audit("x")).unwrap();
    assert!(s.check().unwrap().is_empty());
}

// --- devices ------------------------------------------------------------------------------------

fn identifiers_are_unique_across_profiles(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    let b = profile(s, "B");
    s.add_device(a.id, device(&imei(1), "SN1", "Zebra"), &audit("x")).unwrap();
    let m = refused(s.add_device(b.id, device(&imei(1), "", ""), &audit("x")));
    assert!(m.contains("already in profile \"A\""), "{m}");
    let m = refused(s.add_device(b.id, device("", "sn1", "ZEBRA"), &audit("x")));
    assert!(m.contains("serial number sn1 (ZEBRA) is already in profile \"A\""), "{m}");
    s.add_device(b.id, device("", "SN1", "Honeywell"), &audit("x")).unwrap();
    assert_eq!(s.profile_by_id(b.id).unwrap().unwrap().device_count, 1);
    let lookup = Lookup::Serial { serial: "Sn1".into(), manufacturer: "zebra".into() };
    assert_eq!(s.find(&lookup).unwrap().unwrap().0, a.id);
    let both = s.candidates(None, Some("sn1")).unwrap();
    assert_eq!(both.len(), 2, "the serial in any manufacturer");
    // A longer serial number is another one.
    s.add_device(b.id, device("", "SN10", "Zebra"), &audit("x")).unwrap();
    let all = s.candidates(None, Some(" SN1")).unwrap();
    let serials: Vec<_> = all.iter().map(|(_, d)| d.ids.serial.clone().unwrap()).collect();
    assert_eq!(serials.len(), 2, "{serials:?}");
    assert!(serials.iter().all(|s| s.eq_ignore_ascii_case("sn1")), "{serials:?}");
    assert!(s.check().unwrap().is_empty());
}

/// A serial number kept without a manufacturer (beside an IMEI) is found by `candidates` as one with a
/// manufacturer is: by the serial trimmed and in any case, on every store.
fn candidates_find_a_serial_kept_without_a_manufacturer(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    s.add_device(a.id, device(&imei(1), "sn7", ""), &audit("x")).unwrap();
    s.add_device(a.id, device("", "SN7", "Zebra"), &audit("x")).unwrap();
    s.add_device(a.id, device(&imei(2), "SN70", ""), &audit("x")).unwrap();
    for asked in ["sn7", " SN7 ", "Sn7"] {
        let found = common::serials_found(s, asked);
        assert_eq!(
            found,
            [("sn7".to_string(), None), ("SN7".to_string(), Some("Zebra".to_string()))],
            "asked {asked:?}"
        );
    }
    let by_imei = s.candidates(Some(Imei::parse(&imei(1)).unwrap()), Some("SN7")).unwrap();
    assert_eq!(by_imei.len(), 2, "the IMEI's device and the serial's, once each");
}

fn a_device_update_checks_duplicates_and_its_stamp(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    let one = s.add_device(a.id, device(&imei(1), "", ""), &audit("x")).unwrap();
    s.add_device(a.id, device(&imei(2), "", ""), &audit("x")).unwrap();
    let mut d = one.clone();
    d.ids = Identifiers::parse(&imei(2), "", "").unwrap();
    assert!(refused(s.update_device(a.id, d, Some(one.modified), &audit("x"))).contains("already in"));
    let mut d = one.clone();
    d.set_attribute("Asset Tag", Some("A-1"));
    let saved = s.update_device(a.id, d, Some(one.modified), &audit("x")).unwrap();
    assert!(saved.modified > one.modified, "the stamp moves forward");
    let mut stale = one.clone();
    stale.set_attribute("Asset Tag", Some("A-2"));
    conflict(s.update_device(a.id, stale, Some(one.modified), &audit("x")));
    assert_eq!(s.device(a.id, one.seq).unwrap().unwrap().attribute("Asset Tag"), Some("A-1"));
    assert_eq!(s.profile_by_id(a.id).unwrap().unwrap().attributes, ["Asset Tag"]);
}

fn set_attribute_changes_many_devices_at_once_and_delete_and_status(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    let seqs: Vec<u32> =
        (0..5).map(|i| s.add_device(a.id, device(&imei(i), "", ""), &audit("x")).unwrap().seq).collect();
    let feed = s.subscribe().unwrap();
    assert_eq!(s.set_attribute(a.id, &seqs[..3], "Dept", Some("Returns"), &audit("set")).unwrap(), 3);
    assert_eq!(told(&feed, 1).len(), 1, "one change, not three");
    let mut with = 0;
    each_device(s, a.id, &mut |d| {
        with += usize::from(d.attribute("Dept") == Some("Returns"));
        true
    })
    .unwrap();
    assert_eq!(with, 3);
    assert_eq!(s.set_attribute(a.id, &seqs[..1], "Dept", None, &audit("clear")).unwrap(), 1);
    assert_eq!(s.device(a.id, seqs[0]).unwrap().unwrap().attribute("Dept"), None);
    let before = s.profile_by_id(a.id).unwrap().unwrap().modified;
    let at = Utc::now();
    let d = s.set_status(a.id, seqs[4], Status::Registered(at), &audit("register")).unwrap();
    assert_eq!(d.status, Status::Registered(at));
    assert_eq!(s.profile_by_id(a.id).unwrap().unwrap().modified, before, "a registration is not an inventory change");
    assert_eq!(s.delete_devices(a.id, &seqs[..2], &audit("x")).unwrap(), 2);
    assert_eq!(s.profile_by_id(a.id).unwrap().unwrap().device_count, 3);
    assert!(s.device(a.id, seqs[0]).unwrap().is_none());
    assert!(s.check().unwrap().is_empty());
}

fn devices_come_in_pages_in_order(f: &Fresh) {
    let csv: String = std::iter::once("IMEI,Serial Number,Manufacturer\n".to_string())
        .chain((0..2500).map(|i| format!("{},,\n", imei(i))))
        .collect();
    let r = f.import("P", &csv, false, false);
    assert!(r.committed.is_some(), "{:?}", r.rejected);
    let s = f.s();
    let id = s.profile("P").unwrap().unwrap().id;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.devices_page(id, after, 700).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 700);
        after = page.last().map(|d| d.seq);
        seen.extend(page.into_iter().map(|d| d.seq));
    }
    assert_eq!(seen.len(), 2500);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    assert_eq!(s.devices_page(id, Some(seen[10]), 1).unwrap()[0].seq, seen[11]);
    assert!(s.devices_page(id, seen.last().copied(), 10).unwrap().is_empty());
}

// --- imports ------------------------------------------------------------------------------------

fn imports_are_all_or_nothing_and_report_every_duplicate(f: &Fresh) {
    let s = f.s();
    let first = format!("IMEI,Serial Number,Manufacturer\n{},,\n{},,\n", imei(1), imei(2));
    assert!(f.import("A", &first, false, false).committed.is_some());
    let second = format!(
        "IMEI,Serial Number,Manufacturer\n{},,\n{},,\n{},,\n,SN1,Zebra\n,sn1,zebra\n",
        imei(3),
        imei(1),
        imei(3)
    );
    let dry = f.import("B", &second, true, false);
    assert_eq!((dry.rows, dry.valid, dry.rejected.len()), (5, 2, 3), "counts add up: {:?}", dry.rejected);
    let r = f.import("B", &second, false, false);
    assert!(r.committed.is_none());
    let lines: Vec<u64> = r.rejected.iter().map(|x| x.line).collect();
    assert_eq!(lines, [3, 4, 6]);
    assert!(r.rejected[0].reason().contains("already in profile \"A\""), "{:?}", r.rejected[0]);
    assert!(r.rejected[1].reason().contains("already in this file at line 2"), "{:?}", r.rejected[1]);
    assert!(r.rejected[2].reason().contains("already in this file at line 5"), "{:?}", r.rejected[2]);
    assert!(s.profile("B").unwrap().is_none(), "nothing written, not even the profile");
    let r = f.import("B", &second, false, true);
    assert_eq!(r.committed.as_ref().map(|p| p.device_count), Some(2));
    assert!(s.check().unwrap().is_empty());
}

fn a_dropped_import_session_writes_nothing_and_a_dry_run_takes_no_writer_lock(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    let session = s.begin_import(ImportTarget::Existing(a.id), false).unwrap();
    // A dry run holds no writer lock: a change goes through while it is open.
    s.add_device(a.id, device(&imei(9), "", ""), &audit("x")).unwrap();
    drop(session);
    let csv = format!("IMEI,Serial Number,Manufacturer\n{},,\n", imei(10));
    let file = f.file("x.csv", &csv);
    let opts = kitting::csv::android::ImportOptions { dry_run: false, skip_invalid: false, max_rows: 10 };
    let checked = kitting::csv::android::check(s, &file, ImportTarget::Existing(a.id), &opts, &mut |_| true).unwrap();
    assert_eq!(checked.report.valid, 1);
    let session = checked.session;
    // The session owns what it needs: it moves to another thread and is dropped there.
    std::thread::spawn(move || drop(session)).join().unwrap();
    assert_eq!(s.profile_by_id(a.id).unwrap().unwrap().device_count, 1);
    assert!(s.find(&Lookup::Imei(kitting::domain::Imei::parse(&imei(10)).unwrap())).unwrap().is_none());
    assert!(s.check().unwrap().is_empty());
}

// --- DEP ----------------------------------------------------------------------------------------

fn dep(f: &Fresh, csv: &str) -> kitting::csv::dep::DepReport {
    let file = f.file(&format!("dep-{}.csv", csv.len()), csv);
    let command = ops::dep::DepImport { file, dry_run: false, skip_invalid: false, max_rows: 1000 };
    ops::dep::import(&f.core(), command, &mut |_| true).unwrap()
}

fn dep_records_are_unique_ignoring_case_and_read_only_once_checked_in(f: &Fresh) {
    let s = f.s();
    let r = dep(f, "Identifier,OS,Code,Serial\nD1,ios,CODE0001,F2LX1\nD2,ios,CODE0002,F2LX2\n");
    assert!(r.committed && r.devices_created == 2, "{:?}", r.rejected);
    let stored = s.dep_device("d1").unwrap().unwrap();
    assert_eq!(stored.identifier, "D1");
    let again = DepChange {
        users: vec![],
        devices: vec![kitting::store::DeviceWrite { device: stored.clone(), create: true, mail: false, expect: None }]
            .into(),
    };
    assert!(refused(s.dep_apply(again, &audit("x"))).contains("exists already"));
    let presented = CheckIn { code: "CODE0001".into(), serial: Some("DEPSN1".into()), ..Default::default() };
    let checked = ops::dep::check_in(&f.core(), ops::dep::DepCheckIn { identifier: "D1".into(), presented }).unwrap();
    assert!(matches!(checked.state, DepState::CheckedIn { .. }));
    // A stale write of the record (from before the check-in) is a conflict.
    let mut late = stored.clone();
    late.display_name = Some("late".into());
    conflict(s.dep_put(late, stored.modified, &audit("x")));
    let update = DepChange {
        users: vec![],
        devices: vec![kitting::store::DeviceWrite {
            device: stored.clone(),
            create: false,
            mail: false,
            expect: Some(checked.modified),
        }]
        .into(),
    };
    assert!(refused(s.dep_apply(update, &audit("x"))).contains("checked in"));
    // One DEP device serial checks in on one record only.
    let presented = CheckIn { code: "CODE0002".into(), serial: Some("depsn1".into()), ..Default::default() };
    let m = ops::dep::check_in(&f.core(), ops::dep::DepCheckIn { identifier: "D2".into(), presented }).unwrap_err();
    assert!(m.to_string().contains("already checked in as D1"), "{m}");
    s.dep_delete("d2", &audit("x")).unwrap();
    assert!(s.dep_device("D2").unwrap().is_none());
}

fn dep_record(identifier: &str, user: Option<&str>, tags: &[&str]) -> kitting::domain::dep::DepDevice {
    let now = Utc::now();
    kitting::domain::dep::DepDevice {
        identifier: identifier.into(),
        template: None,
        code: "CODE1234".into(),
        os: kitting::domain::dep::DepOs::Ios,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        wifi_mac: None,
        imei: None,
        meid: None,
        udid: None,
        serial: Some(format!("SN{identifier}")),
        expiration_days: 7,
        expires: now + chrono::Duration::days(7),
        display_name: Some(format!("Device {identifier}")),
        description: None,
        registration_email: None,
        dep_method: Some(kitting::domain::dep::DepMethod::Serial),
        user: user.map(String::from),
        state: DepState::Pending,
        created: now,
        modified: now,
    }
}

/// A change of 1,500 users and 1,500 records (more than a store may write on one thread), given out of
/// key order, mixed with updates of stored ones: written whole; or, with one bad user or record anywhere
/// in it, refused whole (a user's refusal before a record's), leaving the store as it was.
fn a_large_dep_change_is_written_whole_or_refused_whole(f: &Fresh) {
    use kitting::store::DeviceWrite;
    let s = f.s();
    s.catalog_add(CatalogKind::Organization, CatalogEntry { name: "Sales".into(), description: None }, &audit("x"))
        .unwrap();
    s.catalog_add(CatalogKind::Tag, CatalogEntry { name: "red".into(), description: None }, &audit("x")).unwrap();
    let user = |name: &str, orgs: &[&str]| User {
        username: name.into(),
        name: format!("User {name}"),
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        ..User::default()
    };
    let first = DepChange {
        users: (0..10).map(|i| (user(&format!("old{i}"), &[]), true)).collect(),
        devices: (0..10)
            .map(|i| DeviceWrite {
                device: dep_record(&format!("OLD{i}"), Some(&format!("old{i}")), &[]),
                create: true,
                mail: false,
                expect: None,
            })
            .collect(),
    };
    s.dep_apply(first, &audit("dep.import")).unwrap();
    const N: usize = 1500;
    // A permutation of 0..N (7 and 1,500 share no factor).
    let shuffled = || (0..N).map(|i| i * 7 % N);
    let change = |bad_user: Option<User>, bad_record: Option<DeviceWrite>| {
        let mut users: Vec<(User, bool)> =
            shuffled().map(|i| (user(&format!("u{i:04}"), if i % 3 == 0 { &["Sales"] } else { &[] }), true)).collect();
        users.push((user("old3", &["Sales"]), false));
        users.extend(bad_user.map(|u| (u, true)));
        let mut writes: Vec<DeviceWrite> = shuffled()
            .map(|i| {
                // Owners named in another case; some owned by a stored user, some by none.
                let owner = match i % 5 {
                    0 => Some("OLD1".to_string()),
                    1 => None,
                    _ => Some(format!("U{i:04}")),
                };
                let tags: &[&str] = if i % 2 == 0 { &["red"] } else { &[] };
                let device = dep_record(&format!("N{i:05}"), owner.as_deref(), tags);
                DeviceWrite { device, create: true, mail: false, expect: None }
            })
            .collect();
        let stored = s.dep_device("old5").unwrap().unwrap();
        let mut updated = stored.clone();
        updated.display_name = Some("Moved".into());
        writes.push(DeviceWrite { device: updated, create: false, mail: false, expect: Some(stored.modified) });
        writes.extend(bad_record);
        DepChange { users, devices: writes.into() }
    };
    let counts = || (s.users().unwrap().len(), s.dep_devices().unwrap().len());
    let bad_org = user("u9999", &["Nope"]);
    let bad_tag =
        DeviceWrite { device: dep_record("N99999", None, &["nope"]), create: true, mail: false, expect: None };
    let ghost =
        DeviceWrite { device: dep_record("N99998", Some("ghost"), &[]), create: true, mail: false, expect: None };
    let m = format!("{:?}", s.dep_apply(change(Some(bad_org.clone()), None), &audit("x")).unwrap_err());
    assert!(m.contains("Nope"), "{m}");
    let m = format!("{:?}", s.dep_apply(change(None, Some(bad_tag.clone())), &audit("x")).unwrap_err());
    assert!(m.contains("nope"), "{m}");
    let m = format!("{:?}", s.dep_apply(change(None, Some(ghost)), &audit("x")).unwrap_err());
    assert!(m.contains("ghost"), "{m}");
    let m = format!("{:?}", s.dep_apply(change(Some(bad_org), Some(bad_tag)), &audit("x")).unwrap_err());
    assert!(m.contains("Nope") && !m.contains("nope"), "the user's refusal first: {m}");
    assert_eq!(counts(), (10, 10), "nothing written by a refused change");
    s.dep_apply(change(None, None), &audit("dep.import")).unwrap();
    assert_eq!(counts(), (10 + N, 10 + N));
    let users = s.users().unwrap();
    assert!(users.windows(2).all(|w| w[0].username.to_lowercase() < w[1].username.to_lowercase()));
    assert_eq!(s.user("U0003").unwrap().unwrap().organizations, ["Sales"]);
    assert_eq!(s.user("old3").unwrap().unwrap().organizations, ["Sales"]);
    let records = s.dep_devices().unwrap();
    assert!(records.windows(2).all(|w| w[0].identifier.to_lowercase() < w[1].identifier.to_lowercase()));
    for i in [0, 1, 2, 749, 1499] {
        let d = s.dep_device(&format!("n{i:05}")).unwrap().unwrap();
        assert_eq!(d, records.iter().find(|r| r.identifier == d.identifier).unwrap().clone());
        assert_eq!(d.display_name.as_deref(), Some(format!("Device N{i:05}").as_str()));
        assert_eq!(d.tags.is_empty(), i % 2 == 1, "{i}");
    }
    assert_eq!(s.dep_device("OLD5").unwrap().unwrap().display_name.as_deref(), Some("Moved"));
    // Records alone, out of order, between the stored ones: all written.
    let only: Vec<DeviceWrite> = shuffled()
        .map(|i| DeviceWrite {
            device: dep_record(&format!("N{i:05}b"), None, &[]),
            create: true,
            mail: false,
            expect: None,
        })
        .collect();
    s.dep_apply(DepChange { users: vec![], devices: only.into() }, &audit("dep.import")).unwrap();
    assert_eq!(counts(), (10 + N, 10 + 2 * N));
    let records = s.dep_devices().unwrap();
    assert!(records.windows(2).all(|w| w[0].identifier.to_lowercase() < w[1].identifier.to_lowercase()));
    assert!(s.dep_device("n00749B").unwrap().is_some() && s.dep_device("N00749").unwrap().is_some());
}

/// A DEP import cancelled by its progress (after its first 1,024 rows of 3,000) stops, writes nothing and
/// says it was cancelled; one over the row limit counts every row to the end.
fn a_dep_import_cancelled_or_over_the_limit_writes_nothing(f: &Fresh) {
    let mut text = String::from("UserName,Identifier,OS\n");
    for i in 0..3000 {
        text.push_str(&format!("user{i},D{i},ios\n"));
    }
    let file = f.file("many.csv", &text);
    let command = ops::dep::DepImport { file: file.clone(), dry_run: false, skip_invalid: false, max_rows: 5000 };
    let mut asked = 0;
    let r = ops::dep::import(&f.core(), command, &mut |p| {
        asked += 1;
        assert_eq!(p.rows, 1024);
        false
    });
    assert!(matches!(r, Err(ops::OpError::Cancelled)), "{r:?}");
    assert_eq!(asked, 1);
    let command = ops::dep::DepImport { file, dry_run: false, skip_invalid: false, max_rows: 2000 };
    let e = ops::dep::import(&f.core(), command, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("the file has 3000 data rows; at most 2000"), "{e}");
    assert!(f.s().users().unwrap().is_empty() && f.s().dep_devices().unwrap().is_empty());
}

fn catalog_entries_are_referenced_and_renames_follow(f: &Fresh) {
    let s = f.s();
    for (kind, name) in
        [(CatalogKind::Tag, "lobby"), (CatalogKind::Template, "std"), (CatalogKind::Organization, "Sales")]
    {
        s.catalog_add(kind, CatalogEntry { name: name.into(), description: None }, &audit("x")).unwrap();
    }
    let r = dep(f, "UserName,Organizations,Identifier,OS,Template,DeviceTags\ntaro,Sales,D1,ios,std,lobby\n");
    assert!(r.committed, "{:?}", r.rejected);
    let r = dep(f, "Identifier,OS,DeviceTags\nD2,ios,nope\n");
    assert!(!r.committed && r.rejected.kept()[0].reason().contains("nope"), "{:?}", r.rejected.kept());
    let m = refused(s.catalog_delete(CatalogKind::Tag, "lobby", &audit("x")));
    assert!(m.contains("device D1"), "{m}");
    let n = s
        .catalog_update(CatalogKind::Tag, "lobby", CatalogEntry { name: "hall".into(), description: None }, &audit("x"))
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(s.dep_device("D1").unwrap().unwrap().tags, ["hall"]);
    let n = s
        .catalog_update(
            CatalogKind::Organization,
            "Sales",
            CatalogEntry { name: "Eigyo".into(), description: None },
            &audit("x"),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(s.user("taro").unwrap().unwrap().organizations, ["Eigyo"]);
    assert!(refused(s.delete_user("taro", &audit("x"))).contains("D1"), "the owner of a DEP device stays");
    assert_eq!(s.catalog(CatalogKind::Tag).unwrap().iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["hall"]);
}

fn registration_emails_queue_and_are_marked_written(f: &Fresh) {
    let s = f.s();
    dep(f, "Identifier,OS,RegistrationEmail\nD1,ios,a@example.com\nD2,ios,b@example.com\n");
    let mails = s.outbox().unwrap();
    assert_eq!(mails.len(), 2);
    s.mark_written(&[mails[0].id], &audit("x")).unwrap();
    let after = s.outbox().unwrap();
    assert_eq!(after.iter().map(|m| m.written).collect::<Vec<_>>(), [true, false]);
}

fn lists_and_deletions_that_succeed(f: &Fresh) {
    let s = f.s();
    for name in ["carol", "Alice", "bob"] {
        s.put_user(User { username: name.into(), ..User::default() }, true, &audit("x")).unwrap();
    }
    let names: Vec<String> = s.users().unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["Alice", "bob", "carol"], "by username, ignoring case");
    s.delete_user("BOB", &audit("x")).unwrap();
    assert!(s.user("bob").unwrap().is_none());
    assert!(matches!(s.delete_user("bob", &audit("x")), Err(StoreError::NotFound(_))));
    let entry = CatalogEntry { name: "Sales".into(), description: Some("Tokyo".into()) };
    s.catalog_add(CatalogKind::Organization, entry.clone(), &audit("x")).unwrap();
    assert_eq!(s.catalog_entry(CatalogKind::Organization, "Sales").unwrap(), Some(entry));
    assert!(s.catalog_entry(CatalogKind::Organization, "sales").unwrap().is_none(), "catalog names keep their case");
    assert!(s.catalog_entry(CatalogKind::Tag, "Sales").unwrap().is_none(), "each kind is its own list");
    s.catalog_delete(CatalogKind::Organization, "Sales", &audit("x")).unwrap();
    assert!(s.catalog(CatalogKind::Organization).unwrap().is_empty());
    dep(f, "Identifier,OS\nB2,ios\na1,android\n");
    let ids: Vec<String> = s.dep_devices().unwrap().into_iter().map(|d| d.identifier).collect();
    assert_eq!(ids, ["a1", "B2"], "by identifier, ignoring case");
    // Pages: the same order, each after the last one read, whatever case it is asked in.
    dep(f, "Identifier,OS\na10,ios\nA2,ios\nb,ios\nc3,ios\n");
    let all: Vec<String> = s.dep_devices().unwrap().into_iter().map(|d| d.identifier).collect();
    assert_eq!(all, ["a1", "a10", "A2", "b", "B2", "c3"]);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.dep_devices_page(after.as_deref(), 4).unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some(last.identifier.to_uppercase());
        paged.extend(page.into_iter().map(|d| d.identifier));
    }
    assert_eq!(paged, all);
    let first: Vec<String> = s.dep_devices_page(None, 2).unwrap().into_iter().map(|d| d.identifier).collect();
    assert_eq!(first, ["a1", "a10"]);
    assert!(s.dep_devices_page(Some("zzz"), 10).unwrap().is_empty());
}

// --- audit and feed -----------------------------------------------------------------------------

fn every_change_is_audited_in_order_and_told_to_subscribers(f: &Fresh) {
    let s = f.s();
    let feed = s.subscribe().unwrap();
    let p = profile(s, "P");
    let d = s.add_device(p.id, device(&imei(1), "", ""), &audit("device.add")).unwrap();
    // A refused change writes no entry and tells nobody; the core records the refusal on its own.
    refused(s.add_device(p.id, device(&imei(1), "", ""), &audit("device.add")));
    let mut refusal = audit("device.add");
    refusal.outcome = AuditOutcome::Refused("duplicate".into());
    s.append_audit(&refusal).unwrap();
    let changes = told(&feed, 3);
    let subjects: Vec<Subject> = changes.iter().map(|c| c.subject.clone()).collect();
    // A change to one device names it: a screen showing the profile reads that device, not all of them.
    assert_eq!(subjects, [Subject::Profiles, Subject::Devices(p.id, vec![d.seq]), Subject::Nothing]);
    assert_eq!(changes[1].entry.actor.user, kitting::os::user());
    let entries = s.audit(&AuditQuery::default()).unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries.windows(2).all(|w| w[0].id > w[1].id), "newest first, ids increasing with time");
    assert_eq!(entries[0].outcome, AuditOutcome::Refused("duplicate".into()));
    assert_eq!(entries.iter().map(|e| changes.iter().any(|c| c.entry.id == e.id)).filter(|x| *x).count(), 3);
    let limited = s.audit(&AuditQuery { limit: Some(1), ..Default::default() }).unwrap();
    assert_eq!(limited[0].id, entries[0].id);
    // An import is one entry and one change.
    let csv: String =
        std::iter::once("IMEI\n".to_string()).chain((10..200).map(|i| format!("{}\n", imei(i)))).collect();
    f.import("P", &csv, false, false);
    let subjects: Vec<Subject> = told(&feed, 1).into_iter().map(|c| c.subject).collect();
    assert_eq!(subjects, [Subject::Profile(p.id)], "an import is told as the profile, wholesale");
    assert_eq!(s.audit(&AuditQuery::default()).unwrap().len(), 4);
    // Status, attributes and deletion name their devices too.
    s.set_status(p.id, d.seq, Status::Kitted(chrono::Utc::now()), &audit("scan.verify")).unwrap();
    s.set_attribute(p.id, &[d.seq], "Asset Tag", Some("A-1"), &audit("device.set")).unwrap();
    s.delete_devices(p.id, &[d.seq], &audit("device.delete")).unwrap();
    let subjects: Vec<Subject> = told(&feed, 3).into_iter().map(|c| c.subject).collect();
    assert_eq!(subjects, vec![Subject::Devices(p.id, vec![d.seq]); 3]);
}

fn a_second_handle_sees_changes_through_its_feed(f: &Fresh) {
    let s = f.store.clone();
    let feed = s.subscribe().unwrap();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let core = ops::Ctx::new(s.as_ref(), Actor::named("other", FrontEnd::Workstation), Utc::now());
            let c = ops::profiles::CreateProfile {
                profile: NewProfile { name: "Q".into(), ..Default::default() },
                default_token_days: 7,
            };
            ops::profiles::create(&core, c).unwrap();
        })
    };
    let change = feed.recv_timeout(std::time::Duration::from_secs(10)).expect("the change arrives");
    writer.join().unwrap();
    assert_eq!(change.subject, Subject::Profiles);
    assert_eq!(change.entry.command, "profile.create");
    assert_eq!(change.entry.actor.front_end, FrontEnd::Workstation, "the other handle's entry");
    assert!(s.profile("q").unwrap().is_some());
}

fn a_dual_sim_devices_second_imei_is_unique_like_the_first_and_finds_it(f: &Fresh) {
    let s = f.s();
    let a = profile(s, "A");
    let b = profile(s, "B");
    let mut dual = device(&imei(1), "", "");
    dual.ids.imei2 = Some(Imei::parse(&imei(2)).unwrap());
    let d = s.add_device(a.id, dual, &audit("x")).unwrap();
    // Its second IMEI is nobody else's first, in any profile, and the other way round.
    let m = refused(s.add_device(b.id, device(&imei(2), "", ""), &audit("x")));
    assert!(m.contains(&format!("IMEI {} is already in profile \"A\"", imei(2))), "{m}");
    let mut other = device(&imei(3), "", "");
    other.ids.imei2 = Some(Imei::parse(&imei(1)).unwrap());
    refused(s.add_device(b.id, other, &audit("x")));
    // Found by either IMEI (a registration, Find, a scan), and checked clean.
    for n in [1, 2] {
        let found = s.find(&Lookup::Imei(Imei::parse(&imei(n)).unwrap())).unwrap().expect("found");
        assert_eq!((found.0, found.1.seq), (a.id, d.seq));
        assert_eq!(found.1.ids.imei2, d.ids.imei2, "the second IMEI is stored");
    }
    assert_eq!(s.candidates(Some(Imei::parse(&imei(2)).unwrap()), None).unwrap().len(), 1);
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
    // Removed from the device, its second IMEI is free again.
    let mut single = d.clone();
    single.ids.imei2 = None;
    s.update_device(a.id, single, Some(d.modified), &audit("x")).unwrap();
    s.add_device(b.id, device(&imei(2), "", ""), &audit("x")).unwrap();
    // An import: IMEI 2 read, and checked against the stored IMEIs and the file's.
    let csv = format!(
        "IMEI,IMEI 2,Serial Number,Manufacturer\n{},{},,\n{},{},,\n{},{},,\n",
        imei(10),
        imei(11),
        imei(12),
        imei(2),
        imei(13),
        imei(10)
    );
    let r = f.import("C", &csv, false, false);
    assert!(r.committed.is_none());
    let lines: Vec<u64> = r.rejected.iter().map(|x| x.line).collect();
    assert_eq!(lines, [3, 4], "{:?}", r.rejected);
    assert!(r.rejected[0].reason().contains("already in profile \"B\""), "{:?}", r.rejected[0]);
    assert!(r.rejected[1].reason().contains("already in this file at line 2"), "{:?}", r.rejected[1]);
    let r = f.import("C", &csv, false, true);
    let c = r.committed.expect("the valid row");
    let (_, d) = s.find(&Lookup::Imei(Imei::parse(&imei(11)).unwrap())).unwrap().expect("by its second IMEI");
    assert_eq!((d.ids.imei.map(|i| i.to_string()), c.device_count), (Some(imei(10)), 1));
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $name() { super::$name(&super::Fresh::memory()) } )*
        }
        mod sled {
            $( #[test] fn $name() { super::$name(&super::Fresh::sled()) } )*
        }
        /// The client of a kitting server process (on sled).
        mod remote {
            $( #[test] fn $name() { super::$name(&super::Fresh::remote()) } )*
        }
        /// PostgreSQL, when KITTING_TEST_POSTGRES names a server (skipped with one line otherwise).
        mod postgres {
            $( #[test] fn $name() { if let Some(f) = super::Fresh::postgres() { super::$name(&f) } } )*
        }
    };
}

/// Waits for `rx` (a thread's answer), failing instead of hanging when the thread is stuck.
fn within<T>(rx: &std::sync::mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_else(|_| panic!("{what} waited for the import"))
}

/// A writing import takes the writers' lock only to begin and to commit: other changes go on while it
/// reads and stages its file (an add elsewhere, an edit of its profile's record), an add to the profile
/// it fills waits for it, and at its commit its rows are checked again: an IMEI saved meanwhile by
/// someone else refuses the import, naming the line; what the others saved stays.
fn changes_go_on_during_an_import_and_are_checked_again_at_its_commit(f: &Fresh) {
    use kitting::csv::android::{ImportOptions, check};
    let s = f.s();
    let (a, b) = (profile(s, "A"), profile(s, "B"));
    let csv = format!("IMEI,Serial Number,Manufacturer\n{},,\n{},,\n,SN-7,Zebra\n", imei(20), imei(21));
    let file = f.file("during.csv", &csv);
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 10 };
    let checked = check(s, &file, ImportTarget::Existing(b.id), &opts, &mut |_| true).unwrap();
    assert_eq!(checked.report.valid, 3);
    std::thread::scope(|t| {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        t.spawn(move || {
            tx.send(s.add_device(a.id, device(&imei(21), "", ""), &audit("x")).map(|_| ())).unwrap();
        });
        within(&rx, "an add to another profile").unwrap();
        let described = ProfileChange { description: Some(Some("theirs".into())), ..Default::default() };
        t.spawn(move || tx2.send(s.update_profile(b.id, &described, None, &audit("x")).map(|_| ())).unwrap());
        within(&rx, "an edit of the profile's record").unwrap();
        let waiting = t.spawn(move || s.add_device(b.id, device(&imei(22), "", ""), &audit("x")));
        let e = checked.session.commit(&[], &audit("import")).unwrap_err().to_string();
        assert!(e.contains("line 3: IMEI") && e.contains(&imei(21)), "{e}");
        assert!(e.contains("already in profile \"A\"") && e.contains("nothing was imported"), "{e}");
        waiting.join().unwrap().unwrap();
    });
    let b_now = s.profile_by_id(b.id).unwrap().unwrap();
    assert_eq!((b_now.device_count, b_now.description.as_deref()), (1, Some("theirs")), "theirs, and nothing of it");
    assert!(s.find(&Lookup::Imei(Imei::parse(&imei(20)).unwrap())).unwrap().is_none());
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
    // Without the clash it commits, on the profile as it is now.
    let again = format!("IMEI,Serial Number,Manufacturer\n{},,\n,SN-7,Zebra\n", imei(20));
    assert_eq!(f.import("B", &again, false, false).committed.map(|p| p.device_count), Some(3));
    assert_eq!(s.profile_by_id(b.id).unwrap().unwrap().description.as_deref(), Some("theirs"));
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
}

/// A profile created during an import that creates one gets an id of its own; both are there after.
fn a_profile_created_during_a_creating_import_gets_its_own_id(f: &Fresh) {
    use kitting::csv::android::{ImportOptions, check};
    let s = f.s();
    let file = f.file("create.csv", &format!("IMEI\n{}\n", imei(30)));
    let new = ops::profiles::new_profile(NewProfile { name: "C".into(), ..NewProfile::default() }, 7, Utc::now());
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 10 };
    let checked = check(s, &file, ImportTarget::Create(Box::new(new.unwrap())), &opts, &mut |_| true).unwrap();
    let d = profile(s, "D");
    let c = checked.session.commit(&[], &audit("import")).unwrap();
    assert_ne!(c.id, d.id);
    let names: Vec<String> = s.profiles().unwrap().into_iter().map(|p| p.name).collect();
    assert!(names.contains(&"C".to_string()) && names.contains(&"D".to_string()), "{names:?}");
    assert_eq!(s.profile("C").unwrap().unwrap().device_count, 1);
    let e = profile(s, "E");
    assert!(e.id != c.id && e.id != d.id, "ids stay unique after the commit");
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
}

/// `kitting db copy`'s two halves: everything one store holds, read through the contract, loaded into
/// this one as it was (ids, device numbers, statuses, DEP records, mails, the audit trail), and read back
/// the same; this store then goes on as if it had been written here; a store holding anything refuses.
fn a_whole_inventory_loads_into_an_empty_store_as_it_was(f: &Fresh) {
    // The source keeps times as a database does (milliseconds), not as the memory store (nanoseconds).
    let src = Fresh::sled();
    let s = src.s();
    s.catalog_add(CatalogKind::Organization, CatalogEntry { name: "Sales".into(), description: None }, &audit("x"))
        .unwrap();
    s.catalog_add(CatalogKind::Tag, CatalogEntry { name: "lobby".into(), description: Some("L".into()) }, &audit("x"))
        .unwrap();
    let r = dep(
        &src,
        "UserName,Organizations,Identifier,OS,DeviceTags,RegistrationEmail\ntaro,Sales,D1,ios,lobby,t@example.com\n",
    );
    assert!(r.committed, "{:?}", r.rejected);
    let csv =
        format!("IMEI,Serial Number,Manufacturer,Asset\n{},,,A1\n,SN1,Zebra,A2\n{},SN2,Samsung,\n", imei(1), imei(2));
    assert!(src.import("Main", &csv, false, false).committed.is_some());
    let main = s.profile("Main").unwrap().unwrap();
    let first = s.devices_page(main.id, None, 10).unwrap();
    s.delete_devices(main.id, &[first[1].seq], &audit("x")).unwrap();
    s.set_status(main.id, first[0].seq, Status::Registered(Utc::now()), &audit("x")).unwrap();
    let other = profile(s, "Other");
    let mut dual = device(&imei(3), "", "");
    dual.ids.imei2 = Some(Imei::parse(&imei(4)).unwrap());
    s.add_device(other.id, dual, &audit("x")).unwrap();
    let inv = kitting::store::Inventory::read(s).unwrap();

    f.s().load(&inv, &audit("db.copy")).unwrap();
    let back = kitting::store::Inventory::read(f.s()).unwrap();
    assert_eq!(back.profiles, inv.profiles);
    assert_eq!((&back.users, &back.catalog, &back.dep, &back.mails), (&inv.users, &inv.catalog, &inv.dep, &inv.mails));
    let commands = |i: &kitting::store::Inventory| i.audit.iter().map(|e| e.command.clone()).collect::<Vec<_>>();
    assert_eq!(commands(&back)[..inv.audit.len()], commands(&inv)[..], "the trail in order");
    assert_eq!(commands(&back).last().map(String::as_str), Some("db.copy"));
    assert!(f.s().check().unwrap().is_empty(), "{:?}", f.s().check());
    // Identifiers are taken here now, numbers and ids go on after the copied ones.
    let m = refused(f.s().add_device(other.id, device(&imei(4), "", ""), &audit("x")));
    assert!(m.contains("Other"), "{m}");
    let added = f.s().add_device(main.id, device(&imei(5), "", ""), &audit("x")).unwrap();
    assert!(added.seq > first[2].seq, "{} after {}", added.seq, first[2].seq);
    assert!(profile(f.s(), "Third").id > other.id);
    let m = refused(f.s().load(&inv, &audit("db.copy")));
    assert!(m.contains("not empty") && m.contains("3 profiles"), "{m}");
}

/// A snapshot (a backup's read) is the whole inventory as the contract reads it, and a change made
/// after it is not in it.
fn a_snapshot_is_the_whole_inventory_as_of_one_moment(f: &Fresh) {
    let p = profile(f.s(), "Snap");
    for i in 0..3 {
        f.s().add_device(p.id, device(&imei(60 + i), "", ""), &audit("x")).unwrap();
    }
    let snap = f.s().snapshot().unwrap();
    let read = kitting::store::Inventory::read(f.s()).unwrap();
    assert_eq!(snap.counts(), read.counts());
    assert_eq!(snap.profiles[0].1.len(), 3);
    let ids = |i: &kitting::store::Inventory| i.audit.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(&snap), ids(&read), "the same trail");
    f.s().add_device(p.id, device(&imei(70), "", ""), &audit("x")).unwrap();
    assert_eq!(snap.profiles[0].1.len(), 3, "a snapshot is a copy");
    assert_eq!(f.s().snapshot().unwrap().profiles[0].1.len(), 4);
}

contract!(
    a_snapshot_is_the_whole_inventory_as_of_one_moment,
    profile_names_are_unique_ignoring_case_and_renames_keep_them_unique,
    a_profile_update_from_a_stale_read_is_a_conflict,
    references_users_must_exist_and_referenced_users_stay,
    deleting_a_profile_removes_its_devices_and_frees_their_identifiers,
    identifiers_are_unique_across_profiles,
    candidates_find_a_serial_kept_without_a_manufacturer,
    a_device_update_checks_duplicates_and_its_stamp,
    set_attribute_changes_many_devices_at_once_and_delete_and_status,
    devices_come_in_pages_in_order,
    imports_are_all_or_nothing_and_report_every_duplicate,
    a_dropped_import_session_writes_nothing_and_a_dry_run_takes_no_writer_lock,
    dep_records_are_unique_ignoring_case_and_read_only_once_checked_in,
    a_large_dep_change_is_written_whole_or_refused_whole,
    a_dep_import_cancelled_or_over_the_limit_writes_nothing,
    catalog_entries_are_referenced_and_renames_follow,
    registration_emails_queue_and_are_marked_written,
    lists_and_deletions_that_succeed,
    every_change_is_audited_in_order_and_told_to_subscribers,
    a_second_handle_sees_changes_through_its_feed,
    a_dual_sim_devices_second_imei_is_unique_like_the_first_and_finds_it,
    changes_go_on_during_an_import_and_are_checked_again_at_its_commit,
    a_profile_created_during_a_creating_import_gets_its_own_id,
    a_whole_inventory_loads_into_an_empty_store_as_it_was,
);
