//! Defects found in the workstation (issue 10's list), each with the test that showed it.

mod common;

use common::tui::*;

use kitting::domain::NewProfile;
use kitting::ops;
use kitting::store::Store;
use kitting::tui::action::Action;
use kitting::tui::app::{FieldId, Modal, Screen, TaskMsg};
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

/// Bug 3: the add-profile wizard creates a profile "without token": the token days are not asked for.
#[test]
fn the_wizard_creates_a_profile_without_token() {
    let fx = Fixture::new();
    let csv = fx.dir.path().join("bench.csv");
    std::fs::write(&csv, "IMEI\n490154203237518\n").unwrap();
    let mut app = fx.app(ThemeName::Dark);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::NewProfile);
    type_text(&mut app, "Bench");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, csv.to_str().unwrap());
    app.update(Action::NextField); // Tab completes the path here
    key(&mut app, KeyCode::Char(' '));
    assert!(form(&app).on(FieldId::WithoutToken));
    assert!(!form(&app).shows(FieldId::TokenDays), "no token, no token days");
    assert!(!screen(&mut app, 120, 40).contains("Token days"));
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.modal, Some(Modal::Wizard(_))), "the wizard starts: {:?}", app.modal);
    let checked = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(checked);
    key(&mut app, KeyCode::Enter);
    let done = next_task(&rx, |m| matches!(m, TaskMsg::Imported(_)));
    app.on_task(done);
    let p = fx.store.profile("Bench").unwrap().expect("created");
    assert!(p.without_token() && p.device_count == 1, "{p:?}");

    // Switched back on, the field is there again and still checked.
    app.update(Action::Back);
    app.update(Action::NewProfile);
    for _ in 0..3 {
        app.update(Action::NextField);
    }
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert!(form(&app).shows(FieldId::TokenDays));
}

/// Bug 4: setting an attribute on several devices with a name that differs only in case uses the
/// profile's attribute, and the exported inventory imports again.
#[test]
fn set_attribute_on_several_devices_uses_the_profiles_spelling() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::SelectAll);
    app.update(Action::EditDevice);
    let picker = form(&app).field(FieldId::AttributeName).unwrap();
    let offered: Vec<&str> = picker.options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(offered, ["Asset Tag", "Department"], "the form offers the profile's names");
    type_text(&mut app, "department");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "Returns");
    app.update(Action::Confirm);
    assert!(app.modal.is_none(), "{:?}", app.modal);
    let p = fx.store.profile("Warehouse A").unwrap().unwrap();
    assert_eq!(p.attributes, ["Asset Tag", "Department"], "no second attribute");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert!(d.devices.iter().all(|d| d.attribute("Department") == Some("Returns")));

    let mut out = Vec::new();
    kitting::csv::android::export(fx.store.as_ref(), &p, &mut out).unwrap();
    let again = fx.dir.path().join("again.csv");
    std::fs::write(&again, &out).unwrap();
    let new = NewProfile { name: "Again".into(), token_days: Some(7), ..NewProfile::default() };
    ops::profiles::delete(&fx.core(), ops::profiles::DeleteProfile { profile: p.name.clone() }).unwrap();
    let command = ops::import::Import {
        file: again,
        to: ops::import::ImportTo::New(new),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: false,
        max_rows: 10,
    };
    let report = ops::import::run(&fx.core(), command, &mut |_| true).unwrap();
    assert!(report.committed.is_some() && report.rejected.is_empty(), "{:?}", report.rejected);
}

/// Bug 7: Refresh Token offers the lifetime the profile's token was issued with.
#[test]
fn refresh_token_offers_the_profiles_own_lifetime() {
    let fx = Fixture::new();
    let new = NewProfile { name: "Long".into(), token_days: Some(30), ..NewProfile::default() };
    ops::profiles::create(&fx.core(), ops::profiles::CreateProfile { profile: new, default_token_days: 7 }).unwrap();
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::RefreshToken);
    assert_eq!(form(&app).labelled("Days"), "30");
    app.update(Action::Confirm);
    let t = fx.store.profile("Long").unwrap().unwrap().token.unwrap();
    assert_eq!(t.days, Some(30));
    assert_eq!(t.days_left(chrono::Utc::now()), 30);
}

