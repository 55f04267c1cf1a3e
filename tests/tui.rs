//! The workstation on `TestBackend`: state driven by Actions and keys, whole-screen snapshots at 80×24 and
//! 120×40 (volatile text masked), the QR code decoded from the drawn cells, and no escape sequence from
//! the data reaching the terminal.

use std::sync::Arc;

use kitting::csv::android::{ImportOptions, import};
use kitting::domain::NewProfile;
use kitting::settings::Settings;
use kitting::store::{ImportTarget, SledStore, Store};
use kitting::tui::action::Action;
use kitting::tui::app::{App, Modal, Screen};
use kitting::tui::keymap::Keymap;
use kitting::tui::theme::{Theme, ThemeName};
use kitting::tui::view;
use ratatui::Terminal;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<SledStore>,
    settings: Settings,
}

const DEVICES: &str = "IMEI,Serial Number,Manufacturer,Asset Tag,Department
490154203237518,,,A-001,Sales
356938035643809,R58M12ABC,Samsung,A-002,Support
,SN-ZEBRA-7,Zebra,A-003,Warehouse
";

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let settings = Settings::parse(include_str!("../config.example.toml"), "config.example.toml").unwrap();
        Fixture { dir, store, settings }
    }

    fn import(&self, name: &str, csv: &str) {
        let path = self.dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        let new = NewProfile {
            name: name.into(),
            description: Some("Kitting line 1".into()),
            without_token: false,
            user: None,
            token_days: Some(7),
        };
        let profile = kitting::ops::build_profile(&self.settings, new, chrono::Utc::now()).unwrap();
        let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 200_000 };
        let report =
            import(self.store.as_ref(), &path, ImportTarget::Create(Box::new(profile)), &opts, &mut |_| true).unwrap();
        assert!(report.committed.is_some(), "{:?}", report.rejected);
    }

    fn app(&self, theme: ThemeName) -> App {
        let store: Arc<dyn Store> = self.store.clone();
        App::new(
            store,
            self.settings.clone(),
            "config.example.toml".into(),
            Keymap::load(&toml::Table::new()).unwrap(),
            Theme::new(theme),
        )
        .unwrap()
    }
}

fn draw(app: &mut App, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.size = (w, h);
    terminal.draw(|f| view::render(app, f)).unwrap();
    terminal.backend().buffer().clone()
}

/// Dates, times and the token's visible characters change from run to run.
fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let is_digit = |k: usize| chars.get(k).is_some_and(|c| c.is_ascii_digit());
        let date = (0..4).all(|k| is_digit(i + k))
            && chars.get(i + 4) == Some(&'-')
            && is_digit(i + 5)
            && is_digit(i + 6)
            && chars.get(i + 7) == Some(&'-')
            && is_digit(i + 8)
            && is_digit(i + 9);
        if date {
            out.push_str("YYYY-MM-DD");
            i += 10;
            if chars.get(i) == Some(&' ') && is_digit(i + 1) && is_digit(i + 2) && chars.get(i + 3) == Some(&':') {
                out.push_str(" hh:mm");
                i += 6;
            }
            continue;
        }
        // "Token        abcd••••": the four characters before the dots.
        if chars.get(i + 4) == Some(&'•')
            && chars.get(i + 3) != Some(&'•')
            && chars.get(i.wrapping_sub(1)) == Some(&' ')
        {
            out.push_str("TTTT");
            i += 4;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    mask(&view::buffer_text(&draw(app, w, h)))
}

/// The current screen at both sizes the issue names.
fn snapshots(app: &mut App, name: &str) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
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
        assert_eq!(d.devices[0].ids.serial.as_deref(), Some("SN-ZEBRA-7"));
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
    app.update(Action::Cancel);
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
    let Some(Modal::Confirm { text, .. }) = &app.modal else { panic!() };
    assert!(text.contains("Bravo and its 3 devices"), "{text}");
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
        assert_eq!(q.compact, compact);
        let (w, h) = view::qr_size(&q.qr, compact);
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

/// What a terminal would receive.
#[derive(Clone, Default)]
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn escape_sequences_from_a_csv_never_reach_the_terminal() {
    let fx = Fixture::new();
    fx.import("Hostile", "IMEI,Asset Tag\n490154203237518,\"\x1b]0;pwned\x07\x1b[31mred\u{202e}txt\u{9b}2J\"\n");
    for theme in [ThemeName::NoColor, ThemeName::Dark] {
        let mut app = fx.app(theme);
        app.update(Action::Open);
        let sink = Sink::default();
        let options =
            ratatui::TerminalOptions { viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 80, 24)) };
        let mut terminal = Terminal::with_options(CrosstermBackend::new(sink.clone()), options).unwrap();
        app.size = (80, 24);
        terminal.draw(|f| view::render(&app, f)).unwrap();
        drop(terminal);
        let bytes = sink.0.lock().unwrap().clone();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("\\e]0;pwned\\x07"), "shown as visible escapes: {text:?}");
        assert!(!text.contains("\x1b]"), "no OSC from the data");
        assert!(!bytes.contains(&0x07), "no BEL");
        assert!(!text.contains("\x1b[31mred"), "no colour from the data");
        assert!(!text.contains('\u{202e}') && !text.contains('\u{9b}'), "no bidi override, no C1 CSI");
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
        app.size = (w, h);
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
    assert!(d.loading.is_none() && d.devices.len() == total);
    let TaskMsg::Devices { result, .. } = msg else { panic!() };
    app.on_task(TaskMsg::Devices { profile: d.profile.id, load: 2, result: Ok(result.unwrap()[..10].to_vec()) });
    let Screen::Detail(d) = app.screen() else { panic!() };
    assert_eq!(d.devices.len(), total, "the stale answer was ignored");
}
