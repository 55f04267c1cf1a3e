//! A table with a cursor and a filter: where the cursor is, which rows are in view, and the filter line.

use std::cell::Cell;

use ratatui::text::{Line, Span};
use ratatui_textarea::TextArea;

use super::text::{owned, safe};
use crate::tui::action::Action;
use crate::tui::form::input_text;
use crate::tui::theme::Theme;

/// A table's cursor and scroll position. How many rows a page holds is what the last frame drew (its
/// layout), never a height kept by hand beside the drawing.
#[derive(Debug, Default)]
pub struct Cursor {
    pub row: usize,
    /// The first row in view, as the last frame drew it.
    offset: Cell<usize>,
    /// The rows the last frame had for the table (0 before the first frame).
    height: Cell<usize>,
}

impl Cursor {
    /// The first row in view.
    pub fn offset(&self) -> usize {
        self.offset.get()
    }

    /// Rows in a page: the table's height in the last frame.
    pub fn page(&self) -> usize {
        self.height.get().max(1)
    }

    pub fn apply(&mut self, action: Action, len: usize) -> bool {
        let page = self.page();
        let last = len.saturating_sub(1);
        let row = match action {
            Action::Up => self.row.saturating_sub(1),
            Action::Down => (self.row + 1).min(last),
            Action::PageUp => self.row.saturating_sub(page),
            Action::PageDown => (self.row + page).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => return false,
        };
        self.row = row;
        self.fit(len);
        true
    }

    /// Keeps the cursor inside the rows and the rows it is on in view.
    pub fn fit(&mut self, len: usize) {
        self.row = self.row.min(len.saturating_sub(1));
        self.window(len, self.height.get());
    }

    /// For drawing: the table shows `height` of `len` rows. Records the height (the next page is that
    /// long) and returns the first row to draw, moved as little as keeps the cursor in view.
    pub fn window(&self, len: usize, height: usize) -> usize {
        self.height.set(height);
        let height = height.max(1);
        let row = self.row.min(len.saturating_sub(1));
        let mut offset = self.offset.get();
        if row < offset {
            offset = row;
        } else if row >= offset + height {
            offset = row + 1 - height;
        }
        offset = offset.min(len.saturating_sub(height));
        self.offset.set(offset);
        offset
    }
}

/// A filter being typed, or kept.
#[derive(Debug, Default)]
pub struct Filter {
    pub input: Option<TextArea<'static>>,
    pub text: String,
}

/// Whether `s` contains `needle` (already lower-case), ignoring case; without allocating for ASCII text,
/// which is what a filter over many rows mostly meets.
pub fn contains_lower(s: &str, needle: &str) -> bool {
    if needle.is_ascii() && s.is_ascii() {
        s.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        s.to_lowercase().contains(needle)
    }
}

/// The line above a table: the filter being typed or kept, and how many rows it shows.
pub fn filter_line<'a>(t: &Theme, filter: &'a Filter, shown: usize, total: usize) -> Line<'a> {
    match &filter.input {
        Some(input) => Line::from(vec![
            Span::styled("/", t.key),
            Span::styled(owned(&input_text(input)), t.input),
            Span::styled("█", t.input),
            Span::styled(format!("   {shown} of {total}  (Enter keeps, Esc clears)"), t.dim),
        ]),
        None if !filter.text.is_empty() => Line::from(vec![
            Span::styled(format!("filter: {}", safe(&filter.text)), t.warn),
            Span::styled(format!("   {shown} of {total}"), t.dim),
        ]),
        None => Line::from(Span::styled(format!("{total} shown"), t.dim)),
    }
}
