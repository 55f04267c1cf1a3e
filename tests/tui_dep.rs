//! The workstation's DEP tabs on `TestBackend`: the device list, a record's information (read-only once
//! checked in or withdrawn), the device form with the seed's DEP Enrollment section in both methods, the DEP
//! import through the wizard, the catalog and users with organizations.

mod common;

use common::tui::*;

use kitting::domain::dep::{CatalogKind, CheckIn, DepMethod, DepState};
use kitting::store::{DepStore, Store};
use kitting::tui::action::Action;
use kitting::tui::app::{App, FieldId, Modal, Screen, Tab, TaskMsg, WizardStage};
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

fn snapshots(app: &mut App, name: &str) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

/// The catalog and three records: DEVICE01 pending (Serial), DEVICE02 checked in (Key Code), DEVICE03 withdrawn.
fn dep_fixture() -> Fixture {
    use kitting::ops;
    let fx = Fixture::new();
    let core = fx.core();
    let entry = |kind, name: &str, description: Option<&str>| ops::catalog::CatalogAdd {
        kind,
        name: name.into(),
        description: description.map(String::from),
    };
    ops::catalog::add(&core, entry(CatalogKind::Organization, "Sales", Some("Tokyo sales"))).unwrap();
    ops::catalog::add(&core, entry(CatalogKind::Template, "std", Some("Standard iPhone"))).unwrap();
    ops::catalog::add(&core, entry(CatalogKind::Tag, "lobby", None)).unwrap();
    let csv = "UserName,Name,EmailAddress,Organizations,Identifier,Template,Code,OS,DeviceTags,Serial,DisplayName,\
               DEPMethod
taro,Taro Yamada,taro@example.com,Sales,DEVICE01,std,CODE0001,ios,lobby,F2LX1234ABCD,Lobby iPad,Serial
hanako,Hanako Sato,hanako@example.com,,DEVICE02,,CODE0002,ios,,,Reception,Keycode
,,,,DEVICE03,,CODE0003,android,,,Spare,
";
    let file = fx.dir.path().join("fixture.csv");
    std::fs::write(&file, csv).unwrap();
    let command = ops::dep::DepImport { file, dry_run: false, skip_invalid: false, max_rows: 100 };
    let report = ops::dep::import(&core, command, &mut |_| true).unwrap();
    assert!(report.committed, "{:?}", report.rejected);
    let presented = CheckIn {
        code: "CODE0002".into(),
        serial: Some("DMPX99".into()),
        dep_profile: Some("Corp DEP".into()),
        ..Default::default()
    };
    ops::dep::check_in(&core, ops::dep::DepCheckIn { identifier: "device02".into(), presented }).unwrap();
    ops::dep::withdraw(&core, ops::dep::DepWithdraw { identifier: "DEVICE03".into() }).unwrap();
    drop(core);
    fx
}

fn dep_app(fx: &Fixture) -> App {
    let mut app = fx.app(ThemeName::Dark);
    app.switch_tab(Tab::Dep);
    app
}

/// Moves the form's focus to the field with that label.
fn focus(app: &mut App, label: &str) {
    for _ in 0..40 {
        let f = form(app);
        if f.fields[f.focus].label == label {
            return;
        }
        key(app, KeyCode::Tab);
    }
    panic!("no shown field {label}");
}

fn status(app: &App) -> String {
    app.status.as_ref().map(|(_, m)| m.clone()).unwrap_or_default()
}

#[test]
fn tabs_switch_and_each_keeps_its_screens() {
    let fx = dep_fixture();
    let mut app = fx.app(ThemeName::Dark);
    assert_eq!(app.tab, Tab::Profiles);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Dep);
    snapshots(&mut app, "dep_list");
    app.update(Action::Open);
    assert!(matches!(app.screen(), Screen::DepDevice(d) if d.device.identifier == "DEVICE01"));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Users);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("taro") && text.contains("Sales"), "users show their organizations:\n{text}");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Catalog);
    snapshots(&mut app, "catalog");
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    assert!(matches!(app.screen(), Screen::DepDevice(_)), "the DEP tab kept its open record");
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen(), Screen::Dep(_)));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.tab, Tab::Profiles, "Esc on a tab's first screen goes to Profiles");
    // The filter narrows the records on any column, the state included.
    app.switch_tab(Tab::Dep);
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "withdrawn");
    let Screen::Dep(l) = app.screen() else { panic!() };
    assert_eq!(l.view.iter().map(|&i| l.all[i].identifier.as_str()).collect::<Vec<_>>(), ["DEVICE03"]);
    key(&mut app, KeyCode::Enter);
    assert!(screen(&mut app, 80, 24).contains("filter: withdrawn   1 of 3"), "Enter keeps the filter");
    key(&mut app, KeyCode::Esc);
    let Screen::Dep(l) = app.screen() else { panic!("Esc clears a kept filter first") };
    assert_eq!(l.view.len(), 3);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.tab, Tab::Profiles);
}

