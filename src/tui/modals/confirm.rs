//! A yes/no question.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::tui::theme::Theme;
use crate::tui::widgets::text::owned;

use super::{boxed, popup};

pub(crate) fn confirm(t: &Theme, text: &str, area: Rect, frame: &mut Frame) {
    let r = popup(area, 64, 7);
    frame.render_widget(Clear, r);
    let lines = vec![
        Line::from(owned(text)),
        Line::from(""),
        Line::from(vec![
            Span::styled("Enter/y", t.key),
            Span::raw(" yes    "),
            Span::styled("Esc/n", t.key),
            Span::raw(" no"),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(boxed(t, "Confirm".into())), r);
}
