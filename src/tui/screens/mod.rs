//! Screens as units: each module holds one screen's state, its key handling, its drawing and the
//! submission of its forms. A screen sees the core (and the theme when drawing), never `App`, and tells
//! `App` what to do next with an `Effect`. (The older screens still live in `app.rs` and `view.rs`; they
//! move here one by one.)

pub mod audit;
pub mod catalog;
pub mod checkin;
pub mod qr;
pub mod scan;
pub mod search;
pub mod users;

use super::app::Level;

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
