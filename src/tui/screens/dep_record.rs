//! One DEP device record's information: device information, the identifiers a check-in is restricted
//! to, the seed's DEP Enrollment part; read-only once checked in or withdrawn. (Its actions and form are
//! still `tui/dep.rs`'s.)

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::DrawCtx;
use crate::domain::dep::{DepDevice, DepMethod, DepState};
use crate::store::{Store, StoreError};
use crate::tui::theme::Theme;
use crate::tui::widgets::text::owned;

/// "off", or how the DEP device is matched.
pub(crate) fn enrollment(d: &DepDevice) -> &'static str {
    match d.dep_method {
        None => "off",
        Some(DepMethod::Serial) => "Serial",
        Some(DepMethod::Keycode) => crate::tui::dep::KEY_CODE,
    }
}

pub(crate) fn state_style(t: &Theme, s: &DepState) -> Style {
    match s {
        DepState::Pending => t.base,
        DepState::CheckedIn { .. } => t.ok,
        DepState::Withdrawn { .. } => t.dim,
    }
}

/// One device record's information.
#[derive(Debug)]
pub struct DepDetailState {
    pub device: DepDevice,
}

impl DepDetailState {
    pub fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        self.device = store
            .dep_device(&self.device.identifier)?
            .ok_or_else(|| StoreError::NotFound(format!("device {} was deleted", self.device.identifier)))?;
        Ok(())
    }
}

/// Labelled lines under a heading.
fn group<'a>(t: &Theme, heading: &'a str, items: Vec<(&'a str, Span<'a>)>) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(Span::styled(heading, t.header))];
    lines.extend(
        items.into_iter().map(|(label, value)| Line::from(vec![Span::styled(format!("{label:<22}"), t.dim), value])),
    );
    lines
}

pub fn draw(cx: &DrawCtx, s: &DepDetailState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
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
    let now = cx.now;
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
