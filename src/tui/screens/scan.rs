//! The scan station: one input line that a handheld scanner types into, a large banner (green accepted,
//! red refused with the reason), running counts, the last 20 scans, undo of the last accepted scan.
//!
//! A scan ends with Enter, Tab, CR or LF, whatever the scanner sends; a GS (which a terminal delivers as
//! Ctrl-5 / Ctrl-]) is kept as the separator between the values of one code. The line is cleared after
//! every scan, good or bad, so a refused scan never runs into the next. Each scan is one command of the
//! core (`ops::scan`), committed and durable before the banner turns green. Nothing here re-reads the
//! profile: a scan on a profile of 200,000 devices costs what it costs on an empty one.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph, Wrap};

use super::Level;
use super::{Ctx, DrawCtx, Effect};
use crate::domain::scan::{GS, MAX_SCAN};
use crate::ops::scan::{Scan, ScanMode, Station, Undo, UndoScan};
use crate::ops::{self, OpError};
use crate::tui::action::Action;
use crate::tui::form::{Check, FieldId, Form, FormField, FormPurpose};
use crate::tui::keymap::Context;
use crate::tui::theme::Theme;

/// How many of the last scans are listed.
pub const RECENT: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Already in this or another profile.
    Duplicate,
    /// Not in the inventory (verify).
    Unknown,
    Refused,
    Undone,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "ok",
            Outcome::Duplicate => "duplicate",
            Outcome::Unknown => "unknown",
            Outcome::Refused => "refused",
            Outcome::Undone => "undone",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recent {
    pub scanned: String,
    pub outcome: Outcome,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub refused: u64,
    pub duplicates: u64,
    pub unknown: u64,
    pub undone: u64,
}

#[derive(Debug)]
pub struct ScanState {
    pub station: Station,
    /// What the scanner has typed since the last scan ended.
    pub input: String,
    /// The banner: accepted or not, and what it says.
    pub banner: Option<(bool, String)>,
    pub counts: Counts,
    /// Newest first.
    pub recent: VecDeque<Recent>,
    /// Verify: the devices scanned that the inventory does not know, newest first.
    pub unknown: Vec<String>,
    /// How to take back the accepted scans, newest last.
    undo: Vec<(String, Undo)>,
    /// The device the last accepted scan added by IMEI alone (a serial may pair with it).
    pair_with: Option<u32>,
    /// Ring the bell on refusals.
    pub bell: bool,
}

impl ScanState {
    pub fn new(station: Station, bell: bool) -> ScanState {
        ScanState {
            station,
            input: String::new(),
            banner: None,
            counts: Counts::default(),
            recent: VecDeque::new(),
            unknown: Vec::new(),
            undo: Vec::new(),
            pair_with: None,
            bell,
        }
    }