#[test]
fn a_checked_in_or_withdrawn_device_opens_read_only_saying_why() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::Down);
    app.update(Action::EditRecord);
    assert!(app.modal.is_none(), "no form for a checked-in device");
    let Screen::DepDevice(d) = app.screen() else { panic!("the record opens instead") };
    assert_eq!(d.device.identifier, "DEVICE02");
    assert!(status(&app).contains("read-only: the device is checked in"), "{}", status(&app));
    snapshots(&mut app, "dep_device_checked_in");
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("Read-only: the device is checked in; its information cannot be edited"), "{text}");
    assert!(text.contains("DEP Device            DMPX99") && text.contains("DEP Profile           Corp DEP"), "{text}");
    app.update(Action::EditRecord);
    assert!(app.modal.is_none(), "not from the record either");
    key(&mut app, KeyCode::Esc);
    app.update(Action::Down);
    app.update(Action::EditRecord);
    assert!(app.modal.is_none());
    assert!(status(&app).contains("the device is withdrawn"), "{}", status(&app));
    // A pending device's information says where DEP Device and DEP Profile will come from, and edits.
    key(&mut app, KeyCode::Esc);
    app.update(Action::Top);
    app.update(Action::Open);
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("DEP Device            (once checked in)") && !text.contains("Read-only"), "{text}");
    app.update(Action::EditRecord);
    assert!(matches!(&app.modal, Some(Modal::Form(_))), "a pending device opens its form");
}

#[test]
fn the_dep_enrollment_section_shows_the_serial_only_for_the_serial_method() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::AddRecord);
    assert!(
        !form(&app).shows(FieldId::Dep("DEPMethod")) && !form(&app).shows(FieldId::Dep("Serial")),
        "DEP is off at first"
    );
    type_text(&mut app, "ipad-07");
    focus(&mut app, "Use DEP to Enroll");
    key(&mut app, KeyCode::Char(' '));
    assert!(
        form(&app).shows(FieldId::Dep("DEPMethod")) && form(&app).shows(FieldId::Dep("Serial")),
        "Serial is the first method"
    );
    focus(&mut app, "Serial");
    snapshots(&mut app, "dep_enrollment_serial");
    // Serial without a serial number: refused, naming the field.
    key(&mut app, KeyCode::Enter);
    let error = form(&app).error.clone().unwrap_or_default();
    assert!(error.contains("DEP Enrollment Method: DEPMethod Serial needs a Serial"), "{error}");
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(form(&app).labelled("DEP Enrollment Method"), "Key Code");
    assert!(!form(&app).shows(FieldId::Dep("Serial")), "no serial field for Key Code");
    snapshots(&mut app, "dep_enrollment_key_code");
    let text = screen(&mut app, 120, 40);
    assert!(!text.contains("the serial number of the DEP device"), "{text}");
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none(), "saved: {:?}", app.modal);
    let d = fx.store.dep_device("IPAD-07").unwrap().unwrap();
    assert_eq!((d.dep_method, d.serial.as_deref()), (Some(DepMethod::Keycode), None));
    assert_eq!(d.code.len(), 8, "a blank code is generated");
    assert!(status(&app).contains(&format!("added ipad-07, check-in code {}", d.code)), "{}", status(&app));
    // Back to Serial on the edit form: the serial is asked for and stored.
    app.update(Action::EditRecord);
    assert!(form(&app).title.contains("ipad-07"), "the cursor is on the new record");
    focus(&mut app, "DEP Enrollment Method");
    key(&mut app, KeyCode::Char(' '));
    focus(&mut app, "Serial");
    type_text(&mut app, "F9QX0001");
    key(&mut app, KeyCode::Enter);
    let d = fx.store.dep_device("ipad-07").unwrap().unwrap();
    assert_eq!((d.dep_method, d.serial.as_deref()), (Some(DepMethod::Serial), Some("F9QX0001")));
    // Use DEP to Enroll off clears the method; the serial stays as it is (its field is hidden).
    app.update(Action::EditRecord);
    focus(&mut app, "Use DEP to Enroll");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Enter);
    let d = fx.store.dep_device("ipad-07").unwrap().unwrap();
    assert_eq!((d.dep_method, d.serial.as_deref()), (None, Some("F9QX0001")));
    assert!(status(&app).contains("cleared DEPMethod"), "{}", status(&app));
}

