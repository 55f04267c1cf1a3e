//! Find a device anywhere (F3 or Ctrl-g on any screen): the places a value was found, one row each;
//! Enter opens the one under the cursor where it lives (the profile, filtered to the device; the DEP
//! record).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::ops::find::Found;
use crate::tui::app::{Check, Cursor, Form, FormField, FormPurpose};
use crate::tui::theme::{CURSOR, Theme};

#[derive(Debug)]
pub struct SearchState {
    pub value: String,
    pub results: Vec<Found>,
    pub cursor: Cursor,
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
            FormField::text("Value", "", "an IMEI, a serial number or a DEP identifier (a scan works too)")
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
    frame.render_widget(Paragraph::new(Span::styled(head, t.title)), title);
    let rows: Vec<Row> = s
        .results
        .iter()
        .enumerate()
        .skip(s.cursor.offset)
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
