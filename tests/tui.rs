//! The workstation on `TestBackend`: state driven by Actions and keys, whole-screen snapshots at 80×24 and
//! 120×40 (volatile text masked), the QR code decoded from the drawn cells, and no escape sequence from
//! the data reaching the terminal.

mod common;

use common::tui::*;

use kitting::store::Store;
use kitting::tui::action::Action;
use kitting::tui::app::{App, Modal, Screen};
use kitting::tui::theme::ThemeName;
use kitting::tui::view;
use ratatui::crossterm::event::KeyCode;
use ratatui::style::Color;

/// The current screen at both sizes the issue names.
fn snapshots(app: &mut App, name: &str) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

#[test]
fn snapshots_of_every_screen_at_80x24_and_120x40() {
    let fx = Fixture::new();
    let mut app = fx.app(ThemeName::Dark);
    snapshots(&mut app, "empty_profiles");
    fx.import("Warehouse A", DEVICES);
    fx.import("Returns", "IMEI\n353918051234561\n");
    app.update(Action::Refresh);
    app.status = None;
    snapshots(&mut app, "profiles");
    app.update(Action::Down);
    app.update(Action::Open);
    snapshots(&mut app, "detail");
    app.update(Action::Help);
    snapshots(&mut app, "help");
    app.update(Action::Help);
    app.update(Action::Delete);
    snapshots(&mut app, "confirm_delete_device");
    app.update(Action::Cancel);
    app.update(Action::Qr);
    snapshots(&mut app, "qr_half_blocks");
    app.update(Action::Compact);
    snapshots(&mut app, "qr_compact");
    app.update(Action::Back);
    app.update(Action::Back);
    app.update(Action::NewProfile);
    snapshots(&mut app, "new_profile_form");
    app.update(Action::Cancel);
    app.update(Action::Users);
    snapshots(&mut app, "users");
    insta::assert_snapshot!("too_small_79x24", screen(&mut app, 79, 24));
}

#[test]
fn actions_move_filter_select_and_delete_devices() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::NoColor);
    app.update(Action::Open);
    let Screen::Detail(d) = app.screen() else { panic!("detail expected") };
    assert_eq!(d.view.len(), 3);
    app.update(Action::Bottom);
    app.update(Action::Top);
    app.update(Action::Down);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.current().unwrap().ids.serial.as_deref(), Some("R58M12ABC"));
    // A filter on any column, as the technician types.
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "zebra");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.view.len(), 1, "filtered on the manufacturer");
    for _ in 0.."zebra".len() {
        key(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "a-00 ");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.view.len(), 0, "a space is part of the filter");
    key(&mut app, KeyCode::Backspace);
    type_text(&mut app, "2");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.view.len(), 1, "filtered on a custom attribute");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.view.len(), 3, "Esc clears a kept filter");
    // Space selects two devices; Delete asks, naming how many, and removes exactly those.
    app.update(Action::Top);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    let Some(Modal::Confirm { .. }) = &app.modal else {
        app.update(Action::Delete);
        let Some(Modal::Confirm { text, .. }) = &app.modal else { panic!("confirmation expected") };
        assert!(text.contains("Delete 2 devices from Warehouse A"), "{text}");
        app.update(Action::Confirm);
        let Screen::Detail(d) = app.screen() else { panic!() };
        assert_eq!(d.devices.len(), 1);
        assert_eq!(d.devices.get(0).unwrap().ids.serial.as_deref(), Some("SN-ZEBRA-7"));
        assert_eq!(fx.store.profile("Warehouse A").unwrap().unwrap().device_count, 1);
        return;
    };
    panic!("Space must not open a dialog");
}

#[test]
fn refresh_token_replaces_it_and_extend_checks_the_range() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let before = fx.store.profile("Warehouse A").unwrap().unwrap().token.unwrap();
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::ExtendToken);
    // The form's field starts at 7; make it 100, which is refused inside the form.
    key(&mut app, KeyCode::Backspace);
    type_text(&mut app, "100");
    app.update(Action::Confirm);
    let Some(Modal::Form(form)) = &app.modal else { panic!("the form stays open") };
    assert!(form.error.as_deref().unwrap().contains("99"), "{:?}", form.error);
    // A changed form asks before it is discarded: Esc twice.
    app.update(Action::Cancel);
    assert!(app.modal.is_some(), "asked first");
    app.update(Action::Cancel);
    assert!(app.modal.is_none());
    app.update(Action::RefreshToken);
    app.update(Action::Confirm);
    assert!(app.modal.is_none());
    let after = fx.store.profile("Warehouse A").unwrap().unwrap().token.unwrap();
    assert_ne!(before.value, after.value, "a new token");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.profile.token.as_ref().unwrap().value, after.value, "the screen shows the stored token");
    app.update(Action::RevealToken);
    let text = view::buffer_text(&draw(&mut app, 120, 40));
    assert!(text.contains(&after.value), "revealed");
}

