//! Screens as units: each module holds one screen's state, its key handling, its drawing and the
//! submission of its forms. A screen sees the core (and the theme when drawing), never `App`, and tells
//! `App` what to do next with an `Effect`. (The older screens still live in `app.rs` and `view.rs`; they
//! move here one by one.)

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

use chrono::{DateTime, Utc};

use super::action::Action;
use super::keymap::{Context, Keymap};
use super::theme::Theme;
use super::widgets::table::{Cursor, Filter};

/// What a screen sees when it draws: the theme, the keys (to name them), the time.
pub struct DrawCtx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub now: DateTime<Utc>,
}

impl DrawCtx<'_> {
    /// The first key of an action, as a label ("d", "Ctrl-r"); empty when none is bound.
    pub fn key(&self, context: Context, action: Action) -> String {
        self.keymap.key_label(context, action).unwrap_or_default()
    }
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
    /// Close this screen, with a status message for the one below.
    Pop(String),
    /// A message on the status line.
    Status(Level, String),
    /// Ring the terminal bell.
    Bell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
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
    /// Keeps the table's cursor inside its rows and in view, on a terminal `rows` high.
    pub fn fit_cursor(&mut self) {
        if let Some((cursor, len)) = self.table() {
            cursor.fit(len);
        }
    }

    /// The table's cursor and how many rows it moves over, on screens with a table.
    pub(crate) fn table(&mut self) -> Option<(&mut Cursor, usize)> {
        match self {
            Screen::Profiles(p) => Some((&mut p.cursor, p.view.len())),
            Screen::Detail(d) => Some((&mut d.cursor, d.view.len())),
            Screen::Users(u) => Some((&mut u.cursor, u.users.len())),
            Screen::Dep(l) => Some((&mut l.cursor, l.view.len())),
            Screen::Catalog(c) => Some((&mut c.cursor, c.rows.len())),
            Screen::Audit(a) => Some((&mut a.cursor, a.view.len())),
            Screen::Search(s) => Some((&mut s.cursor, s.results.len())),
            Screen::Qr(_) | Screen::DepDevice(_) | Screen::Scan(_) | Screen::CheckIn(_) => None,
        }
    }

    /// The table's filter, on screens that have one.
    pub(crate) fn filter_mut(&mut self) -> Option<&mut Filter> {
        match self {
            Screen::Profiles(p) => Some(&mut p.filter),
            Screen::Detail(d) => Some(&mut d.filter),
            Screen::Dep(l) => Some(&mut l.filter),
            Screen::Audit(a) => Some(&mut a.filter),
            _ => None,
        }
    }

    pub(crate) fn filter(&self) -> Option<&Filter> {
        match self {
            Screen::Profiles(p) => Some(&p.filter),
            Screen::Detail(d) => Some(&d.filter),
            Screen::Dep(l) => Some(&l.filter),
            Screen::Audit(a) => Some(&a.filter),
            _ => None,
        }
    }

    pub fn context(&self) -> Context {
        match self {
            Screen::Profiles(_) => Context::Profiles,
            Screen::Detail(_) => Context::Detail,
            Screen::Qr(_) => Context::Qr,
            Screen::Users(_) => Context::Users,
            Screen::Dep(_) => Context::Dep,
            Screen::DepDevice(_) => Context::DepDevice,
            Screen::Catalog(_) => Context::Catalog,
            Screen::Audit(_) => Context::Audit,
            Screen::Scan(_) => Context::Scan,
            Screen::Search(_) => Context::Search,
            Screen::CheckIn(_) => Context::CheckIn,
        }
    }
}

/// The smallest terminal the workstation draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Applies the filter again and keeps the cursor in view, on a terminal `rows` high.
pub fn refilter(screen: &mut Screen) {
    match screen {
        Screen::Profiles(p) => p.rebuild(),
        Screen::Detail(d) => d.rebuild(),
        Screen::Dep(l) => l.rebuild(),
        Screen::Audit(a) => a.rebuild(),
        _ => {}
    }
    screen.fit_cursor();
}
