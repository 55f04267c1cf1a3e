//! The scan station in the workstation: what a scanner types, the banner, counts, undo, the bell, and
//! the station opened from a profile.

mod common;

use common::tui::*;
use kitting::domain::Status;
use kitting::ops::scan::{ScanMode, Station};
use kitting::store::Store;
use kitting::tui::app::{App, Screen};
use kitting::tui::screens::scan::{Outcome, ScanState};
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

fn station(mode: ScanMode) -> Station {
    Station {
        profile: "Dock".into(),
        mode,
        manufacturer: "Samsung".into(),
        attributes: vec![("Department".into(), "Receiving".into())],
        pair_serial: false,
        pair_imei: false,
        strip_serial_s: false,
    }
}

fn scan_state(app: &App) -> &ScanState {
    match app.screen() {
        Screen::Scan(s) => s,
        other => panic!("not the scan station: {other:?}"),
    }
}

fn open(fx: &Fixture, mode: ScanMode) -> App {
    let mut app = fx.app(ThemeName::Dark);
    app.open_scan(station(mode)).unwrap();
    app
}

#[test]
fn scans_end_with_enter_tab_cr_or_lf_and_a_refusal_never_runs_into_the_next() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = open(&fx, ScanMode::Receive);
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    // A bad scan (wrong check digit), then at once a good one: the line was cleared in between.
    type_text(&mut app, "352099001761482");
    key(&mut app, KeyCode::Tab);
    assert_eq!(scan_state(&app).input, "", "cleared after a refusal");
    assert_eq!(app.bells, 1, "the bell rings on a refusal");
    type_text(&mut app, "356938035643817");
    ctrl(&mut app, 'm'); // CR as a raw terminal may deliver it
    type_text(&mut app, "R58N99XYZ");
    ctrl(&mut app, 'j'); // LF
    // A duplicate of a device already in the profile.
    type_text(&mut app, "490154203237518");
    key(&mut app, KeyCode::Enter);
    let s = scan_state(&app);
    assert_eq!((s.counts.accepted, s.counts.refused, s.counts.duplicates), (3, 1, 1), "{:?}", s.counts);
    let outcomes: Vec<Outcome> = s.recent.iter().map(|r| r.outcome).collect();
    use Outcome::*;
    assert_eq!(outcomes, [Duplicate, Accepted, Accepted, Refused, Accepted], "newest first");
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("REFUSED") && text.contains("already"), "{text}");
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    let devices = fx.store.devices_page(id, None, 100).unwrap();
    assert_eq!(devices.len(), 6);
    let added = devices.iter().find(|d| d.ids.serial.as_deref() == Some("R58N99XYZ")).unwrap();
    assert_eq!(added.attribute("Department"), Some("Receiving"));
    assert_eq!(added.ids.manufacturer.as_deref(), Some("Samsung"));
}

#[test]
fn undo_takes_back_the_last_accepted_scan_and_esc_says_what_was_done() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = open(&fx, ScanMode::Receive);
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'z');
    assert_eq!(scan_state(&app).counts.undone, 1);
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    assert_eq!(fx.store.profile_by_id(id).unwrap().unwrap().device_count, 3, "the device is gone again");
    ctrl(&mut app, 'z');
    assert_eq!(app.status.as_ref().map(|s| s.1.as_str()), Some("nothing to undo"));
    // Esc with text on the line clears it; Esc again leaves, saying what the station did.
    type_text(&mut app, "3520");
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen(), Screen::Scan(_)));
    key(&mut app, KeyCode::Esc);
    assert!(!matches!(app.screen(), Screen::Scan(_)));
    let status = app.status.clone().unwrap().1;
    assert!(status.contains("0 accepted") && status.contains("1 undone"), "{status}");
}

#[test]
fn verify_marks_kitted_and_lists_unknown_devices() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = open(&fx, ScanMode::Verify);
    type_text(&mut app, "]C1490154203237518");
    key(&mut app, KeyCode::Enter);
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    let s = scan_state(&app);
    assert_eq!((s.counts.accepted, s.counts.unknown), (1, 1));
    assert_eq!(s.unknown, ["352099001761481"]);
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    let d = fx.store.devices_page(id, None, 10).unwrap();
    assert!(matches!(d[0].status, Status::Kitted(_)), "{:?}", d[0].status);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("unknown: 1"), "{text}");
}

#[test]
fn the_profile_opens_a_station_from_a_form() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    key(&mut app, KeyCode::Enter); // open the profile
    type_text(&mut app, "s");
    assert!(form(&app).title.contains("Scan station on Dock"));
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "Zebra");
    key(&mut app, KeyCode::Enter);
    let s = scan_state(&app);
    assert_eq!((s.station.mode, s.station.manufacturer.as_str()), (ScanMode::Receive, "Zebra"));
    // q types into the scan line: it does not quit while scanning.
    type_text(&mut app, "q");
    assert!(!app.quit);
}