/// Issue 11, defect 1: on a toggle or choice field, `n` cancelled and `y` submitted the whole form, losing
/// what was typed. Letters never act on a form; Esc on a changed form asks before discarding it.
#[test]
fn letters_on_a_toggle_never_act_on_the_form_and_esc_asks_before_discarding() {
    let fx = Fixture::new();
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::NewProfile);
    type_text(&mut app, "Bench");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    app.update(Action::NextField); // to "Without token"
    assert_eq!(form(&app).fields[form(&app).focus].label, "Without token");
    type_text(&mut app, "nyq");
    let Some(Modal::Form(f)) = &app.modal else { panic!("the form is still open") };
    assert_eq!(f.labelled("Name"), "Bench", "what was typed is kept");
    assert!(!f.on(FieldId::WithoutToken), "letters do not switch it either");
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_some(), "a changed form asks first");
    assert!(form(&app).error.as_deref().unwrap().contains("Esc again discards"));
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
    // An unchanged form closes at once.
    app.update(Action::NewProfile);
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

/// Issue 11, defect 2: in Add More Devices a refused identifier stayed in the field (the next scan was
/// appended to it), a scanner's Tab moved the next IMEI into the serial field, the manufacturer had to be
/// typed again for every device, and Esc said "cancelled" after devices were added.
#[test]
fn add_more_devices_takes_scans_one_after_the_other() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::AddDevices);
    // A duplicate, ended with Enter: refused, and the field is empty for the next scan.
    type_text(&mut app, "490154203237518");
    key(&mut app, KeyCode::Enter);
    let f = form(&app);
    assert!(f.error.as_deref().unwrap().contains("refused 490154203237518"), "{:?}", f.error);
    assert_eq!(f.labelled("IMEI"), "");
    // The next scans end with Tab: each is added, the focus stays on the IMEI.
    for imei in ["352099001761481", "353918051234561"] {
        type_text(&mut app, imei);
        key(&mut app, KeyCode::Tab);
        assert_eq!((form(&app).labelled("IMEI"), form(&app).focus), (String::new(), 0), "{imei}");
    }
    // By serial: the manufacturer typed once is kept for the next.
    key(&mut app, KeyCode::Down);
    type_text(&mut app, "SNA1");
    key(&mut app, KeyCode::Down);
    type_text(&mut app, "Zebra");
    key(&mut app, KeyCode::Enter);
    assert_eq!(form(&app).labelled("Manufacturer"), "Zebra");
    key(&mut app, KeyCode::Down);
    type_text(&mut app, "SNA2");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
    assert_eq!(app.status.as_ref().unwrap().1, "added 4 devices");
    assert_eq!(fx.store.profile("Dock").unwrap().unwrap().device_count, 7);
}

