//! The Audit tab: who did what, newest first, filtered as typed, with the selected entry's details below
//! the table. One file holds the screen's state, its reading of the store and its drawing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::{Ctx, DrawCtx, Effect};
use crate::domain::audit::{AuditEntry, AuditOutcome, AuditQuery};
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, Theme};
use crate::tui::widgets::table::{Cursor, Filter, contains_lower, filter_line};
use crate::tui::widgets::text::owned;

/// How many of the newest entries the tab reads (`kitting audit` lists them all).
pub const SHOWN: usize = 5000;

/// Rows the selected entry's details take below the table.
pub const DETAIL_ROWS: u16 = 6;

#[derive(Debug, Default)]
pub struct AuditState {
    pub entries: Vec<AuditEntry>,
    /// Indices into `entries`, filtered.
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub filter: Filter,
}

impl AuditState {
    pub fn selected(&self) -> Option<&AuditEntry> {
        self.view.get(self.cursor.row).map(|&i| &self.entries[i])
    }

    pub fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        let selected = self.selected().map(|e| e.id);
        self.entries = store.audit(&AuditQuery { limit: Some(SHOWN), ..AuditQuery::default() })?;
        self.rebuild();
        if let Some(id) = selected
            && let Some(row) = self.view.iter().position(|&i| self.entries[i].id == id)
        {
            self.cursor.row = row;
        }
        Ok(())
    }

    /// Re-applies the filter: time, user, host, command, profile, target, outcome and its text.
    pub fn rebuild(&mut self) {
        let needle = self.filter.text.to_lowercase();
        self.view = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                let has = |v: &str| contains_lower(v, &needle);
                needle.is_empty()
                    || has(&e.at.format("%Y-%m-%d %H:%M:%S").to_string())
                    || has(&e.actor.user)
                    || has(&e.actor.host)
                    || e.actor.ssh_client.as_deref().is_some_and(has)
                    || has(&e.command)
                    || e.profile.as_deref().is_some_and(has)
                    || has(&e.target)
                    || has(e.outcome.label())
                    || has(e.outcome.text())
            })
            .collect();
    }
}

pub fn draw(t: &Theme, a: &AuditState, area: Rect, frame: &mut Frame) {
    let [filter, table, detail] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(DETAIL_ROWS)]).areas(area);
    frame.render_widget(Paragraph::new(filter_line(t, &a.filter, a.view.len(), a.entries.len())), filter);
    let wide = area.width >= 120;
    let mut columns: Vec<(&str, Constraint)> = vec![
        ("Time", Constraint::Length(if wide { 21 } else { 13 })),
        ("User", Constraint::Length(10)),
        ("Command", Constraint::Length(20)),
    ];
    if wide {
        columns.push(("Profile", Constraint::Length(16)));
    }
    columns.push(("Target", Constraint::Min(12)));
    columns.push(("Outcome", Constraint::Length(8)));
    let header = Row::new(columns.iter().map(|(n, _)| Cell::from(*n))).style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    let rows = a.view.iter().enumerate().skip(a.cursor.window(a.view.len(), height)).take(height).map(|(i, &index)| {
        let e = &a.entries[index];
        let here = i == a.cursor.row;
        let time = if wide { e.at.format("%Y-%m-%d %H:%M:%S") } else { e.at.format("%m-%d %H:%M") };
        let mut cells = vec![
            Cell::from(format!("{}{time}", if here { CURSOR } else { "  " })),
            Cell::from(owned(&e.actor.user)),
            Cell::from(owned(&e.command)),
        ];
        if wide {
            cells.push(Cell::from(owned(e.profile.as_deref().unwrap_or(""))));
        }
        cells.push(Cell::from(owned(&e.target)));
        let style = match e.outcome {
            AuditOutcome::Done(_) => t.ok,
            AuditOutcome::Refused(_) => t.error,
        };
        cells.push(Cell::from(Span::styled(e.outcome.label(), if here { t.selected } else { style })));
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    let widths: Vec<Constraint> = columns.iter().map(|(_, w)| *w).collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
    let lines = match a.selected() {
        None => vec![Line::from(Span::styled("No entry yet: every change made in kitting is recorded here.", t.dim))],
        Some(e) => details(e),
    };
    let block = Block::default().borders(Borders::TOP).border_style(t.border).title(" Entry ");
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), detail);
}

/// The selected entry in full: when, who from where, what, on what, how it ended, the counts.
fn details(e: &AuditEntry) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(format!(
            "{}  {} ({}) via the {}",
            e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            owned(&e.actor.describe()),
            e.command,
            e.actor.front_end.label()
        )),
        Line::from(match &e.profile {
            Some(p) => format!("profile {}: {}", owned(p), owned(&e.target)),
            None => owned(&e.target),
        }),
        Line::from(format!("{}: {}", e.outcome.label(), owned(e.outcome.text()))),
    ];
    if let Some(c) = &e.counts {
        lines.push(Line::from(format!(
            "rows {}, valid {}, rejected {}, created {}, updated {}",
            c.rows, c.valid, c.rejected, c.created, c.updated
        )));
    }
    lines
}

impl super::Unit for AuditState {
    fn context(&self) -> Context {
        Context::Audit
    }

    fn action(&mut self, action: Action, _cx: &mut Ctx) -> Effect {
        match action {
            Action::Filter => super::start_filter(&mut self.filter),
            Action::Back => Effect::Back,
            _ => Effect::None,
        }
    }

    /// Every change is an entry (a refusal too).
    fn on_change(&mut self, _subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        AuditState::reload(self, cx.store.as_ref())
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        AuditState::reload(self, cx.store.as_ref())
    }

    table_of!(view, filtered);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, area, frame)
    }
}