    /// The screen's keys: text for the scan line, the scan's end, Backspace, undo (`undo_key`), leave
    /// (Esc). Returns `None` for a key the screen does not use (help, quit by Ctrl-C).
    pub fn scan_key(&mut self, key: KeyEvent, undo_key: bool, core: &ops::Ctx) -> Option<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if undo_key {
            return Some(self.undo_last(core));
        }
        Some(match key.code {
            KeyCode::Enter | KeyCode::Tab => self.end_scan(core),
            KeyCode::Char('j' | 'm') if ctrl => self.end_scan(core),
            // GS: crossterm reads 0x1D as Ctrl-5 (or Ctrl-]).
            KeyCode::Char('5' | ']') if ctrl => {
                self.push(GS);
                Effect::None
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                self.push(c);
                Effect::None
            }
            KeyCode::Backspace => {
                self.input.pop();
                Effect::None
            }
            KeyCode::Esc if !self.input.is_empty() => {
                self.input.clear();
                Effect::None
            }
            KeyCode::Esc => Effect::Pop(self.summary()),
            _ => return None,
        })
    }

    fn push(&mut self, c: char) {
        // Past the longest scan the line keeps only its length's worth; the scan is refused whole.
        if self.input.len() <= MAX_SCAN {
            self.input.push(c);
        }
    }

    /// What the station did, for the status line when it closes.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        format!(
            "scan station closed: {} accepted, {} refused ({} duplicates, {} unknown), {} undone",
            c.accepted,
            c.refused + c.duplicates + c.unknown,
            c.duplicates,
            c.unknown,
            c.undone
        )
    }

    /// One scan ended: run it through the core, clear the line, show the outcome.
    pub fn end_scan(&mut self, core: &ops::Ctx) -> Effect {
        let raw = std::mem::take(&mut self.input);
        if raw.trim().is_empty() {
            return Effect::None;
        }
        let results =
            ops::scan::run(core, Scan { station: self.station.clone(), raw: raw.clone(), pair_with: self.pair_with });
        let mut effect = Effect::None;
        for r in results {
            match r {
                Ok(a) => {
                    self.counts.accepted += 1;
                    self.pair_with = a.pairs_next();
                    if a.undo != Undo::Nothing {
                        self.undo.push((a.value.clone(), a.undo.clone()));
                    }
                    self.note(true, a.value, Outcome::Accepted, a.message);
                }
                Err(e) => {
                    self.pair_with = None;
                    let outcome = match &e {
                        OpError::Refused(_) => Outcome::Duplicate,
                        OpError::NotFound(_) if self.station.mode == ScanMode::Verify => Outcome::Unknown,
                        _ => Outcome::Refused,
                    };
                    match outcome {
                        Outcome::Duplicate => self.counts.duplicates += 1,
                        Outcome::Unknown => self.counts.unknown += 1,
                        _ => self.counts.refused += 1,
                    }
                    let shown = crate::domain::text::sanitize(raw.trim()).into_owned();
                    if outcome == Outcome::Unknown && !self.unknown.contains(&shown) {
                        self.unknown.insert(0, shown.clone());
                    }
                    self.note(false, shown, outcome, e.to_string());
                    if self.bell {
                        effect = Effect::Bell;
                    }
                }
            }
        }
        effect
    }

    fn undo_last(&mut self, core: &ops::Ctx) -> Effect {
        let Some((value, undo)) = self.undo.pop() else {
            return Effect::Status(Level::Info, "nothing to undo".into());
        };
        self.pair_with = None;
        match ops::scan::undo(core, UndoScan { station: self.station.clone(), undo }) {
            Ok(_) => {
                self.counts.undone += 1;
                self.counts.accepted = self.counts.accepted.saturating_sub(1);
                self.note(true, value.clone(), Outcome::Undone, format!("undone: {value}"));
                Effect::None
            }
            Err(e) => {
                self.note(false, value, Outcome::Refused, format!("cannot undo: {e}"));
                Effect::None
            }
        }
    }

    fn note(&mut self, ok: bool, scanned: String, outcome: Outcome, text: String) {
        self.banner = Some((ok, text.clone()));
        self.recent.push_front(Recent { scanned, outcome, text });
        self.recent.truncate(RECENT);
    }

    pub fn title(&self) -> String {
        let s = &self.station;
        let mut t = format!("Scan station · {} into {}", s.mode.label(), s.profile);
        if s.mode == ScanMode::Verify {
            t = format!("Scan station · verify {}", s.profile);
        }
        if !s.manufacturer.is_empty() {
            t.push_str(&format!(" · manufacturer {}", s.manufacturer));
        }
        for (k, v) in &s.attributes {
            t.push_str(&format!(" · {k}={v}"));
        }
        t
    }
}

/// Draws the station: title, scan line, banner, counts, last scans (and unknown devices in verify).
pub fn draw(t: &Theme, s: &ScanState, undo_key: &str, area: Rect, frame: &mut Frame) {
    let banner_rows = if area.height >= 20 { 5 } else { 3 };
    let [title, input, banner, counts, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(banner_rows),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(area);
    let safe = |v: &str| crate::domain::text::sanitize(v).into_owned();
    frame.render_widget(Paragraph::new(Span::styled(safe(&s.title()), t.title)), title);
    let shown: String = safe(&s.input).chars().rev().take(usize::from(input.width.saturating_sub(4))).collect();
    let shown: String = shown.chars().rev().collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(shown, t.input), Span::styled("█", t.dim)])).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border)
                .title(" scan (Enter, Tab or the scanner ends it) "),
        ),
        input,
    );
    // The banner: colour is what a technician a metre away reads; the text says why.
    let (style, head, text) = match &s.banner {
        None => (t.dim, "READY", "scan a label".to_string()),
        Some((true, text)) => (banner_style(t, Color::Green), "OK", text.clone()),
        Some((false, text)) => (banner_style(t, Color::Red), "REFUSED", text.clone()),
    };
    let mut lines = vec![Line::from(Span::styled(head, style.add_modifier(Modifier::BOLD)))];
    lines.push(Line::from(Span::styled(safe(&text), style)));
    frame.render_widget(
        Paragraph::new(lines)
            .style(style)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).border_style(style)),
        banner,
    );
    let c = &s.counts;
    let mut count_spans = vec![
        Span::styled(format!(" accepted {}", c.accepted), t.ok),
        Span::styled(format!("   refused {}", c.refused), if c.refused > 0 { t.error } else { t.dim }),
        Span::styled(format!("   duplicates {}", c.duplicates), if c.duplicates > 0 { t.error } else { t.dim }),
    ];
    if s.station.mode == ScanMode::Verify {
        count_spans
            .push(Span::styled(format!("   unknown {}", c.unknown), if c.unknown > 0 { t.error } else { t.dim }));
    }
    count_spans.push(Span::styled(format!("   undone {}   {undo_key} undo last", c.undone), t.dim));
    frame.render_widget(Paragraph::new(Line::from(count_spans)), counts);
    let (recent_area, unknown_area) = if s.station.mode == ScanMode::Verify && rest.width >= 60 {
        let [a, b] = Layout::horizontal([Constraint::Min(40), Constraint::Length(24)]).areas(rest);
        (a, Some(b))
    } else {
        (rest, None)
    };
    let items: Vec<ListItem> = s
        .recent
        .iter()
        .map(|r| {
            let style = match r.outcome {
                Outcome::Accepted | Outcome::Undone => t.ok,
                _ => t.error,
            };
            ListItem::new(Line::from(vec![
                Span::styled(format!("{:<9} ", r.outcome.label()), style),
                Span::styled(format!("{:<18} ", safe(&r.scanned)), t.base),
                Span::styled(safe(&r.text), t.dim),
            ]))
        })
        .collect();
    let recent_title = format!(" last {} scans, newest first ", s.recent.len().min(RECENT));
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::TOP).border_style(t.border).title(recent_title)),
        recent_area,
    );
    if let Some(area) = unknown_area {
        let items: Vec<ListItem> = s.unknown.iter().map(|u| ListItem::new(Span::styled(u.clone(), t.error))).collect();
        let title = format!(" unknown: {} ", s.unknown.len());
        frame.render_widget(
            List::new(items)
                .block(Block::default().borders(Borders::TOP | Borders::LEFT).border_style(t.border).title(title)),
            area,
        );
    }
}