#[test]
fn the_device_form_follows_the_csv_rules() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::EditRecord);
    assert!(form(&app).title.contains("DEVICE01"));
    // Tags are picked from the catalog (issue 11, defect 9): typing filters, nothing else can be picked.
    focus(&mut app, "Device tags");
    assert_eq!(form(&app).labelled("Device tags"), "lobby");
    type_text(&mut app, "nosuch");
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(form(&app).labelled("Device tags"), "lobby", "no entry matches: nothing picked");
    backspace(&mut app, 6);
    // A format checked as typed.
    focus(&mut app, "MEID");
    type_text(&mut app, "12345");
    assert!(form(&app).fields[form(&app).focus].problem.is_some(), "MEID is 14 hex digits");
    backspace(&mut app, 5);
    // Blank clears; the code stays when left blank; a registration email queues a check-in email.
    focus(&mut app, "Device tags");
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(form(&app).labelled("Device tags"), "", "Space unpicks the highlighted tag");
    focus(&mut app, "Display name");
    backspace(&mut app, 20);
    focus(&mut app, "Registration email");
    type_text(&mut app, "it@example.com");
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none(), "saved: {:?}", app.modal);
    let d = fx.store.dep_device("device01").unwrap().unwrap();
    assert_eq!((d.display_name.as_deref(), d.tags.len(), d.code.as_str()), (None, 0, "CODE0001"));
    assert_eq!(d.user.as_deref(), Some("taro"), "the owner is kept");
    let msg = status(&app);
    assert!(msg.contains("cleared DeviceTags, DisplayName") && msg.contains("check-in email queued"), "{msg}");
    let mails = fx.store.outbox().unwrap();
    assert!(mails.iter().any(|m| m.to == "it@example.com" && m.identifier == "DEVICE01"), "{mails:?}");
    // An identifier that exists (case does not count) is refused on add; OS is fixed on edit (not offered).
    app.update(Action::AddRecord);
    type_text(&mut app, "device01");
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap_or("").contains("DEVICE01 exists already"));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc); // a changed form: the second Esc discards it
    app.update(Action::EditRecord);
    assert!(!form(&app).shows(FieldId::Dep("OS")) && !form(&app).shows(FieldId::Dep("Identifier")));
}

#[test]
fn the_dep_import_uses_the_wizard_report_progress_and_cancel() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    let path = fx.dir.path().join("more.csv");
    std::fs::write(
        &path,
        "Identifier,OS,DisplayName,Template,DEPMethod\nDEVICE01,ios,,std,Keycode\nDEVICE04,ios,New,nosuch,\n\
         DEVICE05,windows,Fifth,,\n",
    )
    .unwrap();
    app.update(Action::Import);
    type_text(&mut app, path.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.modal, Some(Modal::Wizard(w)) if matches!(w.stage, WizardStage::Validating)));
    app.on_task(TaskMsg::Progress { rows: 2_000, bytes: 100_000, total_bytes: 400_000, elapsed_ms: 200 });
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("Checking more.csv") && text.contains("2000 rows"), "{text}");
    let report = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(report);
    snapshots(&mut app, "dep_wizard_report");
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("3 rows, 2 valid, 1 rejected"), "{text}");
    assert!(text.contains("Devices: 1 new, 1 updated"), "{text}");
    assert!(text.contains("DEVICE01: DisplayName \"Lobby iPad\" will be cleared"), "{text}");
    assert!(text.contains("template \"nosuch\" does not exist"), "{text}");
    assert!(fx.store.dep_device("DEVICE05").unwrap().is_none(), "nothing written before the choice");
    key(&mut app, KeyCode::Enter);
    let done = next_task(&rx, |m| matches!(m, TaskMsg::Imported(_)));
    app.on_task(done);
    assert!(app.modal.is_none());
    assert!(
        status(&app).contains("devices 1 new, 1 updated") && status(&app).contains("skipped 1"),
        "{}",
        status(&app)
    );
    let Screen::Dep(l) = app.screen() else { panic!() };
    assert_eq!(l.all.len(), 4, "DEVICE05 is listed");
    assert_eq!(fx.store.dep_device("DEVICE01").unwrap().unwrap().dep_method, Some(DepMethod::Keycode));

    // Cancel while checking a large file: nothing is written.
    let mut big = String::from("Identifier,OS\n");
    for i in 0..20_000 {
        big.push_str(&format!("bulk{i:05},ios\n"));
    }
    std::fs::write(&path, big).unwrap();
    app.update(Action::Import);
    type_text(&mut app, path.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    let answer = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(answer);
    assert!(app.modal.is_none());
    assert!(status(&app).contains("import cancelled; nothing was written"), "{}", status(&app));
    assert!(fx.store.dep_device("bulk00000").unwrap().is_none());
}

