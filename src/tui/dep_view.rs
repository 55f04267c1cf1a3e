//! Drawing the DEP tabs: the device records, one record's information (with the seed's DEP Enrollment part),
//! the catalog, and what a DEP import will do. Every stored text goes through `safe`/`owned`.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::action::Action;
use super::app::{App, DepDetailState, DepListState};
use super::keymap::Context;
use super::theme::{CURSOR, Theme};
use super::view::{filter_line, owned, safe};
use crate::csv::dep::DepReport;
use crate::domain::dep::{DepDevice, DepMethod, DepState};

/// "off", or how the DEP device is matched.
fn enrollment(d: &DepDevice) -> &'static str {
    match d.dep_method {
        None => "off",
        Some(DepMethod::Serial) => "Serial",
        Some(DepMethod::Keycode) => super::dep::KEY_CODE,
    }
}

fn state_style(t: &Theme, s: &DepState) -> Style {
    match s {
        DepState::Pending => t.base,
        DepState::CheckedIn { .. } => t.ok,
        DepState::Withdrawn { .. } => t.dim,
    }
}

fn key(app: &App, context: Context, action: Action) -> String {
    app.keymap.key_label(context, action).unwrap_or_default()
}

pub(super) fn dep_list(app: &App, l: &DepListState, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let [filter, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let mut line = filter_line(t, &l.filter, l.view.len(), l.all.len());
    if l.loading.is_some() {
        line.push_span(Span::styled("   reading the other records…", t.warn));
    }
    frame.render_widget(Paragraph::new(line), filter);
    if l.all.is_empty() {
        let (add, import) = (key(app, Context::Dep, Action::AddRecord), key(app, Context::Dep, Action::Import));
        frame.render_widget(
            Paragraph::new(format!("No device record yet. Press {add} to add one, or {import} to import a CSV file."))
                .style(t.dim)
                .alignment(Alignment::Center),
            table,
        );
        return;
    }
    let wide = area.width >= 120;
    let mut columns: Vec<(&str, Constraint)> = vec![
        ("Identifier", Constraint::Length(22)),
        ("Display name", Constraint::Min(10)),
        ("User", Constraint::Length(14)),
        ("OS", Constraint::Length(7)),
        ("DEP", Constraint::Length(8)),
    ];
    if wide {
        columns.push(("Serial", Constraint::Length(16)));
        columns.push(("Code expires", Constraint::Length(12)));
    }
    columns.push(("State", Constraint::Length(10)));
    let header = Row::new(columns.iter().map(|(n, _)| Cell::from(*n))).style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    let rows = l.view.iter().enumerate().skip(l.cursor.offset).take(height).map(|(i, &index)| {
        let d = &l.all[index];
        let here = i == l.cursor.row;
        let mut cells = vec![
            Cell::from(format!("{}{}", if here { CURSOR } else { "  " }, safe(&d.identifier))),
            Cell::from(owned(d.display_name.as_deref().unwrap_or(""))),
            Cell::from(owned(d.user.as_deref().unwrap_or(""))),
            Cell::from(d.os.as_str()),
            Cell::from(enrollment(d)),
        ];
        if wide {
            cells.push(Cell::from(owned(d.serial.as_deref().unwrap_or(""))));
            cells.push(Cell::from(d.expires.format("%Y-%m-%d").to_string()));
        }
        let style = if here { Style::default() } else { state_style(t, &d.state) };
        cells.push(Cell::from(Span::styled(d.state.label(), style)));
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    let widths: Vec<Constraint> = columns.iter().map(|(_, w)| *w).collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
}

/// Labelled lines under a heading.
fn group<'a>(t: &Theme, heading: &'a str, items: Vec<(&'a str, Span<'a>)>) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(Span::styled(heading, t.header))];
    lines.extend(
        items.into_iter().map(|(label, value)| Line::from(vec![Span::styled(format!("{label:<22}"), t.dim), value])),
    );
    lines
}

