//! The workstation on `TestBackend`: a fixture with its own database, drawing, masking, keys.

use std::sync::Arc;

use kitting::domain::NewProfile;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::settings::Settings;
use kitting::store::{SledStore, Store};
use kitting::tui::app::{App, Form, Modal, TaskMsg};
use kitting::tui::keymap::Keymap;
use kitting::tui::theme::{Theme, ThemeName};
use kitting::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub const DEVICES: &str = "IMEI,Serial Number,Manufacturer,Asset Tag,Department
490154203237518,,,A-001,Sales
356938035643809,R58M12ABC,Samsung,A-002,Support
,SN-ZEBRA-7,Zebra,A-003,Warehouse
";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<SledStore>,
    pub settings: Settings,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let settings = Settings::parse(include_str!("../../config.example.toml"), "config.example.toml").unwrap();
        Fixture { dir, store, settings }
    }

    pub fn import(&self, name: &str, csv: &str) {
        let path = self.dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        let new = NewProfile {
            name: name.into(),
            description: Some("Kitting line 1".into()),
            without_token: false,
            user: None,
            token_days: Some(7),
        };
        let command = ops::import::Import {
            file: path,
            to: ops::import::ImportTo::New(new),
            default_token_days: 7,
            dry_run: false,
            skip_invalid: false,
            max_rows: 200_000,
        };
        let report = ops::import::run(&self.core(), command, &mut |_| true).unwrap();
        assert!(report.committed.is_some(), "{:?}", report.rejected);
    }

    /// The core over this fixture's store, as a technician named "tester".
    pub fn core(&self) -> ops::Ctx<'_> {
        ops::Ctx::new(self.store.as_ref(), Actor::named("tester", FrontEnd::Workstation), chrono::Utc::now())
    }

    pub fn app(&self, theme: ThemeName) -> App {
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

pub fn draw(app: &mut App, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.resize(w, h);
    terminal.draw(|f| view::render(app, f)).unwrap();
    terminal.backend().buffer().clone()
}

/// Dates, times and the token's visible characters change from run to run.
pub fn mask(text: &str) -> String {
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

pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    mask(&view::buffer_text(&draw(app, w, h)))
}

pub fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

pub fn ctrl(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

pub fn backspace(app: &mut App, n: usize) {
    for _ in 0..n {
        key(app, KeyCode::Backspace);
    }
}

pub fn form(app: &App) -> &Form {
    match &app.modal {
        Some(Modal::Form(f)) => f,
        other => panic!("no form open: {other:?}"),
    }
}

/// The next message from work off the UI thread that `wanted` accepts (progress reports are skipped).
pub fn next_task(rx: &std::sync::mpsc::Receiver<TaskMsg>, wanted: impl Fn(&TaskMsg) -> bool) -> TaskMsg {
    loop {
        let msg = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the task reports");
        if wanted(&msg) {
            return msg;
        }
    }
}

/// What a terminal would receive.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes a terminal receives for one full drawing of the app at `w`×`h`, through crossterm.
pub fn terminal_bytes(app: &mut App, w: u16, h: u16) -> Vec<u8> {
    let sink = Sink::default();
    let viewport = ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, w, h));
    let backend = ratatui::backend::CrosstermBackend::new(sink.clone());
    let mut terminal = Terminal::with_options(backend, ratatui::TerminalOptions { viewport }).unwrap();
    app.resize(w, h);
    terminal.draw(|f| view::render(app, f)).unwrap();
    drop(terminal);
    sink.0.lock().unwrap().clone()
}