#[test]
fn the_dep_import_form_writes_the_dep_template() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::Import);
    type_text(&mut app, fx.dir.path().to_str().unwrap());
    app.on_key(ratatui::crossterm::event::KeyEvent::new(
        KeyCode::Char('t'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    ));
    let written = fx.dir.path().join("dep-devices.csv");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), kitting::csv::dep::TEMPLATE);
    assert_eq!(form(&app).labelled("CSV file"), written.to_str().unwrap());
    // Enter on a .csv name that does not exist writes the template there too, and says so.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc); // a changed form: the second Esc discards it
    app.update(Action::Import);
    let missing = fx.dir.path().join("new-batch.csv");
    type_text(&mut app, missing.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap_or("").contains("the template is written there"));
    assert_eq!(std::fs::read_to_string(&missing).unwrap(), kitting::csv::dep::TEMPLATE);
}

#[test]
fn withdraw_and_delete_ask_first_and_the_catalog_names_what_uses_an_entry() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::Withdraw);
    let Some(Modal::Confirm { text, .. }) = &app.modal else { panic!("asks first") };
    assert!(text.contains("Withdraw DEVICE01?"), "{text}");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(fx.store.dep_device("DEVICE01").unwrap().unwrap().state, DepState::Withdrawn { .. }));
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Delete);
    key(&mut app, KeyCode::Char('y'));
    assert!(fx.store.dep_device("DEVICE03").unwrap().is_none());
    assert_eq!(status(&app), "deleted device DEVICE03");

    // Catalog: add, rename (records follow), and a refused delete that names the user.
    app.switch_tab(Tab::Catalog);
    app.update(Action::AddEntry);
    assert_eq!(form(&app).labelled("Kind"), "organization");
    focus(&mut app, "Name");
    type_text(&mut app, "Support");
    key(&mut app, KeyCode::Enter);
    assert!(status(&app).contains("added organization Support"), "{}", status(&app));
    let Screen::Catalog(c) = app.screen() else { panic!() };
    let sales = c.rows.iter().position(|(_, e)| e.name == "Sales").unwrap();
    for _ in 0..sales {
        app.update(Action::Down);
    }
    app.update(Action::EditEntry);
    backspace(&mut app, 5);
    type_text(&mut app, "Sales JP");
    key(&mut app, KeyCode::Enter);
    assert!(status(&app).contains("renamed organization Sales to Sales JP; 1 record follows"), "{}", status(&app));
    assert_eq!(fx.store.user("taro").unwrap().unwrap().organizations, ["Sales JP"]);
    app.update(Action::Delete);
    key(&mut app, KeyCode::Enter);
    assert!(status(&app).contains("used by user taro"), "{}", status(&app));

    // Users: organizations picked from the catalog (issue 11, defect 9), no `|` to type.
    app.switch_tab(Tab::Users);
    app.update(Action::AddUser);
    type_text(&mut app, "jiro");
    focus(&mut app, "Organizations");
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("[ ] Sales JP") && text.contains("[ ] Support"), "the catalog's entries: {text}");
    type_text(&mut app, "supp");
    key(&mut app, KeyCode::Char(' '));
    backspace(&mut app, 4);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("[x] Support") && text.contains("[ ] Sales JP"), "{text}");
    // With the filter cleared the first entry is highlighted again.
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(form(&app).labelled("Organizations"), "Sales JP|Support", "in the catalog's order");
    key(&mut app, KeyCode::Enter);
    assert_eq!(fx.store.user("jiro").unwrap().unwrap().organizations, ["Sales JP", "Support"]);
}