#[test]
fn profiles_sort_filter_and_delete_names_the_device_count() {
    let fx = Fixture::new();
    fx.import("Bravo", DEVICES);
    fx.import("alpha", "IMEI\n353918051234561\n");
    let mut app = fx.app(ThemeName::Dark);
    let names = |app: &App| match app.screen() {
        Screen::Profiles(p) => p.view.iter().map(|&i| p.all[i].name.clone()).collect::<Vec<_>>(),
        _ => panic!(),
    };
    assert_eq!(names(&app), ["alpha", "Bravo"], "by name, case-insensitively");
    app.update(Action::SortReverse);
    assert_eq!(names(&app), ["Bravo", "alpha"]);
    for _ in 0..4 {
        app.update(Action::SortNext); // → No of Devices
    }
    app.update(Action::SortReverse);
    assert_eq!(names(&app), ["alpha", "Bravo"], "ascending device count");
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "bra");
    assert_eq!(names(&app), ["Bravo"]);
    key(&mut app, KeyCode::Enter);
    app.update(Action::Delete);
    // The question names the profile and its device count; the name is typed to delete it.
    assert!(form(&app).title.contains("Bravo and its 3 devices"), "{}", form(&app).title);
    type_text(&mut app, "Bravo");
    app.update(Action::Confirm);
    assert!(fx.store.profile("Bravo").unwrap().is_none());
}

#[test]
fn a_second_screen_sees_changes_after_refresh() {
    let fx = Fixture::new();
    let mut one = fx.app(ThemeName::Dark);
    let mut two = fx.app(ThemeName::Dark);
    fx.import("Warehouse A", DEVICES);
    one.update(Action::Refresh);
    let Screen::Profiles(p) = one.screen() else { panic!() };
    assert_eq!(p.all.len(), 1);
    let Screen::Profiles(p) = two.screen() else { panic!() };
    assert_eq!(p.all.len(), 0, "a screen shows what it read");
    two.update(Action::Refresh);
    let Screen::Profiles(p) = two.screen() else { panic!() };
    assert_eq!(p.all.len(), 1);
}

/// Cells → modules: half blocks carry two modules per cell in fg/bg, quadrants four in the glyph.
fn modules_from_cells(
    buffer: &ratatui::buffer::Buffer,
    x0: u16,
    y0: u16,
    w: u16,
    h: u16,
    compact: bool,
) -> Vec<Vec<bool>> {
    const QUADRANTS: [char; 16] = [' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█'];
    let mut rows = Vec::new();
    for y in y0..y0 + h {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for x in x0..x0 + w {
            let cell = &buffer[(x, y)];
            let ch = cell.symbol().chars().next().unwrap();
            if compact {
                assert_eq!((cell.fg, cell.bg), (Color::Black, Color::White), "explicit dark on light");
                let bits = QUADRANTS.iter().position(|&q| q == ch).expect("a quadrant character");
                top.extend([bits & 1 != 0, bits & 2 != 0]);
                bottom.extend([bits & 4 != 0, bits & 8 != 0]);
            } else {
                assert_eq!(ch, '▀');
                top.push(cell.fg == Color::Black);
                bottom.push(cell.bg == Color::Black);
            }
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

fn decode(modules: &[Vec<bool>]) -> String {
    let scale = 4;
    let (w, h) = (modules[0].len(), modules.len());
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
        if modules[y / scale][x / scale] { 0 } else { 255 }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    grids[0].decode().unwrap().1
}

#[test]
fn the_qr_code_drawn_on_screen_scans_back_to_the_payload_in_both_modes() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let profile = fx.store.profile("Warehouse A").unwrap().unwrap();
    let admin = fx.settings.android.complete("config.example.toml").unwrap();
    let payload = kitting::qr::payload_text(&admin, &profile);
    let mut app = fx.app(ThemeName::NoColor);
    app.update(Action::Open);
    app.update(Action::Qr);
    for compact in [false, true] {
        let Screen::Qr(q) = app.screen() else { panic!("QR screen expected: {:?}", app.status) };
        assert_eq!(q.drawing == kitting::tui::screens::qr::Drawing::Compact, compact);
        let (w, h) = kitting::tui::screens::qr::qr_size(&q.qr, compact);
        let buffer = draw(&mut app, 240, 120);
        // The code starts at the body's top-left corner (below the title line), quiet zone included.
        let modules = modules_from_cells(&buffer, 0, 1, w, h, compact);
        let n = modules.len().min(modules[0].len());
        assert!((0..4).all(|i| modules[i].iter().all(|m| !m)), "4 light rows of quiet zone on top");
        assert_eq!(decode(&modules[..n]), payload, "compact: {compact}");
        app.update(Action::Compact);
    }
}

#[test]
fn a_code_too_big_for_the_terminal_is_never_drawn_clipped() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::Qr);
    let text = view::buffer_text(&draw(&mut app, 80, 24));
    assert!(text.contains("too small for this QR code"), "{text}");
    assert!(!text.contains('▀'), "no part of a code");
}

