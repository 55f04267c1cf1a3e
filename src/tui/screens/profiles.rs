//! The Profiles tab: every profile, sorted by a column and filtered; the token's expiry highlighted when it
//! is close. (Its actions and forms are still `App`'s.)

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::DrawCtx;
use crate::domain::Profile;
use crate::tui::action::Action;
use crate::tui::keymap::Context;
use crate::tui::theme::CURSOR;
use crate::tui::widgets::table::{Cursor, Filter, filter_line};
use crate::tui::widgets::text::{owned, safe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileColumn {
    Name,
    Description,
    Modified,
    Kind,
    Devices,
    User,
    Expiry,
}

impl ProfileColumn {
    pub const ALL: [ProfileColumn; 7] = [
        ProfileColumn::Name,
        ProfileColumn::Description,
        ProfileColumn::Modified,
        ProfileColumn::Kind,
        ProfileColumn::Devices,
        ProfileColumn::User,
        ProfileColumn::Expiry,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ProfileColumn::Name => "Profile Name",
            ProfileColumn::Description => "Description",
            ProfileColumn::Modified => "Last modified",
            ProfileColumn::Kind => "Type",
            ProfileColumn::Devices => "No of Devices",
            ProfileColumn::User => "Associated User",
            ProfileColumn::Expiry => "Token Expiry",
        }
    }
}

#[derive(Debug, Default)]
pub struct ProfilesState {
    pub all: Vec<Profile>,
    /// Indices into `all`, filtered and sorted.
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub sort: usize,
    pub descending: bool,
    pub filter: Filter,
}

impl ProfilesState {
    pub fn selected(&self) -> Option<&Profile> {
        self.view.get(self.cursor.row).map(|&i| &self.all[i])
    }

    pub fn rebuild(&mut self) {
        let needle = self.filter.text.to_lowercase();
        let mut view: Vec<usize> = (0..self.all.len())
            .filter(|&i| {
                let p = &self.all[i];
                needle.is_empty()
                    || p.name.to_lowercase().contains(&needle)
                    || p.description.as_deref().unwrap_or("").to_lowercase().contains(&needle)
                    || p.user.as_deref().unwrap_or("").to_lowercase().contains(&needle)
            })
            .collect();
        let column = ProfileColumn::ALL[self.sort % ProfileColumn::ALL.len()];
        let all = &self.all;
        view.sort_by(|&a, &b| {
            let (a, b) = (&all[a], &all[b]);
            let o = match column {
                ProfileColumn::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                ProfileColumn::Description => a.description.cmp(&b.description),
                ProfileColumn::Modified => a.modified.cmp(&b.modified),
                ProfileColumn::Kind => a.kind.cmp(&b.kind),
                ProfileColumn::Devices => a.device_count.cmp(&b.device_count),
                ProfileColumn::User => a.user.cmp(&b.user),
                ProfileColumn::Expiry => a.token.as_ref().map(|t| t.expires).cmp(&b.token.as_ref().map(|t| t.expires)),
            };
            o.then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        if self.descending {
            view.reverse();
        }
        self.view = view;
    }
}

/// The token's expiry: date and days left (`short` for the profiles table), highlighted under 2 days.
pub fn expiry(cx: &DrawCtx, p: &Profile, short: bool) -> (String, Style) {
    let t = cx.theme;
    match &p.token {
        None => ("no token".into(), t.dim),
        Some(token) => {
            let now = cx.now;
            let date = token.expires.format("%Y-%m-%d").to_string();
            if token.is_expired(now) {
                (format!("{date} (expired)"), t.error)
            } else {
                let left = token.days_left(now);
                let style = if token.expires - now < chrono::Duration::days(2) { t.warn } else { t.base };
                if short {
                    (format!("{date} ({left}d)"), style)
                } else {
                    (format!("{date} ({left} day{} left)", if left == 1 { "" } else { "s" }), style)
                }
            }
        }
    }
}

pub fn draw(cx: &DrawCtx, p: &ProfilesState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let [filter, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    // The sort is said on the filter line as well as by the header's arrow, which a hidden or a full
    // column ("No of Devices", "Associated User" at 80 columns) cannot show.
    let sorted = ProfileColumn::ALL[p.sort];
    let sort_text = format!("sorted by {} {} ", sorted.title(), if p.descending { "▼" } else { "▲" });
    let [filter, sort_area] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(sort_text.chars().count() as u16)]).areas(filter);
    frame.render_widget(Paragraph::new(filter_line(t, &p.filter, p.view.len(), p.all.len())), filter);
    frame.render_widget(Paragraph::new(Span::styled(sort_text, t.dim)).alignment(Alignment::Right), sort_area);
    if p.all.is_empty() {
        let key = cx.key(Context::Profiles, Action::NewProfile);
        let quit = cx.key(Context::Global, Action::Quit);
        frame.render_widget(
            Paragraph::new(format!(
                "No profile yet. Press {key} to add one from a CSV file.\n\n\
                 To try kitting on a scratch database, quit with {quit} and start it as\n\
                 kitting --db /tmp/kitting-try"
            ))
            .style(t.dim)
            .alignment(Alignment::Center),
            table,
        );
        return;
    }
    let wide = area.width >= 120;
    let columns: Vec<ProfileColumn> = ProfileColumn::ALL
        .into_iter()
        .filter(|c| wide || !matches!(c, ProfileColumn::Description | ProfileColumn::Kind))
        .collect();
    let header = Row::new(columns.iter().map(|c| {
        let arrow = if *c == sorted { if p.descending { " ▼" } else { " ▲" } } else { "" };
        Cell::from(format!("{}{arrow}", c.title()))
    }))
    .style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    let rows = p.view.iter().enumerate().skip(p.cursor.window(p.view.len(), height)).take(height).map(|(i, &index)| {
        let profile = &p.all[index];
        let here = i == p.cursor.row;
        let cells = columns.iter().map(|c| -> Cell {
            match c {
                ProfileColumn::Name => {
                    Cell::from(format!("{}{}", if here { CURSOR } else { "  " }, safe(&profile.name)))
                }
                ProfileColumn::Description => Cell::from(owned(profile.description.as_deref().unwrap_or(""))),
                ProfileColumn::Modified => Cell::from(profile.modified.format("%Y-%m-%d %H:%M").to_string()),
                ProfileColumn::Kind => Cell::from(owned(&profile.kind)),
                ProfileColumn::Devices => Cell::from(format!("{:>9}", profile.device_count)),
                ProfileColumn::User => Cell::from(owned(profile.user.as_deref().unwrap_or(""))),
                ProfileColumn::Expiry => {
                    let (text, style) = expiry(cx, profile, true);
                    Cell::from(Span::styled(text, if here { Style::default() } else { style }))
                }
            }
        });
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| match c {
            ProfileColumn::Name => Constraint::Min(16),
            ProfileColumn::Description => Constraint::Min(12),
            ProfileColumn::Modified => Constraint::Length(16),
            ProfileColumn::Kind => Constraint::Length(15),
            ProfileColumn::Devices => Constraint::Length(13),
            ProfileColumn::User => Constraint::Length(15),
            ProfileColumn::Expiry => Constraint::Length(18),
        })
        .collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
}
