//! The workstation as a test drives it: keys in; the screen's text, the status line, the open dialog and
//! a form field's value out. A test written against this says what a technician does and sees, and does
//! not change when a screen's state is arranged differently.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::app::{App, Modal};

pub struct Workstation {
    pub app: App,
    terminal: Terminal<TestBackend>,
}

impl Workstation {
    /// The workstation at 80x24, the smallest size it supports.
    pub fn new(app: App) -> Workstation {
        let mut w = Workstation { app, terminal: Terminal::new(TestBackend::new(80, 24)).expect("a test terminal") };
        w.resize(80, 24);
        w
    }

    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.terminal = Terminal::new(TestBackend::new(columns, rows)).expect("a test terminal");
        self.app.resize(columns, rows);
    }

    /// A key, as the terminal delivers it.
    pub fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        self
    }

    pub fn ctrl(&mut self, c: char) -> &mut Self {
        self.app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        self
    }

    /// Text typed key by key (a scanner types the same way).
    pub fn type_text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
        self
    }

    /// What the keymap binds to `action` where the workstation is, pressed: a test names what it does,
    /// not which key does it.
    pub fn press(&mut self, action: Action) -> &mut Self {
        let contexts = self.app.contexts();
        let key = contexts.iter().find_map(|c| {
            self.app.keymap.bindings(*c).find(|(a, _)| *a == action).map(|(_, k)| (k[0].code, k[0].mods))
        });
        match key {
            Some((code, mods)) => self.app.on_key(KeyEvent::new(code, mods)),
            None => panic!("no key for {action:?} in {contexts:?}"),
        }
        self
    }

    /// The screen as drawn now, one line per row, trailing blanks removed.
    pub fn text(&mut self) -> String {
        let app = &mut self.app;
        self.terminal.draw(|f| super::view::render(app, f)).expect("drawing on a test terminal");
        super::view::buffer_text(self.terminal.backend().buffer())
    }

    /// The status line's message, if any.
    pub fn status(&self) -> Option<&str> {
        self.app.status.as_ref().map(|(_, m)| m.as_str())
    }

    /// Where the workstation is: the context's title ("Profile detail", "Users", …), or the open
    /// dialog's kind.
    pub fn place(&self) -> &'static str {
        match &self.app.modal {
            Some(Modal::Form(_)) => "form",
            Some(Modal::Confirm { .. }) => "question",
            Some(Modal::Wizard(_)) => "wizard",
            Some(Modal::Help { .. }) => "help",
            Some(Modal::Messages) => "messages",
            Some(Modal::Record { .. }) => "record",
            None => self.app.screen().context().title(),
        }
    }

    /// The open form's or question's title.
    pub fn dialog(&self) -> Option<&str> {
        match &self.app.modal {
            Some(Modal::Form(f)) => Some(&f.title),
            Some(Modal::Confirm { text, .. }) => Some(text),
            Some(Modal::Record { title, .. }) => Some(title),
            _ => None,
        }
    }

    /// The value a field of the open form stands for (`None`: no form, or no such field).
    pub fn field(&self, label: &str) -> Option<String> {
        match &self.app.modal {
            Some(Modal::Form(f)) => f.field_labelled(label).map(|x| x.value()),
            _ => None,
        }
    }

    /// Moves the form's focus to the field with that label.
    pub fn focus(&mut self, label: &str) -> &mut Self {
        for _ in 0..64 {
            match &self.app.modal {
                Some(Modal::Form(f)) if f.fields[f.focus].label == label => return self,
                Some(Modal::Form(_)) => {
                    self.press(Action::NextField);
                }
                _ => panic!("no form open to focus {label:?} in"),
            }
        }
        panic!("no field {label:?} on the form");
    }
}