#[test]
fn escape_sequences_from_a_csv_never_reach_the_terminal() {
    let fx = Fixture::new();
    fx.import("Hostile", "IMEI,Asset Tag\n490154203237518,\"\x1b]0;pwned\x07\x1b[31mred\u{202e}txt\u{9b}2J\"\n");
    for theme in [ThemeName::NoColor, ThemeName::Dark] {
        let mut app = fx.app(theme);
        app.update(Action::Open);
        // The profile screen, then the edit form with the hostile value in the focused text input and in
        // an unfocused one.
        for step in 0..3 {
            if step == 1 {
                app.update(Action::EditDevice);
                for _ in 0..3 {
                    key(&mut app, KeyCode::Tab);
                }
            } else if step == 2 {
                key(&mut app, KeyCode::BackTab);
            }
            let bytes = terminal_bytes(&mut app, 80, 24);
            let text = String::from_utf8_lossy(&bytes);
            // In the focused text input too (issue 14): escaped, not dropped.
            assert!(text.contains("\\e]0;pwned\\x07"), "step {step}: shown as visible escapes: {text:?}");
            if step == 1 {
                assert!(text.contains("\\u{202E}txt\\x9B2J"), "the focused input shows them all: {text:?}");
            }
            assert!(!text.contains("\x1b]"), "step {step}: no OSC from the data");
            assert!(!bytes.contains(&0x07), "step {step}: no BEL");
            assert!(!text.contains("\x1b[31mred"), "step {step}: no colour from the data");
            assert!(!text.contains('\u{202e}') && !text.contains('\u{9b}'), "step {step}: no bidi override, no C1");
        }
    }
}

#[test]
fn the_row_under_the_cursor_stays_on_screen_while_scrolling() {
    let fx = Fixture::new();
    let mut csv = String::from("Serial Number,Manufacturer\n");
    for i in 0..200 {
        csv.push_str(&format!("SN{i:04},Acme\n"));
    }
    fx.import("Many", &csv);
    let mut app = fx.app(ThemeName::NoColor);
    app.update(Action::Open);
    for (w, h) in [(80, 24), (120, 40)] {
        app.resize(w, h);
        app.update(Action::Top);
        for step in 0..60 {
            let Screen::Detail(d) = app.screen() else { panic!() };
            let serial = d.current().unwrap().ids.serial.clone().unwrap();
            let text = view::buffer_text(&draw(&mut app, w, h));
            let line = text.lines().find(|l| l.starts_with('>')).unwrap_or_else(|| panic!("no cursor row:\n{text}"));
            assert!(line.contains(&serial), "{w}x{h}, step {step}: the cursor row shows {serial}:\n{text}");
            app.update(if step % 20 == 19 { Action::PageDown } else { Action::Down });
        }
    }
}

