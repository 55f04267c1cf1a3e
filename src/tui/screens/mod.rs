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
use super::app::Level;
use super::keymap::{Context, Keymap};
use super::theme::Theme;

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
    Ask(String, super::app::ConfirmPurpose),
    /// Close this screen, with a status message for the one below.
    Pop(String),
    /// A message on the status line.
    Status(Level, String),
    /// Ring the terminal bell.
    Bell,
}
