//! Dialogs over the screens: forms, the import wizard, yes/no questions, the help, the messages, a record
//! in full. Each draws itself; `App` keeps which one is open and routes keys to it.

pub mod confirm;
pub mod form;
pub mod help;
pub mod wizard;

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

use crate::tui::form::{ConfirmPurpose, Form};
use crate::tui::theme::Theme;
use wizard::Wizard;

/// A dialog's place, centred. One that would leave a margin of a column or two of the screen below takes
/// the whole width instead (a sliver of the table at each edge looks garbled).
pub fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = if width + 6 > area.width { area.width } else { width };
    let h = height.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub(crate) fn boxed<'a>(t: &Theme, title: String) -> Block<'a> {
    Block::default().borders(Borders::ALL).border_style(t.border).title(Span::styled(format!(" {title} "), t.title))
}

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