/// Black on the colour, or reversed where the theme has no colours.
fn banner_style(t: &Theme, c: Color) -> Style {
    if t.name == crate::tui::theme::ThemeName::NoColor {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().fg(Color::Black).bg(c)
    }
}

/// The form that opens a station on a profile (the profile detail's key).
pub fn station_form(profile: &str, defaults: &crate::settings::ScanSettings) -> Form {
    Form::new(
        format!("Scan station on {profile}"),
        FormPurpose::ScanStation(profile.to_string()),
        vec![
            FormField::choice(
                FieldId::ScanMode,
                "Mode",
                &["receive", "verify"],
                "receive",
                "receive adds each scan; verify marks it kitted",
            ),
            FormField::text(FieldId::Manufacturer, "Manufacturer", "", "of every device received by serial number")
                .with_check(Check::Identifier("manufacturer")),
            FormField::text(
                FieldId::ScanAttributes,
                "Attributes",
                "",
                "NAME=VALUE; NAME=VALUE: set on every device received",
            ),
            FormField::toggle(
                FieldId::PairSerial,
                "Pair serial with IMEI",
                defaults.pair_serial,
                "a serial right after an IMEI: one device",
            ),
            FormField::toggle(
                FieldId::PairImei,
                "Pair second IMEI",
                defaults.pair_imei,
                "dual-SIM: a second IMEI right after the first: one device",
            ),
            FormField::toggle(
                FieldId::StripS,
                "Strip leading S",
                defaults.strip_serial_s,
                "serial labels printed with an S identifier",
            ),
        ],
    )
}

/// The station the form describes.
pub fn station_of(form: &Form, profile: &str) -> Result<Station, String> {
    let mode = if form.value(FieldId::ScanMode) == "verify" { ScanMode::Verify } else { ScanMode::Receive };
    Ok(Station {
        profile: profile.to_string(),
        mode,
        manufacturer: form.value(FieldId::Manufacturer).trim().to_string(),
        attributes: parse_attributes(&form.value(FieldId::ScanAttributes))?,
        pair_serial: form.on(FieldId::PairSerial),
        pair_imei: form.on(FieldId::PairImei),
        strip_serial_s: form.on(FieldId::StripS),
    })
}

/// `NAME=VALUE; NAME=VALUE` (or `--attr NAME=VALUE` flags): the attributes of every device received.
pub fn parse_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("attribute {p:?}: write NAME=VALUE"))
        })
        .collect()
}

impl super::Unit for ScanState {
    fn context(&self) -> Context {
        Context::Scan
    }

    fn key(&mut self, key: KeyEvent, own: Option<Action>, cx: &mut Ctx) -> Option<Effect> {
        self.scan_key(key, own == Some(Action::UndoScan), &cx.core())
    }

    fn action(&mut self, _action: Action, _cx: &mut Ctx) -> Effect {
        Effect::None
    }

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, &cx.key(Context::Scan, Action::UndoScan), area, frame)
    }
}
