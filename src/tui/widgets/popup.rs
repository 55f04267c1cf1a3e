//! A dialog's box: centred over the screen, whole width at 80 columns, framed with its title.

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

use crate::tui::theme::Theme;

/// A dialog's place, centred. One that would leave a margin of a column or two of the screen below takes
/// the whole width instead (a sliver of the table at each edge looks garbled).
pub fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = if width + 6 > area.width { area.width } else { width };
    let h = height.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub fn boxed<'a>(t: &Theme, title: String) -> Block<'a> {
    Block::default().borders(Borders::ALL).border_style(t.border).title(Span::styled(format!(" {title} "), t.title))
}