/// Issue 11, defect 9 (part): the footer offered edit and withdraw on a checked-in or withdrawn record,
/// which the record then refuses.
#[test]
fn the_footer_offers_only_what_the_record_allows() {
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    let footer = |app: &mut App, id: &str| {
        let Screen::Dep(l) = app.screen() else { panic!() };
        let row = l.view.iter().position(|&i| l.all[i].identifier == id).unwrap();
        while let Screen::Dep(l) = app.screen()
            && l.cursor.row != row
        {
            app.update(if l.cursor.row < row { Action::Down } else { Action::Up });
        }
        screen(app, 120, 40).lines().last().unwrap().to_string()
    };
    let pending = footer(&mut app, "DEVICE01");
    assert!(pending.contains("e edit") && pending.contains("w withdraw"), "{pending}");
    for id in ["DEVICE02", "DEVICE03"] {
        let f = footer(&mut app, id);
        assert!(!f.contains("e edit") && !f.contains("w withdraw"), "{id}: {f}");
        assert!(f.contains("d delete"), "{id}: {f}");
    }
    app.update(Action::Open);
    let f = screen(&mut app, 120, 40).lines().last().unwrap().to_string();
    assert!(!f.contains("withdraw"), "the record screen too: {f}");
}

/// Issue 11, defect 8: deleting a user or a catalog entry in use asked first and refused afterwards; it is
/// refused before the question.
#[test]
fn a_user_or_entry_in_use_is_refused_before_asking() {
    let fx = dep_fixture();
    let mut app = fx.app(ThemeName::Dark);
    app.switch_tab(Tab::Catalog);
    let Screen::Catalog(c) = app.screen() else { panic!() };
    let row = c.rows.iter().position(|(_, e)| e.name == "Sales").unwrap();
    for _ in 0..row {
        app.update(Action::Down);
    }
    app.update(Action::Delete);
    assert!(app.modal.is_none(), "not asked");
    let msg = app.status.clone().unwrap().1;
    assert!(msg.contains("cannot delete") && msg.contains("user taro"), "{msg}");
    app.switch_tab(Tab::Users);
    let Screen::Users(u) = app.screen() else { panic!() };
    let row = u.users.iter().position(|u| u.username == "taro").unwrap();
    for _ in 0..row {
        app.update(Action::Down);
    }
    app.update(Action::Delete);
    assert!(app.modal.is_none(), "not asked");
    let msg = app.status.clone().unwrap().1;
    assert!(msg.contains("owns DEP device DEVICE01"), "{msg}");
    assert!(fx.store.user("taro").unwrap().is_some());
}

/// `total` DEP records dev00000, dev00001, … with serials SN00000, …
fn many_records(fx: &Fixture, total: usize) {
    use kitting::ops;
    let mut csv = String::from("Identifier,OS,DisplayName,Serial,DEPMethod\n");
    for i in 0..total {
        csv.push_str(&format!("dev{i:05},ios,Device {i},SN{i:05},Serial\n"));
    }
    let file = fx.dir.path().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    let command = ops::dep::DepImport { file, dry_run: false, skip_invalid: false, max_rows: 10_000 };
    let report = ops::dep::import(&fx.core(), command, &mut |_| true).unwrap();
    assert!(report.committed, "{:?}", report.rejected);
}

#[test]
fn a_large_dep_list_shows_its_first_page_at_once_and_the_rest_when_read() {
    use kitting::tui::app::FIRST_READ;
    let fx = Fixture::new();
    let total = FIRST_READ + 300;
    many_records(&fx, total);
    let mut app = fx.app(ThemeName::NoColor);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.switch_tab(Tab::Dep);
    let Screen::Dep(l) = app.screen() else { panic!("the DEP list") };
    assert_eq!(l.all.len(), FIRST_READ, "one page before the first frame");
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("reading the other records") && text.contains("dev00000"), "{text}");
    let msg = next_task(&rx, |m| matches!(m, TaskMsg::DepRecords { .. }));
    app.on_task(msg);
    let Screen::Dep(l) = app.screen() else { panic!() };
    assert_eq!(l.all.len(), total);
    assert!(l.loading.is_none());
    app.update(Action::Bottom);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains(&format!("dev{:05}", total - 1)) && !text.contains("reading the other"), "{text}");
}

