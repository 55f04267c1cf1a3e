//! The Check-in screen (F4 on any screen): a device presents itself and the core decides. Android: the
//! token and the identifiers → registered, not registered or not this flow (wrong token), with the reason
//! (`ops::register`). DEP: the identifier and the check-in code, with the identifiers the record may
//! restrict to → checked in or refused with the reason (`ops::dep::check_in`). Each attempt is recorded in
//! the audit trail by the core; the screen lists the last ones. The token and the code are masked.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Ctx, DrawCtx, Effect};
use crate::domain::registration::Outcome;
use crate::ops;
use crate::tui::action::Action;
use crate::tui::keymap::Context;
use crate::tui::theme::Theme;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Android,
    Dep,
}

const ANDROID: [&str; 4] = ["Token", "IMEI", "Serial number", "Manufacturer"];
const DEP: [&str; 7] = ["Identifier", "Code", "Serial", "IMEI", "MEID", "UDID", "Wi-Fi MAC"];
/// Fields shown as dots.
const SECRET: [&str; 2] = ["Token", "Code"];

#[derive(Debug)]
pub struct CheckInState {
    pub kind: Kind,
    pub values: Vec<String>,
    pub focus: usize,
    /// The last attempts, newest first: accepted or not, and what the core said.
    pub history: VecDeque<(bool, String)>,
}

impl Default for CheckInState {
    fn default() -> Self {
        CheckInState {
            kind: Kind::Android,
            values: vec![String::new(); ANDROID.len()],
            focus: 0,
            history: VecDeque::new(),
        }
    }
}

impl CheckInState {
    pub fn labels(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Android => &ANDROID,
            Kind::Dep => &DEP,
        }
    }

    /// A field's value by label.
    pub fn value(&self, label: &str) -> &str {
        self.labels().iter().position(|l| *l == label).map_or("", |i| self.values[i].trim())
    }

    fn switch(&mut self) {
        self.kind = if self.kind == Kind::Android { Kind::Dep } else { Kind::Android };
        self.values = vec![String::new(); self.labels().len()];
        self.focus = 0;
    }

    /// Keys: text into the focused field, Tab / Down and Shift-Tab / Up between fields, Enter checks in,
    /// `switch_key` switches Android / DEP, Esc leaves. `None`: a key the screen does not use.
    pub fn checkin_key(&mut self, key: KeyEvent, switch_key: bool, core: &ops::Ctx) -> Option<Effect> {
        if switch_key {
            self.switch();
            return Some(Effect::None);
        }
        let n = self.values.len();
        let ctrl = key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter => Some(self.submit(core)),
            KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1) % n;
                Some(Effect::None)
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + n - 1) % n;
                Some(Effect::None)
            }
            KeyCode::Backspace => {
                self.values[self.focus].pop();
                Some(Effect::None)
            }
            KeyCode::Char(c) if !ctrl => {
                if self.values[self.focus].chars().count() < 256 {
                    self.values[self.focus].push(c);
                }
                Some(Effect::None)
            }
            KeyCode::Esc => Some(Effect::Pop(String::new())),
            _ => None,
        }
    }

    fn submit(&mut self, core: &ops::Ctx) -> Effect {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let (ok, text) = match self.kind {
            Kind::Android => {
                let command = ops::register::Register {
                    token: opt(self.value("Token")),
                    imei: opt(self.value("IMEI")),
                    serial: opt(self.value("Serial number")),
                    manufacturer: opt(self.value("Manufacturer")),
                };
                match ops::register::run(core, command) {
                    Ok(r) => match (&r.outcome, &r.profile, &r.device) {
                        (Outcome::Registered { .. }, Some(p), Some(d)) => {
                            (true, format!("registered: {} in profile {:?}", d.label(), p.name))
                        }
                        (Outcome::Registered { .. }, _, _) => (true, "registered".to_string()),
                        (Outcome::NotRegistered(why), _, _) => (false, format!("not registered: {why}")),
                        (Outcome::NotThisFlow(why), _, _) => {
                            (false, format!("wrong token: {why}; the device must use the normal ID/password flow"))
                        }
                    },
                    Err(e) => (false, format!("not registered: {e}")),
                }
            }
            Kind::Dep => {
                let presented = crate::domain::dep::CheckIn {
                    code: self.value("Code").to_string(),
                    serial: opt(self.value("Serial")),
                    imei: opt(self.value("IMEI")),
                    meid: opt(self.value("MEID")),
                    udid: opt(self.value("UDID")),
                    wifi_mac: opt(self.value("Wi-Fi MAC")),
                    dep_profile: None,
                };
                let identifier = self.value("Identifier").to_string();
                match ops::dep::check_in(core, ops::dep::DepCheckIn { identifier: identifier.clone(), presented }) {
                    Ok(d) => (true, format!("checked in: DEP device {}", d.identifier)),
                    Err(e) => (false, format!("refused: {identifier}: {e}")),
                }
            }
        };
        // The next device: identifiers cleared; an Android token is kept (the next box of the profile).
        for (i, label) in self.labels().iter().enumerate() {
            if !(self.kind == Kind::Android && *label == "Token") {
                self.values[i].clear();
            }
        }
        self.focus = usize::from(self.kind == Kind::Android && !self.values[0].is_empty());
        self.history.push_front((ok, text.clone()));
        self.history.truncate(20);
        if ok { Effect::Status(super::Level::Info, text) } else { Effect::Status(super::Level::Error, text) }
    }
}

pub fn draw(t: &Theme, s: &CheckInState, switch_key: &str, area: Rect, frame: &mut Frame) {
    let safe = |v: &str| crate::domain::text::sanitize(v).into_owned();
    let labels = s.labels();
    let [title, fields, history] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(labels.len() as u16 + 2), Constraint::Min(1)])
            .areas(area);
    let (now, other) = if s.kind == Kind::Android { ("Android", "DEP") } else { ("DEP", "Android") };
    let head = format!("Check-in · {now}   ({switch_key}: {other}; Enter checks in; the outcome is recorded)");
    frame.render_widget(Paragraph::new(Span::styled(head, t.title)), title);
    let lines: Vec<Line> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let v = &s.values[i];
            let shown = if SECRET.contains(label) { "•".repeat(v.chars().count()) } else { safe(v) };
            let mark = if i == s.focus { "> " } else { "  " };
            let style = if i == s.focus { t.input } else { t.base };
            let cursor = if i == s.focus { "█" } else { "" };
            Line::from(vec![
                Span::styled(format!("{mark}{label:<15}"), if i == s.focus { t.key } else { t.dim }),
                Span::styled(shown, style),
                Span::styled(cursor, t.dim),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).border_style(t.border)),
        fields,
    );
    // Reasons can be long: they wrap, newest first.
    let lines: Vec<Line> = s
        .history
        .iter()
        .map(|(ok, text)| Line::from(Span::styled(safe(text), if *ok { t.ok } else { t.error })))
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::default().borders(Borders::TOP).border_style(t.border).title(" last check-ins ")),
        history,
    );
}

impl super::Unit for CheckInState {
    fn context(&self) -> Context {
        Context::CheckIn
    }

    fn key(&mut self, key: KeyEvent, own: Option<Action>, cx: &mut Ctx) -> Option<Effect> {
        self.checkin_key(key, own == Some(Action::SwitchKind), &cx.core())
    }

    fn action(&mut self, _action: Action, _cx: &mut Ctx) -> Effect {
        Effect::None
    }

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, &cx.key(Context::CheckIn, Action::SwitchKind), area, frame)
    }
}