/// Issue 11: an add, edit or delete on the profile screen updates it from what the command returned; it
/// does not read the profile's devices again (which costs as much as the profile is large). Shown by a
/// device another session added meanwhile: it appears only when the change feed's message is handled.
#[test]
fn a_change_on_the_profile_screen_does_not_read_the_devices_again() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    let id = fx.store.profile("Dock").unwrap().unwrap().id;
    let other =
        ops::devices::AddDevice { profile: "Dock".into(), imei: "353918051234561".into(), ..Default::default() };
    ops::devices::add(&fx.core(), other).unwrap();
    let imeis = |app: &kitting::tui::app::App| match app.screen() {
        Screen::Detail(d) => (
            d.devices.iter().filter_map(|d| d.ids.imei.map(|i| i.to_string())).collect::<Vec<_>>(),
            d.profile.device_count,
        ),
        _ => panic!("not the profile screen"),
    };
    app.update(Action::AddDevices);
    type_text(&mut app, "352099001761481");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    let (shown, count) = imeis(&app);
    assert!(shown.contains(&"352099001761481".to_string()), "{shown:?}");
    assert!(!shown.contains(&"353918051234561".to_string()), "not read again: {shown:?}");
    assert_eq!(count, 5, "the profile's own record is read again (one key)");
    // Delete the one added here: gone from the table, still not read again.
    let Screen::Detail(d) = app.screen() else { panic!() };
    let row = d
        .view
        .iter()
        .position(|&i| d.devices.get(i as usize).unwrap().ids.imei.is_some_and(|i| i.to_string() == "352099001761481"));
    for _ in 0..row.unwrap() {
        app.update(Action::Down);
    }
    app.update(Action::Delete);
    app.update(Action::Confirm);
    let (shown, count) = imeis(&app);
    assert!(!shown.contains(&"352099001761481".to_string()) && !shown.contains(&"353918051234561".to_string()));
    assert_eq!(count, 4);
    // The other session's device arrives with the feed's message, as the event loop delivers it.
    let change = fx.store.subscribe().unwrap();
    let other =
        ops::devices::AddDevice { profile: "Dock".into(), imei: "356938035643817".into(), ..Default::default() };
    ops::devices::add(&fx.core(), other).unwrap();
    app.on_task(TaskMsg::Changed(Box::new(change.recv().unwrap())));
    // The feed names the device: that one is read, not the profile (the device added behind the
    // screen's back, with no message delivered, is still not shown).
    let (shown, count) = imeis(&app);
    assert!(shown.contains(&"356938035643817".to_string()), "{shown:?}");
    assert!(!shown.contains(&"353918051234561".to_string()), "not read again: {shown:?}");
    assert_eq!((count, fx.store.profile_by_id(id).unwrap().unwrap().device_count), (5, 5));
    // Refresh reads it all.
    app.update(Action::Refresh);
    let (shown, _) = imeis(&app);
    assert!(shown.contains(&"353918051234561".to_string()) && shown.contains(&"356938035643817".to_string()));
}

/// Issue 11, defect 6: a dialog at 80 columns left the first and last column of the screen below visible.
#[test]
fn a_dialog_at_80_columns_takes_the_whole_width() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::AddDevices);
    let text = screen(&mut app, 80, 24);
    let rows: Vec<&str> = text.lines().collect();
    let top = rows.iter().position(|r| r.contains("Add devices to Dock")).expect("the dialog");
    let bottom = top + rows[top..].iter().position(|r| r.starts_with('└')).expect("its bottom border");
    for r in &rows[top..=bottom] {
        let (first, last) = (r.chars().next().unwrap(), r.chars().last().unwrap());
        assert!("┌│└".contains(first) && "┐│┘".contains(last), "{r:?}\n{text}");
    }
}

/// Issue 11, defect 9 (part): status messages persisted across tabs; the user picker with no users said
/// "no match" instead of how to add one.
#[test]
fn messages_stay_on_their_tab_and_an_empty_user_picker_says_how_to_add_users() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::ModifyUser);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("no users yet: add them in the Users tab"), "{text}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.status.as_ref().map(|s| s.1.as_str()), Some("cancelled"));
    app.update(Action::NextTab);
    assert_eq!(app.status, None, "the message stayed on its tab");
}

/// Issue 11, defect 5: the sort indicator disappeared when the sorted column was hidden (Description at 80
/// columns) or was too narrow for it ("No of Devices", "Associated User").
#[test]
fn the_sort_is_always_shown() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    for title in ["Description", "No of Devices", "Associated User"] {
        while app.status.as_ref().is_none_or(|s| s.1 != format!("sorted by {title}")) {
            app.update(Action::SortNext);
        }
        let text = screen(&mut app, 80, 24);
        assert!(text.lines().nth(1).unwrap().contains(&format!("sorted by {title} ▲")), "{title}: {text}");
    }
}

