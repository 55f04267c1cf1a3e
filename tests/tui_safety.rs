//! Terminal safety on every workstation screen (issue 14): a database whose profile description, device
//! attributes, users, catalog entries, DEP records and audit trail hold an OSC title sequence, a BEL, an
//! SGR colour, a right-to-left override and a C1 CSI, and a technician (or a scanner) typing the same
//! into the search, check-in and scan station inputs. Every screen is drawn through crossterm into bytes,
//! as a terminal would receive them: none of those characters arrives raw, and where the screen shows
//! the hostile value it shows it escaped.

mod common;

use common::tui::*;
use kitting::domain::audit::{Actor, AuditEntry, AuditOutcome, FrontEnd};
use kitting::domain::dep::{CatalogEntry, CatalogKind};
use kitting::domain::{NewProfile, User};
use kitting::ops;
use kitting::store::{ProfileChange, Store};
use kitting::tui::action::Action;
use kitting::tui::app::{App, Screen, Tab};
use kitting::tui::theme::ThemeName;
use ratatui::crossterm::event::KeyCode;

/// An OSC that retitles the terminal (ended by BEL), an SGR colour, a right-to-left override, a C1 CSI.
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[31mred\u{202e}txt\u{9b}2J";

/// Draws the screen at two sizes and checks what the terminal gets; `shows`: the screen shows the
/// hostile value (escaped) at the larger size. Returns the larger drawing's text.
fn safe(app: &mut App, name: &str, shows: bool) -> String {
    let mut last = String::new();
    for (w, h) in [(80, 24), (200, 50)] {
        let raw = terminal_bytes(app, w, h);
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(!text.contains("\x1b]"), "{name} {w}x{h}: an OSC from the data reached the terminal");
        assert!(!raw.contains(&0x07), "{name} {w}x{h}: a BEL reached the terminal");
        assert!(!text.contains("\x1b[31mred"), "{name} {w}x{h}: the data's colour reached the terminal");
        assert!(!text.contains('\u{202e}'), "{name} {w}x{h}: a right-to-left override reached the terminal");
        assert!(!text.contains('\u{9b}'), "{name} {w}x{h}: a C1 CSI reached the terminal");
        last = text;
    }
    if shows {
        assert!(last.contains("pwned"), "{name}: the hostile value is shown (escaped): {last:?}");
        assert!(last.contains("\\e]0;") || last.contains("\\x1B]0;"), "{name}: its escape is shown as text");
    }
    last
}

/// An audit entry as another process might have written it, `what` in its target and outcome.
fn direct(what: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: chrono::Utc::now(),
        actor: Actor::named("script", FrontEnd::Cli),
        command: "profile.edit".into(),
        profile: None,
        target: what.into(),
        outcome: AuditOutcome::Done(what.into()),
        counts: None,
    }
}

fn hostile_fixture() -> Fixture {
    let fx = Fixture::new();
    let core = fx.core();
    // An Android profile whose description and device attribute are hostile.
    let csv = fx.dir.path().join("hostile.csv");
    std::fs::write(&csv, format!("IMEI,Asset Tag\n490154203237518,\"{HOSTILE}\"\n")).unwrap();
    let new =
        NewProfile { name: "Dock".into(), description: None, without_token: false, user: None, token_days: Some(7) };
    let import = ops::import::Import {
        file: csv,
        to: ops::import::ImportTo::New(new),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: false,
        max_rows: 100,
    };
    let report = ops::import::run(&core, import, &mut |_| true).unwrap();
    assert!(report.committed.is_some(), "{:?}", report.rejected);
    // What kitting refuses to take from a technician may still be in a database another host's kitting
    // (an older one, or a script) wrote: the profile's description, a user, catalog entries, an audit
    // entry, written straight into the store.
    let store: &dyn Store = fx.store.as_ref();
    let id = store.profile("Dock").unwrap().unwrap().id;
    let change = ProfileChange { description: Some(Some(HOSTILE.into())), ..Default::default() };
    store.update_profile(id, &change, None, &direct(HOSTILE)).unwrap();
    let user = User {
        username: "taro".into(),
        name: HOSTILE.into(),
        email: "taro@example.com".into(),
        description: HOSTILE.into(),
        organizations: Vec::new(),
    };
    store.put_user(user, true, &direct("user")).unwrap();
    for kind in [CatalogKind::Organization, CatalogKind::Template, CatalogKind::Tag] {
        let entry = CatalogEntry { name: format!("x{kind:?}"), description: Some(HOSTILE.into()) };
        store.catalog_add(kind, entry, &direct("catalog")).unwrap();
    }
    // A DEP record whose display name and description are hostile (written to the store, as above).
    let dep = fx.dir.path().join("dep.csv");
    std::fs::write(&dep, "UserName,Identifier,OS,DisplayName,Code\ntaro,DEVICE01,ios,Lobby,CODE0001\n").unwrap();
    let command = ops::dep::DepImport { file: dep, dry_run: false, skip_invalid: false, max_rows: 100 };
    let report = ops::dep::import(&core, command, &mut |_| true).unwrap();
    assert!(report.committed, "{:?}", report.rejected);
    let mut record = store.dep_device("DEVICE01").unwrap().unwrap();
    let expect = record.modified;
    record.display_name = Some(HOSTILE.into());
    record.description = Some(HOSTILE.into());
    store.dep_put(record, expect, &direct("dep")).unwrap();
    drop(core);
    fx
}

