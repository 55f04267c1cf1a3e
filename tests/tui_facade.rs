//! A technician's round through the workstation, driven through the facade (`tui::facade`): keys and
//! actions in, the screen's text, the status line, the dialog and a field's value out. Nothing here looks
//! at a screen's internal state.

mod common;

use common::tui::*;
use kitting::tui::action::Action;
use kitting::tui::facade::Workstation;
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

#[test]
fn open_filter_show_add_scan_undo_and_find_as_a_technician_would() {
    let fx = Fixture::new();
    fx.import("Warehouse A", DEVICES);
    let mut w = Workstation::new(fx.app(ThemeName::NoColor));
    assert_eq!(w.place(), "Profiles");
    assert!(w.text().contains("Warehouse A"));

    // The profile, filtered to one device, that device in full.
    w.press(Action::Open);
    assert_eq!(w.place(), "Profile detail");
    w.press(Action::Filter).type_text("zebra").key(KeyCode::Enter);
    let text = w.text();
    assert!(text.contains("SN-ZEBRA-7") && !text.contains("R58M12ABC"), "{text}");
    w.press(Action::ShowDevice);
    assert_eq!(w.place(), "record");
    assert!(w.text().contains("Warehouse") && w.dialog().unwrap().contains("SN-ZEBRA-7"));
    w.press(Action::Cancel);
    w.press(Action::Back);

    // Add More Devices: the form stays open, the manufacturer kept for the next one.
    w.press(Action::AddDevices);
    assert_eq!(w.place(), "form");
    w.focus("Serial").type_text("SN-NEW-1").focus("Manufacturer").type_text("Zebra").key(KeyCode::Enter);
    assert_eq!(w.field("Manufacturer").as_deref(), Some("Zebra"), "kept for the next device");
    assert_eq!(w.field("Serial").as_deref(), Some(""), "cleared for the next scan");
    w.key(KeyCode::Esc);
    assert!(w.status().unwrap_or("").contains("added 1 device"), "{:?}", w.status());

    // The scan station: two scans, the second refused as a duplicate, then the first undone.
    w.press(Action::ScanStation);
    w.key(KeyCode::Enter);
    assert_eq!(w.place(), "Scan station");
    w.type_text("353918051234561").key(KeyCode::Enter);
    assert!(w.text().contains("353918051234561"));
    w.type_text("353918051234561").key(KeyCode::Enter);
    assert!(w.text().to_lowercase().contains("duplicate"), "{}", w.text());
    w.press(Action::UndoScan);
    let text = w.text();
    assert!(text.contains("undone"), "{text}");
    w.key(KeyCode::Esc);

    // Find from anywhere: one place, opened where it lives.
    w.press(Action::Find).type_text("R58M12ABC").key(KeyCode::Enter);
    assert_eq!(w.place(), "Profile detail");
    assert!(w.status().unwrap_or("").contains("in profile Warehouse A"), "{:?}", w.status());
}

/// A page is as long as the table the last frame drew: at 80x24 and, after a resize, at 120x40.
#[test]
fn a_page_is_what_the_frame_drew() {
    let fx = Fixture::new();
    let mut csv = String::from("IMEI,Serial Number,Manufacturer\n");
    for i in 0..200 {
        csv.push_str(&format!(",SN-{i:03},Zebra\n"));
    }
    fx.import("Big", &csv);
    let mut w = Workstation::new(fx.app(ThemeName::NoColor));
    w.press(Action::Open);
    // The serial on each device line drawn, and the one under the cursor.
    let shown = |text: &str| -> (Vec<usize>, usize) {
        let mut rows = Vec::new();
        let mut cursor = usize::MAX;
        for line in text.lines() {
            if let Some(at) = line.find("SN-") {
                let n: usize = line[at + 3..at + 6].parse().unwrap();
                rows.push(n);
                if line.trim_start().starts_with('>') {
                    cursor = n;
                }
            }
        }
        (rows, cursor)
    };
    let (rows, cursor) = shown(&w.text());
    assert_eq!((rows[0], cursor), (0, 0));
    let page = rows.len();
    w.key(KeyCode::PageDown);
    let (rows, cursor) = shown(&w.text());
    assert_eq!(cursor, page, "one page down is the first device below the frame");
    assert_eq!(rows.last(), Some(&page), "and it is in view, at the bottom");

    w.resize(120, 40);
    let (rows, _) = shown(&w.text());
    let tall = rows.len();
    assert!(tall > page, "{tall} rows at 120x40, {page} at 80x24");
    w.key(KeyCode::PageDown);
    let (_, cursor) = shown(&w.text());
    assert_eq!(cursor, page + tall, "the page after the resize is the taller table");
}