#[test]
fn snapshots_of_the_station() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    for mode in [ScanMode::Receive, ScanMode::Verify] {
        let mut app = open(&fx, mode);
        for scan in ["490154203237518", "12", "352099001761481"] {
            type_text(&mut app, scan);
            key(&mut app, KeyCode::Enter);
        }
        for (w, h) in [(80, 24), (120, 40)] {
            let name = format!("scan_{}_{w}x{h}", mode.label());
            insta::assert_snapshot!(name, mask(&screen(&mut app, w, h)));
        }
    }
}

#[test]
fn find_opens_a_device_where_it_lives_from_any_screen() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    fx.import("Other", "IMEI\n353918051234561\n");
    let dep = fx.dir.path().join("dep.csv");
    std::fs::write(&dep, "Identifier,Code,OS,Serial,DEPMethod\nDEVICE01,ABC123,ios,R58M12ABC,Serial\n").unwrap();
    let command = kitting::ops::dep::DepImport { file: dep, dry_run: false, skip_invalid: false, max_rows: 1000 };
    kitting::ops::dep::import(&fx.core(), command, &mut |_| true).unwrap();
    let mut app = fx.app(ThemeName::Dark);
    // One place: straight to the profile, filtered to the device.
    key(&mut app, KeyCode::F(3));
    type_text(&mut app, "35-391805-123456-1");
    key(&mut app, KeyCode::Enter);
    match app.screen() {
        Screen::Detail(d) => {
            assert_eq!(d.profile.name, "Other");
            assert_eq!(d.view.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    // Two places (a profile's device and a DEP record's serial): a list; Enter opens the DEP record.
    ctrl(&mut app, 'g');
    type_text(&mut app, "r58m12abc");
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("2 places with \"r58m12abc\""), "{text}");
    insta::assert_snapshot!("find_list_80x24", mask(&text));
    insta::assert_snapshot!("find_list_120x40", mask(&screen(&mut app, 120, 40)));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen(), Screen::DepDevice(d) if d.device.identifier == "DEVICE01"), "{:?}", app.screen());
    // Nowhere: the form says so and keeps the value.
    key(&mut app, KeyCode::F(3));
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().is_some_and(|e| e.contains("no device with")), "{:?}", form(&app).error);
    insta::assert_snapshot!("find_nowhere_80x24", mask(&screen(&mut app, 80, 24)));
}

#[test]
fn check_in_registers_android_devices_and_checks_dep_devices_in_with_the_reason() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let dep = fx.dir.path().join("dep.csv");
    std::fs::write(&dep, "Identifier,Code,OS,Serial,DEPMethod\nDEVICE01,ABC123,ios,C02XK1,Serial\n").unwrap();
    let command = kitting::ops::dep::DepImport { file: dep, dry_run: false, skip_invalid: false, max_rows: 1000 };
    kitting::ops::dep::import(&fx.core(), command, &mut |_| true).unwrap();
    let token = fx.store.profile("Dock").unwrap().unwrap().token.unwrap().value;
    let mut app = fx.app(ThemeName::Dark);
    key(&mut app, KeyCode::F(4));
    type_text(&mut app, &token);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "490154203237518");
    key(&mut app, KeyCode::Enter);
    // The token is kept for the next device, the identifiers are cleared; an unknown IMEI is refused.
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("registered: IMEI 490154203237518 in profile \"Dock\""), "{text}");
    assert!(text.contains("not registered:"), "{text}");
    assert!(!text.contains(&token), "the token is masked on screen");
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    let d = fx.store.devices_page(id, None, 10).unwrap();
    assert!(matches!(d[0].status, Status::Registered(_)));
    // DEP: a wrong code is refused with the reason, the right one checks in.
    key(&mut app, KeyCode::F(2));
    for (value, code) in [("DEVICE01", "WRONG1"), ("DEVICE01", "ABC123")] {
        type_text(&mut app, value);
        key(&mut app, KeyCode::Tab);
        type_text(&mut app, code);
        key(&mut app, KeyCode::Tab);
        type_text(&mut app, "C02XK1"); // the DEP serial the record enrolls by
        key(&mut app, KeyCode::Enter);
    }
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("checked in: DEP device DEVICE01"), "{text}");
    assert!(text.contains("refused: DEVICE01"), "{text}");
    assert!(!text.contains("ABC123") && !text.contains("WRONG1"), "codes are masked: {text}");
    insta::assert_snapshot!("checkin_80x24", mask(&text));
    insta::assert_snapshot!("checkin_120x40", mask(&screen(&mut app, 120, 40)));
    let trail = fx.store.audit(&kitting::domain::audit::AuditQuery::default()).unwrap();
    assert_eq!(trail.iter().filter(|e| e.command == "dep.check_in").count(), 2, "both attempts are recorded");
}