#[test]
fn no_screen_sends_the_terminal_a_control_or_bidi_character_from_the_data_or_the_keyboard() {
    let fx = hostile_fixture();
    for theme in [ThemeName::NoColor, ThemeName::Dark] {
        let mut app = fx.app(theme);
        // Profiles, a profile's devices, a device in full, its QR code, the help.
        safe(&mut app, "profiles", true);
        app.update(Action::Open);
        assert!(matches!(app.screen(), Screen::Detail(_)));
        safe(&mut app, "profile screen", true);
        app.update(Action::ShowDevice);
        safe(&mut app, "device in full", true);
        app.update(Action::Back);
        app.update(Action::Qr);
        assert!(matches!(app.screen(), Screen::Qr(_)), "{:?}", app.status);
        safe(&mut app, "QR code", false);
        app.update(Action::Help);
        safe(&mut app, "help", false);
        app.update(Action::Help);
        app.update(Action::Back);
        // The DEP list, a record, users, catalog, the audit trail (which names the hostile values' records).
        app.switch_tab(Tab::Dep);
        safe(&mut app, "DEP devices", true);
        app.update(Action::Open);
        assert!(matches!(app.screen(), Screen::DepDevice(_)));
        safe(&mut app, "DEP record", true);
        app.switch_tab(Tab::Users);
        safe(&mut app, "users", true);
        app.switch_tab(Tab::Catalog);
        safe(&mut app, "catalog", true);
        app.switch_tab(Tab::Audit);
        assert!(matches!(app.screen(), Screen::Audit(_)));
        safe(&mut app, "audit trail", true);
        // Typed into the search, the check-in and the scan station's input: shown escaped as typed,
        // and in what the screen says about it.
        app.switch_tab(Tab::Profiles);
        app.update(Action::Find);
        type_text(&mut app, HOSTILE);
        safe(&mut app, "find (typing)", true);
        key(&mut app, KeyCode::Enter);
        safe(&mut app, "find (refused)", true);
        let said = form(&app).error.clone().unwrap_or_default();
        assert!(said.contains("no device with \"\\e]0;pwned"), "the form quotes it escaped: {said}");
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Esc);
        // The results name the record whose display name is hostile.
        app.update(Action::Find);
        type_text(&mut app, "DEVICE01");
        key(&mut app, KeyCode::Enter);
        // One place found: its record opens at once.
        assert!(app.modal.is_none() && matches!(app.screen(), Screen::DepDevice(_)), "{:?}", app.status);
        safe(&mut app, "find (found)", true);
        app.update(Action::Back);
        assert!(app.modal.is_none(), "{:?}", app.modal);
        app.switch_tab(Tab::Profiles);
        app.update(Action::CheckIn);
        assert!(matches!(app.screen(), Screen::CheckIn(_)), "{:?} {:?}", app.screen(), app.status);
        // The token field is masked (a secret): the serial number field shows what was typed.
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Tab);
        type_text(&mut app, HOSTILE);
        safe(&mut app, "check-in (typing)", true);
        key(&mut app, KeyCode::Enter);
        safe(&mut app, "check-in (answer)", false);
        app.update(Action::Back);
        let station = ops::scan::Station {
            profile: "Dock".into(),
            mode: ops::scan::ScanMode::Receive,
            manufacturer: "Samsung".into(),
            attributes: Vec::new(),
            pair_serial: false,
            pair_imei: false,
            strip_serial_s: false,
        };
        app.open_scan(station).unwrap();
        type_text(&mut app, HOSTILE);
        safe(&mut app, "scan station (typing)", true);
        key(&mut app, KeyCode::Enter);
        safe(&mut app, "scan station (refused)", false);
    }
}