#[test]
fn find_answers_from_the_indexes_at_once_and_reads_the_other_dep_fields_in_the_background() {
    let fx = Fixture::new();
    let total = kitting::ops::find::PAGE * 2 + 10;
    many_records(&fx, total);
    let mut app = fx.app(ThemeName::NoColor);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    // A serial of a record past the first page: only the background read finds it.
    let serial = format!("SN{:05}", total - 3);
    app.update(Action::Find);
    type_text(&mut app, &serial);
    key(&mut app, KeyCode::Enter);
    let Screen::Search(s) = app.screen() else { panic!("the search list: {:?}", app.status) };
    assert!(s.results.is_empty() && s.searching.is_some());
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("still reading the DEP records"), "{text}");
    let msg = next_task(&rx, |m| matches!(m, TaskMsg::Found { .. }));
    app.on_task(msg);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("1 place with") && text.contains(&format!("dev{:05}", total - 3)), "{text}");
    assert!(!text.contains("still reading"), "{text}");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen(), Screen::DepDevice(_)), "Enter opens the record");

    // An identifier is indexed: found before the background read ends, and closing the list stops it.
    app.update(Action::Find);
    type_text(&mut app, "DEV00001");
    key(&mut app, KeyCode::Enter);
    let Screen::Search(s) = app.screen() else { panic!("the search list: {:?}", app.status) };
    assert_eq!(s.results.len(), 1, "the identifier, at once");
    let stop = s.searching.as_ref().unwrap().1.clone();
    key(&mut app, KeyCode::Esc);
    assert!(!matches!(app.screen(), Screen::Search(_)));
    assert!(stop.load(std::sync::atomic::Ordering::Relaxed), "the background read is told to stop");

    // Nothing anywhere: said once every record is read.
    app.update(Action::Find);
    type_text(&mut app, "NOPE-404");
    key(&mut app, KeyCode::Enter);
    // (The stopped search may answer first; its answer is for no screen.)
    while matches!(app.screen(), Screen::Search(s) if s.searching.is_some()) {
        let msg = next_task(&rx, |m| matches!(m, TaskMsg::Found { .. }));
        app.on_task(msg);
    }
    let (_, status) = app.status.clone().unwrap();
    assert!(status.contains("no device with \"NOPE-404\""), "{status}");
}

/// A record saved by someone else while its form was open: refused as a conflict, the form keeps what
/// was typed and shows what the record holds now (never its check-in code); Enter then saves over it.
#[test]
fn a_conflicting_record_edit_shows_the_current_values_and_keeps_what_was_typed() {
    use kitting::ops;
    let fx = dep_fixture();
    let mut app = dep_app(&fx);
    app.update(Action::EditRecord);
    assert!(form(&app).title.contains("DEVICE01"));
    focus(&mut app, "Description");
    type_text(&mut app, "mine");
    let theirs = ops::dep::DepSave {
        cells: vec![("Identifier".into(), "DEVICE01".into()), ("DisplayName".into(), "Front desk".into())],
        expect: None,
    };
    ops::dep::save(&fx.core(), theirs).unwrap();
    key(&mut app, KeyCode::Enter);
    let error = form(&app).error.clone().unwrap_or_default();
    assert!(error.contains("DEP device DEVICE01 was changed since you read it"), "{error}");
    assert!(error.contains("name Front desk"), "{error}");
    assert!(!error.contains("CODE0001"), "never the check-in code: {error}");
    assert_eq!(form(&app).labelled("Description"), "mine", "what was typed is kept");
    assert_eq!(fx.store.dep_device("DEVICE01").unwrap().unwrap().display_name.as_deref(), Some("Front desk"));
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none(), "saved over theirs knowingly");
    assert_eq!(fx.store.dep_device("DEVICE01").unwrap().unwrap().description.as_deref(), Some("mine"));
}