/// Issue 11: what Android would refuse is caught before it is in a QR code (the time zone against the
/// IANA names, picked from a list), and the Wi-Fi password is masked in the form until revealed.
#[test]
fn modify_configuration_checks_the_time_zone_and_masks_the_wifi_password() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::ModifyConfig);
    let to = |app: &mut kitting::tui::app::App, label: &str| {
        for _ in 0..40 {
            if form(app).fields[form(app).focus].label == label {
                return;
            }
            app.update(Action::NextField);
        }
        panic!("no field {label}");
    };
    to(&mut app, "Wi-Fi password");
    type_text(&mut app, "s3cret-pass");
    let text = screen(&mut app, 120, 40);
    assert!(!text.contains("s3cret-pass") && text.contains("•••••••••••"), "masked: {text}");
    assert!(text.contains("Ctrl-v reveal"), "the footer offers the reveal key");
    ctrl(&mut app, 'v');
    assert!(screen(&mut app, 120, 40).contains("s3cret-pass"), "revealed");
    to(&mut app, "Time zone");
    type_text(&mut app, "Mars/Base");
    assert!(form(&app).fields[form(&app).focus].problem.as_deref().unwrap().contains("not an IANA time zone"));
    backspace(&mut app, 9);
    type_text(&mut app, "asia/tok");
    assert_eq!(form(&app).labelled("Time zone"), "Asia/Tokyo", "picked from the list");
    app.update(Action::Confirm);
    assert!(app.modal.is_none(), "{:?}", app.modal);
    let p = fx.store.profile("Dock").unwrap().unwrap();
    let zone = p.config.system.iter().find(|(n, _)| n == "time_zone").map(|(_, v)| v.to_string());
    assert_eq!(zone.as_deref(), Some("Asia/Tokyo"));
}

/// Issue 11, defect 7: Tab never left a path field, and an ambiguous completion listed nothing.
#[test]
fn tab_in_a_path_field_completes_lists_then_moves_on() {
    let fx = Fixture::new();
    let dir = fx.dir.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    for f in ["dock-a.csv", "dock-b.csv", "zebra.csv"] {
        std::fs::write(dir.join(f), "IMEI\n").unwrap();
    }
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::NewProfile);
    let csv_field = |app: &kitting::tui::app::App| form(app).fields[form(app).focus].label.clone();
    while csv_field(&app) != "CSV file" {
        app.update(Action::NextField);
    }
    type_text(&mut app, &format!("{}/do", dir.display()));
    key(&mut app, KeyCode::Tab);
    assert_eq!(form(&app).labelled("CSV file"), format!("{}/dock-", dir.display()), "the common part");
    assert_eq!(form(&app).note.as_deref(), Some("2 match: dock-a.csv  dock-b.csv"), "the matches are listed");
    // Nothing more to complete and the matches already listed: Tab leaves the field.
    key(&mut app, KeyCode::Tab);
    assert_ne!(csv_field(&app), "CSV file");
    // Back in it, a typed letter that makes one match: Tab completes it, the next Tab moves on.
    app.update(Action::PrevField);
    type_text(&mut app, "b");
    key(&mut app, KeyCode::Tab);
    assert_eq!(form(&app).labelled("CSV file"), format!("{}/dock-b.csv", dir.display()));
    key(&mut app, KeyCode::Tab);
    assert_ne!(csv_field(&app), "CSV file");
}

/// Issue 11, defect 3: the import report could not be scrolled (8 of 90 reasons visible, no "82 more"),
/// and a row with several problems showed one.
#[test]
fn the_import_report_shows_every_reason_and_scrolls() {
    let fx = Fixture::new();
    let csv = fx.dir.path().join("bad.csv");
    let mut text = String::from("IMEI,Serial Number,Manufacturer\n");
    for i in 0..90 {
        text.push_str(&format!("49015420323751{},SN\u{7}{i},\n", i % 7)); // bad check digit and a control character
    }
    text.push_str("490154203237518,,\n");
    std::fs::write(&csv, text).unwrap();
    let mut app = fx.app(ThemeName::Dark);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::NewProfile);
    type_text(&mut app, "Bad");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, csv.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    let checked = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(checked);
    let first = screen(&mut app, 80, 24);
    let total = first.lines().find(|l| l.contains("reasons 1–")).unwrap_or_else(|| panic!("{first}")).to_string();
    assert!(total.contains(" of 1"), "two reasons per bad row (IMEI and serial), over 100: {total}");
    assert!(first.contains("line 2 column 1 (IMEI)") && first.contains("line 2 column 2 (Serial Number)"), "{first}");
    for _ in 0..3 {
        key(&mut app, KeyCode::PageDown);
    }
    let later = screen(&mut app, 80, 24);
    assert!(!later.contains("line 2 column 1 (IMEI)"), "scrolled: {later}");
    assert!(later.contains("reasons ") && !later.contains("reasons 1–"), "{later}");
    assert!(matches!(&app.modal, Some(Modal::Wizard(_))), "scrolling does not save the rejects");
}

