//! Find a device anywhere (F3 or Ctrl-g on any screen): the places a value was found, one row each;
//! Enter opens the one under the cursor where it lives (the profile, filtered to the device; the DEP
//! record).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Ctx, DrawCtx, Effect};
use crate::ops::find::{Found, Query};
use crate::tui::action::Action;
use crate::tui::form::{Check, FieldId, Form, FormField, FormPurpose};
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, Theme};
use crate::tui::widgets::table::Cursor;

#[derive(Debug)]
pub struct SearchState {
    pub value: String,
    pub results: Vec<Found>,
    pub cursor: Cursor,
    /// While the DEP records' other fields are still read in the background: that read's number, and
    /// its stop flag (set when this screen closes).
    pub searching: Option<(u64, Arc<AtomicBool>)>,
}

impl Drop for SearchState {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self.searching {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Reads the DEP records after `after` for `query` until every one is read or `stop` is set; `None` if
/// stopped.
pub fn search_rest(
    store: &dyn crate::store::Store,
    query: &Query,
    mut after: String,
    stop: &AtomicBool,
) -> Result<Option<Vec<Found>>, String> {
    let mut found = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match query.dep_fields(store, Some(&after), &mut found).map_err(|e| e.to_string())? {
            Some(last) => after = last,
            None => return Ok(Some(found)),
        }
    }
}

impl SearchState {
    pub fn selected(&self) -> Option<&Found> {
        self.results.get(self.cursor.row)
    }
}

pub fn find_form() -> Form {
    Form::new(
        "Find a device anywhere",
        FormPurpose::Find,
        vec![
            FormField::text(
                FieldId::Value,
                "Value",
                "",
                "an IMEI, a serial number or a DEP identifier (a scan works too)",
            )
            .with_check(Check::None),
        ],
    )
}

/// The text a profile's filter needs to show just this device.
pub fn filter_for(f: &Found) -> String {
    match f {
        Found::Android { device, .. } => match (device.ids.imei, &device.ids.serial) {
            (Some(i), _) => i.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => String::new(),
        },
        Found::Dep { record, .. } => record.identifier.clone(),
    }
}

pub fn draw(t: &Theme, s: &SearchState, area: Rect, frame: &mut Frame) {
    let safe = |v: &str| crate::domain::text::sanitize(v).into_owned();
    let [title, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let n = s.results.len();
    let head = format!("{n} place{} with {:?}: Enter opens it", if n == 1 { "" } else { "s" }, safe(&s.value));
    let mut line = Line::from(Span::styled(head, t.title));
    if s.searching.is_some() {
        line.push_span(Span::styled("   still reading the DEP records (serial, IMEI, MEID, UDID, MAC)…", t.warn));
    }
    frame.render_widget(Paragraph::new(line), title);
    let rows: Vec<Row> = s
        .results
        .iter()
        .enumerate()
        .skip(s.cursor.window(s.results.len(), usize::from(table.height.saturating_sub(1))))
        .map(|(i, f)| {
            let mark = if i == s.cursor.row { CURSOR } else { "  " };
            let cells = match f {
                Found::Android { profile, device, matched } => [
                    format!("{mark}profile"),
                    safe(profile),
                    safe(&device.label()),
                    (*matched).to_string(),
                    device.status.label().to_string(),
                ],
                Found::Dep { record, matched } => [
                    format!("{mark}DEP record"),
                    safe(&record.identifier),
                    safe(record.serial.as_deref().unwrap_or("")),
                    (*matched).to_string(),
                    record.state.label().to_string(),
                ],
            };
            let style = if i == s.cursor.row { t.selected } else { t.base };
            Row::new(cells.map(Cell::from)).style(style)
        })
        .collect();
    let widths = [
        Constraint::Length(13),
        Constraint::Length(22),
        Constraint::Min(20),
        Constraint::Length(14),
        Constraint::Length(12),
    ];
    let header = Row::new(["  Where", "Name", "Device", "Matched", "Status"]).style(t.header);
    frame.render_widget(Table::new(rows, widths).header(header), table);
}

impl super::Unit for SearchState {
    fn context(&self) -> Context {
        Context::Search
    }

    fn action(&mut self, action: Action, _cx: &mut Ctx) -> Effect {
        match action {
            Action::Open => self.selected().cloned().map_or(Effect::None, Effect::Open),
            Action::Back => Effect::Back,
            _ => Effect::None,
        }
    }

    table_of!(results);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, area, frame)
    }
}