#[test]
fn a_large_profile_shows_its_first_page_at_once_and_the_rest_when_read() {
    use kitting::tui::app::{FIRST_READ, TaskMsg};
    let fx = Fixture::new();
    let total = FIRST_READ * 2 + 500;
    let mut csv = String::from("Serial Number,Manufacturer\n");
    for i in 0..total {
        csv.push_str(&format!("SN{i:05},Acme\n"));
    }
    fx.import("Big", &csv);
    let mut app = fx.app(ThemeName::NoColor);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::Open);
    let Screen::Detail(d) = app.screen() else { panic!("not on the profile") };
    assert_eq!(d.devices.len(), FIRST_READ, "only the first page before the first frame");
    assert!(d.loading.is_some());
    let text = screen(&mut app, 120, 40);
    assert!(text.contains(&format!("reading the other {} devices", total - FIRST_READ)), "{text}");
    assert!(text.contains("SN00000"), "{text}");
    // Select-all waits for every device: it would otherwise select only the first page.
    app.update(Action::SelectAll);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert!(d.marked.is_empty());

    let msg = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the background read reports");
    assert!(matches!(msg, TaskMsg::Devices { .. }));
    app.on_task(msg);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.devices.len(), total);
    assert!(d.loading.is_none());
    assert_eq!(d.devices.last().unwrap().ids.serial.as_deref(), Some(format!("SN{:05}", total - 1).as_str()));
    app.update(Action::Bottom);
    let text = screen(&mut app, 120, 40);
    assert!(text.contains(&format!("SN{:05}", total - 1)) && !text.contains("reading the other"), "{text}");

    // A read answered after the screen was read again is stale and changes nothing.
    app.update(Action::Back);
    app.update(Action::Open);
    let msg = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    app.update(Action::Refresh);
    let Screen::Detail(d) = app.screen() else { panic!() };
    // A large profile is read again in the background; what it showed stays shown meanwhile.
    let again = d.loading.expect("read again in the background");
    assert_eq!(d.devices.len(), FIRST_READ);
    let TaskMsg::Devices { result, load, .. } = msg else { panic!() };
    assert_ne!(load, again);
    app.on_task(TaskMsg::Devices {
        profile: d.profile.id,
        load,
        result: Ok(result.unwrap().iter().take(10).collect()),
    });
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.devices.len(), FIRST_READ, "the stale answer was ignored");
    let msg = next_task(&rx, |m| matches!(m, TaskMsg::Devices { load, .. } if *load == again));
    app.on_task(msg);
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert!(d.loading.is_none());
    assert_eq!(d.devices.len(), total, "the answer of the read again");
}

fn profile(fx: &Fixture, name: &str) -> kitting::domain::Profile {
    fx.store.profile(name).unwrap().unwrap()
}

#[test]
fn modify_configuration_edits_the_three_groups_with_typed_extras() {
    use kitting::domain::android::ExtraValue;
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::ModifyConfig);
    snapshots(&mut app, "config_form");
    // Vendor keys: a list, Enter starts a new line.
    type_text(&mut app, "tenant = acme");
    key(&mut app, KeyCode::Enter);
    type_text(&mut app, "site=Osaka");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "Warehouse 5"); // Wi-Fi SSID
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "s3cret"); // Wi-Fi password
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char(' ')); // security: not set → NONE
    key(&mut app, KeyCode::Right); // → WPA
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Left); // skip encryption: not set → false (wraps back)
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    type_text(&mut app, "english"); // locale, checked as typed
    assert!(form(&app).fields[form(&app).focus].problem.as_deref().unwrap().contains("like en_US"));
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("expected a locale like en_US"), "the problem shows under the field:\n{text}");
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap().starts_with("Locale: "), "refused, naming the field");
    assert!(profile(&fx, "Warehouse A").config.system.is_empty(), "nothing saved");
    backspace(&mut app, 7);
    type_text(&mut app, "ja_JP");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab); // custom keys, the last field
    type_text(&mut app, "android.app.extra.PROVISIONING_WIFI_HIDDEN = true");
    snapshots(&mut app, "config_form_scrolled_to_custom_keys");
    ctrl(&mut app, 's');
    assert!(app.modal.is_none(), "saved: {:?}", app.status);

    let c = profile(&fx, "Warehouse A").config;
    assert_eq!(c.vendor, vec![("tenant".into(), "acme".into()), ("site".into(), "Osaka".into())]);
    assert_eq!(
        c.system,
        vec![
            ("wifi_ssid".into(), ExtraValue::Text("Warehouse 5".into())),
            ("wifi_password".into(), ExtraValue::Text("s3cret".into())),
            ("wifi_security_type".into(), ExtraValue::Text("WPA".into())),
            ("skip_encryption".into(), ExtraValue::Bool(false)),
            ("locale".into(), ExtraValue::Text("ja_JP".into())),
        ]
    );
    assert_eq!(c.custom, vec![("android.app.extra.PROVISIONING_WIFI_HIDDEN".into(), "true".into())]);
    let admin = fx.settings.android.complete("config.example.toml").unwrap();
    let payload = kitting::qr::payload_text(&admin, &profile(&fx, "Warehouse A"));
    for part in ["\"tenant\":\"acme\"", "Warehouse 5", "\"WPA\"", "ja_JP", "PROVISIONING_WIFI_HIDDEN"] {
        assert!(payload.contains(part), "{part} in {payload}");
    }

    // The form opens on what is stored; clearing a choice and a list removes them.
    app.update(Action::ModifyConfig);
    assert_eq!(form(&app).labelled("Vendor keys"), "tenant = acme\nsite = Osaka");
    assert_eq!(form(&app).labelled("Wi-Fi security type"), "WPA");
    assert_eq!(form(&app).labelled("Locale"), "ja_JP");
    backspace(&mut app, 30); // vendor keys gone
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right); // WPA → WEP → EAP → not set
    key(&mut app, KeyCode::Enter);
    let c = profile(&fx, "Warehouse A").config;
    assert!(c.vendor.is_empty());
    assert!(!c.system.iter().any(|(n, _)| n == "wifi_security_type"));
    assert_eq!(c.system.len(), 4);
}

