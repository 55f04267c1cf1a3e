//! The workstation on the one core: the Audit tab, screens that update from the change feed, conflicts
//! that keep what the technician typed, and rules that are the command line's too.

mod common;

use chrono::{DateTime, Utc};
use common::tui::*;
use kitting::domain::NewProfile;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::store::Store;
use kitting::tui::action::Action;
use kitting::tui::app::{App, Modal, Screen, Tab, TaskMsg};
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

fn snapshots(app: &mut App, name: &str) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The core as another technician, at a pinned time.
fn other<'a>(fx: &'a Fixture, who: &str, when: &str) -> ops::Ctx<'a> {
    let mut actor = Actor::named(who, FrontEnd::Cli);
    actor.ssh_client = Some("192.0.2.7".into());
    ops::Ctx::new(fx.store.as_ref(), actor, at(when))
}

#[test]
fn the_audit_tab_lists_entries_newest_first_filters_and_shows_the_details() {
    let fx = Fixture::new();
    let csv = fx.dir.path().join("dock3.csv");
    std::fs::write(&csv, "IMEI\n490154203237518\n490154203237518\n356938035643809\n").unwrap();
    let new = NewProfile { name: "Dock 3".into(), token_days: Some(14), ..NewProfile::default() };
    let import = ops::import::Import {
        file: csv,
        to: ops::import::ImportTo::New(new),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: true,
        max_rows: 100,
    };
    ops::import::run(&other(&fx, "alice", "2026-12-01T09:00:00Z"), import, &mut |_| true).unwrap();
    let dup =
        ops::devices::AddDevice { profile: "Dock 3".into(), imei: "356938035643809".into(), ..Default::default() };
    ops::devices::add(&other(&fx, "bob", "2026-12-01T09:05:00Z"), dup).unwrap_err();
    let user = kitting::domain::User { username: "carol".into(), ..Default::default() };
    ops::users::add(&other(&fx, "bob", "2026-12-01T09:10:00Z"), ops::users::AddUser { user }).unwrap();

    let mut app = fx.app(ThemeName::NoColor);
    app.switch_tab(Tab::Audit);
    let Screen::Audit(a) = app.screen() else { panic!("the Audit tab") };
    let commands: Vec<&str> = a.entries.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(commands, ["user.add", "device.add", "import"]);
    app.update(Action::Bottom);
    snapshots(&mut app, "audit_import_selected");
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("rows 3, valid 2, rejected 1, created 2, updated 0"), "{text}");
    assert!(text.contains("alice@localhost from 192.0.2.7"), "{text}");
    app.update(Action::Filter);
    type_text(&mut app, "refused");
    let Screen::Audit(a) = app.screen() else { panic!() };
    assert_eq!(a.view.len(), 1);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("IMEI 356938035643809 is already in profile \"Dock 3\""), "{text}");
}

#[test]
fn a_change_made_elsewhere_appears_without_a_key_press_and_a_screen_ignores_its_own() {
    let fx = Fixture::new();
    fx.import("Dock 3", DEVICES);
    let mut watcher = fx.app(ThemeName::Dark);
    let feed = fx.store.subscribe().unwrap();
    // Someone else renames the profile: the watching workstation is told and shows it.
    let rename = ops::profiles::EditProfile {
        profile: "Dock 3".into(),
        rename: Some("Dock 9".into()),
        description: None,
        expect: None,
    };
    ops::profiles::edit(&other(&fx, "alice", "2026-12-01T10:00:00Z"), rename).unwrap();
    let change = feed.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert!(!screen(&mut watcher, 120, 40).contains("Dock 9"), "not before the change arrives");
    watcher.on_task(TaskMsg::Changed(Box::new(change)));
    assert!(screen(&mut watcher, 120, 40).contains("Dock 9"));

    // Its own change comes back through the feed too, and is not read again.
    watcher.update(Action::Open);
    watcher.update(Action::Delete);
    watcher.update(Action::Confirm);
    let own = feed.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(own.entry.actor.session, watcher.actor.session);
    watcher.status = Some((kitting::tui::app::Level::Info, "marker".into()));
    watcher.on_task(TaskMsg::Changed(Box::new(own)));
    assert_eq!(watcher.status.as_ref().map(|(_, m)| m.as_str()), Some("marker"), "nothing happened");
}

#[test]
fn a_save_over_someone_elses_change_is_a_conflict_that_keeps_what_was_typed() {
    let fx = Fixture::new();
    fx.import("Dock 3", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::EditProfile);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, " (mine)");
    let edit = ops::profiles::EditProfile {
        profile: "Dock 3".into(),
        rename: None,
        description: Some("theirs".into()),
        expect: None,
    };
    ops::profiles::edit(&other(&fx, "alice", "2026-12-01T10:00:00Z"), edit).unwrap();
    app.update(Action::Confirm);
    let Some(Modal::Form(form)) = &app.modal else { panic!("the form stays open") };
    let error = form.error.as_deref().unwrap();
    assert!(error.contains("was changed by alice@localhost"), "{error}");
    assert!(error.contains("Now: name Dock 3, description theirs"), "{error}");
    assert_eq!(form.labelled("Description"), "Kitting line 1 (mine)");
    assert_eq!(fx.store.profile("Dock 3").unwrap().unwrap().description.as_deref(), Some("theirs"), "not undone");
}

