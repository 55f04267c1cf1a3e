//! Dialogs over the screens: forms, the import wizard, yes/no questions, the help, the messages, a record
//! in full. Each draws itself; `App` keeps which one is open and routes keys to it.

pub mod confirm;
pub mod form;
pub mod help;
pub mod wizard;

use crate::tui::form::{ConfirmPurpose, Form};
pub use crate::tui::widgets::popup::{boxed, popup};
use wizard::Wizard;

#[derive(Debug)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    /// The status line's last messages, newest first.
    Messages,
    Confirm {
        text: String,
        purpose: ConfirmPurpose,
    },
    Form(Form),
    Wizard(Box<Wizard>),
    /// One record in full, read-only: label and value lines (a device whose columns do not all fit).
    Record {
        title: String,
        lines: Vec<(String, String)>,
        scroll: u16,
    },
}