#[test]
fn add_more_devices_checks_as_you_type_and_stays_open_for_the_next() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::AddDevices);
    let labels: Vec<&str> = form(&app).fields.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(labels, ["IMEI", "Serial", "Manufacturer", "IMEI 2", "Asset Tag", "Department"]);
    type_text(&mut app, "49015420323751");
    assert!(form(&app).fields[0].problem.as_deref().unwrap().contains("15 digits"));
    type_text(&mut app, "8");
    assert_eq!(form(&app).fields[0].problem, None);
    assert_eq!(form(&app).note.as_deref(), Some("IMEI 490154203237518 is already in profile Warehouse A"));
    snapshots(&mut app, "add_device_duplicate");
    backspace(&mut app, 15);
    type_text(&mut app, "353918051234579");
    assert_eq!(form(&app).note.as_deref(), Some("ok: Enter saves"));
    // Down moves between fields (Tab on a complete IMEI adds the device, as a scanner's Tab ends a scan).
    for _ in 0..4 {
        key(&mut app, KeyCode::Down);
    }
    type_text(&mut app, "A-100");
    key(&mut app, KeyCode::Enter);
    let f = form(&app);
    assert!(f.note.as_deref().unwrap().starts_with("added IMEI 353918051234579"), "{:?}", f.note);
    assert_eq!((f.labelled("IMEI"), f.labelled("Asset Tag"), f.focus), (String::new(), "A-100".into(), 0));
    // The next one by serial: the pair is needed.
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "SN-NEW-1");
    assert!(form(&app).note.as_deref().unwrap().contains("needs a manufacturer"));
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap().contains("needs a manufacturer"));
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "Zebra");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());

    let p = profile(&fx, "Warehouse A");
    assert_eq!(p.device_count, 5);
    let by_imei =
        fx.store.find(&kitting::store::Lookup::Imei(kitting::domain::Imei::parse("353918051234579").unwrap())).unwrap();
    assert_eq!(by_imei.unwrap().1.attribute("Asset Tag"), Some("A-100"));
    let lookup = kitting::store::Lookup::Serial { serial: "sn-new-1".into(), manufacturer: "ZEBRA".into() };
    assert_eq!(fx.store.find(&lookup).unwrap().unwrap().1.attribute("Asset Tag"), Some("A-100"), "kept");
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.devices.len(), 5, "the table shows them");
}