/// Issue 11, defect 4 (part): at 80x24 help lines were cut off and the help scrolled line by line only;
/// a footer that did not fit dropped keys without saying where they were.
#[test]
fn at_80x24_help_wraps_and_pages_and_a_full_footer_points_to_it() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    let footer = screen(&mut app, 80, 24).lines().last().unwrap().to_string();
    assert!(footer.ends_with("? all keys"), "{footer:?}");
    app.update(Action::Help);
    let mut seen = String::new();
    for _ in 0..30 {
        seen.push_str(&screen(&mut app, 80, 24));
        key(&mut app, KeyCode::PageDown);
    }
    // Every description is there whole, its end on the row under it where it is too long.
    for action in kitting::tui::action::Action::ALL {
        let last_word = action.description().split(' ').next_back().unwrap();
        assert!(seen.contains(last_word), "{:?}'s description is cut: {last_word:?}", action.name());
    }
    assert!(seen.contains("Ctrl-C always quits. Keys can be changed"), "PgDn reaches the end");
}

/// Issue 11, defect 8 (part): a whole profile, or more than 1,000 devices, went with one key; the name or
/// the count must now be typed.
#[test]
fn a_large_delete_needs_the_name_or_the_count_typed() {
    let fx = Fixture::new();
    let mut csv = String::from("IMEI\n");
    for i in 0..1001u32 {
        let body = format!("35209900{i:06}");
        csv.push_str(&format!("{body}{}\n", kitting::domain::imei::luhn_check_digit(&body)));
    }
    fx.import("Big", &csv);
    fx.import("Dock", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    // Select every device of Big and delete: the count is asked for.
    app.update(Action::Open);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.profile.name, "Big");
    app.update(Action::SelectAll);
    app.update(Action::Delete);
    assert!(form(&app).title.contains("Delete 1001 devices from Big"), "{}", form(&app).title);
    type_text(&mut app, "y");
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap().contains("type 1001 exactly"), "{:?}", form(&app).error);
    backspace(&mut app, 1);
    type_text(&mut app, "1001");
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none());
    assert_eq!(fx.store.profile("Big").unwrap().unwrap().device_count, 0);
    // A whole profile: its name.
    app.update(Action::Back);
    app.update(Action::Delete);
    assert!(form(&app).title.starts_with("Delete profile Big"), "{}", form(&app).title);
    type_text(&mut app, "big!");
    key(&mut app, KeyCode::Enter);
    assert!(fx.store.profile("Big").unwrap().is_some(), "not deleted on a wrong name");
    backspace(&mut app, 4);
    type_text(&mut app, "Big");
    key(&mut app, KeyCode::Enter);
    assert!(fx.store.profile("Big").unwrap().is_none());
    assert!(fx.store.profile("Dock").unwrap().is_some());
}

