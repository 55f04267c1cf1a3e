//! Screens as units: each module holds one screen's state, its key handling, its drawing, its forms and
//! their submission, behind `Unit`. A screen sees a `Ctx` (the core, settings, job runner, clock) when it
//! acts and a `DrawCtx` (theme, keys, clock) when it draws, never `App`, and tells `App` what to do next
//! with an `Effect`. Adding a screen: its module, a `Screen` variant, and one line in `unit`/`unit_mut`.

/// A unit's table methods, for a screen whose rows are `self.$rows` under `self.cursor`; `filtered`: with
/// `self.filter` and an inherent `rebuild` that applies it.
macro_rules! table_of {
    ($rows:ident) => {
        fn table(&mut self) -> Option<(&mut crate::tui::widgets::table::Cursor, usize)> {
            Some((&mut self.cursor, self.$rows.len()))
        }
    };
    ($rows:ident, filtered) => {
        table_of!($rows);

        fn filter(&self) -> Option<&crate::tui::widgets::table::Filter> {
            Some(&self.filter)
        }

        fn filter_mut(&mut self) -> Option<&mut crate::tui::widgets::table::Filter> {
            Some(&mut self.filter)
        }

        fn rebuild(&mut self) {
            Self::rebuild(self)
        }
    };
}

pub mod audit;
pub mod catalog;
pub mod checkin;
pub mod dep_list;
pub mod dep_record;
pub mod detail;
pub mod profiles;
pub mod qr;
pub mod scan;
pub mod search;
pub mod users;

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::action::Action;
pub use super::context::{Ctx, DrawCtx, Level, MIN_SIZE};
use super::form::{ConfirmPurpose, Form};
use super::keymap::Context;
use super::modals::Modal;
use super::modals::wizard::WizardJob;
use super::widgets::table::{Cursor, Filter};
use crate::ops;
use crate::store::{StoreError, Subject};

/// One screen. Every method but `context` and `draw` has a default: a screen without a table, a filter,
/// forms or questions says nothing about them.
pub trait Unit {
    fn context(&self) -> Context;

    /// A key before the keymap sees it, on screens a scanner types into; `own` is what the screen's own
    /// bindings make of it. `None`: the keymap decides.
    fn key(&mut self, _key: KeyEvent, _own: Option<Action>, _cx: &mut Ctx) -> Option<Effect> {
        None
    }

    /// An action of the keymap (moving in the table and Esc clearing the filter are done already).
    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect;

    /// A form this screen opened, confirmed: `Err` keeps it open with the message.
    fn submit(&mut self, _form: &Form, _cx: &mut Ctx) -> Result<Effect, String> {
        Err("this form does not belong here".into())
    }

    /// A question this screen asked, answered yes.
    fn confirmed(&mut self, _purpose: ConfirmPurpose, _cx: &mut Ctx) -> Result<Effect, String> {
        Err("this question does not belong here".into())
    }

    /// The open form (one this screen opened) after a key changed it: fields shown or hidden by others,
    /// a note on what the values make together.
    fn form_changed(&mut self, _form: &mut Form, _cx: &Ctx) {}

    /// Whether this key, in a form this screen opened, confirms it (besides the keymap's keys).
    fn submits_on(&self, _form: &Form, _key: &KeyEvent) -> bool {
        false
    }

    /// Someone else's change, from the change feed: this screen updates what it shows of it. By default
    /// it reads again when the change touched anything (a screen that shows one kind of thing says so).
    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        if *subject == Subject::Nothing { Ok(()) } else { self.reload(cx) }
    }

    /// Reads what it shows from the store again.
    fn reload(&mut self, _cx: &mut Ctx) -> Result<(), StoreError> {
        Ok(())
    }

    /// The table's cursor and how many rows it moves over.
    fn table(&mut self) -> Option<(&mut Cursor, usize)> {
        None
    }

    fn filter(&self) -> Option<&Filter> {
        None
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        None
    }

    /// Applies the filter (and the sort) again.
    fn rebuild(&mut self) {}

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame);
}

/// What a screen asks of the shell after a key.
#[derive(Debug)]
pub enum Effect {
    None,
    /// Close this screen; it changed nothing, so the one below is shown as it was. On a tab's first
    /// screen: go to the Profiles tab.
    Back,
    /// Open a form (its submission comes back through `App`).
    Form(super::form::Form),
    /// Ask a yes/no question; yes carries out the purpose.
    Ask(String, super::form::ConfirmPurpose),
    /// The file this form writes exists: ask whether to replace it, and submit the form again if so.
    AskReplace(Box<super::form::Form>, String),
    /// Close this screen, with a status message for the one below.
    Pop(String),
    /// A message on the status line.
    Status(Level, String),
    /// Ring the terminal bell.
    Bell,
    /// Open a dialog (a record in full, …).
    Dialog(Modal),
    /// Open a screen over this one.
    Push(Screen),
    /// Show another tab.
    Tab(Tab),
    /// The store changed: read what the screens show again, then say this.
    Saved(String),
    /// Check a file and show the import wizard.
    Wizard(WizardJob, PathBuf),
    /// Open a device found by Find where it lives.
    Open(ops::find::Found),
    /// Several, in order.
    Many(Vec<Effect>),
}