pub(super) fn dep_device(app: &App, s: &DepDetailState, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let d = &s.device;
    let text = |v: &Option<String>| Span::raw(owned(v.as_deref().unwrap_or("")));
    let mut body = area;
    if let Some(why) = d.state.read_only() {
        let [banner, rest] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(Span::styled(format!("Read-only: {why}."), t.warn))
                .block(Block::default().borders(Borders::BOTTOM).border_style(t.border)),
            banner,
        );
        body = rest;
    }
    let now = app.now();
    let expires = if d.expires <= now {
        Span::styled(format!("{} (expired)", d.expires.format("%Y-%m-%d %H:%M")), t.error)
    } else {
        Span::raw(d.expires.format("%Y-%m-%d %H:%M").to_string())
    };
    let left = group(
        t,
        "Device information",
        vec![
            ("Identifier", Span::styled(owned(&d.identifier), t.title)),
            ("State", Span::styled(d.state.label(), state_style(t, &d.state))),
            ("OS", Span::raw(d.os.as_str())),
            ("User", text(&d.user)),
            ("Template", text(&d.template)),
            ("Device tags", Span::raw(owned(&d.tags.join("|")))),
            ("Display name", text(&d.display_name)),
            ("Description", text(&d.description)),
            ("Check-in code", Span::raw(owned(&d.code))),
            ("Code expires", expires),
            ("Expiration days", Span::raw(d.expiration_days.to_string())),
            ("Registration email", text(&d.registration_email)),
        ],
    );
    let mut right = group(
        t,
        "Check-in only from the device with",
        vec![
            ("Wi-Fi MAC", text(&d.wifi_mac)),
            ("IMEI", text(&d.imei)),
            ("MEID", text(&d.meid)),
            ("UDID", text(&d.udid)),
        ],
    );
    right.push(Line::from(""));
    let (dep_device, dep_profile) = match &d.state {
        DepState::CheckedIn { dep_serial, dep_profile, .. } => (text(dep_serial), text(dep_profile)),
        _ => (Span::styled("(once checked in)", t.dim), Span::styled("(once checked in)", t.dim)),
    };
    let mut enroll = vec![
        ("Use DEP to Enroll", Span::raw(if d.dep_method.is_some() { "on" } else { "off" })),
        ("DEP Enrollment Method", Span::raw(if d.dep_method.is_some() { enrollment(d) } else { "" })),
        ("Serial", text(&d.serial)),
        ("DEP Device", dep_device),
        ("DEP Profile", dep_profile),
    ];
    match &d.state {
        DepState::CheckedIn { at, .. } => {
            enroll.push(("Checked in", Span::raw(at.format("%Y-%m-%d %H:%M").to_string())))
        }
        DepState::Withdrawn { at } => enroll.push(("Withdrawn", Span::raw(at.format("%Y-%m-%d %H:%M").to_string()))),
        DepState::Pending => {}
    }
    right.extend(group(t, "DEP Enrollment", enroll));
    let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    frame.render_widget(Paragraph::new(left).wrap(Wrap { trim: false }), l);
    frame.render_widget(Paragraph::new(right).wrap(Wrap { trim: false }), r);
}

/// What a DEP import will do: the mode, the counts, and the stored values it clears (at most `room` lines).
pub(super) fn report_lines<'a>(t: &Theme, r: &'a DepReport, room: usize) -> Vec<Line<'a>> {
    let mut lines = vec![
        Line::from(format!("The header says: {}.", r.mode.map(|m| m.describe()).unwrap_or("nothing"))),
        Line::from(format!(
            "Devices: {2} new, {3} updated.  Users: {0} new, {1} updated.  Unchanged: {4}.",
            r.users_created, r.users_updated, r.devices_created, r.devices_updated, r.unchanged
        )),
    ];
    if r.mails > 0 {
        lines.push(Line::from(format!(
            "{} check-in email{} will be queued.",
            r.mails,
            if r.mails == 1 { "" } else { "s" }
        )));
    }
    for c in r.cleared.iter().take(room) {
        lines.push(Line::from(Span::styled(
            format!("line {} {}: {} {:?} will be cleared", c.line, safe(&c.record), c.field, safe(&c.old)),
            t.warn,
        )));
    }
    if r.cleared.len() > room {
        lines.push(Line::from(Span::styled(format!("… and {} more cleared values", r.cleared.len() - room), t.dim)));
    }
    lines
}
