//! The scan station's core: receive and verify, refusals that name where a device is, pairing, undo,
//! one audit entry per scan.

mod common;

use common::tui::*;
use kitting::domain::Status;
use kitting::domain::audit::{AuditOutcome, AuditQuery};
use kitting::ops::scan::{self, Accepted, Scan, ScanMode, Station, Undo, UndoScan};
use kitting::ops::{self, OpError};
use kitting::store::{Lookup, Store};

fn station(mode: ScanMode) -> Station {
    Station {
        profile: "Dock".into(),
        mode,
        manufacturer: "Samsung".into(),
        attributes: vec![("Asset Tag".into(), "BOX-1".into())],
        pair_serial: false,
        pair_imei: false,
        strip_serial_s: false,
    }
}

fn scan_one(fx: &Fixture, s: &Station, raw: &str, pair_with: Option<u32>) -> Result<Accepted, OpError> {
    let mut out = scan::run(&fx.core(), Scan { station: s.clone(), raw: raw.into(), pair_with });
    assert_eq!(out.len(), 1, "{raw:?}: {out:?}");
    out.remove(0)
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    fx.import("Other", "IMEI\n353918051234561\n");
    fx
}

fn entries(fx: &Fixture, command: &str) -> Vec<AuditOutcome> {
    let all = fx.store.audit(&AuditQuery::default()).unwrap();
    all.into_iter().filter(|e| e.command == command).map(|e| e.outcome).collect()
}

#[test]
fn receive_adds_each_scan_with_the_session_attributes_and_refuses_what_is_elsewhere() {
    let fx = fixture();
    let s = station(ScanMode::Receive);
    let a = scan_one(&fx, &s, "]C1 35-209900-176148-1", None).unwrap();
    assert_eq!(a.value, "352099001761481");
    assert_eq!(a.device.attribute("Asset Tag"), Some("BOX-1"));
    // An IMEISV is stored as its IMEI.
    let sv = scan_one(&fx, &s, "3520990017614823", None);
    assert!(matches!(&sv, Err(OpError::Refused(m)) if m.contains("352099001761481")), "{sv:?}");
    let elsewhere = scan_one(&fx, &s, "353918051234561", None).unwrap_err();
    assert!(elsewhere.to_string().contains("Other"), "names the profile it is in: {elsewhere}");
    let serial = scan_one(&fx, &s, "R58N99XYZ", None).unwrap();
    assert_eq!(serial.device.ids.manufacturer.as_deref(), Some("Samsung"));
    let meid = scan_one(&fx, &s, "A0000012345678", None).unwrap_err();
    assert!(meid.to_string().contains("MEID"), "{meid}");
    let bad = scan_one(&fx, &s, "352099001761482", None).unwrap_err();
    assert!(bad.to_string().contains("check digit"), "{bad}");
    // Every scan is one entry, refused ones too.
    let trail = entries(&fx, "scan.receive");
    assert_eq!(trail.len(), 6, "{trail:?}");
    assert_eq!(trail.iter().filter(|o| matches!(o, AuditOutcome::Done(_))).count(), 2);
    let p = fx.store.profile("Dock").unwrap().unwrap();
    assert_eq!(p.device_count, 5);
}

/// Dual-SIM boxes: a second IMEI scanned right after the first goes onto that device (then a serial too,
/// with serial pairing); one that is another device's IMEI is refused; undo takes it off again.
#[test]
fn a_second_imei_right_after_the_first_pairs_into_one_dual_sim_device() {
    let fx = fixture();
    let mut s = station(ScanMode::Receive);
    let first = scan_one(&fx, &s, "352099001761481", None).unwrap();
    // Without pairing set up, the second IMEI is a device of its own.
    let own = scan_one(&fx, &s, "352099001761499", Some(first.device.seq)).unwrap();
    assert_ne!(own.device.seq, first.device.seq);
    ops::scan::undo(&fx.core(), UndoScan { station: s.clone(), undo: own.undo.clone() }).unwrap();
    s.pair_imei = true;
    s.pair_serial = true;
    // Another device's IMEI is refused as a second IMEI, naming where it is; nothing changes.
    let taken = scan_one(&fx, &s, "353918051234561", Some(first.device.seq)).unwrap_err();
    assert!(taken.to_string().contains("Other"), "{taken}");
    let second = scan_one(&fx, &s, "352099001761499", Some(first.device.seq)).unwrap();
    assert_eq!(second.undo, Undo::UnpairImei(first.device.seq));
    assert_eq!(second.device.seq, first.device.seq, "one record");
    assert_eq!(second.device.ids.imei2.map(|i| i.to_string()).as_deref(), Some("352099001761499"));
    assert!(second.message.contains("second IMEI 352099001761499"), "{}", second.message);
    // A box labelled IMEI, IMEI 2, serial: the serial goes onto the same device, keeping both IMEIs.
    let serial = scan_one(&fx, &s, "R58N99XYZ", second.pairs_next()).unwrap();
    assert_eq!(serial.device.seq, first.device.seq);
    assert_eq!(serial.device.ids.imei2, second.device.ids.imei2, "the serial pairing keeps the second IMEI");
    // Found by its second IMEI; then undone: serial, then second IMEI.
    let by_second = Lookup::Imei(kitting::domain::Imei::parse("352099001761499").unwrap());
    assert_eq!(fx.store.find(&by_second).unwrap().map(|(_, d)| d.seq), Some(first.device.seq));
    let core = fx.core();
    ops::scan::undo(&core, UndoScan { station: s.clone(), undo: serial.undo.clone() }).unwrap();
    let d = ops::scan::undo(&core, UndoScan { station: s, undo: second.undo.clone() }).unwrap().unwrap();
    assert_eq!((d.ids.imei2, d.ids.serial), (None, None));
    assert!(fx.store.find(&by_second).unwrap().is_none(), "the second IMEI is free again");
    assert!(fx.store.check().unwrap().is_empty());
}