#[test]
fn edit_changes_one_devices_identifiers_or_an_attribute_on_several() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::Open);
    app.update(Action::Bottom); // SN-ZEBRA-7
    app.update(Action::EditDevice);
    assert_eq!(form(&app).labelled("Serial"), "SN-ZEBRA-7");
    assert_eq!(form(&app).labelled("Department"), "Warehouse");
    snapshots(&mut app, "edit_device");
    // A serial already used by another device is said before saving.
    key(&mut app, KeyCode::Tab);
    backspace(&mut app, 10);
    type_text(&mut app, "R58M12ABC");
    key(&mut app, KeyCode::Tab);
    backspace(&mut app, 5);
    type_text(&mut app, "samsung");
    assert!(form(&app).note.as_deref().unwrap().contains("already in profile Warehouse A"), "{:?}", form(&app).note);
    backspace(&mut app, 7);
    type_text(&mut app, "Zebra");
    assert_eq!(form(&app).note.as_deref(), Some("ok: Enter saves"));
    key(&mut app, KeyCode::Tab); // IMEI 2
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    backspace(&mut app, 9); // Department cleared
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none(), "{:?}", app.modal);
    let lookup = kitting::store::Lookup::Serial { serial: "R58M12ABC".into(), manufacturer: "Zebra".into() };
    let (_, d) = fx.store.find(&lookup).unwrap().expect("renamed");
    assert_eq!((d.attribute("Asset Tag"), d.attribute("Department")), (Some("A-003"), None));
    let old = kitting::store::Lookup::Serial { serial: "SN-ZEBRA-7".into(), manufacturer: "Zebra".into() };
    assert!(fx.store.find(&old).unwrap().is_none());

    // With several selected, Edit sets one attribute on all of them.
    app.update(Action::Top);
    app.update(Action::ToggleSelect);
    app.update(Action::ToggleSelect);
    app.update(Action::EditDevice);
    assert_eq!(form(&app).title, "Set a custom attribute on 2 devices");
}

#[test]
fn the_user_is_picked_from_a_list_that_typing_filters() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    for (u, n) in [("alice", "Alice Liddell"), ("bob", "Bob Stone"), ("carol", "Carol Lidd")] {
        let user = kitting::domain::User {
            username: u.into(),
            name: n.into(),
            email: format!("{u}@example.com"),
            ..Default::default()
        };
        kitting::ops::users::add(&fx.core(), kitting::ops::users::AddUser { user }).unwrap();
    }
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::ModifyUser);
    type_text(&mut app, "lidd");
    snapshots(&mut app, "user_picker");
    let matches: Vec<String> = form(&app).fields[0].matches().iter().map(|o| o.value.clone()).collect();
    assert_eq!(matches, ["alice", "carol"]);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(profile(&fx, "Warehouse A").user.as_deref(), Some("carol"));
    // An unknown name is refused; nothing typed means no user.
    app.update(Action::ModifyUser);
    backspace(&mut app, 5);
    type_text(&mut app, "zed");
    key(&mut app, KeyCode::Enter);
    assert!(form(&app).error.as_deref().unwrap().contains("no user zed"));
    backspace(&mut app, 3);
    key(&mut app, KeyCode::Enter);
    assert_eq!(profile(&fx, "Warehouse A").user, None);
}

#[test]
fn help_scrolls_to_its_last_line_and_no_further() {
    let fx = Fixture::new();
    let mut app = fx.app(ThemeName::Dark);
    app.size = (80, 24);
    app.update(Action::Help);
    assert!(screen(&mut app, 80, 24).contains("↓ more"));
    for _ in 0..200 {
        key(&mut app, KeyCode::Down);
    }
    let Some(Modal::Help { scroll }) = app.modal else { panic!("help closed") };
    assert_eq!(scroll, view::help_max_scroll(&app.draw_ctx(), app.size));
    snapshots(&mut app, "help_scrolled_to_the_end");
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("Ctrl-C always quits") && !text.contains("↓ more"), "{text}");
    key(&mut app, KeyCode::Up);
    let Some(Modal::Help { scroll: up }) = app.modal else { panic!() };
    assert_eq!(up, scroll - 1);
}

/// Styles of the rows of the device table: the cursor row, a selected row, a plain row.
fn row_styles(app: &mut App) -> Vec<(String, ratatui::style::Style)> {
    let buf = draw(app, 120, 40);
    (0..40)
        .map(|y| {
            let text: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
            (text, buf[(5, y)].style())
        })
        .collect()
}

#[test]
fn every_theme_shows_the_cursor_and_the_selection_no_color_by_markers_alone() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut seen = Vec::new();
    for theme in [ThemeName::Dark, ThemeName::Light, ThemeName::NoColor] {
        let mut app = fx.app(theme);
        app.update(Action::Open);
        app.update(Action::ToggleSelect); // first row selected, cursor moves to the second
        let rows = row_styles(&mut app);
        let find = |needle: &str| rows.iter().find(|(t, _)| t.contains(needle)).unwrap().clone();
        let (cursor_text, cursor) = find("R58M12ABC");
        let (marked_text, marked) = find("490154203237518");
        let (_, plain) = find("SN-ZEBRA-7");
        assert!(cursor_text.starts_with('>'), "{theme:?}: the cursor row has its marker: {cursor_text}");
        assert!(marked_text.starts_with(" *"), "{theme:?}: the selected row has its marker: {marked_text}");
        if theme == ThemeName::NoColor {
            let buf = draw(&mut app, 120, 40);
            assert!(
                buf.content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
                "NO_COLOR: no colour anywhere"
            );
        } else {
            assert!(cursor != plain && marked != plain && cursor != marked, "{theme:?}: three distinct row styles");
            seen.push((cursor, plain));
        }
    }
    assert_ne!(seen[0], seen[1], "dark and light differ");
}