/// A device saved by someone else while its form was open: the save is refused as a conflict naming
/// who changed it, the form keeps what was typed and shows what the device holds now, and Enter then
/// saves over it knowingly.
#[test]
fn a_conflicting_device_edit_shows_the_current_values_and_keeps_what_was_typed() {
    let fx = Fixture::new();
    fx.import("Dock 3", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::EditDevice);
    let Some(Modal::Form(form)) = &app.modal else { panic!("the device form") };
    let tag = form.fields.iter().position(|f| f.label == "Asset Tag").unwrap();
    for _ in 0..tag {
        key(&mut app, KeyCode::Tab);
    }
    type_text(&mut app, " (mine)");
    let edit = ops::devices::EditDevice {
        profile: "Dock 3".into(),
        device: ops::devices::DeviceRef::Imei("490154203237518".into()),
        imei: None,
        imei2: None,
        serial: None,
        manufacturer: None,
        set: vec![("Department".into(), "Returns".into())],
        unset: Vec::new(),
        expect: None,
    };
    ops::devices::edit(&other(&fx, "alice", "2026-12-01T10:00:00Z"), edit).unwrap();
    app.update(Action::Confirm);
    let Some(Modal::Form(form)) = &app.modal else { panic!("the form stays open") };
    let error = form.error.as_deref().unwrap();
    assert!(error.contains("was changed by alice@localhost"), "{error}");
    assert!(error.contains("Now: IMEI 490154203237518, Asset Tag A-001, Department Returns"), "{error}");
    assert!(error.contains("Enter saves what you typed over it"), "{error}");
    assert_eq!(form.labelled("Asset Tag"), "A-001 (mine)", "what was typed is kept");
    assert_eq!(form.labelled("Department"), "Sales", "the form as it was opened");
    let stored = |fx: &Fixture| {
        let p = fx.store.profile("Dock 3").unwrap().unwrap();
        fx.store.devices_page(p.id, None, 10).unwrap().remove(0)
    };
    assert_eq!(stored(&fx).attribute("Department"), Some("Returns"), "theirs, not undone");
    // Enter again: saved over theirs, knowing what they were.
    app.update(Action::Confirm);
    assert!(app.modal.is_none(), "{:?}", app.modal.as_ref().map(|_| "still open"));
    assert_eq!(stored(&fx).attribute("Asset Tag"), Some("A-001 (mine)"));
}

#[test]
fn the_workstation_refuses_what_the_command_line_refuses() {
    let fx = Fixture::new();
    fx.import("Dock 3", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::EditProfile);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, &"x".repeat(300));
    app.update(Action::Confirm);
    let Some(Modal::Form(form)) = &app.modal else { panic!("the form stays open") };
    assert!(form.error.as_deref().unwrap().contains("256"), "{:?}", form.error);
    assert_eq!(fx.store.profile("Dock 3").unwrap().unwrap().description.as_deref(), Some("Kitting line 1"));
}

/// Someone else's change to a few devices of an open profile of 1,100 (more than the first read, so a
/// whole re-read would be a background job): the screen reads just those devices, at once.
#[test]
fn another_technicians_device_change_reads_those_devices_not_the_profile() {
    let fx = Fixture::new();
    let mut csv = String::from("IMEI,Serial Number,Manufacturer,Asset Tag\n");
    for i in 0..1100 {
        csv.push_str(&format!(",SN-{i:04},Zebra,A-{i}\n"));
    }
    fx.import("Big", &csv);
    let mut app = fx.app(ThemeName::NoColor);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::Open);
    let read = next_task(&rx, |m| matches!(m, TaskMsg::Devices { .. }));
    app.on_task(read);
    let feed = fx.store.subscribe().unwrap();

    let alice = other(&fx, "alice", "2026-12-01T10:00:00Z");
    let edit = ops::devices::EditDevice {
        profile: "Big".into(),
        device: ops::devices::DeviceRef::Serial { serial: "SN-0007".into(), manufacturer: "Zebra".into() },
        imei: None,
        imei2: None,
        serial: None,
        manufacturer: None,
        set: vec![("Asset Tag".into(), "MOVED-7".into())],
        unset: Vec::new(),
        expect: None,
    };
    ops::devices::edit(&alice, edit).unwrap();
    let add = ops::devices::AddDevice {
        profile: "Big".into(),
        imei: String::new(),
        imei2: String::new(),
        serial: "SN-NEW".into(),
        manufacturer: "Zebra".into(),
        attributes: Vec::new(),
    };
    ops::devices::add(&alice, add).unwrap();
    let delete = ops::devices::DeleteDevices {
        profile: "Big".into(),
        devices: vec![ops::devices::DeviceRef::Serial { serial: "SN-0001".into(), manufacturer: "Zebra".into() }],
    };
    ops::devices::delete(&alice, delete).unwrap();
    for change in feed.try_iter() {
        app.on_task(TaskMsg::Changed(Box::new(change)));
    }
    assert!(app.jobs.running().is_empty(), "no re-read of the profile: {:?}", app.jobs.running());
    let Screen::Detail(d) = app.screen() else { panic!("still on the profile") };
    assert!(d.loading.is_none(), "no background read of the whole profile was started");
    assert_eq!((d.devices.len(), d.profile.device_count), (1100, 1100), "one added, one deleted");
    app.update(Action::Filter);
    type_text(&mut app, "moved-7");
    key(&mut app, KeyCode::Enter);
    assert!(screen(&mut app, 120, 40).contains("SN-0007"), "the edit is shown");
    key(&mut app, KeyCode::Esc);
    app.update(Action::Filter);
    type_text(&mut app, "sn-new");
    key(&mut app, KeyCode::Enter);
    assert!(screen(&mut app, 120, 40).contains("SN-NEW"), "the new device is shown");
    key(&mut app, KeyCode::Esc);
    app.update(Action::Filter);
    type_text(&mut app, "sn-0001");
    key(&mut app, KeyCode::Enter);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert!(d.view.is_empty(), "the deleted device is gone");
}