/// Issue 11, defect 4 (part): a status message longer than the line was cut with no way to read the rest.
/// The line says where to read it, and F9 lists the last messages whole.
#[test]
fn a_long_status_message_can_be_read_whole() {
    let fx = Fixture::new();
    fx.import("Dock", DEVICES);
    let user = kitting::domain::User { username: "night-shift-technician".into(), ..Default::default() };
    ops::users::add(&fx.core(), ops::users::AddUser { user }).unwrap();
    let set = ops::profiles::SetProfileUser {
        profile: "Dock".into(),
        user: Some("night-shift-technician".into()),
        expect: None,
    };
    ops::profiles::set_user(&fx.core(), set).unwrap();
    let mut app = fx.app(ThemeName::Dark);
    app.switch_tab(kitting::tui::app::Tab::Users);
    app.update(Action::Delete);
    let status = app.status.clone().unwrap().1;
    assert!(status.chars().count() > 80, "a long one: {status}");
    let line = screen(&mut app, 80, 24).lines().nth(22).unwrap().to_string();
    assert!(line.ends_with("… (F9 to read)"), "{line:?}");
    key(&mut app, KeyCode::F(9));
    let shown = screen(&mut app, 80, 24);
    assert!(shown.contains("Messages, newest first"), "{shown}");
    assert!(shown.replace(['│', '\n'], "").contains("change those profiles first"), "whole: {shown}");
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

/// Issue 11, defect 4 (part): a profile whose attribute columns do not fit showed some and said nothing
/// of the others; there was no way to read them, nor one device whole.
#[test]
fn hidden_attribute_columns_are_named_scroll_sideways_and_a_device_opens_in_full() {
    let fx = Fixture::new();
    let csv = "IMEI,Asset Tag,Department,Site,Shelf,Owner,Cost Centre\n\
               490154203237518,A-001,Sales,Osaka,S-12,Taro Yamada,CC-4711\n";
    fx.import("Wide", csv);
    let mut app = fx.app(ThemeName::NoColor);
    app.update(Action::Open);
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("attributes 1-1 of 6: ←/→, Enter in full"), "{text}");
    assert!(text.contains("A-001") && !text.contains("CC-4711"), "{text}");
    for _ in 0..10 {
        app.update(Action::ScrollRight);
    }
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("attributes 6-6 of 6") && text.contains("CC-4711"), "scrolled to the last: {text}");
    assert!(!text.contains("A-001"), "{text}");
    app.update(Action::ScrollLeft);
    assert!(screen(&mut app, 80, 24).contains("Taro Yamada"));
    // At 120 columns more fit, and the scroll stops where the last one shows.
    let text = screen(&mut app, 120, 40);
    assert!(text.contains("CC-4711") && text.contains("of 6"), "{text}");

    app.update(Action::ShowDevice);
    let Some(Modal::Record { lines, .. }) = &app.modal else { panic!("the device in full") };
    let labels: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        &labels[..10],
        [
            "IMEI",
            "Serial Number",
            "Manufacturer",
            "Asset Tag",
            "Department",
            "Site",
            "Shelf",
            "Owner",
            "Cost Centre",
            "Status"
        ]
    );
    let text = screen(&mut app, 80, 24);
    for value in ["490154203237518", "A-001", "Sales", "Osaka", "S-12", "Taro Yamada", "CC-4711", "Wide.csv, line 2"] {
        assert!(text.contains(value), "{value}: {text}");
    }
    insta::assert_snapshot!("device_in_full_80x24", mask(&text));
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

/// Issue 14, hostile files 7: a save never replaces an existing file unasked. Export to an existing
/// file asks; No goes back to the form with the file as it was, Yes replaces it (0600). The wizard's
/// rejected rows go to a new name beside the import, never over a file.
#[test]
fn saving_over_an_existing_file_asks_first() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let out = fx.dir.path().join("inventory.csv");
    std::fs::write(&out, "mine").unwrap();
    let mut app = fx.app(ThemeName::Dark);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::Export);
    backspace(&mut app, 200);
    type_text(&mut app, out.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("inventory.csv exists already. Replace it?"), "{text}");
    key(&mut app, KeyCode::Esc);
    let f = form(&app);
    assert_eq!(f.error.as_deref(), Some("the file was left as it is; type another name"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.modal, Some(Modal::Confirm { .. })), "asked again: {:?}", app.modal);
    key(&mut app, KeyCode::Enter);
    let done = next_task(&rx, |m| matches!(m, TaskMsg::Exported(_)));
    app.on_task(done);
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("IMEI") && written.contains("Serial Number"), "{written}");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

    // The wizard: NAME-rejected.csv exists (someone's), so the rejected rows go to NAME-rejected-2.csv.
    let csv = fx.dir.path().join("dock.csv");
    std::fs::write(&csv, "IMEI\n490154203237518\nnot an imei\n").unwrap();
    let theirs = fx.dir.path().join("dock-rejected.csv");
    std::fs::write(&theirs, "theirs").unwrap();
    app.modal = None;
    app.update(Action::NewProfile);
    type_text(&mut app, "Dock");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, csv.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    let report = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(report);
    key(&mut app, KeyCode::Tab);
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs");
    let second = std::fs::read_to_string(fx.dir.path().join("dock-rejected-2.csv")).unwrap();
    assert!(second.contains("not an imei"), "{second}");
}