#[test]
fn the_wizard_shows_progress_then_the_report_and_imports_the_valid_rows() {
    use kitting::tui::app::{TaskMsg, WizardStage};
    let fx = Fixture::new();
    let csv = fx.dir.path().join("dock3.csv");
    std::fs::write(&csv, "IMEI,Asset Tag\n490154203237518,A-1\n490154203237519,A-2\n356938035643809,A-3\n").unwrap();
    let mut app = fx.app(ThemeName::Dark);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    app.update(Action::NewProfile);
    type_text(&mut app, "Dock 3");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, csv.to_str().unwrap());
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.modal, Some(Modal::Wizard(w)) if matches!(w.stage, WizardStage::Validating)));
    // Progress as the checking thread reports it (a fixed figure, so that the snapshot is stable).
    app.on_task(TaskMsg::Progress { rows: 60_000, bytes: 3_000_000, total_bytes: 10_000_000, elapsed_ms: 300 });
    snapshots(&mut app, "wizard_progress");
    let report = next_task(&rx, |m| matches!(m, TaskMsg::Validated(_)));
    app.on_task(report);
    snapshots(&mut app, "wizard_report");
    let text = screen(&mut app, 80, 24);
    assert!(text.contains("3 rows, 2 valid, 1 rejected") && text.contains("line 3"), "{text}");
    assert!(fx.store.profile("Dock 3").unwrap().is_none(), "nothing written before the choice");
    key(&mut app, KeyCode::Enter);
    let done = next_task(&rx, |m| matches!(m, TaskMsg::Imported(_)));
    app.on_task(done);
    let Screen::Detail(d) = app.screen() else { panic!("lands on the new profile") };
    assert_eq!((d.profile.name.as_str(), d.devices.len()), ("Dock 3", 2));
}

#[test]
fn after_a_resize_the_row_under_the_cursor_is_still_in_view() {
    let fx = Fixture::new();
    let mut csv = String::from("Serial Number,Manufacturer\n");
    for i in 0..100 {
        csv.push_str(&format!("SN{i:04},Acme\n"));
    }
    fx.import("Many", &csv);
    let mut app = fx.app(ThemeName::NoColor);
    app.update(Action::Open);
    app.resize(120, 40);
    for _ in 0..30 {
        app.update(Action::Down);
    }
    // 30 rows down fits 40 rows; at 24 the table is shorter and must scroll to keep SN0030 in view.
    let text = view::buffer_text(&draw(&mut app, 80, 24));
    let line = text.lines().find(|l| l.starts_with('>')).unwrap_or_else(|| panic!("no cursor row:\n{text}"));
    assert!(line.contains("SN0030"), "{text}");
}

#[test]
fn the_wizard_writes_the_csv_template_where_the_path_points_and_never_over_a_file() {
    let fx = Fixture::new();
    let mut app = fx.app(ThemeName::Dark);
    app.update(Action::NewProfile);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, fx.dir.path().to_str().unwrap());
    ctrl(&mut app, 't');
    let written = fx.dir.path().join("devices.csv");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), kitting::csv::android::TEMPLATE);
    assert_eq!(form(&app).labelled("CSV file"), written.to_str().unwrap(), "the field points at it");
    assert!(form(&app).note.as_deref().unwrap().starts_with("wrote the template"));
    assert!(screen(&mut app, 120, 40).contains("Ctrl-t template"), "the footer offers it here");
    std::fs::write(&written, "mine").unwrap();
    ctrl(&mut app, 't');
    assert!(form(&app).error.as_deref().unwrap().contains("not overwritten"));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "mine");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc); // the form was changed: the second Esc discards it
    app.update(Action::Users);
    app.update(Action::AddUser);
    assert!(!screen(&mut app, 120, 40).contains("template"), "not offered in other forms");
}