#[test]
fn a_serial_without_manufacturer_is_refused_and_pairing_puts_it_on_the_imei_device() {
    let fx = fixture();
    let mut s = station(ScanMode::Receive);
    s.manufacturer.clear();
    let e = scan_one(&fx, &s, "R58N99XYZ", None).unwrap_err();
    assert_eq!(e.field(), Some("manufacturer"), "{e}");
    s.manufacturer = "Samsung".into();
    s.pair_serial = true;
    let imei = scan_one(&fx, &s, "352099001761481", None).unwrap();
    let paired = scan_one(&fx, &s, "R58N99XYZ", Some(imei.device.seq)).unwrap();
    assert_eq!(paired.undo, Undo::Unpair(imei.device.seq));
    assert_eq!(paired.device.seq, imei.device.seq, "one record");
    assert_eq!(paired.device.ids.serial.as_deref(), Some("R58N99XYZ"));
    // One code carrying both (GS-separated) pairs as well.
    let both = scan::run(
        &fx.core(),
        Scan { station: s.clone(), raw: "356938035643817\u{1d}R58N77ABC".into(), pair_with: None },
    );
    let both: Vec<_> = both.into_iter().map(Result::unwrap).collect();
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].device.seq, both[0].device.seq);
    // Undo takes the serial off again, then the device away.
    let core = fx.core();
    ops::scan::undo(&core, UndoScan { station: s.clone(), undo: paired.undo.clone() }).unwrap();
    let d = fx.store.device(fx.store.profile("Dock").unwrap().unwrap().id, imei.device.seq).unwrap().unwrap();
    assert_eq!(d.ids.serial, None);
    ops::scan::undo(&core, UndoScan { station: s, undo: imei.undo.clone() }).unwrap();
    let lookup = Lookup::Imei(kitting::domain::Imei::parse("352099001761481").unwrap());
    assert!(fx.store.find(&lookup).unwrap().is_none());
    assert_eq!(entries(&fx, "scan.undo").len(), 2);
}

#[test]
fn verify_marks_kitted_lists_unknowns_and_undo_puts_it_back() {
    let fx = fixture();
    let s = station(ScanMode::Verify);
    let a = scan_one(&fx, &s, "490154203237518", None).unwrap();
    assert!(matches!(a.device.status, Status::Kitted(_)), "{:?}", a.device.status);
    let again = scan_one(&fx, &s, "490154203237518", None).unwrap();
    assert_eq!(again.undo, Undo::Nothing);
    assert!(again.message.contains("already kitted"), "{}", again.message);
    let by_serial = scan_one(&fx, &s, "sn-zebra-7", None);
    // Dashes are removed from a scan: SNZEBRA7 is not SN-ZEBRA-7.
    assert!(by_serial.is_err());
    let serial = scan_one(&fx, &s, "R58M12ABC", None).unwrap();
    assert_eq!(serial.device.ids.imei.unwrap().to_string(), "356938035643809");
    let unknown = scan_one(&fx, &s, "352099001761481", None).unwrap_err();
    assert!(matches!(&unknown, OpError::NotFound(m) if m.contains("unknown")), "{unknown}");
    let other = scan_one(&fx, &s, "353918051234561", None).unwrap_err();
    assert!(other.to_string().contains("\"Other\""), "{other}");
    ops::scan::undo(&fx.core(), UndoScan { station: s, undo: a.undo }).unwrap();
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    assert_eq!(fx.store.device(id, a.device.seq).unwrap().unwrap().status, Status::Pending);
}