#[derive(Debug)]
pub enum Screen {
    Profiles(Box<profiles::ProfilesState>),
    Detail(Box<detail::DetailState>),
    Qr(Box<self::qr::QrState>),
    Dep(Box<dep_list::DepListState>),
    DepDevice(Box<dep_record::DepDetailState>),
    Users(self::users::UsersState),
    Catalog(Box<catalog::CatalogState>),
    Audit(Box<self::audit::AuditState>),
    Scan(Box<self::scan::ScanState>),
    Search(Box<self::search::SearchState>),
    CheckIn(Box<self::checkin::CheckInState>),
}

/// The workstation's tabs; each keeps its own screens while another is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Profiles,
    Dep,
    Users,
    Catalog,
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Profiles, Tab::Dep, Tab::Users, Tab::Catalog, Tab::Audit];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Profiles => "Profiles",
            Tab::Dep => "DEP devices",
            Tab::Users => "Users",
            Tab::Catalog => "Catalog",
            Tab::Audit => "Audit",
        }
    }

    pub(crate) fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).expect("every tab is in ALL")
    }

    /// The screen a tab opens on.
    pub(crate) fn home(self) -> Screen {
        match self {
            Tab::Profiles => Screen::Profiles(Box::default()),
            Tab::Dep => Screen::Dep(Box::default()),
            Tab::Users => Screen::Users(Default::default()),
            Tab::Catalog => Screen::Catalog(Box::default()),
            Tab::Audit => Screen::Audit(Box::default()),
        }
    }
}

impl Screen {
    /// The screen as a unit: the one place that lists every kind.
    pub fn unit(&self) -> &dyn Unit {
        match self {
            Screen::Profiles(s) => s.as_ref(),
            Screen::Detail(s) => s.as_ref(),
            Screen::Qr(s) => s.as_ref(),
            Screen::Dep(s) => s.as_ref(),
            Screen::DepDevice(s) => s.as_ref(),
            Screen::Users(s) => s,
            Screen::Catalog(s) => s.as_ref(),
            Screen::Audit(s) => s.as_ref(),
            Screen::Scan(s) => s.as_ref(),
            Screen::Search(s) => s.as_ref(),
            Screen::CheckIn(s) => s.as_ref(),
        }
    }

    pub fn unit_mut(&mut self) -> &mut dyn Unit {
        match self {
            Screen::Profiles(s) => s.as_mut(),
            Screen::Detail(s) => s.as_mut(),
            Screen::Qr(s) => s.as_mut(),
            Screen::Dep(s) => s.as_mut(),
            Screen::DepDevice(s) => s.as_mut(),
            Screen::Users(s) => s,
            Screen::Catalog(s) => s.as_mut(),
            Screen::Audit(s) => s.as_mut(),
            Screen::Scan(s) => s.as_mut(),
            Screen::Search(s) => s.as_mut(),
            Screen::CheckIn(s) => s.as_mut(),
        }
    }

    /// Keeps the table's cursor inside its rows (drawing keeps it in view).
    pub fn fit_cursor(&mut self) {
        if let Some((cursor, len)) = self.unit_mut().table() {
            cursor.fit(len);
        }
    }

    pub fn context(&self) -> Context {
        self.unit().context()
    }
}

/// Applies the filter again and keeps the cursor inside the rows.
pub fn refilter(screen: &mut Screen) {
    screen.unit_mut().rebuild();
    screen.fit_cursor();
}

/// A refusal as a form shows it: a conflict says that the form keeps what was typed.
pub fn form_error(e: ops::OpError) -> String {
    match e {
        ops::OpError::Conflict(m) => format!("{m} (the form keeps what you typed: Esc, then open it again)"),
        e => e.to_string(),
    }
}

/// Starts typing the filter of a screen that has one.
pub fn start_filter(filter: &mut Filter) -> Effect {
    filter.input = Some(super::form::line_input(&filter.text));
    Effect::None
}

/// Creates the file `form` names for writing (`crate::files::create`: 0600, never over an existing file
/// unless the technician said to replace it): an existing one turns into the question whether to.
pub fn create_for(form: &super::form::Form, path: &std::path::Path) -> Result<Result<std::fs::File, Effect>, String> {
    match crate::files::create(path, form.replace, None) {
        Ok(file) => Ok(Ok(file)),
        Err(crate::files::NotWritten::Exists(name)) => Ok(Err(Effect::AskReplace(Box::new(form.clone()), name))),
        Err(e) => Err(e.to_string()),
    }
}
